//! In-process sessions: engine <-> middleware (`airtight-client`) <-> reference card
//! (`airtight-card`), run by the shared driver of `airtight-testkit`, with a hook to tamper
//! with each middleware message on its way back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use airtight_card::{ReferenceSks, TEST_TIME};
use airtight_issuer::{IssuanceRecord, Issuer, IssuerError, Policy, SessionState, StartRequest};
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::messages::Message;
use airtight_proto::time::UnixTime;
use airtight_testkit::driver::{Driver, DriverConfig, Party, StepOutcome};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const URI: &str = "http://127.0.0.1:18080/keygen2";
/// The issuer's clock in these sessions: the card's test time.
pub const NOW: UnixTime = TEST_TIME;

/// A KMK from a fixed seed (P-256).
pub fn kmk(seed: u64) -> PrivateKey {
    PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(seed))
}

/// An issuer with the test issuer CA, the test device anchor and a KMK (`kmk(7)`).
pub fn issuer(policy: Policy) -> Issuer {
    airtight_testkit::driver::test_issuer(URI, policy)
}

/// A started session on the shared driver: the issuer `iss` drawing from the ChaCha20 stream
/// of `seed`, `card` reached directly, the user entering `pins`, the clock at [`NOW`]. The
/// InvocationRequest is in flight.
pub fn driver(iss: &Issuer, card: ReferenceSks, pins: &str, seed: u64) -> Driver {
    let mut config = DriverConfig::new(seed);
    config.user_pins = pins.to_owned();
    config.start_time = TEST_TIME;
    config.issuer_uri = URI.to_owned();
    let mut d = Driver::with_card(config, iss.clone(), card).unwrap();
    d.begin().unwrap();
    d
}

/// Steps `d` honestly until the next message in flight has `qualifier`; returns its bytes
/// (still in flight).
pub fn step_until(d: &mut Driver, qualifier: &str) -> Vec<u8> {
    for _ in 0..16 {
        if let Some((_, b)) = d.in_flight().next()
            && Message::decode(b).is_ok_and(|m| m.qualifier() == qualifier)
        {
            return b.clone();
        }
        let t = d.step();
        assert_eq!(t.outcome, StepOutcome::Continue, "before {qualifier}");
    }
    panic!("no {qualifier} within 16 steps")
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
    now: UnixTime,
    start: StartRequest,
    mut tamper: impl FnMut(usize, Vec<u8>) -> Vec<u8>,
) -> Run {
    // The shared three-party driver (airtight-testkit): the issuer draws from the ChaCha20
    // stream of `seed`, the clock is `now`, the card is reached directly.
    let mut config = DriverConfig::new(seed);
    config.user_pins = pins.to_owned();
    config.start_time = now;
    config.issuer_uri = URI.to_owned();
    config.start = start;
    let mut d = Driver::with_card(config, iss.clone(), card).unwrap();
    d.begin().unwrap();
    let mut transcript = Vec::new();
    let mut i = 0;
    loop {
        let t = d.step();
        let to = t.delivered_to();
        transcript.push(t.delivered.expect("a message in flight").1);
        match t.outcome {
            StepOutcome::Continue => {}
            StepOutcome::MiddlewareFailed(e) => panic!("middleware refused: {e}"),
            StepOutcome::Completed(rec) => {
                let state = d.issuer_state().unwrap().clone();
                return Run {
                    transcript,
                    state,
                    result: Ok(*rec),
                    card: d.into_card(),
                };
            }
            StepOutcome::IssuerRefused(_) => {
                return Run {
                    transcript,
                    state: d.issuer_state().unwrap().clone(),
                    result: Err(d.last_issuer_error().unwrap().clone()),
                    card: None,
                };
            }
            other => panic!("unexpected step outcome {other:?}"),
        }
        // The middleware's answer is in flight to the issuer: the hook may rewrite it.
        if to == Some(Party::Middleware) {
            d.tamper_next(|b| tamper(i, b));
            i += 1;
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
