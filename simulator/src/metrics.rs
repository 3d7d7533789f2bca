//! What a run measured, in virtual time only (wall-clock figures go to `run.json`), and its
//! `metrics.json` form (schema `spec/schemas/sim-metrics.schema.json`). Latencies are recorded
//! in microseconds in HdrHistograms (3 significant digits) and reported in milliseconds.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::backend::{AttackKind, AttackOutcome, Cause, SEC, Step, VTime};

/// Schema identifier written into `metrics.json`.
pub const SCHEMA_ID: &str = "airtight-sim-metrics/1";

fn hist() -> Histogram<u64> {
    // 1 µs to 2^40 µs (≈ 12.7 days), 3 significant digits.
    Histogram::new_with_bounds(1, 1 << 40, 3).expect("constant bounds are valid")
}

/// Summary of one histogram, milliseconds (or the recorded unit for counts).
fn summary(h: &Histogram<u64>, scale: f64) -> Value {
    if h.is_empty() {
        return json!({ "count": 0 });
    }
    let q = |p: f64| h.value_at_quantile(p) as f64 / scale;
    json!({
        "count": h.len(),
        "mean": round3(h.mean() / scale),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "p999": q(0.999),
        "max": h.max() as f64 / scale,
        "min": h.min() as f64 / scale,
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// CDF points of a histogram (for the report): (value in ms, cumulative fraction).
pub fn cdf(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    if h.is_empty() {
        return out;
    }
    for i in 0..=100 {
        let p = f64::from(i) / 100.0;
        let p = if i == 100 { 0.9999 } else { p };
        out.push((h.value_at_quantile(p) as f64 / 1000.0, p));
    }
    out
}

/// Per-interval counters.
#[derive(Debug, Clone, Default)]
pub struct Point {
    /// Sessions completed in the interval.
    pub completed: u64,
    /// Sessions failed in the interval.
    pub failed: u64,
    /// Sessions started in the interval.
    pub started: u64,
    /// Per node: mean utilisation (busy workers / workers) over the interval.
    pub utilisation: Vec<f64>,
    /// Per node: time-averaged queue length.
    pub queue_mean: Vec<f64>,
    /// Per node: largest queue length.
    pub queue_max: Vec<u32>,
}

/// Attack accounting per kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttackCount {
    /// Sessions attacked.
    pub attempted: u64,
    /// Refused by a party.
    pub rejected: u64,
    /// No effect.
    pub harmless: u64,
    /// Succeeded (a property broke).
    pub succeeded: u64,
    /// Reported by a party.
    pub reported: u64,
}

/// Per-node totals.
#[derive(Debug, Clone, Default)]
pub struct NodeTotals {
    /// Node name (`issuer/index`).
    pub name: String,
    /// Requests served.
    pub requests: u64,
    /// Requests turned away (queue full).
    pub overloaded: u64,
    /// Crashes.
    pub crashes: u64,
    /// Busy worker-nanoseconds.
    pub busy_ns: f64,
    /// Workers.
    pub workers: u16,
    /// Largest queue length.
    pub queue_max: u32,
}

/// Everything a run measures.
#[derive(Debug)]
pub struct Metrics {
    /// Per step exchange latency (µs): request sent until the middleware handled the answer.
    pub steps: Vec<Histogram<u64>>,
    /// Session latency of completed sessions (µs), all cards.
    pub session: Histogram<u64>,
    /// Per card population, completed sessions (µs).
    pub by_card: Vec<Histogram<u64>>,
    /// Card population names.
    pub card_names: Vec<String>,
    /// Card population profiles.
    pub card_profiles: Vec<String>,
    /// Card-side time per session (µs).
    pub card_time: Histogram<u64>,
    /// Issuer queue wait (µs).
    pub queue_wait: Histogram<u64>,
    /// APDUs per session.
    pub apdus: Histogram<u64>,
    /// Bytes over the reader link per session.
    pub apdu_bytes: Histogram<u64>,
    /// Bytes on the network per session.
    pub net_bytes: Histogram<u64>,
    /// Sessions ended per cause.
    pub causes: [u64; Cause::COUNT],
    /// Per card population, ended per cause.
    pub causes_by_card: Vec<[u64; Cause::COUNT]>,
    /// Sessions started.
    pub started: u64,
    /// Time series.
    pub series: Vec<Point>,
    /// Series interval.
    pub interval: VTime,
    /// Nodes.
    pub nodes: Vec<NodeTotals>,
    /// Attacks.
    pub attacks: BTreeMap<AttackKind, AttackCount>,
    /// Per card seen by several issuers: the ids each issuer saw (for linkability).
    pub sightings: BTreeMap<u64, Vec<(u16, u64)>>,
    /// Track sightings (only when a workload reuses cards).
    pub track_sightings: bool,
    /// Sessions checked by the oracle.
    pub checked: u64,
    /// Network retransmissions.
    pub retransmits: u64,
    /// Virtual time at the end.
    pub end: VTime,
}

impl Metrics {
    /// Empty metrics for these card populations and nodes.
    pub fn new(
        cards: &[(String, String)],
        nodes: Vec<NodeTotals>,
        interval: VTime,
        track_sightings: bool,
    ) -> Self {
        Self {
            steps: (0..Step::ALL.len()).map(|_| hist()).collect(),
            session: hist(),
            by_card: cards.iter().map(|_| hist()).collect(),
            card_names: cards.iter().map(|c| c.0.clone()).collect(),
            card_profiles: cards.iter().map(|c| c.1.clone()).collect(),
            card_time: hist(),
            queue_wait: hist(),
            apdus: hist(),
            apdu_bytes: hist(),
            net_bytes: hist(),
            causes: [0; Cause::COUNT],
            causes_by_card: vec![[0; Cause::COUNT]; cards.len()],
            started: 0,
            series: Vec::new(),
            interval,
            nodes,
            attacks: BTreeMap::new(),
            sightings: BTreeMap::new(),
            track_sightings,
            checked: 0,
            retransmits: 0,
            end: 0,
        }
    }

    /// Records a latency in ns into a µs histogram.
    pub fn rec(h: &mut Histogram<u64>, ns: VTime) {
        h.saturating_record((ns / 1000).max(1));
    }

    /// Records a count.
    pub fn count(h: &mut Histogram<u64>, n: u64) {
        h.saturating_record(n.max(1));
    }

    /// The current series point (created on demand).
    pub fn point(&mut self, now: VTime) -> &mut Point {
        let i = (now / self.interval) as usize;
        while self.series.len() <= i {
            self.series.push(Point::default());
        }
        &mut self.series[i]
    }

    /// Records an attack's fate.
    pub fn attack(&mut self, kind: AttackKind, outcome: AttackOutcome, reported: bool) {
        let a = self.attacks.entry(kind).or_default();
        a.attempted += 1;
        match outcome {
            AttackOutcome::Rejected => a.rejected += 1,
            AttackOutcome::Harmless | AttackOutcome::None => a.harmless += 1,
            AttackOutcome::Succeeded => a.succeeded += 1,
        }
        if reported {
            a.reported += 1;
        }
    }

    /// Linkability: cards seen (with an identifier) by at least two issuers, and of those the
    /// ones two issuers could link (the same non-zero identifier at two issuers).
    pub fn linkability(&self) -> (u64, u64) {
        let (mut several, mut linkable) = (0, 0);
        for seen in self.sightings.values() {
            let mut issuers: Vec<u16> = seen.iter().map(|s| s.0).collect();
            issuers.sort_unstable();
            issuers.dedup();
            if issuers.len() < 2 {
                continue;
            }
            several += 1;
            let linked = seen.iter().any(|a| {
                a.1 != 0 && seen.iter().any(|b| b.0 != a.0 && b.1 == a.1)
            });
            if linked {
                linkable += 1;
            }
        }
        (several, linkable)
    }

    /// Sessions completed.
    pub fn completed(&self) -> u64 {
        self.causes[Cause::Completed as usize]
    }

    /// The `metrics.json` document.
    pub fn to_json(&self, head: Value, violations: u64) -> Value {
        let ended: u64 = self.causes.iter().sum();
        let mut causes = serde_json::Map::new();
        for c in Cause::ALL {
            causes.insert(c.name().into(), json!(self.causes[c as usize]));
        }
        let mut steps = serde_json::Map::new();
        for s in Step::ALL {
            steps.insert(s.name().into(), summary(&self.steps[s.index()], 1000.0));
        }
        let by_card: Vec<Value> = self
            .card_names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut c = serde_json::Map::new();
                for cause in Cause::ALL {
                    let v = self.causes_by_card[i][cause as usize];
                    if v > 0 {
                        c.insert(cause.name().into(), json!(v));
                    }
                }
                json!({
                    "card": n,
                    "profile": self.card_profiles[i],
                    "latency_ms": summary(&self.by_card[i], 1000.0),
                    "completion_by_cause": c,
                })
            })
            .collect();
        let virtual_s = self.end as f64 / SEC as f64;
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                let util = if self.end > 0 {
                    n.busy_ns / (f64::from(n.workers) * self.end as f64)
                } else {
                    0.0
                };
                json!({
                    "node": n.name,
                    "workers": n.workers,
                    "requests": n.requests,
                    "overloaded": n.overloaded,
                    "crashes": n.crashes,
                    "utilisation_mean": round3(util),
                    "queue_max": n.queue_max,
                })
            })
            .collect();
        let t: Vec<f64> = (0..self.series.len())
            .map(|i| round3(i as f64 * self.interval as f64 / SEC as f64))
            .collect();
        let series = json!({
            "interval_s": self.interval as f64 / SEC as f64,
            "t_s": t,
            "started": self.series.iter().map(|p| p.started).collect::<Vec<_>>(),
            "completed": self.series.iter().map(|p| p.completed).collect::<Vec<_>>(),
            "failed": self.series.iter().map(|p| p.failed).collect::<Vec<_>>(),
            "utilisation": self.series.iter().map(|p| p.utilisation.iter().map(|u| round3(*u)).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "queue_mean": self.series.iter().map(|p| p.queue_mean.iter().map(|u| round3(*u)).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "queue_max": self.series.iter().map(|p| p.queue_max.clone()).collect::<Vec<_>>(),
        });
        let mut attacks = serde_json::Map::new();
        for (k, a) in &self.attacks {
            attacks.insert(
                k.name().into(),
                json!({
                    "attempted": a.attempted,
                    "rejected": a.rejected,
                    "harmless": a.harmless,
                    "succeeded": a.succeeded,
                    "reported": a.reported,
                    "detected": a.succeeded == 0,
                }),
            );
        }
        let (several, linkable) = self.linkability();
        let mut doc = json!({
            "schema": SCHEMA_ID,
            "sessions": {
                "started": self.started,
                "ended": ended,
                "completed": self.completed(),
                "failed": ended - self.completed(),
            },
            "virtual_seconds": round3(virtual_s),
            "completion_by_cause": causes,
            "latency_ms": {
                "session": summary(&self.session, 1000.0),
                "steps": steps,
                "card_time": summary(&self.card_time, 1000.0),
                "issuer_queue_wait": summary(&self.queue_wait, 1000.0),
            },
            "by_card": by_card,
            "per_session": {
                "apdus": summary(&self.apdus, 1.0),
                "apdu_bytes": summary(&self.apdu_bytes, 1.0),
                "network_bytes": summary(&self.net_bytes, 1.0),
            },
            "network": { "retransmits": self.retransmits },
            "issuer": { "nodes": nodes, "series": series },
            "attacks": attacks,
            "linkability": {
                "cards_at_several_issuers": several,
                "linkable": linkable,
                "fraction": if several > 0 { round3(linkable as f64 / several as f64) } else { 0.0 },
            },
            "properties": { "sessions_checked": self.checked, "violations": violations },
        });
        if let (Value::Object(d), Value::Object(h)) = (&mut doc, head) {
            let mut merged = h;
            merged.append(d);
            return Value::Object(merged);
        }
        doc
    }
}
