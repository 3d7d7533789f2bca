//! The issuer's HTML pages (plain HTML, no scripts) and certificate summaries.

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

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t}</title></head>\n<body>\n<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape(title)
    )
}

/// The landing page: the enrol link with the invocation URL.
pub fn landing(urls: &InvocationUrls) -> String {
    let body = format!(
        "<p>This airtight reference issuer provisions keys into a Secure Key Store through a \
         KeyGen2 middleware.</p>\n\
         <p><a id=\"enrol\" href=\"{intent}\">Enrol</a> (invocation URL for a KeyGen2 proxy)</p>\n\
         <p>With the airtight middleware:</p>\n<pre>airtight enroll '{intent_text}'</pre>\n\
         <p>Plain init URL (the issuer then sets the session cookie itself): \
         <a id=\"init\" href=\"{init}\">{init_text}</a></p>\n",
        intent = escape(&urls.intent),
        intent_text = escape(&urls.intent),
        init = escape(&urls.init),
        init_text = escape(&urls.init),
    );
    page("airtight issuer", &body)
}

/// The result page of a completed issuance.
pub fn result(issuance: &Issuance) -> String {
    let r = &issuance.record;
    let mut body = String::new();
    let _ = write!(
        body,
        "<p id=\"status\">Provisioning completed: the keys below were created on the card, \
         attested, and certified.</p>\n<table>\n\
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
    body.push_str("</ul>\n<p><a href=\"/\">Back</a></p>");
    page("Provisioning completed", &body)
}

/// The error page.
pub fn error(e: &ErrorEntry) -> String {
    let body = format!(
        "<p>The provisioning session ended with an error; nothing was issued.</p>\n\
         <p id=\"reason\">{}</p>\n<p>Error id <code>{}</code>.</p>\n<p><a href=\"/\">Back</a></p>",
        escape(&e.reason),
        escape(&e.id)
    );
    page("Provisioning failed", &body)
}

/// A not-found page.
pub fn not_found(text: &str) -> String {
    page("Not found", &format!("<p>{}</p>", escape(text)))
}
