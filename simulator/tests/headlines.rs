//! Prints the headline figures of every shipped scenario (full size, seed 7, model mode) as the
//! Markdown table of simulator/README.md. Not part of CI (ignored; the 100,000-card wave takes
//! about a minute in a debug build):
//! `cargo test -p airtight-sim --test headlines -- --ignored --nocapture`.
//! `SIM_HEADLINES=name,name` keeps only those scenarios (one row to refresh).

use std::path::{Path, PathBuf};

use airtight_sim::output::{self, Job};
use airtight_sim::scenario::Scenario;
use serde_json::Value;

#[test]
#[ignore = "long: regenerates the README table"]
fn headline_table() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if let Ok(only) = std::env::var("SIM_HEADLINES") {
        let only: Vec<&str> = only.split(',').collect();
        files.retain(|f| {
            f.file_stem()
                .is_some_and(|s| only.contains(&s.to_string_lossy().as_ref()))
        });
    }
    let mut out = String::from(
        "| scenario | what it shows | sessions: completed / started | failures by cause | session latency p50 / p99 (s) | more |\n|---|---|---|---|---|---|\n",
    );
    for f in files {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&f).expect("read");
        let s = Scenario::parse(&name, &text).expect("parse");
        if name == "million" {
            out.push_str(&format!(
                "| `{name}` | {} | the benchmark (Performance) | | | |\n",
                s.configuration.description
            ));
            continue;
        }
        let mut job = Job::new(&name, &text);
        job.seed = Some(7);
        job.transcript = Some(false);
        let d = output::run(&job).expect("run");
        let m = &d.metrics;
        let mut fails: Vec<String> = Vec::new();
        if let Some(Value::Object(c)) = m.get("completion_by_cause") {
            for (k, v) in c {
                if k != "completed" && v.as_u64().unwrap_or(0) > 0 {
                    fails.push(format!("{k} {v}"));
                }
            }
        }
        let mut more: Vec<String> = Vec::new();
        if let Some(Value::Object(a)) = m.get("attacks") {
            for (k, v) in a {
                more.push(format!(
                    "{k}: {} attempted, {} rejected, {} harmless, {} succeeded",
                    v["attempted"], v["rejected"], v["harmless"], v["succeeded"]
                ));
            }
        }
        if m["linkability"]["cards_at_several_issuers"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            more.push(format!(
                "linkability {} ({} of {} cards seen by several issuers)",
                m["linkability"]["fraction"],
                m["linkability"]["linkable"],
                m["linkability"]["cards_at_several_issuers"]
            ));
        }
        let rt = m["network"]["retransmits"].as_u64().unwrap_or(0);
        if rt > 0 {
            more.push(format!("{rt} retransmissions"));
        }
        if let Some(Value::Array(nodes)) = m.pointer("/issuer/nodes") {
            let util: Vec<String> = nodes
                .iter()
                .map(|n| format!("{}", n["utilisation_mean"]))
                .collect();
            let qmax = nodes
                .iter()
                .map(|n| n["queue_max"].as_u64().unwrap_or(0))
                .max()
                .unwrap_or(0);
            more.push(format!("utilisation {}, queue max {qmax}", util.join("/")));
        }
        more.push(format!("{} virtual s", m["virtual_seconds"]));
        let sec = |p: &str| {
            m.pointer(p)
                .and_then(Value::as_f64)
                .map_or("-".into(), |v| format!("{:.1}", v / 1000.0))
        };
        out.push_str(&format!(
            "| `{name}` | {} | {} / {} | {} | {} / {} | {} |\n",
            s.configuration.description,
            m["sessions"]["completed"],
            m["sessions"]["started"],
            if fails.is_empty() {
                "none".into()
            } else {
                fails.join(", ")
            },
            sec("/latency_ms/session/p50"),
            sec("/latency_ms/session/p99"),
            more.join("; ")
        ));
    }
    println!("{out}");
    std::fs::write(std::env::temp_dir().join("sim-headlines.md"), out).expect("write");
}
