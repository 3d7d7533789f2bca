//! Reads the recorded Java sessions (`vectors/interop/recorded/`) and extracts their known
//! answers as vector fields. Every expected value here comes from the recording (a message or
//! `secrets.json`), never from our implementation; our code is used only to *parse* the
//! recorded messages (to find which field feeds which input).

use std::path::{Path, PathBuf};

use airtight_proto::codec::b64url;
use airtight_proto::jwk::Jwk;
use airtight_proto::keys::PublicKey;
use airtight_proto::messages::{
    CredentialPostOperation, KeyCreationRequest, KeyGen2Message, ProvisioningFinalizationRequest,
};
use serde_json::{Map, Value, json};

use crate::hex;

/// One recorded session.
#[derive(Debug)]
pub struct Session {
    /// `scenario` or `scenario-part` (e.g. `update-key-2-update`).
    pub name: String,
    /// Folder, relative to `vectors/interop/recorded/`.
    pub rel: String,
    /// `(qualifier, message)` in session order.
    pub messages: Vec<(String, Value)>,
    /// `secrets.json`.
    pub secrets: Value,
}

fn recorded_dir() -> PathBuf {
    crate::vectors_dir().join("interop").join("recorded")
}

fn session_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.join("secrets.json").exists() {
                out.push(p);
            } else {
                session_dirs(&p, out);
            }
        }
    }
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every recorded session, sorted by folder.
pub fn sessions() -> Vec<Session> {
    let root = recorded_dir();
    let mut dirs = Vec::new();
    session_dirs(&root, &mut dirs);
    dirs.into_iter()
        .map(|d| {
            let rel = d
                .strip_prefix(&root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
                .map(|r| r.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.sort();
            let messages = files
                .iter()
                .filter_map(|f| {
                    let n = f.file_name()?.to_str()?.to_owned();
                    if n == "secrets.json" || !n.ends_with(".json") {
                        return None;
                    }
                    let q = n[3..n.len() - 5].to_owned();
                    Some((q, read_json(f)))
                })
                .collect();
            Session {
                name: rel.replace('/', "-"),
                rel,
                messages,
                secrets: read_json(&d.join("secrets.json")),
            }
        })
        .collect()
}

/// Base64URL text to bytes (the recordings are strict Base64URL).
pub fn b64(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("{v} is not a string"));
    b64url::decode(s).unwrap_or_else(|_| panic!("{s} is not Base64URL"))
}

/// Base64URL text to hex.
pub fn b64hex(v: &Value) -> String {
    hex(&b64(v))
}

/// A counter that the recorder wrote as a number or as a string.
pub fn counter(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(u64::MAX),
        Value::String(s) => s.parse().unwrap_or(u64::MAX),
        _ => u64::MAX,
    }
}

/// The JWK without `d`.
pub fn public_jwk(v: &Value) -> Value {
    let mut m = v.as_object().cloned().unwrap_or_default();
    m.remove("d");
    Value::Object(m)
}

/// SPKI DER of a recorded JWK (parsing only).
pub fn jwk_spki(v: &Value) -> Vec<u8> {
    let jwk = Jwk::from_json(&public_jwk(v), "").expect("recorded JWK");
    PublicKey::from_jwk(&jwk)
        .and_then(|k| k.to_spki_der())
        .expect("recorded key")
}

impl Session {
    /// The message with this qualifier.
    pub fn msg(&self, qualifier: &str) -> Option<&Value> {
        self.messages
            .iter()
            .find(|(q, _)| q == qualifier)
            .map(|(_, m)| m)
    }

    fn msg_req(&self, qualifier: &str) -> &Value {
        self.msg(qualifier)
            .unwrap_or_else(|| panic!("{}: no {qualifier}", self.name))
    }

    /// A secrets field.
    pub fn secret(&self, k: &str) -> &Value {
        &self.secrets[k]
    }

    /// The server-side crypto trace.
    pub fn trace(&self) -> Vec<&Value> {
        self.secrets["serverCryptoTrace"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    /// The session ids.
    pub fn ids(&self) -> (String, String) {
        let r = self.msg_req("ProvisioningInitializationResponse");
        (
            r["clientSessionId"].as_str().unwrap_or_default().to_owned(),
            r["serverSessionId"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// The session key (hex).
    pub fn session_key(&self) -> String {
        b64hex(self.secret("sessionKey"))
    }

    /// `SessionKeyTest` fields.
    pub fn session_key_case(&self) -> Value {
        let (c, s) = self.ids();
        let resp = self.msg_req("ProvisioningInitializationResponse");
        json!({
            "clientSessionId": c,
            "serverSessionId": s,
            "issuerUri": self.secret("issuerUri"),
            "deviceId": b64hex(self.secret("deviceId")),
            "serverEphemeralPrivateKey": self.secret("serverEphemeralPrivateKey"),
            "clientEphemeralKey": resp["clientEphemeralKey"],
            "z": b64hex(self.secret("ecdhSharedSecretZ")),
            "kdfInput": b64hex(self.secret("sessionKeyKdfInput")),
            "sessionKey": self.session_key(),
        })
    }

    /// `SessionAttestationTest` fields.
    pub fn session_attestation_case(&self) -> Value {
        let (c, s) = self.ids();
        let req = self.msg_req("ProvisioningInitializationRequest");
        let resp = self.msg_req("ProvisioningInitializationResponse");
        let privacy = self.secret("privacyEnabled").as_bool().unwrap_or(false);
        let mut m = Map::new();
        m.insert("clientSessionId".into(), c.into());
        m.insert("serverSessionId".into(), s.into());
        m.insert("issuerUri".into(), self.secret("issuerUri").clone());
        m.insert("privacyEnabled".into(), privacy.into());
        if let Some(p) = resp["deviceId"]["certificatePath"].as_array() {
            m.insert("deviceCertificate".into(), b64hex(&p[0]).into());
        }
        m.insert(
            "sessionKeyAlgorithm".into(),
            req["sessionKeyAlgorithm"].clone(),
        );
        m.insert(
            "serverEphemeralKey".into(),
            req["serverEphemeralKey"].clone(),
        );
        m.insert(
            "clientEphemeralKey".into(),
            resp["clientEphemeralKey"].clone(),
        );
        if !req["keyManagementKey"].is_null() {
            m.insert("keyManagementKey".into(), req["keyManagementKey"].clone());
        }
        m.insert(
            "clientTime".into(),
            self.secret("clientTimeUnixSeconds").clone(),
        );
        m.insert("sessionLifeTime".into(), req["sessionLifeTime"].clone());
        m.insert("sessionKeyLimit".into(), req["sessionKeyLimit"].clone());
        m.insert(
            "serverCertificate".into(),
            b64hex(self.secret("serverCertificate")).into(),
        );
        m.insert("sessionKey".into(), self.session_key().into());
        m.insert(
            "attestationInput".into(),
            b64hex(self.secret("sessionAttestationInput")).into(),
        );
        m.insert("attestation".into(), b64hex(&resp["attestation"]).into());
        Value::Object(m)
    }

    /// `EncryptionKeyTest` fields.
    pub fn encryption_key_case(&self) -> Value {
        json!({
            "sessionKey": self.session_key(),
            "encryptionKey": b64hex(self.secret("encryptionKey")),
        })
    }

    /// `MethodMacTest` fields of every issuer MAC, in call order.
    pub fn mac_cases(&self) -> Vec<Value> {
        self.trace()
            .into_iter()
            .filter(|e| e["op"] == "hmac" && e["purpose"] == "mac")
            .map(|e| {
                json!({
                    "sessionKey": self.session_key(),
                    "method": e["keyModifierText"],
                    "counter": counter(&e["macCounter"]),
                    "data": b64hex(&e["data"]),
                    "mac": b64hex(&e["result"]),
                })
            })
            .collect()
    }

    /// `EncryptionTest` fields of every issuer encryption.
    pub fn encryption_cases(&self) -> Vec<Value> {
        self.trace()
            .into_iter()
            .filter(|e| e["op"] == "encrypt")
            .map(|e| {
                let mut v = json!({
                    "key": b64hex(self.secret("encryptionKey")),
                    "iv": b64hex(&e["iv"]),
                    "plaintext": b64hex(&e["plaintext"]),
                    "ciphertext": b64hex(&e["result"]),
                });
                let pts = &self.secrets["plaintexts"];
                if pts["importedPrivateKeyPkcs8"] == e["plaintext"] {
                    v["plaintextFormat"] = "pkcs8".into();
                } else if pts["symmetricKey"] == e["plaintext"] {
                    v["plaintextFormat"] = "symmetricKey".into();
                }
                v
            })
            .collect()
    }

    /// `(counter, attestation trace entry)` of every expected attestation, in counter order.
    fn attestations(&self) -> Vec<(u64, &Value)> {
        let mut v: Vec<(u64, &Value)> = self
            .trace()
            .into_iter()
            .filter(|e| e["purpose"] == "expectedAttestation")
            .map(|e| (counter(&e["macCounter"]), e))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }

    /// `KeyAttestationTest` fields: one per generated key. The expected attestation is the one
    /// the Java SKS sent (message `KeyCreationResponse`), and it must also equal the issuer's
    /// expectation in the trace.
    pub fn key_attestation_cases(&self) -> Vec<Value> {
        let (Some(req), Some(resp)) = (
            self.msg("KeyCreationRequest"),
            self.msg("KeyCreationResponse"),
        ) else {
            return Vec::new();
        };
        let req = KeyCreationRequest::from_value(req).expect("recorded KeyCreationRequest");
        let keys = req.keys();
        let atts = self.attestations();
        let gens = resp["generatedKeys"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        gens.iter()
            .enumerate()
            .map(|(i, g)| {
                let (ctr, trace) = atts[i];
                let spec = keys
                    .iter()
                    .find(|k| Some(k.id.as_str()) == g["id"].as_str())
                    .expect("generated key id");
                assert_eq!(b64(&trace["result"]), b64(&g["attestation"]));
                json!({
                    "sessionKey": self.session_key(),
                    "counter": ctr,
                    "publicKey": g["publicKey"],
                    "createKeyEntryMac": hex(&spec.mac),
                    "attestation": b64hex(&g["attestation"]),
                })
            })
            .collect()
    }

    /// `CloseAttestationTest` fields.
    pub fn close_attestation_case(&self) -> Value {
        let last = self
            .messages
            .last()
            .map(|(_, m)| m)
            .expect("finalization response");
        let (ctr, trace) = *self.attestations().last().expect("close attestation");
        assert_eq!(b64(&trace["result"]), b64(&last["attestation"]));
        json!({
            "sessionKey": self.session_key(),
            "counter": ctr,
            "nonce": b64hex(self.secret("closeNonce")),
            "attestation": b64hex(&last["attestation"]),
        })
    }

    /// `TargetKeyReferenceTest` fields of every post-operation.
    pub fn target_key_reference_cases(&self) -> Vec<Value> {
        let trace = self.trace();
        let mut out = Vec::new();
        for (i, e) in trace.iter().enumerate() {
            if e["purpose"] != "targetKeyReference" {
                continue;
            }
            let tkr = b64(&e["result"]);
            let mut expected = b"TargetKeyReference".to_vec();
            expected.extend_from_slice(&tkr);
            let sign = trace[i + 1..]
                .iter()
                .find(|s| s["op"] == "kmkSign" && b64(&s["data"]) == expected)
                .expect("kmkSign of the target-key reference");
            out.push(json!({
                "sessionKey": self.session_key(),
                "deviceId": b64hex(&e["keyModifier"]),
                "eeCertificate": b64hex(&e["data"]),
                "targetKeyReference": hex(&tkr),
                "keyManagementKey": sign["keyManagementKey"],
                "authorization": b64hex(&sign["result"]),
            }));
        }
        out
    }

    /// `RollOverAuthorizationTest` fields.
    pub fn roll_over_cases(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let Some(req) = self.msg("ProvisioningInitializationRequest") else {
            return out;
        };
        fn walk(parent: &Value, list: &Value, out: &mut Vec<Value>) {
            for u in list.as_array().into_iter().flatten() {
                let mut data = b"RollOverAuthorization".to_vec();
                data.extend_from_slice(&jwk_spki(parent));
                out.push(json!({
                    "oldKeyManagementKey": u["publicKey"],
                    "newKeyManagementKey": parent,
                    "signedData": hex(&data),
                    "authorization": b64hex(&u["authorization"]),
                }));
                walk(&u["publicKey"], &u["updatableKeyManagementKeys"], out);
            }
        }
        walk(
            &req["keyManagementKey"],
            &req["updatableKeyManagementKeys"],
            &mut out,
        );
        // The signed data must be what the issuer's trace shows.
        for c in &out {
            let data = c["signedData"].as_str().unwrap_or_default().to_owned();
            assert!(
                self.trace()
                    .iter()
                    .any(|e| e["op"] == "kmkSign" && b64hex(&e["data"]) == data),
                "{}: roll-over data not in trace",
                self.name
            );
        }
        out
    }

    /// `LookupNonceTest` and `LookupSignatureTest` fields.
    pub fn lookup_cases(&self) -> (Vec<Value>, Vec<Value>) {
        let Some(req) = self.msg("CredentialDiscoveryRequest") else {
            return (Vec::new(), Vec::new());
        };
        let (c, s) = self.ids();
        let signs: Vec<&Value> = self
            .trace()
            .into_iter()
            .filter(|e| e["op"] == "kmkSign")
            .collect();
        let mut nonces = Vec::new();
        let mut sigs = Vec::new();
        for (i, l) in req["lookupSpecifiers"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if i == 0 {
                nonces.push(json!({
                    "clientSessionId": c,
                    "serverSessionId": s,
                    "nonce": b64hex(&l["nonce"]),
                }));
            }
            let value = b64(&l["signature"]["value"]);
            let sign = signs
                .iter()
                .find(|e| b64(&e["result"]) == value)
                .expect("lookup kmkSign");
            sigs.push(json!({
                "serverSessionId": s,
                "clientSessionId": c,
                "lookup": l,
                "signedData": b64hex(&sign["data"]),
            }));
        }
        (nonces, sigs)
    }

    /// `MacDataTest` fields: the structured inputs of every issuer MAC, read from the messages,
    /// with the exact `data` the Java issuer MACed (from the trace).
    pub fn mac_data_cases(&self) -> Vec<Value> {
        let mut inputs: Vec<(String, Value)> = Vec::new();
        let (cid, sid) = self.ids();
        let mut spki_by_id: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(resp) = self.msg("KeyCreationResponse") {
            for g in resp["generatedKeys"].as_array().into_iter().flatten() {
                spki_by_id.push((
                    g["id"].as_str().unwrap_or_default().to_owned(),
                    jwk_spki(&g["publicKey"]),
                ));
            }
        }
        if let Some(req) = self.msg("KeyCreationRequest") {
            let req = KeyCreationRequest::from_value(req).expect("recorded KeyCreationRequest");
            let key_input = |k: &airtight_proto::messages::KeyEntrySpecifier, pin: Option<&str>| {
                let mut m = Map::new();
                m.insert("id".into(), k.id.clone().into());
                m.insert(
                    "keyEntryAlgorithm".into(),
                    req.key_entry_algorithm.clone().into(),
                );
                if let Some(x) = &k.server_seed {
                    m.insert("serverSeed".into(), hex(x).into());
                }
                if let Some(p) = pin {
                    m.insert("pinPolicyId".into(), p.into());
                }
                if let Some(x) = &k.encrypted_pin {
                    m.insert("encryptedPin".into(), hex(x).into());
                }
                m.insert(
                    "devicePinProtection".into(),
                    k.device_pin_protection().into(),
                );
                m.insert("enablePinCaching".into(), k.enable_pin_caching().into());
                m.insert(
                    "biometricProtection".into(),
                    k.biometric_protection().as_str().into(),
                );
                m.insert(
                    "exportProtection".into(),
                    k.export_protection().as_str().into(),
                );
                m.insert(
                    "deleteProtection".into(),
                    k.delete_protection().as_str().into(),
                );
                m.insert("appUsage".into(), k.app_usage.as_str().into());
                if let Some(x) = &k.friendly_name {
                    m.insert("friendlyName".into(), x.clone().into());
                }
                m.insert("keyAlgorithm".into(), k.key_algorithm.clone().into());
                if let Some(x) = &k.key_parameters {
                    m.insert("keyParameters".into(), hex(x).into());
                }
                m.insert(
                    "endorsedAlgorithms".into(),
                    k.endorsed_algorithms.clone().into(),
                );
                ("createKeyEntry".to_owned(), Value::Object(m))
            };
            let pin_input = |p: &airtight_proto::messages::PinPolicySpecifier,
                             puk: Option<&str>| {
                let mut m = Map::new();
                m.insert("id".into(), p.id.clone().into());
                if let Some(x) = puk {
                    m.insert("pukPolicyId".into(), x.into());
                }
                m.insert("userDefined".into(), (!p.preset()).into());
                m.insert("userModifiable".into(), p.user_modifiable().into());
                m.insert("format".into(), p.format.as_str().into());
                m.insert("retryLimit".into(), p.retry_limit.into());
                m.insert("grouping".into(), p.grouping().as_str().into());
                m.insert(
                    "patternRestrictions".into(),
                    p.pattern_restrictions
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .into(),
                );
                m.insert("minLength".into(), p.min_length.into());
                m.insert("maxLength".into(), p.max_length.into());
                m.insert("inputMethod".into(), p.input_method().as_str().into());
                ("createPINPolicy".to_owned(), Value::Object(m))
            };
            for puk in &req.puk_policy_specifiers {
                inputs.push((
                    "createPUKPolicy".into(),
                    json!({
                        "id": puk.id,
                        "encryptedPuk": hex(&puk.encrypted_puk),
                        "format": puk.format.as_str(),
                        "retryLimit": puk.retry_limit,
                    }),
                ));
                for pin in &puk.pin_policy_specifiers {
                    inputs.push(pin_input(pin, Some(&puk.id)));
                    for k in &pin.key_entry_specifiers {
                        inputs.push(key_input(k, Some(&pin.id)));
                    }
                }
            }
            for pin in &req.pin_policy_specifiers {
                inputs.push(pin_input(pin, None));
                for k in &pin.key_entry_specifiers {
                    inputs.push(key_input(k, Some(&pin.id)));
                }
            }
            for k in &req.key_entry_specifiers {
                inputs.push(key_input(k, None));
            }
        }
        if let Some(fin) = self.msg("ProvisioningFinalizationRequest") {
            let fin = ProvisioningFinalizationRequest::from_value(fin)
                .expect("recorded ProvisioningFinalizationRequest");
            for c in &fin.issued_credentials {
                let spki = spki_by_id
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .map(|(_, s)| s.clone())
                    .expect("issued credential of a generated key");
                let ee = hex(&c.certificate_path[0]);
                inputs.push((
                    "setCertificatePath".into(),
                    json!({
                        "publicKey": hex(&spki),
                        "id": c.id,
                        "certificatePath": c.certificate_path.iter().map(|x| hex(x)).collect::<Vec<_>>(),
                    }),
                ));
                if let Some(k) = &c.import_symmetric_key {
                    inputs.push((
                        "importSymmetricKey".into(),
                        json!({"eeCertificate": ee, "encryptedKey": hex(&k.encrypted_key)}),
                    ));
                }
                if let Some(k) = &c.import_private_key {
                    inputs.push((
                        "importPrivateKey".into(),
                        json!({"eeCertificate": ee, "encryptedKey": hex(&k.encrypted_key)}),
                    ));
                }
                for (list, sub) in [(&c.extensions, 0), (&c.encrypted_extensions, 1)] {
                    for e in list {
                        inputs.push((
                            "addExtension".into(),
                            json!({"eeCertificate": ee, "type": e.extension_type, "subType": sub,
                                   "qualifier": "", "extensionData": hex(&e.extension_data)}),
                        ));
                    }
                }
                for b in &c.property_bags {
                    let props: Vec<Value> = b
                        .properties
                        .iter()
                        .map(|p| json!({"name": p.name, "writable": p.writable.unwrap_or(false), "value": p.value}))
                        .collect();
                    inputs.push((
                        "addExtension".into(),
                        json!({"eeCertificate": ee, "type": b.bag_type, "subType": 2,
                               "qualifier": "", "properties": props}),
                    ));
                }
                for l in &c.logotypes {
                    inputs.push((
                        "addExtension".into(),
                        json!({"eeCertificate": ee, "type": l.logotype_type, "subType": 3,
                               "qualifier": l.mime_type, "extensionData": hex(&l.extension_data)}),
                    ));
                }
                match &c.post_operation {
                    Some(CredentialPostOperation::UpdateKey(p)) => inputs.push((
                        "postUpdateKey".into(),
                        json!({"eeCertificate": ee, "authorization": hex(&p.authorization)}),
                    )),
                    Some(CredentialPostOperation::CloneKeyProtection(p)) => inputs.push((
                        "postCloneKeyProtection".into(),
                        json!({"eeCertificate": ee, "authorization": hex(&p.authorization)}),
                    )),
                    None => {}
                }
            }
            for p in &fin.unlock_keys {
                inputs.push((
                    "postUnlockKey".into(),
                    json!({"authorization": hex(&p.authorization)}),
                ));
            }
            for p in &fin.delete_keys {
                inputs.push((
                    "postDeleteKey".into(),
                    json!({"authorization": hex(&p.authorization)}),
                ));
            }
            inputs.push((
                "closeProvisioningSession".into(),
                json!({"clientSessionId": cid, "serverSessionId": sid,
                       "issuerUri": self.secret("issuerUri"),
                       "nonce": hex(&fin.session_close_data.nonce)}),
            ));
        }
        let macs: Vec<&Value> = self
            .trace()
            .into_iter()
            .filter(|e| e["op"] == "hmac" && e["purpose"] == "mac")
            .collect();
        assert_eq!(macs.len(), inputs.len(), "{}: MAC count", self.name);
        inputs
            .into_iter()
            .zip(macs)
            .map(|((method, input), e)| {
                assert_eq!(e["keyModifierText"], method.as_str(), "{}", self.name);
                json!({"method": method, "input": input, "data": b64hex(&e["data"])})
            })
            .collect()
    }

    /// The card operations of the session, in execution order (for counter and limit checks).
    pub fn operations(&self) -> Vec<&'static str> {
        let mut ops = vec!["createProvisioningSession"];
        if let Some(req) = self.msg("KeyCreationRequest") {
            let req = KeyCreationRequest::from_value(req).expect("recorded KeyCreationRequest");
            let key = |k: &airtight_proto::messages::KeyEntrySpecifier| {
                if k.encrypted_pin.is_some() {
                    "createKeyEntryPresetPin"
                } else {
                    "createKeyEntry"
                }
            };
            for puk in &req.puk_policy_specifiers {
                ops.push("createPukPolicy");
                for pin in &puk.pin_policy_specifiers {
                    ops.push("createPinPolicy");
                    ops.extend(pin.key_entry_specifiers.iter().map(key));
                }
            }
            for pin in &req.pin_policy_specifiers {
                ops.push("createPinPolicy");
                ops.extend(pin.key_entry_specifiers.iter().map(key));
            }
            ops.extend(req.key_entry_specifiers.iter().map(key));
        }
        if let Some(fin) = self.msg("ProvisioningFinalizationRequest") {
            let fin = ProvisioningFinalizationRequest::from_value(fin)
                .expect("recorded ProvisioningFinalizationRequest");
            for c in &fin.issued_credentials {
                ops.push("setCertificatePath");
                if c.import_symmetric_key.is_some() {
                    ops.push("importSymmetricKey");
                }
                if c.import_private_key.is_some() {
                    ops.push("importPrivateKey");
                }
                ops.extend(c.extensions.iter().map(|_| "addExtension"));
                ops.extend(
                    c.encrypted_extensions
                        .iter()
                        .map(|_| "addEncryptedExtension"),
                );
                ops.extend(c.property_bags.iter().map(|_| "addExtension"));
                ops.extend(c.logotypes.iter().map(|_| "addExtension"));
                match &c.post_operation {
                    Some(CredentialPostOperation::UpdateKey(_)) => ops.push("postUpdateKey"),
                    Some(CredentialPostOperation::CloneKeyProtection(_)) => {
                        ops.push("postCloneKeyProtection");
                    }
                    None => {}
                }
            }
            ops.extend(fin.unlock_keys.iter().map(|_| "postUnlockKey"));
            ops.extend(fin.delete_keys.iter().map(|_| "postDeleteKey"));
            ops.push("closeProvisioningSession");
        }
        ops
    }

    /// `MacCounterTest` fields: the operations and the counter sequence of the trace (every
    /// MAC and expected attestation, ordered by counter), and the SKS's own final counter.
    pub fn counter_case(&self) -> Value {
        let mut seq: Vec<(u64, String)> = self
            .trace()
            .into_iter()
            .filter(|e| e["op"] == "hmac" && e["purpose"] != "targetKeyReference")
            .map(|e| {
                let what = if e["purpose"] == "mac" {
                    e["keyModifierText"].as_str().unwrap_or_default().to_owned()
                } else {
                    "DeviceAttestation".to_owned()
                };
                (counter(&e["macCounter"]), what)
            })
            .collect();
        seq.sort();
        json!({
            "operations": self.operations(),
            "sequence": seq.iter().map(|(c, w)| json!([c, w])).collect::<Vec<_>>(),
            "finalCounter": self.secret("sksMacSequenceCounterAfterClose"),
        })
    }

    /// The generated key pairs with their private keys (PKCS#8 hex or EC JWK with `d`).
    pub fn generated_private_keys(&self) -> Vec<(String, Value)> {
        self.secret("sksGeneratedKeyPairs")
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                (
                    k["id"].as_str().unwrap_or_default().to_owned(),
                    k["privateKey"].clone(),
                )
            })
            .collect()
    }
}
