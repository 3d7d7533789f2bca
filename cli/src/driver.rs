//! Enrolment over HTTP for the CLI: `airtight-client`'s blocking driver
//! ([`airtight_client::http::HttpDriver`]) plus what a command line needs on top: the messages
//! exchanged (for printing) and, when the issuer ends KeyGen2 mode with a redirect to an error
//! page, the reason shown on that page.

use airtight_client::engine::{Middleware, Outcome, SessionContext};
use airtight_client::http::{Direction, DriverError, HttpDriver, HttpOptions, session_context};
use airtight_client::url::{UrlError, parse_invocation};
use airtight_proto::sks::SecureKeyStore;
use thiserror::Error;

/// Largest page read.
pub const MAX_BODY: u64 = 1 << 20;

/// One message on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An issuer request received.
    Received {
        /// Its `@qualifier`.
        qualifier: String,
        /// Body size.
        bytes: usize,
    },
    /// A middleware response sent.
    Sent {
        /// Its `@qualifier`.
        qualifier: String,
        /// Body size.
        bytes: usize,
    },
    /// The issuer redirected at the end.
    Redirected {
        /// The absolute target URL.
        location: String,
    },
}

/// Why an enrolment failed.
#[derive(Debug, Error)]
pub enum EnrollError {
    /// The invocation URL is unusable.
    #[error("invocation URL: {0}")]
    Url(#[from] UrlError),
    /// The issuer ended KeyGen2 mode with a redirect to an error page ([KG2-HTP-005]); the SKS
    /// session was aborted (or, after the finalization response, the issuer did not accept
    /// the close attestation).
    #[error("the issuer refused the session: {reason} (see {location})")]
    IssuerRefused {
        /// The error page.
        location: String,
        /// The reason shown there, if it could be read.
        reason: String,
    },
    /// The middleware failed (a card error, e.g. the card was removed; the SKS session was
    /// aborted as far as the card could still be reached), and the CLI then ended the issuer
    /// session through the cancel URL ([KG2-URL-003]); the issuer answered with `location`.
    #[error("{error}; the issuer session was ended (see {location})")]
    SessionEnded {
        /// The middleware's failure.
        error: Box<DriverError>,
        /// The issuer's page (an error page of our issuer).
        location: String,
    },
    /// The driver or the middleware failed (the SKS session was aborted).
    #[error("{0}")]
    Driver(#[from] DriverError),
}

/// What a successful enrolment did.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The middleware's outcome.
    pub outcome: Outcome,
    /// The result page, if the issuer redirected to one.
    pub result_url: Option<String>,
}

/// Resolves a `Location` against the URL that answered.
pub(crate) fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    match airtight_client::url::origin(base) {
        Some(o) if location.starts_with('/') => format!("{o}{location}"),
        _ => location.to_owned(),
    }
}

fn qualifier(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("@qualifier")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "(not a KeyGen2 message)".into())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The reason shown on one of our issuer's error pages (`<p id="reason">`).
fn error_reason(location: &str) -> String {
    let Ok(text) = fetch_page(location) else {
        return "(error page unreachable)".into();
    };
    let marker = "<p id=\"reason\">";
    match text.find(marker) {
        Some(i) => {
            let rest = &text[i + marker.len()..];
            unescape(&rest[..rest.find("</p>").unwrap_or(rest.len())])
        }
        None => "(no reason given)".into(),
    }
}

/// Runs one enrolment: `make` builds the middleware for the issuer's context (so the caller
/// chooses the card, UI, PINs and clock); `observe` sees every message, in order, once the
/// exchange is over.
pub fn enroll<S: SecureKeyStore>(
    invocation_url: &str,
    make: impl FnOnce(SessionContext) -> Middleware<S>,
    observe: &mut dyn FnMut(&Event),
) -> Result<(Enrolled, Middleware<S>), EnrollError> {
    enroll_with(invocation_url, HttpOptions::default(), make, observe)
}

/// [`enroll`] with driver options (HTTPS trust anchors, limits).
pub fn enroll_with<S: SecureKeyStore>(
    invocation_url: &str,
    options: HttpOptions,
    make: impl FnOnce(SessionContext) -> Middleware<S>,
    observe: &mut dyn FnMut(&Event),
) -> Result<(Enrolled, Middleware<S>), EnrollError> {
    let inv = parse_invocation(invocation_url)?;
    let post_url = inv.post_url();
    let mut mw = make(session_context(&inv));
    let mut driver = HttpDriver::new(options);
    let result = driver.run(&inv, &mut mw);
    for (direction, body) in driver.transcript() {
        let (qualifier, bytes) = (qualifier(body), body.len());
        observe(&match direction {
            Direction::Issuer => Event::Received { qualifier, bytes },
            Direction::Middleware => Event::Sent { qualifier, bytes },
        });
    }
    match result {
        Ok(done) => {
            if let Some(page) = &done.final_page {
                observe(&Event::Redirected {
                    location: page.clone(),
                });
                // Our issuer's error pages live under /error/: a refused close attestation.
                if page.contains("/error/") {
                    return Err(EnrollError::IssuerRefused {
                        location: page.clone(),
                        reason: error_reason(page),
                    });
                }
            }
            Ok((
                Enrolled {
                    outcome: done.outcome,
                    result_url: done.final_page,
                },
                mw,
            ))
        }
        Err(DriverError::Redirected {
            location: Some(location),
            ..
        }) => {
            let location = absolute(&post_url, &location);
            observe(&Event::Redirected {
                location: location.clone(),
            });
            let reason = error_reason(&location);
            Err(EnrollError::IssuerRefused { location, reason })
        }
        Err(
            e @ DriverError::Client {
                cancelled: false, ..
            },
        ) => match inv.cancel_url.as_deref().and_then(|c| {
            // The cookies the issuer set name its session (not the invocation's own cookie).
            end_issuer_session(c, driver.cookie_header().as_deref())
                .map(|l| absolute(&post_url, &l))
        }) {
            Some(location) => {
                observe(&Event::Redirected {
                    location: location.clone(),
                });
                Err(EnrollError::SessionEnded {
                    error: Box::new(e),
                    location,
                })
            }
            None => Err(EnrollError::Driver(e)),
        },
        Err(e) => Err(EnrollError::Driver(e)),
    }
}

/// At most this many characters of a URL are repeated in a message.
const URL_IN_MESSAGES: usize = 120;

/// `url`, cut to [`URL_IN_MESSAGES`] characters (a 100 KB URL is not echoed back).
pub fn short_url(url: &str) -> String {
    match url.char_indices().nth(URL_IN_MESSAGES) {
        Some((i, _)) => format!("{}… ({} characters)", &url[..i], url.chars().count()),
        None => url.to_owned(),
    }
}

/// What a failed enrolment tells the user: the error, in the user's terms where the raw one
/// speaks the code's, with what to do; long URLs cut short.
pub fn explain(e: &EnrollError) -> String {
    match e {
        EnrollError::Url(u) | EnrollError::Driver(DriverError::Url(u)) => format!(
            "the invocation URL is not usable ({}): give the issuer's init URL, e.g. \
             'http://127.0.0.1:8080/keygen2?init=true', or an intent://keygen2?… URL",
            cut(&u.to_string())
        ),
        EnrollError::Driver(DriverError::ContentType { url, content_type }) => format!(
            "{} did not answer with a KeyGen2 message (it sent {}): is this the KeyGen2 URL of \
             an issuer? [KG2-HTP-011]",
            short_url(url),
            content_type
                .as_deref()
                .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
                .unwrap_or_else(|| "no content type".into())
        ),
        EnrollError::Driver(
            DriverError::Tls { url, detail } | DriverError::Transport { url, detail, .. },
        ) if detail.contains("trust anchors") => {
            format!(
                "[KG2-HTP-010] {} is an https:// issuer and no certificate to trust was given: \
                 pass --trust-anchor FILE.pem (the issuer's root CA; there are no built-in roots)",
                short_url(url)
            )
        }
        EnrollError::Driver(DriverError::Transport {
            method,
            url,
            detail,
        }) if detail.contains("timeout") => {
            format!(
                "the issuer did not answer in time ({method} {}: {detail}); is it running, and \
                 reachable at that address?",
                short_url(url)
            )
        }
        EnrollError::Driver(DriverError::Transport {
            method,
            url,
            detail,
        }) => format!(
            "cannot reach the issuer ({method} {}: {detail}); is it running, and is the URL \
             the one it printed?",
            short_url(url)
        ),
        // The reason (the issuer's text) is cut, the error page's address is kept whole.
        EnrollError::IssuerRefused { location, reason } => format!(
            "the issuer refused the session: {} (see {})",
            cut(reason),
            short_url(location)
        ),
        other => cut(&other.to_string()),
    }
}

/// A message cut to a readable length.
fn cut(m: &str) -> String {
    const MAX: usize = 400;
    match m.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}… (cut)", &m[..i]),
        None => m.to_owned(),
    }
}

/// GETs the cancel URL (with the invocation's session cookie) so the issuer does not wait for
/// a session the middleware gave up; returns the `Location` it redirects to.
pub(crate) fn end_issuer_session(cancel_url: &str, cookie: Option<&str>) -> Option<String> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build(),
    );
    let mut req = agent.get(cancel_url);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let resp = req.call().ok()?;
    resp.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned)
}

/// GETs a page (result or error page) as text.
pub fn fetch_page(url: &str) -> Result<String, String> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build(),
    );
    let mut resp = agent
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    resp.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| format!("GET {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_locations_resolve_against_the_origin() {
        assert_eq!(
            absolute("http://127.0.0.1:9/keygen2", "/error/x"),
            "http://127.0.0.1:9/error/x"
        );
        assert_eq!(absolute("http://a/b", "http://c/d"), "http://c/d");
    }

    #[test]
    fn long_urls_are_not_echoed_back() {
        let long = format!("http://x/{}", "a".repeat(100_000));
        let e = EnrollError::Url(parse_invocation(&format!("ftp://{long}")).unwrap_err());
        let m = explain(&e);
        assert!(m.len() < 1000, "{} bytes", m.len());
        assert!(m.contains("init URL"), "{m}");
        assert!(short_url(&long).ends_with("(100009 characters)"));
    }

    #[test]
    fn a_long_refusal_keeps_the_error_page_address() {
        let location = "http://127.0.0.1:8080/error/CtqM9wJLX04aEgC0NQL_IuYCUSA17jo-".to_owned();
        let e = EnrollError::IssuerRefused {
            location: location.clone(),
            reason: format!("[CRY-ATT-005] {}", "why ".repeat(200)),
        };
        let m = explain(&e);
        assert!(m.ends_with(&format!("(see {location})")), "{m}");
        assert!(m.len() < 600, "{} bytes", m.len());
    }

    #[test]
    fn reasons_are_unescaped() {
        assert_eq!(unescape("[X] a &lt;b&gt; &amp; c"), "[X] a <b> & c");
    }

    #[test]
    fn qualifiers_are_read() {
        assert_eq!(
            qualifier(br#"{"@qualifier":"KeyCreationResponse"}"#),
            "KeyCreationResponse"
        );
        assert_eq!(qualifier(b"x"), "(not a KeyGen2 message)");
    }
}
