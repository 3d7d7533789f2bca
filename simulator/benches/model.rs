//! Model-mode throughput: runs `scenarios/million.toml` (or `$SIM_BENCH_SCENARIO`) (1,000,000 card sessions, no
//! transcript) once and prints card sessions per minute of wall time, events per second and
//! the time compression. `SIM_BENCH_SCALE=0.1` runs a tenth. Measure peak memory with
//! `/usr/bin/time -v` around the bench binary (see simulator/README.md).

use std::time::Instant;

use airtight_sim::output::{self, Job};

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("model bench: run with `cargo bench -p airtight-sim --bench model`");
        return;
    }
    let scale: f64 = std::env::var("SIM_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    // SIM_BENCH_SCENARIO=morning-wave measures another shipped scenario (e.g. its time
    // compression).
    let name = std::env::var("SIM_BENCH_SCENARIO").unwrap_or_else(|_| "million".into());
    let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let mut job = Job::new(&name, &text);
    job.scale = Some(scale);
    job.transcript = Some(false);
    let t = Instant::now();
    let done = match output::run(&job) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("run failed: {e}");
            std::process::exit(1);
        }
    };
    let wall = t.elapsed().as_secs_f64();
    let sessions = done.result.sessions as f64;
    let virt = done.result.metrics.end as f64 / 1e9;
    println!(
        "model mode, {name}: {} sessions ({} completed) in {wall:.2} s wall: {:.0} sessions/minute, {:.0} events/s, virtual {virt:.0} s (x{:.0}), violations {}",
        done.result.sessions,
        done.result.metrics.completed(),
        sessions / wall * 60.0,
        done.result.events as f64 / wall,
        virt / wall,
        done.result.violations
    );
}
