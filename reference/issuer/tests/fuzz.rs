//! No middleware input makes the engine panic: byte-level mutations of every middleware message
//! of a valid session are either refused with an error (the session then being failed) or,
//! rarely, still a valid message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use airtight_card::ReferenceSks;
use airtight_issuer::{Next, Phase, Policy, SessionState, StartRequest};
use common::e2e::{NOW, issuer, middleware};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The state before each middleware message of a clean session, and that message.
fn steps() -> &'static Vec<(String, Vec<u8>)> {
    static STEPS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    STEPS.get_or_init(|| {
        let iss = issuer(Policy::default());
        let mut rng = ChaCha20Rng::seed_from_u64(40);
        let (mut st, m) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
        let mut mw = middleware(ReferenceSks::in_memory_for_tests(40), "1357", NOW);
        let mut req = m.to_bytes();
        let mut out = Vec::new();
        loop {
            let resp = mw.handle_bytes(&req).unwrap();
            out.push((st.to_json().unwrap(), resp.clone()));
            match iss.handle(&mut st, &resp, &mut rng, NOW).unwrap() {
                Next::Request(m) => req = m.to_bytes(),
                Next::Done(_) => return out,
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
