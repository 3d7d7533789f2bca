//! Same seed + same clock -> identical messages; a session survives being serialized between
//! every step (an issuer restart).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_card::ReferenceSks;
use airtight_issuer::Policy;
use airtight_testkit::driver::{Party, StepOutcome};
use common::e2e::{driver, issuer, run_clean};

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
    // The same session on the shared driver, the issuer process restarted (a new engine, its
    // in-memory state gone, the state reloaded from its store) before every message it gets.
    let mut d = driver(&iss, ReferenceSks::in_memory_for_tests(23), "1357", 23);
    let mut transcript = Vec::new();
    let record = loop {
        if d.in_flight()
            .next()
            .is_some_and(|(to, _)| *to == Party::Issuer)
        {
            *d.issuer_mut() = issuer(Policy::default());
            d.restart_issuer();
            assert!(d.issuer_state().is_none());
        }
        let t = d.step();
        transcript.push(t.delivered.expect("a message in flight").1);
        match t.outcome {
            StepOutcome::Continue => {}
            StepOutcome::Completed(rec) => break *rec,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(transcript, reference.transcript);
    assert_eq!(Some(&record), reference.result.as_ref().ok());
}
