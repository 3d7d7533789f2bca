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
//! - [`run_issuer_cases`]: the runner (same verdict discipline and reports as cards).
//! - [`load`]: the bounded load test (N concurrent sessions for T seconds).

pub mod http;
pub mod load;
pub mod reference;
pub mod session;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use airtight_pki::DeviceIdentity;
use serde::{Deserialize, Serialize};

pub use session::{IssuerTarget, Reached, Session, WireLog, edit, qualifier};

use crate::case::{Level, Outcome, Step, Stop, Verdict};
use crate::config::{TargetConfig, matches_id};
use crate::reports::{CaseReport, Report, TargetInfo};
use crate::runner::RunOptions;
use http::{Response, Url};

/// Id of the sanity case that runs first.
pub const SANITY_FIRST: &str = "issuer.sanity.first";
/// Id of the sanity case that runs last.
pub const SANITY_LAST: &str = "issuer.sanity.last";

/// The `[issuer]` table of a target configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSection {
    /// PEM file of the device key of the harness's card (PKCS#8). Default: the airtight test
    /// device (which the reference issuer trusts).
    #[serde(default)]
    pub device_key: Option<String>,
    /// PEM file of that device's certificate path (device certificate first).
    #[serde(default)]
    pub device_chain: Option<String>,
    /// PINs the harness's user enters when asked, in order.
    #[serde(default)]
    pub pins: Vec<String>,
    /// Bound of every wait for the issuer, milliseconds (default 10000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// How long slow-client cases dribble their request, milliseconds (default: a little more
    /// than the issuer's header timeout; 6000).
    #[serde(default)]
    pub slow_client_ms: Option<u64>,
    /// The issuer's body limit in bytes (default 1 MiB): oversized cases send more.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// PEM files of the certificates trusted for an `https://` issuer (there are no default
    /// roots).
    #[serde(default)]
    pub trust_anchors: Vec<String>,
    /// Trust anchors given in code (DER), e.g. by the reference starter; not in TOML.
    #[serde(skip)]
    pub trust_anchor_der: Vec<Vec<u8>>,
}

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
                airtight_client::tls::TlsFailure::TooLarge => "trust anchors".into(),
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

/// A case body for issuers.
pub type IssuerRunFn = Box<dyn Fn(&mut IssuerCtx<'_>) -> Outcome + Send + Sync>;

/// One issuer conformance case.
pub struct IssuerCase {
    /// Stable id (`issuer.…`).
    pub id: String,
    /// Spec tags checked.
    pub tags: Vec<&'static str>,
    /// MUST or SHOULD.
    pub level: Level,
    /// One line.
    pub description: String,
    /// Whether the case applies.
    pub applies: Box<dyn Fn(&IssuerProfile) -> bool + Send + Sync>,
    /// The body.
    pub run: IssuerRunFn,
}

impl std::fmt::Debug for IssuerCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerCase")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl IssuerCase {
    /// A MUST case.
    pub fn must(
        id: impl Into<String>,
        tags: &[&'static str],
        description: impl Into<String>,
        run: impl Fn(&mut IssuerCtx<'_>) -> Step + Send + Sync + 'static,
    ) -> Self {
        IssuerCase {
            id: id.into(),
            tags: tags.to_vec(),
            level: Level::Must,
            description: description.into(),
            applies: Box::new(|_| true),
            run: Box::new(move |ctx| run(ctx).into()),
        }
    }

    /// A SHOULD case.
    pub fn should(
        id: impl Into<String>,
        tags: &[&'static str],
        description: impl Into<String>,
        run: impl Fn(&mut IssuerCtx<'_>) -> Step + Send + Sync + 'static,
    ) -> Self {
        let mut c = Self::must(id, tags, description, run);
        c.level = Level::Should;
        c
    }

    /// Restricts the case to issuers whose honest flow has `qualifier`.
    pub fn needs_flow(mut self, qualifier: &'static str) -> Self {
        let before = std::mem::replace(&mut self.applies, Box::new(|_| true));
        self.applies = Box::new(move |p| before(p) && p.has(qualifier));
        self
    }

    /// A body that reports an [`Outcome`] itself (a pass with a recorded quirk: behaviour no
    /// rule forbids but that a vendor should know of).
    pub fn with_outcome(
        mut self,
        run: impl Fn(&mut IssuerCtx<'_>) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        self.run = Box::new(run);
        self
    }

    /// Restricts the case with a predicate.
    pub fn when(mut self, f: impl Fn(&IssuerProfile) -> bool + Send + Sync + 'static) -> Self {
        let before = std::mem::replace(&mut self.applies, Box::new(|_| true));
        self.applies = Box::new(move |p| before(p) && f(p));
        self
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
        Err(Stop::Fail(m) | Stop::NotApplicable(m)) => {
            notes.push(format!("an honest session did not complete: {m}"));
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

fn report_of(case: &IssuerCase, verdict: Verdict, message: Option<String>) -> CaseReport {
    CaseReport {
        id: case.id.clone(),
        tags: case.tags.iter().map(|t| (*t).to_owned()).collect(),
        level: case.level,
        description: case.description.clone(),
        verdict,
        message,
        duration_ms: 0.0,
        notes: Vec::new(),
        wire: Vec::new(),
    }
}

/// Runs `cases` against the issuer (`target` is `Err` when it could not be built: every case
/// then fails with that reason).
pub fn run_issuer_cases(
    target: Result<IssuerTarget, String>,
    cases: &[IssuerCase],
    config: &TargetConfig,
    options: &RunOptions,
) -> Report {
    let t0 = Instant::now();
    let started = crate::runner::now_rfc3339();
    let mut run_notes = Vec::new();
    let (profile, info) = match &target {
        Ok(t) => {
            let (p, notes) = learn(t, config, options.seed);
            run_notes.extend(notes);
            let info = TargetInfo {
                name: t.name.clone(),
                kind: "issuer".into(),
                transport: if t.tls.is_some() { "https" } else { "http" }.into(),
                description: format!("init {}{}", t.init_url.origin(), t.init_url.target),
                features: p.features.iter().cloned().collect(),
                ..TargetInfo::default()
            };
            (p, info)
        }
        Err(e) => {
            run_notes.push(format!("the target could not be opened: {e}"));
            (
                IssuerProfile::default(),
                TargetInfo {
                    kind: "issuer".into(),
                    transport: "http".into(),
                    ..TargetInfo::default()
                },
            )
        }
    };
    let selected = crate::runner::select(cases, SANITY_FIRST, SANITY_LAST, &options.filter);
    let total = selected.len();
    let mut reports = Vec::with_capacity(total);
    for (i, case) in selected.iter().enumerate() {
        let start = Instant::now();
        let r = if let Some(reason) = config.disabled_reason(&case.id) {
            report_of(
                case,
                Verdict::NotApplicable,
                Some(format!("disabled by the configuration: {reason}")),
            )
        } else if target.is_ok() && !(case.applies)(&profile) {
            report_of(
                case,
                Verdict::NotApplicable,
                Some("the issuer's honest session does not contain what this case needs".into()),
            )
        } else {
            let (outcome, wire, notes) = match &target {
                Ok(t) => {
                    let mut ctx = IssuerCtx::new(
                        t,
                        &profile,
                        crate::runner::case_seed(options.seed, &case.id),
                    );
                    let o = catch_unwind(AssertUnwindSafe(|| (case.run)(&mut ctx)))
                        .unwrap_or_else(|_| Outcome::Fail("the case panicked".into()));
                    (o, ctx.log.take(), ctx.notes)
                }
                Err(e) => (
                    Outcome::Fail(format!("cannot open the target: {e}")),
                    Vec::new(),
                    Vec::new(),
                ),
            };
            let (v, message) = crate::runner::verdict(config, &case.id, &outcome);
            let mut r = report_of(case, v, message);
            r.wire = wire;
            r.notes = notes;
            r
        };
        let mut r = r;
        r.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        if options.progress {
            crate::runner::progress(i, total, &r);
        }
        reports.push(r);
    }
    run_notes.extend(crate::runner::stale_config_notes(config, |k| {
        cases.iter().any(|c| matches_id(k, &c.id))
    }));
    if options.load.is_some() && cfg!(debug_assertions) {
        run_notes.push(
            "the harness was built without optimizations (debug): its load figures understate the issuer; use a release build for figures to publish".into(),
        );
    }
    let load = match (&target, options.load) {
        (Ok(t), Some((n, secs))) => {
            match load::run_load(t, &profile, n, secs, options.seed ^ 0x10ad) {
                Ok(l) => Some(l),
                Err(e) => {
                    run_notes.push(format!("load test: {e}"));
                    None
                }
            }
        }
        _ => None,
    };
    crate::runner::finish_report(crate::runner::Finished {
        started,
        target: info,
        config,
        options,
        cases: reports,
        performance: None,
        load,
        notes: run_notes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
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
