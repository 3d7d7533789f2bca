//! Hostile load against the reference issuer on loopback (bounded: two 2 s phases): honest
//! sessions still complete beside garbage and oversized bodies, slowloris heads, replays and
//! floods of session starts, and every hostile kind is sent and refused the way it must be.
//! The check can fail: with the issuer's body limit removed (`IssuerFault::NoBodyLimit`) the
//! oversized bodies are read in full, and with its header-read timeout removed
//! (`IssuerFault::NoHeaderTimeout`) the slowloris heads are held open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_harness::TargetConfig;
use airtight_harness::issuer::hostile::{HostileKind, HostilePlan, HostileReport};
use airtight_harness::issuer::load::{LoadPlan, LoadReport, Pacing, run_plan};
use airtight_harness::issuer::reference::{self, ReferenceOptions};
use airtight_issuer::{Faults, IssuerFault};

/// Runs 2 s of honest load at 10 sessions/s alone, then beside `kinds` at a hostile share of
/// one half, against a reference issuer with `faults`.
fn hostile_run(faults: Faults, kinds: &[HostileKind]) -> (LoadReport, HostileReport) {
    let options = ReferenceOptions {
        faults,
        ..ReferenceOptions::default()
    };
    let running = reference::start(&options).expect("reference issuer");
    let mut config = TargetConfig::default();
    config.target.transport = "http".into();
    config.issuer.timeout_ms = Some(5_000);
    config.issuer.slow_client_ms = Some(options.slow_client_ms());
    let target = airtight_harness::issuer_target(&running.invocation_url, &config).unwrap();
    let (profile, _) = airtight_harness::issuer::learn(&target, &config, 1);
    let mut hostile = HostilePlan::new(0.5, &target);
    hostile.kinds = kinds.to_vec();
    hostile.threads = 4;
    hostile.issuer_pid = Some(std::process::id());
    hostile.in_process = true;
    let plan = LoadPlan {
        pacing: Pacing::Open {
            rate: 10.0,
            connections: 4,
        },
        seconds: 2.0,
        extra_targets: Vec::new(),
        hostile: Some(hostile),
    };
    let mut report = run_plan(&target, &profile, &plan, 7).expect("load");
    drop(running);
    let h = *report.hostile.take().expect("hostile figures");
    (report, h)
}

#[test]
fn honest_sessions_complete_and_every_hostile_kind_is_refused() {
    let (alone, h) = hostile_run(Faults::default(), &HostileKind::ALL);
    // Honest sessions, alone and beside the hostile traffic.
    assert!(alone.sessions > 0 && alone.errors == 0, "{alone:?}");
    let under = &h.honest_under_attack;
    assert!(
        under.sessions > 0 && under.errors == 0,
        "honest sessions failed beside the hostile traffic: {:?} {:?}",
        under.errors_by_cause,
        under.error_samples
    );
    assert!(under.session_percentiles.is_some());
    // Each kind was sent and refused with what it must get.
    for k in HostileKind::ALL {
        let r = &h.kinds[k.as_str()];
        assert!(r.sent > 0, "{} was not sent: {:?}", k.as_str(), h.kinds);
        assert_eq!(
            (r.refused, r.not_refused),
            (r.sent, 0),
            "{}: {:?} ({:?})",
            k.as_str(),
            r.outcomes,
            h.not_refused_samples
        );
    }
    let has =
        |kind: &str, outcome: &str| h.kinds[kind].outcomes.keys().any(|o| o.contains(outcome));
    // The expected answers, by kind: error redirects, a refusal before the body was read, a
    // closed slowloris connection, replays refused, floods started (and left to expire).
    assert!(has("garbage", "302 to /error/"), "{:?}", h.kinds["garbage"]);
    assert!(
        has("oversized", "before the body was sent in full"),
        "{:?}",
        h.kinds["oversized"]
    );
    assert!(
        has("slowloris", "closed by the issuer"),
        "{:?}",
        h.kinds["slowloris"]
    );
    assert!(
        h.kinds["slowloris"]
            .closed_after
            .as_ref()
            .is_some_and(|p| p.n > 0)
    );
    assert!(has("replay", "302 to /error/"), "{:?}", h.kinds["replay"]);
    assert!(
        has("flood", "200 (session started)"),
        "{:?}",
        h.kinds["flood"]
    );
    assert!(h.all_refused());
    // Memory was sampled in both phases.
    let m = h.memory.as_ref().expect("memory");
    assert!(m.honest.max_kib > 0 && m.hostile.max_kib > 0, "{m:?}");
    assert!(m.samples.len() >= 10, "{m:?}");
}

#[test]
fn without_the_body_limit_oversized_bodies_are_not_refused() {
    let (_, h) = hostile_run(
        Faults::one(IssuerFault::NoBodyLimit),
        &[HostileKind::Oversized],
    );
    let r = &h.kinds["oversized"];
    assert!(r.sent > 0 && r.not_refused > 0, "{r:?}");
    assert!(r.outcomes.keys().any(|o| o.contains("was read")), "{r:?}");
    assert!(!h.all_refused());
}

#[test]
fn without_the_header_timeout_slowloris_heads_are_held_open() {
    let (_, h) = hostile_run(
        Faults::one(IssuerFault::NoHeaderTimeout),
        &[HostileKind::Slowloris],
    );
    let r = &h.kinds["slowloris"];
    assert!(r.sent > 0 && r.not_refused == r.sent, "{r:?}");
    assert!(r.outcomes.keys().all(|o| o.contains("still open")), "{r:?}");
}
