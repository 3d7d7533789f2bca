//! The checker of `SessionTranscript` tests (`vectors/sessions/*.json`): every recorded secret
//! is recomputed with `airtight_proto` from the recorded messages and the recorded private
//! inputs (server ephemeral key, device key, KMKs), and every MAC, attestation, ciphertext and
//! authorization is found in the message that carries it. The engines themselves are not
//! used here; replaying them is the job of `vectors/tests/sessions.rs`.

use airtight_proto::codec::b64url;
use airtight_proto::keys::{PrivateKey, PublicKey, SignatureAlgorithm, ecdh_z};
use airtight_proto::messages::Message;
use airtight_proto::session1::{
    self, CounterUse, Method, Operation, SessionAttestationInput, SessionCrypto,
};

use crate::format::TestCase;
use crate::generate::sessions::{TO_ISSUER, TO_MIDDLEWARE, Transcript};
use crate::{hex, hex_decode};

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, String> {
    hex_decode(s).ok_or_else(|| format!("{what} is not hex"))
}

fn same(what: &str, expected: &[u8], recorded: &str) -> Result<(), String> {
    if hex(expected) == recorded {
        Ok(())
    } else {
        Err(format!(
            "{what}: recomputed {} but recorded {recorded}",
            hex(expected)
        ))
    }
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// The card operation of a recorded operation name.
pub fn operation(name: &str) -> Option<Operation> {
    Some(match name {
        "createProvisioningSession" => Operation::CreateProvisioningSession,
        "createPUKPolicy" => Operation::CreatePukPolicy,
        "createPINPolicy" => Operation::CreatePinPolicy,
        "createKeyEntry" => Operation::CreateKeyEntry { preset_pin: false },
        "createKeyEntryPresetPin" => Operation::CreateKeyEntry { preset_pin: true },
        "setCertificatePath" => Operation::SetCertificatePath,
        "importSymmetricKey" => Operation::ImportSymmetricKey,
        "importPrivateKey" => Operation::ImportPrivateKey,
        "addExtension" => Operation::AddExtension { encrypted: false },
        "addEncryptedExtension" => Operation::AddExtension { encrypted: true },
        "postDeleteKey" => Operation::PostDeleteKey,
        "postUnlockKey" => Operation::PostUnlockKey,
        "postUpdateKey" => Operation::PostUpdateKey,
        "postCloneKeyProtection" => Operation::PostCloneKeyProtection,
        "closeProvisioningSession" => Operation::CloseProvisioningSession,
        _ => return None,
    })
}

/// Checks one `SessionTranscript` test.
pub fn check(t: &TestCase) -> Result<(), String> {
    let tr: Transcript =
        serde_json::from_value(serde_json::Value::Object(t.fields.clone())).map_err(e)?;
    check_transcript(&tr)
}

/// Checks one transcript (see the module documentation).
pub fn check_transcript(tr: &Transcript) -> Result<(), String> {
    let s = &tr.secrets;
    // Messages: strict decoding ([KG2-ENC-004]), qualifiers, alternating directions.
    let mut decoded = Vec::new();
    for (i, m) in tr.messages.iter().enumerate() {
        let want = if i % 2 == 0 { TO_MIDDLEWARE } else { TO_ISSUER };
        if m.direction != want {
            return Err(format!(
                "message {i}: direction {} (want {want})",
                m.direction
            ));
        }
        let msg = Message::decode(m.body.as_bytes()).map_err(|x| format!("message {i}: {x}"))?;
        if msg.qualifier() != m.qualifier {
            return Err(format!("message {i}: qualifier {}", msg.qualifier()));
        }
        // Both engines send the encoder's canonical (compact) form: re-encoding gives the
        // recorded bytes.
        if msg.to_bytes() != m.body.as_bytes() {
            return Err(format!("message {i}: not the encoder's canonical bytes"));
        }
        decoded.push(msg);
    }
    let issuer_text: String = tr
        .messages
        .iter()
        .filter(|m| m.direction == TO_MIDDLEWARE)
        .map(|m| m.body.as_str())
        .collect();
    let carried = |what: &str, bytes: &[u8], text: &str| -> Result<(), String> {
        if text.contains(&b64url::encode(bytes)) {
            Ok(())
        } else {
            Err(format!("{what} is in no message"))
        }
    };
    let (req, resp) = decoded
        .iter()
        .find_map(|m| match m {
            Message::ProvisioningInitializationRequest(r) => Some(r),
            _ => None,
        })
        .zip(decoded.iter().find_map(|m| match m {
            Message::ProvisioningInitializationResponse(r) => Some(r),
            _ => None,
        }))
        .ok_or("no provisioning initialization")?;
    if resp.client_session_id != s.client_session_id || req.server_session_id != s.server_session_id
    {
        return Err("session ids".into());
    }
    // [CRY-KDF-005] Z from the recorded server ephemeral private key and the client's key.
    let server =
        PrivateKey::from_pkcs8_der(&unhex(&s.server_ephemeral_private_key, "key")?).map_err(e)?;
    let server_pub = PublicKey::from_jwk(&req.server_ephemeral_key).map_err(e)?;
    if server.public_key() != server_pub {
        return Err("serverEphemeralPrivateKey does not match serverEphemeralKey".into());
    }
    let client_pub = PublicKey::from_jwk(&resp.client_ephemeral_key).map_err(e)?;
    let z = ecdh_z(&server, &client_pub).map_err(e)?;
    same("z", &z, &s.z)?;
    // [CRY-KDF-008] DeviceID, [CRY-KDF-007] KDF input and session key.
    let device_cert = resp
        .device_certificate_path
        .as_ref()
        .and_then(|p| p.first())
        .map(Vec::as_slice);
    let privacy = req_privacy(&decoded);
    if let Some(c) = device_cert
        && Some(hex(c)) != tr.card.device_certificate_path.first().cloned()
    {
        return Err("deviceId is not the card's device certificate".into());
    }
    let device_id = session1::device_id_bytes(privacy, device_cert).map_err(e)?;
    same("deviceId", &device_id, &s.device_id)?;
    let uri = &tr.issuer.issuer_uri;
    let kdf = session1::kdf_input(&s.client_session_id, &s.server_session_id, uri, &device_id)
        .map_err(e)?;
    same("kdfInput", &kdf, &s.kdf_input)?;
    let sk = session1::derive_session_key(
        &z,
        &s.client_session_id,
        &s.server_session_id,
        uri,
        &device_id,
    )
    .map_err(e)?;
    same("sessionKey", sk.as_slice(), &s.session_key)?;
    // [CRY-ATT-001] the attestation input from the messages; [CRY-ATT-005] its verification.
    let server_spki = server_pub.to_spki_der().map_err(e)?;
    let client_spki = client_pub.to_spki_der().map_err(e)?;
    let kmk_spki = req
        .key_management_key
        .as_ref()
        .map(|k| PublicKey::from_jwk(k).and_then(|k| k.to_spki_der()))
        .transpose()
        .map_err(e)?;
    let client_time = u32::try_from(resp.client_time.unix_seconds()).map_err(e)?;
    if client_time != s.client_time {
        return Err("clientTime".into());
    }
    let server_certificate = unhex(&tr.issuer.server_certificate, "serverCertificate")?;
    let input = SessionAttestationInput {
        client_session_id: &s.client_session_id,
        server_session_id: &s.server_session_id,
        issuer_uri: uri,
        device_id: &device_id,
        session_key_algorithm: &req.session_key_algorithm,
        privacy_enabled: privacy,
        server_ephemeral_key_spki: &server_spki,
        client_ephemeral_key_spki: &client_spki,
        key_management_key_spki: kmk_spki.as_deref(),
        client_time,
        session_life_time: req.session_life_time,
        session_key_limit: req.session_key_limit,
        server_certificate: &server_certificate,
    };
    let input_bytes = input.to_bytes().map_err(e)?;
    same(
        "sessionAttestationInput",
        &input_bytes,
        &s.session_attestation_input,
    )?;
    same(
        "sessionAttestation",
        &resp.attestation,
        &s.session_attestation,
    )?;
    session1::verify_session_attestation(&input, &resp.attestation, device_cert, sk.as_slice())
        .map_err(|x| format!("session attestation: {x}"))?;
    let device_key =
        PrivateKey::from_pkcs8_der(&unhex(&tr.card.device_key_pkcs8, "device key")?).map_err(e)?;
    if !privacy
        && matches!(
            device_key.key_type(),
            airtight_proto::keys::KeyType::Rsa { .. }
        )
    {
        // [CRY-ATT-006] PKCS#1 v1.5 is deterministic: the recorded device key re-signs it.
        let again = device_key
            .sign(SignatureAlgorithm::RS256, &input_bytes)
            .map_err(e)?;
        same("RSA session attestation", &again, &s.session_attestation)?;
    }
    // [CRY-ENC-001]
    let mut sc = SessionCrypto::new(*sk, u16::MAX);
    let enc = sc.encryption_key().map_err(e)?;
    same("encryptionKey", enc.as_slice(), &s.encryption_key)?;
    // [CRY-CTR-003] [CRY-CTR-005] [CRY-LIM-003] counters and session-key uses per operation.
    let ops = s
        .operations
        .iter()
        .map(|o| operation(o).ok_or_else(|| format!("unknown operation {o}")))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = session1::counter_plan(&ops).map_err(e)?;
    let mut recorded: Vec<(u16, Option<String>)> = s
        .macs
        .iter()
        .map(|m| (m.counter, Some(m.method.clone())))
        .chain(s.attestations.iter().map(|a| (a.counter, None)))
        .collect();
    recorded.sort();
    let planned: Vec<(u16, Option<String>)> = plan
        .iter()
        .map(|(c, u)| {
            (
                *c,
                match u {
                    CounterUse::Mac(m) => Some(m.mac_name().to_owned()),
                    CounterUse::Attestation => None,
                },
            )
        })
        .collect();
    if recorded != planned {
        return Err(format!(
            "counter sequence {recorded:?} is not the plan {planned:?}"
        ));
    }
    if usize::try_from(s.final_counter).map_err(e)? != plan.len() {
        return Err("finalCounter".into());
    }
    if session1::session_key_uses(&ops) != s.session_key_uses {
        return Err(format!(
            "sessionKeyUses {} but the operations cost {}",
            s.session_key_uses,
            session1::session_key_uses(&ops)
        ));
    }
    // [CRY-MAC-001] every method MAC, carried by an issuer message.
    for m in &s.macs {
        let method = Method::from_mac_name(&m.method).ok_or("unknown method")?;
        let mac = sc
            .mac_at(method, m.counter, &unhex(&m.data, "data")?)
            .map_err(e)?;
        same(&format!("{} MAC at {}", m.method, m.counter), &mac, &m.mac)?;
        carried(&format!("{} MAC", m.method), &mac, &issuer_text)?;
    }
    // [CRY-KAT-002] key attestations, [CRY-CLS-001] the close attestation.
    let (gens, fin, fin_resp) = finalization_parts(&decoded);
    for a in &s.attestations {
        let data = unhex(&a.data, "data")?;
        let att = sc.attest_at(a.counter, &data).map_err(e)?;
        same(
            &format!("{} attestation at {}", a.kind, a.counter),
            &att,
            &a.attestation,
        )?;
        match a.kind.as_str() {
            "key" => {
                let id = a.id.as_deref().unwrap_or_default();
                let g = gens
                    .iter()
                    .find(|g| g.0 == id)
                    .ok_or_else(|| format!("no generated key {id}"))?;
                let mac = s
                    .macs
                    .iter()
                    .find(|m| m.method == "createKeyEntry" && m.id.as_deref() == Some(id))
                    .ok_or("no createKeyEntry MAC")?;
                let expected =
                    session1::key_attestation_data(&g.1, &unhex(&mac.mac, "mac")?).map_err(e)?;
                same("key attestation data", &expected, &a.data)?;
                same("generated key attestation", &g.2, &a.attestation)?;
            }
            "close" => {
                let nonce = fin.as_ref().ok_or("no finalization")?;
                same("closeNonce", nonce, &s.close_nonce)?;
                let expected = session1::close_attestation_data(nonce).map_err(e)?;
                same("close attestation data", &expected, &a.data)?;
                same(
                    "close attestation",
                    fin_resp.as_deref().unwrap_or_default(),
                    &a.attestation,
                )?;
            }
            other => return Err(format!("attestation kind {other}")),
        }
    }
    // [CRY-ENC-002] every encryption, with an IV the issuer drew, carried by a message.
    for x in &s.encryptions {
        let iv: [u8; 16] = unhex(&x.iv, "iv")?.try_into().map_err(|_| "iv length")?;
        if !s.ivs.contains(&x.iv) {
            return Err(format!(
                "IV of {} {} was not drawn by the issuer",
                x.what, x.id
            ));
        }
        let ct = session1::encrypt_with_key(&enc, &iv, &unhex(&x.plaintext, "plaintext")?);
        same(
            &format!("{} {} ciphertext", x.what, x.id),
            &ct,
            &x.ciphertext,
        )?;
        carried(&format!("{} ciphertext", x.what), &ct, &issuer_text)?;
    }
    if s.encryptions.len() != s.ivs.len() {
        return Err("IVs drawn and encryptions differ in number".into());
    }
    // [CRY-TKR-002] post-operation authorizations, signed by one of the issuer's KMKs.
    let kmks = kmk_publics(tr)?;
    for x in &s.target_key_references {
        let tkr = sc
            .target_key_reference(&device_id, &unhex(&x.target_certificate, "certificate")?)
            .map_err(e)?;
        same("targetKeyReference", &tkr, &x.target_key_reference)?;
        let auth = unhex(&x.authorization, "authorization")?;
        let data = session1::target_key_reference_signed_data(&tkr);
        if !kmks
            .iter()
            .any(|k| session1::verify_kmk_authorization(k, &data, &auth).is_ok())
        {
            return Err(format!(
                "{} authorization verifies with no KMK",
                x.operation
            ));
        }
        carried("authorization", &auth, &issuer_text)?;
    }
    // [CRY-ROL-001] roll-over authorizations by an older KMK.
    for x in &s.roll_overs {
        let new = PublicKey::from_spki_der(&unhex(&x.new_key_management_key, "kmk")?).map_err(e)?;
        let data = session1::roll_over_signed_data(&new).map_err(e)?;
        let auth = unhex(&x.authorization, "authorization")?;
        if !kmks
            .iter()
            .any(|k| session1::verify_kmk_authorization(k, &data, &auth).is_ok())
        {
            return Err("roll-over authorization verifies with no KMK".into());
        }
    }
    Ok(())
}

fn req_privacy(decoded: &[Message]) -> bool {
    decoded.iter().any(|m| match m {
        Message::InvocationRequest(r) => r.privacy_enabled(),
        _ => false,
    })
}

type Generated = Vec<(String, Vec<u8>, Vec<u8>)>;

/// The generated keys (id, SPKI, attestation), the close nonce and the close attestation.
fn finalization_parts(decoded: &[Message]) -> (Generated, Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut gens = Vec::new();
    let mut nonce = None;
    let mut close = None;
    for m in decoded {
        match m {
            Message::KeyCreationResponse(r) => {
                for g in &r.generated_keys {
                    let spki = PublicKey::from_jwk(&g.public_key)
                        .and_then(|k| k.to_spki_der())
                        .unwrap_or_default();
                    gens.push((g.id.clone(), spki, g.attestation.to_vec()));
                }
            }
            Message::ProvisioningFinalizationRequest(r) => {
                nonce = Some(r.session_close_data.nonce.clone());
            }
            Message::ProvisioningFinalizationResponse(r) => close = Some(r.attestation.to_vec()),
            _ => {}
        }
    }
    (gens, nonce, close)
}

fn kmk_publics(tr: &Transcript) -> Result<Vec<PublicKey>, String> {
    fn walk(
        keys: &[crate::generate::sessions::RolloverKey],
        out: &mut Vec<PublicKey>,
    ) -> Result<(), String> {
        for k in keys {
            out.push(
                PrivateKey::from_pkcs8_der(&unhex(&k.pkcs8, "kmk")?)
                    .map_err(e)?
                    .public_key(),
            );
            walk(&k.children, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    if let Some(k) = &tr.issuer.key_management_key {
        out.push(
            PrivateKey::from_pkcs8_der(&unhex(k, "kmk")?)
                .map_err(e)?
                .public_key(),
        );
    }
    walk(&tr.issuer.key_management_key_rollovers, &mut out)?;
    Ok(out)
}
