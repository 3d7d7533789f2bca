//! The serializable state of one issuance session (stored between HTTP requests, e.g. in
//! SQLite, so that a session survives an issuer restart).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::IssuerError;

/// Where a session stands: which middleware message it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Sent InvocationRequest.
    AwaitInvocationResponse,
    /// Sent ProvisioningInitializationRequest.
    AwaitInitializationResponse,
    /// Sent CredentialDiscoveryRequest.
    AwaitDiscoveryResponse,
    /// Sent KeyCreationRequest.
    AwaitKeyCreationResponse,
    /// Sent ProvisioningFinalizationRequest.
    AwaitFinalizationResponse,
    /// Close attestation verified.
    Done,
    /// An error ended the session.
    Failed,
}

impl Phase {
    /// The qualifier of the message this phase expects.
    pub fn expected(self) -> &'static str {
        match self {
            Phase::AwaitInvocationResponse => "InvocationResponse",
            Phase::AwaitInitializationResponse => "ProvisioningInitializationResponse",
            Phase::AwaitDiscoveryResponse => "CredentialDiscoveryResponse",
            Phase::AwaitKeyCreationResponse => "KeyCreationResponse",
            Phase::AwaitFinalizationResponse => "ProvisioningFinalizationResponse",
            Phase::Done => "nothing (done)",
            Phase::Failed => "nothing (failed)",
        }
    }
}

/// Secrets of the session, zeroized on drop.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    /// PKCS#8 of the server ephemeral key, until the session key is derived.
    #[serde(with = "b64")]
    pub ephemeral_pkcs8: Vec<u8>,
    /// The session key, once derived.
    #[serde(with = "b64")]
    pub session_key: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

/// A key the issuer asked for, with what it expects back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedKey {
    /// Key id.
    pub id: String,
    /// Key generation URI.
    pub key_algorithm: String,
    /// `keyParameters` (RSA exponent).
    #[serde(with = "b64_opt")]
    pub key_parameters: Option<Vec<u8>>,
    /// The `createKeyEntry` MAC (covered by the key attestation).
    #[serde(with = "b64")]
    pub create_mac: Vec<u8>,
    /// The counter value of the key attestation ([CRY-CTR-005]).
    pub attestation_counter: u16,
    /// appUsage name.
    pub app_usage: String,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// The generated public key (SPKI DER), once attested.
    #[serde(with = "b64_opt")]
    pub public_key_spki: Option<Vec<u8>>,
}

/// A credential found by discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovered {
    /// The lookup specifier id.
    pub lookup_id: String,
    /// Session ids of the session that created the key.
    pub server_session_id: String,
    /// Its clientSessionId.
    pub client_session_id: String,
    /// Its certificate path, end entity first.
    #[serde(with = "b64_list")]
    pub certificate_path: Vec<Vec<u8>>,
    /// PIN blocked.
    pub locked: bool,
    /// SPKI of the key-management key that signed the lookup (it authorizes post-operations).
    #[serde(with = "b64")]
    pub kmk_spki: Vec<u8>,
}

/// A certificate path delivered for a key of this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// Key id.
    pub id: String,
    /// Certificate path, end entity first.
    #[serde(with = "b64_list")]
    pub certificate_path: Vec<Vec<u8>>,
    /// True when a private key was imported (the certificate certifies that key).
    pub imported_private_key: bool,
    /// True when a symmetric key was imported.
    pub imported_symmetric_key: bool,
}

/// A post-operation on a key of an earlier session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostOp {
    /// `update`, `clone`, `unlock` or `delete`.
    pub kind: String,
    /// The new key (update/clone).
    pub new_key: Option<String>,
    /// SHA-256 of the target's end-entity certificate.
    #[serde(with = "b64")]
    pub target_finger_print: Vec<u8>,
}

/// Everything the engine remembers about one session. Serialize it with serde (e.g.
/// [`SessionState::to_json`]) between requests.
///
/// Byte strings are written as unpadded Base64URL text (about a third of the size and a
/// fraction of the encoding work of the JSON number arrays of earlier versions); both forms
/// are read, so a state stored by an earlier version still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// Phase.
    pub phase: Phase,
    /// Why the session failed.
    pub failure: Option<String>,
    /// `manage` or `unlock`.
    pub action: String,
    /// Requested privacy mode.
    pub privacy_enabled: bool,
    /// Unix seconds at start.
    pub started_at: i64,
    /// Device ID enrolled for this session, if any ([KG2-IMP-003]).
    pub expected_device_id: Option<String>,
    /// Caller's label (e.g. user name) that goes into certificate subjects.
    pub subject_label: String,
    /// Capability URIs queried.
    pub capability_query: Vec<String>,
    /// The answers received (type, JSON of the answer).
    pub capabilities: Vec<(String, String)>,
    /// `serverTime` exactly as sent.
    pub server_time: Option<String>,
    /// serverTime in unix seconds.
    pub server_time_unix: i64,
    /// `sessionKeyLimit`.
    pub session_key_limit: u16,
    /// `sessionLifeTime`.
    pub session_life_time: u16,
    /// Server ephemeral key SPKI.
    #[serde(with = "b64")]
    pub server_ephemeral_spki: Vec<u8>,
    /// Key-management key SPKI.
    #[serde(with = "b64_opt")]
    pub kmk_spki: Option<Vec<u8>>,
    /// `clientSessionId`.
    pub client_session_id: Option<String>,
    /// `clientTime` in unix seconds.
    pub client_time: Option<i64>,
    /// Device certificate path (E2ES).
    #[serde(with = "b64_list")]
    pub device_certificate_path: Vec<Vec<u8>>,
    /// Long device ID of the attested device (E2ES).
    pub device_id: Option<String>,
    /// Next MAC counter value.
    pub counter: u32,
    /// Session-key uses the card will have spent so far ([CRY-LIM-003]).
    pub key_uses: u32,
    /// Lookup specifier ids sent.
    pub lookup_ids: Vec<String>,
    /// SPKI of the key that signed each lookup.
    #[serde(with = "b64_list")]
    pub lookup_kmks: Vec<Vec<u8>>,
    /// Credentials discovered.
    pub discovered: Vec<Discovered>,
    /// Keys requested, in SKS execution order.
    pub keys: Vec<PlannedKey>,
    /// Certificates delivered.
    pub issued: Vec<IssuedCertificate>,
    /// Post-operations sent.
    pub post_ops: Vec<PostOp>,
    /// Counter of the expected close attestation.
    pub close_attestation_counter: Option<u16>,
    /// Close nonce.
    #[serde(with = "b64")]
    pub close_nonce: Vec<u8>,
    /// Secrets.
    pub secrets: Secrets,
}

impl SessionState {
    /// JSON form for storage.
    pub fn to_json(&self) -> Result<String, IssuerError> {
        serde_json::to_string(self).map_err(|e| IssuerError::State(e.to_string()))
    }

    /// From the JSON form.
    pub fn from_json(text: &str) -> Result<Self, IssuerError> {
        serde_json::from_str(text).map_err(|e| IssuerError::State(e.to_string()))
    }

    /// True once the close attestation verified.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// True once an error ended the session.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }
}

/// Byte strings in the stored state: written as unpadded Base64URL text, read from that text
/// or from the JSON array of numbers that earlier versions wrote (`[48,130,…]`).
mod b64 {
    use std::fmt;

    use airtight_proto::codec::b64url;
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use zeroize::Zeroizing;

    /// Writes `bytes` as text. The text is wiped once written (it may encode a secret).
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(b64url::encode(bytes));
        s.serialize_str(&text)
    }

    /// Reads Base64URL text or (the earlier format) an array of numbers 0..=255.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("unpadded Base64URL text or an array of bytes")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            b64url::decode(v).map_err(|_| E::custom("byte string: not unpadded Base64URL"))
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    /// One byte string, for lists and options of them.
    pub(super) struct Bytes(pub Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(Bytes)
        }
    }
}

/// `Option<Vec<u8>>` in the form of [`b64`].
mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::b64::{self, Bytes};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => b64::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Bytes>::deserialize(d)?.map(|b| b.0))
    }
}

/// `Vec<Vec<u8>>` (certificate paths, key lists) in the form of [`b64`].
mod b64_list {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::b64::Bytes;

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for bytes in v {
            seq.serialize_element(&BytesRef(bytes))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<Bytes>::deserialize(d)?
            .into_iter()
            .map(|b| b.0)
            .collect())
    }

    struct BytesRef<'a>(&'a [u8]);

    impl serde::Serialize for BytesRef<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::b64::serialize(self.0, s)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::Value;

    use super::*;

    /// A state with every byte-string field set (and one of each option unset).
    pub(crate) fn rich_state() -> SessionState {
        SessionState {
            server_session_id: "S-1".into(),
            phase: Phase::AwaitKeyCreationResponse,
            failure: None,
            action: "manage".into(),
            privacy_enabled: false,
            started_at: 1_767_225_600,
            expected_device_id: None,
            subject_label: "user".into(),
            capability_query: vec!["urn:x".into()],
            capabilities: vec![("urn:x".into(), "{}".into())],
            server_time: Some("2026-01-01T00:00:00Z".into()),
            server_time_unix: 1_767_225_600,
            session_key_limit: 50,
            session_life_time: 300,
            server_ephemeral_spki: vec![0x30, 0x59, 0, 255],
            kmk_spki: Some(vec![0x30, 1]),
            client_session_id: Some("C-1".into()),
            client_time: Some(1_767_225_601),
            device_certificate_path: vec![vec![0x30, 0x82, 1, 2], vec![0x30, 3], Vec::new()],
            device_id: Some("ABCD".into()),
            counter: 7,
            key_uses: 3,
            lookup_ids: vec!["L.1".into()],
            lookup_kmks: vec![vec![1, 2, 3]],
            discovered: vec![Discovered {
                lookup_id: "L.1".into(),
                server_session_id: "S-0".into(),
                client_session_id: "C-0".into(),
                certificate_path: vec![vec![9, 8, 7]],
                locked: false,
                kmk_spki: vec![4, 5],
            }],
            keys: vec![
                PlannedKey {
                    id: "Key.1".into(),
                    key_algorithm: "urn:rsa".into(),
                    key_parameters: Some(vec![1, 0, 1]),
                    create_mac: vec![0xaa; 32],
                    attestation_counter: 2,
                    app_usage: "signature".into(),
                    friendly_name: None,
                    public_key_spki: Some(vec![0x30, 0x0d]),
                },
                PlannedKey {
                    id: "Key.2".into(),
                    key_algorithm: "urn:ec".into(),
                    key_parameters: None,
                    create_mac: vec![0xbb; 32],
                    attestation_counter: 3,
                    app_usage: "authentication".into(),
                    friendly_name: Some("login".into()),
                    public_key_spki: None,
                },
            ],
            issued: vec![IssuedCertificate {
                id: "Key.1".into(),
                certificate_path: vec![vec![0x30, 0x82, 9], vec![0x30, 1]],
                imported_private_key: false,
                imported_symmetric_key: false,
            }],
            post_ops: vec![PostOp {
                kind: "delete".into(),
                new_key: None,
                target_finger_print: vec![0x11; 32],
            }],
            close_attestation_counter: Some(9),
            close_nonce: vec![0x5a; 32],
            secrets: Secrets {
                ephemeral_pkcs8: vec![0x30, 0x81, 0x87, 0],
                session_key: vec![0x42; 32],
            },
        }
    }

    /// The byte-string fields of the stored state, by name.
    const BYTE_FIELDS: &[&str] = &[
        "ephemeral_pkcs8",
        "session_key",
        "key_parameters",
        "create_mac",
        "public_key_spki",
        "certificate_path",
        "kmk_spki",
        "target_finger_print",
        "server_ephemeral_spki",
        "device_certificate_path",
        "lookup_kmks",
        "close_nonce",
    ];

    fn numbers(text: &str) -> Value {
        let bytes = airtight_proto::codec::b64url::decode(text).unwrap();
        Value::from(bytes.into_iter().map(Value::from).collect::<Vec<_>>())
    }

    fn to_legacy(v: &mut Value, byte_field: bool) {
        match v {
            Value::String(s) if byte_field => *v = numbers(s),
            Value::Array(items) => items.iter_mut().for_each(|i| to_legacy(i, byte_field)),
            Value::Object(m) => {
                for (k, item) in m.iter_mut() {
                    to_legacy(item, BYTE_FIELDS.contains(&k.as_str()));
                }
            }
            _ => {}
        }
    }

    /// `state` in the form schema 1 stored it: every byte string an array of numbers (what
    /// serde writes for a plain `Vec<u8>`).
    pub(crate) fn legacy_json(state: &SessionState) -> String {
        let mut v: Value = serde_json::from_str(&state.to_json().unwrap()).unwrap();
        to_legacy(&mut v, false);
        v.to_string()
    }

    #[test]
    fn byte_strings_are_stored_as_base64url_text() {
        let s = rich_state();
        let json = s.to_json().unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["close_nonce"], Value::from("Wlpa".repeat(10) + "Wlo"));
        assert_eq!(v["kmk_spki"], Value::from("MAE"));
        assert_eq!(v["device_certificate_path"][2], Value::from(""));
        assert_eq!(v["keys"][1]["key_parameters"], Value::Null);
        assert_eq!(
            v["secrets"]["session_key"],
            Value::from("QkJC".repeat(10) + "QkI")
        );
        // Not one array of numbers is left.
        assert!(!json.contains("[48,"), "{json}");
        assert_eq!(SessionState::from_json(&json).unwrap(), s);
        assert!(json.len() < legacy_json(&s).len());
    }

    #[test]
    fn a_state_stored_in_the_earlier_form_still_loads() {
        let s = rich_state();
        let old = legacy_json(&s);
        assert!(old.contains("\"close_nonce\":[90,90,"), "{old}");
        assert!(old.contains("\"device_certificate_path\":[[48,130,1,2],[48,3],[]]"));
        assert_eq!(SessionState::from_json(&old).unwrap(), s);
    }

    #[test]
    fn damaged_byte_strings_are_refused() {
        let good = rich_state().to_json().unwrap();
        for bad in [
            good.replace("\"MAE\"", "\"MAE=\""),  // padding
            good.replace("\"MAE\"", "\"M+E\""),   // standard alphabet
            good.replace("\"MAE\"", "[48,256]"),  // not a byte
            good.replace("\"MAE\"", "[48,-1]"),   // not a byte
            good.replace("\"MAE\"", "{\"a\":1}"), // not bytes at all
            good.replace("\"MAE\"", "7"),         // not bytes at all
        ] {
            assert_ne!(bad, good);
            assert!(SessionState::from_json(&bad).is_err(), "{bad}");
        }
    }
}
