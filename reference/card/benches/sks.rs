//! The reference card's cost for a full provisioning (session, one key, certificate, close) of
//! one P-256 key and of one RSA-2048 key, next to the raw crypto the card performs for it:
//! the ephemeral P-256 key pair and ECDH, the device attestation (ES256), and the key pair
//! generation. The flows include the issuer emulator's share (its ECDH, MACs, attestation
//! checks and the certificate it issues), so the ratio is an upper bound of the card overhead.
//! In-memory storage; figures are reported, never asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use airtight_proto::keys::{self, Curve, PrivateKey, SignatureAlgorithm};
use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use support::{Issuer, KeySpec, uri};

fn provision(seed: u64, alg: &str) {
    let mut sks = support::card(seed);
    let mut is = Issuer::new(seed);
    is.create_session(&mut sks).unwrap();
    let k = is.provision_key(&mut sks, &KeySpec::new("K", alg)).unwrap();
    is.close(&mut sks).unwrap();
    black_box(k);
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("card");
    g.measurement_time(Duration::from_secs(5));
    let mut seed = 0u64;
    g.bench_function("provision_p256", |b| {
        b.iter(|| {
            seed += 1;
            provision(seed, uri::P256)
        })
    });
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let device = PrivateKey::generate_ec(Curve::P256, &mut rng);
    g.bench_function("raw_p256_session_and_key", |b| {
        b.iter(|| {
            let server = PrivateKey::generate_ec(Curve::P256, &mut rng);
            let eph = PrivateKey::generate_ec(Curve::P256, &mut rng);
            let z = keys::ecdh_z(&eph, &server.public_key()).unwrap();
            let sig = device.sign(SignatureAlgorithm::ES256, &z).unwrap();
            let key = PrivateKey::generate_ec(Curve::P256, &mut rng);
            black_box((sig, key));
        })
    });
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("provision_rsa2048", |b| {
        b.iter(|| {
            seed += 1;
            provision(seed, uri::RSA2048)
        })
    });
    g.bench_function("raw_rsa2048_keygen", |b| {
        b.iter(|| black_box(PrivateKey::generate_rsa(2048, 65537, &mut rng).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
