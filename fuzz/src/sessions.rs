//! The session state machines: the issuer engine fed arbitrary middleware messages for one
//! session, and the middleware engine (on a reference card) fed arbitrary issuer messages.
//!
//! Both start from an honest in-process session (issuer engine, middleware engine, reference
//! card; every party deterministic), computed once per process: the input picks the step to
//! start from (its first byte) and then carries the messages to feed (length-prefixed
//! records, [`crate::records`]). Seeds are the honest messages themselves.

use std::collections::BTreeMap;

use airtight_card::store::SimFs;
use airtight_card::{ReferenceSks, TEST_TIME};
use airtight_client::{ManualClock, UnixTime};
use airtight_client::engine::{Middleware, Phase as MwPhase, SessionContext};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_issuer::{Issuer, IssuerError, Next, Phase, Policy, SessionState, StartRequest};
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::messages::Message;
use airtight_proto::sks::{KeyHandle, ProvisioningHandle, SecureKeyStore};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::{cardkit, oracle};

const URI: &str = "http://127.0.0.1:18080/keygen2";
const NOW: UnixTime = TEST_TIME;
const CARD_SEED: u64 = 11;
const PINS: &str = "1357";

/// An honest session, message by message.
#[derive(Debug)]
pub struct Honest {
    /// The issuer engine (test CA, test device anchor, a KMK).
    pub issuer: Issuer,
    /// The issuer's messages, InvocationRequest first.
    pub issuer_msgs: Vec<Vec<u8>>,
    /// The middleware's messages; `mw_msgs[i]` answers `issuer_msgs[i]`.
    pub mw_msgs: Vec<Vec<u8>>,
    /// The issuer's session state (JSON) before `mw_msgs[i]`.
    pub states: Vec<String>,
    /// The card's calls during the session, `[method number, APDU payload...]`.
    pub card_calls: Vec<Vec<u8>>,
    /// Their results, `[method number, APDU payload...]` (successful calls only).
    pub card_results: Vec<Vec<u8>>,
    /// User calls on the provisioned key (right and wrong PIN, attributes, enumeration).
    pub user_calls: Vec<Vec<u8>>,
    /// The card's store after the session.
    pub provisioned: BTreeMap<String, Vec<u8>>,
}

fn issuer() -> Issuer {
    let mut iss = Issuer::new(URI, Vec::new(), Policy::default());
    iss.ca = Some(airtight_pki::fixtures::issuer_ca());
    iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
    iss.kmk = Some(PrivateKey::generate_ec(
        Curve::P256,
        &mut ChaCha20Rng::seed_from_u64(7),
    ));
    iss
}

/// The middleware of these sessions on a fresh deterministic reference card.
pub fn middleware() -> Middleware<ReferenceSks> {
    middleware_on(ReferenceSks::in_memory_for_tests(CARD_SEED))
}

fn middleware_on<S: SecureKeyStore>(card: S) -> Middleware<S> {
    Middleware::new(card, SessionContext::plain(URI))
        .with_ui(Box::new(AutoUi::accept_all()))
        .with_pin_source(PinSource::from_lines(PINS))
        .with_clock(Box::new(ManualClock::new(NOW)))
}

/// Runs the honest session (once per process).
#[allow(clippy::expect_used)]
pub fn honest() -> &'static Honest {
    thread_local! {
        static H: &'static Honest = Box::leak(Box::new(run_honest()));
    }
    H.with(|h| *h)
}

#[allow(clippy::expect_used)]
fn run_honest() -> Honest {
    let issuer = issuer();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (mut st, first) = issuer
        .start(StartRequest::default(), &mut rng, NOW)
        .expect("the honest session starts");
    let fs = SimFs::new();
    let mut mw = middleware_on(cardkit::recorder(&fs));
    let mut h = Honest {
        issuer: issuer.clone(),
        issuer_msgs: vec![first.to_bytes()],
        mw_msgs: Vec::new(),
        states: Vec::new(),
        card_calls: Vec::new(),
        card_results: Vec::new(),
        user_calls: Vec::new(),
        provisioned: BTreeMap::new(),
    };
    loop {
        let req = h.issuer_msgs.last().cloned().unwrap_or_default();
        let resp = mw
            .handle_bytes(&req)
            .expect("the honest middleware answers");
        h.states.push(st.to_json().expect("state serializes"));
        h.mw_msgs.push(resp.clone());
        match issuer
            .handle(&mut st, &resp, &mut rng, NOW)
            .expect("the honest issuer accepts")
        {
            Next::Request(m) => h.issuer_msgs.push(m.to_bytes()),
            Next::Done(_) => break,
        }
    }
    let mut card = mw.into_sks();
    h.card_calls = std::mem::take(&mut card.0.calls);
    h.card_results = std::mem::take(&mut card.0.results);
    h.provisioned = cardkit::files(&fs);
    // User calls on the new key: recorded, their outcome does not matter.
    if let Ok(Some(k)) = card.enumerate_keys(KeyHandle(0)) {
        let kh = k.key_handle;
        let _ = card.get_device_info();
        let _ = card.get_key_attributes(kh);
        let _ = card.get_key_protection_info(kh);
        let digest = [7u8; 32];
        let _ = card.sign_data(kh, ES256, None, false, Some(&b"0000"[..]), &digest);
        let _ = card.sign_data(kh, ES256, None, false, Some(PINS.as_bytes()), &digest);
        let _ = card.change_pin(kh, PINS.as_bytes(), b"2468");
        let _ = card.enumerate_provisioning_sessions(ProvisioningHandle(0), false);
        let _ = card.delete_key(kh, Some(&b"2468"[..]));
    }
    h.user_calls = std::mem::take(&mut card.0.calls);
    h
}

const ES256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

fn start_step(data: &[u8], n: usize) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (usize::from(b) % n, rest),
        None => (0, data),
    }
}

/// Seeds of [`issuer_session`]: for every step, the honest message and the honest rest of the
/// session.
pub fn issuer_seeds() -> Vec<Vec<u8>> {
    let h = honest();
    let mut out = Vec::new();
    for k in 0..h.mw_msgs.len() {
        let step = u8::try_from(k).unwrap_or_default();
        let mut one = vec![step];
        one.extend(crate::join_records(&h.mw_msgs[k..=k]));
        out.push(one);
        let mut rest = vec![step];
        rest.extend(crate::join_records(&h.mw_msgs[k..]));
        out.push(rest);
    }
    out
}

/// The issuer engine, one session: from the state before middleware message `k` (first input
/// byte), handle each record of the input as a middleware message. Oracles: a message that is
/// refused fails the session (phase `Failed`), after which nothing is accepted, the honest
/// messages included (a session that saw an invalid message accepts nothing more); a finished session accepts nothing either; every request the issuer sends decodes.
pub fn issuer_session(data: &[u8]) {
    let h = honest();
    let (k, rest) = start_step(data, h.states.len());
    let Ok(mut st) = SessionState::from_json(&h.states[k]) else {
        panic!("the recorded state does not load");
    };
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut closed: Option<&'static str> = None;
    for body in crate::records(rest, 8) {
        let r = h.issuer.handle(&mut st, body, &mut rng, NOW);
        if let Some(why) = closed {
            oracle!(
                matches!(r, Err(IssuerError::SessionClosed(w)) if w == why),
                "a {why} session accepted a message: {r:?}"
            );
            continue;
        }
        match r {
            Err(_) => {
                oracle!(
                    st.phase == Phase::Failed,
                    "refused, but phase {:?}",
                    st.phase
                );
                closed = Some("failed");
            }
            Ok(Next::Done(_)) => {
                oracle!(st.phase == Phase::Done, "done, but phase {:?}", st.phase);
                closed = Some("done");
            }
            Ok(Next::Request(m)) => {
                let again = Message::decode(&m.to_bytes());
                oracle!(
                    again.as_ref() == Ok(&m),
                    "the issuer sent an undecodable request"
                );
            }
        }
    }
    if closed == Some("failed") {
        for m in &h.mw_msgs {
            let r = h.issuer.handle(&mut st, m, &mut rng, NOW);
            oracle!(
                matches!(r, Err(IssuerError::SessionClosed("failed"))),
                "a failed session accepted an honest message: {r:?}"
            );
        }
    }
}

/// Seeds of [`middleware_session`]: for every step, the honest issuer message and the honest
/// rest of the session.
pub fn middleware_seeds() -> Vec<Vec<u8>> {
    let h = honest();
    let mut out = Vec::new();
    for k in 0..h.issuer_msgs.len() {
        let step = u8::try_from(k).unwrap_or_default();
        let mut one = vec![step];
        one.extend(crate::join_records(&h.issuer_msgs[k..=k]));
        out.push(one);
        let mut rest = vec![step];
        rest.extend(crate::join_records(&h.issuer_msgs[k..]));
        out.push(rest);
    }
    out
}

/// The middleware engine on a fresh reference card: the honest issuer messages before step `k`
/// (first input byte), then each record of the input as an issuer message. Oracles: the honest
/// prefix replays byte for byte (determinism); after any refusal the card holds no open
/// provisioning session ([KG2-FLW-006]) and the engine accepts nothing more; the responses it
/// sends decode.
pub fn middleware_session(data: &[u8]) {
    let h = honest();
    let (k, rest) = start_step(data, h.issuer_msgs.len());
    let mut mw = middleware();
    for i in 0..k {
        let r = mw.handle_bytes(&h.issuer_msgs[i]);
        oracle!(
            r.as_deref().ok() == Some(h.mw_msgs[i].as_slice()),
            "honest step {i} did not replay: {r:?}"
        );
    }
    let mut failed = false;
    for body in crate::records(rest, 8) {
        let r = mw.handle_bytes(body);
        if failed {
            oracle!(r.is_err(), "a failed middleware answered");
            continue;
        }
        match r {
            Err(_) => {
                oracle!(
                    matches!(mw.phase(), MwPhase::Failed | MwPhase::Done),
                    "refused, phase {:?}",
                    mw.phase()
                );
                oracle!(
                    mw.sks().open_session_count() == 0,
                    "a refused message left a provisioning session open"
                );
                failed = true;
            }
            Ok(resp) => {
                oracle!(
                    Message::decode(&resp).is_ok(),
                    "the middleware sent an undecodable response"
                );
            }
        }
    }
}
