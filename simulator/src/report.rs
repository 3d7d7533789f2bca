//! `report.html`: one self-contained page (inline SVG, no scripts) with the latency CDFs by card
//! population, completions and failures over time, and issuer utilisation and queue length.

use std::fmt::Write as _;

use serde_json::Value;

use crate::metrics::{Metrics, cdf};

const W: f64 = 640.0;
const H: f64 = 260.0;
const PAD: f64 = 48.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A line chart: series of (x, y) points, with axis labels and a legend.
fn chart(title: &str, xlabel: &str, ylabel: &str, series: &[(String, Vec<(f64, f64)>)], log_x: bool) -> String {
    let mut svg = String::new();
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|s| s.1.iter().copied()).collect();
    let _ = write!(svg, r#"<h2>{}</h2><svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">"#, esc(title));
    if pts.is_empty() {
        svg.push_str(r#"<text x="60" y="120">no data</text></svg>"#);
        return svg;
    }
    let fx = |x: f64| if log_x { x.max(1e-3).log10() } else { x };
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (0.0f64, f64::NEG_INFINITY);
    for (x, y) in &pts {
        x0 = x0.min(fx(*x));
        x1 = x1.max(fx(*x));
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let sx = |x: f64| PAD + (fx(x) - x0) / (x1 - x0) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD - (y - y0) / (y1 - y0) * (H - 2.0 * PAD);
    let _ = write!(svg, r##"<rect x="{PAD}" y="{PAD}" width="{}" height="{}" fill="none" stroke="#999"/>"##, W - 2.0 * PAD, H - 2.0 * PAD);
    for i in 0..=4 {
        let fxv = x0 + (x1 - x0) * f64::from(i) / 4.0;
        let xv = if log_x { 10f64.powf(fxv) } else { fxv };
        let px = PAD + (W - 2.0 * PAD) * f64::from(i) / 4.0;
        let _ = write!(svg, r#"<text x="{px:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#, H - PAD + 14.0, fmt_num(xv));
        let yv = y0 + (y1 - y0) * f64::from(i) / 4.0;
        let py = H - PAD - (H - 2.0 * PAD) * f64::from(i) / 4.0;
        let _ = write!(svg, r#"<text x="{:.1}" y="{py:.1}" font-size="10" text-anchor="end">{}</text>"#, PAD - 4.0, fmt_num(yv));
    }
    let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#, W / 2.0, H - 8.0, esc(xlabel));
    let _ = write!(svg, r#"<text x="12" y="{:.1}" font-size="11" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#, H / 2.0, H / 2.0, esc(ylabel));
    for (i, (name, s)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for (j, (x, y)) in s.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1} ", if j == 0 { "M" } else { "L" }, sx(*x), sy(*y));
        }
        let _ = write!(svg, r#"<path d="{}" fill="none" stroke="{color}" stroke-width="1.5"/>"#, d.trim_end());
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="{color}">{}</text>"#, W - PAD - 150.0, PAD + 14.0 + 13.0 * i as f64, esc(name));
    }
    svg.push_str("</svg>");
    svg
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The page.
pub fn html(name: &str, description: &str, doc: &Value, m: &Metrics) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>airtight-sim: {n}</title><style>body{{font-family:sans-serif;max-width:720px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head><body><h1>Scenario {n}</h1><p>{d}</p>"#,
        n = esc(name),
        d = esc(description)
    );
    let g = |p: &[&str]| {
        let mut v = doc;
        for k in p {
            v = v.get(*k).unwrap_or(&Value::Null);
        }
        v.to_string()
    };
    let _ = write!(
        out,
        "<p>Seed {}, mode {}, scale {}: {} sessions, {} completed, {} failed, virtual time {} s. Properties: {} sessions checked, {} violations.</p>",
        g(&["seed"]), esc(&g(&["mode"])), g(&["scale"]), g(&["sessions", "started"]), g(&["sessions", "completed"]), g(&["sessions", "failed"]),
        g(&["virtual_seconds"]), g(&["properties", "sessions_checked"]), g(&["properties", "violations"])
    );
    out.push_str("<h2>Completion by cause</h2><table><tr><th>cause</th><th>sessions</th></tr>");
    if let Some(Value::Object(c)) = doc.get("completion_by_cause") {
        for (k, v) in c {
            if v.as_u64().unwrap_or(0) > 0 {
                let _ = write!(out, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
            }
        }
    }
    out.push_str("</table>");
    let series: Vec<(String, Vec<(f64, f64)>)> = m
        .card_names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{n} ({})", m.card_profiles[i]), cdf(&m.by_card[i])))
        .collect();
    out.push_str(&chart("Session latency CDF by card population", "latency (ms, log scale)", "fraction of completed sessions", &series, true));
    let dt = m.interval as f64 / 1e9;
    let t = |i: usize| i as f64 * dt;
    let comp: Vec<(f64, f64)> = m.series.iter().enumerate().map(|(i, p)| (t(i), p.completed as f64)).collect();
    let fail: Vec<(f64, f64)> = m.series.iter().enumerate().map(|(i, p)| (t(i), p.failed as f64)).collect();
    out.push_str(&chart(
        &format!("Completions and failures per {dt} s"),
        "virtual time (s)",
        "sessions",
        &[("completed".into(), comp), ("failed".into(), fail)],
        false,
    ));
    let nodes = m.nodes.len();
    let util: Vec<(String, Vec<(f64, f64)>)> = (0..nodes)
        .map(|n| {
            (
                m.nodes[n].name.clone(),
                m.series.iter().enumerate().filter_map(|(i, p)| p.utilisation.get(n).map(|u| (t(i), *u))).collect(),
            )
        })
        .collect();
    out.push_str(&chart("Issuer utilisation per node", "virtual time (s)", "busy workers / workers", &util, false));
    let queue: Vec<(String, Vec<(f64, f64)>)> = (0..nodes)
        .map(|n| {
            (
                m.nodes[n].name.clone(),
                m.series.iter().enumerate().filter_map(|(i, p)| p.queue_mean.get(n).map(|u| (t(i), *u))).collect(),
            )
        })
        .collect();
    out.push_str(&chart("Issuer queue length per node (time average)", "virtual time (s)", "requests waiting", &queue, false));
    out.push_str("<h2>Latency per step (ms)</h2><table><tr><th>step</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>");
    if let Some(Value::Object(steps)) = doc.get("latency_ms").and_then(|l| l.get("steps")) {
        for (k, v) in steps {
            let f = |q: &str| v.get(q).map_or("-".into(), |x| x.to_string());
            let _ = write!(out, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(k), f("count"), f("p50"), f("p90"), f("p99"), f("max"));
        }
    }
    out.push_str("</table>");
    if let Some(Value::Object(a)) = doc.get("attacks")
        && !a.is_empty()
    {
        out.push_str("<h2>Attacks</h2><table><tr><th>attack</th><th>attempted</th><th>rejected</th><th>harmless</th><th>succeeded</th></tr>");
        for (k, v) in a {
            let f = |q: &str| v.get(q).map_or("-".into(), |x| x.to_string());
            let _ = write!(out, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(k), f("attempted"), f("rejected"), f("harmless"), f("succeeded"));
        }
        out.push_str("</table>");
    }
    let _ = write!(out, "<h2>Linkability across issuers</h2><p>{}</p>", esc(&g(&["linkability"])));
    out.push_str("</body></html>\n");
    out
}
