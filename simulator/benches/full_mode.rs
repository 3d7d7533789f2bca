//! Full-mode throughput: sessions per second on one core (the issuer engine with its store,
//! the middleware and the reference card over the APDU codec, through `FullBackend`), for two
//! session shapes. A figure, not a test: `cargo bench -p airtight-sim --bench full_mode`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use airtight_bindings::ApduLimits;
use airtight_sim::backend::{
    Backend, CardClass, Inbound, IssuerVerdict, MiddlewareOutcome, MiddlewareVerdict, SessionFacts,
    SessionSpec,
};
use airtight_sim::full::FullBackend;
use airtight_sim::rng::SimRng;

fn spec(index: u64, limits: ApduLimits, puk: bool) -> SessionSpec {
    SessionSpec {
        index,
        card: index,
        issuer: 0,
        card_profile: 0,
        card_class: CardClass::Reference,
        limits,
        ec_keys: 1,
        rsa_keys: 0,
        pin: true,
        puk,
        discovery: false,
        privacy: false,
        import_symmetric: false,
        start_unix: airtight_sim::backend::UnixTime::from_secs(1_767_225_600),
    }
}

/// One honest session in the engine's call order; returns whether it completed.
fn session(b: &mut FullBackend, s: &SessionSpec) -> bool {
    let mut rng = SimRng::derive(1, "bench", s.index);
    let h = b.begin(s, &mut rng).unwrap();
    let mut req = Inbound::Get;
    let mut out = MiddlewareOutcome::default();
    let ok = loop {
        let o = b.issuer(h, 0, req, s.start_unix).unwrap();
        let step = match o.verdict {
            IssuerVerdict::Continue(step) => step,
            IssuerVerdict::Completed => break true,
            IssuerVerdict::Refused(_) => break false,
        };
        b.middleware(h, s.start_unix, &mut out).unwrap();
        if out.verdict != MiddlewareVerdict::Continue {
            break false;
        }
        req = Inbound::Post {
            step,
            bytes: out.request_bytes,
        };
    };
    let mut facts = SessionFacts::default();
    b.end(h, airtight_sim::backend::Cause::Completed, &mut facts)
        .unwrap();
    ok
}

fn main() {
    let n: u64 = std::env::var("FULL_MODE_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for (name, limits, puk) in [
        ("1 EC key, PIN, extended APDUs", ApduLimits::EXTENDED, false),
        ("1 EC key, PIN + PUK, short APDUs", ApduLimits::SHORT, true),
    ] {
        let mut b = FullBackend::new();
        // Warm-up (first-use costs: fixtures, tables).
        for i in 0..5 {
            assert!(session(&mut b, &spec(1_000_000 + i, limits, puk)));
        }
        let t = Instant::now();
        for i in 0..n {
            assert!(session(&mut b, &spec(i, limits, puk)));
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "full mode, {name}: {n} sessions in {secs:.2} s = {:.1} sessions/s on one core",
            n as f64 / secs
        );
    }
}
