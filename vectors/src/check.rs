//! Checks `airtight-proto` against vectors: each group type has one checker.

use airtight_proto::codec::{Reader, Writer, b64url};
use serde_json::Value;

use crate::format::{TestCase, VectorFile, Verdict};
use crate::{field_hex, field_str, hex, hex_decode};

/// Outcome of checking one file.
#[derive(Debug, Default)]
pub struct Report {
    /// Tests that behaved as their verdict says.
    pub passed: usize,
    /// One line per test that did not.
    pub failures: Vec<String>,
}

/// Checks every test of `file`; an unknown group type is a failure (every type needs a checker).
pub fn check_file(file: &VectorFile) -> Report {
    let mut report = Report::default();
    for (kind, t) in file.tests() {
        let outcome = match kind {
            "SerializationTest" => serialization(t),
            "DeserializationTest" => deserialization(t),
            "Base64UrlTest" => base64url(t),
            "SessionTranscript" => crate::session_check::check(t),
            other => match session1::dispatch(other, t) {
                Some(r) => r,
                None => Err(format!("no checker for test type {other:?}")),
            },
        };
        match outcome {
            Ok(()) => report.passed += 1,
            Err(e) => report.failures.push(format!(
                "{} tcId {} ({}): {e}",
                file.algorithm, t.tc_id, t.comment
            )),
        }
    }
    report
}

fn items(t: &TestCase) -> Result<&Vec<Value>, String> {
    t.fields
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| "field \"items\" missing".to_owned())
}

fn item_parts(item: &Value) -> Result<(&str, &Value), String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .ok_or("item without type")?;
    Ok((kind, item.get("value").unwrap_or(&Value::Null)))
}

fn int(v: &Value) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{v} is not an unsigned integer"))
}

fn bytes(v: &Value) -> Result<Vec<u8>, String> {
    v.as_str()
        .and_then(hex_decode)
        .ok_or_else(|| format!("{v} is not hex"))
}

fn serialization(t: &TestCase) -> Result<(), String> {
    let mut w = Writer::new();
    for item in items(t)? {
        let (kind, v) = item_parts(item)?;
        match kind {
            "byte" => {
                w.byte(u8::try_from(int(v)?).map_err(|e| e.to_string())?);
            }
            "bool" => {
                w.bool(v.as_bool().ok_or("bool value")?);
            }
            "ushort" => {
                w.ushort(u16::try_from(int(v)?).map_err(|e| e.to_string())?);
            }
            "uint" => {
                w.uint(u32::try_from(int(v)?).map_err(|e| e.to_string())?);
            }
            "l" => {
                w.l(&bytes(v)?).map_err(|e| e.to_string())?;
            }
            "blob" => {
                w.blob(&bytes(v)?).map_err(|e| e.to_string())?;
            }
            "raw" => {
                w.raw(&bytes(v)?);
            }
            other => return Err(format!("unknown item type {other:?}")),
        }
    }
    let expected = field_hex(t, "encoded")?;
    if w.as_bytes() != expected.as_slice() {
        return Err(format!(
            "encoded {} expected {}",
            hex(w.as_bytes()),
            hex(&expected)
        ));
    }
    if t.result != Verdict::Valid {
        return Err("serialization tests are all valid".to_owned());
    }
    Ok(())
}

fn deserialization(t: &TestCase) -> Result<(), String> {
    let encoded = field_hex(t, "encoded")?;
    let read = || -> Result<(), String> {
        let mut r = Reader::new(&encoded);
        for item in items(t)? {
            let (kind, v) = item_parts(item)?;
            let got = match kind {
                "byte" => Value::from(r.byte().map_err(|e| e.to_string())?),
                "bool" => Value::from(r.bool().map_err(|e| e.to_string())?),
                "ushort" => Value::from(r.ushort().map_err(|e| e.to_string())?),
                "uint" => Value::from(r.uint().map_err(|e| e.to_string())?),
                "l" => Value::from(hex(r.l().map_err(|e| e.to_string())?)),
                "blob" => Value::from(hex(r.blob().map_err(|e| e.to_string())?)),
                other => return Err(format!("unknown item type {other:?}")),
            };
            if !v.is_null() && *v != got {
                return Err(format!("read {got}, expected {v}"));
            }
        }
        r.finish().map_err(|e| e.to_string())
    };
    verdict(t.result, read())
}

fn base64url(t: &TestCase) -> Result<(), String> {
    let text = field_str(t, "text")?;
    let decoded = b64url::decode(text).map_err(|e| e.to_string());
    if t.result == Verdict::Valid {
        let expected = field_hex(t, "bytes")?;
        let got = decoded?;
        if got != expected {
            return Err(format!("decoded {} expected {}", hex(&got), hex(&expected)));
        }
        if b64url::encode(&expected) != text {
            return Err("encoding does not reproduce the text".to_owned());
        }
        return Ok(());
    }
    verdict(t.result, decoded.map(|_| ()))
}

/// Maps an implementation outcome onto a verdict: valid must succeed, invalid must fail,
/// acceptable may do either.
pub fn verdict(expected: Verdict, outcome: Result<(), String>) -> Result<(), String> {
    match (expected, outcome) {
        (Verdict::Valid, Ok(())) | (Verdict::Invalid, Err(_)) | (Verdict::Acceptable, _) => Ok(()),
        (Verdict::Valid, Err(e)) => Err(format!("rejected a valid vector: {e}")),
        (Verdict::Invalid, Ok(())) => Err("accepted an invalid vector".to_owned()),
    }
}

/// The checkers of the session.1 primitives, keys, messages and recorded sessions.
mod session1 {
    use airtight_proto::jwk::Jwk;
    use airtight_proto::keys::{
        Curve, PrivateKey, PublicKey, ecdh_z, ecdsa_der_to_raw, ecdsa_raw_to_der,
    };
    use airtight_proto::messages::Message;
    use airtight_proto::policy::{
        AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
        PassphraseFormat, PatternRestriction, PatternRestrictions,
    };
    use airtight_proto::session1::{
        self as s1, ExtensionSubType, KeyEntryMacInput, Method, Operation, PinPolicyMacInput,
        Property, SessionAttestationInput, SessionCrypto,
    };
    use serde_json::{Value, json};

    use super::{bytes, verdict};
    use crate::format::{TestCase, Verdict};
    use crate::{field_hex, field_str, hex};

    type R = Result<(), String>;

    /// The checker of a group type, if it is one of this module's.
    pub(super) fn dispatch(kind: &str, t: &TestCase) -> Option<R> {
        let f: fn(&TestCase) -> R = match kind {
            "SessionKeyTest" => session_key,
            "SessionAttestationTest" => session_attestation,
            "MethodMacTest" => method_mac,
            "MacDataTest" => mac_data,
            "KeyAttestationTest" => key_attestation,
            "CloseAttestationTest" => close_attestation,
            "EncryptionTest" => encryption,
            "EncryptionKeyTest" => encryption_key,
            "TargetKeyReferenceTest" => target_key_reference,
            "RollOverAuthorizationTest" => roll_over,
            "PropertyBagTest" => property_bag,
            "DeviceIdTest" => device_id,
            "DeviceIdValidationTest" => device_id_validation,
            "LookupNonceTest" => lookup_nonce,
            "LookupSignatureTest" => lookup_signature,
            "SpkiTest" => spki,
            "JwkTest" => jwk,
            "EcdsaSignatureTest" => ecdsa,
            "SessionKeyLimitTest" => session_key_limit,
            "MacCounterTest" => mac_counter,
            "MessageDecodeTest" => message_decode,
            _ => return None,
        };
        Some(f(t))
    }

    fn field<'a>(t: &'a TestCase, k: &str) -> Result<&'a Value, String> {
        t.fields
            .get(k)
            .ok_or_else(|| format!("field {k:?} missing"))
    }

    fn uint(t: &TestCase, k: &str) -> Result<u64, String> {
        field(t, k)?
            .as_u64()
            .ok_or_else(|| format!("field {k:?} is not an unsigned integer"))
    }

    fn key32(b: &[u8]) -> Result<[u8; 32], String> {
        <[u8; 32]>::try_from(b).map_err(|_| format!("{} bytes where 32 are needed", b.len()))
    }

    fn eq(what: &str, got: &[u8], expected: &[u8]) -> R {
        if got == expected {
            Ok(())
        } else {
            Err(format!("{what} {} expected {}", hex(got), hex(expected)))
        }
    }

    fn public_key(v: &Value) -> Result<PublicKey, String> {
        let jwk = Jwk::from_json(v, "").map_err(|e| e.to_string())?;
        PublicKey::from_jwk(&jwk).map_err(|e| e.to_string())
    }

    fn spki_of(v: &Value) -> Result<Vec<u8>, String> {
        public_key(v)?.to_spki_der().map_err(|e| e.to_string())
    }

    /// Runs `f`; a valid vector must pass, an invalid one must fail somewhere.
    fn judged(t: &TestCase, f: impl FnOnce() -> R) -> R {
        verdict(t.result, f())
    }

    // [CRY-KDF-005] [CRY-KDF-007] [CRY-KDF-008]
    fn session_key(t: &TestCase) -> R {
        judged(t, || {
            let device_id = field_hex(t, "deviceId")?;
            let (c, s, u) = (
                field_str(t, "clientSessionId")?,
                field_str(t, "serverSessionId")?,
                field_str(t, "issuerUri")?,
            );
            let mut z = field_hex(t, "z")?;
            if let (Some(sk), Some(peer)) = (
                t.fields.get("serverEphemeralPrivateKey"),
                t.fields.get("clientEphemeralKey"),
            ) {
                let d = sk["d"]
                    .as_str()
                    .and_then(|d| airtight_proto::codec::b64url::decode(d).ok())
                    .ok_or("d")?;
                let mut pub_only = sk.clone();
                if let Some(m) = pub_only.as_object_mut() {
                    m.remove("d");
                }
                let jwk = Jwk::from_json(&pub_only, "").map_err(|e| e.to_string())?;
                let private = PrivateKey::from_ec_jwk(&jwk, &d).map_err(|e| e.to_string())?;
                let got = ecdh_z(&private, &public_key(peer)?).map_err(|e| e.to_string())?;
                eq("Z", &got, &z)?;
                z = got.to_vec();
            }
            let input = s1::kdf_input(c, s, u, &device_id).map_err(|e| e.to_string())?;
            eq("KDF input", &input, &field_hex(t, "kdfInput")?)?;
            let key = s1::derive_session_key(&z, c, s, u, &device_id).map_err(|e| e.to_string())?;
            eq("session key", key.as_ref(), &field_hex(t, "sessionKey")?)
        })
    }

    // [CRY-ATT-001] [CRY-ATT-005] [CRY-ATT-006] [CRY-ATT-007] [CRY-ATT-008] [CRY-ATT-010]
    fn session_attestation(t: &TestCase) -> R {
        judged(t, || {
            let privacy = field(t, "privacyEnabled")?
                .as_bool()
                .ok_or("privacyEnabled")?;
            let cert = match t.fields.get("deviceCertificate") {
                Some(_) => Some(field_hex(t, "deviceCertificate")?),
                None => None,
            };
            let device_id =
                s1::device_id_bytes(privacy, cert.as_deref()).map_err(|e| e.to_string())?;
            let server_eph = spki_of(field(t, "serverEphemeralKey")?)?;
            let client_eph = spki_of(field(t, "clientEphemeralKey")?)?;
            let kmk = match t.fields.get("keyManagementKey") {
                Some(k) => Some(spki_of(k)?),
                None => None,
            };
            let server_certificate = field_hex(t, "serverCertificate")?;
            let input = SessionAttestationInput {
                client_session_id: field_str(t, "clientSessionId")?,
                server_session_id: field_str(t, "serverSessionId")?,
                issuer_uri: field_str(t, "issuerUri")?,
                device_id: &device_id,
                session_key_algorithm: field_str(t, "sessionKeyAlgorithm")?,
                privacy_enabled: privacy,
                server_ephemeral_key_spki: &server_eph,
                client_ephemeral_key_spki: &client_eph,
                key_management_key_spki: kmk.as_deref(),
                client_time: u32::try_from(uint(t, "clientTime")?).map_err(|e| e.to_string())?,
                session_life_time: u16::try_from(uint(t, "sessionLifeTime")?)
                    .map_err(|e| e.to_string())?,
                session_key_limit: u16::try_from(uint(t, "sessionKeyLimit")?)
                    .map_err(|e| e.to_string())?,
                server_certificate: &server_certificate,
            };
            // A valid vector pins the exact layout; an invalid one is verified over the input
            // rebuilt from its (changed) fields, so that the attestation check itself rejects.
            if t.result == Verdict::Valid {
                let bytes = input.to_bytes().map_err(|e| e.to_string())?;
                eq(
                    "attestation input",
                    &bytes,
                    &field_hex(t, "attestationInput")?,
                )?;
            }
            s1::verify_session_attestation(
                &input,
                &field_hex(t, "attestation")?,
                cert.as_deref(),
                &field_hex(t, "sessionKey")?,
            )
            .map_err(|e| e.to_string())
        })
    }

    fn method(name: &str) -> Result<Method, String> {
        Method::from_mac_name(name).ok_or_else(|| format!("unknown MAC method name {name:?}"))
    }

    // [CRY-MAC-001] [CRY-MAC-002] [CRY-MAC-003]
    fn method_mac(t: &TestCase) -> R {
        judged(t, || {
            let m = method(field_str(t, "method")?)?;
            let counter = u16::try_from(uint(t, "counter")?).map_err(|e| e.to_string())?;
            let mut sc = SessionCrypto::new(key32(&field_hex(t, "sessionKey")?)?, 1);
            let mac = sc
                .mac_at(m, counter, &field_hex(t, "data")?)
                .map_err(|e| e.to_string())?;
            eq("MAC", &mac, &field_hex(t, "mac")?)
        })
    }

    fn s(v: &Value, k: &str) -> Result<String, String> {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("input {k:?} is not a string"))
    }
    fn opt_s(v: &Value, k: &str) -> Option<String> {
        v[k].as_str().map(str::to_owned)
    }
    fn h(v: &Value, k: &str) -> Result<Vec<u8>, String> {
        bytes(&v[k]).map_err(|e| format!("input {k:?}: {e}"))
    }
    fn opt_h(v: &Value, k: &str) -> Result<Option<Vec<u8>>, String> {
        if v[k].is_null() {
            Ok(None)
        } else {
            h(v, k).map(Some)
        }
    }
    fn b(v: &Value, k: &str) -> Result<bool, String> {
        v[k].as_bool()
            .ok_or_else(|| format!("input {k:?} is not a bool"))
    }
    fn n16(v: &Value, k: &str) -> Result<u16, String> {
        v[k].as_u64()
            .and_then(|x| u16::try_from(x).ok())
            .ok_or_else(|| format!("input {k:?} is not a ushort"))
    }
    fn e<T>(r: Result<T, impl std::fmt::Display>) -> Result<T, String> {
        r.map_err(|x| x.to_string())
    }
    fn props(v: &Value) -> Result<Vec<Property>, String> {
        v.as_array()
            .ok_or("properties")?
            .iter()
            .map(|p| {
                Ok(Property {
                    name: s(p, "name")?,
                    writable: b(p, "writable")?,
                    value: s(p, "value")?,
                })
            })
            .collect()
    }

    /// The MAC data of `method` computed from structured inputs.
    fn mac_data_of(method: &str, i: &Value) -> Result<Vec<u8>, String> {
        Ok(match method {
            "createPUKPolicy" => e(s1::create_puk_policy_data(
                &s(i, "id")?,
                &h(i, "encryptedPuk")?,
                e(PassphraseFormat::from_name(&s(i, "format")?))?,
                n16(i, "retryLimit")?,
            ))?,
            "createPINPolicy" => {
                let puk = opt_s(i, "pukPolicyId");
                let patterns: PatternRestrictions = i["patternRestrictions"]
                    .as_array()
                    .ok_or("patternRestrictions")?
                    .iter()
                    .map(|p| {
                        e(PatternRestriction::from_name(
                            p.as_str().unwrap_or_default(),
                        ))
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .collect();
                e(s1::create_pin_policy_data(&PinPolicyMacInput {
                    id: &s(i, "id")?,
                    puk_policy_id: puk.as_deref(),
                    user_defined: b(i, "userDefined")?,
                    user_modifiable: b(i, "userModifiable")?,
                    format: e(PassphraseFormat::from_name(&s(i, "format")?))?,
                    retry_limit: n16(i, "retryLimit")?,
                    grouping: e(Grouping::from_name(&s(i, "grouping")?))?,
                    pattern_restrictions: patterns,
                    min_length: n16(i, "minLength")?,
                    max_length: n16(i, "maxLength")?,
                    input_method: e(InputMethod::from_name(&s(i, "inputMethod")?))?,
                }))?
            }
            "createKeyEntry" => {
                let endorsed: Vec<String> = i["endorsedAlgorithms"]
                    .as_array()
                    .ok_or("endorsedAlgorithms")?
                    .iter()
                    .map(|x| x.as_str().unwrap_or_default().to_owned())
                    .collect();
                let endorsed: Vec<&str> = endorsed.iter().map(String::as_str).collect();
                let (seed, pin_id, enc_pin, friendly, params) = (
                    opt_h(i, "serverSeed")?,
                    opt_s(i, "pinPolicyId"),
                    opt_h(i, "encryptedPin")?,
                    opt_s(i, "friendlyName"),
                    opt_h(i, "keyParameters")?,
                );
                e(s1::create_key_entry_data(&KeyEntryMacInput {
                    id: &s(i, "id")?,
                    key_entry_algorithm: &s(i, "keyEntryAlgorithm")?,
                    server_seed: seed.as_deref(),
                    pin_policy_id: pin_id.as_deref(),
                    encrypted_pin: enc_pin.as_deref(),
                    device_pin_protection: b(i, "devicePinProtection")?,
                    enable_pin_caching: b(i, "enablePinCaching")?,
                    biometric_protection: e(BiometricProtection::from_name(&s(
                        i,
                        "biometricProtection",
                    )?))?,
                    export_protection: e(ExportProtection::from_name(&s(i, "exportProtection")?))?,
                    delete_protection: e(DeleteProtection::from_name(&s(i, "deleteProtection")?))?,
                    app_usage: e(AppUsage::from_name(&s(i, "appUsage")?))?,
                    friendly_name: friendly.as_deref(),
                    key_algorithm: &s(i, "keyAlgorithm")?,
                    key_parameters: params.as_deref(),
                    endorsed_algorithms: &endorsed,
                }))?
            }
            "setCertificatePath" => {
                let path: Vec<Vec<u8>> = i["certificatePath"]
                    .as_array()
                    .ok_or("certificatePath")?
                    .iter()
                    .map(bytes)
                    .collect::<Result<_, _>>()?;
                let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
                e(s1::set_certificate_path_data(
                    &h(i, "publicKey")?,
                    &s(i, "id")?,
                    &refs,
                ))?
            }
            "importSymmetricKey" | "importPrivateKey" => e(s1::import_key_data(
                &h(i, "eeCertificate")?,
                &h(i, "encryptedKey")?,
            ))?,
            "addExtension" => {
                let sub = i["subType"]
                    .as_u64()
                    .and_then(|x| u8::try_from(x).ok())
                    .and_then(ExtensionSubType::from_byte)
                    .ok_or("subType")?;
                let data = if i["properties"].is_null() {
                    h(i, "extensionData")?
                } else {
                    e(s1::encode_property_bag(&props(&i["properties"])?))?
                };
                e(s1::add_extension_data(
                    &h(i, "eeCertificate")?,
                    &s(i, "type")?,
                    sub,
                    &s(i, "qualifier")?,
                    &data,
                ))?
            }
            "postDeleteKey" | "postUnlockKey" => {
                e(s1::post_delete_or_unlock_data(&h(i, "authorization")?))?
            }
            "postUpdateKey" | "postCloneKeyProtection" => e(s1::post_update_or_clone_data(
                &h(i, "eeCertificate")?,
                &h(i, "authorization")?,
            ))?,
            "closeProvisioningSession" => e(s1::close_provisioning_session_data(
                &s(i, "clientSessionId")?,
                &s(i, "serverSessionId")?,
                &s(i, "issuerUri")?,
                &h(i, "nonce")?,
            ))?,
            other => return Err(format!("unknown method {other:?}")),
        })
    }

    // [CRY-MAC-010] .. [CRY-MAC-022]
    fn mac_data(t: &TestCase) -> R {
        judged(t, || {
            let data = mac_data_of(field_str(t, "method")?, field(t, "input")?)?;
            eq("MAC data", &data, &field_hex(t, "data")?)
        })
    }

    // [CRY-KAT-002] [CRY-CTR-005]
    fn key_attestation(t: &TestCase) -> R {
        judged(t, || {
            let counter = u16::try_from(uint(t, "counter")?).map_err(|e| e.to_string())?;
            let spki = spki_of(field(t, "publicKey")?)?;
            let data = e(s1::key_attestation_data(
                &spki,
                &field_hex(t, "createKeyEntryMac")?,
            ))?;
            let mut sc = SessionCrypto::new(key32(&field_hex(t, "sessionKey")?)?, 1);
            e(sc.verify_attestation_at(counter, &data, &field_hex(t, "attestation")?))
        })
    }

    // [CRY-CLS-001]
    fn close_attestation(t: &TestCase) -> R {
        judged(t, || {
            let counter = u16::try_from(uint(t, "counter")?).map_err(|e| e.to_string())?;
            let nonce = field_hex(t, "nonce")?;
            if nonce.is_empty() || nonce.len() > 32 {
                return Err("the close nonce is 1-32 bytes".into());
            }
            let data = e(s1::close_attestation_data(&nonce))?;
            let mut sc = SessionCrypto::new(key32(&field_hex(t, "sessionKey")?)?, 1);
            e(sc.verify_attestation_at(counter, &data, &field_hex(t, "attestation")?))
        })
    }

    // [CRY-ENC-002] [CRY-ENC-006]
    fn encryption(t: &TestCase) -> R {
        let key = key32(&field_hex(t, "key")?)?;
        let ct = field_hex(t, "ciphertext")?;
        let decrypted = s1::decrypt_with_key(&key, &ct).map_err(|e| e.to_string());
        if t.result != Verdict::Valid {
            return verdict(t.result, decrypted.map(|_| ()));
        }
        let pt = field_hex(t, "plaintext")?;
        eq("plaintext", &decrypted?, &pt)?;
        // [CRY-ENC-007] what is encrypted for import: PKCS#8 DER, or a raw key of at most 128.
        match t.fields.get("plaintextFormat").and_then(Value::as_str) {
            Some("pkcs8") => {
                PrivateKey::from_pkcs8_der(&pt).map_err(|e| e.to_string())?;
            }
            Some("symmetricKey") if pt.is_empty() || pt.len() > 128 => {
                return Err("a symmetric key is 1-128 bytes".into());
            }
            _ => {}
        }
        let iv: [u8; 16] = <[u8; 16]>::try_from(field_hex(t, "iv")?.as_slice())
            .map_err(|_| "iv is 16 bytes".to_owned())?;
        eq("ciphertext", &s1::encrypt_with_key(&key, &iv, &pt), &ct)
    }

    // [CRY-ENC-001]
    fn encryption_key(t: &TestCase) -> R {
        judged(t, || {
            let mut sc = SessionCrypto::new(key32(&field_hex(t, "sessionKey")?)?, 1);
            let k = e(sc.encryption_key())?;
            eq(
                "encryption key",
                k.as_ref(),
                &field_hex(t, "encryptionKey")?,
            )
        })
    }

    // [CRY-TKR-001] [CRY-TKR-002] [CRY-TKR-003] [CRY-TKR-004]
    fn target_key_reference(t: &TestCase) -> R {
        judged(t, || {
            let mut sc = SessionCrypto::new(key32(&field_hex(t, "sessionKey")?)?, 1);
            let tkr = e(sc.target_key_reference(
                &field_hex(t, "deviceId")?,
                &field_hex(t, "eeCertificate")?,
            ))?;
            if t.result == Verdict::Valid {
                eq(
                    "target-key reference",
                    &tkr,
                    &field_hex(t, "targetKeyReference")?,
                )?;
            }
            let kmk = public_key(field(t, "keyManagementKey")?)?;
            e(s1::verify_kmk_authorization(
                &kmk,
                &s1::target_key_reference_signed_data(&tkr),
                &field_hex(t, "authorization")?,
            ))
        })
    }

    // [CRY-ROL-001] [CRY-ROL-003]
    fn roll_over(t: &TestCase) -> R {
        judged(t, || {
            let old = public_key(field(t, "oldKeyManagementKey")?)?;
            let new = public_key(field(t, "newKeyManagementKey")?)?;
            let data = e(s1::roll_over_signed_data(&new))?;
            if t.result == Verdict::Valid {
                eq("signed data", &data, &field_hex(t, "signedData")?)?;
            }
            e(s1::verify_kmk_authorization(
                &old,
                &data,
                &field_hex(t, "authorization")?,
            ))
        })
    }

    // [CRY-PBG-001] [CRY-PBG-003]
    fn property_bag(t: &TestCase) -> R {
        let blob = field_hex(t, "blob")?;
        let parsed = s1::parse_property_bag(&blob).map_err(|e| e.to_string());
        if t.result != Verdict::Valid {
            return verdict(t.result, parsed.map(|_| ()));
        }
        let expected = props(field(t, "properties")?)?;
        if parsed? != expected {
            return Err("parsed properties differ".into());
        }
        eq("blob", &e(s1::encode_property_bag(&expected))?, &blob)
    }

    // [CRY-DID-001] [CRY-DID-002] [CRY-DID-003] [CRY-DID-005]
    fn device_id(t: &TestCase) -> R {
        judged(t, || {
            let cert = field_hex(t, "certificate")?;
            for (k, long) in [("longId", true), ("shortId", false)] {
                let got = s1::device_id_string(&cert, long);
                let want = field_str(t, k)?;
                if got != want {
                    return Err(format!("{k} {got} expected {want}"));
                }
                e(s1::validate_device_id(&got))?;
            }
            Ok(())
        })
    }

    // [CRY-DID-007]
    fn device_id_validation(t: &TestCase) -> R {
        verdict(
            t.result,
            e(s1::validate_device_id(field_str(t, "deviceId")?)),
        )
    }

    // [CRY-LUP-001] [KG2-CDQ-001]
    fn lookup_nonce(t: &TestCase) -> R {
        judged(t, || {
            let n = e(s1::lookup_nonce(
                field_str(t, "clientSessionId")?,
                field_str(t, "serverSessionId")?,
            ))?;
            eq("nonce", &n, &field_hex(t, "nonce")?)
        })
    }

    // [CRY-LUP-002] [KG2-CDQ-002]
    fn lookup_signature(t: &TestCase) -> R {
        judged(t, || {
            let (s, c) = (
                field_str(t, "serverSessionId")?,
                field_str(t, "clientSessionId")?,
            );
            let msg = json!({
                "@context": airtight_proto::messages::CONTEXT,
                "@qualifier": "CredentialDiscoveryRequest",
                "serverSessionId": s,
                "clientSessionId": c,
                "lookupSpecifiers": [field(t, "lookup")?],
            });
            let Message::CredentialDiscoveryRequest(m) = e(Message::from_value(&msg))? else {
                return Err("not a CredentialDiscoveryRequest".into());
            };
            let l = m.lookup_specifiers.first().ok_or("no lookup")?;
            let data = l.signed_data();
            if t.result == Verdict::Valid {
                eq("signed data", &data, &field_hex(t, "signedData")?)?;
            }
            eq("nonce", &l.nonce, &e(s1::lookup_nonce(c, s))?)?;
            let kmk = e(PublicKey::from_jwk(&l.signature.public_key))?;
            e(s1::verify_kmk_authorization(
                &kmk,
                &data,
                &l.signature.value,
            ))
        })
    }

    // [CRY-SPK-001] .. [CRY-SPK-005]
    fn spki(t: &TestCase) -> R {
        judged(t, || {
            let der = field_hex(t, "spki")?;
            let k = e(PublicKey::from_spki_der(&der))?;
            let kind = match k.key_type() {
                airtight_proto::keys::KeyType::Ec(c) => c.jose_name().to_owned(),
                airtight_proto::keys::KeyType::Rsa { bits } => format!("RSA-{bits}"),
                airtight_proto::keys::KeyType::Ed25519 => "Ed25519".to_owned(),
            };
            if kind != field_str(t, "keyType")? {
                return Err(format!("key type {kind}"));
            }
            eq("re-encoded SPKI", &e(k.to_spki_der())?, &der)?;
            if let Some(j) = t.fields.get("jwk")
                && k.to_jwk().to_json() != *j
            {
                return Err("JWK form differs".into());
            }
            Ok(())
        })
    }

    // [KG2-ENC-006] [KG2-ENC-007]
    fn jwk(t: &TestCase) -> R {
        judged(t, || {
            let v = field(t, "jwk")?;
            let k = public_key(v)?;
            eq("SPKI", &e(k.to_spki_der())?, &field_hex(t, "spki")?)?;
            if k.to_jwk().to_json() != *v {
                return Err("JWK does not round-trip".into());
            }
            Ok(())
        })
    }

    fn curve(t: &TestCase) -> Result<Curve, String> {
        e(Curve::from_name(field_str(t, "curve")?))
    }

    // [CRY-ATT-007] [CRY-TKR-003]
    fn ecdsa(t: &TestCase) -> R {
        let c = curve(t)?;
        let raw = field_hex(t, "raw")?;
        let der = field_hex(t, "der")?;
        if t.result == Verdict::Valid {
            eq("DER", &e(ecdsa_raw_to_der(c, &raw))?, &der)?;
            return eq("raw", &e(ecdsa_der_to_raw(c, &der))?, &raw);
        }
        // Invalid: every side that is given (non-empty) must be rejected.
        let mut given = Vec::new();
        if !raw.is_empty() {
            given.push(ecdsa_raw_to_der(c, &raw).is_ok());
        }
        if !der.is_empty() {
            given.push(ecdsa_der_to_raw(c, &der).is_ok());
        }
        if given.is_empty() {
            return Err("an invalid ECDSA vector gives raw or der".into());
        }
        let outcome = if given.iter().any(|ok| *ok) {
            Ok(())
        } else {
            Err("rejected".to_owned())
        };
        verdict(t.result, outcome)
    }

    fn operation(name: &str) -> Result<Operation, String> {
        Ok(match name {
            "createProvisioningSession" => Operation::CreateProvisioningSession,
            "createPukPolicy" => Operation::CreatePukPolicy,
            "createPinPolicy" => Operation::CreatePinPolicy,
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
            other => return Err(format!("unknown operation {other:?}")),
        })
    }

    fn operations(t: &TestCase) -> Result<Vec<Operation>, String> {
        field(t, "operations")?
            .as_array()
            .ok_or("operations")?
            .iter()
            .map(|o| operation(o.as_str().unwrap_or_default()))
            .collect()
    }

    /// Drives a [`SessionCrypto`] through the operations, each derivation as the card makes it;
    /// returns the session-key uses and the final MAC counter.
    fn simulate(ops: &[Operation], limit: u16) -> Result<(u32, u32), String> {
        let mut sc = SessionCrypto::new([7; 32], limit);
        let mut n = 0u32;
        for op in ops {
            let before = sc.remaining_limit();
            let m = |sc: &mut SessionCrypto, m: Method| sc.mac(m, b"").map(|_| ());
            let dec = |sc: &mut SessionCrypto| sc.encryption_key().map(|_| ());
            let r = match op {
                Operation::CreateProvisioningSession => Ok(()),
                Operation::CreatePukPolicy => {
                    m(&mut sc, Method::CreatePukPolicy).and_then(|()| dec(&mut sc))
                }
                Operation::CreatePinPolicy => m(&mut sc, Method::CreatePinPolicy),
                Operation::CreateKeyEntry { preset_pin } => m(&mut sc, Method::CreateKeyEntry)
                    .and_then(|()| if *preset_pin { dec(&mut sc) } else { Ok(()) })
                    .and_then(|()| sc.attest(b"").map(|_| ())),
                Operation::SetCertificatePath => m(&mut sc, Method::SetCertificatePath),
                Operation::ImportSymmetricKey => {
                    m(&mut sc, Method::ImportSymmetricKey).and_then(|()| dec(&mut sc))
                }
                Operation::ImportPrivateKey => {
                    m(&mut sc, Method::ImportPrivateKey).and_then(|()| dec(&mut sc))
                }
                Operation::AddExtension { encrypted } => m(&mut sc, Method::AddExtension)
                    .and_then(|()| if *encrypted { dec(&mut sc) } else { Ok(()) }),
                Operation::PostDeleteKey
                | Operation::PostUnlockKey
                | Operation::PostUpdateKey
                | Operation::PostCloneKeyProtection => {
                    let method = match op {
                        Operation::PostDeleteKey => Method::PostDeleteKey,
                        Operation::PostUnlockKey => Method::PostUnlockKey,
                        Operation::PostUpdateKey => Method::PostUpdateKey,
                        _ => Method::PostCloneKeyProtection,
                    };
                    sc.target_key_reference(b"Anonymous", b"")
                        .map(|_| ())
                        .and_then(|()| m(&mut sc, method))
                }
                Operation::CloseProvisioningSession => m(&mut sc, Method::CloseProvisioningSession)
                    .and_then(|()| sc.attest(b"").map(|_| ())),
            };
            r.map_err(|e| e.to_string())?;
            n += u32::from(before - sc.remaining_limit());
        }
        Ok((n, sc.next_counter()))
    }

    // [CRY-LIM-001] [CRY-LIM-002] [CRY-LIM-003]
    fn session_key_limit(t: &TestCase) -> R {
        let ops = operations(t)?;
        let uses = uint(t, "uses")?;
        let table = u64::from(s1::session_key_uses(&ops));
        if table != uses {
            return Err(format!(
                "the cost table gives {table} uses, expected {uses}"
            ));
        }
        let limit = u16::try_from(uint(t, "sessionKeyLimit")?).map_err(|e| e.to_string())?;
        let run = simulate(&ops, limit).and_then(|(n, _)| {
            if u64::from(n) == uses {
                Ok(())
            } else {
                Err(format!("the session spent {n} uses, expected {uses}"))
            }
        });
        verdict(t.result, run)
    }

    // [CRY-CTR-001] [CRY-CTR-002] [CRY-CTR-003] [CRY-CTR-004] [CRY-CTR-005]
    fn mac_counter(t: &TestCase) -> R {
        judged(t, || {
            let ops = operations(t)?;
            let plan = e(s1::counter_plan(&ops))?;
            let got: Vec<Value> = plan
                .iter()
                .map(|(c, u)| {
                    let what = match u {
                        s1::CounterUse::Mac(m) => m.mac_name(),
                        s1::CounterUse::Attestation => s1::KDF_DEVICE_ATTESTATION,
                    };
                    json!([c, what])
                })
                .collect();
            let expected = field(t, "sequence")?.as_array().ok_or("sequence")?;
            if got != *expected {
                return Err(format!("counter plan {got:?}"));
            }
            let fin = uint(t, "finalCounter")?;
            if plan.len() as u64 != fin {
                return Err(format!("final counter {} expected {fin}", plan.len()));
            }
            // A live session's counter ends at the same value.
            let (_, counter) = simulate(&ops, u16::MAX)?;
            if u64::from(counter) != fin {
                return Err(format!("a live session ends at counter {counter}"));
            }
            Ok(())
        })
    }

    // [KG2-ENC-002] [KG2-ENC-004]
    fn message_decode(t: &TestCase) -> R {
        let decoded = match (t.fields.get("message"), t.fields.get("messageText")) {
            (Some(v), _) => Message::from_value(v),
            (None, Some(Value::String(text))) => Message::decode(text.as_bytes()),
            _ => return Err("message or messageText needed".into()),
        };
        let qualifier = field_str(t, "qualifier")?;
        match (t.result, decoded) {
            (Verdict::Valid, Ok(m)) => {
                if m.qualifier() != qualifier {
                    return Err(format!("decoded as {}", m.qualifier()));
                }
                if let Some(v) = t.fields.get("message")
                    && m.encode() != *v
                {
                    return Err("re-encoding differs".into());
                }
                Ok(())
            }
            (Verdict::Valid, Err(e)) => Err(format!("rejected a valid message: {e}")),
            (Verdict::Invalid, Ok(_)) => Err("accepted an invalid message".into()),
            (Verdict::Invalid, Err(e)) => {
                let (kind, path) = (field_str(t, "errorKind")?, field_str(t, "errorPath")?);
                if e.kind().to_string() != kind || e.path() != path {
                    return Err(format!(
                        "error {} at {:?}, expected {kind} at {path:?}",
                        e.kind(),
                        e.path()
                    ));
                }
                Ok(())
            }
            (Verdict::Acceptable, _) => Ok(()),
        }
    }
}
