//! The driver's own tests: an honest session through both card paths, and one test per fault
//! control showing its effect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksMethod};

fn driver(seed: u64, path: CardPath) -> Driver {
    let mut c = DriverConfig::new(seed);
    c.card_path = path;
    let mut d = Driver::new(c).unwrap();
    d.begin().unwrap();
    d
}

fn completed(o: &StepOutcome) -> bool {
    matches!(o, StepOutcome::Completed(_))
}

fn card_keys(d: &mut Driver) -> usize {
    let sks = d.card().unwrap().sks();
    let mut n = 0;
    let mut h = KeyHandle::NONE;
    while let Some(k) = sks.enumerate_keys(h).unwrap() {
        n += 1;
        h = k.key_handle;
    }
    n
}

#[test]
fn honest_session_completes_through_both_card_paths() {
    for path in [
        CardPath::Direct,
        CardPath::Apdu(ApduLimits::EXTENDED),
        CardPath::Apdu(ApduLimits::SHORT),
    ] {
        let mut d = driver(1, path);
        let run = d.drive();
        assert!(completed(&run.outcome), "{path:?}: {:?}", run.outcome);
        // Invocation, init, key creation, finalization: 4 issuer and 4 middleware steps.
        assert_eq!(run.steps.len(), 8, "{path:?}");
        let calls: Vec<SksMethod> = run
            .steps
            .iter()
            .flat_map(|s| s.sks_calls.iter().map(|c| c.method))
            .collect();
        assert!(calls.contains(&SksMethod::CreateProvisioningSession));
        assert!(calls.contains(&SksMethod::CloseProvisioningSession));
        let apdus: usize = run.steps.iter().map(StepTrace::apdu_count).sum();
        match path {
            CardPath::Direct => assert_eq!(apdus, 0),
            CardPath::Apdu(_) => assert!(apdus > calls.len(), "{path:?}: {apdus} APDUs"),
        }
        // The issuer's work is reported: a key pair, ECDH, the device path, MACs, a signed
        // certificate.
        let ops: Vec<IssuerOp> = run
            .steps
            .iter()
            .flat_map(|s| s.issuer_ops.iter().map(|(o, _)| *o))
            .collect();
        for op in [
            IssuerOp::EphemeralKeyGen,
            IssuerOp::KeyAgreement,
            IssuerOp::VerifyCertificate,
            IssuerOp::Mac,
            IssuerOp::SignCertificate,
        ] {
            assert!(ops.contains(&op), "{path:?}: {op:?} missing");
        }
        assert_eq!(d.issuances().unwrap().len(), 1);
        assert_eq!(d.session_status(), Some(SessionStatus::Done));
        assert_eq!(card_keys(&mut d), 1);
        assert!(d.leaks().is_empty(), "{:?}", d.leaks());
    }
}

#[test]
fn short_apdus_chain_and_cost_more_apdus() {
    let count = |limits| {
        let run = driver(2, CardPath::Apdu(limits)).drive();
        run.steps.iter().map(StepTrace::apdu_count).sum::<usize>()
    };
    assert!(count(ApduLimits::SHORT) > count(ApduLimits::EXTENDED));
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let bytes = |seed| {
        let mut d = driver(seed, CardPath::Apdu(ApduLimits::EXTENDED));
        d.drive();
        (d.network_log().to_vec(), d.apdu_log().to_vec())
    };
    assert_eq!(bytes(3), bytes(3));
    assert_ne!(bytes(3).0, bytes(4).0);
}

#[test]
fn a_dropped_message_stalls_and_a_late_resend_is_refused() {
    let mut d = driver(5, CardPath::Direct);
    d.step(); // InvocationRequest -> InvocationResponse in flight
    let (to, lost) = d.drop_next().unwrap();
    assert_eq!(to, Party::Issuer);
    assert_eq!(d.drive().outcome, StepOutcome::Idle);
    assert!(d.issuances().unwrap().is_empty());
    // The middleware retries after the session lifetime: refused.
    let life = u64::from(d.issuer_mut().policy.session.life_time);
    d.advance(life + 1);
    d.inject(Party::Issuer, lost);
    assert!(matches!(d.step().outcome, StepOutcome::IssuerRefused(_)));
    assert_eq!(d.session_status(), Some(SessionStatus::Failed));
}

#[test]
fn a_replayed_message_is_refused_by_the_issuer() {
    let mut d = driver(6, CardPath::Direct);
    d.step(); // -> InvocationResponse
    d.step(); // issuer -> ProvisioningInitializationRequest
    d.step(); // -> ProvisioningInitializationResponse in flight
    // The attacker replays the InvocationResponse (network message 1) first.
    assert!(d.replay(1));
    assert!(matches!(d.step().outcome, StepOutcome::IssuerRefused(_)));
    // The session is failed: the genuine message is refused too, nothing is issued.
    assert!(matches!(d.step().outcome, StepOutcome::IssuerRefused(_)));
    assert!(d.issuances().unwrap().is_empty());
    assert_eq!(d.session_status(), Some(SessionStatus::Failed));
    // The middleware aborted its SKS session on the error redirect: no key on the card.
    assert_eq!(card_keys(&mut d), 0);
    assert_eq!(d.card().unwrap().sks().open_session_count(), 0);
}

#[test]
fn reordered_messages_are_refused() {
    let mut d = driver(7, CardPath::Direct);
    for _ in 0..5 {
        d.step(); // up to the KeyCreationRequest being answered: KeyCreationResponse in flight
    }
    assert!(d.replay(3)); // the ProvisioningInitializationResponse, again, first
    assert!(d.reorder()); // ... now second: the genuine KeyCreationResponse goes first
    assert!(matches!(d.step().outcome, StepOutcome::Continue));
    assert!(matches!(d.step().outcome, StepOutcome::IssuerRefused(_)));
    assert!(!d.reorder());
}

#[test]
fn a_tampered_message_is_refused() {
    let mut d = driver(8, CardPath::Direct);
    for _ in 0..5 {
        d.step();
    }
    // Flip one character of the key attestation in the KeyCreationResponse.
    assert!(d.tamper_next(|b| {
        let s = String::from_utf8(b).unwrap();
        let i = s.find("\"attestation\":\"").unwrap() + 15;
        let mut v = s.into_bytes();
        v[i] = if v[i] == b'A' { b'B' } else { b'A' };
        v
    }));
    let r = d.drive();
    assert!(matches!(r.outcome, StepOutcome::IssuerRefused(_)), "{r:?}");
    assert!(d.issuances().unwrap().is_empty());
}

#[test]
fn the_issuer_restarts_from_its_stored_state_at_every_step() {
    let mut d = driver(9, CardPath::Apdu(ApduLimits::EXTENDED));
    loop {
        d.restart_issuer();
        let t = d.step();
        match t.outcome {
            StepOutcome::Continue => {}
            o => {
                assert!(completed(&o), "{o:?}");
                break;
            }
        }
    }
    // The issuance survives a restart after completion, and a second session on the same
    // issuer adds one.
    d.restart_issuer();
    assert_eq!(d.issuances().unwrap().len(), 1);
    d.begin().unwrap();
    assert!(completed(&d.drive().outcome));
    assert_eq!(d.issuances().unwrap().len(), 2);
}

#[test]
fn an_issuer_without_stored_session_knows_nothing() {
    // The same message reaching a restarted issuer whose store lost the session (another
    // store) is refused as unknown; with the store it continues.
    let mut d = driver(10, CardPath::Direct);
    d.step();
    d.restart_issuer();
    d.store = Store::in_memory().unwrap();
    assert_eq!(d.step().outcome, StepOutcome::IssuerUnknownSession);
}

#[test]
fn a_power_cut_at_each_write_leaves_the_card_consistent_and_the_session_not_completed() {
    // How many store writes an honest session makes (after the card's creation).
    let mut d = driver(11, CardPath::Apdu(ApduLimits::EXTENDED));
    let before = d.card().unwrap().fs().write_points();
    assert!(completed(&d.drive().outcome));
    let writes = d.card().unwrap().fs().write_points() - before;
    assert!(writes > 0);
    for n in 1..=writes {
        let mut d = driver(11, CardPath::Apdu(ApduLimits::EXTENDED));
        d.cut_card_power_at_write(n);
        let run = d.drive();
        assert!(
            run.steps.iter().any(|s| s.card_rebooted),
            "write {n}: no reboot"
        );
        // The card rebooted from its files: it opens, holds no open session, and either the
        // whole session's key or none (the close is one atomic commit).
        let keys = card_keys(&mut d);
        assert!(keys <= 1, "write {n}: {keys} keys");
        assert_eq!(d.card().unwrap().sks().open_session_count(), 0);
        // The issuer never saw a close attestation: nothing issued.
        assert!(!completed(&run.outcome), "write {n}");
        assert!(d.issuances().unwrap().is_empty(), "write {n}");
    }
}

#[test]
fn a_removed_card_fails_the_session() {
    for path in [CardPath::Direct, CardPath::Apdu(ApduLimits::EXTENDED)] {
        let mut d = driver(12, path);
        d.step();
        d.step(); // ProvisioningInitializationRequest in flight
        d.remove_card();
        let r = d.drive();
        assert!(
            matches!(r.outcome, StepOutcome::MiddlewareFailed(_)),
            "{path:?}: {:?}",
            r.outcome
        );
        let last = r.steps.last().unwrap();
        assert_eq!(
            last.sks_calls.first().and_then(|c| c.error),
            Some(airtight_proto::sks::SksErrorCode::NotAvailable),
            "{path:?}"
        );
        // Back in the reader: nothing of the session is on the card.
        d.insert_card().unwrap();
        assert_eq!(card_keys(&mut d), 0);
        assert!(d.issuances().unwrap().is_empty());
    }
}

#[test]
fn a_crashed_middleware_handles_nothing_and_leaves_no_key() {
    let mut d = driver(13, CardPath::Direct);
    for _ in 0..4 {
        d.step(); // the card has an open provisioning session
    }
    d.crash_middleware();
    assert_eq!(d.card().unwrap().sks().open_session_count(), 1);
    assert_eq!(d.drive().outcome, StepOutcome::MiddlewareDown);
    assert!(d.issuances().unwrap().is_empty());
    assert_eq!(card_keys(&mut d), 0);
    // A new session on the same card completes.
    d.begin().unwrap();
    assert!(completed(&d.drive().outcome));
}

#[test]
fn the_leak_scan_finds_a_secret_put_on_the_network() {
    let mut p = Policy::default();
    p.puk.push(airtight_issuer::policy::PukPolicy::default());
    p.pin[0].puk = Some("PUK.1".into());
    let mut c = DriverConfig::new(14);
    c.policy = p;
    let mut d = Driver::new(c).unwrap();
    d.begin().unwrap();
    assert!(completed(&d.drive().outcome));
    assert!(d.leaks().is_empty(), "{:?}", d.leaks());
    assert!(d.secrets().iter().any(|s| s.what == "PUK.1"));
    assert!(
        d.secrets()
            .iter()
            .any(|s| s.what.starts_with("session key"))
    );
    // An attacker (or a broken middleware) puts the PUK in clear on the network.
    d.inject(Party::Issuer, b"{\"puk\":\"01234567\"}".to_vec());
    let leaks = d.leaks();
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!(leaks[0].what, "PUK.1");
}

/// The issuer's choices from a caller's [`Entropy`]: the ChaCha20 stream of a seed, with a
/// pinned `serverSessionId`.
struct PinnedId(ChaCha20Rng);

impl Entropy for PinnedId {
    fn server_session_id(&mut self) -> String {
        "pinnedServerSessionId".into()
    }
    fn ephemeral_key(&mut self, curve: Curve) -> PrivateKey {
        RngEntropy(&mut self.0).ephemeral_key(curve)
    }
    fn iv(&mut self) -> [u8; 16] {
        RngEntropy(&mut self.0).iv()
    }
    fn close_nonce(&mut self) -> Vec<u8> {
        RngEntropy(&mut self.0).close_nonce()
    }
    fn serial(&mut self) -> Vec<u8> {
        RngEntropy(&mut self.0).serial()
    }
    fn fill(&mut self, out: &mut [u8]) {
        RngEntropy(&mut self.0).fill(out);
    }
}

#[test]
fn the_issuer_draws_from_the_callers_entropy_and_the_tap_sees_every_card_call() {
    let mut d = Driver::new(DriverConfig::new(15)).unwrap();
    d.set_issuer_entropy(Box::new(PinnedId(ChaCha20Rng::seed_from_u64(15))));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let tap = std::sync::Arc::clone(&seen);
    assert!(d.tap_card(Box::new(move |call, result, card| {
        // The card itself is at hand during the tap.
        assert!(card.get_device_info().is_ok());
        tap.lock()
            .unwrap()
            .push((call.method(), result.as_ref().map(|r| r.method()).ok()));
    })));
    d.begin().unwrap();
    let run = d.drive();
    assert!(completed(&run.outcome), "{:?}", run.outcome);
    let first = String::from_utf8(d.network_log()[0].1.clone()).unwrap();
    assert!(first.contains("\"pinnedServerSessionId\""), "{first}");
    // The tap saw every call the step traces record, in order, with its result.
    let traced: Vec<_> = run
        .steps
        .iter()
        .flat_map(|s| s.sks_calls.iter().map(|c| c.method))
        .collect();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|(m, _)| *m).collect::<Vec<_>>(), traced);
    assert!(seen.iter().all(|(m, r)| Some(*m) == *r));
}

#[test]
fn an_issuer_certificate_is_bound_and_the_client_zone_is_reported() {
    let mut c = DriverConfig::new(16);
    c.utc_offset_minutes = 90;
    let mut iss = test_issuer(ISSUER_URI, Policy::default());
    let (_, chain) = airtight_pki::fixtures::tls_server();
    iss.server_certificate = chain[0].clone();
    let mut d = Driver::with_issuer(c, iss).unwrap();
    d.begin().unwrap();
    // The session attestation covers the server certificate: a middleware that did not bind
    // the issuer's certificate fails the session.
    let run = d.drive();
    assert!(completed(&run.outcome), "{:?}", run.outcome);
    let init = d
        .network_log()
        .iter()
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .find(|m| m.contains("ProvisioningInitializationResponse"))
        .unwrap();
    assert!(init.contains("+01:30\""), "{init}");
}
