//! `airtight sim …`: the scenario simulator (crate `airtight-sim`, `simulator/README.md`).

use std::path::{Path, PathBuf};

use airtight_cli::CliError;
use airtight_sim::explore::{self, ExploreOptions};
use airtight_sim::output::{self, Job, Mode, RunError};
use airtight_sim::scenario::{Scenario, builtin, shipped};
use clap::Subcommand;

/// `println!` that reports a closed stdout as an error (`super::out`) instead of panicking.
macro_rules! say {
    ($($t:tt)*) => {
        super::out(&format!("{}\n", format_args!($($t)*)))?
    };
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Runs a scenario: writes metrics.json, run.json, transcript.jsonl and report.html to
    /// --out; fails (exit 1) if a property is violated, with violation.json beside them.
    Run {
        /// A scenario file, or the name of a shipped scenario (`airtight sim list`).
        scenario: PathBuf,
        /// Seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory (default: sim-out/<scenario name>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// model (outcomes by rule, large populations) or full (the real engines).
        #[arg(long, default_value = "model")]
        mode: String,
        /// Multiply every workload's session count (e.g. 0.01 for a quick look).
        #[arg(long)]
        scale: Option<f64>,
        /// Do not write transcript.jsonl.
        #[arg(long)]
        no_transcript: bool,
    },
    /// Re-runs a transcript (a file or a run directory) and fails at the first difference.
    Replay {
        /// transcript.jsonl or the directory holding it.
        path: PathBuf,
    },
    /// Swarm testing: runs seeds A..B with fault and attacker knobs switched on and off at
    /// random; shrinks failing seeds to reproducer scenario files.
    Explore {
        /// A scenario file, or the name of a shipped scenario.
        scenario: PathBuf,
        /// Seed range A..B (B excluded).
        #[arg(long)]
        seeds: String,
        /// Run only shard i of n (seeds with (seed - A) % n == i).
        #[arg(long, value_name = "i/n")]
        shard: Option<String>,
        /// Output directory for explore.json and repro-seed-*.toml.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Multiply every workload's session count.
        #[arg(long)]
        scale: Option<f64>,
        /// model or full.
        #[arg(long, default_value = "model")]
        mode: String,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// How many failing seeds to shrink.
        #[arg(long, default_value_t = 1)]
        shrink: usize,
    },
    /// Lists the shipped scenarios (or those of --dir), the built-in card profiles and readers.
    List {
        /// Directory of scenario files (default: the scenarios shipped in this binary).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Merges explore.json files of several shards into one.
    Merge {
        /// explore.json files or directories holding one.
        inputs: Vec<PathBuf>,
        /// Output file.
        #[arg(long, default_value = "explore-merged.json")]
        out: PathBuf,
    },
    /// Turns the performance section of an `airtight harness card --perf N` report into a
    /// card profile in the format of simulator/profiles.toml (printed, or written to --out).
    Calibrate {
        /// The harness's report.json (or the directory holding it).
        #[arg(long, value_name = "REPORT")]
        from: PathBuf,
        /// Profile name.
        #[arg(long, default_value = "reference-pcsc")]
        name: String,
        /// One-line description of the card and path.
        #[arg(
            long,
            default_value = "airtight reference card measured by the harness"
        )]
        description: String,
        /// Provenance: how the report was made (command, date, build).
        #[arg(long)]
        source: String,
        /// Write the [[profile]] table here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn err(e: RunError) -> CliError {
    match e {
        RunError::Scenario(e) => CliError::Config(e.to_string()),
        RunError::Io { path, err } => CliError::Io(format!("{}: {err}", path.display())),
        RunError::Mode(m) => CliError::Usage(m),
        RunError::Replay(m) => CliError::Failed(format!("replay: {m}")),
        RunError::Sim(e) => CliError::Failed(e.to_string()),
    }
}

fn mode(s: &str) -> Result<Mode, CliError> {
    Mode::parse(s).ok_or_else(|| CliError::Usage(format!("--mode {s}: use model or full")))
}

fn read(p: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(p).map_err(|e| CliError::Io(format!("{}: {e}", p.display())))
}

/// The scenario `p` names: a file, or else (a bare name) a shipped scenario. Returns the name
/// it carries in outputs and its text.
fn resolve(p: &Path) -> Result<(String, String), CliError> {
    match std::fs::read_to_string(p) {
        Ok(text) => Ok((p.display().to_string(), text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bare = p.components().count() == 1;
            let name = p.to_string_lossy();
            if bare && let Some((label, text)) = shipped::find(&name) {
                return Ok((label, text.to_string()));
            }
            let names: Vec<&str> = shipped::SHIPPED.iter().map(|(n, _)| *n).collect();
            Err(CliError::Usage(format!(
                "{}: no such file{}; a shipped scenario is run by its name, one of: {} \
                 (`airtight sim list` describes them)",
                p.display(),
                if bare {
                    ", and no shipped scenario has that name"
                } else {
                    ""
                },
                names.join(", ")
            )))
        }
        Err(e) => Err(CliError::Io(format!("{}: {e}", p.display()))),
    }
}

pub fn run(command: SimCommand) -> Result<(), CliError> {
    match command {
        SimCommand::Run {
            scenario,
            seed,
            out,
            mode: m,
            scale,
            no_transcript,
        } => {
            let (file, text) = resolve(&scenario)?;
            let parsed =
                Scenario::parse(&file, &text).map_err(|e| CliError::Config(e.to_string()))?;
            let out =
                out.unwrap_or_else(|| PathBuf::from("sim-out").join(&parsed.configuration.name));
            let job = Job {
                file,
                text,
                seed,
                scale,
                mode: mode(&m)?,
                out: Some(out.clone()),
                transcript: no_transcript.then_some(false),
                progress: true,
                stop_on_violation: false,
            };
            let done = output::run(&job).map_err(err)?;
            let g = |k: &str, j: &str| {
                done.metrics
                    .get(k)
                    .and_then(|v| v.get(j))
                    .cloned()
                    .unwrap_or_default()
            };
            say!(
                "{}: seed {}, {} sessions, {} completed, {} failed; virtual {} s in {:.2} s wall (x{:.0}); p50/p99 session {} / {} ms; outputs in {}",
                parsed.configuration.name,
                done.seed,
                g("sessions", "started"),
                g("sessions", "completed"),
                g("sessions", "failed"),
                done.metrics
                    .get("virtual_seconds")
                    .cloned()
                    .unwrap_or_default(),
                done.run
                    .get("wall_seconds")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                done.run
                    .get("time_compression")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                done.metrics
                    .pointer("/latency_ms/session/p50")
                    .cloned()
                    .unwrap_or_default(),
                done.metrics
                    .pointer("/latency_ms/session/p99")
                    .cloned()
                    .unwrap_or_default(),
                out.display()
            );
            if let Some(v) = &done.result.violation {
                for l in &done.violation_transcript {
                    super::note(&format!("  {l}"));
                }
                return Err(CliError::Failed(format!(
                    "property {} violated (seed {}, session {}, event {} at t={} ns): {}; {} violations in total, see {}",
                    v.property,
                    done.seed,
                    v.session,
                    v.event,
                    v.vtime,
                    v.detail,
                    done.result.violations,
                    out.join("violation.json").display()
                )));
            }
            Ok(())
        }
        SimCommand::Replay { path } => {
            let n = output::replay(&path).map_err(err)?;
            say!("replay of {}: {n} lines identical", path.display());
            Ok(())
        }
        SimCommand::Explore {
            scenario,
            seeds,
            shard,
            out,
            scale,
            mode: m,
            threads,
            shrink,
        } => {
            let (from, to) = explore::parse_range(&seeds)
                .ok_or_else(|| CliError::Usage(format!("--seeds {seeds}: use A..B with A < B")))?;
            let shard = match shard {
                Some(s) => explore::parse_shard(&s)
                    .ok_or_else(|| CliError::Usage(format!("--shard {s}: use i/n with i < n")))?,
                None => (0, 1),
            };
            let (file, text) = resolve(&scenario)?;
            let o = ExploreOptions {
                from,
                to,
                shard,
                threads,
                scale,
                mode: mode(&m)?,
                out: out.clone(),
                shrink,
            };
            let doc = explore::explore(&file, &text, &o).map_err(err)?;
            let failures = doc.get("failures").and_then(|v| v.as_u64()).unwrap_or(0);
            say!(
                "explore {}: {} seeds, {} failing{}",
                file,
                doc.get("runs").cloned().unwrap_or_default(),
                failures,
                out.map(|d| format!("; see {}", d.join("explore.json").display()))
                    .unwrap_or_default()
            );
            for s in doc
                .get("shrunk")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                say!(
                    "  seed {} shrunk to {} faults, {} attackers, {} sessions: {}",
                    s.get("seed").cloned().unwrap_or_default(),
                    s.get("faults").cloned().unwrap_or_default(),
                    s.get("attackers").cloned().unwrap_or_default(),
                    s.get("sessions").cloned().unwrap_or_default(),
                    s.get("file")
                        .and_then(|v| v.as_str())
                        .unwrap_or("(no --out)")
                );
            }
            if failures > 0 {
                return Err(CliError::Failed(format!(
                    "{failures} seeds violated a property"
                )));
            }
            Ok(())
        }
        SimCommand::List { dir } => {
            match dir {
                Some(dir) => {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                        .map_err(|e| CliError::Io(format!("--dir {}: {e}", dir.display())))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                        .collect();
                    files.sort();
                    say!("Scenarios in {}:", dir.display());
                    for f in files {
                        match Scenario::load(&f) {
                            Ok((s, _)) => say!(
                                "  {:<28} {}",
                                f.file_name()
                                    .map(|n| n.to_string_lossy().into_owned())
                                    .unwrap_or_default(),
                                s.configuration.description
                            ),
                            Err(e) => say!("  {e}"),
                        }
                    }
                }
                None => {
                    say!(
                        "Shipped scenarios (run one by name, e.g. `airtight sim run smoke`; \
                         the files are in simulator/scenarios of the repository):"
                    );
                    for (name, text) in shipped::SHIPPED {
                        match Scenario::parse(&shipped::label(name), text) {
                            Ok(s) => say!("  {:<28} {}", name, s.configuration.description),
                            Err(e) => say!("  {e}"),
                        }
                    }
                }
            }
            let b = builtin().map_err(|e| CliError::Config(e.to_string()))?;
            say!("Card profiles:");
            for p in &b.profile {
                say!(
                    "  {:<16} {}\n  {:<16} source: {}",
                    p.name,
                    p.description,
                    "",
                    p.source
                );
            }
            say!("Readers:");
            for r in &b.reader {
                say!(
                    "  {:<18} {} bit/s, IFSC {}, {}{}",
                    r.name,
                    r.bit_rate,
                    r.ifsc,
                    if r.extended {
                        "extended APDUs"
                    } else {
                        "short APDUs + chaining"
                    },
                    if r.usb { ", USB CCID" } else { "" }
                );
            }
            Ok(())
        }
        SimCommand::Merge { inputs, out } => {
            if inputs.is_empty() {
                return Err(CliError::Usage(
                    "sim merge: give explore.json files or directories".into(),
                ));
            }
            let doc = explore::merge(&inputs).map_err(err)?;
            explore::write_merged(&doc, &out).map_err(err)?;
            say!(
                "merged {} shards: {} seeds, {} failing -> {}",
                inputs.len(),
                doc.get("runs").cloned().unwrap_or_default(),
                doc.get("failures").cloned().unwrap_or_default(),
                out.display()
            );
            Ok(())
        }
        SimCommand::Calibrate {
            from,
            name,
            description,
            source,
            out,
        } => {
            let file = if from.is_dir() {
                from.join("report.json")
            } else {
                from
            };
            let report: serde_json::Value = serde_json::from_str(&read(&file)?)
                .map_err(|e| CliError::Config(format!("{}: not JSON: {e}", file.display())))?;
            let prov = airtight_sim::calibrate::Provenance {
                name,
                description,
                source,
            };
            let text = airtight_sim::calibrate::profile_toml(&report, &prov)
                .map_err(|e| CliError::Config(format!("{}: {e}", file.display())))?;
            match out {
                Some(o) => std::fs::write(&o, &text)
                    .map_err(|e| CliError::Io(format!("{}: {e}", o.display())))?,
                None => say!("{}", text.trim_end()),
            }
            Ok(())
        }
    }
}
