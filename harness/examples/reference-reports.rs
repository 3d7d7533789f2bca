//! Runs the card catalog against the reference card over the in-process, APDU-loopback and
//! shim transports (with performance mode) and writes the three reports of each into
//! `<out>/<transport>/`: what CI publishes.
//!
//! `cargo run --release -p airtight-harness --example reference-reports -- <out> [perf-sessions] [shim-binary]`
#![forbid(unsafe_code)]

use std::path::PathBuf;

use airtight_harness::{RunOptions, TargetConfig, reports, run_card, target};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "harness-reports".into()));
    let perf: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(50);
    let shim = args.next();
    let mut failed = false;
    let mut transports = vec!["in-process", "apdu-loopback"];
    if shim.is_some() {
        transports.push("shim");
    }
    for transport in transports {
        let mut config = TargetConfig::reference();
        config.target.transport = transport.into();
        config.target.name = Some(format!("airtight reference SKS ({transport})"));
        if let Some(s) = &shim {
            config.target.command = vec![s.clone(), "7".into()];
        }
        let spec = match config.card_spec() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{transport}: {e}");
                failed = true;
                continue;
            }
        };
        let t = match target::open(&spec) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{transport}: {e}");
                failed = true;
                continue;
            }
        };
        let options = RunOptions {
            perf_sessions: perf,
            ..RunOptions::default()
        };
        let report = run_card(t, &config, &options);
        let dir = out.join(transport);
        if let Err(e) = reports::write_all(&report, &dir) {
            eprintln!("{transport}: cannot write reports: {e}");
            failed = true;
        }
        let conformance_ms: f64 = report.cases.iter().map(|c| c.duration_ms).sum();
        println!(
            "{transport}: {} cases, {:?}, conformance {:.1} s, whole run {:.1} s, passed {}",
            report.cases.len(),
            report.summary.verdicts,
            conformance_ms / 1000.0,
            report.summary.duration_ms / 1000.0,
            report.summary.passed
        );
        if let Some(p) = &report.performance {
            if let Some(s) = &p.session {
                println!(
                    "  session p50 {:.2} ms [{:.2}, {:.2}], p95 {:.2} ms, p99 {:.2} ms (n={})",
                    s.p50.value / 1000.0,
                    s.p50.lo / 1000.0,
                    s.p50.hi / 1000.0,
                    s.p95.value / 1000.0,
                    s.p99.value / 1000.0,
                    s.n
                );
            }
            if let Some(c) = &p.calibration {
                println!(
                    "  transport round trip (getDeviceInfo) p50 {:.1} µs",
                    c.p50.value
                );
            }
            if let Some(l) = &p.link {
                println!(
                    "  per session: {:.1} APDUs, {:.0} B to card, {:.0} B from card",
                    l.apdus, l.bytes_to_card, l.bytes_from_card
                );
            }
            for (m, st) in &p.methods {
                println!(
                    "  {m:<28} p50 {:>9.1} µs  p99 {:>9.1} µs",
                    st.p50.value, st.p99.value
                );
            }
        }
        failed |= !report.summary.passed;
    }
    std::process::exit(i32::from(failed));
}
