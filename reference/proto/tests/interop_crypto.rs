//! Replays the cryptography of every recorded Java KeyGen2 session (`vectors/interop/recorded`)
//! with airtight's session.1 code, from the messages and `secrets.json` only, on both sides:
//! ECDH, KDF, session attestation, encryption key, every issuer-side HMAC/encryption/KMK
//! signature of `serverCryptoTrace`, and a card-side walk that rebuilds every MAC from the
//! message fields, decrypts every secret, checks every key and close attestation and the final
//! MAC counter. Mutation tests show that single-byte changes are caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airtight_proto::codec::b64url;
use airtight_proto::jwk::Jwk;
use airtight_proto::keys::{self, PrivateKey, PublicKey, SignatureAlgorithm};
use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestriction, PatternRestrictions,
};
use airtight_proto::session1::{self as s1, Method, Operation, SessionCrypto};
use serde_json::Value;

fn recorded_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/interop/recorded")
}

#[derive(Debug, Clone)]
struct Session {
    name: String,
    dir: PathBuf,
    secrets: Value,
    /// (file name, message)
    messages: Vec<(String, Value)>,
}

impl Session {
    fn load(dir: &Path) -> Self {
        let secrets: Value =
            serde_json::from_slice(&std::fs::read(dir.join("secrets.json")).unwrap()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.as_bytes()[0].is_ascii_digit() && n.ends_with(".json"))
            .collect();
        names.sort();
        let messages = names
            .into_iter()
            .map(|n| {
                let v = serde_json::from_slice(&std::fs::read(dir.join(&n)).unwrap()).unwrap();
                (n, v)
            })
            .collect();
        let name = dir
            .strip_prefix(recorded_dir())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Session {
            name,
            dir: dir.to_owned(),
            secrets,
            messages,
        }
    }

    fn msg(&self, qualifier: &str) -> Option<&Value> {
        self.messages
            .iter()
            .map(|(_, v)| v)
            .find(|v| v["@qualifier"] == qualifier)
    }

    fn msg_mut(&mut self, qualifier: &str) -> &mut Value {
        self.messages
            .iter_mut()
            .map(|(_, v)| v)
            .find(|v| v["@qualifier"] == qualifier)
            .unwrap()
    }

    /// The first session of a two-session scenario (`…/1-initial`), if this is the second.
    fn sibling_initial(&self) -> Option<Session> {
        let parent = self.dir.parent()?;
        let first = parent.join("1-initial");
        (first != self.dir && first.join("secrets.json").exists()).then(|| Session::load(&first))
    }
}

fn all_sessions() -> Vec<Session> {
    let mut out = Vec::new();
    let mut stack = vec![recorded_dir()];
    while let Some(d) = stack.pop() {
        if d.join("secrets.json").exists() {
            out.push(Session::load(&d));
            continue;
        }
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn b64(v: &Value) -> Vec<u8> {
    b64url::decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn num(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        // Some traces write macCounter as a string.
        Value::String(t) => t.parse().unwrap(),
        _ => panic!("not a number: {v}"),
    }
}

fn jwk(v: &Value) -> Jwk {
    match s(&v["kty"]) {
        "EC" => Jwk::Ec {
            crv: s(&v["crv"]).to_owned(),
            x: b64(&v["x"]),
            y: b64(&v["y"]),
        },
        "RSA" => Jwk::Rsa {
            n: b64(&v["n"]),
            e: b64(&v["e"]),
        },
        "OKP" => Jwk::Okp {
            crv: s(&v["crv"]).to_owned(),
            x: b64(&v["x"]),
        },
        other => panic!("kty {other}"),
    }
}

fn public_key(v: &Value) -> PublicKey {
    PublicKey::from_jwk(&jwk(v)).unwrap()
}

fn ec_private(v: &Value) -> PrivateKey {
    PrivateKey::from_ec_jwk(&jwk(v), &b64(&v["d"])).unwrap()
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn opt_bool(v: &Value, default: bool) -> bool {
    v.as_bool().unwrap_or(default)
}

/// What the session-level replay establishes, for the card-side walk.
struct Context {
    client_session_id: String,
    server_session_id: String,
    issuer_uri: String,
    device_id: Vec<u8>,
    session_key: [u8; 32],
    session_key_limit: u16,
}

/// ECDH, KDF, session attestation, encryption key.
fn check_session_setup(sess: &Session) -> Result<Context, String> {
    let sec = &sess.secrets;
    let req = sess.msg("ProvisioningInitializationRequest").unwrap();
    let resp = sess.msg("ProvisioningInitializationResponse").unwrap();
    let inv = sess.msg("InvocationRequest").unwrap();

    // ECDH both ways; the logged private keys must match the public keys on the wire.
    // [CRY-KDF-005]
    let server_priv = ec_private(&sec["serverEphemeralPrivateKey"]);
    let client_priv = ec_private(&sec["clientEphemeralPrivateKey"]);
    let server_pub = public_key(&req["serverEphemeralKey"]);
    let client_pub = public_key(&resp["clientEphemeralKey"]);
    if server_priv.public_key() != server_pub || client_priv.public_key() != client_pub {
        return Err("ephemeral private keys do not match the messages".into());
    }
    let z_server = keys::ecdh_z(&server_priv, &client_pub).map_err(|e| e.to_string())?;
    let z_client = keys::ecdh_z(&client_priv, &server_pub).map_err(|e| e.to_string())?;
    let z = b64(&sec["ecdhSharedSecretZ"]);
    if *z_server != z || *z_client != z {
        return Err("ECDH Z mismatch".into());
    }

    // DeviceID and KDF. [CRY-KDF-007] [CRY-KDF-008] [CRY-KDF-010]
    let privacy = opt_bool(&inv["privacyEnabled"], false);
    let device_cert = resp.get("deviceId").map(|d| b64(&d["certificatePath"][0]));
    let device_id =
        s1::device_id_bytes(privacy, device_cert.as_deref()).map_err(|e| e.to_string())?;
    if device_id != b64(&sec["deviceId"]) || privacy != sec["privacyEnabled"].as_bool().unwrap() {
        return Err("DeviceID mismatch".into());
    }
    let csid = s(&resp["clientSessionId"]).to_owned();
    let ssid = s(&req["serverSessionId"]).to_owned();
    let issuer_uri = s(&sec["issuerUri"]).to_owned();
    let kdf = s1::kdf_input(&csid, &ssid, &issuer_uri, &device_id).unwrap();
    if kdf != b64(&sec["sessionKeyKdfInput"]) {
        return Err("KDF input mismatch".into());
    }
    // sessionKey = HMAC-SHA256(Z, kdf input)
    let session_key = s1::derive_session_key(&z, &csid, &ssid, &issuer_uri, &device_id).unwrap();
    if session_key.as_slice() != b64(&sec["sessionKey"]) {
        return Err("session key mismatch".into());
    }

    // Session attestation input, from the message fields.
    // [CRY-ATT-001] [CRY-ATT-005] [CRY-ATT-006] [CRY-ATT-007] [CRY-ATT-008] [CRY-ATT-010]
    // [KG2-PIR-006] the recorded `attestation` verifies as raw signature or 32-byte HMAC.
    let client_time = time::OffsetDateTime::parse(
        s(&resp["clientTime"]),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    if client_time != sec["clientTimeUnixSeconds"].as_i64().unwrap() {
        return Err("clientTime mismatch".into());
    }
    let server_spki = server_pub.to_spki_der().unwrap();
    let client_spki = client_pub.to_spki_der().unwrap();
    let kmk_spki = req
        .get("keyManagementKey")
        .map(|k| public_key(k).to_spki_der().unwrap());
    let server_certificate = b64(&sec["serverCertificate"]);
    let limit = u16::try_from(num(&req["sessionKeyLimit"])).unwrap();
    let input = s1::SessionAttestationInput {
        client_session_id: &csid,
        server_session_id: &ssid,
        issuer_uri: &issuer_uri,
        device_id: &device_id,
        session_key_algorithm: s(&req["sessionKeyAlgorithm"]),
        privacy_enabled: privacy,
        server_ephemeral_key_spki: &server_spki,
        client_ephemeral_key_spki: &client_spki,
        key_management_key_spki: kmk_spki.as_deref(),
        client_time: u32::try_from(client_time).unwrap(),
        session_life_time: u16::try_from(num(&req["sessionLifeTime"])).unwrap(),
        session_key_limit: limit,
        server_certificate: &server_certificate,
    };
    if input.to_bytes().unwrap() != b64(&sec["sessionAttestationInput"]) {
        return Err("session attestation input mismatch".into());
    }
    s1::verify_session_attestation(
        &input,
        &b64(&resp["attestation"]),
        device_cert.as_deref(),
        session_key.as_slice(),
    )
    .map_err(|e| format!("session attestation: {e}"))?;

    // [CRY-ENC-001]
    let mut crypto = SessionCrypto::new(*session_key, limit);
    if crypto.encryption_key().unwrap().as_slice() != b64(&sec["encryptionKey"]) {
        return Err("encryption key mismatch".into());
    }
    Ok(Context {
        client_session_id: csid,
        server_session_id: ssid,
        issuer_uri,
        device_id,
        session_key: *session_key,
        session_key_limit: limit,
    })
}

/// Every public key that appears in a message of the session (KMKs, lookup signers).
fn message_keys(sess: &Session) -> Vec<PublicKey> {
    fn walk(v: &Value, out: &mut Vec<PublicKey>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if (k == "keyManagementKey" || k == "publicKey") && x.get("kty").is_some() {
                        out.push(public_key(x));
                    }
                    walk(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (_, m) in &sess.messages {
        walk(m, &mut out);
    }
    out
}

/// The issuer side: every entry of `serverCryptoTrace`.
/// [CRY-MAC-001] [CRY-MAC-002] [CRY-CTR-003] [CRY-CTR-005] [CRY-ENC-002] [CRY-TKR-001]
/// [CRY-TKR-003] [CRY-ROL-001]
fn check_trace(sess: &Session, ctx: &Context) -> Result<(), String> {
    let sec = &sess.secrets;
    let mut crypto = SessionCrypto::new(ctx.session_key, u16::MAX);
    let enc_key: [u8; 32] = b64(&sec["encryptionKey"]).try_into().unwrap();
    let all_text: String = sess.messages.iter().map(|(_, m)| m.to_string()).collect();
    let keys_in_messages = message_keys(sess);
    let mut last_target_reference: Option<Vec<u8>> = None;
    for (i, t) in arr(&sec["serverCryptoTrace"]).iter().enumerate() {
        let what = format!("trace[{i}]");
        match s(&t["op"]) {
            "hmac" => {
                let modifier = b64(&t["keyModifier"]);
                let data = b64(&t["data"]);
                let result = b64(&t["result"]);
                let got = match s(&t["purpose"]) {
                    "mac" => {
                        let method = Method::from_mac_name(s(&t["keyModifierText"]))
                            .ok_or(format!("{what}: unknown method"))?;
                        let c = u16::try_from(num(&t["macCounter"])).unwrap();
                        if s1::key_modifier(method, c) != modifier {
                            return Err(format!("{what}: key modifier"));
                        }
                        crypto.mac_at(method, c, &data).unwrap()
                    }
                    "expectedAttestation" => {
                        let c = u16::try_from(num(&t["macCounter"])).unwrap();
                        let mut m = s1::KDF_DEVICE_ATTESTATION.as_bytes().to_vec();
                        m.extend_from_slice(&c.to_be_bytes());
                        if m != modifier {
                            return Err(format!("{what}: attestation modifier"));
                        }
                        crypto.attest_at(c, &data).unwrap()
                    }
                    "targetKeyReference" => {
                        if modifier != ctx.device_id {
                            return Err(format!("{what}: target key reference modifier"));
                        }
                        let r = crypto.target_key_reference(&ctx.device_id, &data).unwrap();
                        last_target_reference = Some(r.to_vec());
                        r
                    }
                    p => return Err(format!("{what}: purpose {p}")),
                };
                if got.as_slice() != result {
                    return Err(format!("{what}: HMAC result mismatch"));
                }
            }
            "encrypt" => {
                let iv: [u8; 16] = b64(&t["iv"]).try_into().unwrap();
                let ct = s1::encrypt_with_key(&enc_key, &iv, &b64(&t["plaintext"]));
                if ct != b64(&t["result"]) {
                    return Err(format!("{what}: encryption mismatch"));
                }
                if *s1::decrypt_with_key(&enc_key, &ct).unwrap() != b64(&t["plaintext"]) {
                    return Err(format!("{what}: decryption mismatch"));
                }
            }
            "kmkSign" => {
                let kmk = public_key(&t["keyManagementKey"]);
                if !keys_in_messages.contains(&kmk) {
                    return Err(format!("{what}: KMK not found in the messages"));
                }
                let alg = SignatureAlgorithm::from_jose(s(&t["algorithm"])).unwrap();
                if s1::kmk_signature_algorithm(kmk.key_type()).unwrap() != alg {
                    return Err(format!("{what}: KMK algorithm"));
                }
                let data = b64(&t["data"]);
                let sig = b64(&t["result"]);
                s1::verify_kmk_authorization(&kmk, &data, &sig)
                    .map_err(|e| format!("{what}: {e}"))?;
                if !all_text.contains(s(&t["result"])) {
                    return Err(format!("{what}: signature not found in the messages"));
                }
                if data.starts_with(b"TargetKeyReference") {
                    let r = last_target_reference.take().ok_or("no target reference")?;
                    if data != s1::target_key_reference_signed_data(&r) {
                        return Err(format!("{what}: target key reference data"));
                    }
                } else if let Some(spki) = data.strip_prefix(b"RollOverAuthorization") {
                    let new_kmk = PublicKey::from_spki_der(spki).map_err(|e| e.to_string())?;
                    if s1::roll_over_signed_data(&new_kmk).unwrap() != data {
                        return Err(format!("{what}: roll-over data"));
                    }
                }
            }
            "closeNonce" => {
                let fin = sess.msg("ProvisioningFinalizationRequest").unwrap();
                if t["result"] != fin["sessionCloseData"]["nonce"] {
                    return Err(format!("{what}: close nonce"));
                }
            }
            op => return Err(format!("{what}: op {op}")),
        }
    }
    Ok(())
}

/// The card side: rebuild every MAC from the message fields, in SKS call order.
/// [CRY-MAC-010] [CRY-MAC-011] [CRY-MAC-013] [CRY-MAC-016] [CRY-MAC-017] [CRY-MAC-018]
/// [CRY-MAC-019] [CRY-MAC-021] [CRY-MAC-022] [CRY-CTR-002] [CRY-KAT-002] [CRY-KAT-004]
/// [CRY-CLS-001] [CRY-ENC-005] [CRY-ENC-007] [CRY-IMP-001] [CRY-PBG-001] [CRY-PBG-004]
/// [CRY-TKR-002] [CRY-TKR-004]
struct Card<'a> {
    sess: &'a Session,
    ctx: &'a Context,
    crypto: SessionCrypto,
    ops: Vec<Operation>,
    /// id -> SPKI of the generated key
    generated: Vec<(String, Vec<u8>)>,
}

impl Card<'_> {
    fn plaintext(&self, name: &str) -> Vec<u8> {
        let v = &self.sess.secrets["plaintexts"][name];
        b64url::decode(s(v)).unwrap_or_else(|_| s(v).as_bytes().to_vec())
    }

    fn key_entry(
        &mut self,
        k: &Value,
        pin_policy_id: Option<&str>,
        key_entry_algorithm: &str,
        response: &Value,
    ) -> Result<(), String> {
        let id = s(&k["id"]);
        let encrypted_pin = k.get("encryptedPin").map(b64);
        let server_seed = k.get("serverSeed").map(b64);
        let key_parameters = k.get("keyParameters").map(b64);
        let endorsed: Vec<&str> = arr(&k["endorsedAlgorithms"]).iter().map(s).collect();
        let input = s1::KeyEntryMacInput {
            id,
            key_entry_algorithm,
            server_seed: server_seed.as_deref(),
            pin_policy_id,
            encrypted_pin: encrypted_pin.as_deref(),
            device_pin_protection: opt_bool(&k["devicePinProtection"], false),
            enable_pin_caching: opt_bool(&k["enablePinCaching"], false),
            biometric_protection: k
                .get("biometricProtection")
                .map_or(BiometricProtection::None, |v| {
                    BiometricProtection::from_name(s(v)).unwrap()
                }),
            export_protection: k
                .get("exportProtection")
                .map_or(ExportProtection::NonExportable, |v| {
                    ExportProtection::from_name(s(v)).unwrap()
                }),
            delete_protection: k
                .get("deleteProtection")
                .map_or(DeleteProtection::None, |v| {
                    DeleteProtection::from_name(s(v)).unwrap()
                }),
            app_usage: AppUsage::from_name(s(&k["appUsage"])).unwrap(),
            friendly_name: k.get("friendlyName").map(s),
            key_algorithm: s(&k["keyAlgorithm"]),
            key_parameters: key_parameters.as_deref(),
            endorsed_algorithms: &endorsed,
        };
        let data = s1::create_key_entry_data(&input).map_err(|e| e.to_string())?;
        let mac = b64(&k["mac"]);
        self.crypto
            .verify_mac(Method::CreateKeyEntry, &data, &mac)
            .map_err(|e| format!("key {id}: {e}"))?;
        if let Some(ct) = &encrypted_pin {
            let pin = self.crypto.decrypt(ct).map_err(|e| e.to_string())?;
            if *pin != self.plaintext("presetPin") {
                return Err("preset PIN mismatch".into());
            }
        }
        if let Some(seed) = &server_seed {
            let named = self.sess.secrets["plaintexts"]
                .as_object()
                .unwrap()
                .iter()
                .any(|(n, v)| n.starts_with("serverSeed") && b64(v) == *seed);
            if !named {
                return Err("server seed not in plaintexts".into());
            }
        }
        self.ops.push(Operation::CreateKeyEntry {
            preset_pin: encrypted_pin.is_some(),
        });
        // The SKS-generated key and its attestation.
        let generated = arr(&response["generatedKeys"])
            .iter()
            .find(|g| g["id"] == id)
            .ok_or(format!("no generated key {id}"))?;
        let public = public_key(&generated["publicKey"]);
        let private = arr(&self.sess.secrets["sksGeneratedKeyPairs"])
            .iter()
            .find(|g| g["id"] == id)
            .map(|g| {
                let p = &g["privateKey"];
                if p.get("pkcs8").is_some() {
                    PrivateKey::from_pkcs8_der(&b64(&p["pkcs8"])).unwrap()
                } else {
                    ec_private(p)
                }
            })
            .ok_or(format!("no private key for {id}"))?;
        if private.public_key() != public {
            return Err(format!("generated key {id} does not match its private key"));
        }
        let spki = public.to_spki_der().unwrap();
        // key.1 attestation
        let att = self
            .crypto
            .attest(&s1::key_attestation_data(&spki, &mac).unwrap())
            .unwrap();
        if att.as_slice() != b64(&generated["attestation"]) {
            return Err(format!("key attestation {id} mismatch"));
        }
        self.generated.push((id.to_owned(), spki));
        Ok(())
    }

    fn pin_policy(
        &mut self,
        p: &Value,
        puk_id: Option<&str>,
        kea: &str,
        response: &Value,
    ) -> Result<(), String> {
        let id = s(&p["id"]);
        let keys = arr(&p["keyEntrySpecifiers"]);
        let user_defined = !keys.iter().any(|k| k.get("encryptedPin").is_some());
        let restrictions: PatternRestrictions = arr(&p["patternRestrictions"])
            .iter()
            .map(|r| PatternRestriction::from_name(s(r)).unwrap())
            .collect();
        let input = s1::PinPolicyMacInput {
            id,
            puk_policy_id: puk_id,
            user_defined,
            user_modifiable: opt_bool(&p["userModifiable"], true),
            format: PassphraseFormat::from_name(s(&p["format"])).unwrap(),
            retry_limit: u16::try_from(num(&p["retryLimit"])).unwrap(),
            grouping: p
                .get("grouping")
                .map_or(Grouping::None, |v| Grouping::from_name(s(v)).unwrap()),
            pattern_restrictions: restrictions,
            min_length: u16::try_from(num(&p["minLength"])).unwrap(),
            max_length: u16::try_from(num(&p["maxLength"])).unwrap(),
            input_method: p
                .get("inputMethod")
                .map_or(InputMethod::Any, |v| InputMethod::from_name(s(v)).unwrap()),
        };
        let data = s1::create_pin_policy_data(&input).unwrap();
        self.crypto
            .verify_mac(Method::CreatePinPolicy, &data, &b64(&p["mac"]))
            .map_err(|e| format!("PIN policy {id}: {e}"))?;
        self.ops.push(Operation::CreatePinPolicy);
        for k in keys {
            self.key_entry(k, Some(id), kea, response)?;
        }
        Ok(())
    }

    fn key_creation(&mut self) -> Result<(), String> {
        let Some(req) = self.sess.msg("KeyCreationRequest") else {
            return Ok(());
        };
        let response = self.sess.msg("KeyCreationResponse").unwrap().clone();
        let kea = s(&req["keyEntryAlgorithm"]);
        for puk in arr(&req["pukPolicySpecifiers"]) {
            let id = s(&puk["id"]);
            let enc = b64(&puk["encryptedPuk"]);
            let data = s1::create_puk_policy_data(
                id,
                &enc,
                PassphraseFormat::from_name(s(&puk["format"])).unwrap(),
                u16::try_from(num(&puk["retryLimit"])).unwrap(),
            )
            .unwrap();
            let puk_value = self
                .crypto
                .verify_mac_then_decrypt(Method::CreatePukPolicy, &data, &b64(&puk["mac"]), &enc)
                .map_err(|e| format!("PUK policy {id}: {e}"))?;
            if *puk_value != self.plaintext("puk") {
                return Err("PUK mismatch".into());
            }
            self.ops.push(Operation::CreatePukPolicy);
            for pin in arr(&puk["pinPolicySpecifiers"]) {
                self.pin_policy(pin, Some(id), kea, &response)?;
            }
        }
        for pin in arr(&req["pinPolicySpecifiers"]) {
            self.pin_policy(pin, None, kea, &response)?;
        }
        for k in arr(&req["keyEntrySpecifiers"]) {
            self.key_entry(k, None, kea, &response)?;
        }
        Ok(())
    }

    /// The target key (by fingerprint) from the first session of the scenario, and the KMK
    /// that must have signed the authorization.
    fn post_op(&mut self, op: &Value, method: Method, new_ee: Option<&[u8]>) -> Result<(), String> {
        let first = self
            .sess
            .sibling_initial()
            .ok_or("post-op without a first session")?;
        let fin1 = first.msg("ProvisioningFinalizationRequest").unwrap();
        let fp = b64(&op["fingerPrint"]);
        let target_ee = arr(&fin1["issuedCredentials"])
            .iter()
            .map(|c| b64(&c["certificatePath"][0]))
            .find(|c| keys::sha256(c).as_slice() == fp)
            .ok_or("fingerprint matches no certificate of the first session")?;
        let ctx1 = check_session_setup(&first)?;
        if op["serverSessionId"] != ctx1.server_session_id.as_str()
            || op["clientSessionId"] != ctx1.client_session_id.as_str()
        {
            return Err("post-op session ids".into());
        }
        // The KMK now governing the target's session: its own, unless this session rolled
        // that one over (updatableKeyManagementKeys) to the current session's KMK.
        let req = self.sess.msg("ProvisioningInitializationRequest").unwrap();
        let old_kmk = public_key(
            &first.msg("ProvisioningInitializationRequest").unwrap()["keyManagementKey"],
        );
        let kmk = match req.get("keyManagementKey").map(public_key) {
            Some(current) if current != old_kmk => {
                if !message_keys(self.sess).contains(&old_kmk) {
                    return Err("target session KMK was not rolled over".into());
                }
                current
            }
            _ => old_kmk,
        };
        let reference = self
            .crypto
            .target_key_reference(&self.ctx.device_id, &target_ee)
            .map_err(|e| e.to_string())?;
        let auth = b64(&op["authorization"]);
        s1::verify_kmk_authorization(
            &kmk,
            &s1::target_key_reference_signed_data(&reference),
            &auth,
        )
        .map_err(|e| format!("authorization: {e}"))?;
        let data = match new_ee {
            Some(ee) => s1::post_update_or_clone_data(ee, &auth).unwrap(),
            None => s1::post_delete_or_unlock_data(&auth).unwrap(),
        };
        self.crypto
            .verify_mac(method, &data, &b64(&op["mac"]))
            .map_err(|e| format!("{}: {e}", method.mac_name()))?;
        self.ops.push(match method {
            Method::PostDeleteKey => Operation::PostDeleteKey,
            Method::PostUnlockKey => Operation::PostUnlockKey,
            Method::PostUpdateKey => Operation::PostUpdateKey,
            _ => Operation::PostCloneKeyProtection,
        });
        Ok(())
    }

    fn extension(
        &mut self,
        ee: &[u8],
        ty: &str,
        sub: s1::ExtensionSubType,
        qualifier: &str,
        blob: &[u8],
        mac: &Value,
    ) -> Result<(), String> {
        let data = s1::add_extension_data(ee, ty, sub, qualifier, blob).unwrap();
        self.crypto
            .verify_mac(Method::AddExtension, &data, &b64(mac))
            .map_err(|e| format!("addExtension {ty}: {e}"))?;
        Ok(())
    }

    fn finalization(&mut self) -> Result<(), String> {
        let fin = self
            .sess
            .msg("ProvisioningFinalizationRequest")
            .unwrap()
            .clone();
        for cred in arr(&fin["issuedCredentials"]) {
            let id = s(&cred["id"]);
            let path: Vec<Vec<u8>> = arr(&cred["certificatePath"]).iter().map(b64).collect();
            let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            let ee = path[0].clone();
            let spki = self
                .generated
                .iter()
                .find(|(g, _)| g == id)
                .map(|(_, k)| k.clone())
                .ok_or(format!("certificate for unknown key {id}"))?;
            let data = s1::set_certificate_path_data(&spki, id, &refs).unwrap();
            self.crypto
                .verify_mac(Method::SetCertificatePath, &data, &b64(&cred["mac"]))
                .map_err(|e| format!("setCertificatePath {id}: {e}"))?;
            self.ops.push(Operation::SetCertificatePath);
            let cert_spki = keys::certificate_spki_der(&ee).map_err(|e| e.to_string())?;
            if let Some(imp) = cred.get("importSymmetricKey") {
                let enc = b64(&imp["encryptedKey"]);
                let key = self
                    .crypto
                    .verify_mac_then_decrypt(
                        Method::ImportSymmetricKey,
                        &s1::import_key_data(&ee, &enc).unwrap(),
                        &b64(&imp["mac"]),
                        &enc,
                    )
                    .map_err(|e| format!("importSymmetricKey: {e}"))?;
                if *key != self.plaintext("symmetricKey") {
                    return Err("symmetric key mismatch".into());
                }
                self.ops.push(Operation::ImportSymmetricKey);
            }
            if let Some(imp) = cred.get("importPrivateKey") {
                let enc = b64(&imp["encryptedKey"]);
                let pkcs8 = self
                    .crypto
                    .verify_mac_then_decrypt(
                        Method::ImportPrivateKey,
                        &s1::import_key_data(&ee, &enc).unwrap(),
                        &b64(&imp["mac"]),
                        &enc,
                    )
                    .map_err(|e| format!("importPrivateKey: {e}"))?;
                if *pkcs8 != self.plaintext("importedPrivateKeyPkcs8") {
                    return Err("imported private key mismatch".into());
                }
                let k = PrivateKey::from_pkcs8_der(&pkcs8).map_err(|e| e.to_string())?;
                if k.public_key().to_spki_der().unwrap() != cert_spki {
                    return Err("imported key does not match its certificate".into());
                }
                self.ops.push(Operation::ImportPrivateKey);
            } else if cert_spki != spki {
                return Err(format!(
                    "certificate of {id} does not carry the generated key"
                ));
            }
            for e in arr(&cred["extensions"]) {
                let blob = b64(&e["extensionData"]);
                if blob != self.plaintext("standardExtensionData") {
                    return Err("extension data".into());
                }
                self.extension(
                    &ee,
                    s(&e["type"]),
                    s1::ExtensionSubType::Extension,
                    "",
                    &blob,
                    &e["mac"],
                )?;
                self.ops.push(Operation::AddExtension { encrypted: false });
            }
            for e in arr(&cred["encryptedExtensions"]) {
                let enc = b64(&e["extensionData"]);
                self.extension(
                    &ee,
                    s(&e["type"]),
                    s1::ExtensionSubType::EncryptedExtension,
                    "",
                    &enc,
                    &e["mac"],
                )?;
                let plain = self.crypto.decrypt(&enc).map_err(|e| e.to_string())?;
                if *plain != self.plaintext("encryptedExtensionPlaintext") {
                    return Err("encrypted extension plaintext".into());
                }
                self.ops.push(Operation::AddExtension { encrypted: true });
            }
            for bag in arr(&cred["propertyBags"]) {
                let props: Vec<s1::Property> = arr(&bag["properties"])
                    .iter()
                    .map(|p| s1::Property {
                        name: s(&p["name"]).to_owned(),
                        writable: opt_bool(&p["writable"], false),
                        value: s(&p["value"]).to_owned(),
                    })
                    .collect();
                let blob = s1::encode_property_bag(&props).unwrap();
                if s1::parse_property_bag(&blob).unwrap() != props {
                    return Err("property bag round trip".into());
                }
                self.extension(
                    &ee,
                    s(&bag["type"]),
                    s1::ExtensionSubType::PropertyBag,
                    "",
                    &blob,
                    &bag["mac"],
                )?;
                self.ops.push(Operation::AddExtension { encrypted: false });
            }
            for logo in arr(&cred["logotypes"]) {
                self.extension(
                    &ee,
                    s(&logo["type"]),
                    s1::ExtensionSubType::Logotype,
                    s(&logo["mimeType"]),
                    &b64(&logo["extensionData"]),
                    &logo["mac"],
                )?;
                self.ops.push(Operation::AddExtension { encrypted: false });
            }
            if let Some(op) = cred.get("updateKey") {
                self.post_op(op, Method::PostUpdateKey, Some(&ee))?;
            }
            if let Some(op) = cred.get("cloneKeyProtection") {
                self.post_op(op, Method::PostCloneKeyProtection, Some(&ee))?;
            }
        }
        for op in arr(&fin["unlockKeys"]) {
            self.post_op(op, Method::PostUnlockKey, None)?;
        }
        for op in arr(&fin["deleteKeys"]) {
            self.post_op(op, Method::PostDeleteKey, None)?;
        }
        // Close.
        let close = &fin["sessionCloseData"];
        let nonce = b64(&close["nonce"]);
        if nonce != b64(&self.sess.secrets["closeNonce"]) {
            return Err("close nonce".into());
        }
        let data = s1::close_provisioning_session_data(
            &self.ctx.client_session_id,
            &self.ctx.server_session_id,
            &self.ctx.issuer_uri,
            &nonce,
        )
        .unwrap();
        self.crypto
            .verify_mac(Method::CloseProvisioningSession, &data, &b64(&close["mac"]))
            .map_err(|e| format!("close: {e}"))?;
        let att = self
            .crypto
            .attest(&s1::close_attestation_data(&nonce).unwrap())
            .map_err(|e| e.to_string())?;
        let resp = self.sess.msg("ProvisioningFinalizationResponse").unwrap();
        if att.as_slice() != b64(&resp["attestation"]) {
            return Err("close attestation mismatch".into());
        }
        self.ops.push(Operation::CloseProvisioningSession);
        Ok(())
    }
}

/// The full replay of one session; any failed check is an `Err`.
fn replay(sess: &Session) -> Result<(), String> {
    let ctx = check_session_setup(sess)?;
    check_trace(sess, &ctx)?;

    // Roll-over authorizations: each node's (old) key signs its parent (new) key.
    // [KG2-PIQ-008]
    if let Some(req) = sess.msg("ProvisioningInitializationRequest") {
        fn walk(parent: &PublicKey, nodes: &Value) -> Result<(), String> {
            for n in arr(nodes) {
                let old = public_key(&n["publicKey"]);
                let data = s1::roll_over_signed_data(parent).unwrap();
                s1::verify_kmk_authorization(&old, &data, &b64(&n["authorization"]))
                    .map_err(|e| format!("roll-over authorization: {e}"))?;
                walk(&old, &n["updatableKeyManagementKeys"])?;
            }
            Ok(())
        }
        if let Some(k) = req.get("keyManagementKey") {
            walk(&public_key(k), &req["updatableKeyManagementKeys"])?;
        }
    }
    // Lookup nonces. [CRY-LUP-001]
    if let Some(cd) = sess.msg("CredentialDiscoveryRequest") {
        let nonce = s1::lookup_nonce(&ctx.client_session_id, &ctx.server_session_id).unwrap();
        for l in arr(&cd["lookupSpecifiers"]) {
            if b64(&l["nonce"]) != nonce {
                return Err("lookup nonce".into());
            }
        }
    }

    let mut card = Card {
        sess,
        ctx: &ctx,
        crypto: SessionCrypto::new(ctx.session_key, ctx.session_key_limit),
        ops: Vec::new(),
        generated: Vec::new(),
    };
    card.key_creation()?;
    card.finalization()?;
    let expected = num(&sess.secrets["sksMacSequenceCounterAfterClose"]);
    if u64::from(card.crypto.next_counter()) != expected {
        return Err(format!(
            "final counter {} != {expected}",
            card.crypto.next_counter()
        ));
    }
    // The plan of the card operations predicts the same counter and limit use.
    // [CRY-LIM-001] [CRY-LIM-003]
    let plan = s1::counter_plan(&card.ops).unwrap();
    if plan.len() as u64 != expected {
        return Err("counter plan length".into());
    }
    let used = u32::from(ctx.session_key_limit - card.crypto.remaining_limit());
    if used != s1::session_key_uses(&card.ops) {
        return Err(format!(
            "sessionKeyLimit use {used} != table {}",
            s1::session_key_uses(&card.ops)
        ));
    }
    Ok(())
}

#[test]
fn every_recorded_session_replays() {
    let sessions = all_sessions();
    assert_eq!(sessions.len(), 18, "expected the 18 recorded sessions");
    let mut failures = Vec::new();
    for sess in &sessions {
        if let Err(e) = replay(sess) {
            failures.push(format!("{}: {e}", sess.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn flip(v: &mut Value, pos: usize) {
    let mut bytes = b64(v);
    let i = pos % bytes.len();
    bytes[i] ^= 0x01;
    *v = Value::String(b64url::encode(&bytes));
}

/// Picks the JSON value a mutation test changes.
type Edit = fn(&mut Session) -> &mut Value;

const POSITIONS: [usize; 5] = [0, 1, 7, 16, 31];

fn session(name: &str) -> Session {
    Session::load(&recorded_dir().join(name))
}

#[test]
fn mutated_macs_fail() {
    let base = session("preset-pin-with-puk");
    replay(&base).unwrap();
    for pos in POSITIONS {
        // createPUKPolicy, createPINPolicy, createKeyEntry, setCertificatePath, close.
        let edits: [Edit; 5] = [
            |s| &mut s.msg_mut("KeyCreationRequest")["pukPolicySpecifiers"][0]["mac"],
            |s| {
                &mut s.msg_mut("KeyCreationRequest")["pukPolicySpecifiers"][0]["pinPolicySpecifiers"]
                    [0]["mac"]
            },
            |s| {
                &mut s.msg_mut("KeyCreationRequest")["pukPolicySpecifiers"][0]["pinPolicySpecifiers"]
                    [0]["keyEntrySpecifiers"][0]["mac"]
            },
            |s| &mut s.msg_mut("ProvisioningFinalizationRequest")["issuedCredentials"][0]["mac"],
            |s| &mut s.msg_mut("ProvisioningFinalizationRequest")["sessionCloseData"]["mac"],
        ];
        for (n, edit) in edits.iter().enumerate() {
            let mut m = base.clone();
            flip(edit(&mut m), pos);
            let err = replay(&m).expect_err("a flipped MAC must fail");
            assert!(
                err.contains("MAC error") || err.contains("mismatch"),
                "edit {n}: {err}"
            );
        }
    }
}

#[test]
fn mutated_attestations_fail() {
    for name in ["e2es-rsa-device", "e2es-ec-device", "privacy-enabled"] {
        let base = session(name);
        replay(&base).unwrap();
        for pos in POSITIONS {
            let mut m = base.clone();
            flip(
                &mut m.msg_mut("ProvisioningInitializationResponse")["attestation"],
                pos,
            );
            let err = replay(&m).expect_err("a flipped session attestation must fail");
            assert!(err.contains("session attestation"), "{name}: {err}");

            let mut m = base.clone();
            flip(
                &mut m.msg_mut("KeyCreationResponse")["generatedKeys"][0]["attestation"],
                pos,
            );
            let err = replay(&m).expect_err("a flipped key attestation must fail");
            assert!(err.contains("key attestation"), "{name}: {err}");

            let mut m = base.clone();
            flip(
                &mut m.msg_mut("ProvisioningFinalizationResponse")["attestation"],
                pos,
            );
            let err = replay(&m).expect_err("a flipped close attestation must fail");
            assert!(err.contains("close attestation"), "{name}: {err}");
        }
    }
}

#[test]
fn mutated_ciphertexts_fail() {
    // The MAC covers the ciphertext, so the card rejects a changed ciphertext before it
    // decrypts anything.
    let cases: [(&str, Edit); 4] = [
        ("preset-pin-with-puk", |s| {
            &mut s.msg_mut("KeyCreationRequest")["pukPolicySpecifiers"][0]["encryptedPuk"]
        }),
        ("preset-pin-with-puk", |s| {
            &mut s.msg_mut("KeyCreationRequest")["pukPolicySpecifiers"][0]["pinPolicySpecifiers"][0]
                ["keyEntrySpecifiers"][0]["encryptedPin"]
        }),
        ("import-symmetric-key", |s| {
            &mut s.msg_mut("ProvisioningFinalizationRequest")["issuedCredentials"][0]["importSymmetricKey"]
                ["encryptedKey"]
        }),
        ("import-private-key", |s| {
            &mut s.msg_mut("ProvisioningFinalizationRequest")["issuedCredentials"][0]["importPrivateKey"]
                ["encryptedKey"]
        }),
    ];
    for (name, edit) in cases {
        let base = session(name);
        replay(&base).unwrap();
        for pos in POSITIONS {
            let mut m = base.clone();
            flip(edit(&mut m), pos);
            let err = replay(&m).expect_err("a flipped ciphertext must fail");
            assert!(err.contains("MAC error"), "{name}: {err}");
        }
    }
    // Without the MAC, a flipped ciphertext still never yields the plaintext.
    let sess = session("import-symmetric-key");
    let key: [u8; 32] = b64(&sess.secrets["encryptionKey"]).try_into().unwrap();
    let fin = sess.msg("ProvisioningFinalizationRequest").unwrap();
    let ct = b64(&fin["issuedCredentials"][0]["importSymmetricKey"]["encryptedKey"]);
    let plain = b64(&sess.secrets["plaintexts"]["symmetricKey"]);
    assert_eq!(*s1::decrypt_with_key(&key, &ct).unwrap(), plain);
    for pos in 0..ct.len() {
        let mut bad = ct.clone();
        bad[pos] ^= 0x80;
        if let Ok(p) = s1::decrypt_with_key(&key, &bad) {
            assert_ne!(*p, plain, "flip at {pos}");
        }
    }
}
