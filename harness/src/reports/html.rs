//! One self-contained HTML page: summary, per-requirement roll-up by spec tag, per-case table
//! with the wire log of SKS calls, and latency charts as inline SVG. No scripts, no external
//! resources.

use std::fmt::Write as _;

use super::{Report, esc};
use crate::case::Verdict;
use crate::perf::LatencyStats;

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
.known-divergence{background:#8250df}.quirk{background:#0969da}
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
    // Summary.
    s.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    let _ = write!(
        s,
        "<div class=\"card\" style=\"background:#24292f\"><b>{}</b>cases</div>",
        r.summary.total
    );
    for v in Verdict::ALL {
        let n = r.count(v);
        let _ = write!(s, "<div class=\"card {0}\"><b>{n}</b>{0}</div>", v.as_str());
    }
    let _ = write!(
        s,
        "</div><p class=\"verdict-banner {}\">{}</p>",
        if r.summary.passed { "ok" } else { "err" },
        if r.summary.passed {
            "The run passed: no failure and no unexpected pass."
        } else {
            "The run FAILED: see the failing cases below."
        }
    );
    if !r.notes.is_empty() {
        s.push_str("<ul>");
        for n in &r.notes {
            let _ = write!(s, "<li>{}</li>", esc(n));
        }
        s.push_str("</ul>");
    }
    s.push_str("</section>");
    // Requirements.
    let _ = write!(
        s,
        "<section id=\"requirements\"><h2>Requirements ({} spec tags)</h2><table><thead><tr><th>tag</th><th>level</th><th>verdict</th><th>cases</th></tr></thead><tbody>",
        r.requirements.len()
    );
    for q in &r.requirements {
        let cases: Vec<String> = q
            .cases
            .iter()
            .map(|c| format!("<a href=\"#{0}\"><code>{0}</code></a>", esc(c)))
            .collect();
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&q.tag),
            level(q.level),
            badge(q.verdict),
            cases.join(" ")
        );
    }
    s.push_str("</tbody></table></section>");
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
            "<section id=\"load\"><h2>Load</h2><p>{} concurrent middleware sessions for {:.0} s (measured {:.1} s): <b>{}</b> sessions completed, <b>{}</b> failed; <b>{:.1}</b> sessions/s, <b>{:.1}</b> HTTP requests/s.</p>",
            l.concurrency,
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
        if let Some(st) = &l.session {
            s.push_str("<h3>Whole-session latency under load, in order</h3>");
            s.push_str(&sample_chart("whole-session latency under load", st));
        }
        for e in &l.error_samples {
            let _ = write!(s, "<p class=\"err\"><small>{}</small></p>", esc(e));
        }
        s.push_str("</section>");
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
            "<tr id=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}",
            esc(&c.id),
            badge(c.verdict),
            // Long ids break after a dot, not inside a word.
            esc(&c.id).replace('.', ".<wbr>"),
            level(c.level),
            c.tags
                .iter()
                .map(|t| format!("<code class=\"tag\">{}</code>", esc(t)))
                .collect::<Vec<_>>()
                .join(" "),
            esc(&c.description)
        );
        if let Some(m) = &c.message {
            let _ = write!(s, "<br><i>{}</i>", esc(m));
        }
        for n in &c.notes {
            let _ = write!(s, "<br><small>{}</small>", esc(n));
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
                let cls = if w.result == "ok" { "ok" } else { "err" };
                let _ = write!(
                    s,
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"{cls}\"><code>{}</code></td><td>{}</td></tr>",
                    esc(w.method),
                    esc(&w.args),
                    esc(&w.result),
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
