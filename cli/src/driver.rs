//! A blocking HTTP driver for the middleware engine: GET of the init URL, then one POST per
//! response message ([KG2-HTP-001], [KG2-HTP-002]), cookies kept as a browser would
//! ([KG2-HTP-009]), no redirects followed mid-protocol ([KG2-HTP-005]), and a 3xx or an empty
//! 2xx after the finalization response taken as completion ([KG2-HTP-007]).
//!
//! Plain HTTP only (the `ureq` build has no TLS), so `serverCertificate` is empty; the
//! invocation URL must then be on loopback ([KG2-IMP-010]).

use std::time::Duration;

use airtight_client::engine::{Middleware, Outcome, SessionContext};
use airtight_client::error::ClientError;
use airtight_client::url::{Invocation, UrlError, parse_invocation};
use airtight_proto::sks::SecureKeyStore;
use thiserror::Error;

/// Largest issuer body read ([KG2-IMP-009]).
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
    /// [KG2-IMP-010]: plain HTTP is allowed only on loopback.
    #[error(
        "[KG2-IMP-010] {0} is neither HTTPS nor loopback (and this build speaks plain HTTP only)"
    )]
    NotLoopback(String),
    /// The transport failed; the SKS session was aborted.
    #[error("HTTP {url}: {detail}")]
    Http {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The issuer ended KeyGen2 mode with a redirect to an error page ([KG2-HTP-005]); the SKS
    /// session was aborted.
    #[error("the issuer refused the session: {reason} (see {location})")]
    IssuerRefused {
        /// The error page.
        location: String,
        /// The reason shown there, if it could be read.
        reason: String,
    },
    /// The middleware refused an issuer message (and aborted the SKS session).
    #[error("middleware: {0}")]
    Middleware(#[from] ClientError),
}

/// What a successful enrolment did.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The middleware's outcome.
    pub outcome: Outcome,
    /// The result page, if the issuer redirected to one.
    pub result_url: Option<String>,
}

/// A tiny cookie jar: name → value, for one origin.
#[derive(Debug, Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn set(&mut self, pair: &str) {
        let Some((name, value)) = pair
            .split(';')
            .next()
            .and_then(|p| p.trim().split_once('='))
        else {
            return;
        };
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        if name.is_empty() {
            return;
        }
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value));
    }

    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

fn is_loopback_http(u: &str) -> bool {
    let Some(origin) = airtight_client::url::origin(u) else {
        return false;
    };
    let Some(hostport) = origin.strip_prefix("http://") else {
        return false;
    };
    let host = if let Some(rest) = hostport.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Resolves a `Location` against the URL that answered.
fn absolute(base: &str, location: &str) -> String {
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

/// The HTTP side of one enrolment.
struct Transport {
    agent: ureq::Agent,
    jar: Jar,
}

/// What the issuer answered.
enum Answer {
    Message(Vec<u8>),
    Empty,
    Redirect(String),
}

impl Transport {
    fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .build();
        Transport {
            agent: ureq::Agent::new_with_config(config),
            jar: Jar::default(),
        }
    }

    fn answer(
        &mut self,
        url: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, EnrollError> {
        let http = |detail: String| EnrollError::Http {
            url: url.to_owned(),
            detail,
        };
        let mut resp = result.map_err(|e| http(e.to_string()))?;
        for v in resp.headers().get_all("set-cookie") {
            if let Ok(s) = v.to_str() {
                self.jar.set(s);
            }
        }
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(|l| absolute(url, l))
                .ok_or_else(|| http(format!("{status} without a Location")))?;
            return Ok(Answer::Redirect(location));
        }
        if !(200..300).contains(&status) {
            return Err(http(format!("status {status}")));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| http(format!("body: {e}")))?;
        if body.is_empty() {
            return Ok(Answer::Empty);
        }
        // [KG2-HTP-011] a KeyGen2 message comes as application/json.
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
        {
            return Err(http(format!(
                "[KG2-HTP-011] Content-Type {ct:?} is not application/json"
            )));
        }
        Ok(Answer::Message(body))
    }

    fn get(&mut self, url: &str) -> Result<Answer, EnrollError> {
        let mut req = self.agent.get(url);
        if let Some(c) = self.jar.header() {
            req = req.header("Cookie", c);
        }
        let r = req.call();
        self.answer(url, r)
    }

    fn post(&mut self, url: &str, body: &[u8]) -> Result<Answer, EnrollError> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(c) = self.jar.header() {
            req = req.header("Cookie", c);
        }
        let r = req.send(body);
        self.answer(url, r)
    }

    /// The reason shown on an error page (`<p id="reason">`), or its text.
    fn error_reason(&mut self, location: &str) -> String {
        let Ok(mut resp) = self.agent.get(location).call() else {
            return "(error page unreachable)".into();
        };
        let Ok(text) = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
        else {
            return "(error page unreadable)".into();
        };
        let marker = "<p id=\"reason\">";
        match text.find(marker) {
            Some(i) => {
                let rest = &text[i + marker.len()..];
                let end = rest.find("</p>").unwrap_or(rest.len());
                unescape(&rest[..end])
            }
            None => "(no reason given)".into(),
        }
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Runs one enrolment: `make` builds the middleware for the issuer's context (so the caller
/// chooses the card, UI, PINs and clock); `observe` sees every message.
pub fn enroll<S: SecureKeyStore>(
    invocation_url: &str,
    make: impl FnOnce(SessionContext) -> Middleware<S>,
    observe: &mut dyn FnMut(&Event),
) -> Result<(Enrolled, Middleware<S>), EnrollError> {
    let inv: Invocation = parse_invocation(invocation_url)?;
    let post_url = inv.post_url();
    for u in [&inv.init_url, &post_url] {
        if !is_loopback_http(u) {
            return Err(EnrollError::NotLoopback(u.clone()));
        }
    }
    let mut t = Transport::new(Duration::from_secs(60));
    if let Some(c) = &inv.cookie {
        t.jar.set(c);
    }
    // [KG2-HTP-001] the InvocationRequest comes from a GET of init.
    let mut request = match t.get(&inv.init_url)? {
        Answer::Message(b) => b,
        Answer::Empty => {
            return Err(EnrollError::Http {
                url: inv.init_url.clone(),
                detail: "empty answer instead of an InvocationRequest".into(),
            });
        }
        Answer::Redirect(location) => {
            let reason = t.error_reason(&location);
            return Err(EnrollError::IssuerRefused { location, reason });
        }
    };
    let mut mw = make(SessionContext::plain(&post_url));
    loop {
        observe(&Event::Received {
            qualifier: qualifier(&request),
            bytes: request.len(),
        });
        let response = mw.handle_bytes(&request)?;
        observe(&Event::Sent {
            qualifier: qualifier(&response),
            bytes: response.len(),
        });
        let answer = match t.post(&post_url, &response) {
            Ok(a) => a,
            Err(e) => {
                mw.abort();
                return Err(e);
            }
        };
        match answer {
            Answer::Message(next) if !mw.is_done() => request = next,
            Answer::Message(_) => {
                return Err(EnrollError::Http {
                    url: post_url,
                    detail: "a KeyGen2 message after the finalization response".into(),
                });
            }
            Answer::Empty if mw.is_done() => {
                let outcome = mw.outcome().cloned().ok_or_else(|| EnrollError::Http {
                    url: post_url.clone(),
                    detail: "no outcome".into(),
                })?;
                return Ok((
                    Enrolled {
                        outcome,
                        result_url: None,
                    },
                    mw,
                ));
            }
            Answer::Empty => {
                mw.abort();
                return Err(EnrollError::Http {
                    url: post_url,
                    detail: "empty answer in the middle of the protocol".into(),
                });
            }
            Answer::Redirect(location) => {
                observe(&Event::Redirected {
                    location: location.clone(),
                });
                // Our issuer's error pages live under /error/; any other redirect after the
                // finalization response is the result page ([KG2-HTP-007]).
                if mw.is_done() && !location.contains("/error/") {
                    let outcome = mw.outcome().cloned().ok_or_else(|| EnrollError::Http {
                        url: post_url.clone(),
                        detail: "no outcome".into(),
                    })?;
                    return Ok((
                        Enrolled {
                            outcome,
                            result_url: Some(location),
                        },
                        mw,
                    ));
                }
                // [KG2-HTP-005] a redirect mid-protocol ends KeyGen2 mode.
                mw.abort();
                let reason = t.error_reason(&location);
                return Err(EnrollError::IssuerRefused { location, reason });
            }
        }
    }
}

/// GETs a page (result or error page) as text.
pub fn fetch_page(url: &str) -> Result<String, EnrollError> {
    let t = Transport::new(Duration::from_secs(30));
    let mut resp = t.agent.get(url).call().map_err(|e| EnrollError::Http {
        url: url.to_owned(),
        detail: e.to_string(),
    })?;
    resp.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| EnrollError::Http {
            url: url.to_owned(),
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_jar_replaces_by_name() {
        let mut j = Jar::default();
        j.set("a=1");
        j.set("b=2; Path=/; HttpOnly");
        j.set("a=3");
        assert_eq!(j.header().as_deref(), Some("b=2; a=3"));
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback_http("http://127.0.0.1:8080/keygen2"));
        assert!(is_loopback_http("http://localhost/x"));
        assert!(is_loopback_http("http://[::1]:9/x"));
        assert!(!is_loopback_http("http://192.0.2.1/x"));
        assert!(!is_loopback_http("https://127.0.0.1/x"));
    }

    #[test]
    fn relative_locations_resolve_against_the_origin() {
        assert_eq!(
            absolute("http://127.0.0.1:9/keygen2", "/error/x"),
            "http://127.0.0.1:9/error/x"
        );
        assert_eq!(absolute("http://a/b", "http://c/d"), "http://c/d");
    }
}
