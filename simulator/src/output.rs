//! One run from a scenario file to its output directory: `metrics.json` (deterministic),
//! `run.json` (wall clock only), `transcript.jsonl` (deterministic, replayable), `report.html`,
//! and on a violated property `violation.json` with a minimal transcript.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::backend::{Backend, SEC};
use crate::engine::{self, RunOptions, RunResult, SimError};
use crate::model::ModelBackend;
use crate::models::Compiled;
use crate::oracle::Violation;
use crate::scenario::{Scenario, ScenarioError};

/// The fidelity mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Outcomes predicted by rule.
    Model,
    /// The real engines (simulator/src/full/).
    Full,
}

impl Mode {
    /// "model" or "full".
    pub fn name(self) -> &'static str {
        match self {
            Mode::Model => "model",
            Mode::Full => "full",
        }
    }

    /// Parses "model" or "full".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "model" => Some(Mode::Model),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }
}

/// A run failed before or outside the oracle.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The engine or backend failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Output could not be written.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// The mode is not available in this build.
    #[error("{0}")]
    Mode(String),
    /// A replay differed.
    #[error("{0}")]
    Replay(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |err| RunError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// File name (for errors and the header).
    pub file: String,
    /// Scenario text.
    pub text: String,
    /// Seed (None: the scenario's).
    pub seed: Option<u64>,
    /// Scale (None: the scenario's).
    pub scale: Option<f64>,
    /// Mode.
    pub mode: Mode,
    /// Output directory (None: nothing written).
    pub out: Option<PathBuf>,
    /// Write a transcript (None: the scenario's setting).
    pub transcript: Option<bool>,
    /// Progress bar.
    pub progress: bool,
    /// Stop at the first violation (explore).
    pub stop_on_violation: bool,
}

impl Job {
    /// A model-mode job for scenario text, nothing written.
    pub fn new(file: &str, text: &str) -> Self {
        Self {
            file: file.into(),
            text: text.into(),
            seed: None,
            scale: None,
            mode: Mode::Model,
            out: None,
            transcript: None,
            progress: false,
            stop_on_violation: false,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Done {
    /// The engine's result.
    pub result: RunResult,
    /// The metrics document.
    pub metrics: Value,
    /// The run document (wall clock).
    pub run: Value,
    /// Seed used.
    pub seed: u64,
    /// The minimal transcript of the first violation (its session's lines).
    pub violation_transcript: Vec<String>,
}

/// A backend for `mode`.
pub fn backend(mode: Mode, c: &Compiled) -> Result<Box<dyn Backend>, RunError> {
    match mode {
        Mode::Model => Ok(Box::new(
            ModelBackend::new(c).map_err(|e| RunError::Sim(SimError::Backend(e)))?,
        )),
        Mode::Full => full_backend(c),
    }
}

// Full mode (`simulator/src/full/`): the real engines through the test kit's driver.
fn full_backend(c: &Compiled) -> Result<Box<dyn Backend>, RunError> {
    Ok(Box::new(
        crate::full::FullBackend::with_defects(c.defects)
            .map_err(|e| RunError::Sim(SimError::Backend(e)))?
            // Cards come back only from a workload with a card population (`card_count`);
            // otherwise every session has its own card, dropped when the session ends.
            .keeping_cards(c.users.iter().any(|u| u.card_count > 0)),
    ))
}

/// The first line of a transcript: everything needed to re-run it.
pub fn header(job: &Job, seed: u64, scale: f64, name: &str) -> Value {
    json!({
        "sim": "airtight-sim",
        "format": 1,
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": name,
        "file": job.file,
        "seed": seed,
        "scale": scale,
        "mode": job.mode.name(),
        "scenario_toml": job.text,
    })
}

/// Runs a job.
pub fn run(job: &Job) -> Result<Done, RunError> {
    let scenario = Scenario::parse(&job.file, &job.text)?;
    let seed = job.seed.unwrap_or(scenario.configuration.seed);
    let scale = job.scale.unwrap_or(scenario.configuration.scale);
    let compiled = scenario.compile_scaled(scale).map_err(|e| {
        RunError::Scenario(ScenarioError {
            file: job.file.clone(),
            line: 0,
            col: 0,
            message: e.message,
        })
    })?;
    let name = scenario.configuration.name.clone();
    let want_transcript = job.transcript.unwrap_or(scenario.configuration.transcript);
    if let Some(dir) = &job.out {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut transcript: Option<Box<dyn engine::WriteDebug>> = None;
    if let (Some(dir), true) = (&job.out, want_transcript) {
        let p = dir.join("transcript.jsonl");
        let mut f = File::create(&p).map_err(io(&p))?;
        let mut h = serde_json::to_string(&header(job, seed, scale, &name)).unwrap_or_default();
        h.push('\n');
        f.write_all(h.as_bytes()).map_err(io(&p))?;
        transcript = Some(Box::new(f));
    }
    let mut b = backend(job.mode, &compiled)?;
    let wall = Instant::now();
    let result = engine::run(
        &compiled,
        b.as_mut(),
        RunOptions {
            seed,
            transcript,
            only_session: None,
            stop_on_violation: job.stop_on_violation,
            progress: job.progress,
        },
    )?;
    let wall_s = wall.elapsed().as_secs_f64();
    let head = json!({
        "scenario": name,
        "seed": seed,
        "scale": scale,
        "mode": job.mode.name(),
    });
    let mut metrics = result.metrics.to_json(head, result.violations);
    if let (Value::Object(m), Some(v)) = (&mut metrics, &result.violation) {
        m.insert("violation".into(), violation_json(v));
    }
    let virtual_s = result.metrics.end as f64 / SEC as f64;
    let run = json!({
        "scenario": name,
        "seed": seed,
        "mode": job.mode.name(),
        "wall_seconds": wall_s,
        "virtual_seconds": virtual_s,
        "time_compression": if wall_s > 0.0 { virtual_s / wall_s } else { 0.0 },
        "sessions": result.sessions,
        "sessions_per_wall_second": if wall_s > 0.0 { result.sessions as f64 / wall_s } else { 0.0 },
        "events": result.events,
        "threads": 1,
    });
    let mut violation_transcript = Vec::new();
    if let Some(v) = &result.violation {
        violation_transcript = minimal_transcript(&compiled, job, seed, v)?;
    }
    if let Some(dir) = &job.out {
        write_json(&dir.join("metrics.json"), &metrics)?;
        write_json(&dir.join("run.json"), &run)?;
        let html = crate::report::html(
            &name,
            &scenario.configuration.description,
            &metrics,
            &result.metrics,
        );
        let p = dir.join("report.html");
        std::fs::write(&p, html).map_err(io(&p))?;
        if let Some(v) = &result.violation {
            let doc = json!({
                "seed": seed,
                "violation": violation_json(v),
                "transcript": violation_transcript.iter().map(|l| serde_json::from_str::<Value>(l).unwrap_or(Value::Null)).collect::<Vec<_>>(),
            });
            write_json(&dir.join("violation.json"), &doc)?;
        }
    }
    Ok(Done {
        result,
        metrics,
        run,
        seed,
        violation_transcript,
    })
}

/// The JSON form of a violation.
pub fn violation_json(v: &Violation) -> Value {
    json!({
        "property": v.property,
        "detail": v.detail,
        "session": v.session,
        "virtual_ns": v.vtime,
        "event": v.event,
    })
}

/// Re-runs the seed keeping only the violating session's transcript lines.
fn minimal_transcript(
    c: &Compiled,
    job: &Job,
    seed: u64,
    v: &Violation,
) -> Result<Vec<String>, RunError> {
    let mut b = backend(job.mode, c)?;
    let buf = SharedBuf::default();
    engine::run(
        c,
        b.as_mut(),
        RunOptions {
            seed,
            transcript: Some(Box::new(buf.clone())),
            only_session: Some(v.session),
            stop_on_violation: true,
            progress: false,
        },
    )?;
    let bytes = buf.take();
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// A cloneable in-memory sink.
#[derive(Debug, Clone, Default)]
pub struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    /// The bytes written so far.
    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes pretty JSON with a final newline.
pub fn write_json(path: &Path, v: &Value) -> Result<(), RunError> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    std::fs::write(path, s).map_err(io(path))
}

/// Replays a transcript (a file, or a run directory holding `transcript.jsonl`): re-runs it
/// from its header and compares line by line; the first difference is an error naming the
/// line and its event. Returns the number of lines compared.
pub fn replay(path: &Path) -> Result<u64, RunError> {
    let file = if path.is_dir() {
        path.join("transcript.jsonl")
    } else {
        path.to_path_buf()
    };
    let f = File::open(&file).map_err(io(&file))?;
    let mut lines = BufReader::new(f).lines();
    let first = lines
        .next()
        .transpose()
        .map_err(io(&file))?
        .ok_or_else(|| RunError::Replay(format!("{}: empty transcript", file.display())))?;
    let head: Value = serde_json::from_str(&first).map_err(|e| {
        RunError::Replay(format!(
            "{}:1: not a transcript header: {e}",
            file.display()
        ))
    })?;
    let field = |k: &str| head.get(k).cloned().unwrap_or(Value::Null);
    let text = field("scenario_toml")
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            RunError::Replay(format!("{}:1: header has no scenario_toml", file.display()))
        })?;
    let mode = field("mode")
        .as_str()
        .and_then(Mode::parse)
        .ok_or_else(|| {
            RunError::Replay(format!("{}:1: header has no valid mode", file.display()))
        })?;
    let job = Job {
        file: field("file").as_str().unwrap_or("transcript").to_owned(),
        text,
        seed: field("seed").as_u64(),
        scale: field("scale").as_f64(),
        mode,
        out: None,
        transcript: Some(true),
        progress: false,
        stop_on_violation: false,
    };
    let scenario = Scenario::parse(&job.file, &job.text)?;
    let seed = job.seed.unwrap_or(scenario.configuration.seed);
    let scale = job.scale.unwrap_or(scenario.configuration.scale);
    let expect_head =
        serde_json::to_string(&header(&job, seed, scale, &scenario.configuration.name))
            .unwrap_or_default();
    if expect_head != first {
        return Err(RunError::Replay(format!(
            "{}:1: header differs from the one this build writes",
            file.display()
        )));
    }
    let compiled = scenario
        .compile_scaled(scale)
        .map_err(|e| RunError::Replay(e.message))?;
    let tmp = tempfile_path(&file);
    let sink = File::create(&tmp).map_err(io(&tmp))?;
    let mut b = backend(mode, &compiled)?;
    let r = engine::run(
        &compiled,
        b.as_mut(),
        RunOptions {
            seed,
            transcript: Some(Box::new(sink)),
            only_session: None,
            stop_on_violation: false,
            progress: false,
        },
    );
    let cmp = r.map_err(RunError::from).and_then(|_| {
        let again = File::open(&tmp).map_err(io(&tmp))?;
        let mut again = BufReader::new(again).lines();
        let mut n: u64 = 1;
        loop {
            n += 1;
            let a = lines.next().transpose().map_err(io(&file))?;
            let b = again.next().transpose().map_err(io(&tmp))?;
            match (a, b) {
                (None, None) => return Ok(n - 2),
                (Some(a), Some(b)) if a == b => continue,
                (Some(a), b) => {
                    return Err(RunError::Replay(format!(
                        "{}:{n}: differs from the re-run at event {}{}",
                        file.display(),
                        describe(&a),
                        b.map(|b| format!("; the re-run has {}", describe(&b)))
                            .unwrap_or_else(|| "; the re-run has no more lines".into())
                    )));
                }
                (None, Some(b)) => {
                    return Err(RunError::Replay(format!(
                        "{}:{n}: transcript ends; the re-run continues with {}",
                        file.display(),
                        describe(&b)
                    )));
                }
            }
        }
    });
    let _ = std::fs::remove_file(&tmp);
    cmp
}

fn describe(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(v) => format!(
            "{} of session {} at t={} ns",
            v.get("e").and_then(Value::as_str).unwrap_or("?"),
            v.get("s").map_or("-".into(), |s| s.to_string()),
            v.get("t").map_or("?".into(), |t| t.to_string())
        ),
        Err(_) => format!(
            "(unparsable line {:?})",
            line.chars().take(80).collect::<String>()
        ),
    }
}

fn tempfile_path(near: &Path) -> PathBuf {
    let dir = std::env::temp_dir();
    let stem = near
        .file_name()
        .map_or("transcript".into(), |n| n.to_string_lossy().into_owned());
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(
        "airtight-sim-replay-{}-{n}-{stem}",
        std::process::id()
    ))
}
