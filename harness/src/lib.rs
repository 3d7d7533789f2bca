//! `airtight-harness`: the conformance and performance harness.
//!
//! Point it at a card (any [`SecureKeyStore`](airtight_proto::sks::SecureKeyStore): the
//! reference in-process, a PC/SC reader or a shim once the bindings land) and get a verdict for
//! every rule of the spec, performance figures and reports to publish.
//!
//! Layers (each imports only those above it):
//! - [`model`]: levels, outcomes that keep what was observed ([`Failure`]: expected and
//!   actual), verdicts, [`model::Case`] over a [`model::Suite`].
//! - [`config`]: the TOML target configuration ([`TargetConfig`]), pure data.
//! - [`expect`]: what the configuration excuses (pinned expected failures and divergences,
//!   the `[policy]` for SHOULD failures).
//! - [`run`]: the one runner over a suite's [`run::Driver`]: selection, seeds, progress,
//!   the report.
//!
//! The two suites:
//! - cards: [`case`] ([`Case`], [`TargetProfile`]), [`ctx`], [`runner`] (the card driver,
//!   cleanup of shared cards, performance mode), [`target`] ([`TargetSpec`], [`Target`]),
//!   [`cases`]`::card`, [`emulator`] (the SKS-level issuer emulator of `airtight-testkit`),
//!   [`verify`].
//! - issuers: [`issuer`] (its case model, HTTP client, session driver, suite and load test),
//!   [`cases`]`::issuer`.
//!
//! - [`rules`]: the spec's rules embedded from `spec/*.md` (text, level, protocol or airtight
//!   tightening).
//! - [`reports`]: JSON, JUnit XML and HTML ([`reports::write_all`]).
//!
//! Entry points for the CLI: [`run_card`], [`run_issuer`], [`reports::write_all`].
#![forbid(unsafe_code)]

pub mod case;
pub mod cases;
pub mod config;
pub mod ctx;
/// The SKS-level issuer emulator the card cases drive: `airtight-testkit`'s, re-exported for
/// the harness's users.
pub use airtight_testkit::emulator;
pub mod expect;
#[cfg(any(test, feature = "faults"))]
pub mod faulty;
pub mod issuer;
pub mod model;
pub mod perf;
pub mod reports;
pub mod rules;
pub mod run;
pub mod runner;
pub mod target;
pub mod verify;
pub mod weakness;
pub mod wire;

pub use case::{Case, TargetProfile};
pub use config::TargetConfig;
pub use ctx::Ctx;
pub use model::{Failure, Level, Outcome, Step, Stop, Verdict};
pub use reports::Report;
pub use runner::RunOptions;
pub use target::{Target, TargetSpec};

/// Runs the card catalog against `target`.
pub fn run_card(target: Target, config: &TargetConfig, options: &RunOptions) -> Report {
    runner::run_cases(target, &cases::card::all(), config, options)
}

/// Opens the card target the configuration names and runs the card catalog.
pub fn run_card_from_config(
    config: &TargetConfig,
    options: &RunOptions,
) -> Result<Report, Box<dyn std::error::Error + Send + Sync>> {
    let spec = config.card_spec()?;
    let target = target::open(&spec)?;
    Ok(run_card(target, config, options))
}

/// The card catalog, for `--list`.
pub fn card_catalog() -> Vec<Case> {
    cases::card::all()
}

/// The issuer catalog, for `--list`.
pub fn issuer_catalog() -> Vec<issuer::IssuerCase> {
    cases::issuer::all()
}

/// The issuer target of `url` (an invocation URL or the init URL) and the configuration's
/// `[issuer]` table.
pub fn issuer_target(
    url: &str,
    config: &TargetConfig,
) -> Result<issuer::IssuerTarget, issuer::IssuerTargetError> {
    issuer::issuer_target(url, &config.issuer, config.target.name.as_deref())
}

/// Runs the issuer catalog against the issuer at `url` (an invocation URL, `intent://…` or
/// the plain init URL `http://…/keygen2?init=true`).
pub fn run_issuer(url: &str, config: &TargetConfig, options: &RunOptions) -> Report {
    let target = issuer_target(url, config).map_err(|e| e.to_string());
    issuer::run_issuer_cases(target, &cases::issuer::all(), config, options)
}

/// The issuer web-flow cases (`spec/browser.md` §3): apart from [`issuer_catalog`], because
/// they need the issuer's landing page.
pub fn issuer_browser_catalog() -> Vec<issuer::IssuerCase> {
    cases::issuer::browser::cases()
}

/// Runs the web-flow cases against the issuer whose landing page is `landing_url`: the harness
/// loads the page, takes the first `keygen2:` invocation it carries as the target, and runs
/// [`issuer_browser_catalog`] with the same runner and report as [`run_issuer`]. A page without
/// a usable invocation fails every case with the reason.
pub fn run_issuer_browser(
    landing_url: &str,
    config: &TargetConfig,
    options: &RunOptions,
) -> Report {
    let target = browser_target(landing_url, config);
    issuer::run_issuer_cases(target, &issuer_browser_catalog(), config, options)
}

fn browser_target(
    landing_url: &str,
    config: &TargetConfig,
) -> Result<issuer::IssuerTarget, String> {
    let landing =
        issuer::http::Url::parse(landing_url).map_err(|e| format!("--url {landing_url}: {e}"))?;
    // A provisional target on the landing page's origin, to load the page with the harness's
    // client (TLS trust included).
    let mut probe = issuer_target(landing_url, config).map_err(|e| e.to_string())?;
    probe.landing_url = Some(landing.clone());
    let log = issuer::WireLog::default();
    let mut s = issuer::Session::new(&probe, &log, 0, None).map_err(|e| format!("{e:?}"))?;
    let page = s
        .get(&landing)
        .map_err(|e| format!("the landing page: {e:?}"))?;
    let html = String::from_utf8_lossy(&page.body);
    let raw = cases::issuer::browser::invocations_in(&html)
        .into_iter()
        .next()
        .ok_or_else(|| {
            format!(
                "the landing page {landing_url} carries no keygen2: invocation ({})",
                page.summary()
            )
        })?;
    let mut target = issuer_target(&raw, config)
        .map_err(|e| format!("the landing page's invocation {raw}: {e}"))?;
    target.landing_url = Some(landing);
    Ok(target)
}

/// The issuer load test: `concurrency` honest sessions at a time for `seconds` against the
/// issuer at `url`.
pub fn issuer_load(
    url: &str,
    concurrency: usize,
    seconds: f64,
    config: &TargetConfig,
) -> Result<issuer::load::LoadReport, Box<dyn std::error::Error + Send + Sync>> {
    let target = issuer_target(url, config)?;
    let (profile, _) = issuer::learn(&target, config, 0x10ad);
    Ok(issuer::load::run_load(
        &target,
        &profile,
        concurrency,
        seconds,
        0x10ad,
    )?)
}
