//! Explore (swarm testing): every seed runs the scenario with each fault and attacker knob
//! switched on or off at random (a hash of the seed and the knob's position), so that rare
//! combinations get tried; a failing seed is shrunk to the smallest scenario that still fails
//! (knobs removed one at a time, network faults zeroed, session counts halved) and written
//! out as a scenario file. `--shard i/n` keeps the seeds with `(seed - A) % n == i`, so a batch
//! system can spread a range; [`merge`] combines the shards' `explore.json` files.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::output::{self, Job, Mode, RunError, write_json};
use crate::rng::hash_unit;
use crate::scenario::Scenario;

/// How to explore.
#[derive(Debug, Clone)]
pub struct ExploreOptions {
    /// First seed.
    pub from: u64,
    /// One past the last seed.
    pub to: u64,
    /// This shard (index, count).
    pub shard: (u64, u64),
    /// Worker threads (independent seeds run in parallel).
    pub threads: usize,
    /// Scale of the session counts.
    pub scale: Option<f64>,
    /// Mode.
    pub mode: Mode,
    /// Where `explore.json` and reproducers go.
    pub out: Option<PathBuf>,
    /// Failing seeds to shrink (the first ones).
    pub shrink: usize,
}

/// One seed's result.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Knobs on (names).
    pub knobs: Vec<String>,
    /// The violation, if any.
    pub violation: Option<Value>,
    /// Sessions run.
    pub sessions: u64,
}

/// The knobs of a scenario: (name, is it on) after the swarm draw for `seed`.
pub fn swarm(s: &Scenario, seed: u64) -> (Scenario, Vec<String>) {
    let mut out = s.clone();
    let mut on = Vec::new();
    let mut k = 0u64;
    out.faults.retain(|f| {
        k += 1;
        let keep = hash_unit(seed, 0x5a42, 0, k) < 0.5;
        if keep {
            on.push(format!(
                "fault:{}",
                f.defect
                    .map_or(f.kind.name().to_string(), |d| format!("{d:?}"))
            ));
        }
        keep
    });
    out.attackers.retain(|a| {
        k += 1;
        let keep = hash_unit(seed, 0x5a42, 0, k) < 0.5;
        if keep {
            on.push(format!("attacker:{}", a.kind.name()));
        }
        keep
    });
    (out, on)
}

/// Tries removing each item of one list of `best` (counted by `len`, removed by `remove`),
/// keeping every removal after which the scenario still fails; counts the runs. True if
/// anything was removed.
fn drop_each(
    best: &mut Scenario,
    runs: &mut u32,
    len: impl Fn(&Scenario) -> usize,
    remove: impl Fn(&mut Scenario, usize),
    still_fails: impl Fn(&Scenario) -> bool,
) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < len(best) {
        let mut c = best.clone();
        remove(&mut c, i);
        *runs += 1;
        if still_fails(&c) {
            *best = c;
            changed = true;
        } else {
            i += 1;
        }
    }
    changed
}

fn run_one(
    s: &Scenario,
    file: &str,
    seed: u64,
    scale: Option<f64>,
    mode: Mode,
) -> Result<(Option<Value>, u64), RunError> {
    let mut job = Job::new(file, &s.to_toml());
    job.seed = Some(seed);
    job.scale = scale;
    job.mode = mode;
    job.transcript = Some(false);
    job.stop_on_violation = true;
    let done = output::run(&job)?;
    Ok((
        done.result.violation.as_ref().map(output::violation_json),
        done.result.sessions,
    ))
}

fn fails(s: &Scenario, file: &str, seed: u64, scale: Option<f64>, mode: Mode) -> bool {
    matches!(run_one(s, file, seed, scale, mode), Ok((Some(_), _)))
}

/// Shrinks a failing scenario for `seed`: the smallest variant found that still fails, and
/// the runs it took.
pub fn shrink(
    s: &Scenario,
    file: &str,
    seed: u64,
    scale: Option<f64>,
    mode: Mode,
) -> (Scenario, u32) {
    let mut best = s.clone();
    let mut runs = 0u32;
    let mut changed = true;
    while changed {
        changed = false;
        // Remove knobs one at a time: faults, then attackers.
        let still_fails = |c: &Scenario| fails(c, file, seed, scale, mode);
        changed |= drop_each(
            &mut best,
            &mut runs,
            |c| c.faults.len(),
            |c, i| {
                c.faults.remove(i);
            },
            still_fails,
        );
        changed |= drop_each(
            &mut best,
            &mut runs,
            |c| c.attackers.len(),
            |c, i| {
                c.attackers.remove(i);
            },
            still_fails,
        );
        // Network faults off.
        let n = &best.network;
        if n.loss > 0.0 || n.duplication > 0.0 || n.reorder > 0.0 {
            let mut c = best.clone();
            c.network.loss = 0.0;
            c.network.duplication = 0.0;
            c.network.reorder = 0.0;
            runs += 1;
            if fails(&c, file, seed, scale, mode) {
                best = c;
                changed = true;
            }
        }
        // Fewer sessions.
        for u in 0..best.users.len() {
            while best.users[u].sessions > 1 {
                let mut c = best.clone();
                c.users[u].sessions = best.users[u]
                    .sessions
                    .div_ceil(2)
                    .max(1)
                    .min(best.users[u].sessions - 1);
                runs += 1;
                if fails(&c, file, seed, scale, mode) {
                    best = c;
                    changed = true;
                } else {
                    break;
                }
            }
        }
    }
    best.configuration.seed = seed;
    if let Some(sc) = scale {
        // Bake the scale into the session counts so the file reproduces on its own.
        for u in &mut best.users {
            u.sessions = ((u.sessions as f64) * sc).round().max(1.0) as u64;
        }
    }
    best.configuration.scale = 1.0;
    (best, runs)
}

/// Explores a scenario; writes `explore.json` and shrunk reproducers when `out` is set.
pub fn explore(file: &str, text: &str, o: &ExploreOptions) -> Result<Value, RunError> {
    let base = Scenario::parse(file, text)?;
    let (idx, count) = o.shard;
    let seeds: Vec<u64> = (o.from..o.to)
        .filter(|s| count == 0 || (s - o.from) % count == idx)
        .collect();
    let threads = o.threads.max(1);
    let mut results: Vec<Result<SeedResult, RunError>> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let seeds: Vec<u64> = seeds.iter().copied().skip(t).step_by(threads).collect();
                let base = &base;
                scope.spawn(move || {
                    seeds
                        .into_iter()
                        .map(|seed| {
                            let (s, knobs) = swarm(base, seed);
                            let (violation, sessions) = run_one(&s, file, seed, o.scale, o.mode)?;
                            Ok(SeedResult {
                                seed,
                                knobs,
                                violation,
                                sessions,
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(r) => results.extend(r),
                Err(_) => results.push(Err(RunError::Mode("an explore worker panicked".into()))),
            }
        }
    });
    let mut ok: Vec<SeedResult> = results.into_iter().collect::<Result<_, _>>()?;
    ok.sort_by_key(|r| r.seed);
    let mut shrunk = Vec::new();
    for r in ok.iter().filter(|r| r.violation.is_some()).take(o.shrink) {
        let (s, _) = swarm(&base, r.seed);
        let (small, runs) = shrink(&s, file, r.seed, o.scale, o.mode);
        let (violation, sessions) = run_one(&small, file, r.seed, None, o.mode)?;
        let mut entry = json!({
            "seed": r.seed,
            "shrink_runs": runs,
            "sessions": sessions,
            "faults": small.faults.len(),
            "attackers": small.attackers.len(),
            "violation": violation,
        });
        if let Some(dir) = &o.out {
            std::fs::create_dir_all(dir).map_err(|err| RunError::Io {
                path: dir.clone(),
                err,
            })?;
            let name = format!("repro-seed-{}.toml", r.seed);
            let p = dir.join(&name);
            let prop = violation
                .as_ref()
                .and_then(|v| v.get("property"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let faults_note = if o.mode == Mode::Full
                && small.faults.iter().any(|f| f.defect.is_some())
            {
                "# (a deliberate issuer fault in full mode: build airtight with `--features sim-faults`)\n"
            } else {
                ""
            };
            let text = format!(
                "# Shrunk by `airtight sim explore` from {file}, seed {}: property {prop} fails.\n# Reproduce: airtight sim run {} --seed {} --mode {}\n{faults_note}{}",
                r.seed,
                p.display(),
                r.seed,
                o.mode.name(),
                small.to_toml()
            );
            std::fs::write(&p, text).map_err(|err| RunError::Io {
                path: p.clone(),
                err,
            })?;
            if let Value::Object(m) = &mut entry {
                m.insert("file".into(), json!(name));
            }
        }
        shrunk.push(entry);
    }
    let failures = ok.iter().filter(|r| r.violation.is_some()).count();
    let doc = json!({
        "schema": "airtight-sim-explore/1",
        "scenario": base.configuration.name,
        "mode": o.mode.name(),
        "seeds": format!("{}..{}", o.from, o.to),
        "shards": [[idx, count]],
        "runs": ok.len(),
        "failures": failures,
        "results": ok.iter().map(|r| json!({
            "seed": r.seed,
            "knobs": r.knobs,
            "sessions": r.sessions,
            "violation": r.violation,
        })).collect::<Vec<_>>(),
        "shrunk": shrunk,
    });
    if let Some(dir) = &o.out {
        std::fs::create_dir_all(dir).map_err(|err| RunError::Io {
            path: dir.clone(),
            err,
        })?;
        write_json(&dir.join("explore.json"), &doc)?;
    }
    Ok(doc)
}

/// Combines shards' `explore.json` files (or directories holding one) into one document.
pub fn merge(inputs: &[PathBuf]) -> Result<Value, RunError> {
    let mut results: Vec<Value> = Vec::new();
    let mut shrunk: Vec<Value> = Vec::new();
    let mut shards: Vec<Value> = Vec::new();
    let mut scenario: Option<String> = None;
    let mut mode: Option<String> = None;
    for p in inputs {
        let file: PathBuf = if p.is_dir() {
            p.join("explore.json")
        } else {
            p.clone()
        };
        let text = std::fs::read_to_string(&file).map_err(|err| RunError::Io {
            path: file.clone(),
            err,
        })?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| {
            RunError::Replay(format!("{}: not an explore.json: {e}", file.display()))
        })?;
        if doc.get("schema").and_then(Value::as_str) != Some("airtight-sim-explore/1") {
            return Err(RunError::Replay(format!(
                "{}: not an explore.json (schema)",
                file.display()
            )));
        }
        let name = doc
            .get("scenario")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if scenario.as_ref().is_some_and(|s| *s != name) {
            return Err(RunError::Replay(format!(
                "{}: scenario {name:?} differs from {:?} of the other shards",
                file.display(),
                scenario.unwrap_or_default()
            )));
        }
        scenario = Some(name);
        mode = doc.get("mode").and_then(Value::as_str).map(str::to_owned);
        for k in ["results", "shrunk", "shards"] {
            if let Some(Value::Array(a)) = doc.get(k) {
                let target = match k {
                    "results" => &mut results,
                    "shrunk" => &mut shrunk,
                    _ => &mut shards,
                };
                target.extend(a.iter().cloned());
            }
        }
    }
    let seed = |v: &Value| v.get("seed").and_then(Value::as_u64).unwrap_or(0);
    results.sort_by_key(seed);
    results.dedup_by_key(|v| seed(v));
    shrunk.sort_by_key(seed);
    let failures = results
        .iter()
        .filter(|r| !r.get("violation").is_none_or(Value::is_null))
        .count();
    Ok(json!({
        "schema": "airtight-sim-explore/1",
        "scenario": scenario,
        "mode": mode,
        "shards": shards,
        "runs": results.len(),
        "failures": failures,
        "results": results,
        "shrunk": shrunk,
    }))
}

/// Parses `A..B`.
pub fn parse_range(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once("..")?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a < b).then_some((a, b))
}

/// Parses `i/n`.
pub fn parse_shard(s: &str) -> Option<(u64, u64)> {
    let (i, n) = s.split_once('/')?;
    let (i, n): (u64, u64) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
    (n > 0 && i < n).then_some((i, n))
}

/// Writes a merged document.
pub fn write_merged(doc: &Value, out: &Path) -> Result<(), RunError> {
    if let Some(parent) = out.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|err| RunError::Io {
            path: parent.to_path_buf(),
            err,
        })?;
    }
    write_json(out, doc)
}
