//! The blocking HTTP driver ([KG2-HTP-001]-[KG2-HTP-011]): GET the init URL, POST each
//! response to the issuer URL, treat each answer as the next request, stop at the end.
//!
//! Client choice: `ureq` 3 with default features off (no TLS stack, no cookie store, no
//! compression) for plain `http://` (loopback only unless [`HttpOptions::allow_insecure`]),
//! and a small HTTP/1.1 client over rustls (`crate::tls`) for `https://`, because `ureq`
//! does not expose the peer certificate. Both keep the connection alive between the requests
//! of a session (`ureq`'s agent pool; the driver's one kept TLS connection) and open a new one
//! only when the server closed it. Over HTTPS the server certificate must chain to one
//! of [`HttpOptions::trust_anchors`] (no system roots); the DER of the end-entity certificate
//! of the connection that delivered the InvocationRequest becomes `serverCertificate` of
//! `createProvisioningSession` ([KG2-HTP-010]), and every later request of the session must
//! present the same certificate, or the session is aborted: a connection opened anew
//! mid-session (the server closed the kept one) is checked right after its handshake, before
//! the request is written to it. Over plain HTTP
//! `serverCertificate` is empty. Cookies are kept in a minimal jar (name=value pairs for the
//! one issuer origin), which is all a KeyGen2 session needs.

use std::time::Duration;

use airtight_proto::sks::SecureKeyStore;
use thiserror::Error;

use crate::engine::{Middleware, Outcome, SessionContext};
use crate::error::{AbortStatus, ClientError, Failure};
use crate::url::{Invocation, UrlError, clip, origin};

/// How much of the body of a non-2xx answer is read (and dropped) to keep its connection.
const DISCARDED_BODY: u64 = 64 * 1024;

/// How much of a URL an error message shows.
const URL_SHOWN: usize = 120;

/// The `@qualifier` of a KeyGen2 message, for messages about it.
fn qualifier_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("@qualifier")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "a message".into())
}

/// Driver settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Overall time limit of each HTTP request (connect, send, receive).
    pub timeout: Duration,
    /// Largest response body accepted ([KG2-IMP-009]; default 1 MiB).
    pub max_body: u64,
    /// Allow plain `http://` to hosts other than loopback ([KG2-IMP-010]); off by default.
    pub allow_insecure: bool,
    /// DER certificates trusted for `https://` issuers. Empty (the default): HTTPS is refused,
    /// as there are no built-in roots.
    pub trust_anchors: Vec<Vec<u8>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            max_body: 1 << 20,
            allow_insecure: false,
            trust_anchors: Vec::new(),
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
    #[error("HTTP {method} {}: {detail}", clip(.url, URL_SHOWN))]
    Transport {
        /// GET or POST.
        method: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The TLS server certificate was refused (not chaining to the trust anchors, wrong
    /// name, expired) or the handshake failed; nothing reached the SKS before the
    /// InvocationRequest.
    #[error("[KG2-HTP-010] TLS server certificate of {} refused: {detail}", clip(.url, URL_SHOWN))]
    Tls {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// A later request of the session presented another TLS server certificate than the one
    /// bound into the session ([KG2-HTP-010]); the SKS session was aborted.
    #[error(
        "[KG2-HTP-010] {}: the TLS server certificate changed during the session",
        clip(.url, URL_SHOWN)
    )]
    CertificateChanged {
        /// The URL.
        url: String,
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
    #[error("HTTP {method} {}: unexpected status {status}", clip(.url, URL_SHOWN))]
    Status {
        /// GET or POST.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// A KeyGen2 message with another content type ([KG2-HTP-011]).
    #[error(
        "[KG2-HTP-011] {}: the answer is {} instead of a KeyGen2 message (application/json); \
         is this the init URL of a KeyGen2 issuer?",
        clip(.url, URL_SHOWN),
        .content_type.as_deref().map_or_else(|| "without a Content-Type".to_owned(), |c| clip(c, 60))
    )]
    ContentType {
        /// The URL.
        url: String,
        /// What the server sent.
        content_type: Option<String>,
    },
    /// A body over the limit ([KG2-IMP-009]).
    #[error(
        "[KG2-IMP-009] {}: the answer is larger than {limit} bytes",
        clip(.url, URL_SHOWN)
    )]
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
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The HTTPS connection kept for the next request (keep-alive).
    kept: Option<crate::tls::KeptConnection>,
    server_certificate: Option<Vec<u8>>,
    options: HttpOptions,
    cookies: Vec<(String, String)>,
    transcript: Vec<(Direction, Vec<u8>)>,
    progress: Option<std::sync::mpsc::Sender<(Direction, String)>>,
}

/// The session context for an invocation: `issuerUri` = the POST URL, the origin shown to the
/// user, and no TLS certificate yet ([`HttpDriver::run`] sets the captured one).
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

/// A response reduced to what the driver looks at.
struct Reply {
    status: u16,
    set_cookies: Vec<String>,
    location: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
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
            tls: None,
            kept: None,
            server_certificate: None,
            options,
            cookies: Vec::new(),
            transcript: Vec::new(),
            progress: None,
        }
    }

    /// Reports every KeyGen2 message as it crosses (its direction and `@qualifier`) on
    /// `progress`, e.g. for a progress display (the browser host's "Creating keys").
    pub fn with_progress(mut self, progress: std::sync::mpsc::Sender<(Direction, String)>) -> Self {
        self.progress = Some(progress);
        self
    }

    fn record(&mut self, direction: Direction, body: &[u8]) {
        if let Some(p) = &self.progress {
            // A receiver that went away only stops the reports.
            let _ = p.send((direction, qualifier_of(body)));
        }
        self.transcript.push((direction, body.to_vec()));
    }

    /// DER of the TLS server certificate bound into the session (captured with the
    /// InvocationRequest); `None` over plain HTTP or before the first exchange.
    pub fn server_certificate(&self) -> Option<&[u8]> {
        self.server_certificate.as_deref()
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

    /// The `Cookie` header value the driver sends (the invocation's cookie, replaced by the
    /// ones the issuer set), if any: what a caller needs to reach the same issuer session.
    pub fn cookie_header(&self) -> Option<String> {
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

    /// One request over plain HTTP (ureq); the body is read only for 2xx answers.
    fn plain_request(
        &mut self,
        method: &'static str,
        url: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, DriverError> {
        let limit = self.options.timeout;
        let transport = |e: ureq::Error| match e {
            ureq::Error::BodyExceedsLimit(limit) => DriverError::BodyTooLarge {
                url: url.to_owned(),
                limit,
            },
            ureq::Error::Timeout(_) => DriverError::Transport {
                method,
                url: url.to_owned(),
                detail: timeout_detail(limit),
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
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let location = header("location");
        let content_type = header("content-type");
        let status = resp.status().as_u16();
        let body = if (200..300).contains(&status) {
            resp.body_mut()
                .with_config()
                .limit(self.options.max_body)
                .read_to_vec()
                .map_err(transport)?
        } else {
            // Read (a bounded part of) what else came, so that a framed body leaves the
            // connection reusable (keep-alive); a longer one only costs the connection.
            let _ = resp
                .body_mut()
                .with_config()
                .limit(DISCARDED_BODY)
                .read_to_vec();
            Vec::new()
        };
        Ok(Reply {
            status,
            set_cookies,
            location,
            content_type,
            body,
        })
    }

    /// One request over HTTPS; `bind` says whether the server certificate belongs to the
    /// session (captured on the first exchange, compared on every later one).
    fn tls_request(
        &mut self,
        method: &'static str,
        url: &str,
        body: Option<&[u8]>,
        bind: bool,
    ) -> Result<Reply, DriverError> {
        let refused = |detail: String| DriverError::Tls {
            url: url.to_owned(),
            detail,
        };
        if self.options.trust_anchors.is_empty() {
            return Err(refused(
                "no trust anchor is configured for https:// issuers and there are no built-in \
                 roots: give the issuer's root CA certificate (PEM) with --trust-anchor FILE"
                    .into(),
            ));
        }
        let config = match &self.tls {
            Some(c) => c.clone(),
            None => {
                let c = crate::tls::client_config(&self.options.trust_anchors).map_err(
                    |e| match e {
                        crate::tls::TlsFailure::Certificate(d)
                        | crate::tls::TlsFailure::Transport(d) => refused(d),
                        crate::tls::TlsFailure::TooLarge
                        | crate::tls::TlsFailure::CertificateChanged => {
                            refused("configuration".into())
                        }
                    },
                )?;
                self.tls = Some(c.clone());
                c
            }
        };
        let cookie = self.cookie_header();
        let mut headers: Vec<(&str, &str)> = vec![("Accept", "application/json")];
        if let Some(c) = &cookie {
            headers.push(("Cookie", c));
        }
        if body.is_some() {
            // [KG2-HTP-002]
            headers.push(("Content-Type", "application/json"));
        }
        // A reconnect (the server closed the kept connection) must reach the same certificate.
        let pinned = if bind {
            self.server_certificate.as_deref()
        } else {
            None
        };
        let resp = crate::tls::request(
            &config,
            &mut self.kept,
            pinned,
            method,
            url,
            &headers,
            body,
            self.options.timeout,
            self.options.max_body,
        )
        .map_err(|e| match e {
            crate::tls::TlsFailure::Certificate(d) => refused(d),
            crate::tls::TlsFailure::TooLarge => DriverError::BodyTooLarge {
                url: url.to_owned(),
                limit: self.options.max_body,
            },
            crate::tls::TlsFailure::CertificateChanged => DriverError::CertificateChanged {
                url: url.to_owned(),
            },
            crate::tls::TlsFailure::Transport(detail) => DriverError::Transport {
                method,
                url: url.to_owned(),
                detail,
            },
        })?;
        if bind {
            // [KG2-HTP-010]
            match &self.server_certificate {
                None => self.server_certificate = Some(resp.server_certificate.clone()),
                Some(c) if *c == resp.server_certificate => {}
                Some(_) => {
                    return Err(DriverError::CertificateChanged {
                        url: url.to_owned(),
                    });
                }
            }
        }
        let header = |name: &str| {
            resp.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let status = resp.status;
        Ok(Reply {
            status,
            set_cookies: resp
                .headers
                .iter()
                .filter(|(n, _)| n == "set-cookie")
                .map(|(_, v)| v.clone())
                .collect(),
            location: header("location"),
            content_type: header("content-type"),
            body: if (200..300).contains(&status) {
                resp.body
            } else {
                Vec::new()
            },
        })
    }

    fn exchange(
        &mut self,
        method: &'static str,
        url: &str,
        body: Option<&[u8]>,
        expect_json: bool,
        bind: bool,
    ) -> Result<(u16, Answer), DriverError> {
        let reply = if url
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        {
            self.tls_request(method, url, body, bind)?
        } else {
            if bind && self.server_certificate.is_some() {
                // The session started over HTTPS: no downgrade.
                return Err(DriverError::CertificateChanged {
                    url: url.to_owned(),
                });
            }
            self.plain_request(method, url, body)?
        };
        for c in &reply.set_cookies {
            self.remember_cookie(c);
        }
        let status = reply.status;
        if (300..400).contains(&status) {
            return Ok((status, Answer::Redirect(status, reply.location)));
        }
        if !(200..300).contains(&status) {
            return Err(DriverError::Status {
                method,
                url: url.to_owned(),
                status,
            });
        }
        if expect_json && !reply.body.is_empty() {
            let ok = reply.content_type.as_deref().is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
            if !ok {
                return Err(DriverError::ContentType {
                    url: url.to_owned(),
                    content_type: reply.content_type,
                });
            }
        }
        Ok((status, Answer::Body(reply.body)))
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
        let mut body = match self.exchange("GET", &inv.init_url, None, true, true) {
            Ok((_, Answer::Body(b))) => {
                // [KG2-HTP-010]: the certificate of the connection that delivered the
                // InvocationRequest (empty over plain HTTP).
                mw.set_server_certificate(self.server_certificate.clone().unwrap_or_default());
                b
            }
            Ok((_, Answer::Redirect(status, location))) => {
                return Err(on_error(mw, DriverError::Redirected { status, location }));
            }
            Err(e) => return Err(on_error(mw, e)),
        };
        loop {
            self.record(Direction::Issuer, &body);
            let response = match mw.handle_bytes(&body) {
                Ok(r) => r,
                Err(error) => {
                    let cancelled = matches!(error.failure, Failure::ConsentDeclined)
                        && inv.cancel_url.as_ref().is_some_and(|c| {
                            // [KG2-URL-003]
                            let c = c.clone();
                            self.exchange("GET", &c, None, false, true).is_ok()
                        });
                    return Err(DriverError::Client { error, cancelled });
                }
            };
            self.record(Direction::Middleware, &response);
            let answer = self
                .exchange("POST", &post_url, Some(&response), !mw.is_done(), true)
                .map_err(|e| match e {
                    // Which step: the message that was being delivered.
                    DriverError::Transport {
                        method,
                        url,
                        detail,
                    } => DriverError::Transport {
                        method,
                        url,
                        detail: format!("sending {}: {detail}", qualifier_of(&response)),
                    },
                    other => other,
                });
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
                        let status = self
                            .exchange("GET", &target, None, false, false)
                            .map(|(s, _)| s)?;
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

/// What a timed-out request says.
fn timeout_detail(limit: Duration) -> String {
    format!(
        "no complete answer within {} s (the limit of each request): the issuer is hung, \
         overloaded or unreachable",
        limit.as_secs_f32()
    )
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
    fn errors_speak_the_users_language() {
        let long = format!("http://127.0.0.1:1/{}", "a".repeat(100_000));
        let e = DriverError::ContentType {
            url: long.clone(),
            content_type: Some("text/html; charset=utf-8".into()),
        };
        let text = e.to_string();
        assert!(text.len() < 400, "{text}");
        assert!(text.contains("text/html"), "{text}");
        assert!(!text.contains("Some("), "{text}");
        assert!(text.contains("is this the init URL"), "{text}");
        let e = DriverError::Transport {
            method: "POST",
            url: long,
            detail: timeout_detail(Duration::from_secs(30)),
        };
        let text = e.to_string();
        assert!(text.len() < 400, "{text}");
        assert!(text.contains("within 30 s"), "{text}");
        assert_eq!(
            qualifier_of(br#"{"@qualifier":"KeyCreationResponse"}"#),
            "KeyCreationResponse"
        );
    }

    #[test]
    fn https_without_anchors_says_what_to_give() {
        let mut d = HttpDriver::new(HttpOptions::default());
        let e = d
            .tls_request("GET", "https://issuer.test/keygen2?init=true", None, true)
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(text.contains("--trust-anchor FILE"), "{text}");
        assert!(!text.contains("HttpOptions"), "{text}");
    }

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
