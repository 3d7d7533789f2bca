//! Property test: random sequences of SKS calls (honest provisionings, provisionings with a
//! random corruption or reordering, sessions left open across other calls, and random user-API
//! calls) against the reference card, checked against a small model after every step.
//!
//! Invariants: no call panics; nothing of an open session is enumerable ([SKS-TXN-001]); a
//! failed provisioning call leaves no trace and tears its session down ([SKS-TXN-002]); an
//! accepted MAC can never be replayed (the MAC counter never goes back, [CRY-CTR-002]); PIN
//! and PUK error counters follow the model exactly, so they never go back except by a correct
//! PIN or an unlock ([POL-PIN-004] [POL-PUK-004]); committed keys keep working ([SKS-ENU-001]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_neg;

use std::collections::BTreeSet;

use airtight_card::ReferenceSks;
use airtight_proto::policy::PassphraseFormat;
use airtight_proto::session1::Method;
use airtight_proto::sks::{KeyHandle, ProvisioningHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{EmuError, Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;
use proptest::prelude::*;

/// What goes wrong in a provisioning.
#[derive(Debug, Clone, Copy)]
enum Corruption {
    /// A flipped bit in the MAC of the n-th key's createKeyEntry.
    WrongKeyMac,
    /// The PIN policy call sent twice (its MAC replayed).
    ReplayPinMac,
    /// The issuer skips a counter value before a setCertificatePath.
    SkipCounter,
    /// The last key gets no certificate (close must fail).
    MissingCertificate,
    /// Two keys with one id.
    DuplicateId,
    /// A flipped bit in the close MAC.
    WrongCloseMac,
    /// The issuer aborts the session before close.
    Abort,
    /// A PIN policy nobody references (close must fail).
    UnreferencedPin,
}

#[derive(Debug, Clone)]
enum Action {
    Provision {
        keys: usize,
        pin: bool,
        corruption: Option<Corruption>,
    },
    /// Opens a session with one certified key and leaves it open.
    OpenDangling,
    /// Closes the oldest dangling session.
    CloseDangling,
    Sign {
        key: usize,
        /// 0: right PIN, 1: wrong PIN, 2: no PIN.
        pin: u8,
    },
    Unlock {
        key: usize,
        right: bool,
    },
    ChangePin {
        key: usize,
        right: bool,
        new: u16,
    },
    Delete {
        key: usize,
    },
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        Just(Corruption::WrongKeyMac),
        Just(Corruption::ReplayPinMac),
        Just(Corruption::SkipCounter),
        Just(Corruption::MissingCertificate),
        Just(Corruption::DuplicateId),
        Just(Corruption::WrongCloseMac),
        Just(Corruption::Abort),
        Just(Corruption::UnreferencedPin),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (1usize..=2, any::<bool>(), proptest::option::weighted(0.5, corruption()))
            .prop_map(|(keys, pin, corruption)| Action::Provision { keys, pin, corruption }),
        1 => Just(Action::OpenDangling),
        1 => Just(Action::CloseDangling),
        3 => (0usize..8, 0u8..3).prop_map(|(key, pin)| Action::Sign { key, pin }),
        1 => (0usize..8, any::<bool>()).prop_map(|(key, right)| Action::Unlock { key, right }),
        1 => (0usize..8, any::<bool>(), 1000u16..9999)
            .prop_map(|(key, right, new)| Action::ChangePin { key, right, new }),
        1 => (0usize..8).prop_map(|key| Action::Delete { key }),
    ]
}

const RETRY: u16 = 3;
const WRONG: &[u8] = b"0000";

/// The model of one committed key.
#[derive(Debug, Clone)]
struct MKey {
    handle: KeyHandle,
    spki: Vec<u8>,
    /// PIN and PUK (each key has its own PIN policy and PUK here), if any.
    pin: Option<Vec<u8>>,
    puk: Vec<u8>,
    pin_errors: u16,
    puk_errors: u16,
}

impl MKey {
    fn pin_blocked(&self) -> bool {
        self.pin_errors >= RETRY
    }
    fn puk_blocked(&self) -> bool {
        self.puk_errors >= RETRY
    }
}

struct World {
    sks: ReferenceSks,
    keys: Vec<MKey>,
    dangling: Vec<(Issuer, MKey)>,
    seed: u64,
}

impl World {
    fn next_seed(&mut self) -> u64 {
        self.seed += 1;
        self.seed
    }

    /// Every invariant against the model.
    fn check(&mut self) {
        // Only committed keys are enumerable, exactly the model's.
        let listed: BTreeSet<u32> = support_neg::committed_keys(&mut self.sks)
            .into_iter()
            .map(|h| h.0)
            .collect();
        let model: BTreeSet<u32> = self.keys.iter().map(|k| k.handle.0).collect();
        assert_eq!(listed, model, "enumerateKeys differs from the model");
        // Open sessions are exactly the dangling ones.
        let open: BTreeSet<u32> = support_neg::open_handles(&mut self.sks)
            .into_iter()
            .map(|h| h.0)
            .collect();
        let model_open: BTreeSet<u32> = self.dangling.iter().map(|(i, _)| i.handle.0).collect();
        assert_eq!(open, model_open, "open sessions differ from the model");
        // Dangling keys are invisible to the User API.
        for (_, k) in &self.dangling {
            expect_code(self.sks.get_key_attributes(k.handle), SksErrorCode::NoKey);
        }
        // Counters follow the model exactly.
        for k in &self.keys {
            let info = self.sks.get_key_protection_info(k.handle).unwrap();
            if k.pin.is_some() {
                assert_eq!(info.pin.unwrap().error_count, k.pin_errors, "PIN counter");
                assert_eq!(info.puk.unwrap().error_count, k.puk_errors, "PUK counter");
            }
        }
        // A committed key still works (this resets its PIN counter in the model).
        if let Some(k) = self.keys.iter_mut().find(|k| !k.pin_blocked()) {
            support_neg::assert_signs(&mut self.sks, k.handle, &k.spki, k.pin.as_deref());
            k.pin_errors = 0;
        }
    }

    fn provision(&mut self, nkeys: usize, with_pin: bool, corruption: Option<Corruption>) {
        let nkeys = if matches!(corruption, Some(Corruption::DuplicateId)) {
            2
        } else {
            nkeys
        };
        let with_pin = with_pin || matches!(corruption, Some(Corruption::ReplayPinMac));
        let before = support_neg::snapshot(&mut self.sks);
        let seed = self.next_seed();
        let mut is = Issuer::new(seed);
        is.create_session(&mut self.sks).unwrap();
        let result = (|| -> Result<Vec<MKey>, EmuError> {
            let mut made = Vec::new();
            for i in 0..nkeys {
                let id = if matches!(corruption, Some(Corruption::DuplicateId)) && i == 1 {
                    "K0".to_owned()
                } else {
                    format!("K{i}")
                };
                let (pin_value, puk) = (
                    format!("{}", 1000 + seed % 8000 + i as u64),
                    format!("{:08}", seed),
                );
                let mut ks = KeySpec::new(&id, uri::P256);
                if with_pin {
                    let pid = format!("PUK{i}");
                    let puk_h = is.create_puk(
                        &mut self.sks,
                        &pid,
                        puk.as_bytes(),
                        PassphraseFormat::Numeric,
                        RETRY,
                    )?;
                    let mut ps = PinSpec::new(&format!("PIN{i}"));
                    ps.puk = Some((puk_h, pid));
                    ps.retry_limit = RETRY;
                    let params = is.pin_params(&ps).unwrap();
                    let pin_h = self.sks.create_pin_policy(&params)?;
                    if matches!(corruption, Some(Corruption::ReplayPinMac)) {
                        let mut again = params.clone();
                        again.id = format!("PINX{i}");
                        self.sks.create_pin_policy(&again)?;
                    }
                    ks = ks.with_pin(pin_h, &format!("PIN{i}"), pin_value.as_bytes());
                }
                let kd = if matches!(corruption, Some(Corruption::WrongKeyMac)) && i + 1 == nkeys {
                    let mut p = is.key_params(&ks).unwrap();
                    p.mac = support_neg::corrupt(p.mac);
                    self.sks.create_key_entry(&p)?
                } else {
                    is.create_key(&mut self.sks, &ks)?
                };
                let last = i + 1 == nkeys;
                if !(matches!(corruption, Some(Corruption::MissingCertificate)) && last) {
                    if matches!(corruption, Some(Corruption::SkipCounter)) && last {
                        is.mac(Method::SetCertificatePath, b"skipped").unwrap();
                    }
                    let path = is.certificate_path(&kd.public_key).unwrap();
                    is.set_certificate_path(
                        &mut self.sks,
                        kd.key_handle,
                        &id,
                        &kd.public_key,
                        &path,
                    )?;
                }
                made.push(MKey {
                    handle: kd.key_handle,
                    spki: kd.public_key,
                    pin: with_pin.then(|| pin_value.into_bytes()),
                    puk: puk.into_bytes(),
                    pin_errors: 0,
                    puk_errors: 0,
                });
            }
            if matches!(corruption, Some(Corruption::UnreferencedPin)) {
                is.create_pin(&mut self.sks, &PinSpec::new("Lonely"))?;
            }
            match corruption {
                Some(Corruption::Abort) => {
                    self.sks.abort_provisioning_session(is.handle)?;
                    return Err(
                        airtight_proto::sks::SksError::no_session("aborted by the test").into(),
                    );
                }
                Some(Corruption::WrongCloseMac) => {
                    let nonce = [7u8; 32];
                    let data = airtight_proto::session1::close_provisioning_session_data(
                        &is.client_session_id,
                        &is.server_session_id,
                        &is.issuer_uri,
                        &nonce,
                    )
                    .unwrap();
                    let mac = support_neg::corrupt(
                        is.mac(Method::CloseProvisioningSession, &data).unwrap(),
                    );
                    self.sks
                        .close_provisioning_session(is.handle, &nonce, &mac)?;
                }
                _ => {
                    is.close(&mut self.sks)?;
                }
            }
            Ok(made)
        })()
        .map_err(EmuError::into_sks);
        match (corruption, result) {
            (None, Ok(made)) => self.keys.extend(made),
            (None, Err(e)) => panic!("an honest provisioning failed: {e}"),
            (Some(c), Ok(_)) => panic!("a provisioning with {c:?} succeeded"),
            (Some(c), Err(e)) => {
                let want = match c {
                    Corruption::WrongKeyMac
                    | Corruption::ReplayPinMac
                    | Corruption::SkipCounter
                    | Corruption::WrongCloseMac => SksErrorCode::Mac,
                    Corruption::Abort => SksErrorCode::NoSession,
                    Corruption::MissingCertificate
                    | Corruption::DuplicateId
                    | Corruption::UnreferencedPin => SksErrorCode::Option,
                };
                assert_eq!(e.code(), want, "{c:?}: {e}");
                // [SKS-TXN-002] no trace, session gone.
                assert!(!support_neg::open_handles(&mut self.sks).contains(&is.handle));
                assert_eq!(
                    support_neg::snapshot(&mut self.sks),
                    before,
                    "{c:?} left a trace"
                );
            }
        }
    }

    fn step(&mut self, a: &Action) {
        let n = self.keys.len();
        match *a {
            Action::Provision {
                keys,
                pin,
                corruption,
            } => self.provision(keys, pin, corruption),
            Action::OpenDangling => {
                if self.dangling.len() >= 3 {
                    return;
                }
                let seed = self.next_seed();
                let mut is = Issuer::new(seed);
                is.create_session(&mut self.sks).unwrap();
                let k = is
                    .provision_key(&mut self.sks, &KeySpec::new("D", uri::P256))
                    .unwrap();
                let mk = MKey {
                    handle: k.handle,
                    spki: k.public_key,
                    pin: None,
                    puk: Vec::new(),
                    pin_errors: 0,
                    puk_errors: 0,
                };
                self.dangling.push((is, mk));
            }
            Action::CloseDangling => {
                if self.dangling.is_empty() {
                    return;
                }
                let (mut is, mk) = self.dangling.remove(0);
                is.close(&mut self.sks).unwrap();
                self.keys.push(mk);
            }
            Action::Sign { key, pin } if n > 0 => {
                let k = &mut self.keys[key % n];
                let Some(right) = k.pin.clone() else {
                    support_neg::sign(&mut self.sks, k.handle, None).unwrap();
                    return;
                };
                let arg: Option<&[u8]> = match pin {
                    0 => Some(&right),
                    1 => Some(WRONG),
                    _ => None,
                };
                let r = support_neg::sign(&mut self.sks, k.handle, arg);
                if pin == 0 && !k.pin_blocked() {
                    r.unwrap();
                    k.pin_errors = 0;
                } else {
                    expect_code(r, SksErrorCode::Authorization);
                    if !k.pin_blocked() {
                        k.pin_errors += 1;
                    }
                }
            }
            Action::Unlock { key, right } if n > 0 => {
                let k = &mut self.keys[key % n];
                if k.pin.is_none() {
                    return;
                }
                let puk = if right {
                    k.puk.clone()
                } else {
                    b"99999999".to_vec()
                };
                let r = self.sks.unlock_key(k.handle, &puk);
                if right && !k.puk_blocked() {
                    r.unwrap();
                    k.puk_errors = 0;
                    k.pin_errors = 0;
                } else {
                    expect_code(r, SksErrorCode::Authorization);
                    if !k.puk_blocked() {
                        k.puk_errors += 1;
                    }
                }
            }
            Action::ChangePin { key, right, new } if n > 0 => {
                let k = &mut self.keys[key % n];
                let Some(old) = k.pin.clone() else { return };
                let new = new.to_string().into_bytes();
                let auth: &[u8] = if right { &old } else { WRONG };
                let r = self.sks.change_pin(k.handle, auth, &new);
                if right && !k.pin_blocked() {
                    r.unwrap();
                    k.pin = Some(new);
                    k.pin_errors = 0;
                } else {
                    expect_code(r, SksErrorCode::Authorization);
                    if !k.pin_blocked() {
                        k.pin_errors += 1;
                    }
                }
            }
            Action::Delete { key } if n > 0 => {
                let k = self.keys.remove(key % n);
                self.sks.delete_key(k.handle, None).unwrap();
                expect_code(self.sks.get_key_attributes(k.handle), SksErrorCode::NoKey);
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_sks_call_sequences_keep_the_invariants(
        seed in 0u64..1_000_000,
        actions in proptest::collection::vec(action(), 1..14),
    ) {
        let mut w = World {
            sks: airtight_testkit::card(seed),
            keys: Vec::new(),
            dangling: Vec::new(),
            seed: seed * 1000,
        };
        for a in &actions {
            w.step(a);
            w.check();
        }
        // Close what is still open: everything becomes visible at once.
        while !w.dangling.is_empty() {
            w.step(&Action::CloseDangling);
            w.check();
        }
        let _ = ProvisioningHandle::NONE;
    }
}
