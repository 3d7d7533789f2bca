//! Issuer targets: the harness plays the middleware and a reference card against an issuer's
//! KeyGen2 HTTP endpoint, honest and hostile, and checks that every hostile move is refused
//! (any answer that ends the session without proceeding: a redirect that is not to the result
//! page, a 4xx, a 5xx or a closed connection; what was seen is noted) and that the session then
//! accepts nothing more, so nothing is issued in it. The redirect convention of error answers
//! ([KG2-HTP-008]) is graded apart, by one case.
//!
//! - [`http`]: the adversary's HTTP/1.1 client (exact bytes, bounded waits).
//! - [`session`]: one session as the middleware ([`Session`]), with tampering hooks.
//! - [`IssuerCase`], [`IssuerCtx`], [`IssuerProfile`]: the case model for issuers.
//! - [`suite`]: the issuer suite and its driver for the one runner ([`run_issuer_cases`]).
//! - [`load`]: the bounded load test (N concurrent sessions for T seconds).
//! - [`hostile`]: the load test alone and beside hostile traffic (garbage, oversized,
//!   slowloris, replay, flood), with the issuer's memory.
//! - [`crash`]: SIGKILL of the issuer process under load, restarts, and the store's audit.

pub mod crash;
pub mod hostile;
pub mod http;
pub mod load;
pub mod reference;
pub mod session;
pub mod suite;

use std::time::Duration;

use airtight_pki::DeviceIdentity;
use serde::Serialize;

pub use session::{IssuerTarget, Reached, Session, WireLog, edit, qualifier};
pub use suite::{IssuerSuite, run_issuer_cases};

use crate::config::TargetConfig;
use crate::model::{Step, Stop};
use http::{Response, Url};

/// Id of the sanity case that runs first.
pub const SANITY_FIRST: &str = "issuer.sanity.first";
/// Id of the sanity case that runs last.
pub const SANITY_LAST: &str = "issuer.sanity.last";

pub use crate::config::IssuerSection;

/// Default PINs: numeric, no three-in-a-row, no sequences, all different.
pub const DEFAULT_PINS: &[&str] = &[
    "4739", "8261", "5094", "1837", "6402", "9175", "3058", "7216",
];

/// Why an issuer target cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum IssuerTargetError {
    /// No URL.
    #[error("an issuer target needs a URL ([target] url or --url)")]
    NoUrl,
    /// The URL is unusable.
    #[error("{0}")]
    Url(String),
    /// The device identity files.
    #[error("device identity: {0}")]
    Device(String),
    /// The trust anchors of an `https://` issuer.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Builds the issuer target from an invocation URL (`intent://keygen2?...`, or the plain
/// `http://.../keygen2?init=true`) and the `[issuer]` table.
pub fn issuer_target(
    url: &str,
    section: &IssuerSection,
    name: Option<&str>,
) -> Result<IssuerTarget, IssuerTargetError> {
    let inv = airtight_client::url::parse_invocation(url)
        .map_err(|e| IssuerTargetError::Url(e.to_string()))?;
    let init_url = Url::parse(&inv.init_url).map_err(|e| IssuerTargetError::Url(e.to_string()))?;
    let post_url =
        Url::parse(&inv.post_url()).map_err(|e| IssuerTargetError::Url(e.to_string()))?;
    let cancel_url = match &inv.cancel_url {
        Some(c) => Some(Url::parse(c).map_err(|e| IssuerTargetError::Url(e.to_string()))?),
        None => None,
    };
    let tls = if init_url.tls || post_url.tls {
        let mut anchors = section.trust_anchor_der.clone();
        for f in &section.trust_anchors {
            let pem = std::fs::read_to_string(f)
                .map_err(|e| IssuerTargetError::Tls(format!("{f}: {e}")))?;
            anchors.extend(
                airtight_pki::pem::decode_certificates(&pem)
                    .map_err(|e| IssuerTargetError::Tls(format!("{f}: {e}")))?,
            );
        }
        if anchors.is_empty() {
            return Err(IssuerTargetError::Tls(
                "an https:// issuer needs trust anchors ([issuer] trust_anchors)".into(),
            ));
        }
        Some(airtight_client::tls::client_config(&anchors).map_err(|e| {
            IssuerTargetError::Tls(match e {
                airtight_client::tls::TlsFailure::Certificate(d)
                | airtight_client::tls::TlsFailure::Transport(d) => d,
                airtight_client::tls::TlsFailure::TooLarge
                | airtight_client::tls::TlsFailure::CertificateChanged => "trust anchors".into(),
            })
        })?)
    } else {
        None
    };
    let cookie_name = inv
        .cookie
        .as_deref()
        .and_then(|c| c.split_once('=').map(|(n, _)| n.trim().to_owned()));
    let device = match (&section.device_key, &section.device_chain) {
        (None, None) => airtight_pki::fixtures::device_p256(),
        (Some(k), Some(c)) => {
            let key = std::fs::read_to_string(k)
                .map_err(|e| IssuerTargetError::Device(format!("{k}: {e}")))?;
            let chain = std::fs::read_to_string(c)
                .map_err(|e| IssuerTargetError::Device(format!("{c}: {e}")))?;
            DeviceIdentity::from_pem(&key, &chain)
                .map_err(|e| IssuerTargetError::Device(e.to_string()))?
        }
        _ => {
            return Err(IssuerTargetError::Device(
                "device_key and device_chain go together".into(),
            ));
        }
    };
    Ok(IssuerTarget {
        name: name.map_or_else(|| init_url.origin(), str::to_owned),
        init_url,
        post_url,
        cancel_url,
        cookie_name,
        tls,
        pins: if section.pins.is_empty() {
            DEFAULT_PINS.iter().map(|s| (*s).to_owned()).collect()
        } else {
            section.pins.clone()
        },
        timeout: Duration::from_millis(section.timeout_ms.unwrap_or(10_000)),
        slow_budget: Duration::from_millis(section.slow_client_ms.unwrap_or(6_000)),
        max_body: section.max_body_bytes.unwrap_or(1 << 20),
        fixture_device: device.certificate_path.first()
            == airtight_pki::fixtures::device_p256()
                .certificate_path
                .first(),
        device,
        landing_url: None,
    })
}

/// What the harness learned about the issuer before the cases (from honest sessions).
#[derive(Debug, Clone, Default, Serialize)]
pub struct IssuerProfile {
    /// The qualifiers of the issuer's requests in an honest session.
    pub flow: Vec<String>,
    /// Path prefix of the success redirect (e.g. `/result/`), if the issuer redirects.
    pub success_prefix: Option<String>,
    /// Path prefix of error redirects (e.g. `/error/`).
    pub error_prefix: Option<String>,
    /// The InvocationRequest asked for privacy mode.
    pub privacy: bool,
    /// Declared features (configuration).
    pub features: std::collections::BTreeSet<String>,
    /// The harness's card uses the airtight test device (see [`IssuerTarget::fixture_device`]).
    pub fixture_device: bool,
    /// The invocation names a cookie (sessions are told apart by it).
    pub cookie: bool,
    /// The invocation names a cancel URL.
    pub cancel: bool,
    /// `sessionLifeTime` of the honest session, seconds.
    pub session_life_time: Option<u64>,
    /// The issuer is reached over HTTPS.
    pub tls: bool,
}

impl IssuerProfile {
    /// True if the honest flow contains the request.
    pub fn has(&self, qualifier: &str) -> bool {
        self.flow.iter().any(|q| q == qualifier)
    }
}

/// The path prefix (up to the last `/`) of a location.
pub fn location_prefix(location: &str) -> String {
    let path = match location.find("://") {
        Some(i) => {
            let rest = &location[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => location,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.rfind('/') {
        Some(i) => path[..=i].to_owned(),
        None => "/".into(),
    }
}

/// One issuer conformance case (a [`crate::model::Case`] of the [`IssuerSuite`]).
pub type IssuerCase = crate::model::Case<IssuerSuite>;

impl IssuerCase {
    /// Restricts the case to issuers whose honest flow has `qualifier`.
    pub fn needs_flow(self, qualifier: &'static str) -> Self {
        self.unless(move |p| {
            (!p.has(qualifier)).then(|| {
                format!("the issuer's honest session has no {qualifier}, which this case needs")
            })
        })
    }
}

/// What an issuer case body gets.
pub struct IssuerCtx<'a> {
    /// The issuer under test.
    pub target: &'a IssuerTarget,
    /// What the harness learned about it.
    pub profile: &'a IssuerProfile,
    /// A seed unique to the case.
    pub seed: u64,
    /// The case's wire log (every HTTP exchange of its sessions).
    pub log: WireLog,
    /// Notes for the report.
    pub notes: Vec<String>,
    sessions: u64,
}

impl std::fmt::Debug for IssuerCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerCtx")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<'a> IssuerCtx<'a> {
    /// A context (for the runner, the load test and tests).
    pub fn new(target: &'a IssuerTarget, profile: &'a IssuerProfile, seed: u64) -> Self {
        IssuerCtx {
            target,
            profile,
            seed,
            log: WireLog::default(),
            notes: Vec::new(),
            sessions: 0,
        }
    }

    /// A new session with a fresh card of the target's device.
    pub fn session(&mut self) -> Step<Session> {
        self.sessions += 1;
        Session::new(
            self.target,
            &self.log,
            self.seed.wrapping_add(self.sessions),
            None,
        )
    }

    /// A new session whose middleware clock is `offset` seconds off.
    pub fn session_skewed(&mut self, offset: i64) -> Step<Session> {
        self.sessions += 1;
        Session::new_skewed(
            self.target,
            &self.log,
            self.seed.wrapping_add(self.sessions),
            None,
            offset,
        )
    }

    /// A new session whose middleware binds `certificate` (not the server's) into the session
    /// ([KG2-HTP-010]): what a middleware behind a TLS-terminating man in the middle would do.
    pub fn session_binding(&mut self, certificate: Vec<u8>) -> Step<Session> {
        let mut s = self.session()?;
        s.bind_certificate = Some(certificate);
        Ok(s)
    }

    /// A new session with a fresh card of another device identity.
    pub fn session_with(&mut self, device: &DeviceIdentity) -> Step<Session> {
        self.sessions += 1;
        Session::new(
            self.target,
            &self.log,
            self.seed.wrapping_add(self.sessions),
            Some(device),
        )
    }

    /// Records a note.
    pub fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    /// How the issuer answered a hostile move: `Ok` with a description of the refusal, or
    /// `Err` with what it did instead. A refusal is any answer that ends the session without
    /// proceeding: a 3xx redirect that is not to the result page, a 4xx or a 5xx. A 2xx
    /// proceeds (a KeyGen2 message is the next step; an empty 2xx is a successful end,
    /// [KG2-HTP-007]). The shape of the refusal (a 302 or 303 to an error page,
    /// [KG2-HTP-008]) is graded by its own case, `issuer.transport.error-redirect`.
    pub fn refusal_of(&self, r: &Response) -> Result<String, String> {
        match r.status {
            300..=399 => {
                let Some(loc) = r.header("location") else {
                    return Ok(format!("{} without a Location", r.status));
                };
                let prefix = location_prefix(loc);
                if let Some(s) = &self.profile.success_prefix
                    && self.profile.error_prefix.as_deref() != Some(s.as_str())
                    && prefix == *s
                {
                    return Err(format!(
                        "accepted: redirected to the result page ({})",
                        r.summary()
                    ));
                }
                Ok(r.summary())
            }
            400..=599 => Ok(r.summary()),
            200..=299 if r.body.is_empty() => Err(format!(
                "accepted: an empty {} (the answer that completes a session)",
                r.status
            )),
            _ => Err(format!(
                "the session went on: the issuer answered {}",
                r.summary()
            )),
        }
    }

    /// Checks that `r` refuses the hostile move (see [`IssuerCtx::refusal_of`]) and notes
    /// what the issuer answered.
    pub fn expect_refused(&mut self, sess: &mut Session, r: &Response, what: &str) -> Step {
        self.expect_refused_or_closed(sess, Ok(Some(r.clone())), what)
    }

    /// Checks that the issuer accepts nothing more in `sess` after a refusal: the honest
    /// `message` is refused as well, so nothing can be issued in the session ([KG2-ISS-006]).
    pub fn expect_ended(&mut self, sess: &mut Session, message: &[u8]) -> Step {
        let r = sess.post_raw(message);
        self.expect_refused_or_closed(
            sess,
            r,
            &format!("the honest {} after the refusal", qualifier(message)),
        )
        .map_err(|e| match e {
            Stop::Fail(m) => Stop::Fail(format!("the session went on after a refusal: {m}")),
            Stop::Mismatch(mut f) => {
                f.message = format!("the session went on after a refusal: {}", f.message);
                Stop::Mismatch(f)
            }
            other => other,
        })
    }

    /// Checks that a hostile request was refused ([`IssuerCtx::refusal_of`]) or cut off (the
    /// connection closed, with or without a partial answer), and notes what was seen. An issuer
    /// that neither answers nor closes within the harness's wait fails.
    pub fn expect_refused_or_closed(
        &mut self,
        _sess: &mut Session,
        r: Result<Option<Response>, http::HttpError>,
        what: &str,
    ) -> Step {
        let seen = match r {
            Ok(None) => "the connection closed without an answer".to_owned(),
            Err(http::HttpError::Io(m)) if m.contains("within") => {
                return Err(Stop::fail(format!(
                    "{what}: the issuer neither answered nor closed the connection ({m})"
                )));
            }
            Err(e @ (http::HttpError::Io(_) | http::HttpError::Malformed(_))) => {
                format!("the connection was cut ({e})")
            }
            Err(e) => return Err(Stop::fail(format!("{what}: {e}"))),
            Ok(Some(resp)) => self
                .refusal_of(&resp)
                .map_err(|m| Stop::fail(format!("{what}: {m}")))?,
        };
        self.note(format!("{what}: refused ({seen})"));
        Ok(())
    }

    /// Posts `body` (a hostile message) and expects a refusal.
    pub fn post_refused(&mut self, sess: &mut Session, body: &[u8], what: &str) -> Step {
        let r = sess.post_tampered(body);
        self.expect_refused_or_closed(sess, r, what)
    }

    /// Posts `tampered` in place of `honest`, expects a refusal, then expects the session to
    /// accept nothing more (not even `honest`).
    pub fn refuse_then_ended(
        &mut self,
        sess: &mut Session,
        tampered: &[u8],
        honest: &[u8],
        what: &str,
    ) -> Step {
        self.post_refused(sess, tampered, what)?;
        self.expect_ended(sess, honest)
    }

    /// Checks the redirect convention of an error answer ([KG2-HTP-008]): a 302 or 303 whose
    /// `Location` is not the result page (and is on the error pages, when the harness saw where
    /// those are), and whose page answers 2xx. Returns what was wrong.
    pub fn check_error_redirect(&mut self, sess: &mut Session, r: &Response) -> Result<(), String> {
        if r.status != 302 && r.status != 303 {
            return Err(format!(
                "answered {}, not a 302 or 303 redirect to an error page",
                r.summary()
            ));
        }
        let Some(loc) = r.header("location").map(str::to_owned) else {
            return Err(format!("{} without a Location", r.status));
        };
        self.refusal_of(r)?;
        let prefix = location_prefix(&loc);
        if let Some(e) = &self.profile.error_prefix
            && prefix != *e
        {
            return Err(format!("redirected to {loc}, not to an error page ({e}…)"));
        }
        let page = sess.target().post_url.resolve(&loc);
        let url = Url::parse(&page).map_err(|e| format!("Location {loc}: {e}"))?;
        let p = sess.get(&url).map_err(|e| match e {
            Stop::Fail(m) | Stop::NotApplicable(m) => m,
            Stop::Mismatch(f) => f.message,
        })?;
        if !(200..300).contains(&p.status) {
            return Err(format!("the error page {loc} answers {}", p.status));
        }
        Ok(())
    }
}

/// Learns the issuer's flow and redirect pages from one honest session and one provoked
/// error. Errors are returned as text (the sanity case reports them).
pub fn learn(
    target: &IssuerTarget,
    config: &TargetConfig,
    seed: u64,
) -> (IssuerProfile, Vec<String>) {
    let mut p = IssuerProfile {
        features: config.features.declared.clone(),
        fixture_device: target.fixture_device,
        cookie: target.cookie_name.is_some(),
        cancel: target.cancel_url.is_some(),
        tls: target.tls.is_some(),
        ..IssuerProfile::default()
    };
    let mut notes = Vec::new();
    let log = WireLog::default();
    match Session::new(target, &log, seed, None).and_then(|mut s| {
        let r = s.run_honest()?;
        Ok((s, r))
    }) {
        Ok((s, r)) => {
            p.flow = s.received.iter().map(|b| qualifier(b)).collect();
            p.session_life_time = s
                .received
                .iter()
                .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .find_map(|v| v.get("sessionLifeTime")?.as_u64());
            p.privacy = s
                .received
                .first()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("privacyEnabled")?.as_bool())
                .unwrap_or(false);
            if r.status == 302 || r.status == 303 {
                p.success_prefix = r.header("location").map(location_prefix);
            }
        }
        Err(e) => {
            notes.push(format!("an honest session did not complete: {e}"));
        }
    }
    // A provoked error: a POST of something that is not a KeyGen2 message, in a fresh session.
    if let Ok(mut s) = Session::new(target, &log, seed ^ 1, None)
        && s.start().is_ok()
        && let Ok(r) = s.post(b"{}")
        && (r.status == 302 || r.status == 303)
    {
        p.error_prefix = r.header("location").map(location_prefix);
    }
    if p.error_prefix.is_some() && p.error_prefix == p.success_prefix {
        notes.push(format!(
            "error and result pages share the prefix {:?}: refusals are told from success by the status only",
            p.error_prefix
        ));
    }
    (p, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_prefixes() {
        assert_eq!(location_prefix("/error/abc"), "/error/");
        assert_eq!(location_prefix("http://h:1/result/x?y=1"), "/result/");
        assert_eq!(location_prefix("http://h:1"), "/");
        assert_eq!(location_prefix("done"), "/");
    }

    fn answer(status: u16, location: Option<&str>, body: &[u8]) -> Response {
        Response {
            status,
            headers: location
                .map(|l| ("location".to_owned(), l.to_owned()))
                .into_iter()
                .collect(),
            body: body.to_vec(),
            server_certificate: None,
        }
    }

    #[test]
    fn any_answer_that_ends_the_session_is_a_refusal() {
        let t = issuer_target(
            "http://127.0.0.1:9/keygen2?init=true",
            &IssuerSection::default(),
            None,
        )
        .expect("target");
        let profile = IssuerProfile {
            success_prefix: Some("/result/".into()),
            error_prefix: Some("/error/".into()),
            ..IssuerProfile::default()
        };
        let ctx = IssuerCtx::new(&t, &profile, 1);
        for refusal in [
            answer(302, Some("/error/a"), b""),
            answer(303, Some("/error/a"), b""),
            answer(302, Some("/elsewhere"), b""),
            answer(302, None, b""),
            answer(400, None, b"bad"),
            answer(403, None, b""),
            answer(500, None, b""),
            answer(503, None, b"busy"),
        ] {
            assert!(ctx.refusal_of(&refusal).is_ok(), "{refusal:?}");
        }
        for proceeding in [
            answer(302, Some("/result/a"), b""),
            answer(303, Some("http://127.0.0.1:9/result/a"), b""),
            answer(200, None, b"{\"@qualifier\":\"KeyCreationRequest\"}"),
            answer(200, None, b""),
            answer(204, None, b""),
        ] {
            assert!(ctx.refusal_of(&proceeding).is_err(), "{proceeding:?}");
        }
    }

    #[test]
    fn targets_come_from_invocation_urls() {
        let s = IssuerSection::default();
        let t =
            issuer_target("http://127.0.0.1:9/keygen2?init=true", &s, None).expect("plain init");
        assert_eq!(t.post_url.target, "/keygen2");
        assert!(t.cookie_name.is_none());
        assert!(issuer_target("https://h/keygen2", &s, None).is_err());
        let bad = IssuerSection {
            device_key: Some("k.pem".into()),
            ..IssuerSection::default()
        };
        assert!(matches!(
            issuer_target("http://127.0.0.1:9/k", &bad, None),
            Err(IssuerTargetError::Device(_))
        ));
    }
}
