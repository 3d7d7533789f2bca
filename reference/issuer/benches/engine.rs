//! Issuer CPU per session (one P-256 key, E2ES, P-256 device with its 2-certificate chain,
//! ECDSA CA) beside the cost of its mandatory crypto; the middleware plus reference card per
//! session; a full in-process provisioning (engine + middleware + reference card); the same
//! with an RSA-2048 device. Every bench runs once per crypto backend (aws-lc-rs with its own
//! ECDSA signer, RustCrypto with RFC 6979), in the same run: `cargo bench -p airtight-issuer`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use airtight_card::{ReferenceSks, TEST_TIME};
use airtight_client::engine::{Middleware, SessionContext};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_client::{ManualClock, UnixTime};
use airtight_issuer::{Issuer, Next, Policy, SessionState, StartRequest};
use airtight_pki::DeviceKeyKind;
use airtight_proto::crypto::CryptoProvider;
use airtight_proto::keys::{Curve, PrivateKey, PublicKey, SignatureAlgorithm, ecdh_z};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const URI: &str = "http://127.0.0.1:18080/keygen2";
const NOW: UnixTime = TEST_TIME;

/// The backends, each as the engines use it in production (aws-lc-rs signs ECDSA with random
/// nonces; RustCrypto is RFC 6979).
fn providers() -> Vec<(&'static str, CryptoProvider)> {
    CryptoProvider::all()
        .into_iter()
        .map(|p| {
            let fast = p.with_deterministic_ecdsa(p.name() == "rustcrypto");
            (p.name(), fast)
        })
        .rev()
        .collect()
}

fn issuer() -> Issuer {
    let mut iss = Issuer::new(URI, Vec::new(), Policy::default());
    iss.ca = Some(airtight_pki::fixtures::issuer_ca());
    iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
    iss
}

fn middleware(device: DeviceKeyKind, seed: u64) -> Middleware<ReferenceSks> {
    Middleware::new(
        ReferenceSks::in_memory_with_device(device, seed),
        SessionContext::plain(URI),
    )
    .with_ui(Box::new(AutoUi::accept_all()))
    .with_pin_source(PinSource::from_lines("1357"))
    .with_clock(Box::new(ManualClock::new(NOW)))
}

/// One session's messages: the issuer's requests and the middleware's responses
/// (deterministic for the fixed seeds, on the RFC 6979 provider).
fn record(iss: &Issuer, device: DeviceKeyKind) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    CryptoProvider::rustcrypto().scope(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (mut st, m) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
        let mut mw = middleware(device, 1);
        let mut req = m.to_bytes();
        let (mut requests, mut responses) = (Vec::new(), Vec::new());
        loop {
            requests.push(req.clone());
            let resp = mw.handle_bytes(&req).unwrap();
            responses.push(resp.clone());
            match iss.handle(&mut st, &resp, &mut rng, NOW).unwrap() {
                Next::Request(m) => req = m.to_bytes(),
                Next::Done(_) => return (requests, responses),
            }
        }
    })
}

/// The issuer's side of one recorded session.
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

/// The middleware and card side of one recorded session (same card seed, so the recorded
/// issuer messages stay valid).
fn client_session(mut mw: Middleware<ReferenceSks>, requests: &[Vec<u8>]) {
    for r in requests {
        black_box(mw.handle_bytes(r).unwrap());
    }
}

fn full_session(iss: &Issuer, device: DeviceKeyKind) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (mut st, m) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
    let mut mw = middleware(device, 3);
    let mut req = m.to_bytes();
    loop {
        let resp = mw.handle_bytes(&req).unwrap();
        match iss.handle(&mut st, &resp, &mut rng, NOW).unwrap() {
            Next::Request(m) => req = m.to_bytes(),
            Next::Done(rec) => {
                black_box(rec);
                break;
            }
        }
    }
}

fn benches(c: &mut Criterion) {
    let iss = issuer();
    let (requests, responses) = record(&iss, DeviceKeyKind::P256);
    let (rsa_requests, rsa_responses) = record(&iss, DeviceKeyKind::Rsa2048);

    // The mandatory crypto of the issuer's session: ephemeral keygen + ECDH with the client's
    // ephemeral key (imported from its JWK, which checks the point), the device path
    // validation (the 2-certificate chain against the anchor), the device's session
    // attestation (the device key imported from its certificate's SPKI, one verify), the
    // generated key imported from its JWK (its SPKI is what the key attestation and the
    // certificate cover), one end-entity certificate (one ECDSA sign), the device ID (SHA-1 of
    // the device certificate, [CRY-DID-009]), the session key (one HMAC) and the session MACs
    // (createPINPolicy, createKeyEntry and setCertificatePath MACs, the key attestation, the
    // close MAC and the close attestation: six HMACs over messages of about their size).
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let peer_jwk = PrivateKey::generate_ec(Curve::P256, &mut rng)
        .public_key()
        .to_jwk();
    let ca = airtight_pki::fixtures::issuer_ca();
    let profile = airtight_pki::Profile::end_entity("CN=bench");
    let anchors = [airtight_pki::fixtures::device_trust_anchor()];
    let device_ec = airtight_pki::fixtures::device_p256();
    let device_rsa = airtight_pki::fixtures::device_rsa2048();
    let user_jwk = PrivateKey::generate_ec(Curve::P256, &mut rng)
        .public_key()
        .to_jwk();
    let mac_data = vec![0x5au8; 600];

    for (name, p) in providers() {
        let mut g = c.benchmark_group(name);
        g.sample_size(20);
        g.bench_function("issuer session (1 P-256 key, E2ES, P-256 device)", |b| {
            b.iter(|| p.scope(|| issuer_session(&iss, &responses)))
        });
        g.bench_function("issuer session (1 P-256 key, E2ES, RSA-2048 device)", |b| {
            b.iter(|| p.scope(|| issuer_session(&iss, &rsa_responses)))
        });
        for (label, device, alg) in [
            ("P-256", &device_ec, SignatureAlgorithm::ES256),
            ("RSA-2048", &device_rsa, SignatureAlgorithm::RS256),
        ] {
            let key = device.signing_key.as_proto().clone();
            let sig = p.scope(|| key.sign(alg, b"attestation input").unwrap());
            let path = device.certificate_path.clone();
            g.bench_function(
                format!("mandatory crypto of the issuer session ({label} device)"),
                |b| {
                    b.iter(|| {
                        p.scope(|| {
                            let eph =
                                airtight_proto::keys::generate_ephemeral(Curve::P256, &mut rng);
                            black_box(eph.public_key());
                            let peer = PublicKey::from_jwk(&peer_jwk).unwrap();
                            black_box(ecdh_z(&eph, &peer).unwrap());
                            let verified =
                                airtight_pki::verify_path(&path, &anchors, NOW.secs()).unwrap();
                            let public = PublicKey::from_spki_der(&verified.leaf_spki_der).unwrap();
                            public.verify(alg, b"attestation input", &sig).unwrap();
                            let spki = PublicKey::from_jwk(&user_jwk)
                                .unwrap()
                                .to_spki_der()
                                .unwrap();
                            let serial = airtight_pki::Serial::from_u64(7).unwrap();
                            black_box(ca.issue_at(&spki, &profile, &serial, NOW.secs()).unwrap());
                            black_box(airtight_proto::session1::device_id_string(&path[0], true));
                            let sk = airtight_proto::session1::derive_session_key(
                                &[7u8; 32], "C-1", "S-1", URI, &[9u8; 32],
                            )
                            .unwrap();
                            let backend = airtight_proto::crypto::current().backend;
                            for len in [96, 160, 320, 600, 120, 80] {
                                black_box(backend.hmac_sha256(sk.as_ref(), &mac_data[..len]));
                            }
                        })
                    })
                },
            );
        }
        for (label, device, reqs) in [
            ("P-256", DeviceKeyKind::P256, &requests),
            ("RSA-2048", DeviceKeyKind::Rsa2048, &rsa_requests),
        ] {
            g.bench_function(
                format!("middleware + reference card session ({label} device)"),
                |b| {
                    b.iter_batched(
                        || middleware(device, 1),
                        |mw| p.scope(|| client_session(mw, reqs)),
                        BatchSize::SmallInput,
                    )
                },
            );
            g.bench_function(
                format!("full in-process provisioning ({label} device)"),
                |b| b.iter(|| p.scope(|| full_session(&iss, device))),
            );
        }
        g.finish();
    }
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(engine);
