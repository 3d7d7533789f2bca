//! `airtight harness card` and `airtight harness issuer`: the conformance harness
//! (`airtight-harness`) from the command line. A run shows progress on stderr, writes
//! `report.json`, `junit.xml` and `report.html` into `--out`, and prints a one-paragraph
//! summary; the command fails with [`CliError::Failed`] (exit code 1) when a case fails the run.
//!
//! Exit codes: 0 the run passed; 1 a case failed the run; 2 bad arguments or an unreadable or
//! invalid `--config`; 3 the reports could not be written; 6 the card target could not be
//! opened; 5 the reference issuer could not be started.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airtight_harness::case::Verdict;
use airtight_harness::issuer::crash::{CrashPlan, CrashReport, run_crash_under_load};
use airtight_harness::issuer::hostile::{HostileKind, HostilePlan, StoreProbe};
use airtight_harness::issuer::load::{LoadPlan, Pacing};
use airtight_harness::issuer::reference::{self, ReferenceOptions};
use airtight_harness::runner::Listed;
use airtight_harness::{Report, RunOptions, TargetConfig, reports, runner, target};

use crate::CliError;

/// The card transports `--transport` accepts.
pub const CARD_TRANSPORTS: &[&str] = &["in-process", "apdu-loopback", "pcsc", "shim"];

/// What `harness card` and `harness issuer` share.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// The target configuration (TOML); the reference target otherwise.
    pub config: Option<PathBuf>,
    /// Where the three reports go (none written without it).
    pub out: Option<PathBuf>,
    /// Print the catalog instead of running it.
    pub list: bool,
    /// Id prefixes to select (all cases when empty).
    pub only: Vec<String>,
    /// Base seed.
    pub seed: u64,
    /// No progress on stderr.
    pub quiet: bool,
    /// Overrides `[target] name` (the display name in the summary and the reports).
    pub name: Option<String>,
}

/// `harness card` options beyond [`Common`].
#[derive(Debug, Clone, Default)]
pub struct CardOptions {
    /// Overrides `[target] transport`.
    pub transport: Option<String>,
    /// Overrides `[target] reader` (implies the pcsc transport when none is named).
    pub reader: Option<String>,
    /// ATRs (hex) added to `[target] atr_allowlist`.
    pub atr: Vec<String>,
    /// Overrides `[target] command`: a command line (implies the shim transport when none is
    /// named).
    pub shim: Option<String>,
    /// Performance mode: this many honest sessions after the conformance cases.
    pub perf: usize,
    /// Optional features the target implements (added to `[features] declared`).
    pub features: Vec<String>,
    /// Consent to destructive cases on a foreign card: the reader name (pcsc) or the shim
    /// command line, exactly as the run uses it.
    pub destructive: Option<String>,
}

/// `harness issuer` options beyond [`Common`].
#[derive(Debug, Clone, Default)]
pub struct IssuerOptions {
    /// The issuer URL (overrides `[target] url`).
    pub url: Option<String>,
    /// More nodes of the same issuer: the load test spreads its sessions over `url` and these.
    pub more_urls: Vec<String>,
    /// Start the reference issuer on 127.0.0.1 (random port, in-memory store, short
    /// lifetime and timeouts: [`ReferenceOptions::default`]) and target it.
    pub reference: bool,
    /// With `reference`: serve it over HTTPS.
    pub tls: bool,
    /// Run the web-flow cases against the landing page (`url`, or the reference issuer's).
    pub browser: bool,
    /// PEM files trusted for an `https://` issuer (added to `[issuer] trust_anchors`).
    pub trust_anchors: Vec<String>,
    /// Load test: its pacing and seconds.
    pub load: Option<(LoadMode, f64)>,
    /// Hostile load: this share of all attempts is hostile (the load runs twice: honest
    /// alone, then beside the hostile traffic).
    pub hostile: Option<f64>,
    /// The hostile kinds to send (all when empty).
    pub hostile_kinds: Vec<String>,
    /// The issuer's process id, for its memory over the hostile load (`--reference`: this
    /// process).
    pub issuer_pid: Option<u32>,
    /// Crash under load: this many SIGKILL-and-restart rounds of `airtight issuer serve` on
    /// one store, then the audit.
    pub crash_rounds: Option<usize>,
}

/// How the load test paces its sessions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadMode {
    /// Closed loop: this many sessions at a time (`--load-sessions`).
    Closed(usize),
    /// Open loop: `rate` session starts per second over `connections` client threads
    /// (`--load-rate`, `--load-connections`).
    Open {
        /// Session starts per second.
        rate: f64,
        /// Client threads.
        connections: usize,
    },
}

/// Reads and validates `--config`. A missing or unreadable file is an i/o error (exit 3), a file
/// that is not a valid configuration a configuration error (exit 4), as for an issuer policy.
pub fn load_config(path: &Path) -> Result<TargetConfig, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Io(format!(
            "--config {}: cannot read the target configuration: {e}",
            path.display()
        ))
    })?;
    TargetConfig::from_toml(&text)
        .map_err(|e| CliError::Config(format!("--config {}: {e}", path.display())))
}

/// True if `id` is selected by the prefixes `only` (every id when `only` is empty).
pub fn selected(id: &str, only: &[String]) -> bool {
    only.is_empty() || only.iter().any(|p| id.starts_with(p.as_str()))
}

/// `--list`: one line per selected case (id, level, tags, description, tab-separated).
pub fn list<C: Listed>(
    out: &mut dyn Write,
    mut catalog: Vec<C>,
    only: &[String],
) -> Result<(), CliError> {
    let n = catalog.len();
    catalog.retain(|c| selected(c.id(), only));
    let mut text = String::new();
    for line in runner::list(&catalog) {
        text.push_str(&line);
        text.push('\n');
    }
    if catalog.is_empty() {
        text.push_str(&format!("no case selected (catalog of {n} cases)\n"));
    }
    write_out(out, &text)
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Io(format!("stdout: {e}")))
}

/// The configuration of a card run: `--config` (or the reference in-process target) with the
/// command-line overrides applied, validated.
pub fn card_config(common: &Common, o: &CardOptions) -> Result<TargetConfig, CliError> {
    card_config_noted(common, o).map(|(c, _)| c)
}

/// True for the transports that reach the reference card of this process (a fresh card for
/// every case): they keep the reference profile without a configuration.
fn is_reference_transport(t: &str) -> bool {
    matches!(t, "in-process" | "apdu-loopback")
}

/// [`card_config`] plus the notes the run shows about what it assumed (declared features,
/// destructive cases).
pub fn card_config_noted(
    common: &Common,
    o: &CardOptions,
) -> Result<(TargetConfig, Vec<String>), CliError> {
    let from_file = common.config.is_some();
    let mut notes = Vec::new();
    let mut c = match &common.config {
        Some(p) => load_config(p)?,
        None => TargetConfig::default(),
    };
    let file_target = c.target.clone();
    let transport = match (&o.transport, &o.reader, &o.shim) {
        (Some(t), _, _) => Some(t.clone()),
        (None, Some(_), None) => Some("pcsc".to_owned()),
        (None, None, Some(_)) => Some("shim".to_owned()),
        (None, Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "--reader and --shim name different transports; give one".into(),
            ));
        }
        (None, None, None) => None,
    };
    if let Some(t) = transport {
        if !CARD_TRANSPORTS.contains(&t.as_str()) {
            return Err(CliError::Usage(format!(
                "--transport {t}: unknown card transport (known: {})",
                CARD_TRANSPORTS.join(", ")
            )));
        }
        if !from_file || c.target.transport != t {
            c.target.name = Some(match t.as_str() {
                "in-process" | "apdu-loopback" => format!("airtight reference SKS ({t})"),
                "pcsc" => format!(
                    "card in PC/SC reader {}",
                    o.reader
                        .as_deref()
                        .or(c.target.reader.as_deref())
                        .unwrap_or("(first)")
                ),
                _ => format!(
                    "SKS shim: {}",
                    o.shim.clone().unwrap_or_else(|| c.target.command.join(" "))
                ),
            });
        }
        c.target.transport = t;
    }
    if let Some(r) = &o.reader {
        c.target.reader = Some(r.clone());
    }
    for a in &o.atr {
        crate::source::parse_hex(a)
            .map_err(|_| CliError::Usage(format!("--atr: {a:?} is not hex bytes")))?;
        c.target.atr_allowlist.push(a.clone());
    }
    if let Some(s) = &o.shim {
        c.target.command = crate::source::split_command_line(s)?;
        if c.target.command.is_empty() {
            return Err(CliError::Usage("--shim: empty command line".into()));
        }
    }
    if !CARD_TRANSPORTS.contains(&c.target.transport.as_str()) {
        return Err(CliError::Usage(format!(
            "transport \"{}\" is not a card transport (known: {})",
            c.target.transport,
            CARD_TRANSPORTS.join(", ")
        )));
    }
    if c.target.transport == "pcsc" && c.target.atr_allowlist.is_empty() {
        return Err(CliError::Usage(
            "the pcsc transport touches only cards whose ATR is listed: give --atr HEX (the \
             airtight virtual card of `airtight card serve --vpcd` has 3B80800101) or \
             atr_allowlist in --config"
                .into(),
        ));
    }
    if !from_file && is_reference_transport(&c.target.transport) {
        // The reference card of this process: its full profile (every optional feature it
        // implements; destructive cases touch only a fresh card per case).
        let mut r = TargetConfig::reference();
        r.target = c.target.clone();
        r.target.device = r.target.device.or(TargetConfig::reference().target.device);
        if r.target.name.is_none() {
            r.target.name = TargetConfig::reference().target.name;
        }
        c = r;
    }
    let foreign = !is_reference_transport(&c.target.transport);
    for f in &o.features {
        c.features.declared.insert(f.clone());
    }
    // Consent to destructive cases on a foreign card goes with the card it names: a file's
    // `destructive = true` does not carry over to a reader or shim given on the command line.
    let file_names_this_target = from_file
        && c.target.transport == file_target.transport
        && c.target.reader == file_target.reader
        && c.target.command == file_target.command;
    if foreign && c.destructive && !file_names_this_target {
        c.destructive = false;
        notes.push(
            "destructive = true in --config is consent for the card the file names; the \
             command line names another, so destructive cases are not run (give --destructive)"
                .into(),
        );
    }
    if let Some(d) = &o.destructive {
        let named = match c.target.transport.as_str() {
            "pcsc" => c.target.reader.clone(),
            "shim" => o.shim.clone().or_else(|| Some(c.target.command.join(" "))),
            t => {
                return Err(CliError::Usage(format!(
                    "--destructive is consent for a foreign card (pcsc or shim); the {t} target \
                     is a fresh reference card for every case and runs destructive cases anyway"
                )));
            }
        };
        if named.as_deref() != Some(d.as_str()) {
            return Err(CliError::Usage(format!(
                "--destructive {d:?} must name the card the run uses: {}",
                match (c.target.transport.as_str(), named) {
                    ("pcsc", Some(r)) => format!("the reader {r:?} (exactly as in --reader)"),
                    ("pcsc", None) => "a reader given by --reader (not the first reader)".into(),
                    (_, Some(cmd)) => format!("the shim command line {cmd:?}"),
                    (_, None) => "the shim command line".into(),
                }
            )));
        }
        c.destructive = true;
    }
    if foreign {
        let declared: Vec<&str> = c.features.declared.iter().map(String::as_str).collect();
        notes.push(format!(
            "declared optional features: {} ({}); cases that need another are not applicable. \
             Declare what the card implements with --feature NAME (repeatable) or [features] \
             declared in --config; known: {}",
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            },
            if from_file {
                "from --config and --feature"
            } else {
                "a foreign card without --config declares none but those given by --feature"
            },
            airtight_harness::config::KNOWN_FEATURES.join(", ")
        ));
        notes.push(if c.destructive {
            "destructive cases run (they delete keys on this card): consent given".into()
        } else {
            format!(
                "destructive cases are not run; to allow them (they delete keys on the card) give \
                 --destructive {}",
                match c.target.transport.as_str() {
                    "pcsc" => "\"READER\" (the exact reader name, as in --reader)",
                    _ => "\"SHIM COMMAND LINE\" (exactly as in --shim)",
                }
            )
        });
    }
    if let Some(n) = &common.name {
        c.target.name = Some(n.clone());
    }
    c.validate().map_err(|e| CliError::Usage(e.to_string()))?;
    Ok((c, notes))
}

/// `harness card`.
pub fn card(out: &mut dyn Write, common: &Common, o: &CardOptions) -> Result<(), CliError> {
    if common.list {
        return list(out, airtight_harness::card_catalog(), &common.only);
    }
    let (config, notes) = card_config_noted(common, o)?;
    for n in &notes {
        note(&format!("note: {n}"));
    }
    if config.target.transport == "pcsc" && !cfg!(feature = "pcsc") {
        return Err(CliError::Usage(
            "the pcsc transport needs PC/SC support, which this airtight was built without: \
             rebuild with the cargo feature `pcsc` (cargo build -p airtight-cli --features pcsc; \
             needs libpcsclite-dev and pkg-config)"
                .into(),
        ));
    }
    let spec = config
        .card_spec()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let t = target::open(&spec).map_err(|e| CliError::Card(e.to_string()))?;
    let options = RunOptions {
        filter: common.only.clone(),
        perf_sessions: o.perf,
        progress: !common.quiet,
        seed: common.seed,
        load: None,
        notes,
    };
    let report = airtight_harness::run_card(t, &config, &options);
    finish(out, "card", &report, common.out.as_deref())
}

/// `harness issuer`.
pub fn issuer(out: &mut dyn Write, common: &Common, o: &IssuerOptions) -> Result<(), CliError> {
    if common.list {
        let catalog = if o.browser {
            airtight_harness::issuer_browser_catalog()
        } else {
            airtight_harness::issuer_catalog()
        };
        return list(out, catalog, &common.only);
    }
    let mut config = match &common.config {
        Some(p) => load_config(p)?,
        None => {
            let mut c = TargetConfig::default();
            c.target.transport = "http".into();
            c
        }
    };
    if o.reference && o.url.is_some() {
        return Err(CliError::Usage(
            "--url and --reference exclude each other".into(),
        ));
    }
    if o.tls && !o.reference {
        return Err(CliError::Usage(
            "--tls serves the reference issuer over HTTPS: it needs --reference (for another \
             issuer give an https:// --url and --trust-anchor)"
                .into(),
        ));
    }
    if let Some((mode, secs)) = o.load {
        let bad = match mode {
            LoadMode::Closed(n) => n == 0,
            LoadMode::Open { rate, connections } => {
                connections == 0 || !(rate > 0.0 && rate.is_finite())
            }
        };
        if bad || !(secs > 0.0 && secs.is_finite()) {
            return Err(CliError::Usage(
                "--load-sessions, --load-rate and --load-connections must be positive, and \
                 --load-seconds too"
                    .into(),
            ));
        }
    }
    if let Some(f) = o.hostile {
        if !(f > 0.0 && f < 1.0) {
            return Err(CliError::Usage(
                "--hostile is the hostile share of all attempts: 0 < F < 1 (e.g. 0.3)".into(),
            ));
        }
        if o.load.is_none() {
            return Err(CliError::Usage(
                "--hostile runs beside a load test: add --load-rate R (or --load-sessions N) and \
                 --load-seconds T"
                    .into(),
            ));
        }
    }
    if o.issuer_pid.is_some() && o.hostile.is_none() {
        return Err(CliError::Usage(
            "--issuer-pid samples the issuer's memory over a hostile-load run: add --hostile F \
             (e.g. 0.3) with --load-rate R (or --load-sessions N) and --load-seconds T; the \
             honest load alone is run and sampled first"
                .into(),
        ));
    }
    if let Some(k) = o
        .hostile_kinds
        .iter()
        .find(|k| HostileKind::parse(k).is_none())
    {
        let names: Vec<&str> = HostileKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(CliError::Usage(format!(
            "--hostile-kinds: unknown kind {k:?} (one of {})",
            names.join(", ")
        )));
    }
    if o.crash_rounds == Some(0) {
        return Err(CliError::Usage(
            "--crash-under-load needs at least one round".into(),
        ));
    }
    if o.reference && !o.more_urls.is_empty() {
        return Err(CliError::Usage(
            "--url and --reference exclude each other".into(),
        ));
    }
    let reference_options = ReferenceOptions {
        tls: o.tls,
        ..ReferenceOptions::default()
    };
    config
        .issuer
        .trust_anchors
        .extend(o.trust_anchors.iter().cloned());
    let reference = if o.reference {
        Some(reference::start(&reference_options).map_err(CliError::Store)?)
    } else {
        None
    };
    if let Some(r) = &reference {
        config.issuer.trust_anchor_der = r.trust_anchors.clone();
    }
    if o.browser && o.load.is_some() {
        return Err(CliError::Usage(
            "--browser runs the web-flow cases; the load test goes with the catalog".into(),
        ));
    }
    let url = match (&reference, &o.url, &config.target.url) {
        (Some(r), _, _) if o.browser => format!("{}/", r.server.base_url()),
        (Some(r), _, _) => r.invocation_url.clone(),
        (None, Some(u), _) | (None, None, Some(u)) => u.clone(),
        (None, None, None) => {
            return Err(CliError::Usage(
                "name the issuer: --url URL, --reference, or [target] url in --config".into(),
            ));
        }
    };
    let first_target = match airtight_harness::issuer_target(&url, &config) {
        Ok(t) => t,
        Err(e) => {
            if let Some(r) = reference {
                let _ = r.server.shutdown();
            }
            return Err(CliError::Usage(format!("--url {url}: {e}")));
        }
    };
    if o.reference && config.issuer.slow_client_ms.is_none() {
        config.issuer.slow_client_ms = Some(reference_options.slow_client_ms());
    }
    config.target.url = Some(url.clone());
    config.target.transport = "http".into();
    if let Some(n) = &common.name {
        config.target.name = Some(n.clone());
    } else if config.target.name.is_none() || o.reference {
        config.target.name = Some(if o.reference {
            format!(
                "airtight reference issuer (in-process, {})",
                reference.as_ref().map_or("", |r| r.server.base_url())
            )
        } else {
            format!("issuer at {url}")
        });
    }
    if let Some(r) = &reference {
        note(&format!(
            "reference issuer listening on {}/",
            r.server.base_url()
        ));
    }
    let mut extra_targets = Vec::new();
    for u in &o.more_urls {
        match airtight_harness::issuer_target(u, &config) {
            Ok(t) => extra_targets.push(t),
            Err(e) => {
                if let Some(r) = reference {
                    let _ = r.server.shutdown();
                }
                return Err(CliError::Usage(format!("--url {u}: {e}")));
            }
        }
    }
    let load = o.load.map(|(mode, seconds)| LoadPlan {
        pacing: match mode {
            LoadMode::Closed(concurrency) => Pacing::Closed { concurrency },
            LoadMode::Open { rate, connections } => Pacing::Open { rate, connections },
        },
        seconds,
        extra_targets,
        hostile: None,
    });
    let load = match (load, o.hostile) {
        (Some(mut plan), Some(fraction)) => {
            let mut h = HostilePlan::new(fraction, &first_target);
            if !o.hostile_kinds.is_empty() {
                h.kinds = o
                    .hostile_kinds
                    .iter()
                    .filter_map(|k| HostileKind::parse(k))
                    .collect();
            }
            h.issuer_pid = o.issuer_pid.or(o.reference.then(std::process::id));
            h.in_process = o.reference && o.issuer_pid.is_none();
            if let Some(r) = &reference {
                // The in-process reference issuer: its store's rows are sampled too.
                let store = r.server.state().store().clone();
                h.store_probe = Some(StoreProbe(Arc::new(move || {
                    store.row_counts().ok().map(|c| c.total())
                })));
            }
            plan.hostile = Some(h);
            Some(plan)
        }
        (plan, _) => plan,
    };
    let options = RunOptions {
        filter: common.only.clone(),
        perf_sessions: 0,
        progress: !common.quiet,
        seed: common.seed,
        load,
        notes: Vec::new(),
    };
    let report = if o.browser {
        airtight_harness::run_issuer_browser(&url, &config, &options)
    } else {
        airtight_harness::run_issuer(&url, &config, &options)
    };
    if let Some(r) = reference {
        r.server
            .shutdown()
            .map_err(|e| CliError::Io(format!("reference issuer shutdown: {e}")))?;
    }
    let mut report = report;
    if let Some(rounds) = o.crash_rounds {
        let (rate, connections) = match o.load {
            Some((LoadMode::Open { rate, connections }, _)) => (rate, connections),
            _ => (50.0, 8),
        };
        let plan = CrashPlan {
            rounds,
            seed: common.seed,
            rate,
            connections,
            ..CrashPlan::default()
        };
        if !common.quiet {
            note(&format!(
                "crash under load: {rounds} SIGKILL rounds of airtight issuer serve at {rate} sessions/s"
            ));
        }
        let mut crash_config = TargetConfig::default();
        crash_config.target.transport = "http".into();
        let crash = run_crash_under_load(&plan, &crash_config, &spawn_issuer_serve);
        if !crash.passed {
            report.notes.push(format!(
                "crash under load FAILED: {}",
                crash_failure(&crash)
            ));
        }
        report.crash = Some(crash);
    }
    let failed = finish(out, "issuer", &report, common.out.as_deref());
    let hostile_open = report
        .load
        .as_ref()
        .and_then(|l| l.hostile.as_ref())
        .is_some_and(|h| !h.all_refused());
    let crash_failed = report.crash.as_ref().is_some_and(|c| !c.passed);
    match failed {
        Ok(()) if hostile_open || crash_failed => Err(CliError::Failed(format!(
            "the issuer run failed:{}{}",
            if hostile_open {
                " hostile attempts were not refused (see the load section);"
            } else {
                ""
            },
            if crash_failed {
                " the crash-under-load audit failed"
            } else {
                ""
            }
        ))),
        other => other,
    }
}

/// Why a crash-under-load run failed, in one line.
fn crash_failure(c: &CrashReport) -> String {
    let a = &c.audit;
    let mut parts = Vec::new();
    if let Some(e) = &c.error {
        parts.push(e.clone());
    }
    if !a.lost.is_empty() {
        parts.push(format!("{} completed issuance(s) lost", a.lost.len()));
    }
    if !a.duplicates.is_empty() {
        parts.push(format!("recorded twice: {}", a.duplicates.join(", ")));
    }
    if !a.half.is_empty() {
        parts.push(format!("half sessions: {}", a.half.join(", ")));
    }
    if c.resumed_errors > 0 {
        parts.push(format!(
            "{} session(s) failed after the last restart",
            c.resumed_errors
        ));
    }
    parts.join("; ")
}

/// Starts `airtight issuer serve --test-pki` (this executable) on 127.0.0.1 with `data_dir`;
/// returns it and its init URL once it prints it (bounded: 60 s).
fn spawn_issuer_serve(data_dir: &Path) -> Result<(std::process::Child, String), String> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().map_err(|e| format!("this executable: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .args(["issuer", "serve", "--test-pki", "--bind", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start airtight issuer serve: {e}"))?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("airtight issuer serve: no stdout".into());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(url) = line.strip_prefix("enrol with: airtight enroll ") {
                let _ = tx.send(url.trim().to_owned());
                sent = true;
            }
        }
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(url) => Ok((child, url)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err("airtight issuer serve did not print its URL within 60 s".into())
        }
    }
}

fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Writes the reports (when asked), prints the summary, and turns a failed run into
/// [`CliError::Failed`].
fn finish(
    out: &mut dyn Write,
    kind: &str,
    report: &Report,
    out_dir: Option<&Path>,
) -> Result<(), CliError> {
    let mut text = summary(kind, report);
    if let Some(dir) = out_dir {
        let written = reports::write_all(report, dir).map_err(|e| {
            CliError::Io(format!("{}: cannot write the reports: {e}", dir.display()))
        })?;
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        text.push_str(&format!("reports: {}\n", names.join(", ")));
    }
    write_out(out, &text)?;
    if report.summary.passed {
        Ok(())
    } else {
        let failing: Vec<&str> = report
            .cases
            .iter()
            .filter(|c| c.verdict.fails_run())
            .map(|c| c.id.as_str())
            .collect();
        Err(CliError::Failed(format!(
            "the {kind} run failed: {} case(s) failed the run: {}",
            failing.len(),
            failing.join(", ")
        )))
    }
}

/// The one-paragraph summary of a run (plus a performance line when measured, and the run's
/// notes).
pub fn summary(kind: &str, report: &Report) -> String {
    let s = &report.summary;
    let counts: Vec<String> = Verdict::ALL
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                s.verdicts.get(v.as_str()).copied().unwrap_or(0),
                v.as_str()
            )
        })
        .collect();
    let mut text = format!(
        "{kind} harness {}: {} over {}: {} cases, {} spec tags, in {:.1} s: {}. Result: {}.\n",
        report.harness_version,
        report.target.name,
        report.target.transport,
        s.total,
        report.requirements.len(),
        s.duration_ms / 1000.0,
        counts.join(", "),
        if s.passed { "PASSED" } else { "FAILED" }
    );
    // The failures first, each with its evidence (at most 20 here; all are in the reports).
    const SHOWN: usize = 20;
    for (label, ids) in [("FAILED", &s.failures), ("warning", &s.warnings)] {
        for id in ids.iter().take(SHOWN) {
            let Some(c) = report.cases.iter().find(|c| &c.id == id) else {
                continue;
            };
            text.push_str(&format!(
                "{label}: {id} [{}] ({}){}\n",
                c.tags.join(", "),
                c.grade.as_str(),
                match (&c.expected, &c.actual, &c.message) {
                    (Some(e), Some(a), _) => format!(": expected {e}, actual {a}"),
                    (_, _, Some(m)) => format!(": {m}"),
                    _ => String::new(),
                }
            ));
        }
        if ids.len() > SHOWN {
            text.push_str(&format!(
                "{label}: … and {} more (see the reports)\n",
                ids.len() - SHOWN
            ));
        }
    }
    for w in &report.target.device_warnings {
        text.push_str(&format!(
            "{}: device: {w}\n",
            if report.config.policy.device_weakness_fails_run {
                "FAILED"
            } else {
                "warning"
            }
        ));
    }
    for l in &s.left_behind {
        text.push_str(&format!("left on the card: {l}\n"));
    }
    if let Some(st) = report.performance.as_ref().and_then(|p| p.session.as_ref()) {
        text.push_str(&format!(
            "performance: {} honest sessions, session p50 {:.2} ms [{:.2}, {:.2}], p95 {:.2} ms, \
             p99 {:.2} ms\n",
            st.n,
            st.p50.value / 1000.0,
            st.p50.lo / 1000.0,
            st.p50.hi / 1000.0,
            st.p95.value / 1000.0,
            st.p99.value / 1000.0,
        ));
    }
    if let Some(l) = &report.load {
        let pacing = match l.pacing {
            Pacing::Closed { concurrency } => format!("{concurrency} concurrent sessions"),
            Pacing::Open { rate, connections } => {
                format!("open loop at {rate} sessions/s over {connections} connections")
            }
        };
        let nodes = if l.urls.len() > 1 {
            format!(" on {} nodes", l.urls.len())
        } else {
            String::new()
        };
        text.push_str(&format!(
            "load: {pacing}{nodes} for {:.0} s: {} completed, {} failed, {:.1} sessions/s, \
             {:.1} requests/s",
            l.seconds, l.sessions, l.errors, l.sessions_per_second, l.requests_per_second
        ));
        if let Some(st) = &l.session {
            text.push_str(&format!(
                "; session p50 {:.1} ms [{:.1}, {:.1}], p95 {:.1} ms, p99 {:.1} ms",
                st.p50.value / 1000.0,
                st.p50.lo / 1000.0,
                st.p50.hi / 1000.0,
                st.p95.value / 1000.0,
                st.p99.value / 1000.0
            ));
        }
        text.push('\n');
        if let Some(p) = &l.session_percentiles {
            text.push_str(&format!(
                "load: session latency (HdrHistogram{}) p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, \
                 p99.9 {:.1} ms, max {:.1} ms\n",
                if matches!(l.pacing, Pacing::Open { .. }) {
                    ", from the scheduled start"
                } else {
                    ""
                },
                p.p50_us as f64 / 1000.0,
                p.p90_us as f64 / 1000.0,
                p.p99_us as f64 / 1000.0,
                p.p999_us as f64 / 1000.0,
                p.max_us as f64 / 1000.0
            ));
        }
        for (step, p) in &l.steps {
            text.push_str(&format!(
                "load: step {step}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({})\n",
                p.p50_us as f64 / 1000.0,
                p.p99_us as f64 / 1000.0,
                p.max_us as f64 / 1000.0,
                p.n
            ));
        }
        for (cause, n) in &l.errors_by_cause {
            text.push_str(&format!("load: {n} failed: {cause}\n"));
        }
        if let Some(h) = &l.hostile {
            for line in h.summary_lines(l) {
                text.push_str(&format!("load: {line}\n"));
            }
        }
    }
    if let Some(c) = &report.crash {
        text.push_str(&format!("crash under load: {}\n", c.summary_line()));
    }
    for n in &report.notes {
        text.push_str(&format!("note: {n}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn overrides_apply_and_are_checked() {
        let common = Common::default();
        let c = card_config(
            &common,
            &CardOptions {
                transport: Some("apdu-loopback".into()),
                ..CardOptions::default()
            },
        )
        .unwrap();
        assert_eq!(c.target.transport, "apdu-loopback");
        assert_eq!(
            c.target.name.as_deref(),
            Some("airtight reference SKS (apdu-loopback)")
        );
        let bad = card_config(
            &common,
            &CardOptions {
                transport: Some("carrier-pigeon".into()),
                ..CardOptions::default()
            },
        );
        assert!(matches!(bad, Err(CliError::Usage(m)) if m.contains("carrier-pigeon")));
        // --reader alone implies pcsc, which needs an ATR allowlist.
        let no_atr = card_config(
            &common,
            &CardOptions {
                reader: Some("Virtual PCD 00 00".into()),
                ..CardOptions::default()
            },
        );
        assert!(matches!(no_atr, Err(CliError::Usage(m)) if m.contains("--atr")));
        let pcsc = card_config(
            &common,
            &CardOptions {
                reader: Some("Virtual PCD 00 00".into()),
                atr: vec!["3B80800101".into()],
                ..CardOptions::default()
            },
        )
        .unwrap();
        assert_eq!(pcsc.target.transport, "pcsc");
        assert_eq!(pcsc.target.reader.as_deref(), Some("Virtual PCD 00 00"));
        let shim = card_config(
            &common,
            &CardOptions {
                shim: Some("my-sks --shim 'a b'".into()),
                ..CardOptions::default()
            },
        )
        .unwrap();
        assert_eq!(shim.target.transport, "shim");
        assert_eq!(shim.target.command, ["my-sks", "--shim", "a b"]);
    }

    #[test]
    fn foreign_cards_declare_nothing_and_destroy_nothing_without_consent() {
        let common = Common::default();
        let pcsc = |destructive: Option<&str>| {
            card_config_noted(
                &common,
                &CardOptions {
                    reader: Some("Virtual PCD 00 00".into()),
                    atr: vec!["3B80800101".into()],
                    destructive: destructive.map(str::to_owned),
                    ..CardOptions::default()
                },
            )
        };
        let (c, notes) = pcsc(None).unwrap();
        assert!(c.features.declared.is_empty() && !c.destructive);
        assert!(notes.iter().any(|n| n.contains("--destructive")));
        let (c, _) = pcsc(Some("Virtual PCD 00 00")).unwrap();
        assert!(c.destructive);
        assert!(matches!(pcsc(Some("Virtual PCD")), Err(CliError::Usage(_))));
        // The in-process reference keeps its full profile.
        let (r, notes) = card_config_noted(&common, &CardOptions::default()).unwrap();
        assert!(r.destructive && r.features.declared.contains("resource-limits"));
        assert!(notes.is_empty());
        // A file's consent does not carry over to another card named on the command line.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "destructive = true\n[target]\ntransport = \"shim\"\ncommand = [\"a\"]\n",
        )
        .unwrap();
        let with_file = Common {
            config: Some(file),
            ..Common::default()
        };
        let (c, _) = card_config_noted(&with_file, &CardOptions::default()).unwrap();
        assert!(c.destructive);
        let (c, _) = card_config_noted(
            &with_file,
            &CardOptions {
                shim: Some("b --x".into()),
                features: vec!["kmk".into()],
                ..CardOptions::default()
            },
        )
        .unwrap();
        assert!(!c.destructive && c.features.declared.contains("kmk"));
    }

    #[test]
    fn selection_is_by_prefix() {
        let only = vec!["card.sanity.".to_owned(), "card.mac.".to_owned()];
        assert!(selected("card.sanity.first", &only));
        assert!(selected("card.mac.close.wrong-mac", &only));
        assert!(!selected("card.user.sign", &only));
        assert!(selected("card.user.sign", &[]));
    }
}

#[cfg(test)]
mod summary_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use airtight_harness::reports::{CaseReport, Report, TargetInfo};
    use airtight_harness::rules::Grade;
    use airtight_harness::{Level, Verdict};

    fn case(id: &str, tag: &str, level: Level, verdict: Verdict) -> CaseReport {
        CaseReport {
            id: id.into(),
            tags: vec![tag.into()],
            level,
            description: "d".into(),
            destructive: false,
            verdict,
            message: None,
            expected: None,
            actual: None,
            grade: airtight_harness::rules::grade(tag),
            duration_ms: 1.0,
            notes: Vec::new(),
            left_behind: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// The stdout summary puts each failure and warning on its own line with the evidence.
    #[test]
    fn the_summary_lists_failures_with_their_evidence() {
        let mut fail = case(
            "card.mac.x.forged",
            "SKS-SES-020",
            Level::Must,
            Verdict::Fail,
        );
        fail.expected = Some("ERROR_MAC".into());
        fail.actual = Some("accepted".into());
        fail.message = Some("x: accepted; expected ERROR_MAC".into());
        let mut warn = case(
            "card.session.open-sessions-bounded",
            "SKS-SES-008",
            Level::Should,
            Verdict::Warning,
        );
        warn.message = Some("1000 sessions opened".into());
        let mut left = case("card.keys.y", "CRY-IMP-001", Level::Must, Verdict::Pass);
        left.left_behind = vec!["cleanup: key 7 left on the card: ERROR_AUTHORIZATION".into()];
        assert_eq!(left.grade, Grade::Tightening);
        let mut r = Report {
            schema: String::new(),
            harness_version: "0.0.0".into(),
            started: String::new(),
            target: TargetInfo {
                name: "a card".into(),
                kind: "card".into(),
                transport: "shim".into(),
                device_warnings: vec!["the device key is RSA-1024, shorter than 2048 bits".into()],
                ..TargetInfo::default()
            },
            config: Default::default(),
            summary: Default::default(),
            requirements: Vec::new(),
            cases: vec![fail, warn, left],
            rules: Default::default(),
            performance: None,
            load: None,
            crash: None,
            notes: vec!["declared optional features: none".into()],
        };
        r.finish(1500.0);
        insta::assert_snapshot!(super::summary("card", &r));
    }
}
