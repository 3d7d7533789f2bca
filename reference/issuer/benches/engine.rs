//! Issuer CPU per session (one P-256 key, E2ES with a P-256 device) beside the cost of its
//! mandatory crypto, and a full in-process provisioning (engine + middleware + reference card).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use airtight_card::{ReferenceSks, TEST_TIME};
use airtight_client::config::{FixedClock, LocalTime};
use airtight_client::engine::{Middleware, SessionContext};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_issuer::{Issuer, Next, Policy, SessionState, StartRequest};
use airtight_proto::keys::{Curve, PrivateKey, SignatureAlgorithm, ecdh_z};
use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const URI: &str = "http://127.0.0.1:18080/keygen2";
const NOW: i64 = TEST_TIME as i64;

fn issuer() -> Issuer {
    let mut iss = Issuer::new(URI, Vec::new(), Policy::default());
    iss.ca = Some(airtight_pki::fixtures::issuer_ca());
    iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
    iss
}

fn middleware(seed: u64) -> Middleware<ReferenceSks> {
    Middleware::new(
        ReferenceSks::in_memory_for_tests(seed),
        SessionContext::plain(URI),
    )
    .with_ui(Box::new(AutoUi::accept_all()))
    .with_pin_source(PinSource::from_lines("1357"))
    .with_clock(Box::new(FixedClock(LocalTime {
        unix_seconds: NOW,
        offset_minutes: 0,
    })))
}

/// The middleware messages of one session (deterministic for a fixed seed).
fn record_responses(iss: &Issuer) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut st, m) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
    let mut mw = middleware(1);
    let mut req = m.to_bytes();
    let mut out = Vec::new();
    loop {
        let resp = mw.handle_bytes(&req).unwrap();
        out.push(resp.clone());
        match iss.handle(&mut st, &resp, &mut rng, NOW).unwrap() {
            Next::Request(m) => req = m.to_bytes(),
            Next::Done(_) => return out,
        }
    }
}

fn issuer_session(iss: &Issuer, responses: &[Vec<u8>]) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut st, m): (SessionState, _) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
    black_box(m.to_bytes());
    for r in responses {
        match iss.handle(&mut st, r, &mut rng, NOW).unwrap() {
            Next::Request(m) => {
                black_box(m.to_bytes());
            }
            Next::Done(rec) => {
                black_box(rec);
            }
        }
    }
}

fn benches(c: &mut Criterion) {
    let iss = issuer();
    let responses = record_responses(&iss);
    c.bench_function("issuer engine: one session (1 P-256 key, E2ES)", |b| {
        b.iter(|| issuer_session(&iss, &responses))
    });

    // The mandatory public-key crypto of that session: ephemeral keygen + ECDH, the device
    // path validation (one ECDSA verify), the session attestation (one ECDSA verify) and one
    // end-entity certificate (one ECDSA sign).
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let device = PrivateKey::generate_ec(Curve::P256, &mut rng);
    let sig = device
        .sign(SignatureAlgorithm::ES256, b"attestation input")
        .unwrap();
    let device_pub = device.public_key();
    let peer = PrivateKey::generate_ec(Curve::P256, &mut rng).public_key();
    let ca = airtight_pki::fixtures::issuer_ca();
    let spki = device_pub.to_spki_der().unwrap();
    let profile = airtight_pki::Profile::end_entity("CN=bench");
    let dev = airtight_pki::fixtures::device_p256();
    let path = dev.certificate_path.clone();
    let anchors = [airtight_pki::fixtures::device_trust_anchor()];
    c.bench_function("mandatory crypto of one session", |b| {
        b.iter(|| {
            let eph = airtight_proto::keys::generate_ephemeral(Curve::P256, &mut rng);
            black_box(ecdh_z(&eph, &peer).unwrap());
            black_box(airtight_pki::verify_path(&path, &anchors, NOW).unwrap());
            device_pub
                .verify(SignatureAlgorithm::ES256, b"attestation input", &sig)
                .unwrap();
            let serial = airtight_pki::Serial::from_u64(7).unwrap();
            black_box(ca.issue_at(&spki, &profile, &serial, NOW).unwrap());
        })
    });

    c.bench_function(
        "full in-process provisioning (engine + middleware + card)",
        |b| {
            b.iter(|| {
                let mut rng = ChaCha20Rng::seed_from_u64(3);
                let (mut st, m) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
                let mut mw = middleware(3);
                let mut req = m.to_bytes();
                loop {
                    let resp = mw.handle_bytes(&req).unwrap();
                    match iss.handle(&mut st, &resp, &mut rng, NOW).unwrap() {
                        Next::Request(m) => req = m.to_bytes(),
                        Next::Done(rec) => break black_box(rec),
                    }
                }
            })
        },
    );
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(engine);
