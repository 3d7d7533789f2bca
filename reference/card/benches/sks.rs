//! The reference card's cost for a full provisioning (createProvisioningSession, one
//! createKeyEntry, setCertificatePath, closeProvisioningSession) of one P-256 key and of one
//! RSA-2048 key, on the in-memory store and on the file store, next to the cost of the raw
//! crypto operations the card performs for it: the ephemeral P-256 key pair, the ECDH, the
//! device attestation signature (ES256, the P-256 test device), the key-pair generation and
//! the session-key HMACs (KDF, key MAC and attestation, certificate MAC, close MAC and
//! attestation: 6). Only the time spent inside card calls is measured (a timing wrapper
//! around the card), never the issuer emulator's share. After criterion, a summary prints
//! the card cost / raw crypto ratio. Figures are reported, never asserted.
//!
//! Run: `cargo bench -p airtight-card --bench sks -- --measurement-time 3 --warm-up-time 1`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airtight_card::env::ManualClock;
use airtight_card::{CardConfig, ReferenceSks, Storage, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::keys::{self, Curve, PrivateKey, SignatureAlgorithm};
use airtight_proto::session1::{Method, SessionCrypto};
use airtight_proto::sks::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, DeviceInfo, EnumeratedKey, EnumeratedProvisioningSession, Extension,
    ExtensionSubType, KeyAttributes, KeyData, KeyHandle, KeyProtectionInfo, PinPolicyHandle,
    ProvisioningHandle, ProvisioningSessionResult, PukPolicyHandle, SecureKeyStore, SksError,
};
use airtight_testkit::emulator::{Issuer, KeySpec, uri};
use criterion::Criterion;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

/// A card whose calls are timed: `spent` sums the time inside the card.
struct Timed<'a> {
    sks: &'a mut ReferenceSks,
    spent: Duration,
}

macro_rules! timed {
    ($( fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )+) => {
        impl SecureKeyStore for Timed<'_> {
            $( fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret, SksError> {
                let t = Instant::now();
                let r = self.sks.$name($($arg),*);
                self.spent += t.elapsed();
                r
            } )+
        }
    };
}

timed! {
    fn get_device_info(&mut self) -> DeviceInfo;
    fn update_firmware(&mut self, chunk: &[u8]) -> String;
    fn create_provisioning_session(&mut self, params: &CreateProvisioningSessionParams) -> ProvisioningSessionResult;
    fn close_provisioning_session(&mut self, provisioning_handle: ProvisioningHandle, nonce: &[u8], mac: &[u8]) -> Vec<u8>;
    fn enumerate_provisioning_sessions(&mut self, provisioning_handle: ProvisioningHandle, provisioning_state: bool) -> Option<EnumeratedProvisioningSession>;
    fn abort_provisioning_session(&mut self, provisioning_handle: ProvisioningHandle) -> ();
    fn update_key_management_key(&mut self, provisioning_handle: ProvisioningHandle, key_management_key: &[u8], authorization: &[u8]) -> ();
    fn create_puk_policy(&mut self, params: &CreatePukPolicyParams) -> PukPolicyHandle;
    fn create_pin_policy(&mut self, params: &CreatePinPolicyParams) -> PinPolicyHandle;
    fn create_key_entry(&mut self, params: &CreateKeyEntryParams) -> KeyData;
    fn get_key_handle(&mut self, provisioning_handle: ProvisioningHandle, id: &str) -> KeyHandle;
    fn set_certificate_path(&mut self, key_handle: KeyHandle, certificate_path: &[Vec<u8>], mac: &[u8]) -> ();
    fn import_symmetric_key(&mut self, key_handle: KeyHandle, encrypted_key: &[u8], mac: &[u8]) -> ();
    fn import_private_key(&mut self, key_handle: KeyHandle, encrypted_key: &[u8], mac: &[u8]) -> ();
    fn add_extension(&mut self, key_handle: KeyHandle, type_uri: &str, sub_type: airtight_proto::policy::EnumArg<ExtensionSubType>, qualifier: &str, extension_data: &[u8], mac: &[u8]) -> ();
    fn post_delete_key(&mut self, provisioning_handle: ProvisioningHandle, target_key_handle: KeyHandle, authorization: &[u8], mac: &[u8]) -> ();
    fn post_unlock_key(&mut self, provisioning_handle: ProvisioningHandle, target_key_handle: KeyHandle, authorization: &[u8], mac: &[u8]) -> ();
    fn post_update_key(&mut self, key_handle: KeyHandle, target_key_handle: KeyHandle, authorization: &[u8], mac: &[u8]) -> ();
    fn post_clone_key_protection(&mut self, key_handle: KeyHandle, target_key_handle: KeyHandle, authorization: &[u8], mac: &[u8]) -> ();
    fn enumerate_keys(&mut self, key_handle: KeyHandle) -> Option<EnumeratedKey>;
    fn get_key_attributes(&mut self, key_handle: KeyHandle) -> KeyAttributes;
    fn get_key_protection_info(&mut self, key_handle: KeyHandle) -> KeyProtectionInfo;
    fn get_extension(&mut self, key_handle: KeyHandle, type_uri: &str) -> Extension;
    fn set_property(&mut self, key_handle: KeyHandle, type_uri: &str, name: &str, value: &str) -> ();
    fn delete_key(&mut self, key_handle: KeyHandle, authorization: Option<&[u8]>) -> ();
    fn export_key(&mut self, key_handle: KeyHandle, authorization: Option<&[u8]>) -> Zeroizing<Vec<u8>>;
    fn unlock_key(&mut self, key_handle: KeyHandle, authorization: &[u8]) -> ();
    fn change_pin(&mut self, key_handle: KeyHandle, authorization: &[u8], new_pin: &[u8]) -> ();
    fn set_pin(&mut self, key_handle: KeyHandle, authorization: &[u8], new_pin: &[u8]) -> ();
    fn sign_data(&mut self, key_handle: KeyHandle, algorithm: &str, parameters: Option<&[u8]>, biometric_auth: bool, authorization: Option<&[u8]>, data: &[u8]) -> Vec<u8>;
    fn asymmetric_key_decrypt(&mut self, key_handle: KeyHandle, algorithm: &str, parameters: Option<&[u8]>, biometric_auth: bool, authorization: Option<&[u8]>, data: &[u8]) -> Zeroizing<Vec<u8>>;
    fn key_agreement(&mut self, key_handle: KeyHandle, algorithm: &str, parameters: Option<&[u8]>, biometric_auth: bool, authorization: Option<&[u8]>, public_key: &[u8]) -> Zeroizing<Vec<u8>>;
    fn perform_hmac(&mut self, key_handle: KeyHandle, algorithm: &str, parameters: Option<&[u8]>, biometric_auth: bool, authorization: Option<&[u8]>, data: &[u8]) -> Vec<u8>;
    fn symmetric_key_encrypt(&mut self, key_handle: KeyHandle, algorithm: &str, mode: bool, parameters: Option<&[u8]>, biometric_auth: bool, authorization: Option<&[u8]>, data: &[u8]) -> Zeroizing<Vec<u8>>;
}

/// A card (P-256 test device) on memory or on a fresh temporary directory.
fn card(file: bool, seed: u64) -> (ReferenceSks, Option<tempfile::TempDir>) {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        seed,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    let dir = file.then(|| tempfile::tempdir().unwrap());
    if let Some(d) = &dir {
        c.storage = Storage::Dir(d.path().to_path_buf());
    }
    (ReferenceSks::open(c).unwrap(), dir)
}

/// One full provisioning of one key; returns the time spent inside the card.
fn provision(sks: &mut ReferenceSks, seed: u64, alg: &str) -> Duration {
    let mut t = Timed {
        sks,
        spent: Duration::ZERO,
    };
    let mut is = Issuer::new(seed);
    is.create_session(&mut t).unwrap();
    let k = is.provision_key(&mut t, &KeySpec::new("K", alg)).unwrap();
    is.close(&mut t).unwrap();
    black_box(k);
    t.spent
}

/// The raw crypto of one provisioning, by part.
struct Raw {
    device: PrivateKey,
    server: airtight_proto::keys::PublicKey,
    rng: ChaCha20Rng,
}

impl Raw {
    fn new() -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let device = airtight_pki::fixtures::device(DeviceKeyKind::P256);
        let device =
            PrivateKey::from_pkcs8_der(&device.signing_key.to_pkcs8_der().unwrap()).unwrap();
        let server = PrivateKey::generate_ec(Curve::P256, &mut rng).public_key();
        Self {
            device,
            server,
            rng,
        }
    }
    /// An ephemeral key pair with its public key computed and encoded (as the card sends it).
    fn ephemeral(&mut self) -> (PrivateKey, Vec<u8>) {
        let k = PrivateKey::generate_ec(Curve::P256, &mut self.rng);
        let spki = k.public_key().to_spki_der().unwrap();
        (k, spki)
    }
    fn ecdh(&mut self, eph: &PrivateKey) -> Zeroizing<Vec<u8>> {
        keys::ecdh_z(eph, &self.server).unwrap()
    }
    /// ES256 over a session attestation input of typical size (about 560 bytes).
    fn device_sign(&mut self) -> Vec<u8> {
        self.device
            .sign(SignatureAlgorithm::ES256, &[0x5a; 560])
            .unwrap()
    }
    /// One session-key derivation (HMAC-SHA256 under SK ‖ modifier) over 200 bytes.
    fn hmac(crypto: &mut SessionCrypto) -> [u8; 32] {
        if crypto.remaining_limit() == 0 {
            // The budget is 65535 uses; a fresh one costs nothing measurable once per 65535.
            *crypto = SessionCrypto::new([7; 32], u16::MAX);
        }
        crypto
            .mac_at(Method::CreateKeyEntry, 0, &[0x11; 200])
            .unwrap()
    }
    /// A key pair with its public key computed and encoded (as createKeyEntry returns it).
    fn keygen(&mut self, rsa: bool) -> Vec<u8> {
        let k = if rsa {
            PrivateKey::generate_rsa(2048, 65537, &mut self.rng).unwrap()
        } else {
            PrivateKey::generate_ec(Curve::P256, &mut self.rng)
        };
        k.public_key().to_spki_der().unwrap()
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("card");
    for (alg, name) in [(uri::P256, "p256"), (uri::RSA2048, "rsa2048")] {
        for file in [false, true] {
            let store = if file { "file" } else { "memory" };
            if alg == uri::RSA2048 {
                g.sample_size(10);
            } else {
                g.sample_size(30);
            }
            let (mut sks, _dir) = card(file, 7);
            let mut seed = 0u64;
            g.bench_function(format!("provision_{name}_{store}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        seed += 1;
                        total += provision(&mut sks, seed, alg);
                    }
                    total
                })
            });
        }
    }
    g.sample_size(30);
    let mut raw = Raw::new();
    g.bench_function("raw_p256_ephemeral_keygen", |b| {
        b.iter(|| black_box(raw.ephemeral()))
    });
    let (eph, _) = raw.ephemeral();
    g.bench_function("raw_ecdh_p256", |b| b.iter(|| black_box(raw.ecdh(&eph))));
    g.bench_function("raw_device_sign_es256", |b| {
        b.iter(|| black_box(raw.device_sign()))
    });
    let mut crypto = SessionCrypto::new([7; 32], u16::MAX);
    g.bench_function("raw_hmac_sha256", |b| {
        b.iter(|| black_box(Raw::hmac(&mut crypto)))
    });
    g.bench_function("raw_p256_keygen", |b| {
        b.iter(|| black_box(raw.keygen(false)))
    });
    g.sample_size(10);
    g.bench_function("raw_rsa2048_keygen", |b| {
        b.iter(|| black_box(raw.keygen(true)))
    });
    g.finish();
}

/// The mean of `n` runs of `f`.
fn mean(n: u32, mut f: impl FnMut() -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..n {
        total += f();
    }
    total / n
}

fn timed(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// A plain summary: card cost, raw crypto cost, ratio (own measurements, means).
fn summary() {
    let mut raw = Raw::new();
    let mut crypto = SessionCrypto::new([7; 32], u16::MAX);
    let (eph, _) = raw.ephemeral();
    let t_eph = mean(200, || timed(|| drop(black_box(raw.ephemeral()))));
    let t_ecdh = mean(200, || timed(|| drop(black_box(raw.ecdh(&eph)))));
    let t_sign = mean(200, || timed(|| drop(black_box(raw.device_sign()))));
    let t_hmac = mean(2000, || {
        timed(|| {
            black_box(Raw::hmac(&mut crypto));
        })
    });
    let t_p256 = mean(200, || timed(|| drop(black_box(raw.keygen(false)))));
    let t_rsa = mean(12, || timed(|| drop(black_box(raw.keygen(true)))));
    let common = t_eph + t_ecdh + t_sign + 6 * t_hmac;
    println!("\n== card provisioning cost vs raw crypto (means) ==");
    println!(
        "raw: P-256 ephemeral keygen {t_eph:?}, ECDH {t_ecdh:?}, ES256 device signature \
         {t_sign:?}, HMAC-SHA256 {t_hmac:?} (x6), P-256 keygen {t_p256:?}, RSA-2048 keygen {t_rsa:?}"
    );
    for (alg, name, keygen, n) in [
        (uri::P256, "P-256", t_p256, 200u32),
        (uri::RSA2048, "RSA-2048", t_rsa, 12),
    ] {
        let raw_total = common + keygen;
        for file in [false, true] {
            let (mut sks, _dir) = card(file, 9);
            let mut seed = 1_000_000u64;
            let card_t = mean(n, || {
                seed += 1;
                provision(&mut sks, seed, alg)
            });
            println!(
                "{name} key, {} store: card {card_t:?}, raw crypto {raw_total:?}, ratio {:.2}",
                if file { "file" } else { "memory" },
                card_t.as_secs_f64() / raw_total.as_secs_f64()
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    summary();
}
