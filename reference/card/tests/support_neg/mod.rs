//! Conveniences for the negative, property and crash tests (on top of the issuer emulator of
//! `airtight-testkit`): a card with one committed, updatable key (PUK + shared-grouping PIN,
//! KMK), checks of the transactional teardown after a failing provisioning call, and forging
//! helpers (corrupted MACs, foreign SubjectPublicKeyInfo encodings).
//!
//! Use: `mod support_neg;` in a test file.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use airtight_card::ReferenceSks;
use airtight_proto::keys::PrivateKey;
use airtight_proto::policy::{Grouping, PassphraseFormat};
use airtight_proto::sks::{
    CreatePukPolicyParams, EnumeratedProvisioningSession, KeyHandle, ProvisioningHandle,
    SecureKeyStore, SksError, SksErrorCode,
};

use airtight_testkit::emulator::{EmuError, Issuer, KeySpec, PinSpec, Provisioned, uri};

/// The PIN of the committed base key.
pub const BASE_PIN: &[u8] = b"1234";
/// The PUK of the committed base key.
pub const BASE_PUK: &[u8] = b"01234567";

/// A committed key from an updatable (KMK) session: PUK "01234567" (retry 3), PIN "1234"
/// (shared grouping, retry 3, user-modifiable), appUsage authentication, P-256.
#[derive(Debug, Clone)]
pub struct Base {
    pub key: Provisioned,
    pub kmk: PrivateKey,
    pub session: ProvisioningHandle,
}

/// A card (P-256 test device) holding the [`Base`] key.
pub fn world(seed: u64) -> (ReferenceSks, Base) {
    let mut sks = airtight_testkit::card(seed);
    let base = base_key(&mut sks, seed);
    (sks, base)
}

/// Provisions the [`Base`] key into `sks` (a session with KMK derived from `seed`).
pub fn base_key(sks: &mut dyn SecureKeyStore, seed: u64) -> Base {
    let mut is = Issuer::new(seed.wrapping_add(0xba5e)).with_kmk(seed);
    let kmk = is.key_management_key.clone().unwrap();
    is.create_session(sks).unwrap();
    let puk = is
        .create_puk(sks, "PUK.1", BASE_PUK, PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    ps.grouping = Grouping::Shared;
    let pin = is.create_pin(sks, &ps).unwrap();
    let key = is
        .provision_key(
            sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", BASE_PIN),
        )
        .unwrap();
    is.close(sks).unwrap();
    Base {
        key,
        kmk,
        session: is.handle,
    }
}

/// Every committed key, in enumeration order.
pub fn committed_keys(sks: &mut dyn SecureKeyStore) -> Vec<KeyHandle> {
    let mut out = Vec::new();
    let mut h = KeyHandle::NONE;
    while let Some(e) = sks.enumerate_keys(h).unwrap() {
        out.push(e.key_handle);
        h = e.key_handle;
        assert!(out.len() < 10_000, "enumerateKeys does not end");
    }
    out
}

/// Every session in the given state (true = open), in enumeration order.
pub fn sessions(sks: &mut dyn SecureKeyStore, open: bool) -> Vec<EnumeratedProvisioningSession> {
    let mut out = Vec::new();
    let mut h = ProvisioningHandle::NONE;
    while let Some(e) = sks.enumerate_provisioning_sessions(h, open).unwrap() {
        h = e.provisioning_handle;
        out.push(e);
        assert!(
            out.len() < 10_000,
            "enumerateProvisioningSessions does not end"
        );
    }
    out
}

/// The open-session handles.
pub fn open_handles(sks: &mut dyn SecureKeyStore) -> Vec<ProvisioningHandle> {
    sessions(sks, true)
        .into_iter()
        .map(|s| s.provisioning_handle)
        .collect()
}

/// The committed view a failing provisioning call must leave unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub keys: Vec<KeyHandle>,
    pub closed: Vec<ProvisioningHandle>,
}

/// The committed keys and closed sessions now.
pub fn snapshot(sks: &mut dyn SecureKeyStore) -> Snapshot {
    Snapshot {
        keys: committed_keys(sks),
        closed: sessions(sks, false)
            .into_iter()
            .map(|s| s.provisioning_handle)
            .collect(),
    }
}

/// Asserts `r` failed with `code` and the transactional teardown ([SKS-TXN-002],
/// [SKS-TXN-003], [SKS-TXN-004]): the session `handle` is no longer open, a second abort
/// reports `ERROR_NO_SESSION`, and the committed view equals `before`.
#[track_caller]
pub fn fatal<T: std::fmt::Debug, E: Into<EmuError>>(
    sks: &mut dyn SecureKeyStore,
    handle: ProvisioningHandle,
    before: &Snapshot,
    r: Result<T, E>,
    code: SksErrorCode,
) -> SksError {
    let e = airtight_testkit::expect_code(r, code);
    assert!(
        !open_handles(sks).contains(&handle),
        "session {handle:?} survived a fatal {code}"
    );
    assert_eq!(&snapshot(sks), before, "a failed session left a trace");
    airtight_testkit::expect_code(
        sks.abort_provisioning_session(handle),
        SksErrorCode::NoSession,
    );
    e
}

/// `fatal!(sks, is, before, expr, code)`: evaluates `expr` (borrowing `sks`/`is` freely), then
/// [`fatal`] on the session of `is`.
#[allow(unused_macros)]
macro_rules! fatal {
    ($sks:expr, $is:expr, $before:expr, $call:expr, $code:expr) => {{
        let r = $call;
        let h = $is.handle;
        crate::support_neg::fatal(&mut $sks, h, &$before, r, $code)
    }};
}

/// A fresh issuer with an open session on `sks`.
pub fn session(sks: &mut dyn SecureKeyStore, seed: u64) -> Issuer {
    let mut is = Issuer::new(seed);
    is.create_session(sks).unwrap();
    is
}

/// A fresh issuer with a KMK and an open session on `sks`.
pub fn session_kmk(sks: &mut dyn SecureKeyStore, seed: u64, kmk_seed: u64) -> Issuer {
    let mut is = Issuer::new(seed).with_kmk(kmk_seed);
    is.create_session(sks).unwrap();
    is
}

/// `mac` with its first bit flipped.
pub fn corrupt(mut mac: Vec<u8>) -> Vec<u8> {
    if let Some(b) = mac.first_mut() {
        *b ^= 0x01;
    } else {
        mac.push(0);
    }
    mac
}

/// DER length prefix.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

/// A DER TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(der_len(content.len()));
    v.extend_from_slice(content);
    v
}

/// An EC SubjectPublicKeyInfo on the named curve `curve_oid` (DER content of the OID) with an
/// arbitrary uncompressed point.
pub fn ec_spki(curve_oid: &[u8], point: &[u8]) -> Vec<u8> {
    let id_ec = tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
    let alg = tlv(0x30, &[id_ec, tlv(0x06, curve_oid)].concat());
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    tlv(0x30, &[alg, tlv(0x03, &bits)].concat())
}

/// OID content of secp256k1 (1.3.132.0.10).
pub const OID_SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
/// OID content of brainpoolP256r1 (1.3.36.3.3.2.8.1.1.7).
pub const OID_BRAINPOOL_P256R1: &[u8] = &[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07];
/// OID content of P-256 (1.2.840.10045.3.1.7).
pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// An RSA SubjectPublicKeyInfo with a `bits`-bit odd modulus (top bit set) and e = 65537; the
/// modulus need not be a product of primes (the card must refuse on size alone).
pub fn rsa_spki(bits: usize) -> Vec<u8> {
    let mut n = vec![0xC3u8; bits / 8];
    n[0] = 0xC3;
    let last = n.len() - 1;
    n[last] |= 1;
    let mut n_int = vec![0u8];
    n_int.extend(n);
    let key = tlv(
        0x30,
        &[tlv(0x02, &n_int), tlv(0x02, &[0x01, 0x00, 0x01])].concat(),
    );
    let alg = tlv(
        0x30,
        &[
            tlv(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let mut bits_content = vec![0u8];
    bits_content.extend(key);
    tlv(0x30, &[alg, tlv(0x03, &bits_content)].concat())
}

/// Signs with `sks` key `k` (ECDSA-SHA256), PIN `pin`.
pub fn sign(
    sks: &mut dyn SecureKeyStore,
    k: KeyHandle,
    pin: Option<&[u8]>,
) -> Result<Vec<u8>, SksError> {
    sks.sign_data(k, uri::ECDSA_SHA256, None, false, pin, b"airtight")
}

/// Signs with the key and verifies the signature with `spki` (the key still works).
#[track_caller]
pub fn assert_signs(sks: &mut dyn SecureKeyStore, k: KeyHandle, spki: &[u8], pin: Option<&[u8]>) {
    let sig = sign(sks, k, pin).expect("the committed key signs");
    airtight_testkit::public_key(spki)
        .verify(
            airtight_proto::keys::SignatureAlgorithm::ES256,
            b"airtight",
            &sig,
        )
        .expect("signature verifies");
}

/// The PIN error counter of `k`.
pub fn pin_errors(sks: &mut dyn SecureKeyStore, k: KeyHandle) -> u16 {
    sks.get_key_protection_info(k)
        .unwrap()
        .pin
        .map_or(0, |p| p.error_count)
}

/// The PUK error counter of `k`.
pub fn puk_errors(sks: &mut dyn SecureKeyStore, k: KeyHandle) -> u16 {
    sks.get_key_protection_info(k)
        .unwrap()
        .puk
        .map_or(0, |p| p.error_count)
}

/// Runs one case of a table, catching its panic so that every failing case of the table is
/// reported (not only the first); the failure text is pushed to `failures`.
pub fn case(failures: &mut Vec<String>, what: &str, f: impl FnOnce()) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    if let Err(p) = r {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        failures.push(format!("{what}: {msg}"));
    }
}

/// Fails with every collected case failure.
#[track_caller]
pub fn all_passed(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `createPukPolicy` parameters for `handle` with a dummy PUK and MAC (for calls that must
/// fail before any MAC check, e.g. on an unknown session).
pub fn puk_params_raw(handle: ProvisioningHandle) -> CreatePukPolicyParams {
    CreatePukPolicyParams {
        provisioning_handle: handle,
        id: "PUK.1".into(),
        encrypted_puk: vec![0; 32],
        format: PassphraseFormat::Numeric.into(),
        retry_limit: 3,
        mac: vec![0; 32],
    }
}
