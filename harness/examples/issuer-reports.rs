//! Runs the issuer catalog and a load test against the reference issuer on loopback and
//! writes the three reports into `<out>`.
//!
//! `cargo run --release -p airtight-harness --example issuer-reports -- <out> [concurrency] [seconds]`
#![forbid(unsafe_code)]

use std::path::PathBuf;

use airtight_harness::issuer::reference::{self, ReferenceOptions};
use airtight_harness::{RunOptions, TargetConfig, reports};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "issuer-reports".into()));
    let concurrency: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let options = ReferenceOptions::default();
    let running = match reference::start(&options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut config = TargetConfig::default();
    config.target.transport = "http".into();
    config.target.name = Some("airtight reference issuer (loopback)".into());
    config.issuer.slow_client_ms = Some(options.slow_client_ms());
    let run = RunOptions {
        progress: false,
        load: Some((concurrency, seconds)),
        ..RunOptions::default()
    };
    let report = airtight_harness::run_issuer(&running.invocation_url, &config, &run);
    let _ = running.server.shutdown();
    if let Err(e) = reports::write_all(&report, &out) {
        eprintln!("cannot write reports: {e}");
        return std::process::ExitCode::from(2);
    }
    println!(
        "issuer: {} cases, {:?}, run {:.1} s, passed {}",
        report.cases.len(),
        report.summary.verdicts,
        report.summary.duration_ms / 1000.0,
        report.summary.passed
    );
    if let Some(l) = &report.load {
        println!(
            "  load: {} concurrent for {:.0} s: {} sessions ({} errors), {:.1} sessions/s, {:.1} requests/s",
            l.concurrency,
            l.seconds,
            l.sessions,
            l.errors,
            l.sessions_per_second,
            l.requests_per_second
        );
        if let Some(s) = &l.session {
            println!(
                "  session p50 {:.1} ms [{:.1}, {:.1}], p95 {:.1} ms, p99 {:.1} ms",
                s.p50.value / 1000.0,
                s.p50.lo / 1000.0,
                s.p50.hi / 1000.0,
                s.p95.value / 1000.0,
                s.p99.value / 1000.0
            );
        }
        if let Some(s) = &l.request {
            println!(
                "  request p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
                s.p50.value / 1000.0,
                s.p95.value / 1000.0,
                s.p99.value / 1000.0
            );
        }
    }
    if report.summary.passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}
