//! The issuer's HTML pages (plain HTML and CSS; the landing page has one small inline script
//! that follows its session) and certificate summaries.

use std::fmt::Write as _;

use airtight_proto::keys::sha256;
use der::Decode;
use x509_cert::Certificate;

use super::InvocationUrls;
use crate::db::{ErrorEntry, Issuance};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What a certificate says, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial number (hex).
    pub serial: String,
    /// SHA-256 of the DER (hex).
    pub sha256: String,
}

/// A summary of a DER certificate; `None` if it does not parse.
pub fn certificate_summary(der: &[u8]) -> Option<CertificateSummary> {
    let c = Certificate::from_der(der).ok()?;
    let tbs = c.tbs_certificate();
    Some(CertificateSummary {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        serial: hex(tbs.serial_number().as_bytes()),
        sha256: hex(&sha256(der)),
    })
}

/// The reason recorded when the user cancels (the cancel URL, [KG2-URL-003]); its error page
/// is shown as a cancellation.
pub const CANCELLED: &str = "[KG2-URL-003] cancelled by the user";

/// The pages' style sheet (inline: the pages load nothing else).
const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,'Segoe UI',Roboto,'Noto Sans',sans-serif;\
color:#1d2430;background:#f6f8fb}main{max-width:46rem;margin:2.5rem auto;padding:1.5rem 2rem;\
background:#fff;border:1px solid #d8dee8;border-radius:14px}h1{font-size:1.6rem;margin:.2rem 0 1rem}\
h2{font-size:1.15rem}table{border-collapse:collapse}th,td{text-align:left;padding:.25rem .8rem .25rem 0;\
vertical-align:top}th{color:#5a6577;font-weight:500}code,pre{font:.85rem ui-monospace,'DejaVu Sans Mono',\
monospace;word-break:break-all;white-space:pre-wrap}.ok{color:#1a7f37}.bad{color:#b42318}\
.button{display:inline-block;padding:.55rem 1.2rem;border-radius:8px;background:#1f6feb;color:#fff;\
border:1px solid #1f6feb;font:inherit;text-decoration:none;cursor:pointer}\
.button.secondary{background:#fff;color:#1f6feb}.forms p{margin:.8rem 0}.muted{color:#5a6577}\
a{color:#1f6feb}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head>\n<body><main>\n<h1>{t}</h1>\n{body}\n\
         </main></body></html>\n",
        t = escape(title)
    )
}

/// The landing page: the invocation in its three forms (the extension's `data-keygen2`
/// element, the `keygen2:` link of the desktop scheme handler, the Android intent link), and
/// a script that follows the session (`/status/<invitation>`) once one of them is used and
/// then shows the result page.
pub fn landing(urls: &InvocationUrls) -> String {
    let body = format!(
        "<p>This airtight reference issuer provisions keys into your Secure Key Store (a smart \
         card or a key store on this computer) through KeyGen2.</p>\n\
         <div class=\"forms\">\n\
         <p><button class=\"button\" id=\"keygen2-extension\" data-keygen2=\"{keygen2}\">Enrol \
         with the browser extension</button> <span class=\"muted\" id=\"extension-hint\"></span></p>\n\
         <p><a class=\"button secondary\" id=\"keygen2-link\" href=\"{keygen2}\">Enrol with the desktop \
         application</a> <span class=\"muted\">(a <code>keygen2:</code> link)</span></p>\n\
         <p><a id=\"enrol\" href=\"{intent}\" class=\"button secondary\">Enrol on Android</a> \
         <span class=\"muted\">(a KeyGen2 proxy app)</span></p>\n</div>\n\
         <p id=\"status\" class=\"muted\" aria-live=\"polite\"></p>\n\
         <details><summary>With the airtight command line</summary>\n\
         <pre>airtight enroll '{intent_text}'</pre>\n\
         <p>Plain init URL (the issuer then sets the session cookie itself): \
         <a id=\"init\" href=\"{init}\">{init_text}</a></p></details>\n\
         <script>\n(function () {{\n\
         var status = document.getElementById('status'), following = false;\n\
         var hint = document.getElementById('extension-hint');\n\
         setTimeout(function () {{ if (!document.documentElement.hasAttribute('data-keygen2-extension')) \
         hint.textContent = '(the airtight extension is not installed)'; }}, 500);\n\
         function follow() {{\n\
           if (following) return; following = true;\n\
           status.textContent = 'Waiting for your key store\\u2026';\n\
           var tries = 0;\n\
           (function poll() {{\n\
             if (++tries > 900) {{ status.textContent = 'Stopped waiting; reload the page to start again.'; return; }}\n\
             fetch('/status/{invitation}', {{cache: 'no-store'}}).then(function (r) {{ return r.json(); }})\n\
             .then(function (s) {{\n\
               if ((s.state === 'done' || s.state === 'failed') && s.location) {{ location.href = s.location; return; }}\n\
               if (s.state === 'running') status.textContent = 'Creating keys\\u2026';\n\
               setTimeout(poll, 1000);\n\
             }}, function () {{ setTimeout(poll, 2000); }});\n\
           }})();\n\
         }}\n\
         ['keygen2-extension', 'keygen2-link', 'enrol'].forEach(function (id) {{\n\
           document.getElementById(id).addEventListener('click', follow);\n\
         }});\n}})();\n</script>",
        keygen2 = escape(&urls.keygen2),
        intent = escape(&urls.intent),
        intent_text = escape(&urls.intent),
        init = escape(&urls.init),
        init_text = escape(&urls.init),
        invitation = escape(&urls.invitation),
    );
    page("airtight issuer", &body)
}

/// The result page of a completed issuance.
pub fn result(issuance: &Issuance) -> String {
    let r = &issuance.record;
    let mut body = String::new();
    let _ = write!(
        body,
        "<p id=\"status\" class=\"ok\">&#10003; Provisioning completed: the keys below were \
         created in your key store, attested, and certified.</p>\n<table>\n\
         <tr><th>issuance</th><td>{}</td></tr>\n\
         <tr><th>mode</th><td>{}</td></tr>\n\
         <tr><th>device ID</th><td id=\"device-id\">{}</td></tr>\n\
         <tr><th>serverSessionId</th><td>{}</td></tr>\n\
         <tr><th>clientSessionId</th><td>{}</td></tr>\n\
         <tr><th>serverTime</th><td>{}</td></tr>\n</table>\n<h2>Keys</h2>\n<ul>\n",
        issuance.id,
        if r.privacy_enabled {
            "privacy (no device certificate)"
        } else {
            "E2ES (device certificate validated)"
        },
        escape(r.device_id.as_deref().unwrap_or("-")),
        escape(&r.server_session_id),
        escape(&r.client_session_id),
        escape(&r.server_time),
    );
    for k in &r.keys {
        let cert = k
            .certificate_path
            .first()
            .and_then(|c| certificate_summary(c));
        let _ = writeln!(
            body,
            "<li><b>{}</b> ({}, {}): certificate {}</li>",
            escape(&k.id),
            escape(&k.key_algorithm),
            escape(&k.app_usage),
            match cert {
                Some(c) => format!(
                    "subject <code>{}</code>, issuer <code>{}</code>, SHA-256 <code>{}</code>",
                    escape(&c.subject),
                    escape(&c.issuer),
                    c.sha256
                ),
                None => "(unparsed)".into(),
            }
        );
    }
    body.push_str("</ul>\n<p><a class=\"button secondary\" href=\"/\">Back</a></p>");
    page("Provisioning completed", &body)
}

/// The error page (a cancellation by the user is shown as such).
pub fn error(e: &ErrorEntry) -> String {
    if e.reason == CANCELLED {
        let body = format!(
            "<p id=\"reason\">{}</p>\n<p>The enrolment was cancelled (by you, or by your key \
             store's middleware when it found a problem: it then says which); nothing was \
             created in your key store and nothing was issued.</p>\n<p>Reference <code>{}</code>.</p>\n\
             <p><a class=\"button\" href=\"/\">Start again</a></p>",
            escape(&e.reason),
            escape(&e.id)
        );
        return page("Enrolment cancelled", &body);
    }
    let body = format!(
        "<p class=\"bad\">The provisioning session ended with an error; nothing was issued.</p>\n\
         <p id=\"reason\">{}</p>\n<p>Error id <code>{}</code>.</p>\n\
         <p><a class=\"button\" href=\"/\">Back</a></p>",
        escape(&e.reason),
        escape(&e.id)
    );
    page("Provisioning failed", &body)
}

/// A not-found page.
pub fn not_found(text: &str) -> String {
    page("Not found", &format!("<p>{}</p>", escape(text)))
}
