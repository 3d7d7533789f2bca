//! An open provisioning session: everything it created lives here, in memory, until
//! `closeProvisioningSession` commits it; a teardown drops it ([SKS-TXN-001], [SKS-TXN-002]).

use std::collections::BTreeMap;

use airtight_proto::session1::SessionCrypto;

use super::state::{KeyRecord, PinRecord, PukRecord, SessionRecord};

/// A buffered post-operation (facts §3.8), executed at close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PostOp {
    /// The key of a closed session the operation targets.
    pub(crate) target: u32,
    /// The new key (update and clone), `None` for delete and unlock.
    pub(crate) new_key: Option<u32>,
    /// True for update and delete.
    pub(crate) update_or_delete: bool,
}

/// One open session.
#[derive(Debug)]
pub(crate) struct OpenSession {
    pub(crate) record: SessionRecord,
    pub(crate) crypto: SessionCrypto,
    /// The card-clock second after which the session is dead ([SKS-IMP-003]).
    pub(crate) deadline: crate::env::UnixTime,
    /// The virtual namespace: id → referenced (Java `names`), in creation order.
    pub(crate) names: Vec<(String, bool)>,
    pub(crate) keys: BTreeMap<u32, KeyRecord>,
    pub(crate) pins: BTreeMap<u32, PinRecord>,
    pub(crate) puks: BTreeMap<u32, PukRecord>,
    pub(crate) post_ops: Vec<PostOp>,
}

impl OpenSession {
    pub(crate) fn has_name(&self, id: &str) -> bool {
        self.names.iter().any(|(n, _)| n == id)
    }

    /// Marks `id` referenced (adding it if new).
    pub(crate) fn reference(&mut self, id: &str) {
        match self.names.iter_mut().find(|(n, _)| n == id) {
            Some(e) => e.1 = true,
            None => self.names.push((id.to_owned(), true)),
        }
    }

    pub(crate) fn object_count(&self) -> usize {
        self.keys.len() + self.pins.len() + self.puks.len()
    }
}
