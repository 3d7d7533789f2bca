//! The reference card under arbitrary SKS call sequences, on the crash-simulating file system.
//!
//! Input: a control byte, then records ([`crate::records`]) each holding one SKS call as its
//! APDU payload (`[method number, payload...]`, decoded with [`SksCall::decode_payload`]).
//! The control byte picks the starting card (empty, or holding the key of the honest session)
//! and, when its top bit is set, a power cut: at write point `1 + (next byte % 48)`, torn after
//! `next byte * 16` bytes of that write, under one of four crash outcomes.
//!
//! Oracles:
//! - a rejected call leaves the card's state as it was: the store's files (the serialized
//!   state) are byte for byte the same, except for `ERROR_AUTHORIZATION` (a PIN or PUK error
//!   counter is committed by design) and storage errors; and a non-fatal rejection
//!   (`ERROR_AUTHORIZATION`) leaves the open sessions as they were;
//! - after a power cut, the card reopens, and every key that was committed before the call in
//!   flight is still there (unless that call deletes keys).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use airtight_bindings::SksCall;
use airtight_bindings::SksReturn;
use airtight_bindings::calls::{CallAdapter, CallSks};
use airtight_card::env::ManualClock;
use airtight_card::store::{CrashPolicy, SimFs, Vfs};
use airtight_card::{CardConfig, ReferenceSks, Storage, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksError, SksErrorCode, SksMethod};

use crate::oracle;

/// The RNG seed of every card of this target (so recorded provisioning calls replay).
pub const CARD_SEED: u64 = 11;

/// Opens the card on `fs`.
pub fn open(fs: &SimFs) -> Result<ReferenceSks, airtight_card::CardError> {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        CARD_SEED,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    c.storage = Storage::Vfs(Box::new(fs.clone()));
    ReferenceSks::open(c)
}

/// A card that records every call it answers (to make seeds of honest sessions).
#[derive(Debug)]
pub struct Recorder {
    /// The card.
    pub card: ReferenceSks,
    /// Each call as `[method number, APDU payload...]`.
    pub calls: Vec<Vec<u8>>,
    /// Each successful result as `[method number, APDU payload...]`.
    pub results: Vec<Vec<u8>>,
}

impl CallSks for Recorder {
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError> {
        if let Ok(p) = call.encode_payload() {
            let mut rec = vec![call.method().number()];
            rec.extend(p);
            self.calls.push(rec);
        }
        let r = call.invoke(&mut self.card);
        if let Ok(ret) = &r
            && let Ok(p) = ret.encode_payload()
        {
            let mut rec = vec![ret.method().number()];
            rec.extend(p);
            self.results.push(rec);
        }
        r
    }
}

/// A recording card over a new `SimFs`.
#[allow(clippy::expect_used)]
pub fn recorder(fs: &SimFs) -> CallAdapter<Recorder> {
    CallAdapter(Recorder {
        card: open(fs).expect("the test card opens"),
        calls: Vec::new(),
        results: Vec::new(),
    })
}

/// Every file of `fs` (the serialized state of the card).
pub fn files(fs: &SimFs) -> BTreeMap<String, Vec<u8>> {
    let names = fs.list().unwrap_or_default();
    names
        .into_iter()
        .filter_map(|n| fs.peek(&n).map(|c| (n, c)))
        .collect()
}

fn key_handles(card: &mut ReferenceSks) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let mut h = KeyHandle(0);
    while let Ok(Some(k)) = card.enumerate_keys(h) {
        if !out.insert(k.key_handle.0) || out.len() > 10_000 {
            break;
        }
        h = k.key_handle;
    }
    out
}

fn deletes_keys(m: SksMethod) -> bool {
    matches!(
        m,
        SksMethod::DeleteKey | SksMethod::CloseProvisioningSession
    )
}

/// Writes `files` into a new `SimFs` (durably).
pub fn fs_with(files: &BTreeMap<String, Vec<u8>>) -> SimFs {
    let fs = SimFs::new();
    for (n, c) in files {
        fs.poke(n, c);
    }
    fs
}

/// The target. `provisioned` is the store of a card after the honest session.
pub fn card_calls(data: &[u8], provisioned: &BTreeMap<String, Vec<u8>>) {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    let fs = if ctl & 1 == 1 {
        fs_with(provisioned)
    } else {
        SimFs::new()
    };
    let Ok(mut card) = open(&fs) else {
        panic!("the card does not open on its own store");
    };
    let mut policy = CrashPolicy::KeepAll;
    if ctl & 0x80 != 0 && rest.len() >= 2 {
        let at = 1 + u64::from(rest[0] % 48);
        let offset = usize::from(rest[1]) * 16;
        fs.crash_inside(at, offset);
        policy = match (ctl >> 1) & 3 {
            0 => CrashPolicy::KeepAll,
            1 => CrashPolicy::DropUnsynced,
            s => CrashPolicy::Torn {
                seed: u64::from(ctl),
                garbage: s == 3,
                reorder: false,
            },
        };
        rest = &rest[2..];
    }
    let mut committed_keys = key_handles(&mut card);
    let mut in_flight = None;
    for rec in crate::records(rest, 64) {
        let Some((&m, payload)) = rec.split_first() else {
            continue;
        };
        let Some(method) = SksMethod::from_number(m) else {
            continue;
        };
        let Ok(call) = SksCall::decode_payload(method, payload) else {
            continue;
        };
        let before = files(&fs);
        let open_before = card.open_session_count();
        let r = call.invoke(&mut card);
        if fs.has_crashed() {
            in_flight = Some(method);
            break;
        }
        match r {
            Ok(_) => committed_keys = key_handles(&mut card),
            Err(e) => {
                let exempt = matches!(
                    e.code(),
                    SksErrorCode::Authorization | SksErrorCode::Storage
                );
                if !exempt {
                    oracle!(
                        files(&fs) == before,
                        "{method} was rejected ({e}) but changed the card's store"
                    );
                }
                if !e.is_fatal() {
                    oracle!(
                        card.open_session_count() == open_before,
                        "{method}: a non-fatal rejection ({e}) changed the open sessions"
                    );
                }
            }
        }
    }
    drop(card);
    // Power cut (armed or not): the durable view must reopen, nothing committed lost.
    let after = fs.after_crash(policy);
    let reopened = open(&after);
    oracle!(
        reopened.is_ok(),
        "the card does not reopen after a power cut: {:?}",
        reopened.as_ref().err()
    );
    let Ok(mut card) = reopened else { return };
    oracle!(card.open_session_count() == 0, "an open session survived");
    if !in_flight.is_some_and(deletes_keys) {
        let now = key_handles(&mut card);
        oracle!(
            committed_keys.is_subset(&now),
            "committed keys lost: had {committed_keys:?}, reopened with {now:?} (in flight: {in_flight:?})"
        );
    }
}
