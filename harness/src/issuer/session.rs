//! The harness as middleware: one KeyGen2 session against the issuer under test, driven by
//! the reference middleware engine on a fresh in-memory reference card, with every HTTP
//! exchange logged and every message open to tampering on its way in or out.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airtight_card::{CardConfig, ReferenceSks};
use airtight_client::{AutoUi, Middleware, PinSource, SessionContext};
use airtight_pki::DeviceIdentity;
use serde_json::Value;

use super::http::{self, HttpError, Pace, RawRequest, Response, Url};
use crate::case::{Step, Stop};
use crate::wire::WireEntry;

/// Everything the harness knows about the issuer under test.
#[derive(Clone)]
pub struct IssuerTarget {
    /// A display name.
    pub name: String,
    /// The URL GET for an InvocationRequest ([KG2-HTP-001]).
    pub init_url: Url,
    /// The URL responses are POSTed to (`issuerUri`).
    pub post_url: Url,
    /// The cancel URL, if the invocation names one.
    pub cancel_url: Option<Url>,
    /// The session cookie's name, when the invocation carries one: every session then sends a
    /// fresh random value under that name ([KG2-HTP-009]).
    pub cookie_name: Option<String>,
    /// The device identity of the harness's card (must chain to an anchor the issuer trusts).
    pub device: DeviceIdentity,
    /// The TLS client configuration of an `https://` issuer (its trust anchors only).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// PINs the harness's user enters, in order, when the issuer asks for user-defined PINs.
    pub pins: Vec<String>,
    /// Bound of every wait for the issuer.
    pub timeout: Duration,
    /// How long the slow-client cases dribble their request.
    pub slow_budget: Duration,
    /// The body limit the issuer declares (oversized cases send more than this).
    pub max_body: usize,
    /// The device is the airtight test device (whose CA key the harness holds, so it can
    /// mint expired and other variant device certificates under the same CA).
    pub fixture_device: bool,
    /// The issuer's landing page (the web-flow cases, `airtight harness issuer --browser`).
    pub landing_url: Option<Url>,
}

impl std::fmt::Debug for IssuerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerTarget")
            .field("name", &self.name)
            .field("init_url", &self.init_url)
            .field("post_url", &self.post_url)
            .finish_non_exhaustive()
    }
}

/// A shared, bounded wire log.
#[derive(Debug, Clone, Default)]
pub struct WireLog(Arc<Mutex<Vec<WireEntry>>>);

/// Entries kept per case.
const MAX_LOG: usize = 400;

impl WireLog {
    /// Appends an entry (dropped beyond the bound).
    pub fn push(&self, e: WireEntry) {
        if let Ok(mut l) = self.0.lock()
            && l.len() < MAX_LOG
        {
            l.push(e);
        }
    }

    /// Marks the last entry as a message the harness tampered with (the report shows it).
    pub fn mark_last_tampered(&self) {
        if let Ok(mut l) = self.0.lock()
            && let Some(e) = l.last_mut()
        {
            e.tampered = true;
        }
    }

    /// Takes every entry.
    pub fn take(&self) -> Vec<WireEntry> {
        self.0
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

/// The body of a raw request (after the blank line), as text for the wire log; `None` when
/// it has none.
fn request_body(req: &RawRequest) -> Option<String> {
    let b = &req.bytes;
    let at = b.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    (at < b.len()).then(|| crate::wire::body_text(&b[at..]))
}

/// The `@qualifier` of a JSON message (`"?"` when there is none).
pub fn qualifier(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("@qualifier")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Rewrites a JSON body with `f`. Bodies the harness produced are always JSON objects.
pub fn edit(body: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            f(&mut v);
            serde_json::to_vec(&v).unwrap_or_default()
        }
        Err(_) => body.to_vec(),
    }
}

fn random_token(seed: u64) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    use rand_core::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed ^ 0x636f_6f6b_6965);
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b.iter()
        .map(|x| char::from(ALPHABET[usize::from(x & 0x3f)]))
        .collect()
}

/// Builds the harness's card with `device`, on the system clock.
pub fn card(device: &DeviceIdentity, seed: u64) -> Step<ReferenceSks> {
    let key = device
        .signing_key
        .to_pkcs8_der()
        .map_err(|e| Stop::fail(format!("harness device key: {e}")))?;
    let config = CardConfig::for_tests(
        key,
        device.certificate_path.clone(),
        seed,
        Arc::new(airtight_card::env::SystemClock),
    );
    ReferenceSks::open(config).map_err(|e| Stop::fail(format!("harness card: {e}")))
}

/// One KeyGen2 session as the middleware.
pub struct Session {
    target: IssuerTarget,
    cookies: Vec<(String, String)>,
    /// The middleware engine on the harness's card.
    pub mw: Middleware<ReferenceSks>,
    log: WireLog,
    /// Every issuer message received (bodies), in order.
    pub received: Vec<Vec<u8>>,
    /// Every middleware message sent (bodies as sent), in order.
    pub sent: Vec<Vec<u8>>,
    /// Bind this certificate instead of the server's into the session (hostile cases).
    pub bind_certificate: Option<Vec<u8>>,
    /// Keep-alive connections ([`Session::with_pool`]); `None`: one connection per request.
    pool: Option<http::Pool>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target.name)
            .field("received", &self.received.len())
            .finish_non_exhaustive()
    }
}

/// Where an honest run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// The middleware produced the wanted message: the issuer request it answers and the
    /// honest response (not posted).
    At {
        /// The issuer's request.
        request: Vec<u8>,
        /// The middleware's honest answer.
        response: Vec<u8>,
    },
    /// The issuer ended the session (with this answer) before the wanted message.
    Ended(Box<Response>),
}

impl Session {
    /// A session with a fresh card of `device` (`None`: the target's).
    pub fn new(
        target: &IssuerTarget,
        log: &WireLog,
        seed: u64,
        device: Option<&DeviceIdentity>,
    ) -> Step<Session> {
        Self::new_skewed(target, log, seed, device, 0)
    }

    /// [`Session::new`] with the middleware's clock (`clientTime`) `offset` seconds off.
    pub fn new_skewed(
        target: &IssuerTarget,
        log: &WireLog,
        seed: u64,
        device: Option<&DeviceIdentity>,
        offset: i64,
    ) -> Step<Session> {
        let card = card(device.unwrap_or(&target.device), seed)?;
        let issuer_uri = target.post_url.origin() + &target.post_url.target;
        let mut mw = Middleware::new(card, SessionContext::plain(&issuer_uri))
            .with_ui(Box::new(AutoUi::accept_all()))
            .with_pin_source(PinSource::from_lines(&target.pins.join("\n")));
        if offset != 0 {
            use airtight_client::Clock as _;
            let now = airtight_client::SystemClock.now();
            mw = mw.with_clock(Box::new(airtight_client::ManualClock::new(
                now.checked_add_secs(offset).unwrap_or(now),
            )));
        }
        let cookies = target
            .cookie_name
            .iter()
            .map(|n| (n.clone(), random_token(seed)))
            .collect();
        Ok(Session {
            target: target.clone(),
            cookies,
            mw,
            log: log.clone(),
            received: Vec::new(),
            sent: Vec::new(),
            bind_certificate: None,
            pool: None,
        })
    }

    /// Sends the session's well-formed requests over the keep-alive connections of `pool`
    /// (the load generator's: one pool per client thread, reused from session to session).
    pub fn with_pool(mut self, pool: http::Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Takes the keep-alive connections back (for the next session).
    pub fn take_pool(&mut self) -> Option<http::Pool> {
        self.pool.take()
    }

    /// The target.
    pub fn target(&self) -> &IssuerTarget {
        &self.target
    }

    /// The cookie header value the session sends.
    pub fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Replaces the session's cookies (e.g. with another session's, or none).
    pub fn set_cookies(&mut self, cookies: Vec<(String, String)>) {
        self.cookies = cookies;
    }

    /// The session's cookies.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.cookies.clone()
    }

    fn remember(&mut self, r: &Response) {
        for c in r.headers_named("set-cookie") {
            let pair = c.split(';').next().unwrap_or("").trim();
            if let Some((n, v)) = pair.split_once('=') {
                let n = n.trim().to_owned();
                self.cookies.retain(|(k, _)| *k != n);
                self.cookies.push((n, v.trim().to_owned()));
            }
        }
    }

    /// Headers of a request of this session (cookies, plus the JSON content type for POSTs).
    pub fn headers(&self, json: bool) -> Vec<(String, String)> {
        let mut h = vec![("Accept".to_owned(), "application/json".to_owned())];
        if let Some(c) = self.cookie_header() {
            h.push(("Cookie".into(), c));
        }
        if json {
            h.push(("Content-Type".into(), "application/json".into()));
        }
        h
    }

    /// Sends raw bytes, logs the exchange and remembers cookies.
    pub fn send_raw(
        &mut self,
        method: &'static str,
        what: String,
        req: &RawRequest,
        pace: Pace,
    ) -> Result<Option<Response>, HttpError> {
        let t = Instant::now();
        let r = match (&mut self.pool, pace) {
            (Some(pool), Pace::Normal) => {
                http::exchange_pooled(pool, req, self.target.timeout, self.target.tls.as_ref())
            }
            _ => http::exchange(req, pace, self.target.timeout, self.target.tls.as_ref()),
        };
        let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        let result = match &r {
            Ok(Some(resp)) => resp.summary(),
            Ok(None) => "connection closed without an answer".into(),
            Err(e) => e.to_string(),
        };
        self.log.push(WireEntry {
            method,
            args: what,
            result,
            micros,
            status: r.as_ref().ok().and_then(|x| x.as_ref()).map(|x| x.status),
            request_body: request_body(req),
            response_body: r
                .as_ref()
                .ok()
                .and_then(|x| x.as_ref())
                .filter(|x| !x.body.is_empty())
                .map(|x| crate::wire::body_text(&x.body)),
            ..WireEntry::default()
        });
        if let Ok(Some(resp)) = &r {
            self.remember(resp);
        }
        r
    }

    /// `GET url` with the session's cookies.
    pub fn get(&mut self, url: &Url) -> Step<Response> {
        let req = http::build_with("GET", url, &self.headers(false), None, self.pool.is_some());
        match self.send_raw("GET", url.target.clone(), &req, Pace::Normal) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(Stop::fail(format!(
                "GET {}: the issuer closed the connection without an answer",
                url.target
            ))),
            Err(e) => Err(Stop::fail(format!("GET {}: {e}", url.target))),
        }
    }

    /// POSTs `body` as `application/json` to the issuer URL; the answer as the client saw it
    /// (`Ok(None)`: the connection closed without an answer).
    pub fn post_raw(&mut self, body: &[u8]) -> Result<Option<Response>, HttpError> {
        self.post_marked(body, false)
    }

    /// [`Session::post_raw`] of a message the harness made hostile: the wire log marks it.
    pub fn post_tampered(&mut self, body: &[u8]) -> Result<Option<Response>, HttpError> {
        self.post_marked(body, true)
    }

    fn post_marked(&mut self, body: &[u8], tampered: bool) -> Result<Option<Response>, HttpError> {
        let url = self.target.post_url.clone();
        let req = http::build_with(
            "POST",
            &url,
            &self.headers(true),
            Some(body),
            self.pool.is_some(),
        );
        self.sent.push(body.to_vec());
        let what = format!(
            "{}{} ({} B)",
            if tampered { "TAMPERED " } else { "" },
            qualifier(body),
            body.len()
        );
        let answer = self.send_raw("POST", what, &req, Pace::Normal);
        if tampered {
            self.log.mark_last_tampered();
        }
        answer
    }

    /// POSTs `body` as `application/json` to the issuer URL.
    pub fn post(&mut self, body: &[u8]) -> Step<Response> {
        match self.post_raw(body) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(Stop::fail(
                "POST: the issuer closed the connection without an answer",
            )),
            Err(e) => Err(Stop::fail(format!("POST: {e}"))),
        }
    }

    /// GETs the init URL and returns the InvocationRequest ([KG2-HTP-001]).
    pub fn start(&mut self) -> Step<Vec<u8>> {
        let url = self.target.init_url.clone();
        let r = self.get(&url)?;
        if r.status != 200 || !r.is_json() {
            let asked = format!("{}{}", url.origin(), url.target);
            return Err(Stop::fail(not_an_invocation(&asked, &r)));
        }
        // [KG2-HTP-010] the certificate of the connection that delivered the InvocationRequest.
        if let Some(c) = self
            .bind_certificate
            .clone()
            .or_else(|| r.server_certificate.clone())
        {
            self.mw.set_server_certificate(c);
        }
        self.received.push(r.body.clone());
        Ok(r.body)
    }

    /// The honest middleware's answer to an issuer message. A refusal means the issuer sent
    /// something an honest middleware must refuse: the case fails.
    pub fn answer(&mut self, request: &[u8]) -> Step<Vec<u8>> {
        self.mw.handle_bytes(request).map_err(|e| {
            Stop::fail(format!(
                "the harness's honest middleware refused the issuer's {}: {e}",
                qualifier(request)
            ))
        })
    }

    /// Expects a 200 JSON KeyGen2 message and records it.
    pub fn expect_message(&mut self, r: Response, after: &str) -> Step<Vec<u8>> {
        if r.status == 200 && r.is_json() && !r.body.is_empty() {
            self.received.push(r.body.clone());
            Ok(r.body)
        } else {
            Err(Stop::fail(format!(
                "after an honest {after} the issuer answered {} instead of the next request",
                r.summary()
            )))
        }
    }

    /// Runs the session honestly until the middleware produces a message with qualifier
    /// `wanted` (not posted), with `incoming` applied to every issuer message before the
    /// middleware sees it.
    pub fn run_until_with(
        &mut self,
        wanted: &str,
        mut incoming: impl FnMut(&str, Vec<u8>) -> Vec<u8>,
    ) -> Step<Reached> {
        let mut request = self.start()?;
        for _ in 0..64 {
            let request_in = incoming(&qualifier(&request), request);
            let response = self.answer(&request_in)?;
            if qualifier(&response) == wanted {
                return Ok(Reached::At {
                    request: request_in,
                    response,
                });
            }
            let r = self.post(&response)?;
            if self.mw.is_done() || !(r.status == 200 && r.is_json() && !r.body.is_empty()) {
                if self.mw.is_done() {
                    return Ok(Reached::Ended(Box::new(r)));
                }
                return Err(Stop::fail(format!(
                    "after an honest {} the issuer answered {}",
                    qualifier(&response),
                    r.summary()
                )));
            }
            self.received.push(r.body.clone());
            request = r.body;
        }
        Err(Stop::fail(
            "the issuer's session did not end within 64 messages",
        ))
    }

    /// [`Session::run_until_with`] without tampering; a flow without `wanted` makes the case
    /// not applicable.
    pub fn run_until(&mut self, wanted: &str) -> Step<(Vec<u8>, Vec<u8>)> {
        match self.run_until_with(wanted, |_, b| b)? {
            Reached::At { request, response } => Ok((request, response)),
            Reached::Ended(_) => Err(Stop::NotApplicable(format!(
                "the issuer's session has no {wanted}"
            ))),
        }
    }

    /// Runs the whole session honestly from `request` (an issuer message not yet answered):
    /// returns the final answer of the issuer (after the ProvisioningFinalizationResponse).
    pub fn finish_from(&mut self, mut request: Vec<u8>) -> Step<Response> {
        for _ in 0..64 {
            let response = self.answer(&request)?;
            let r = self.post(&response)?;
            if self.mw.is_done() {
                return Ok(r);
            }
            request = self.expect_message(r, &qualifier(&response))?;
        }
        Err(Stop::fail(
            "the issuer's session did not end within 64 messages",
        ))
    }

    /// A whole honest session; returns the final answer.
    pub fn run_honest(&mut self) -> Step<Response> {
        let first = self.start()?;
        self.finish_from(first)
    }
}

/// Why the answer `r` to `GET url` is not an InvocationRequest, for someone who may have given
/// the issuer's base URL or landing page instead of its KeyGen2 start URL: an HTML page is
/// named as such, with the start URL the page links to when it names one.
pub fn not_an_invocation(url: &str, r: &Response) -> String {
    let html = r.header("content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
    });
    if r.status == 200 && html {
        let page = String::from_utf8_lossy(&r.body);
        let hint = match start_url_in_page(url, &page) {
            Some(found) => format!("; the page links to the start URL {found}: try --url {found}"),
            None => String::new(),
        };
        return format!(
            "GET init: {url} answered with an HTML page ({}), not a KeyGen2 InvocationRequest \
             (200 application/json): give the issuer's KeyGen2 start URL, which looks like \
             http://HOST:PORT/keygen2?init=true, not its web page{hint}",
            r.summary()
        );
    }
    format!(
        "GET init: expected 200 application/json with an InvocationRequest, got {}",
        r.summary()
    )
}

/// The KeyGen2 start URL an issuer's web page names: a link whose target has `init=true`
/// (made absolute against `page_url`), or the `init` parameter of a `keygen2:` or
/// `intent://keygen2` invocation URL in the page.
pub fn start_url_in_page(page_url: &str, page: &str) -> Option<String> {
    let unescape = |v: &str| {
        v.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let values: Vec<String> = page
        .split("href=\"")
        .skip(1)
        .chain(page.split("data-keygen2=\"").skip(1))
        .filter_map(|rest| rest.split('"').next())
        .map(unescape)
        .collect();
    // A plain link to the start URL.
    for v in &values {
        let plain = !(v.starts_with("keygen2:") || v.starts_with("intent:"));
        if plain && v.contains("init=true") {
            return Some(absolute(page_url, v));
        }
    }
    // The start URL inside an invocation URL.
    values
        .iter()
        .filter(|v| v.starts_with("keygen2:") || v.starts_with("intent:"))
        .find_map(|v| airtight_client::url::parse_invocation(v).ok())
        .map(|inv| absolute(page_url, &inv.init_url))
}

/// `link` made absolute against `base`.
fn absolute(base: &str, link: &str) -> String {
    Url::parse(base).map_or_else(|_| link.to_owned(), |b| b.resolve(link))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_url_is_found_in_a_landing_page() {
        let page = "<p><a id=\"init\" href=\"http://127.0.0.1:1/keygen2?init=true&amp;x=1\">";
        assert_eq!(
            start_url_in_page("http://127.0.0.1:1/", page).as_deref(),
            Some("http://127.0.0.1:1/keygen2?init=true&x=1")
        );
        let relative = "<a href=\"/kg?init=true\">go</a>";
        assert_eq!(
            start_url_in_page("http://h:2/index.html", relative).as_deref(),
            Some("http://h:2/kg?init=true")
        );
        // Only an invocation URL (as the issuer's landing page writes it): its init parameter.
        let urls = airtight_issuer::http::invocation_urls("http://h:3", "abc");
        let inv = format!("<a href=\"{}\">", urls.keygen2.replace('&', "&amp;"));
        assert_eq!(
            start_url_in_page("http://h:3/", &inv).as_deref(),
            Some("http://h:3/keygen2?init=true")
        );
        assert_eq!(start_url_in_page("http://h/", "<a href=\"/about\">"), None);
    }
}
