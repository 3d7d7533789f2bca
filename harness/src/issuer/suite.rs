//! The issuer suite: its case types for [`crate::model::Case`] and its [`Driver`] for the one
//! runner ([`crate::run::run`]).

use crate::config::TargetConfig;
use crate::model::{CaseRun, Suite, run_body};
use crate::reports::{Report, TargetInfo};
use crate::run::{Driver, RunOptions, SuiteExtras};

use super::{IssuerCase, IssuerCtx, IssuerProfile, IssuerTarget, learn, load};

/// The issuer suite (cases run against an issuer's KeyGen2 HTTP endpoint).
#[derive(Debug, Clone, Copy)]
pub struct IssuerSuite;

impl Suite for IssuerSuite {
    type Profile = IssuerProfile;
    type Ctx<'a> = IssuerCtx<'a>;
    const SANITY_FIRST: &'static str = super::SANITY_FIRST;
    const SANITY_LAST: &'static str = super::SANITY_LAST;
    const NOT_APPLICABLE: &'static str =
        "the issuer's honest session does not contain what this case needs";
}

/// One run against one issuer (`target` is `Err` when it could not be built: every case then
/// fails with that reason).
#[derive(Debug)]
pub struct IssuerDriver {
    target: Result<IssuerTarget, String>,
    profile: IssuerProfile,
    info: TargetInfo,
    notes: Vec<String>,
}

impl IssuerDriver {
    /// Learns the issuer from honest sessions.
    pub fn new(target: Result<IssuerTarget, String>, config: &TargetConfig, seed: u64) -> Self {
        let mut notes = Vec::new();
        let (profile, info) = match &target {
            Ok(t) => {
                let (p, n) = learn(t, config, seed);
                notes.extend(n);
                let info = TargetInfo {
                    name: t.name.clone(),
                    kind: "issuer".into(),
                    transport: if t.tls.is_some() { "https" } else { "http" }.into(),
                    description: format!("init {}{}", t.init_url.origin(), t.init_url.target),
                    features: p.features.iter().cloned().collect(),
                    ..TargetInfo::default()
                };
                (p, info)
            }
            Err(e) => {
                notes.push(format!("the target could not be opened: {e}"));
                (
                    IssuerProfile::default(),
                    TargetInfo {
                        kind: "issuer".into(),
                        transport: "http".into(),
                        ..TargetInfo::default()
                    },
                )
            }
        };
        IssuerDriver {
            target,
            profile,
            info,
            notes,
        }
    }
}

impl Driver for IssuerDriver {
    type S = IssuerSuite;

    fn profile(&self) -> &IssuerProfile {
        &self.profile
    }

    fn info(&self) -> TargetInfo {
        self.info.clone()
    }

    fn setup_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn run_case(&mut self, case: &IssuerCase, seed: u64) -> CaseRun {
        match &self.target {
            Ok(t) => {
                let mut ctx = IssuerCtx::new(t, &self.profile, seed);
                let mut run = CaseRun::new(run_body(case, &mut ctx));
                run.wire = ctx.log.take();
                run.notes = ctx.notes;
                run
            }
            Err(e) => CaseRun::failed(format!("cannot open the target: {e}")),
        }
    }

    fn finish(&mut self, options: &RunOptions) -> SuiteExtras {
        let mut extras = SuiteExtras::default();
        if options.load.is_some() && cfg!(debug_assertions) {
            extras.notes.push(
                "the harness was built without optimizations (debug): its load figures understate the issuer; use a release build for figures to publish".into(),
            );
        }
        if let (Ok(t), Some(plan)) = (&self.target, &options.load) {
            match load::run_plan(t, &self.profile, plan, options.seed ^ 0x10ad) {
                Ok(l) => {
                    if let Some(h) = &l.hostile
                        && !h.all_refused()
                    {
                        extras.notes.push(format!(
                            "hostile load: {} hostile attempt(s) were not refused: {}",
                            h.kinds.values().map(|k| k.not_refused).sum::<usize>(),
                            h.not_refused_samples.join("; ")
                        ));
                    }
                    extras.load = Some(l);
                }
                Err(e) => extras.notes.push(format!("load test: {e}")),
            }
        }
        extras
    }
}

/// Runs `cases` against the issuer (`target` is `Err` when it could not be built: every case
/// then fails with that reason).
pub fn run_issuer_cases(
    target: Result<IssuerTarget, String>,
    cases: &[IssuerCase],
    config: &TargetConfig,
    options: &RunOptions,
) -> Report {
    let mut driver = IssuerDriver::new(target, config, options.seed);
    crate::run::run(&mut driver, cases, config, options)
}
