//! No middleware input makes the engine panic: byte-level mutations of every middleware message
//! of a valid session are either refused with an error (the session then being failed) or,
//! rarely, still a valid message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use airtight_card::ReferenceSks;
use airtight_issuer::{Phase, Policy, SessionState};
use airtight_testkit::driver::{Party, StepOutcome};
use common::e2e::{NOW, driver, issuer};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The state before each middleware message of a clean session, and that message.
fn steps() -> &'static Vec<(String, Vec<u8>)> {
    static STEPS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    STEPS.get_or_init(|| {
        let iss = issuer(Policy::default());
        let mut d = driver(&iss, ReferenceSks::in_memory_for_tests(40), "1357", 40);
        let mut out = Vec::new();
        loop {
            if let Some((Party::Issuer, body)) = d.in_flight().next() {
                let state = d.issuer_state().expect("a live session").to_json().unwrap();
                out.push((state, body.clone()));
            }
            match d.step().outcome {
                StepOutcome::Continue => {}
                StepOutcome::Completed(_) => return out,
                other => panic!("{other:?}"),
            }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_middleware_messages_never_panic(
        step in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let (state, body) = &steps()[step];
        let mut body = body.clone();
        for (pos, b) in edits {
            let i = pos % body.len();
            body[i] = b;
        }
        if let Some(c) = cut {
            body.truncate(c % (body.len() + 1));
        }
        let iss = issuer(Policy::default());
        let mut st = SessionState::from_json(state).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(41);
        if iss.handle(&mut st, &body, &mut rng, NOW).is_err() {
            prop_assert_eq!(st.phase, Phase::Failed);
        }
    }
}
