//! The card store's recovery paths as the card exposes them: what the user is told
//! (`store_notices`), the explicit way out of a refused store (`accept_store_loss` +
//! `repair_store`, what `airtight card repair --accept-loss` runs), and the passphrase seal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use airtight_card::env::ManualClock;
use airtight_card::store::StoreError;
use airtight_card::{CardConfig, CardError, ReferenceSks, Storage, StoreSeal, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;

fn config(dir: &Path) -> CardConfig {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        9,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    c.storage = Storage::Dir(dir.to_path_buf());
    c
}

/// A card with one PIN-protected key ("2468", 3 tries); returns its handle.
fn provision(sks: &mut ReferenceSks) -> KeyHandle {
    let mut is = Issuer::new(3);
    is.create_session(sks).unwrap();
    let pin = is.create_pin(sks, &PinSpec::new("PIN.1")).unwrap();
    let key = is
        .provision_key(
            sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"2468"),
        )
        .unwrap();
    is.close(sks).unwrap();
    key.handle
}

fn wrong_pin(sks: &mut ReferenceSks, key: KeyHandle) {
    expect_code(
        sks.sign_data(key, uri::ECDSA_SHA256, None, false, Some(b"0000"), b"m"),
        SksErrorCode::Authorization,
    );
}

fn error_count(sks: &mut ReferenceSks, key: KeyHandle) -> u16 {
    sks.get_key_protection_info(key)
        .unwrap()
        .pin
        .unwrap()
        .error_count
}

#[test]
fn a_refused_store_can_be_taken_as_it_is_with_accept_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut sks = ReferenceSks::open(config(&dir)).unwrap();
    let key = provision(&mut sks);
    assert!(sks.store_notices().is_empty(), "{:?}", sks.store_notices());
    wrong_pin(&mut sks, key);
    let one_error = std::fs::read(dir.join("journal.log")).unwrap();
    wrong_pin(&mut sks, key);
    drop(sks);
    // The journal is cut back to the first PIN error: refused, and the message says how much
    // is missing and what to run.
    std::fs::write(dir.join("journal.log"), &one_error).unwrap();
    let e = ReferenceSks::open(config(&dir)).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::Store(StoreError::RolledBack {
                counter_commit,
                store_commit
            }) if counter_commit == store_commit + 1
        ),
        "{e}"
    );
    assert!(e.to_string().contains("1 commit(s) are missing"), "{e}");
    // The user accepts the loss: the card opens and says what was accepted.
    let mut c = config(&dir);
    c.accept_store_loss = true;
    let mut sks = ReferenceSks::open(c).unwrap();
    let notices = sks.store_notices();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("loss of 1 commit(s) was accepted")),
        "{notices:?}"
    );
    assert_eq!(error_count(&mut sks, key), 1);
    sks.repair_store().unwrap();
    assert!(sks.store_notices().iter().any(|n| n.contains("accepted")));
    drop(sks);
    // From now on the store opens normally, and keeps counting.
    let mut sks = ReferenceSks::open(config(&dir)).unwrap();
    assert!(sks.store_notices().is_empty(), "{:?}", sks.store_notices());
    wrong_pin(&mut sks, key);
    assert_eq!(error_count(&mut sks, key), 2);
}

#[test]
fn a_torn_tail_is_reported_with_its_size_and_dropped_at_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let key = provision(&mut ReferenceSks::open(config(&dir)).unwrap());
    let mut j = std::fs::read(dir.join("journal.log")).unwrap();
    let clean_len = j.len();
    j.extend_from_slice(&[50, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0xBB]);
    std::fs::write(dir.join("journal.log"), &j).unwrap();
    let mut sks = ReferenceSks::open(config(&dir)).unwrap();
    let notices = sks.store_notices();
    assert!(
        notices.iter().any(|n| n.contains("14 byte(s)")
            && n.contains("interrupted commit")
            && n.contains("will be discarded at the next write")),
        "{notices:?}"
    );
    wrong_pin(&mut sks, key);
    assert!(
        sks.store_notices()
            .iter()
            .any(|n| n.contains("it was discarded"))
    );
    drop(sks);
    let sks = ReferenceSks::open(config(&dir)).unwrap();
    assert!(sks.store_notices().is_empty());
    assert!(std::fs::read(dir.join("journal.log")).unwrap().len() < clean_len);
}

#[cfg(unix)]
#[test]
fn loose_permissions_are_tightened_and_reported() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    drop(ReferenceSks::open(config(&dir)).unwrap());
    std::fs::set_permissions(
        dir.join("journal.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let sks = ReferenceSks::open(config(&dir)).unwrap();
    let notices = sks.store_notices();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("journal.log: mode 0644 -> 0600")
                && n.contains("readable by other users")),
        "{notices:?}"
    );
}

#[test]
fn a_passphrase_sealed_store_needs_the_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let with = |p: &str| {
        let mut c = config(&dir);
        c.store_seal = StoreSeal::DeviceKeyAndPassphrase {
            passphrase: zeroize::Zeroizing::new(p.to_owned()),
            iterations: 16,
        };
        c
    };
    let key = provision(&mut ReferenceSks::open(with("correct horse")).unwrap());
    let e = ReferenceSks::open(with("wrong horse")).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::Store(StoreError::Unseal { file: "state.snap" })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("wrong passphrase"), "{e}");
    let e = ReferenceSks::open(config(&dir)).unwrap_err();
    assert!(
        e.to_string()
            .contains("sealed with the device key and a passphrase"),
        "{e}"
    );
    let mut sks = ReferenceSks::open(with("correct horse")).unwrap();
    sks.sign_data(key, uri::ECDSA_SHA256, None, false, Some(b"2468"), b"m")
        .unwrap();
}
