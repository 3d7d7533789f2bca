//! The blocking HTTP driver ([KG2-HTP-001]-[KG2-HTP-011]): GET the init URL, POST each
//! response to the issuer URL, treat each answer as the next request, stop at the end.
//!
//! Client choice: `ureq` 3 with default features off (no TLS stack, no cookie store, no
//! compression): small, blocking, and it lets the driver switch redirects off and limit the
//! body. **Limitation**: without a TLS feature `https://` URLs fail with a transport error, and
//! even with one `ureq` does not expose the peer certificate, so the TLS server certificate
//! ([KG2-HTP-010]) cannot be captured here: `serverCertificate` is empty (what the recorded
//! Java sessions over plain HTTP do with a stand-in). Cookies are kept in a minimal jar
//! (name=value pairs for the one issuer origin), which is all a KeyGen2 session needs.

use std::time::Duration;

use airtight_proto::sks::SecureKeyStore;
use thiserror::Error;

use crate::engine::{Middleware, Outcome, SessionContext};
use crate::error::{AbortStatus, ClientError, Failure};
use crate::url::{Invocation, UrlError, origin};

/// Driver settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Overall time limit of each HTTP request (connect, send, receive).
    pub timeout: Duration,
    /// Largest response body accepted ([KG2-IMP-009]; default 1 MiB).
    pub max_body: u64,
    /// Allow plain `http://` to hosts other than loopback ([KG2-IMP-010]); off by default.
    pub allow_insecure: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            max_body: 1 << 20,
            allow_insecure: false,
        }
    }
}

/// How the HTTP exchange ended.
#[derive(Debug, Error)]
pub enum DriverError {
    /// The invocation URL is unusable.
    #[error("invocation URL: {0}")]
    Url(#[from] UrlError),
    /// `init`, `url` and `cncl` are not all on one origin, or plain HTTP to a non-loopback
    /// host ([KG2-IMP-010]).
    #[error("[KG2-IMP-010] {0}")]
    Insecure(String),
    /// Connecting, sending or receiving failed (including timeouts and `https://` without TLS
    /// support).
    #[error("HTTP {method} {url}: {detail}")]
    Transport {
        /// GET or POST.
        method: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The issuer redirected while the protocol was in progress: its way of reporting an
    /// error ([KG2-HTP-005]); the SKS session was aborted.
    #[error("the issuer left KeyGen2 mode: {status} redirect to {location:?}")]
    Redirected {
        /// The 3xx status.
        status: u16,
        /// The `Location` header.
        location: Option<String>,
    },
    /// A status other than 200 or a redirect.
    #[error("HTTP {method} {url}: unexpected status {status}")]
    Status {
        /// GET or POST.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// A KeyGen2 message with another content type ([KG2-HTP-011]).
    #[error("[KG2-HTP-011] {url}: Content-Type {content_type:?} is not application/json")]
    ContentType {
        /// The URL.
        url: String,
        /// What the server sent.
        content_type: Option<String>,
    },
    /// A body over the limit ([KG2-IMP-009]).
    #[error("[KG2-IMP-009] {url}: body larger than {limit} bytes")]
    BodyTooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The engine failed (and aborted the SKS session); `cancelled` tells whether the cancel
    /// URL was fetched ([KG2-URL-003]).
    #[error("{error}")]
    Client {
        /// The engine's error.
        error: ClientError,
        /// True if the cancel URL was fetched.
        cancelled: bool,
    },
}

/// A successful enrollment.
#[derive(Debug, Clone)]
pub struct Completion {
    /// What the session did.
    pub outcome: Outcome,
    /// The page the issuer redirected to after the last POST (followed once with GET), if it
    /// redirected; `None` after an empty 200.
    pub final_page: Option<String>,
    /// HTTP status of that final page.
    pub final_status: Option<u16>,
}

/// Who sent a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The issuer (an HTTP response body).
    Issuer,
    /// The middleware (an HTTP POST body).
    Middleware,
}

/// The blocking driver of one session.
#[derive(Debug)]
pub struct HttpDriver {
    agent: ureq::Agent,
    options: HttpOptions,
    cookies: Vec<(String, String)>,
    transcript: Vec<(Direction, Vec<u8>)>,
}

/// The session context for an invocation: `issuerUri` = the POST URL, the origin shown to the
/// user, and no TLS certificate (see the module documentation).
pub fn session_context(inv: &Invocation) -> SessionContext {
    let post = inv.post_url();
    SessionContext {
        issuer_origin: origin(&post).unwrap_or_else(|| post.clone()),
        issuer_uri: post,
        server_certificate: Vec::new(),
    }
}

fn is_loopback(origin: &str) -> bool {
    let host = origin.split("://").nth(1).unwrap_or("");
    let host = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

enum Answer {
    Body(Vec<u8>),
    Redirect(u16, Option<String>),
}

impl HttpDriver {
    /// A driver with `options`: no automatic redirects, statuses returned as they are.
    pub fn new(options: HttpOptions) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .build();
        HttpDriver {
            agent: config.into(),
            options,
            cookies: Vec::new(),
            transcript: Vec::new(),
        }
    }

    /// Every KeyGen2 body exchanged so far, in order (issuer requests and middleware
    /// responses; the final page is not included).
    pub fn transcript(&self) -> &[(Direction, Vec<u8>)] {
        &self.transcript
    }

    /// Checks the origins of an invocation ([KG2-IMP-010]).
    pub fn check_invocation(&self, inv: &Invocation) -> Result<(), DriverError> {
        let init = origin(&inv.init_url).ok_or(UrlError::NotHttp("init"))?;
        for (name, u) in [
            ("url", inv.issuer_url.as_ref()),
            ("cncl", inv.cancel_url.as_ref()),
        ] {
            if let Some(u) = u
                && origin(u).as_deref() != Some(init.as_str())
            {
                return Err(DriverError::Insecure(format!(
                    "{name} is not on the origin of init ({init})"
                )));
            }
        }
        if init.starts_with("http://") && !is_loopback(&init) && !self.options.allow_insecure {
            return Err(DriverError::Insecure(format!(
                "plain HTTP to {init} (only loopback is allowed)"
            )));
        }
        Ok(())
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn remember_cookie(&mut self, pair: &str) {
        let pair = pair.split(';').next().unwrap_or("").trim();
        if let Some((n, v)) = pair.split_once('=') {
            let n = n.trim().to_owned();
            self.cookies.retain(|(k, _)| *k != n);
            self.cookies.push((n, v.trim().to_owned()));
        }
    }

    fn exchange(
        &mut self,
        method: &'static str,
        url: &str,
        body: Option<&[u8]>,
        expect_json: bool,
    ) -> Result<(u16, Answer), DriverError> {
        let transport = |e: ureq::Error| match e {
            ureq::Error::BodyExceedsLimit(limit) => DriverError::BodyTooLarge {
                url: url.to_owned(),
                limit,
            },
            other => DriverError::Transport {
                method,
                url: url.to_owned(),
                detail: other.to_string(),
            },
        };
        let cookie = self.cookie_header();
        let result = match body {
            None => {
                let mut r = self.agent.get(url);
                if let Some(c) = &cookie {
                    r = r.header("Cookie", c);
                }
                r.call()
            }
            Some(b) => {
                // [KG2-HTP-002]
                let mut r = self
                    .agent
                    .post(url)
                    .header("Content-Type", "application/json");
                if let Some(c) = &cookie {
                    r = r.header("Cookie", c);
                }
                r.send(b)
            }
        };
        let mut resp = result.map_err(transport)?;
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in set_cookies {
            self.remember_cookie(&c);
        }
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Ok((status, Answer::Redirect(status, location)));
        }
        if !(200..300).contains(&status) {
            return Err(DriverError::Status {
                method,
                url: url.to_owned(),
                status,
            });
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(self.options.max_body)
            .read_to_vec()
            .map_err(transport)?;
        if expect_json && !bytes.is_empty() {
            let ok = content_type.as_deref().is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
            if !ok {
                return Err(DriverError::ContentType {
                    url: url.to_owned(),
                    content_type,
                });
            }
        }
        Ok((status, Answer::Body(bytes)))
    }

    /// Runs a whole session: GET `init`, then POST every response until the issuer ends the
    /// protocol. Any failure aborts the SKS session; a declined consent fetches `cncl`.
    pub fn run<S: SecureKeyStore>(
        &mut self,
        inv: &Invocation,
        mw: &mut Middleware<S>,
    ) -> Result<Completion, DriverError> {
        self.check_invocation(inv)?;
        if let Some(c) = &inv.cookie {
            // [KG2-HTP-009]
            self.remember_cookie(c);
        }
        let post_url = inv.post_url();
        let on_error = |mw: &mut Middleware<S>, e: DriverError| {
            mw.abort();
            e
        };
        // [KG2-HTP-001]
        let mut body = match self.exchange("GET", &inv.init_url, None, true) {
            Ok((_, Answer::Body(b))) => b,
            Ok((_, Answer::Redirect(status, location))) => {
                return Err(on_error(mw, DriverError::Redirected { status, location }));
            }
            Err(e) => return Err(on_error(mw, e)),
        };
        loop {
            self.transcript.push((Direction::Issuer, body.clone()));
            let response = match mw.handle_bytes(&body) {
                Ok(r) => r,
                Err(error) => {
                    let cancelled = matches!(error.failure, Failure::ConsentDeclined)
                        && inv.cancel_url.as_ref().is_some_and(|c| {
                            // [KG2-URL-003]
                            let c = c.clone();
                            self.exchange("GET", &c, None, false).is_ok()
                        });
                    return Err(DriverError::Client { error, cancelled });
                }
            };
            self.transcript
                .push((Direction::Middleware, response.clone()));
            let answer = self.exchange("POST", &post_url, Some(&response), !mw.is_done());
            if mw.is_done() {
                // [KG2-HTP-007]: a redirect or an empty 2xx ends the session; the SKS session
                // is already closed, so a transport failure here loses nothing on the card.
                let outcome = mw.outcome().cloned().ok_or(DriverError::Client {
                    error: ClientError {
                        message: "ProvisioningFinalizationRequest",
                        failure: Failure::Finished,
                        abort: AbortStatus::NoSession,
                    },
                    cancelled: false,
                })?;
                return match answer? {
                    (_, Answer::Redirect(_, Some(location))) => {
                        let target = resolve(&post_url, &location);
                        let status = self.exchange("GET", &target, None, false).map(|(s, _)| s)?;
                        Ok(Completion {
                            outcome,
                            final_page: Some(target),
                            final_status: Some(status),
                        })
                    }
                    _ => Ok(Completion {
                        outcome,
                        final_page: None,
                        final_status: None,
                    }),
                };
            }
            body = match answer {
                Ok((_, Answer::Body(b))) if !b.is_empty() => b,
                Ok((status, Answer::Body(_))) => {
                    return Err(on_error(
                        mw,
                        DriverError::Status {
                            method: "POST",
                            url: post_url.clone(),
                            status,
                        },
                    ));
                }
                // [KG2-HTP-005]
                Ok((_, Answer::Redirect(status, location))) => {
                    return Err(on_error(mw, DriverError::Redirected { status, location }));
                }
                Err(e) => return Err(on_error(mw, e)),
            };
        }
    }
}

/// One whole enrollment: parses `invocation_url`, builds the engine for `sks` with `ui` and
/// `pins` (system clock, default configuration) and runs it over HTTP. Pass `&mut card` to
/// keep the card.
pub fn enroll<S: SecureKeyStore>(
    invocation_url: &str,
    sks: S,
    ui: Box<dyn crate::ui::UserInterface>,
    pins: crate::ui::PinSource,
    options: HttpOptions,
) -> Result<Completion, DriverError> {
    let inv = crate::url::parse_invocation(invocation_url)?;
    let mut mw = Middleware::new(sks, session_context(&inv))
        .with_ui(ui)
        .with_pin_source(pins);
    HttpDriver::new(options).run(&inv, &mut mw)
}

/// Resolves a `Location` value against the URL it came from.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let Some(o) = origin(base) else {
        return location.to_owned();
    };
    if location.starts_with('/') {
        return format!("{o}{location}");
    }
    let path_end = base.find(['?', '#']).unwrap_or(base.len());
    let dir = base[..path_end]
        .rfind('/')
        .filter(|i| *i > o.len())
        .map(|i| &base[..=i])
        .unwrap_or("");
    if dir.is_empty() {
        format!("{o}/{location}")
    } else {
        format!("{dir}{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost"));
        assert!(is_loopback("http://[::1]:80"));
        assert!(!is_loopback("http://example.com"));
        assert!(!is_loopback("http://10.0.0.1"));
    }

    #[test]
    fn location_resolution() {
        let b = "http://h:1/keygen2/run?x=1";
        assert_eq!(resolve(b, "https://o/p"), "https://o/p");
        assert_eq!(resolve(b, "/done"), "http://h:1/done");
        assert_eq!(resolve(b, "done"), "http://h:1/keygen2/done");
        assert_eq!(resolve("http://h", "done"), "http://h/done");
    }
}
