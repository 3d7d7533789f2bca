//! The issuer web-flow cases (`airtight harness issuer --browser`, [BRW-ISS-001]…[BRW-ISS-004])
//! against the reference issuer's landing page: every case passes against the honest issuer,
//! and each fails against an issuer that breaks exactly its rule (a deliberate fault, or a
//! proxy that rewrites the result redirect).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "issuer/proxy.rs"]
#[allow(dead_code)]
mod proxy;

use airtight_harness::issuer::reference::{self, ReferenceOptions};
use airtight_harness::reports::Report;
use airtight_harness::{RunOptions, TargetConfig, Verdict};
use airtight_issuer::{Faults, IssuerFault};
use proxy::{Mode, Proxy};

fn run(faults: Faults, mode: Option<Mode>) -> Report {
    let bound = mode.map(|m| (m, proxy::bind()));
    let mut options = ReferenceOptions {
        faults,
        ..ReferenceOptions::default()
    };
    if let Some((_, (_, base))) = &bound {
        options.public_url = Some(base.clone());
    }
    let running = reference::start(&options).expect("reference issuer");
    let relay = bound.map(|(m, (l, _))| Proxy::start(l, running.server.addr(), m));
    let mut c = TargetConfig::default();
    c.target.transport = "http".into();
    c.issuer.timeout_ms = Some(5_000);
    let base = options
        .public_url
        .clone()
        .unwrap_or_else(|| running.server.base_url().to_owned());
    let report =
        airtight_harness::run_issuer_browser(&format!("{base}/"), &c, &RunOptions::default());
    drop(relay);
    running.server.shutdown().expect("shutdown");
    report
}

fn verdict(r: &Report, id: &str) -> Verdict {
    r.cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .verdict
}

#[test]
fn every_web_flow_case_passes_against_the_reference_issuer() {
    let report = run(Faults::default(), None);
    let bad: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{}: {:?} {:?}", c.id, c.verdict, c.message))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(report.cases.len(), 6);
    assert!(report.summary.passed);
}

#[test]
fn each_web_flow_case_fails_against_an_issuer_that_breaks_its_rule() {
    let breakages: [(&str, Faults, Option<Mode>); 4] = [
        (
            "issuer.browser.landing-invocation",
            Faults::one(IssuerFault::LandingWithoutInvocation),
            None,
        ),
        (
            "issuer.browser.cancel",
            Faults::one(IssuerFault::CancelKeepsSession),
            None,
        ),
        (
            "issuer.browser.result-page",
            Faults::default(),
            Some(Mode::ResultAsEmpty200),
        ),
        (
            "issuer.browser.tampered-mac",
            Faults::one(IssuerFault::AcceptBadKeyAttestation),
            None,
        ),
    ];
    for (id, faults, mode) in breakages {
        let report = run(faults.clone(), mode);
        assert!(
            verdict(&report, id).fails_run(),
            "{id} passed against {faults:?} {}",
            mode.map_or("", |_| "behind a rewriting proxy")
        );
        assert!(!report.summary.passed);
    }
    // The web faults are exactly the ones above.
    assert_eq!(
        IssuerFault::WEB,
        [
            IssuerFault::LandingWithoutInvocation,
            IssuerFault::CancelKeepsSession
        ]
    );
}
