//! The card's committed state (what the [`Store`](crate::store::Store) keeps) and its
//! mutations.
//!
//! Only closed sessions and their objects are here; open sessions live in memory
//! ([`super::session::OpenSession`]) and are dropped on teardown or restart
//! ([SKS-IMP-006]). Byte-valued options are kept as their SKS bytes so the stored form does not
//! depend on Rust enum layouts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestrictions,
};

use crate::store::StoreState;

/// Byte strings as unpadded Base64URL text inside the JSON payload (compact and readable):
/// the store's adapter for plain bytes, plus `Option` and list forms.
pub(crate) mod b64 {
    use airtight_proto::codec::b64url;

    pub(crate) use crate::store::b64::{deserialize, serialize};

    /// `Option<Vec<u8>>`.
    pub(crate) mod opt {
        use super::b64url;
        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(
            v: &Option<Vec<u8>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(b) => s.serialize_some(&b64url::encode(b)),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Vec<u8>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(t) => b64url::decode(&t)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }

    /// `Vec<Vec<u8>>`.
    pub(crate) mod list {
        use super::b64url;
        use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

        pub(crate) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for b in v {
                seq.serialize_element(&b64url::encode(b))?;
            }
            seq.end()
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<Vec<u8>>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|t| b64url::decode(t).map_err(serde::de::Error::custom))
                .collect()
        }
    }
}

/// A provisioning session (closed ones are stored; open ones carry one in memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) client_session_id: String,
    pub(crate) server_session_id: String,
    pub(crate) issuer_uri: String,
    #[serde(with = "b64::opt")]
    pub(crate) key_management_key: Option<Vec<u8>>,
    pub(crate) privacy_enabled: bool,
    pub(crate) client_time: u32,
    pub(crate) session_life_time: u16,
    pub(crate) session_key_limit: u16,
}

/// One extension of a key (`addExtension`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExtensionRecord {
    pub(crate) type_uri: String,
    pub(crate) sub_type: u8,
    pub(crate) qualifier: String,
    #[serde(with = "b64")]
    pub(crate) data: Vec<u8>,
}

/// A key entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// The owning provisioning session.
    pub(crate) owner: u32,
    pub(crate) id: String,
    pub(crate) app_usage: u8,
    /// The generated public key (SPKI DER) until `setCertificatePath`, then the certificate's.
    #[serde(with = "b64")]
    pub(crate) public_key: Vec<u8>,
    /// PKCS#8 DER of the private key (generated or imported).
    #[serde(with = "b64")]
    pub(crate) private_key: Vec<u8>,
    #[serde(with = "b64::list")]
    pub(crate) certificate_path: Vec<Vec<u8>>,
    #[serde(with = "b64::opt")]
    pub(crate) symmetric_key: Option<Vec<u8>>,
    pub(crate) endorsed_algorithms: Vec<String>,
    pub(crate) friendly_name: Option<String>,
    pub(crate) device_pin_protection: bool,
    pub(crate) pin_policy: Option<u32>,
    #[serde(with = "b64::opt")]
    pub(crate) pin_value: Option<Vec<u8>>,
    pub(crate) error_count: u16,
    pub(crate) enable_pin_caching: bool,
    pub(crate) biometric_protection: u8,
    pub(crate) export_protection: u8,
    pub(crate) delete_protection: u8,
    pub(crate) key_backup: u8,
    pub(crate) extensions: Vec<ExtensionRecord>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("owner", &self.owner)
            .field("id", &self.id)
            .field("pin_policy", &self.pin_policy)
            .field("error_count", &self.error_count)
            .finish_non_exhaustive()
    }
}

impl Drop for KeyRecord {
    fn drop(&mut self) {
        // The committed state is cloned for every commit; wipe the secrets of each copy.
        self.private_key.zeroize();
        if let Some(s) = self.symmetric_key.as_mut() {
            s.zeroize();
        }
        if let Some(p) = self.pin_value.as_mut() {
            p.zeroize();
        }
    }
}

impl KeyRecord {
    pub(crate) fn app_usage(&self) -> AppUsage {
        AppUsage::from_byte(self.app_usage).unwrap_or(AppUsage::Universal)
    }
    pub(crate) fn biometric(&self) -> BiometricProtection {
        BiometricProtection::from_byte(self.biometric_protection)
            .unwrap_or(BiometricProtection::None)
    }
    pub(crate) fn export(&self) -> ExportProtection {
        ExportProtection::from_byte(self.export_protection)
            .unwrap_or(ExportProtection::NonExportable)
    }
    pub(crate) fn delete(&self) -> DeleteProtection {
        DeleteProtection::from_byte(self.delete_protection)
            .unwrap_or(DeleteProtection::NonDeletable)
    }
    /// The end-entity certificate, if `setCertificatePath` ran.
    pub(crate) fn ee_certificate(&self) -> Option<&[u8]> {
        self.certificate_path.first().map(Vec::as_slice)
    }
    pub(crate) fn extension(&self, type_uri: &str) -> Option<&ExtensionRecord> {
        self.extensions.iter().find(|e| e.type_uri == type_uri)
    }
}

/// A PIN policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PinRecord {
    pub(crate) owner: u32,
    pub(crate) id: String,
    pub(crate) puk_policy: Option<u32>,
    pub(crate) user_defined: bool,
    pub(crate) user_modifiable: bool,
    pub(crate) format: u8,
    pub(crate) retry_limit: u16,
    pub(crate) grouping: u8,
    pub(crate) pattern_restrictions: u8,
    pub(crate) min_length: u16,
    pub(crate) max_length: u16,
    pub(crate) input_method: u8,
}

impl PinRecord {
    pub(crate) fn format(&self) -> PassphraseFormat {
        PassphraseFormat::from_byte(self.format).unwrap_or(PassphraseFormat::Binary)
    }
    pub(crate) fn grouping(&self) -> Grouping {
        Grouping::from_byte(self.grouping).unwrap_or(Grouping::None)
    }
    pub(crate) fn patterns(&self) -> PatternRestrictions {
        PatternRestrictions::from_byte(self.pattern_restrictions).unwrap_or_default()
    }
    pub(crate) fn input_method(&self) -> InputMethod {
        InputMethod::from_byte(self.input_method).unwrap_or(InputMethod::Any)
    }
}

/// A PUK policy with its value and error counter.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PukRecord {
    pub(crate) owner: u32,
    pub(crate) id: String,
    #[serde(with = "b64")]
    pub(crate) value: Vec<u8>,
    pub(crate) format: u8,
    pub(crate) retry_limit: u16,
    pub(crate) error_count: u16,
}

impl std::fmt::Debug for PukRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PukRecord")
            .field("owner", &self.owner)
            .field("id", &self.id)
            .field("retry_limit", &self.retry_limit)
            .field("error_count", &self.error_count)
            .finish_non_exhaustive()
    }
}

impl Drop for PukRecord {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl PukRecord {
    pub(crate) fn format(&self) -> PassphraseFormat {
        PassphraseFormat::from_byte(self.format).unwrap_or(PassphraseFormat::Binary)
    }
}

/// The next handle of each object kind (handles are never reused while the card holds the
/// object, [SKS-NSP-005]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counters {
    pub(crate) session: u32,
    pub(crate) key: u32,
    pub(crate) pin: u32,
    pub(crate) puk: u32,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            session: 1,
            key: 1,
            pin: 1,
            puk: 1,
        }
    }
}

/// The committed state of the card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CardState {
    pub(crate) counters: Counters,
    pub(crate) sessions: BTreeMap<u32, SessionRecord>,
    pub(crate) keys: BTreeMap<u32, KeyRecord>,
    pub(crate) pins: BTreeMap<u32, PinRecord>,
    pub(crate) puks: BTreeMap<u32, PukRecord>,
}

/// One change of the committed state. A call commits a batch of them atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mutation {
    Counters(Counters),
    PutSession(u32, SessionRecord),
    DeleteSession(u32),
    PutKey(u32, Box<KeyRecord>),
    DeleteKey(u32),
    PutPin(u32, PinRecord),
    DeletePin(u32),
    PutPuk(u32, PukRecord),
    DeletePuk(u32),
}

impl StoreState for CardState {
    type Mutation = Mutation;
    const SCHEMA: u32 = 0x534b_5301; // "SKS" v1

    fn apply(&mut self, m: &Mutation) {
        match m {
            Mutation::Counters(c) => self.counters = *c,
            Mutation::PutSession(h, s) => {
                self.sessions.insert(*h, s.clone());
            }
            Mutation::DeleteSession(h) => {
                self.sessions.remove(h);
            }
            Mutation::PutKey(h, k) => {
                self.keys.insert(*h, (**k).clone());
            }
            Mutation::DeleteKey(h) => {
                self.keys.remove(h);
            }
            Mutation::PutPin(h, p) => {
                self.pins.insert(*h, p.clone());
            }
            Mutation::DeletePin(h) => {
                self.pins.remove(h);
            }
            Mutation::PutPuk(h, p) => {
                self.puks.insert(*h, p.clone());
            }
            Mutation::DeletePuk(h) => {
                self.puks.remove(h);
            }
        }
    }
}

fn diff_map<V: Clone + PartialEq>(
    old: &BTreeMap<u32, V>,
    new: &BTreeMap<u32, V>,
    out: &mut Vec<Mutation>,
    put: impl Fn(u32, V) -> Mutation,
    del: impl Fn(u32) -> Mutation,
) {
    for h in old.keys() {
        if !new.contains_key(h) {
            out.push(del(*h));
        }
    }
    for (h, v) in new {
        if old.get(h) != Some(v) {
            out.push(put(*h, v.clone()));
        }
    }
}

impl CardState {
    /// The mutations that turn `self` into `new` (applied in order they reproduce `new`).
    pub(crate) fn diff(&self, new: &CardState) -> Vec<Mutation> {
        let mut out = Vec::new();
        if self.counters != new.counters {
            out.push(Mutation::Counters(new.counters));
        }
        diff_map(
            &self.sessions,
            &new.sessions,
            &mut out,
            Mutation::PutSession,
            Mutation::DeleteSession,
        );
        diff_map(
            &self.keys,
            &new.keys,
            &mut out,
            |h, k| Mutation::PutKey(h, Box::new(k)),
            Mutation::DeleteKey,
        );
        diff_map(
            &self.pins,
            &new.pins,
            &mut out,
            Mutation::PutPin,
            Mutation::DeletePin,
        );
        diff_map(
            &self.puks,
            &new.puks,
            &mut out,
            Mutation::PutPuk,
            Mutation::DeletePuk,
        );
        out
    }

    /// Deletes a key and then its PIN policy when no key uses it any more, and the PUK policy
    /// when no PIN policy uses it any more (facts §4 "Object model").
    pub(crate) fn delete_key_and_orphans(&mut self, handle: u32) {
        let Some(key) = self.keys.remove(&handle) else {
            return;
        };
        if let Some(pin) = key.pin_policy {
            if self.keys.values().any(|k| k.pin_policy == Some(pin)) {
                return;
            }
            if let Some(p) = self.pins.remove(&pin)
                && let Some(puk) = p.puk_policy
                && !self.pins.values().any(|q| q.puk_policy == Some(puk))
            {
                self.puks.remove(&puk);
            }
        }
    }

    /// Removes `session` when it owns no key any more.
    pub(crate) fn delete_session_if_empty(&mut self, session: u32) {
        if !self.keys.values().any(|k| k.owner == session) {
            self.sessions.remove(&session);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn session() -> SessionRecord {
        SessionRecord {
            client_session_id: "c".into(),
            server_session_id: "s".into(),
            issuer_uri: "https://i".into(),
            key_management_key: Some(vec![1, 2, 3]),
            privacy_enabled: false,
            client_time: 5,
            session_life_time: 6,
            session_key_limit: 7,
        }
    }

    #[test]
    fn diff_reproduces_new_state() {
        let mut a = CardState::default();
        a.sessions.insert(1, session());
        a.sessions.insert(2, session());
        let mut b = a.clone();
        b.sessions.remove(&1);
        b.sessions.get_mut(&2).unwrap().client_time = 99;
        b.sessions.insert(3, session());
        b.counters.session = 4;
        let muts = a.diff(&b);
        let mut c = a.clone();
        muts.iter().for_each(|m| c.apply(m));
        assert_eq!(c, b);
        assert!(b.diff(&b).is_empty());
    }

    #[test]
    fn bytes_round_trip_as_base64url() {
        let mut a = CardState::default();
        a.sessions.insert(1, session());
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"AQID\""), "{json}");
        let back: CardState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
