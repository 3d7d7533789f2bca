//! The full backend through the `Backend` calls, in the order the engine makes them: honest
//! shapes complete, each attack is rejected and reported, faults end the session with their
//! cause and leave no key on the card, and a seed gives the same calls twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use airtight_bindings::ApduLimits;
use std::collections::BTreeMap;

fn spec(index: u64) -> SessionSpec {
    SessionSpec {
        index,
        card: index,
        issuer: 0,
        card_profile: 0,
        card_class: crate::backend::CardClass::Reference,
        limits: ApduLimits::EXTENDED,
        ec_keys: 1,
        rsa_keys: 0,
        pin: true,
        puk: false,
        discovery: false,
        privacy: false,
        import_symmetric: false,
        start_unix: UnixTime::from_secs(1_767_225_600), // the reference card's test time
    }
}

/// What happens at a step, before the middleware handles the issuer's message of that step.
#[derive(Clone, Copy)]
enum Hook {
    None,
    Attack(AttackerSite, AttackKind),
    RemoveCard,
    PowerLoss(u32),
    ReaderReset,
    CrashMiddleware,
    RestartIssuer,
}

struct Outcome {
    cause: Cause,
    facts: SessionFacts,
    calls: Vec<CardCall>,
    bytes: Vec<u32>,
}

/// The engine's call order for one session, with `hook` applied at `at`.
fn run(b: &mut FullBackend, spec: &SessionSpec, at: Step, hook: Hook) -> Outcome {
    let mut rng = SimRng::derive(42, "backend", spec.index);
    let h = b.begin(spec, &mut rng).unwrap();
    let mut now = spec.start_unix;
    let mut req = Inbound::Get;
    let mut out = MiddlewareOutcome::default();
    let mut calls = Vec::new();
    let mut bytes = Vec::new();
    let cause = loop {
        let o = b.issuer(h, 0, req, now).unwrap();
        bytes.push(o.response_bytes);
        let step = match o.verdict {
            IssuerVerdict::Continue(s) => s,
            IssuerVerdict::Completed => break Cause::Completed,
            IssuerVerdict::Refused(c) => break c,
        };
        if step == at {
            match hook {
                Hook::None => {}
                Hook::Attack(site, kind) => b.tamper(h, site, kind).unwrap(),
                Hook::RemoveCard => b.remove_card(h).unwrap(),
                Hook::PowerLoss(i) => b.power_loss(h, i).unwrap(),
                Hook::ReaderReset => b.reader_reset(h).unwrap(),
                Hook::CrashMiddleware => b.crash_middleware(h).unwrap(),
                Hook::RestartIssuer => b.restart_issuer(0).unwrap(),
            }
        }
        now = now.saturating_add_secs(1);
        b.middleware(h, now, &mut out).unwrap();
        calls.extend(out.card_calls.iter().copied());
        match out.verdict {
            MiddlewareVerdict::Continue => {}
            MiddlewareVerdict::Done => break Cause::Completed,
            MiddlewareVerdict::Aborted(c) => break c,
        }
        if matches!(hook, Hook::Attack(_, AttackKind::Drop)) && step == at {
            // The engine times the session out; the issuer never sees the answer.
            break Cause::Timeout;
        }
        bytes.push(out.request_bytes);
        req = Inbound::Post {
            step,
            bytes: out.request_bytes,
        };
        now = now.saturating_add_secs(1);
    };
    let mut facts = SessionFacts::default();
    b.end(h, cause, &mut facts).unwrap();
    Outcome {
        cause,
        facts,
        calls,
        bytes,
    }
}

#[test]
fn honest_shapes_complete_with_their_keys_on_the_card() {
    let mut b = FullBackend::new();
    type Shape = (&'static str, fn(&mut SessionSpec));
    let shapes: [Shape; 5] = [
        ("default", |_| {}),
        ("two keys, PUK", |s| {
            s.ec_keys = 2;
            s.puk = true;
        }),
        ("no PIN, import", |s| {
            s.pin = false;
            s.import_symmetric = true;
        }),
        ("privacy", |s| s.privacy = true),
        ("short APDUs", |s| s.limits = ApduLimits::SHORT),
    ];
    for (i, (name, f)) in shapes.iter().enumerate() {
        let mut s = spec(i as u64);
        f(&mut s);
        let o = run(&mut b, &s, Step::Invocation, Hook::None);
        assert_eq!(o.cause, Cause::Completed, "{name}");
        let f = o.facts;
        assert!(f.issuance_recorded, "{name}");
        assert_eq!(f.keys_at_issuer, s.keys(), "{name}");
        assert_eq!(f.keys_attested, s.keys(), "{name}");
        assert_eq!(f.keys_on_card, s.keys(), "{name}");
        assert_eq!(f.secrets_seen, SecretsSeenDefault::none(), "{name}");
        assert!(f.mac_counters_monotonic && f.mac_counter_max > 0, "{name}");
        assert_eq!(f.device_id_visible, !s.privacy, "{name}");
        assert_eq!(f.issuer_visible_id != 0, !s.privacy, "{name}");
        assert!(o.calls.iter().all(|c| c.apdus > 0), "{name}");
        let writes: u32 = o
            .calls
            .iter()
            .map(|c| u32::from(c.ops.get(CardOp::StoreWrite)))
            .sum();
        assert!(writes > 0, "{name}: the close commits");
    }
}

struct SecretsSeenDefault;
impl SecretsSeenDefault {
    fn none() -> crate::backend::SecretsSeen {
        crate::backend::SecretsSeen::default()
    }
}

#[test]
fn a_seed_gives_the_same_calls_and_sizes() {
    let go = || {
        let mut b = FullBackend::new();
        let o = run(&mut b, &spec(3), Step::Invocation, Hook::None);
        (o.calls, o.bytes)
    };
    assert_eq!(go(), go());
}

#[test]
fn every_attack_is_rejected_or_harmless_and_reported() {
    let network = [
        AttackKind::Tamper,
        AttackKind::Replay,
        AttackKind::Reorder,
        AttackKind::SubstituteKey,
    ];
    for kind in network {
        for at in [Step::ProvisioningInitialization, Step::KeyCreation] {
            let mut b = FullBackend::new();
            let o = run(
                &mut b,
                &spec(10),
                at,
                Hook::Attack(AttackerSite::Network, kind),
            );
            let f = o.facts;
            assert_eq!(o.cause, Cause::AttackDetected, "{kind:?} at {at:?}");
            assert_eq!(
                f.attack_outcome,
                AttackOutcome::Rejected,
                "{kind:?} at {at:?}"
            );
            assert!(f.attack_reported, "{kind:?} at {at:?}");
            assert!(!f.issuance_recorded && f.keys_on_card == 0, "{kind:?}");
        }
    }
    // A hostile middleware altering a MAC'd card call: the card refuses it.
    for kind in [AttackKind::Tamper, AttackKind::Replay, AttackKind::Reorder] {
        let mut b = FullBackend::new();
        let o = run(
            &mut b,
            &spec(11),
            Step::KeyCreation,
            Hook::Attack(AttackerSite::Middleware, kind),
        );
        assert_eq!(o.cause, Cause::AttackDetected, "{kind:?}");
        assert_eq!(o.facts.attack_outcome, AttackOutcome::Rejected);
        assert_eq!(o.facts.keys_on_card, 0);
    }
    // Privacy downgrade: the session attestation covers the mode.
    let mut s = spec(12);
    s.privacy = true;
    let mut b = FullBackend::new();
    let o = run(
        &mut b,
        &s,
        Step::Invocation,
        Hook::Attack(AttackerSite::Network, AttackKind::DowngradePrivacy),
    );
    assert_eq!(o.cause, Cause::AttackDetected);
    assert_eq!(o.facts.attack_outcome, AttackOutcome::Rejected);
    // Dropping: the session times out, nothing is issued.
    let mut b = FullBackend::new();
    let o = run(
        &mut b,
        &spec(13),
        Step::KeyCreation,
        Hook::Attack(AttackerSite::Network, AttackKind::Drop),
    );
    assert_eq!(o.facts.attack_outcome, AttackOutcome::Rejected);
    assert!(!o.facts.issuance_recorded);
    // Stealing secrets (PUK and imported key on the wire): only ciphertext passes by.
    let mut s = spec(14);
    s.puk = true;
    s.import_symmetric = true;
    let mut b = FullBackend::new();
    let o = run(
        &mut b,
        &s,
        Step::ProvisioningFinalization,
        Hook::Attack(AttackerSite::Network, AttackKind::StealSecrets),
    );
    assert_eq!(o.cause, Cause::Completed);
    assert_eq!(o.facts.attack_outcome, AttackOutcome::Harmless);
    assert!(!o.facts.secrets_seen.attacker && !o.facts.secrets_seen.network);
}

#[test]
fn faults_end_the_session_with_their_cause_and_leave_no_key() {
    let cases = [
        (Hook::RemoveCard, Step::KeyCreation, Cause::CardRemoved),
        (Hook::ReaderReset, Step::KeyCreation, Cause::ReaderReset),
        (
            Hook::PowerLoss(0),
            Step::ProvisioningFinalization,
            Cause::PowerLoss,
        ),
        (
            Hook::CrashMiddleware,
            Step::KeyCreation,
            Cause::MiddlewareCrash,
        ),
    ];
    for (i, (hook, at, want)) in cases.into_iter().enumerate() {
        let mut b = FullBackend::new();
        let o = run(&mut b, &spec(20 + i as u64), at, hook);
        assert_eq!(o.cause, want);
        assert!(!o.facts.issuance_recorded);
        assert_eq!(o.facts.keys_on_card, 0, "{want:?}");
    }
    // An issuer restart mid-session: the stored state carries the session on.
    let mut b = FullBackend::new();
    let o = run(&mut b, &spec(30), Step::KeyCreation, Hook::RestartIssuer);
    assert_eq!(o.cause, Cause::Completed);
    assert!(o.facts.issuance_recorded && !o.facts.issuance_lost);
}

#[test]
fn a_card_keeps_its_keys_between_its_sessions() {
    let mut b = FullBackend::new();
    let mut s = spec(40);
    assert_eq!(
        run(&mut b, &s, Step::Invocation, Hook::None).cause,
        Cause::Completed
    );
    s.index = 41; // same card (s.card = 40)
    let o = run(&mut b, &s, Step::Invocation, Hook::None);
    assert_eq!(o.cause, Cause::Completed);
    assert_eq!(o.facts.keys_on_card, 1, "counted per session");
    // The same device: the issuer sees the same identifier.
    let mut t = spec(42);
    t.card = 40;
    let again = run(&mut b, &t, Step::Invocation, Hook::None);
    assert_eq!(again.facts.issuer_visible_id, o.facts.issuer_visible_id);
}

/// The end events of a transcript: session index -> (cause, virtual end time in ns).
fn ends(transcript: &str) -> BTreeMap<u64, (String, u64)> {
    transcript
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["e"] == "end")
        .map(|v| {
            (
                v["s"].as_u64().unwrap(),
                (
                    v["cause"].as_str().unwrap().to_owned(),
                    v["t"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn run_mode(
    file: &std::path::Path,
    mode: crate::output::Mode,
    tag: &str,
) -> BTreeMap<u64, (String, u64)> {
    let text = std::fs::read_to_string(file).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let total: f64 = v["users"]
        .as_array()
        .map(|u| {
            u.iter()
                .filter_map(|x| x.get("sessions")?.as_integer())
                .sum::<i64>()
        })
        .unwrap_or(12) as f64;
    let dir = std::env::temp_dir().join(format!(
        "airtight-sim-full-{}-{tag}-{}",
        std::process::id(),
        mode.name()
    ));
    let mut job = crate::output::Job::new(&file.display().to_string(), &text);
    job.mode = mode;
    job.scale = Some((4.0 / total).min(1.0));
    job.transcript = Some(true);
    job.out = Some(dir.clone());
    crate::output::run(&job).unwrap();
    let t = std::fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    ends(&t)
}

/// For every shipped scenario at small scale (about four sessions), full and model mode
/// give the same outcome for every session, and each session's virtual end time agrees within
/// 10 % (card APDU sizes differ a little with real signatures and certificates; user, network
/// and card-time draws are the same streams in both modes).
#[test]
fn full_and_model_mode_agree_on_every_shipped_scenario() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in &files {
        let tag = f.file_stem().unwrap().to_string_lossy().into_owned();
        let model = run_mode(f, crate::output::Mode::Model, &tag);
        let full = run_mode(f, crate::output::Mode::Full, &tag);
        assert_eq!(
            model.keys().collect::<Vec<_>>(),
            full.keys().collect::<Vec<_>>(),
            "{tag}: sessions"
        );
        for (s, (cause, t)) in &model {
            let (fcause, ft) = &full[s];
            assert_eq!(cause, fcause, "{tag}: session {s}");
            let diff = (*ft as f64 - *t as f64).abs();
            assert!(
                diff <= 0.10 * *t as f64,
                "{tag}: session {s} ends at {ft} ns in full mode, {t} ns in model mode"
            );
        }
    }
}

/// A key substitution at each step, in both modes: the modes agree on every session's cause
/// and on the attack's outcome. Only the ProvisioningInitializationResponse
/// (`clientEphemeralKey`) and the KeyCreationResponse (`publicKey`) carry a key to replace: a
/// relay starting at an earlier step substitutes the next one and the real issuer refuses it;
/// one starting at the finalization finds no key left and the session completes (harmless).
/// Model mode once refused it at the finalization too (`model::substitution_applies`).
#[test]
fn a_key_substitution_has_the_same_fate_in_both_modes_at_every_step() {
    let steps = [
        (Step::Invocation, true),
        (Step::ProvisioningInitialization, true),
        (Step::CredentialDiscovery, true),
        (Step::KeyCreation, true),
        (Step::ProvisioningFinalization, false),
    ];
    for (step, refused) in steps {
        let text = format!(
            "[configuration]\nname = \"substitute\"\n[[issuers]]\nname = \"a\"\n\
             keys = {{ ec = 1, pin = true, discovery = 1.0 }}\n[[users]]\nname = \"u\"\n\
             sessions = 3\narrival = {{ process = \"poisson\", rate_per_s = 2 }}\n\
             [[attackers]]\nkind = \"substitute_key\"\nstep = \"{}\"\nfraction = 1.0\n",
            step.name()
        );
        let mut outcomes = Vec::new();
        for mode in [crate::output::Mode::Model, crate::output::Mode::Full] {
            let mut job = crate::output::Job::new("substitute", &text);
            job.mode = mode;
            let done = crate::output::run(&job).unwrap();
            assert_eq!(done.result.violation, None, "{step:?} {}", mode.name());
            let m = done.metrics;
            outcomes.push((
                m["completion_by_cause"].clone(),
                m["attacks"]["substitute_key"].clone(),
            ));
        }
        assert_eq!(outcomes[0], outcomes[1], "{step:?}: model, full");
        let a = &outcomes[1].1;
        assert_eq!(a["attempted"], 3, "{step:?}: {a}");
        if refused {
            assert_eq!(a["rejected"], 3, "{step:?}: {a}");
            assert_eq!(a["reported"], 3, "{step:?}: {a}");
        } else {
            assert_eq!(a["harmless"], 3, "{step:?}: {a}");
            assert_eq!(outcomes[1].0["completed"], 3, "{step:?}: {}", outcomes[1].0);
        }
    }
}

/// The issuer's deliberate `AcceptBadKeyAttestation` fault (scenario defect
/// `issuer_accepts_unattested_keys`) against a relay that substitutes the generated key: the
/// faulty issuer certifies the attacker's key, and the card refuses the certificate
/// (`setCertificatePath` for a key it did not generate), so nothing is issued. Without the
/// fault the issuer refuses the KeyCreationResponse and the card is never asked.
#[test]
fn a_key_certified_without_attestation_is_refused_by_the_card() {
    let mut defects = crate::models::Defects::default();
    defects.set(crate::scenario::Defect::IssuerAcceptsUnattestedKeys);
    let attack = Hook::Attack(AttackerSite::Network, AttackKind::SubstituteKey);
    for faulty in [false, true] {
        let mut b = if faulty {
            FullBackend::with_defects(defects).unwrap()
        } else {
            FullBackend::new()
        };
        let o = run(&mut b, &spec(50), Step::KeyCreation, attack);
        assert_eq!(o.cause, Cause::AttackDetected, "faulty: {faulty}");
        assert!(!o.facts.issuance_recorded, "faulty: {faulty}");
        assert_eq!(o.facts.keys_on_card, 0);
        let cert_calls = o
            .calls
            .iter()
            .filter(|c| c.method == SksMethod::SetCertificatePath)
            .count();
        assert_eq!(cert_calls, usize::from(faulty), "faulty: {faulty}");
    }
    // The other defects have no counterpart in the real engines: refused by name.
    let mut other = crate::models::Defects::default();
    other.set(crate::scenario::Defect::CardKeepsAbortedKeys);
    let e = FullBackend::with_defects(other).unwrap_err();
    assert!(e.message.contains("CardKeepsAbortedKeys"), "{e}");
}

/// The issuer's deliberate `AcceptPrivacyDowngrade` fault (scenario defect
/// `issuer_accepts_privacy_downgrade`) against a middleware that strips privacy mode from the
/// issuer's InvocationRequest: the honest issuer refuses the device identifier the card then
/// sends (it asked for privacy mode); the faulty one follows the mode of the answer,
/// completes, and sees the device certificate of a privacy session.
#[test]
fn a_privacy_downgrade_is_refused_unless_the_issuer_accepts_it() {
    let mut defects = crate::models::Defects::default();
    defects.set(crate::scenario::Defect::IssuerAcceptsPrivacyDowngrade);
    let attack = Hook::Attack(AttackerSite::Middleware, AttackKind::DowngradePrivacy);
    let mut s = spec(60);
    s.privacy = true;
    let mut honest = FullBackend::new();
    let o = run(&mut honest, &s, Step::Invocation, attack);
    assert_eq!(o.cause, Cause::AttackDetected);
    assert_eq!(o.facts.attack_outcome, AttackOutcome::Rejected);
    assert!(!o.facts.device_id_visible);
    let mut faulty = FullBackend::with_defects(defects).unwrap();
    let o = run(&mut faulty, &s, Step::Invocation, attack);
    assert_eq!(o.cause, Cause::Completed);
    assert!(o.facts.device_id_visible && o.facts.issuer_visible_id != 0);
    assert_eq!(o.facts.attack_outcome, AttackOutcome::Succeeded);
    assert_eq!(
        crate::oracle::check(&s, &o.facts, true).map(|(p, _)| p),
        Some("privacy_hides_device")
    );
    // Without the attack the faulty issuer still keeps privacy mode.
    let mut faulty = FullBackend::with_defects(defects).unwrap();
    let o = run(&mut faulty, &s, Step::Invocation, Hook::None);
    assert_eq!(o.cause, Cause::Completed);
    assert!(!o.facts.device_id_visible);
}

fn privacy_fault_scenario() -> (String, String) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/injected-privacy-fault.toml");
    (
        p.display().to_string(),
        std::fs::read_to_string(&p).unwrap(),
    )
}

/// Issue 13's "explore finds and shrinks a deliberately injected fault", in full mode against
/// the real issuer: swarm testing over a few seeds finds one where the issuer's
/// `AcceptPrivacyDowngrade` fault and the downgrading middleware are both on, shrinks it to
/// those two knobs and one session, and writes a scenario file that fails the same way on its
/// own. With the fault taken out, the same seeds find nothing.
#[test]
fn explore_in_full_mode_finds_and_shrinks_the_issuers_privacy_downgrade_fault() {
    use crate::explore::{ExploreOptions, explore};
    let dir = tempfile::tempdir().unwrap();
    let (file, text) = privacy_fault_scenario();
    let o = ExploreOptions {
        from: 0,
        to: 4,
        shard: (0, 1),
        threads: 2,
        scale: None,
        mode: crate::output::Mode::Full,
        out: Some(dir.path().to_path_buf()),
        shrink: 1,
    };
    let doc = explore(&file, &text, &o).unwrap();
    assert!(doc["failures"].as_u64().unwrap() > 0, "{doc}");
    let s = &doc["shrunk"][0];
    assert_eq!(s["violation"]["property"], "privacy_hides_device", "{s}");
    assert_eq!(s["attackers"], 1, "{s}");
    assert_eq!(s["faults"], 1, "{s}");
    assert_eq!(s["sessions"], 1, "{s}");
    // The reproducer names exactly the two knobs and fails on its own in full mode.
    let rtext = std::fs::read_to_string(dir.path().join(s["file"].as_str().unwrap())).unwrap();
    let repro = crate::scenario::Scenario::parse("repro", &rtext).unwrap();
    assert_eq!(
        repro.faults[0].defect,
        Some(crate::scenario::Defect::IssuerAcceptsPrivacyDowngrade)
    );
    assert_eq!(repro.attackers[0].kind, AttackKind::DowngradePrivacy);
    let mut job = crate::output::Job::new("repro", &rtext);
    job.seed = s["seed"].as_u64();
    job.mode = crate::output::Mode::Full;
    let done = crate::output::run(&job).unwrap();
    let v = done.result.violation.unwrap();
    assert_eq!(v.property, "privacy_hides_device");
    // Model mode predicts the same violation for the same file.
    job.mode = crate::output::Mode::Model;
    let done = crate::output::run(&job).unwrap();
    assert_eq!(
        done.result.violation.map(|v| v.property),
        Some("privacy_hides_device")
    );
    // The honest issuer: nothing found on the same seeds.
    let clean = text.replace(
        "kind = \"deliberate\"\ndefect = \"issuer_accepts_privacy_downgrade\"",
        "kind = \"card_removed\"\nprobability = 0.1",
    );
    assert_ne!(clean, text);
    let o = ExploreOptions {
        out: None,
        shrink: 0,
        ..o
    };
    let doc = explore(&file, &clean, &o).unwrap();
    assert_eq!(doc["failures"], 0, "{doc}");
}

/// Full mode's transcript has one line per APDU (command and response in hex, with the
/// virtual times they were sent and answered) that add up to the SKS call lines; `sim replay`
/// re-runs it byte for byte, and one changed byte of an APDU fails naming that event.
#[test]
fn full_transcript_has_every_apdu_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut job = crate::output::Job::new("smoke", &text);
    job.mode = crate::output::Mode::Full;
    job.scale = Some(0.25);
    job.transcript = Some(true);
    job.out = Some(dir.path().to_path_buf());
    crate::output::run(&job).unwrap();
    let p = dir.path().join("transcript.jsonl");
    let t = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<serde_json::Value> = t
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let wire: Vec<&serde_json::Value> = lines.iter().filter(|v| v["e"] == "wire").collect();
    let calls: u64 = lines
        .iter()
        .filter(|v| v["e"] == "apdu")
        .map(|v| v["apdus"].as_u64().unwrap())
        .sum();
    assert!(calls > 0);
    assert_eq!(wire.len() as u64, calls, "one line per APDU");
    for w in &wire {
        let c = w["c"].as_str().unwrap();
        let r = w["r"].as_str().unwrap();
        assert!(c.len() >= 8 && c.len() % 2 == 0 && c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(r.len() >= 4, "a response has its status word: {w}");
        assert!(w["sent"].as_u64().unwrap() <= w["t"].as_u64().unwrap());
    }
    // Each call's last APDU is answered when the call line says the call ended.
    let mut last_wire_t = None;
    for v in &lines {
        if v["e"] == "wire" {
            last_wire_t = v["t"].as_u64();
        } else if v["e"] == "apdu" {
            assert_eq!(last_wire_t, v["t"].as_u64(), "{v}");
        }
    }
    let n = crate::output::replay(dir.path()).unwrap();
    assert!(n as usize >= wire.len());
    // Change one hex digit of an APDU in the middle of the file.
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = wire.len() / 2;
    let target = serde_json::to_string(wire[mid]).unwrap();
    let c = wire[mid]["c"].as_str().unwrap().to_owned();
    let line_no = t
        .lines()
        .position(|l| serde_json::from_str::<serde_json::Value>(l).unwrap() == *wire[mid])
        .unwrap()
        + 1;
    let start: usize = t.lines().take(line_no - 1).map(|l| l.len() + 1).sum();
    let at = start + t.lines().nth(line_no - 1).unwrap().find(&c).unwrap() + c.len() - 1;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&p, &bytes).unwrap();
    let e = crate::output::replay(&p).unwrap_err().to_string();
    assert!(e.contains(&format!(":{line_no}:")), "{e} ({target})");
    assert!(e.contains("at event wire of session"), "{e}");
}

/// Without a card population, a card is dropped once its session's facts are taken (memory
/// grows with the sessions in flight, not with every card used); with one, it is kept for the
/// card's next session.
#[test]
fn cards_are_kept_only_when_they_can_come_back() {
    let mut keep = FullBackend::new();
    run(&mut keep, &spec(70), Step::Invocation, Hook::None);
    assert_eq!(keep.cards_kept(), 1);
    let mut drop = FullBackend::new().keeping_cards(false);
    let o = run(&mut drop, &spec(71), Step::Invocation, Hook::None);
    assert_eq!(o.cause, Cause::Completed);
    assert_eq!(
        o.facts.keys_on_card, 1,
        "the facts are taken before the card goes"
    );
    assert_eq!(drop.cards_kept(), 0);
}
