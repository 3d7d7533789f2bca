//! The issuer catalog against the reference issuer on loopback: every case passes against the
//! honest issuer; the verdicts of the attack cases do not depend on the shape of the refusal
//! (a proxy rewrites the issuer's error redirects); and every rule tag the cases claim is
//! broken by a deliberate fault (or a rewriting proxy, or the starter's options) under which a
//! case carrying it fails, except the tags listed in `tests/issuer-tags-without-fault.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "issuer/proxy.rs"]
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use airtight_harness::issuer::reference::{self, ReferenceOptions};
use airtight_harness::reports::Report;
use airtight_harness::{RunOptions, TargetConfig, Verdict};
use airtight_issuer::{Faults, IssuerFault};
use proxy::{Mode, Proxy};

fn config(options: &ReferenceOptions) -> TargetConfig {
    let mut c = TargetConfig::default();
    c.target.transport = "http".into();
    c.target.name = Some("airtight reference issuer (loopback)".into());
    c.issuer.slow_client_ms = Some(options.slow_client_ms());
    c.issuer.timeout_ms = Some(5_000);
    c
}

#[test]
fn the_catalog_has_at_least_100_issuer_cases_with_unique_ids() {
    let cases = airtight_harness::issuer_catalog();
    assert!(cases.len() >= 100, "{} issuer cases", cases.len());
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate ids");
    assert!(
        cases
            .iter()
            .all(|c| c.id.starts_with("issuer.") && !c.tags.is_empty())
    );
}

/// Runs the whole catalog against the reference issuer over HTTPS and checks that every case
/// passes or is not applicable for a known reason.
fn every_case_passes(tls: bool) {
    let options = ReferenceOptions {
        tls,
        ..ReferenceOptions::default()
    };
    let running = reference::start(&options).expect("reference issuer");
    let mut c = config(&options);
    c.issuer.trust_anchor_der = running.trust_anchors.clone();
    let report = airtight_harness::run_issuer(&running.invocation_url, &c, &RunOptions::default());
    running.server.shutdown().expect("shutdown");
    check_every_case_passes(&report, tls);
}

/// Every case of `report` passes or is not applicable for a known reason.
fn check_every_case_passes(report: &Report, tls: bool) {
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.verdict.fails_run())
        .map(|c| format!("{}: {}", c.id, c.message.clone().unwrap_or_default()))
        .collect();
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
    assert!(report.summary.passed);
    let passed = report.count(Verdict::Pass);
    assert!(passed >= 170, "{passed} passed");
    assert!(
        report
            .cases
            .iter()
            .filter(|c| c.id.starts_with("issuer.discovery."))
            .all(|c| c.verdict == Verdict::Pass || c.id.ends_with(".replayed-with-rewritten-ids")),
        "the discovery cases run against the reference (it runs credential discovery): {:?}",
        report
            .cases
            .iter()
            .filter(|c| c.id.starts_with("issuer.discovery.") && c.verdict != Verdict::Pass)
            .map(|c| (&c.id, c.verdict, &c.message))
            .collect::<Vec<_>>()
    );
    for c in &report.cases {
        if c.verdict == Verdict::NotApplicable {
            // Not applicable against the reference: the privacy-mode-only case, the TLS
            // cases over plain HTTP, and the id-rewritten replay of a discovery answer (a fresh
            // card has no credentials: two sessions' answers differ in nothing but the ids).
            assert!(
                (!tls && c.id.starts_with("issuer.tls."))
                    || c.id == "issuer.init.privacy-device-id-added"
                    || c.id == "issuer.discovery.replayed-with-rewritten-ids",
                "unexpectedly not applicable: {}: {:?}",
                c.id,
                c.message
            );
        }
        if tls && c.id.starts_with("issuer.tls.") {
            assert_eq!(c.verdict, Verdict::Pass, "{}", c.id);
        }
    }
}

#[test]
fn every_case_passes_against_the_reference_issuer_over_https() {
    every_case_passes(true);
}

/// How one run reaches the reference issuer.
#[derive(Clone)]
struct Setup {
    options: ReferenceOptions,
    /// A rewriting proxy in front of the issuer.
    proxy: Option<Mode>,
    /// Run the slow-client and lifetime cases (seconds each).
    slow: bool,
}

impl Setup {
    fn plain() -> Self {
        Setup {
            options: ReferenceOptions::default(),
            proxy: None,
            slow: true,
        }
    }
}

/// Runs the cases selected by `filter` (all when empty) against the reference issuer as
/// `setup` says.
fn run(setup: &Setup, filter: Vec<String>) -> Report {
    let bound = setup.proxy.map(|m| (m, proxy::bind()));
    let mut options = setup.options.clone();
    if let Some((_, (_, base))) = &bound {
        options.public_url = Some(base.clone());
    }
    let running = reference::start(&options).expect("reference issuer");
    let relay = bound.map(|(m, (l, _))| Proxy::start(l, running.server.addr(), m));
    // The harness's waits and slow budget stay those of the default starter, so that an
    // issuer started with other timeouts is measured against the same client.
    let mut c = config(&ReferenceOptions::default());
    c.issuer.trust_anchor_der = running.trust_anchors.clone();
    if !setup.slow {
        for id in [
            "issuer.transport.slow-",
            "issuer.transport.lifetime-expired",
        ] {
            c.disabled
                .insert(id.into(), "slow; not needed for this run".into());
        }
    }
    let report = airtight_harness::run_issuer(
        &running.invocation_url,
        &c,
        &RunOptions {
            filter,
            ..RunOptions::default()
        },
    );
    drop(relay);
    running.server.shutdown().expect("shutdown");
    report
}

fn verdicts(r: &Report) -> BTreeMap<String, Verdict> {
    r.cases.iter().map(|c| (c.id.clone(), c.verdict)).collect()
}

/// The one case that grades the shape of error answers ([KG2-HTP-008]).
const REDIRECT_CASE: &str = "issuer.transport.error-redirect";

/// The issuer answers its refusals in other shapes (a proxy rewrites them): every attack case
/// keeps its verdict; only the redirect-convention case changes, and only where the shape
/// breaks the convention (a 303 keeps it).
#[test]
fn refusals_are_judged_by_the_attack_not_by_the_shape_of_the_error_answer() {
    // The whole catalog without a proxy, behind the 500 and the 303 proxy; the 400 proxy (the
    // same grading path as 500) on the init cases only, to keep the run short.
    let setups: [(&str, Option<Mode>, &[&str]); 4] = [
        ("no proxy", None, &[]),
        ("errors as 500", Some(Mode::ErrorsAs(500)), &[]),
        (
            "errors as 400",
            Some(Mode::ErrorsAs(400)),
            &["issuer.init.", REDIRECT_CASE],
        ),
        ("every 302 as 303", Some(Mode::SeeOther), &[]),
    ];
    let handles: Vec<_> = setups
        .iter()
        .map(|(name, mode, filter)| {
            let setup = Setup {
                proxy: *mode,
                ..Setup::plain()
            };
            let name = *name;
            let filter: Vec<String> = filter.iter().map(|f| (*f).to_owned()).collect();
            std::thread::spawn(move || (name, run(&setup, filter)))
        })
        .collect();
    let reports: Vec<(&str, Report)> = handles
        .into_iter()
        .map(|h| h.join().expect("run"))
        .collect();
    let base = verdicts(&reports[0].1);
    check_every_case_passes(&reports[0].1, false);
    for (name, report) in &reports[1..] {
        let v = verdicts(report);
        assert!(v.keys().all(|id| base.contains_key(id)));
        if *name != "errors as 400" {
            assert_eq!(
                v.keys().collect::<Vec<_>>(),
                base.keys().collect::<Vec<_>>()
            );
        }
        let changed: Vec<String> = v
            .iter()
            .filter(|(id, verdict)| base.get(*id) != Some(*verdict))
            .map(|(id, verdict)| {
                let msg = report
                    .cases
                    .iter()
                    .find(|c| &c.id == id)
                    .and_then(|c| c.message.clone())
                    .unwrap_or_default();
                format!("{id}: {:?} -> {verdict:?} ({msg})", base[id])
            })
            .collect();
        let expected: Vec<String> = if *name == "every 302 as 303" {
            Vec::new()
        } else {
            vec![REDIRECT_CASE.to_owned()]
        };
        let changed_ids: Vec<String> = changed
            .iter()
            .map(|c| c.split(':').next().unwrap_or("").to_owned())
            .collect();
        assert_eq!(
            changed_ids,
            expected,
            "{name}: changed verdicts:\n{}",
            changed.join("\n")
        );
        eprintln!(
            "{name}: {} cases, {} verdicts as without the proxy; changed: {}",
            v.len(),
            v.len() - changed.len(),
            if changed.is_empty() {
                "none".to_owned()
            } else {
                changed.join("; ")
            }
        );
        // What was seen is reported: the refusals' notes name the shape.
        if let Some(Mode::ErrorsAs(code)) = setups
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, m, _)| *m)
        {
            let case = report
                .cases
                .iter()
                .find(|c| c.id == "issuer.init.attestation-flipped")
                .expect("case");
            assert!(
                case.notes
                    .iter()
                    .any(|n| n.contains(&format!("refused ({code} "))),
                "{:?}",
                case.notes
            );
        }
    }
}

/// A deliberate way to break issuer rules: a fault of the engine, options of the starter, or
/// a proxy that rewrites the answers.
struct Breakage {
    name: &'static str,
    setup: Setup,
    /// The rules it breaks: cases carrying each of them must fail.
    tags: &'static [&'static str],
}

fn fault(f: IssuerFault) -> Setup {
    Setup {
        options: ReferenceOptions {
            faults: Faults::one(f),
            ..ReferenceOptions::default()
        },
        proxy: None,
        slow: false,
    }
}

/// Every breakage and the tags it breaks.
fn breakages() -> Vec<Breakage> {
    use IssuerFault as F;
    let b = |name, setup, tags| Breakage { name, setup, tags };
    let mut lifetime = fault(F::IgnoreLifetime);
    lifetime.slow = true;
    let mut privacy = fault(F::AcceptPrivacyDowngrade);
    privacy.options.privacy = true;
    let proxied = |m| Setup {
        proxy: Some(m),
        slow: false,
        ..Setup::plain()
    };
    vec![
        b(
            "AcceptBadSessionAttestation",
            fault(F::AcceptBadSessionAttestation),
            &["CRY-ATT-005", "CRY-ATT-010"][..],
        ),
        b(
            "AcceptBadKeyAttestation",
            fault(F::AcceptBadKeyAttestation),
            &["KG2-KCR-003", "CRY-KAT-004"],
        ),
        b(
            "AcceptBadCloseAttestation",
            fault(F::AcceptBadCloseAttestation),
            &["KG2-ISS-003", "CRY-CLS-004"],
        ),
        b(
            "AcceptPrivacyDowngrade",
            fault(F::AcceptPrivacyDowngrade),
            &["KG2-IMP-001", "CRY-ATT-011"],
        ),
        b(
            "AcceptPrivacyDowngrade (privacy issuer)",
            privacy,
            &["KG2-IMP-001", "CRY-ATT-011"],
        ),
        b(
            "AcceptUntrustedDevice",
            fault(F::AcceptUntrustedDevice),
            &["KG2-IMP-002", "KG2-IMP-004"],
        ),
        b(
            "IgnoreServerTimeEcho",
            fault(F::IgnoreServerTimeEcho),
            &["KG2-IMP-007"],
        ),
        b(
            "IgnoreClientTime",
            fault(F::IgnoreClientTime),
            &["KG2-IMP-005"],
        ),
        b("IgnoreLifetime", lifetime, &["KG2-IMP-006"]),
        b(
            "IgnoreSessionIds",
            fault(F::IgnoreSessionIds),
            &["KG2-FLW-002"],
        ),
        b(
            "KeepFailedSessionsOpen",
            fault(F::KeepFailedSessionsOpen),
            &["KG2-ISS-006"],
        ),
        b("NoBodyLimit", fault(F::NoBodyLimit), &["KG2-IMP-009"]),
        b(
            "AcceptAnyKeyOrder",
            fault(F::AcceptAnyKeyOrder),
            &["KG2-KCR-003"],
        ),
        b(
            "AcceptAnyCapabilities",
            fault(F::AcceptAnyCapabilities),
            &["KG2-IRS-004"],
        ),
        b(
            "IgnoreMessageOrder",
            fault(F::IgnoreMessageOrder),
            &["KG2-FLW-001"],
        ),
        b(
            "no client timeouts",
            Setup {
                options: ReferenceOptions {
                    header_timeout: Duration::from_secs(120),
                    request_timeout: Duration::from_secs(120),
                    ..ReferenceOptions::default()
                },
                proxy: None,
                slow: true,
            },
            &["KG2-IMP-011"],
        ),
        b(
            "errors as 500 (proxy)",
            proxied(Mode::ErrorsAs(500)),
            &["KG2-HTP-008"],
        ),
        b(
            "result as an empty 200 (proxy)",
            proxied(Mode::ResultAsEmpty200),
            &["KG2-HTP-006"],
        ),
        b(
            "messages as text/plain (proxy)",
            proxied(Mode::JsonAsText),
            &["KG2-HTP-003"],
        ),
    ]
}

/// Every tag the issuer cases claim.
fn claimed_tags() -> BTreeSet<&'static str> {
    airtight_harness::issuer_catalog()
        .iter()
        .flat_map(|c| c.tags.clone())
        .collect()
}

/// Runs the cases carrying the breakage's tags against the broken issuer and checks that for
/// each tag at least one of them fails.
fn check_breakage(name: &str) {
    let b = breakages()
        .into_iter()
        .find(|b| b.name == name)
        .expect("breakage");
    let catalog = airtight_harness::issuer_catalog();
    let ids: Vec<String> = catalog
        .iter()
        .filter(|c| c.tags.iter().any(|t| b.tags.contains(t)))
        .map(|c| c.id.clone())
        .collect();
    assert!(!ids.is_empty(), "{name}: no case carries {:?}", b.tags);
    let report = run(&b.setup, ids);
    for tag in b.tags {
        let failed: Vec<&str> = report
            .cases
            .iter()
            // A SHOULD case's failure is a warning: its verdict changed all the same.
            .filter(|c| {
                c.tags.iter().any(|t| t == tag)
                    && matches!(c.verdict, Verdict::Fail | Verdict::Warning)
            })
            .map(|c| c.id.as_str())
            .collect();
        assert!(
            !failed.is_empty(),
            "{name} breaks {tag}, but no case carrying {tag} fails: {:?}",
            report
                .cases
                .iter()
                .filter(|c| c.tags.iter().any(|t| t == tag))
                .map(|c| (&c.id, c.verdict, &c.message))
                .collect::<Vec<_>>()
        );
        eprintln!("{name}: {tag} caught by {}", failed.join(", "));
    }
}

macro_rules! breakage_is_caught {
    ($($test:ident => $name:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_breakage($name);
            }
        )*
        const TESTED_BREAKAGES: &[&str] = &[$($name),*];
    };
}

breakage_is_caught! {
    fault_accept_bad_session_attestation => "AcceptBadSessionAttestation",
    fault_accept_bad_key_attestation => "AcceptBadKeyAttestation",
    fault_accept_bad_close_attestation => "AcceptBadCloseAttestation",
    fault_accept_privacy_downgrade => "AcceptPrivacyDowngrade",
    fault_accept_privacy_downgrade_in_privacy_mode => "AcceptPrivacyDowngrade (privacy issuer)",
    fault_accept_untrusted_device => "AcceptUntrustedDevice",
    fault_ignore_server_time_echo => "IgnoreServerTimeEcho",
    fault_ignore_client_time => "IgnoreClientTime",
    fault_ignore_lifetime => "IgnoreLifetime",
    fault_ignore_session_ids => "IgnoreSessionIds",
    fault_keep_failed_sessions_open => "KeepFailedSessionsOpen",
    fault_no_body_limit => "NoBodyLimit",
    fault_accept_any_key_order => "AcceptAnyKeyOrder",
    fault_accept_any_capabilities => "AcceptAnyCapabilities",
    fault_ignore_message_order => "IgnoreMessageOrder",
    no_client_timeouts => "no client timeouts",
    proxy_errors_as_500 => "errors as 500 (proxy)",
    proxy_result_as_empty_200 => "result as an empty 200 (proxy)",
    proxy_messages_as_text => "messages as text/plain (proxy)",
}

/// The checked-in list of claimed tags that no breakage covers yet.
const WITHOUT_FAULT: &str = "tests/issuer-tags-without-fault.txt";

#[test]
fn every_breakage_and_fault_is_tested_and_the_list_of_tags_without_a_fault_is_exact() {
    let all = breakages();
    let names: BTreeSet<&str> = all.iter().map(|b| b.name).collect();
    assert_eq!(
        names,
        TESTED_BREAKAGES.iter().copied().collect::<BTreeSet<_>>()
    );
    for f in IssuerFault::ALL {
        assert!(
            all.iter().any(|b| b.setup.options.faults == Faults::one(f)),
            "{f:?} has no breakage test"
        );
    }
    let claimed = claimed_tags();
    let covered: BTreeSet<&str> = all.iter().flat_map(|b| b.tags.iter().copied()).collect();
    for t in &covered {
        assert!(
            claimed.contains(t),
            "a breakage names {t}, which no issuer case claims"
        );
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(WITHOUT_FAULT);
    let text = std::fs::read_to_string(&path).expect("the list of tags without a fault");
    let mut listed = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (tag, reason) = line.split_once(' ').unwrap_or((line, ""));
        assert!(!reason.trim().is_empty(), "{tag}: no reason given");
        assert!(listed.insert(tag.to_owned()), "{tag} listed twice");
    }
    let expected: BTreeSet<String> = claimed
        .difference(&covered)
        .map(|t| (*t).to_owned())
        .collect();
    assert_eq!(
        listed, expected,
        "{WITHOUT_FAULT} must list exactly the claimed tags that no breakage covers"
    );
}

/// A fault is caught by the same cases whether the issuer refuses with a 302 or a 500.
#[test]
fn faults_are_caught_by_the_same_cases_behind_a_500_proxy() {
    for f in [
        IssuerFault::AcceptBadSessionAttestation,
        IssuerFault::KeepFailedSessionsOpen,
    ] {
        let ids: Vec<String> = airtight_harness::issuer_catalog()
            .iter()
            // Not the id-rewritten replays: whether their serverTime echo gives them away
            // depends on whether the two sessions started in the same second.
            .filter(|c| {
                c.tags
                    .iter()
                    .any(|t| ["CRY-ATT-005", "KG2-ISS-006"].contains(t))
                    && !c.id.ends_with(".replayed-with-rewritten-ids")
            })
            .map(|c| c.id.clone())
            .collect();
        let failed = |r: &Report| -> Vec<String> {
            r.cases
                .iter()
                .filter(|c| c.verdict == Verdict::Fail)
                .map(|c| c.id.clone())
                .collect()
        };
        let direct = run(&fault(f), ids.clone());
        let proxied = run(
            &Setup {
                proxy: Some(Mode::ErrorsAs(500)),
                ..fault(f)
            },
            ids,
        );
        assert!(!failed(&direct).is_empty(), "{f:?}");
        assert_eq!(failed(&direct), failed(&proxied), "{f:?}");
    }
}

/// Against an issuer that asks for privacy mode, the privacy cases run and pass.
#[test]
fn privacy_mode_cases_pass_against_a_privacy_issuer() {
    let setup = Setup {
        options: ReferenceOptions {
            privacy: true,
            ..ReferenceOptions::default()
        },
        proxy: None,
        slow: false,
    };
    let report = run(&setup, vec!["issuer.init.".into()]);
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.verdict.fails_run())
        .map(|c| format!("{}: {}", c.id, c.message.clone().unwrap_or_default()))
        .collect();
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
    let added = report
        .cases
        .iter()
        .find(|c| c.id == "issuer.init.privacy-device-id-added")
        .expect("case");
    assert_eq!(added.verdict, Verdict::Pass, "{:?}", added.message);
}

#[test]
fn issuer_reports_with_a_load_test_validate_against_the_schema() {
    let options = ReferenceOptions::default();
    let running = reference::start(&options).expect("reference issuer");
    let run = RunOptions {
        filter: vec!["issuer.init.attestation-flipped".into()],
        load: Some(airtight_harness::issuer::load::LoadPlan::closed(2, 1.0)),
        ..RunOptions::default()
    };
    let report = airtight_harness::run_issuer(&running.invocation_url, &config(&options), &run);
    running.server.shutdown().expect("shutdown");
    // Sanity first and last around the selected case.
    let ids: Vec<&str> = report.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "issuer.sanity.first",
            "issuer.init.attestation-flipped",
            "issuer.sanity.last"
        ]
    );
    assert!(report.summary.passed, "{:?}", report.summary);
    let load = report.load.as_ref().expect("load figures");
    assert!(load.sessions > 0 && load.errors == 0, "{load:?}");
    assert!(load.session.as_ref().is_some_and(|s| s.n == load.sessions));
    // The wire log of the hostile case shows the refusal.
    let case = &report.cases[1];
    assert!(
        case.wire
            .iter()
            .any(|w| w.method == "POST" && w.result.starts_with("302 -> "))
    );
    let dir = tempfile::tempdir().expect("tempdir");
    airtight_harness::reports::write_all(&report, dir.path()).expect("write");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("json"),
    )
    .expect("parse");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../spec/schemas/harness-report.schema.json"),
        )
        .expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("validator");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("id=\"load\"") && html.contains("HTTP exchanges"));
}
