//! Same seed + same clock -> identical messages; a session survives being serialized between
//! every step (an issuer restart).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_card::ReferenceSks;
use airtight_issuer::{Next, Policy, SessionState, StartRequest};
use common::e2e::{NOW, issuer, middleware, run_clean};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn same_seed_same_clock_same_transcript() {
    for privacy in [false, true] {
        let iss = issuer(Policy {
            privacy_enabled: privacy,
            ..Policy::default()
        });
        let a = run_clean(&iss, ReferenceSks::in_memory_for_tests(21), "1357", 21);
        let b = run_clean(&iss, ReferenceSks::in_memory_for_tests(21), "1357", 21);
        a.result.as_ref().unwrap();
        assert_eq!(a.transcript.len(), 8);
        assert_eq!(a.transcript, b.transcript);
        assert_eq!(a.result, b.result);
        // Another issuer seed changes every issuer message.
        let c = run_clean(&iss, ReferenceSks::in_memory_for_tests(21), "1357", 22);
        for i in (0..8).step_by(2) {
            assert_ne!(a.transcript[i], c.transcript[i], "issuer message {i}");
        }
    }
}

#[test]
fn a_session_survives_an_issuer_restart_at_every_step() {
    let iss = issuer(Policy::default());
    let reference = run_clean(&iss, ReferenceSks::in_memory_for_tests(23), "1357", 23);
    // The same session, with the state stored as JSON and the issuer rebuilt between steps.
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let (st, first) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
    let mut stored = st.to_json().unwrap();
    let mut mw = middleware(ReferenceSks::in_memory_for_tests(23), "1357", NOW);
    let mut transcript = vec![first.to_bytes()];
    let mut req = first.to_bytes();
    let record = loop {
        let resp = mw.handle_bytes(&req).unwrap();
        transcript.push(resp.clone());
        let restarted = issuer(Policy::default());
        let mut st = SessionState::from_json(&stored).unwrap();
        match restarted.handle(&mut st, &resp, &mut rng, NOW).unwrap() {
            Next::Request(m) => {
                req = m.to_bytes();
                transcript.push(req.clone());
                stored = st.to_json().unwrap();
            }
            Next::Done(rec) => break rec,
        }
    };
    assert_eq!(transcript, reference.transcript);
    assert_eq!(Some(&record), reference.result.as_ref().ok());
}
