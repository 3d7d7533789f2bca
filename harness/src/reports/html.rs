//! One self-contained HTML page: summary, per-requirement roll-up by spec tag, per-case table
//! with the wire log of SKS calls, and latency charts as inline SVG. No scripts, no external
//! resources.

use std::fmt::Write as _;

use super::{CaseReport, Report, esc};
use crate::case::Verdict;
use crate::perf::LatencyStats;
use crate::rules::Grade;
use crate::wire::WireEntry;

const CSS: &str = "
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1d9;font-size:14px}
main{padding:20px 28px;max-width:1400px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin-bottom:20px}
h2{font-size:18px;margin:0 0 12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border-radius:8px;padding:8px 14px;min-width:92px;color:#fff;font-size:13px}
.card b{display:block;font-size:24px}
.v{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;color:#fff;white-space:nowrap}
.pass{background:#1a7f37}.fail{background:#cf222e}.not-applicable{background:#8c959f}
.expected-failure{background:#9a6700}.unexpected-pass{background:#a40e26}
.known-divergence{background:#8250df}.quirk{background:#0969da}.warning{background:#bc4c00}
.g{display:inline-block;border-radius:10px;padding:0 7px;font-size:11px;border:1px solid;white-space:nowrap}
.g.protocol{color:#0969da;border-color:#54aeff}.g.tightening{color:#8250df;border-color:#c297ff}
.failure{border-left:4px solid #cf222e;padding:6px 12px;margin:8px 0;background:#fff8f8}
.failure.warn{border-left-color:#bc4c00;background:#fff8f0}
.failure h3{font-size:14px;margin:0 0 4px}.failure .rule{color:#57606a;font-size:13px;margin:4px 0}
.ev{border-collapse:collapse;width:auto;margin:4px 0}.ev th{background:none;position:static;width:70px}
.ev td,.ev th{border:none;padding:1px 8px 1px 0;font-size:13px}
.failed-case{color:#cf222e;font-weight:600}
.a-ok{color:#1a7f37}.a-redirect{color:#0969da}.a-refused{color:#9a6700}.a-none{color:#57606a}
tr.tampered td{background:#fff1e5}.tamper{color:#bc4c00;font-weight:600;font-size:11px}
pre.body{white-space:pre-wrap;word-break:break-all;max-height:240px;overflow:auto;margin:2px 0;font-size:11px;background:#f6f8fa;padding:4px}
.rules dt{font-weight:600;margin-top:8px}.rules dd{margin:2px 0 0 16px;font-size:13px}
.ok{color:#1a7f37}.err{color:#cf222e}
details summary{cursor:pointer}
.wire td{font-size:12px;padding:2px 6px}
.verdict-banner{font-size:16px;font-weight:600;margin-top:8px}
svg text{font-family:system-ui,sans-serif;font-size:11px}
#requirements td:first-child,#requirements td:nth-child(2),#cases td:nth-child(3),#cases td:nth-child(6){white-space:nowrap}
#requirements td:last-child a{margin-right:6px;white-space:nowrap}
.tag{white-space:nowrap}
";

fn badge(v: Verdict) -> String {
    format!("<span class=\"v {0}\">{0}</span>", v.as_str())
}

fn grade_badge(g: Grade) -> String {
    format!(
        "<span class=\"g {0}\" title=\"{1}\">{0}</span>",
        g.as_str(),
        match g {
            Grade::Protocol => "the original SKS/KeyGen2 behaviour",
            Grade::Tightening =>
                "an airtight tightening: stricter than the protocol author's reference",
        }
    )
}

/// A link to the rule text of `tag` in the report.
fn tag_link(tag: &str) -> String {
    format!(
        "<a class=\"tag\" href=\"#rule-{0}\"><code>{0}</code></a>",
        esc(tag)
    )
}

/// The class of a wire answer by its meaning (not every answer that is not "ok" is wrong).
fn answer_class(w: &WireEntry) -> &'static str {
    match w.status {
        Some(200..=299) => "a-ok",
        Some(300..=399) => "a-redirect",
        Some(_) => "a-refused",
        None if w.method == "GET" || w.method == "POST" => "a-none",
        None if w.result == "ok" => "a-ok",
        None => "a-refused",
    }
}

/// One failure (or warning) of the summary: the case, its rules with their text, the evidence.
fn failure_item(r: &Report, c: &CaseReport, warn: bool) -> String {
    let mut s = format!(
        "<div class=\"failure{}\"><h3>{} <a href=\"#{}\"><code>{}</code></a> {}</h3><div>{}</div>",
        if warn { " warn" } else { "" },
        badge(c.verdict),
        esc(&c.id),
        esc(&c.id),
        grade_badge(c.grade),
        esc(&c.description)
    );
    for t in &c.tags {
        match r.rules.get(t) {
            Some(rule) => {
                let _ = write!(
                    s,
                    "<div class=\"rule\">{} <b>{}</b> {} {}{}</div>",
                    tag_link(t),
                    esc(&rule.level),
                    grade_badge(rule.grade),
                    esc(&rule.text),
                    rule.reason
                        .as_deref()
                        .map(|x| format!(" <i>(airtight: {})</i>", esc(x)))
                        .unwrap_or_default()
                );
            }
            None => {
                let _ = write!(s, "<div class=\"rule\">{}</div>", tag_link(t));
            }
        }
    }
    s.push_str("<table class=\"ev\"><tbody>");
    if let Some(e) = &c.expected {
        let _ = write!(
            s,
            "<tr><th>expected</th><td><code>{}</code></td></tr>",
            esc(e)
        );
    }
    if let Some(a) = &c.actual {
        let _ = write!(
            s,
            "<tr><th>actual</th><td><code>{}</code></td></tr>",
            esc(a)
        );
    }
    if let Some(m) = &c.message {
        let _ = write!(s, "<tr><th>detail</th><td>{}</td></tr>", esc(m));
    }
    s.push_str("</tbody></table></div>");
    s
}

/// The spec's spelling of a level.
fn level(l: crate::case::Level) -> &'static str {
    match l {
        crate::case::Level::Must => "MUST",
        crate::case::Level::Should => "SHOULD",
    }
}

/// An RFC 3339 time without its fractional seconds, `T` as a space (for the header).
fn display_time(t: &str) -> String {
    let cut = match (t.find('.'), t.rfind(['Z', '+'])) {
        (Some(dot), Some(end)) if dot < end => format!("{}{}", &t[..dot], &t[end..]),
        _ => t.to_owned(),
    };
    cut.replacen('T', " ", 1).replace('Z', " UTC")
}

fn us(x: f64) -> String {
    if x >= 1000.0 {
        format!("{:.2} ms", x / 1000.0)
    } else {
        format!("{x:.0} µs")
    }
}

/// A horizontal bar chart: p50 bar with p95/p99 ticks and the p50 interval as a whisker.
fn method_chart(methods: &[(&String, &LatencyStats)]) -> String {
    let row = 22.0;
    let left = 200.0;
    let width = 900.0;
    // Room on the right for the last axis label (centred on the plot's right edge).
    let plot = width - left - 50.0;
    let h = row * methods.len() as f64 + 40.0;
    let max = methods
        .iter()
        .map(|(_, s)| s.p99.hi.max(s.p99.value))
        .fold(1.0_f64, f64::max);
    let x = |v: f64| left + plot * (v / max);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{h}\" viewBox=\"0 0 {width} {h}\" role=\"img\" aria-label=\"latency per SKS method\">"
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" y1=\"10\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#eaeef2\"/><text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\" fill=\"#57606a\">{3}</text>",
            x(v),
            h - 25.0,
            h - 10.0,
            esc(&us(v))
        );
    }
    for (i, (name, st)) in methods.iter().enumerate() {
        let y = 12.0 + row * i as f64;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1b1f24\">{}</text>",
            left - 6.0,
            y + 12.0,
            esc(name)
        );
        let _ = write!(
            s,
            "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"14\" fill=\"#54aeff\"><title>{}: p50 {} (95% CI {}–{}), p95 {}, p99 {}, n={}</title></rect>",
            (x(st.p50.value) - left).max(1.0),
            esc(name),
            esc(&us(st.p50.value)),
            esc(&us(st.p50.lo)),
            esc(&us(st.p50.hi)),
            esc(&us(st.p95.value)),
            esc(&us(st.p99.value)),
            st.n
        );
        let _ = write!(
            s,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#0a3069\" stroke-width=\"1.5\"/>",
            x(st.p50.lo),
            y + 7.0,
            x(st.p50.hi),
            y + 7.0
        );
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#bf8700\" stroke-width=\"2\"/><line x1=\"{3:.1}\" y1=\"{1:.1}\" x2=\"{3:.1}\" y2=\"{2:.1}\" stroke=\"#cf222e\" stroke-width=\"2\"/>",
            x(st.p95.value),
            y,
            y + 14.0,
            x(st.p99.value)
        );
    }
    s.push_str("</svg>");
    s
}

/// A scatter plot of samples in collection order.
fn sample_chart(label: &str, st: &LatencyStats) -> String {
    let (w, h, l, b) = (900.0, 180.0, 60.0, 25.0);
    let max = st.samples.iter().copied().fold(1.0_f64, f64::max);
    let n = st.samples.len().max(2) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    let py = |v: f64| 10.0 + (h - b - 10.0) * (1.0 - v / max);
    // The p99 label sits above its line and the p50 label below its own, so that close
    // percentiles do not print over each other.
    for (q, colour, dy) in [
        (st.p50.value, "#54aeff", 11.0),
        (st.p99.value, "#cf222e", -3.0),
    ] {
        let _ = write!(
            s,
            "<line x1=\"{l}\" x2=\"{:.1}\" y1=\"{1:.1}\" y2=\"{1:.1}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"/><text x=\"{2:.1}\" y=\"{3:.1}\" fill=\"{colour}\">{4}</text>",
            w - 60.0,
            py(q),
            w - 56.0,
            py(q) + dy,
            esc(&us(q))
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#57606a\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#57606a\">0</text>",
        l - 4.0,
        py(max) + 4.0,
        esc(&us(max)),
        l - 4.0,
        py(0.0)
    );
    for (i, v) in st.samples.iter().enumerate() {
        let px = l + (w - l - 70.0) * (i as f64 / (n - 1.0));
        let _ = write!(
            s,
            "<circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#0969da\"/>",
            py(*v)
        );
    }
    s.push_str("</svg>");
    s
}

fn stats_row(name: &str, st: &LatencyStats) -> String {
    format!(
        "<tr><td><code>{}</code></td><td>{}</td><td>{} <small>[{}, {}]</small></td><td>{} <small>[{}, {}]</small></td><td>{} <small>[{}, {}]</small></td><td>{}</td><td>{}</td></tr>",
        esc(name),
        st.n,
        us(st.p50.value),
        us(st.p50.lo),
        us(st.p50.hi),
        us(st.p95.value),
        us(st.p95.lo),
        us(st.p95.hi),
        us(st.p99.value),
        us(st.p99.lo),
        us(st.p99.hi),
        us(st.mean),
        us(st.max)
    )
}

/// The HTML page of a report.
pub fn to_html(r: &Report) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let title = format!("airtight {} harness: {}", r.target.kind, r.target.name);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let about = if r.target.kind == "issuer" {
        esc(&r.target.description)
    } else {
        format!(
            "vendor {} · API level {}",
            esc(&r.target.vendor),
            r.target.api_level
        )
    };
    let _ = write!(
        s,
        "<header><h1>{}</h1><p>transport <b>{}</b> · {about} · started {} · {:.1} s · harness {}</p></header><main>",
        esc(&title),
        esc(&r.target.transport),
        esc(&display_time(&r.started)),
        r.summary.duration_ms / 1000.0,
        esc(&r.harness_version)
    );
    // Summary: the verdict, then the failures (each with its rules and the evidence), then the
    // warnings, what was left on the card and the notes; the counts last.
    let _ = write!(
        s,
        "<section id=\"summary\"><h2>Summary</h2><p class=\"verdict-banner {}\">{}</p>",
        if r.summary.passed { "ok" } else { "err" },
        if r.summary.passed {
            format!(
                "The run passed: no failure and no unexpected pass ({} cases{}).",
                r.summary.total,
                if r.summary.warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} warnings below", r.summary.warnings.len())
                }
            )
        } else {
            format!(
                "The run FAILED: {} of {} cases failed the run; each is listed below with its rule and what was observed.",
                r.summary.failures.len(),
                r.summary.total
            )
        }
    );
    let by_id = |id: &String| r.cases.iter().find(|c| &c.id == id);
    if !r.summary.failures.is_empty() {
        let _ = write!(
            s,
            "<h3 id=\"failures\">Failures ({})</h3>",
            r.summary.failures.len()
        );
        for c in r.summary.failures.iter().filter_map(by_id) {
            s.push_str(&failure_item(r, c, false));
        }
    }
    if !r.summary.warnings.is_empty() {
        let _ = write!(
            s,
            "<h3 id=\"warnings\">Warnings ({}): SHOULD rules and device weaknesses; they do not fail the run under this target's policy</h3>",
            r.summary.warnings.len()
        );
        for c in r.summary.warnings.iter().filter_map(by_id) {
            s.push_str(&failure_item(r, c, true));
        }
    }
    if !r.target.device_warnings.is_empty() {
        let _ = write!(
            s,
            "<h3 id=\"device-warnings\">Device weaknesses ({}){}</h3><ul>",
            r.target.device_warnings.len(),
            if r.config.policy.device_weakness_fails_run {
                ": they fail the run under this target's policy"
            } else {
                ": warnings under this target's policy"
            }
        );
        for w in &r.target.device_warnings {
            let _ = write!(s, "<li class=\"err\">{}</li>", esc(w));
        }
        s.push_str("</ul>");
    }
    if !r.summary.left_behind.is_empty() {
        let _ = write!(
            s,
            "<h3 id=\"left-behind\">Left on the card ({}): what cleanup could not remove</h3><ul>",
            r.summary.left_behind.len()
        );
        for n in &r.summary.left_behind {
            let _ = write!(s, "<li>{}</li>", esc(n));
        }
        s.push_str("</ul>");
    }
    if !r.notes.is_empty() {
        s.push_str("<h3>Notes</h3><ul>");
        for n in &r.notes {
            let _ = write!(s, "<li>{}</li>", esc(n));
        }
        s.push_str("</ul>");
    }
    s.push_str("<div class=\"cards\">");
    let _ = write!(
        s,
        "<div class=\"card\" style=\"background:#24292f\"><b>{}</b>cases</div>",
        r.summary.total
    );
    for v in Verdict::ALL {
        let n = r.count(v);
        let _ = write!(s, "<div class=\"card {0}\"><b>{n}</b>{0}</div>", v.as_str());
    }
    s.push_str("</div></section>");
    // Requirements: one row per tag; the failed cases are named, the others counted.
    let _ = write!(
        s,
        "<section id=\"requirements\"><h2>Requirements ({} spec tags)</h2><table><thead><tr><th>tag</th><th>level</th><th>grade</th><th>verdict</th><th>cases</th></tr></thead><tbody>",
        r.requirements.len()
    );
    for q in &r.requirements {
        let mut cell = String::new();
        for c in &q.failed {
            let _ = write!(
                cell,
                "<a class=\"failed-case\" href=\"#{0}\"><code>{0}</code></a> ",
                esc(c)
            );
        }
        for why in &q.not_applicable {
            let _ = write!(cell, "<i>{}</i> ", esc(why));
        }
        let others: Vec<String> = q
            .cases
            .iter()
            .filter(|c| !q.failed.contains(c))
            .map(|c| format!("<a href=\"#{0}\"><code>{0}</code></a>", esc(c)))
            .collect();
        if !others.is_empty() {
            let _ = write!(
                cell,
                "<details><summary>{} {}case{}</summary>{}</details>",
                others.len(),
                if q.failed.is_empty() { "" } else { "other " },
                if others.len() == 1 { "" } else { "s" },
                others.join(" ")
            );
        }
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{cell}</td></tr>",
            tag_link(&q.tag),
            level(q.level),
            grade_badge(q.grade),
            badge(q.verdict),
        );
    }
    s.push_str("</tbody></table></section>");
    // The rule texts the report cites.
    let _ = write!(
        s,
        "<section id=\"rules\"><h2>Rules ({}), from the spec</h2><dl class=\"rules\">",
        r.rules.len()
    );
    for (tag, rule) in &r.rules {
        let _ = write!(
            s,
            "<dt id=\"rule-{0}\"><code>{0}</code> <b>{1}</b> {2} <small>spec/{3}</small></dt><dd>{4}{5}</dd>",
            esc(tag),
            esc(&rule.level),
            grade_badge(rule.grade),
            esc(&rule.file),
            esc(&rule.text),
            rule.reason
                .as_deref()
                .map(|x| format!("<br><i>airtight tightening: {}</i>", esc(x)))
                .unwrap_or_default()
        );
    }
    s.push_str("</dl></section>");
    // Performance.
    if let Some(p) = &r.performance {
        let _ = write!(
            s,
            "<section id=\"performance\"><h2>Performance</h2><p>{} honest sessions ({} failed), {} SKS calls. Percentiles with 95% order-statistic confidence intervals in brackets.</p>",
            p.sessions, p.errors, p.calls
        );
        if let Some(l) = &p.link {
            let _ = write!(
                s,
                "<p>APDU link per honest session: <b>{:.1}</b> command APDUs, <b>{:.0}</b> bytes to the card, <b>{:.0}</b> bytes from the card.</p>",
                l.apdus, l.bytes_to_card, l.bytes_from_card
            );
        }
        let methods: Vec<(&String, &LatencyStats)> = p.methods.iter().collect();
        if !methods.is_empty() {
            s.push_str("<h3>Latency per SKS method</h3><p><small>bar: p50 (whisker: its 95% CI) · amber tick: p95 · red tick: p99</small></p>");
            s.push_str(&method_chart(&methods));
        }
        s.push_str("<table><thead><tr><th>method</th><th>n</th><th>p50</th><th>p95</th><th>p99</th><th>mean</th><th>max</th></tr></thead><tbody>");
        if let Some(c) = &p.calibration {
            s.push_str(&stats_row("transport round trip (getDeviceInfo)", c));
        }
        if let Some(c) = &p.session {
            s.push_str(&stats_row("whole session", c));
        }
        for (m, st) in &p.methods {
            s.push_str(&stats_row(m, st));
        }
        s.push_str("</tbody></table>");
        if let Some(c) = &p.session {
            s.push_str("<h3>Whole-session latency, in order</h3>");
            s.push_str(&sample_chart("whole-session latency", c));
        }
        s.push_str("</section>");
    }
    // Issuer load test.
    if let Some(l) = &r.load {
        let _ = write!(
            s,
            "<section id=\"load\"><h2>Load</h2><p>{} against {} for {:.0} s (measured {:.1} s): <b>{}</b> sessions completed, <b>{}</b> failed; <b>{:.1}</b> sessions/s, <b>{:.1}</b> HTTP requests/s.</p>",
            match l.pacing {
                crate::issuer::load::Pacing::Closed { concurrency } =>
                    format!("Closed loop: {concurrency} concurrent middleware sessions"),
                crate::issuer::load::Pacing::Open { rate, connections } => format!(
                    "Open loop (wrk2-style, latency from the scheduled start): {rate} sessions/s over {connections} keep-alive client threads"
                ),
            },
            esc(&l.urls.join(", ")),
            l.seconds,
            l.elapsed_seconds,
            l.sessions,
            l.errors,
            l.sessions_per_second,
            l.requests_per_second
        );
        s.push_str("<table><thead><tr><th>latency</th><th>n</th><th>p50</th><th>p95</th><th>p99</th><th>mean</th><th>max</th></tr></thead><tbody>");
        if let Some(st) = &l.session {
            s.push_str(&stats_row("whole session", st));
        }
        if let Some(st) = &l.request {
            s.push_str(&stats_row("one HTTP request", st));
        }
        s.push_str("</tbody></table>");
        if l.session_percentiles.is_some() || !l.steps.is_empty() {
            s.push_str("<h3>Percentiles (HdrHistogram, ms)</h3><table><thead><tr><th>latency</th><th>n</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody>");
            let row = |name: &str, p: &crate::issuer::load::Percentiles| {
                let ms = |v: u64| format!("{:.2}", v as f64 / 1000.0);
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(name),
                    p.n,
                    ms(p.p50_us),
                    ms(p.p90_us),
                    ms(p.p99_us),
                    ms(p.p999_us),
                    ms(p.max_us)
                )
            };
            if let Some(p) = &l.session_percentiles {
                s.push_str(&row("whole session", p));
            }
            for (step, p) in &l.steps {
                s.push_str(&row(&format!("step: {step}"), p));
            }
            s.push_str("</tbody></table>");
        }
        for (cause, n) in &l.errors_by_cause {
            let _ = write!(s, "<p class=\"err\">{n} failed: {}</p>", esc(cause));
        }
        if let Some(st) = &l.session {
            s.push_str("<h3>Whole-session latency under load, in order</h3>");
            s.push_str(&sample_chart("whole-session latency under load", st));
        }
        for e in &l.error_samples {
            let _ = write!(s, "<p class=\"err\"><small>{}</small></p>", esc(e));
        }
        if let Some(h) = &l.hostile {
            s.push_str(&hostile_section(l, h));
        }
        s.push_str("</section>");
    }
    if let Some(c) = &r.crash {
        s.push_str(&crash_section(c));
    }
    // Cases.
    let _ = write!(
        s,
        "<section id=\"cases\"><h2>Cases ({})</h2><table><thead><tr><th>verdict</th><th>id</th><th>level</th><th>tags</th><th>description and wire log</th><th>ms</th></tr></thead><tbody>",
        r.cases.len()
    );
    for c in &r.cases {
        let _ = write!(
            s,
            "<tr id=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}<br>{}</td><td>{}</td><td>{}",
            esc(&c.id),
            badge(c.verdict),
            // Long ids break after a dot, not inside a word.
            esc(&c.id).replace('.', ".<wbr>"),
            level(c.level),
            grade_badge(c.grade),
            c.tags
                .iter()
                .map(|t| tag_link(t))
                .collect::<Vec<_>>()
                .join(" "),
            esc(&c.description)
        );
        if let Some(m) = &c.message {
            let _ = write!(s, "<br><i>{}</i>", esc(m));
        }
        if c.expected.is_some() || c.actual.is_some() {
            let _ = write!(
                s,
                "<br><small>expected <code>{}</code> · actual <code>{}</code></small>",
                esc(c.expected.as_deref().unwrap_or("(see the text)")),
                esc(c.actual.as_deref().unwrap_or(""))
            );
        }
        for n in &c.notes {
            let _ = write!(s, "<br><small>{}</small>", esc(n));
        }
        for n in &c.left_behind {
            let _ = write!(
                s,
                "<br><small class=\"err\">left on the card: {}</small>",
                esc(n)
            );
        }
        if !c.wire.is_empty() {
            let _ = write!(
                s,
                "<details><summary>wire log ({} {})</summary><table class=\"wire\"><tbody>",
                c.wire.len(),
                if r.target.kind == "issuer" {
                    "HTTP exchanges"
                } else {
                    "SKS calls"
                }
            );
            for w in &c.wire {
                let cls = answer_class(w);
                let _ = write!(
                    s,
                    "<tr{}><td><code>{}</code>{}</td><td><code>{}</code>{}</td><td class=\"{cls}\"><code>{}</code>{}</td><td>{}</td></tr>",
                    if w.tampered {
                        " class=\"tampered\""
                    } else {
                        ""
                    },
                    esc(w.method),
                    if w.tampered {
                        "<br><span class=\"tamper\">tampered</span>"
                    } else {
                        ""
                    },
                    esc(&w.args),
                    w.request_body
                        .as_deref()
                        .map(|b| format!("<pre class=\"body\">{}</pre>", esc(b)))
                        .unwrap_or_default(),
                    esc(&w.result),
                    w.response_body
                        .as_deref()
                        .map(|b| format!("<pre class=\"body\">{}</pre>", esc(b)))
                        .unwrap_or_default(),
                    esc(&us(w.micros as f64))
                );
            }
            s.push_str("</tbody></table></details>");
        }
        let _ = write!(s, "</td><td>{:.1}</td></tr>", c.duration_ms);
    }
    s.push_str("</tbody></table></section></main></body></html>\n");
    s
}

/// The honest load alone and beside hostile traffic, side by side; what each hostile kind
/// did; the issuer's memory.
fn hostile_section(
    alone: &crate::issuer::load::LoadReport,
    h: &crate::issuer::hostile::HostileReport,
) -> String {
    let under = &h.honest_under_attack;
    let mut s = format!(
        "<h3 id=\"hostile\">Hostile load</h3><p>The same honest load twice: alone, then beside hostile traffic making up <b>{:.0} %</b> of all attempts ({:.1} hostile attempts/s over {} threads, round-robin over {}). Every hostile attempt must be refused.</p>",
        h.plan.fraction * 100.0,
        h.hostile_rate,
        h.plan.threads,
        esc(&h
            .plan
            .kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", "))
    );
    let rate = |l: &crate::issuer::load::LoadReport| {
        let tried = l.sessions + l.errors;
        if tried == 0 {
            "-".to_owned()
        } else {
            format!("{:.1} %", 100.0 * l.sessions as f64 / tried as f64)
        }
    };
    let pct = |l: &crate::issuer::load::LoadReport,
               f: fn(&crate::issuer::load::Percentiles) -> u64| {
        l.session_percentiles
            .as_ref()
            .map_or("-".to_owned(), |p| format!("{:.2}", f(p) as f64 / 1000.0))
    };
    let causes = |l: &crate::issuer::load::LoadReport| {
        if l.errors_by_cause.is_empty() {
            "none".to_owned()
        } else {
            esc(&l
                .errors_by_cause
                .iter()
                .map(|(c, n)| format!("{n} {c}"))
                .collect::<Vec<_>>()
                .join(", "))
        }
    };
    s.push_str("<table><thead><tr><th>honest sessions</th><th>alone</th><th>beside the hostile traffic</th></tr></thead><tbody>");
    let rows: Vec<(&str, String, String)> = vec![
        (
            "completed / tried",
            format!("{} / {}", alone.sessions, alone.sessions + alone.errors),
            format!("{} / {}", under.sessions, under.sessions + under.errors),
        ),
        ("success rate", rate(alone), rate(under)),
        (
            "p50 (ms)",
            pct(alone, |p| p.p50_us),
            pct(under, |p| p.p50_us),
        ),
        (
            "p90 (ms)",
            pct(alone, |p| p.p90_us),
            pct(under, |p| p.p90_us),
        ),
        (
            "p99 (ms)",
            pct(alone, |p| p.p99_us),
            pct(under, |p| p.p99_us),
        ),
        (
            "max (ms)",
            pct(alone, |p| p.max_us),
            pct(under, |p| p.max_us),
        ),
        (
            "sessions/s",
            format!("{:.1}", alone.sessions_per_second),
            format!("{:.1}", under.sessions_per_second),
        ),
        ("failures by cause", causes(alone), causes(under)),
    ];
    for (name, a, b) in rows {
        let _ = write!(s, "<tr><td>{name}</td><td>{a}</td><td>{b}</td></tr>");
    }
    s.push_str("</tbody></table>");
    s.push_str("<table><thead><tr><th>hostile kind</th><th>sent</th><th>refused</th><th>not refused</th><th>what happened</th></tr></thead><tbody>");
    for (name, k) in &h.kinds {
        let mut what: Vec<String> = k
            .outcomes
            .iter()
            .map(|(o, n)| format!("{n} × {o}"))
            .collect();
        if let Some(p) = &k.closed_after {
            what.push(format!(
                "closed after p50 {:.0} ms, max {:.0} ms",
                p.p50_us as f64 / 1000.0,
                p.max_us as f64 / 1000.0
            ));
        }
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"ok\">{}</td><td{}>{}</td><td>{}</td></tr>",
            esc(name),
            k.sent,
            k.refused,
            if k.not_refused > 0 {
                " class=\"err\""
            } else {
                ""
            },
            k.not_refused,
            esc(&what.join("; "))
        );
    }
    s.push_str("</tbody></table>");
    for t in &h.not_refused_samples {
        let _ = write!(
            s,
            "<p class=\"err\"><small>not refused: {}</small></p>",
            esc(t)
        );
    }
    if let Some(m) = &h.memory {
        let mib = |k: u64| format!("{:.1}", k as f64 / 1024.0);
        let _ = write!(
            s,
            "<h3>Issuer memory</h3><p>VmRSS of process {}{}, every {} ms.</p><table><thead><tr><th>phase</th><th>start (MiB)</th><th>max (MiB)</th><th>end (MiB)</th></tr></thead><tbody><tr><td>honest alone</td><td>{}</td><td>{}</td><td>{}</td></tr><tr><td>beside the hostile traffic</td><td>{}</td><td>{}</td><td>{}</td></tr></tbody></table>",
            m.pid,
            if m.in_process {
                " (the harness's own: the reference issuer runs in it, so the figures include the load generator)"
            } else {
                ""
            },
            m.interval_ms,
            mib(m.honest.start_kib),
            mib(m.honest.max_kib),
            mib(m.honest.end_kib),
            mib(m.hostile.start_kib),
            mib(m.hostile.max_kib),
            mib(m.hostile.end_kib)
        );
        s.push_str(&memory_chart(&m.samples));
    }
    if let Some(r) = &h.store {
        let _ = write!(
            s,
            "<h3>Issuer store</h3><p>Rows of the reference issuer's store (sessions, issuances and error records), every 100 ms. Every flood start leaves a session row until the periodic sweep ends and prunes it, once it is past every deadline; completed issuances stay. The flood sent <b>{}</b> session starts.</p><table><thead><tr><th>phase</th><th>start (rows)</th><th>max (rows)</th><th>end (rows)</th></tr></thead><tbody><tr><td>honest alone</td><td>{}</td><td>{}</td><td>{}</td></tr><tr><td>beside the hostile traffic</td><td>{}</td><td>{}</td><td>{}</td></tr></tbody></table>",
            r.flood_starts,
            r.honest.start,
            r.honest.max,
            r.honest.end,
            r.hostile.start,
            r.hostile.max,
            r.hostile.end
        );
    }
    s
}

/// Resident memory over time (seconds, KiB) as a line.
fn memory_chart(samples: &[(f64, u64)]) -> String {
    let (w, h, l, b) = (900.0, 140.0, 60.0, 20.0);
    let tmax = samples.last().map_or(1.0, |(t, _)| t.max(0.001));
    let kmax = samples.iter().map(|(_, k)| *k).max().unwrap_or(1).max(1) as f64;
    let pts: Vec<String> = samples
        .iter()
        .map(|(t, k)| {
            format!(
                "{:.1},{:.1}",
                l + (w - l - 10.0) * (t / tmax),
                10.0 + (h - b - 10.0) * (1.0 - *k as f64 / kmax)
            )
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"issuer memory over the run\"><text x=\"{:.1}\" y=\"14\" text-anchor=\"end\" fill=\"#57606a\">{:.1} MiB</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#57606a\">0</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#57606a\">{:.1} s</text><polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        l - 4.0,
        kmax / 1024.0,
        l - 4.0,
        h - b,
        w - 10.0,
        h - 4.0,
        tmax,
        pts.join(" ")
    )
}

/// The crash-under-load rounds and the audit.
fn crash_section(c: &crate::issuer::crash::CrashReport) -> String {
    let a = &c.audit;
    let mut s = format!(
        "<section id=\"crash\"><h2>Crash under load</h2><p>The reference issuer (<code>airtight issuer serve --test-pki</code>, SQLite store on disk) under an open-loop load of {} sessions/s over {} client threads, killed with SIGKILL at a seeded random moment of each {:.1} s round (seed {}) and restarted on the same store, {} times; then {:.1} s more load, and an audit of the store. Result: <b class=\"{}\">{}</b> ({:.1} s).</p>",
        c.plan.rate,
        c.plan.connections,
        c.plan.round_seconds,
        c.plan.seed,
        c.plan.rounds,
        c.plan.resume_seconds,
        if c.passed { "ok" } else { "err" },
        if c.passed { "passed" } else { "FAILED" },
        c.elapsed_seconds
    );
    s.push_str("<table><thead><tr><th>round</th><th>SIGKILL after (ms)</th><th>completed</th><th>cut or failed</th><th>by cause</th></tr></thead><tbody>");
    for (i, r) in c.rounds.iter().enumerate() {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            r.killed_after_ms,
            r.completed,
            r.failed,
            esc(&r
                .errors_by_cause
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", "))
        );
    }
    let _ = write!(
        s,
        "<tr><td>after the last restart</td><td>-</td><td>{}</td><td>{}</td><td></td></tr></tbody></table>",
        c.resumed_sessions, c.resumed_errors
    );
    let _ = write!(
        s,
        "<table><thead><tr><th>audit</th><th>found</th></tr></thead><tbody><tr><td>result redirects the clients received</td><td>{}</td></tr><tr><td>issuances in the store</td><td>{}</td></tr><tr><td>finished sessions in the store</td><td>{}</td></tr><tr><td>completed issuances lost</td><td>{}</td></tr><tr><td>recorded twice</td><td>{}</td></tr><tr><td>half sessions</td><td>{}</td></tr></tbody></table>",
        a.completed_seen,
        a.issuances,
        a.done_sessions,
        a.lost.len(),
        a.duplicates.len(),
        a.half.len()
    );
    for t in a.lost.iter().chain(&a.duplicates).chain(&a.half).take(20) {
        let _ = write!(s, "<p class=\"err\"><small>{}</small></p>", esc(t));
    }
    if let Some(e) = &c.error {
        let _ = write!(s, "<p class=\"err\">{}</p>", esc(e));
    }
    s.push_str("</section>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_times_drop_fractional_seconds() {
        assert_eq!(
            display_time("2026-11-22T18:13:11.125328951Z"),
            "2026-11-22 18:13:11 UTC"
        );
        assert_eq!(
            display_time("2026-11-22T18:13:11Z"),
            "2026-11-22 18:13:11 UTC"
        );
        assert_eq!(
            display_time("2026-11-22T18:13:11.5+01:00"),
            "2026-11-22 18:13:11+01:00"
        );
        assert_eq!(display_time(""), "");
    }
}
