//! airtight's test kit: what the card tests, the bindings' tests, the conformance harness and
//! (later) the simulator share to drive a card.
//!
//! - [`emulator`]: the SKS-level issuer emulator. It plays the issuer (and the middleware)
//!   against any [`SecureKeyStore`](airtight_proto::sks::SecureKeyStore), honestly (correct
//!   session.1 MACs, encrypted secrets, KMK authorizations, every attestation verified) or
//!   hostilely (requests built without being sent and altered after their MAC, MACs at any
//!   counter value, skipped, replayed or forged counters, foreign authorizations).
//! - [`card`], [`expect_code`] and [`public_key`]: a fresh in-memory reference card, the assertion the
//!   negative tests use, and a generated key for verifying signatures.
//!
//! Nothing here is for production: the emulator's CA is the `airtight-pki` test issuer CA and
//! its randomness is seeded.
//!
//! ```
//! use airtight_testkit::emulator::{Issuer, KeySpec, uri};
//! let mut card = airtight_testkit::card(7);
//! let mut is = Issuer::new(7);
//! is.create_session(&mut card)?;
//! let key = is.provision_key(&mut card, &KeySpec::new("Key.1", uri::P256))?;
//! is.close(&mut card)?;
//! assert_eq!(key.id, "Key.1");
//! # Ok::<(), airtight_testkit::emulator::EmuError>(())
//! ```
#![forbid(unsafe_code)]

pub mod driver;
pub mod emulator;

use airtight_card::ReferenceSks;
use airtight_proto::sks::{SksError, SksErrorCode};

use emulator::EmuError;

/// A reference card with the P-256 test device, in memory, its clock at
/// [`airtight_card::TEST_TIME`], its randomness seeded by `seed`.
pub fn card(seed: u64) -> ReferenceSks {
    ReferenceSks::in_memory_for_tests(seed)
}

/// Asserts that `r` is the card's refusal with `code` (a direct SKS call or an emulator call)
/// and returns the card's error.
///
/// # Panics
///
/// If `r` is `Ok`, another code, or an emulator verification failure.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug, E: Into<EmuError>>(
    r: Result<T, E>,
    code: SksErrorCode,
) -> SksError {
    match r.map_err(Into::into) {
        Ok(v) => panic!("expected {code}, got Ok({v:?})"),
        Err(EmuError::Sks(e)) => {
            assert_eq!(e.code(), code, "wrong code: {e}");
            e
        }
        Err(e) => panic!("expected {code}, got {e}"),
    }
}

/// The public key of a SubjectPublicKeyInfo (a generated key, for verifying its signatures).
///
/// # Panics
///
/// If `spki` is not a public key `airtight-proto` reads.
#[track_caller]
pub fn public_key(spki: &[u8]) -> airtight_proto::keys::PublicKey {
    match airtight_proto::keys::PublicKey::from_spki_der(spki) {
        Ok(k) => k,
        Err(e) => panic!("not a public key: {e}"),
    }
}
