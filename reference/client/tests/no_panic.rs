//! Nothing an issuer sends makes the engine panic, and every failure after the session exists
//! aborts it ([KG2-FLW-006]): recorded sessions with one issuer message mutated byte-wise or
//! value-wise.
#![allow(clippy::unwrap_used)]

mod support;

use airtight_client::UnixTime;
use airtight_client::{AbortStatus, ManualClock, Middleware, PinSource, SessionContext};
use airtight_proto::messages::Message;
use proptest::prelude::*;
use serde_json::Value;
use support::*;

const SESSIONS: [&str; 5] = [
    "e2es-ec-device",
    "preset-pin-with-puk",
    "user-pin-multiple-keys",
    "extensions-propertybag-logotype",
    "import-private-key",
];

fn scripted(rel: &str) -> (FakeSks, Vec<Vec<u8>>) {
    let msgs = session_messages(rel);
    let mut sks = FakeSks::new(reference_like_device(Vec::new()));
    for (_, _, m) in &msgs {
        match m {
            Message::ProvisioningInitializationResponse(r) => {
                sks.session_results.push_back((
                    r.client_session_id.clone(),
                    r.attestation.clone(),
                    spki_of(&r.client_ephemeral_key),
                ));
                if let Some(p) = &r.device_certificate_path {
                    sks.device.certificate_path = p.clone();
                }
            }
            Message::KeyCreationResponse(r) => {
                for g in &r.generated_keys {
                    sks.key_results.insert(
                        g.id.clone(),
                        (spki_of(&g.public_key), g.attestation.to_vec()),
                    );
                }
            }
            _ => {}
        }
    }
    let reqs = msgs.into_iter().step_by(2).map(|(_, b, _)| b).collect();
    (sks, reqs)
}

/// Runs the session with `reqs`; checks the abort invariant on failure.
fn drive(mut sks: FakeSks, reqs: &[Vec<u8>]) {
    let mut mw = Middleware::new(
        &mut sks,
        SessionContext::plain("http://127.0.0.1:18080/keygen2"),
    )
    .with_pin_source(PinSource::Repeat("135790".to_owned().into()))
    .with_clock(Box::new(ManualClock::new(UnixTime::from_secs(
        1_795_353_378,
    ))));
    let mut failed = None;
    for r in reqs {
        if let Err(e) = mw.handle_bytes(r) {
            failed = Some(e);
            break;
        }
    }
    drop(mw);
    if let Some(e) = failed {
        if e.abort == AbortStatus::Aborted {
            assert_eq!(sks.calls.last().unwrap(), "abortProvisioningSession");
        }
        // No open session is left behind.
        assert!(sks.sessions.iter().all(|s| !s.open), "{e}: {:?}", sks.calls);
    }
}

/// Replaces the `n`-th scalar of a JSON value (depth first) with `with`.
fn replace_nth(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    match v {
        Value::Object(m) => m.values_mut().any(|x| replace_nth(x, n, with)),
        Value::Array(a) => a.iter_mut().any(|x| replace_nth(x, n, with)),
        _ => {
            if *n == 0 {
                *v = with.clone();
                true
            } else {
                *n -= 1;
                false
            }
        }
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,40}".prop_map(Value::String),
        Just(Value::String(
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()
        )),
        Just(Value::Array(vec![])),
        Just(Value::Object(Default::default())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn mutated_bytes_never_panic(
        s in 0..SESSIONS.len(),
        which in 0usize..4,
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let (sks, mut reqs) = scripted(SESSIONS[s]);
        let which = which % reqs.len();
        let i = pos.index(reqs[which].len());
        reqs[which][i] = byte;
        drive(sks, &reqs);
    }

    #[test]
    fn mutated_values_never_panic(
        s in 0..SESSIONS.len(),
        which in 0usize..4,
        nth in 0usize..64,
        with in scalar(),
    ) {
        let (sks, mut reqs) = scripted(SESSIONS[s]);
        let which = which % reqs.len();
        let mut v: Value = serde_json::from_slice(&reqs[which]).unwrap();
        let mut n = nth;
        replace_nth(&mut v, &mut n, &with);
        reqs[which] = serde_json::to_vec(&v).unwrap();
        drive(sks, &reqs);
    }
}
