//! The runner: selects cases, runs them against a target, applies the configuration's
//! discipline (expected failures, known divergences, disabled cases), shows progress on
//! stderr and builds the [`Report`].

use std::collections::BTreeSet;
use std::time::Instant;

use airtight_proto::sks::{KeyHandle, SecureKeyStore};

use crate::case::{Card, Case, TargetProfile};
use crate::config::TargetConfig;
use crate::ctx::Ctx;
use crate::model::{CaseRun, run_body};
use crate::perf::{LatencyStats, Performance, per_method};
use crate::reports::{Report, TargetInfo};
use crate::run::{Driver, SuiteExtras};
use crate::target::{OpenedCard, Target};
use crate::verify::Snapshot;
use crate::wire::RecordingSks;

pub use crate::model::Listed;
pub use crate::run::{RunOptions, list};

/// Id of the sanity case that runs first.
pub const SANITY_FIRST: &str = "card.sanity.first";
/// Id of the sanity case that runs last.
pub const SANITY_LAST: &str = "card.sanity.last";

/// Builds the target profile from the configuration and the card's `getDeviceInfo`.
pub fn profile(
    card: &mut OpenedCard,
    config: &TargetConfig,
    transport: &str,
) -> (TargetProfile, TargetInfo) {
    let mut p = TargetProfile {
        name: config
            .target
            .name
            .clone()
            .unwrap_or_else(|| "card".to_owned()),
        transport: transport.to_owned(),
        features: config.features.declared.clone(),
        destructive: config.destructive,
        ..TargetProfile::default()
    };
    let mut info = TargetInfo {
        name: p.name.clone(),
        kind: "card".into(),
        transport: transport.to_owned(),
        ..TargetInfo::default()
    };
    if card.clock.is_some() {
        p.features.insert("clock".into());
    }
    if let Ok(d) = card.sks.get_device_info() {
        let now = match &card.clock {
            Some(c) => c.now(),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        if let Some(cert) = d.certificate_path.first() {
            info.device_warnings =
                crate::weakness::device_weaknesses(cert, i64::try_from(now).unwrap_or(i64::MAX));
        }
        p.algorithms = d.supported_algorithms.iter().cloned().collect();
        p.device_pin_support = d.device_pin_support;
        p.biometric_support = d.biometric_support;
        p.crypto_data_size = d.crypto_data_size;
        p.extension_data_size = d.extension_data_size;
        info.vendor = d.vendor_name;
        info.description = d.vendor_description;
        info.api_level = d.api_level;
    }
    p.algorithms
        .extend(config.features.algorithms.iter().cloned());
    for a in &config.features.disabled_algorithms {
        p.algorithms.remove(a);
    }
    info.algorithms = p.algorithms.iter().cloned().collect();
    info.features = p.features.iter().cloned().collect();
    (p, info)
}

/// Best-effort cleanup of a shared card: aborts sessions opened and deletes keys created
/// since `before`. Returns what could not be removed (e.g. keys with delete protection or a
/// PIN the harness cannot give), for the report.
fn cleanup(sks: &mut dyn SecureKeyStore, before: &Snapshot) -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(after) = Snapshot::take(sks) else {
        return vec!["cleanup: could not enumerate the card".into()];
    };
    for h in after.open.iter().filter(|h| !before.open.contains(h)) {
        if let Err(e) = sks.abort_provisioning_session(*h) {
            notes.push(format!("cleanup: abort of session {h} failed: {e}"));
        }
    }
    let old: BTreeSet<KeyHandle> = before.keys.iter().map(|k| k.key_handle).collect();
    for k in after.keys.iter().filter(|k| !old.contains(&k.key_handle)) {
        if let Err(e) = sks.delete_key(k.key_handle, None) {
            notes.push(format!(
                "cleanup: key {} left on the card: {e}",
                k.key_handle
            ));
        }
    }
    notes
}

/// The card suite's [`Driver`]: a fresh card per case (factories) or one card cleaned up
/// after every case.
pub struct CardDriver {
    factory: Option<crate::target::CardFactory>,
    single: Option<RecordingSks>,
    single_clock: Option<std::sync::Arc<dyn crate::target::ClockControl>>,
    single_link: Option<std::sync::Arc<crate::target::LinkCounters>>,
    profile: TargetProfile,
    info: TargetInfo,
    notes: Vec<String>,
}

impl std::fmt::Debug for CardDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardDriver")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl CardDriver {
    /// Opens a first card of `target` and learns its profile.
    pub fn new(target: Target, config: &TargetConfig, seed: u64) -> Self {
        let transport = config.target.transport.clone();
        let mut notes = Vec::new();
        let (factory, first) = match target {
            Target::Factory(mut f) => {
                let c = f(seed);
                (Some(f), c.map_err(|e| e.to_string()))
            }
            Target::Single(c) => (None, Ok(c)),
        };
        let (profile, info, single, single_clock, single_link) = match first {
            Ok(mut card) => {
                let (p, i) = profile(&mut card, config, &transport);
                if factory.is_none() {
                    let clock = card.clock.clone();
                    let link = card.link.clone();
                    (p, i, Some(RecordingSks::new(card.sks)), clock, link)
                } else {
                    (p, i, None, None, None)
                }
            }
            Err(e) => {
                notes.push(format!("the target could not be opened: {e}"));
                (
                    TargetProfile::default(),
                    TargetInfo::default(),
                    None,
                    None,
                    None,
                )
            }
        };
        CardDriver {
            factory,
            single,
            single_clock,
            single_link,
            profile,
            info,
            notes,
        }
    }
}

impl Driver for CardDriver {
    type S = Card;

    fn profile(&self) -> &TargetProfile {
        &self.profile
    }

    fn info(&self) -> TargetInfo {
        self.info.clone()
    }

    fn setup_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn run_case(&mut self, case: &Case, seed: u64) -> CaseRun {
        let profile = &self.profile;
        match &mut self.factory {
            Some(f) => match f(seed) {
                Ok(card) => {
                    let mut sks = RecordingSks::new(card.sks);
                    let clock = card.clock;
                    let mut ctx = Ctx {
                        sks: &mut sks,
                        profile,
                        seed,
                        clock: clock.as_deref(),
                        notes: Vec::new(),
                    };
                    let mut run = CaseRun::new(run_body(case, &mut ctx));
                    run.notes = ctx.notes;
                    run.wire = sks.take_log();
                    run
                }
                Err(e) => CaseRun::failed(format!("cannot open the target: {e}")),
            },
            None => {
                let Some(sks) = self.single.as_mut() else {
                    return CaseRun::failed("no card");
                };
                let before = Snapshot::take(sks).ok();
                let mut ctx = Ctx {
                    sks,
                    profile,
                    seed,
                    clock: self.single_clock.as_deref(),
                    notes: Vec::new(),
                };
                let mut run = CaseRun::new(run_body(case, &mut ctx));
                run.notes = ctx.notes;
                run.wire = sks.take_log();
                match before {
                    Some(b) => run.left_behind = cleanup(sks, &b),
                    None => run
                        .left_behind
                        .push("cleanup: the card could not be enumerated before the case".into()),
                }
                sks.take_log();
                run
            }
        }
    }

    fn finish(&mut self, options: &RunOptions) -> SuiteExtras {
        let mut extras = SuiteExtras::default();
        if options.perf_sessions > 0 {
            if cfg!(debug_assertions) {
                extras.notes.push(
                    "the harness was built without optimizations (debug): its latency figures include the harness's own slowness; use a release build for figures to publish".into(),
                );
            }
            extras.performance = Some(performance(self, options));
        }
        extras
    }
}

/// Runs `cases` (a catalog with the sanity cases in it) against `target`.
pub fn run_cases(
    target: Target,
    cases: &[Case],
    config: &TargetConfig,
    options: &RunOptions,
) -> Report {
    let mut driver = CardDriver::new(target, config, options.seed);
    crate::run::run(&mut driver, cases, config, options)
}

/// Performance mode: honest sessions on one card, timed per call and per session.
fn performance(runner: &mut CardDriver, options: &RunOptions) -> Performance {
    let mut owned: Option<RecordingSks> = None;
    let mut link = runner.single_link.clone();
    let sks: &mut RecordingSks = match (&mut runner.factory, runner.single.as_mut()) {
        (None, Some(s)) => {
            s.take_log();
            s
        }
        (Some(f), _) => match f(options.seed ^ 0x9e7f) {
            Ok(c) => {
                link = c.link.clone();
                owned.insert(RecordingSks::new(c.sks))
            }
            Err(_) => {
                return Performance {
                    sessions: 0,
                    errors: 1,
                    methods: Default::default(),
                    session: None,
                    calibration: None,
                    calls: 0,
                    link: None,
                };
            }
        },
        _ => {
            return Performance {
                sessions: 0,
                errors: 1,
                methods: Default::default(),
                session: None,
                calibration: None,
                calls: 0,
                link: None,
            };
        }
    };
    // Calibration: the cheapest call, repeated.
    let mut cal = Vec::new();
    for _ in 0..options.perf_sessions.clamp(20, 200) {
        let t = Instant::now();
        let _ = sks.get_device_info();
        cal.push(t.elapsed().as_secs_f64() * 1e6);
    }
    sks.take_log();
    let mut session_times = Vec::new();
    let mut errors = 0;
    let link_start = link.as_ref().map(|l| l.read());
    let mut log = Vec::new();
    for i in 0..options.perf_sessions {
        let t = Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let r = crate::cases::card::honest_session(
            sks,
            options.seed.wrapping_add(i as u64),
            u32::try_from(now).unwrap_or(u32::MAX),
        );
        let el = t.elapsed().as_secs_f64() * 1e6;
        match r {
            Ok(()) => session_times.push(el),
            Err(_) => errors += 1,
        }
        log.append(&mut sks.take_log());
    }
    let n = options.perf_sessions.max(1) as f64;
    let link = match (link, link_start) {
        (Some(l), Some((a0, t0, f0))) => {
            let (a, t, f) = l.read();
            Some(crate::perf::LinkPerSession {
                apdus: (a - a0) as f64 / n,
                bytes_to_card: (t - t0) as f64 / n,
                bytes_from_card: (f - f0) as f64 / n,
            })
        }
        _ => None,
    };
    Performance {
        sessions: options.perf_sessions,
        errors,
        link,
        calls: log.len(),
        methods: per_method(&log),
        session: LatencyStats::of(&session_times),
        calibration: LatencyStats::of(&cal),
    }
}
