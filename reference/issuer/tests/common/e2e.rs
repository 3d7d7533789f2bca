//! In-process sessions: engine <-> middleware (`airtight-client`) <-> reference card
//! (`airtight-card`), with a hook to tamper with each middleware message on its way back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use airtight_card::{ReferenceSks, TEST_TIME};
use airtight_client::config::{FixedClock, LocalTime};
use airtight_client::engine::{Middleware, SessionContext};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_issuer::{
    IssuanceRecord, Issuer, IssuerError, Next, Policy, SessionState, StartRequest,
};
use airtight_proto::keys::{Curve, PrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const URI: &str = "http://127.0.0.1:18080/keygen2";
/// The issuer's clock in these sessions: the card's test time.
pub const NOW: i64 = TEST_TIME as i64;

/// A KMK from a fixed seed (P-256).
pub fn kmk(seed: u64) -> PrivateKey {
    PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(seed))
}

/// An issuer with the test issuer CA, the test device anchor and a KMK.
pub fn issuer(policy: Policy) -> Issuer {
    let mut iss = Issuer::new(URI, Vec::new(), policy);
    iss.ca = Some(airtight_pki::fixtures::issuer_ca());
    iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
    iss.kmk = Some(kmk(7));
    iss
}

/// A middleware on `card`, accepting everything, entering `pins` for user-defined PINs.
pub fn middleware(card: ReferenceSks, pins: &str, now: i64) -> Middleware<ReferenceSks> {
    Middleware::new(card, SessionContext::plain(URI))
        .with_ui(Box::new(AutoUi::accept_all()))
        .with_pin_source(PinSource::from_lines(pins))
        .with_clock(Box::new(FixedClock(LocalTime {
            unix_seconds: now,
            offset_minutes: 0,
        })))
}

/// One whole session. `tamper(i, body)` may rewrite the i-th middleware message (0 =
/// InvocationResponse). Returns the transcript (every body, issuer's first), the final state and
/// the issuer's verdict.
pub struct Run {
    pub transcript: Vec<Vec<u8>>,
    pub state: SessionState,
    pub result: Result<IssuanceRecord, IssuerError>,
    pub card: Option<ReferenceSks>,
}

pub fn run(
    iss: &Issuer,
    card: ReferenceSks,
    pins: &str,
    seed: u64,
    now: i64,
    start: StartRequest,
    mut tamper: impl FnMut(usize, Vec<u8>) -> Vec<u8>,
) -> Run {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut st, first) = iss.start(start, &mut rng, now).unwrap();
    let mut mw = middleware(card, pins, now);
    let mut transcript = vec![first.to_bytes()];
    let mut req = first.to_bytes();
    let mut i = 0;
    loop {
        let resp = match mw.handle_bytes(&req) {
            Ok(r) => r,
            Err(e) => panic!("middleware refused: {e}"),
        };
        let resp = tamper(i, resp);
        i += 1;
        transcript.push(resp.clone());
        match iss.handle(&mut st, &resp, &mut rng, now) {
            Ok(Next::Request(m)) => {
                req = m.to_bytes();
                transcript.push(req.clone());
            }
            Ok(Next::Done(rec)) => {
                return Run {
                    transcript,
                    state: st,
                    result: Ok(rec),
                    card: Some(mw.into_sks()),
                };
            }
            Err(e) => {
                return Run {
                    transcript,
                    state: st,
                    result: Err(e),
                    card: None,
                };
            }
        }
    }
}

/// An untampered run.
pub fn run_clean(iss: &Issuer, card: ReferenceSks, pins: &str, seed: u64) -> Run {
    run(
        iss,
        card,
        pins,
        seed,
        NOW,
        StartRequest::default(),
        |_, b| b,
    )
}

/// Edits a JSON body.
pub fn edit(body: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(body).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}
