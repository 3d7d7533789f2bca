//! The issuer's HTTP server over real loopback HTTP, with the reference middleware and card:
//! a full enrolment, every error path (a 302 to the error page, the reason shown, nothing
//! issued), and a restart in the middle of a session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airtight_card::ReferenceSks;
use airtight_cli::driver::{self, EnrollError};
use airtight_cli::issuer::test_pki_issuer as build_issuer;
use airtight_client::engine::{Middleware, SessionContext};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_issuer::Policy;
use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::db::{SessionStatus, Store};
use airtight_issuer::http::{
    AppState, COOKIE_NAME, ServerConfig, ServerHandle, invocation_urls, issuer_uri_of,
};
use airtight_proto::codec::b64url;
use airtight_proto::sks::{KeyHandle, SecureKeyStore};
use zeroize::Zeroizing;

const PIN: &str = "1357";
/// The invitation cookie of the invocation URLs the tests build (never a session id: the
/// issuer chooses those).
const INVITATION: &str = "testsessionhandle0000000000000001";

std::thread_local! {
    /// The session id the issuer set at the last `init` of this test's thread.
    static SESSION: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The session id the issuer chose at this test's last [`init`].
fn handle() -> String {
    SESSION.with(|s| s.borrow().clone())
}

fn start_at(
    bind: SocketAddr,
    store: Arc<Store>,
    policy: Policy,
    config: ServerConfig,
) -> ServerHandle {
    ServerHandle::start(bind, move |base| {
        let iss = build_issuer(&issuer_uri_of(base), policy);
        Ok(AppState::new(iss, store, base, config)?.with_seed(1))
    })
    .unwrap()
}

fn start(store: Arc<Store>, policy: Policy) -> ServerHandle {
    start_at(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        store,
        policy,
        ServerConfig::default(),
    )
}

fn middleware(card: ReferenceSks, uri: &str) -> Middleware<ReferenceSks> {
    Middleware::new(card, SessionContext::plain(uri))
        .with_ui(Box::new(AutoUi::accept_all()))
        .with_pin_source(PinSource::Repeat(Zeroizing::new(PIN.into())))
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}

/// One HTTP answer: status, Location, Content-Type, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The value of the session cookie the answer sets, if any.
    session_cookie: Option<String>,
    location: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.unwrap();
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, content_type) = (h("location"), h("content-type"));
    let session_cookie = h("set-cookie").and_then(|c| {
        c.split(';')
            .next()?
            .trim()
            .strip_prefix(&format!("{COOKIE_NAME}="))
            .map(str::to_owned)
    });
    let body = r
        .body_mut()
        .with_config()
        .limit(8 << 20)
        .read_to_vec()
        .unwrap();
    Answer {
        status: r.status().as_u16(),
        session_cookie,
        location,
        content_type,
        body,
    }
}

fn get(base: &str, path: &str, cookie: Option<&str>) -> Answer {
    let mut req = agent().get(format!("{base}{path}"));
    if let Some(c) = cookie {
        req = req.header("Cookie", format!("{COOKIE_NAME}={c}"));
    }
    answer(req.call())
}

fn post(base: &str, cookie: Option<&str>, content_type: &str, body: &[u8]) -> Answer {
    let mut req = agent()
        .post(format!("{base}/keygen2"))
        .header("Content-Type", content_type);
    if let Some(c) = cookie {
        req = req.header("Cookie", format!("{COOKIE_NAME}={c}"));
    }
    answer(req.send(body))
}

/// Asserts a 302 to an error page whose reason contains `needle`; returns the reason.
fn assert_error_redirect(base: &str, a: &Answer, needle: &str) -> String {
    // [KG2-HTP-008] errors are 302 redirects to an error page, never KeyGen2 messages.
    assert_eq!(a.status, 302, "expected a redirect, got {a:?}");
    let loc = a.location.clone().unwrap();
    assert!(loc.starts_with("/error/"), "{loc}");
    let page = get(base, &loc, None);
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    let reason = html
        .split("<p id=\"reason\">")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .unwrap()
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert!(
        reason.contains(needle),
        "reason {reason:?} lacks {needle:?}"
    );
    reason
}

/// GET init (with the invitation cookie, which the issuer does not adopt): the
/// InvocationRequest; the session id the issuer set is then [`handle`].
fn init(base: &str) -> Vec<u8> {
    let a = get(base, "/keygen2?init=true", Some(INVITATION));
    assert_eq!(a.status, 200, "{a:?}");
    let set = a
        .session_cookie
        .clone()
        .expect("the issuer sets the session cookie");
    assert_ne!(set, INVITATION, "the issuer adopted the client's cookie");
    SESSION.with(|s| *s.borrow_mut() = set);
    // [KG2-HTP-003] request messages come as application/json.
    assert_eq!(a.content_type.as_deref(), Some("application/json"));
    a.body
}

#[test]
fn full_enrolment_over_loopback_http() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();

    // The landing page carries the invocation URL.
    let landing = String::from_utf8(get(&base, "/", None).body).unwrap();
    assert!(landing.contains("intent://keygen2?cookie=airtight_session%3D"));
    let invocation = landing
        .split("<a id=\"enrol\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");

    let card = ReferenceSks::in_memory_for_tests(11);
    let (enrolled, mw) = driver::enroll(
        &invocation,
        |ctx| middleware(card, &ctx.issuer_uri),
        &mut |_| {},
    )
    .unwrap();
    // [KG2-HTP-006] the end is a redirect to the result page.
    let result_url = enrolled.result_url.unwrap();
    assert!(result_url.starts_with(&format!("{base}/result/")));
    let page = String::from_utf8(get(&result_url, "", None).body).unwrap();
    assert!(page.contains("Provisioning completed"));

    let all = store.issuances().unwrap();
    assert_eq!(all.len(), 1);
    let rec = &all[0].record;
    assert!(!rec.privacy_enabled);
    assert_eq!(rec.keys.len(), 1);
    assert_eq!(rec.client_session_id, enrolled.outcome.client_session_id);
    assert!(page.contains(rec.device_id.as_deref().unwrap()));
    // The card holds the certified key.
    let mut card = mw.into_sks();
    let k = card.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    let attrs = card.get_key_attributes(k.key_handle).unwrap();
    assert_eq!(attrs.certificate_path, rec.keys[0].certificate_path);
    assert_eq!(store.session_counts().unwrap(), (0, 1, 0));
}

#[test]
fn privacy_mode_over_http_records_no_device() {
    let store = Arc::new(Store::in_memory().unwrap());
    let policy = Policy {
        privacy_enabled: true,
        ..Policy::default()
    };
    let server = start(store.clone(), policy);
    let url = invocation_urls(server.base_url(), INVITATION).intent;
    let card = ReferenceSks::in_memory_for_tests(12);
    driver::enroll(&url, |ctx| middleware(card, &ctx.issuer_uri), &mut |_| {}).unwrap();
    let rec = &store.issuances().unwrap()[0].record;
    assert!(rec.privacy_enabled);
    assert!(rec.device_id.is_none());
    assert!(rec.device_certificate_path.is_empty());
}

#[test]
fn plain_init_url_gets_a_cookie_from_the_issuer() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let init = invocation_urls(server.base_url(), "").init;
    let card = ReferenceSks::in_memory_for_tests(13);
    driver::enroll(&init, |ctx| middleware(card, &ctx.issuer_uri), &mut |_| {}).unwrap();
    assert_eq!(store.issuances().unwrap().len(), 1);
}

#[test]
fn oversized_body_is_refused_before_parsing() {
    let store = Arc::new(Store::in_memory().unwrap());
    let config = ServerConfig {
        max_body_bytes: 4096,
        ..ServerConfig::default()
    };
    let server = start_at(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        store.clone(),
        Policy::default(),
        config,
    );
    let base = server.base_url().to_owned();
    init(&base);
    let big = vec![b' '; 10_000];
    let a = post(&base, Some(&handle()), "application/json", &big);
    // [KG2-IMP-009]
    assert_error_redirect(&base, &a, "KG2-IMP-009");
    let s = store.load_session(&handle()).unwrap().unwrap();
    assert_eq!(s.status, SessionStatus::Failed);
    assert!(store.issuances().unwrap().is_empty());
}

#[test]
fn wrong_content_type_is_refused() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    let req = init(&base);
    let mut mw = middleware(ReferenceSks::in_memory_for_tests(14), &issuer_uri_of(&base));
    let resp = mw.handle_bytes(&req).unwrap();
    let a = post(&base, Some(&handle()), "text/plain", &resp);
    // [KG2-HTP-002]
    assert_error_redirect(&base, &a, "KG2-HTP-002");
    // The session is over: the right message afterwards is refused too.
    let a = post(&base, Some(&handle()), "application/json", &resp);
    assert_error_redirect(&base, &a, "KG2-ISS-006");
    assert!(store.issuances().unwrap().is_empty());
}

#[test]
fn unknown_session_is_refused() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    let body = br#"{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"InvocationResponse","serverSessionId":"nope"}"#;
    let a = post(
        &base,
        Some("unknownunknownunknown"),
        "application/json",
        body,
    );
    assert_error_redirect(&base, &a, "unknown session");
    // Without a cookie the serverSessionId is looked up, and unknown too.
    let a = post(&base, None, "application/json", body);
    assert_error_redirect(&base, &a, "unknown session");
    // A cancel without a session and a GET without init/abort are errors as well.
    assert_error_redirect(
        &base,
        &get(&base, "/keygen2?abort=true", None),
        "KG2-URL-003",
    );
    assert_error_redirect(&base, &get(&base, "/keygen2", None), "KG2-HTP-001");
    assert!(store.issuances().unwrap().is_empty());
    assert_eq!(get(&base, "/result/nothing-here", None).status, 404);
    assert_eq!(get(&base, "/error/nothing-here", None).status, 404);
}

#[test]
fn a_second_init_of_the_same_session_is_refused() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    init(&base);
    // [KG2-ISS-006]
    let a = get(&base, "/keygen2?init=true", Some(&handle()));
    assert_error_redirect(&base, &a, "KG2-ISS-006");
}

/// Runs a session by hand; `tamper(i, body)` may change the i-th middleware message.
/// Returns the last answer that was not a KeyGen2 message, and the middleware.
fn run_by_hand(
    base: &str,
    card: ReferenceSks,
    mut tamper: impl FnMut(usize, Vec<u8>) -> Vec<u8>,
) -> (Answer, Middleware<ReferenceSks>) {
    let mut req = init(base);
    let mut mw = middleware(card, &issuer_uri_of(base));
    for i in 0.. {
        let resp = tamper(i, mw.handle_bytes(&req).unwrap());
        let a = post(base, Some(&handle()), "application/json", &resp);
        if a.status != 200 {
            return (a, mw);
        }
        req = a.body;
    }
    unreachable!()
}

fn flip_attestation(body: Vec<u8>) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let att = v["attestation"].as_str().unwrap();
    let mut bytes = b64url::decode(att).unwrap();
    bytes[0] ^= 1;
    v["attestation"] = serde_json::Value::String(b64url::encode(&bytes));
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn tampered_session_attestation_is_refused_and_nothing_issued() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    // Message 1 is the ProvisioningInitializationResponse.
    let (a, _) = run_by_hand(&base, ReferenceSks::in_memory_for_tests(15), |i, b| {
        if i == 1 { flip_attestation(b) } else { b }
    });
    let reason = assert_error_redirect(&base, &a, "");
    assert!(reason.contains("attestation"), "{reason}");
    assert!(store.issuances().unwrap().is_empty());
    let s = store.load_session(&handle()).unwrap().unwrap();
    assert_eq!(s.status, SessionStatus::Failed);
}

#[test]
fn tampered_close_attestation_is_refused_and_nothing_issued() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    // Message 3 is the ProvisioningFinalizationResponse.
    let (a, _) = run_by_hand(&base, ReferenceSks::in_memory_for_tests(16), |i, b| {
        if i == 3 { flip_attestation(b) } else { b }
    });
    // [KG2-ISS-003] no issuance without a verified close attestation.
    assert_error_redirect(&base, &a, "close attestation");
    assert!(store.issuances().unwrap().is_empty());
}

#[test]
fn a_replayed_message_is_refused() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    let req = init(&base);
    let mut mw = middleware(ReferenceSks::in_memory_for_tests(17), &issuer_uri_of(&base));
    let resp = mw.handle_bytes(&req).unwrap();
    let first = post(&base, Some(&handle()), "application/json", &resp);
    assert_eq!(first.status, 200);
    // [KG2-ISS-006] the same InvocationResponse again: out of order.
    let again = post(&base, Some(&handle()), "application/json", &resp);
    assert_error_redirect(&base, &again, "KG2-FLW-001");
    assert!(store.issuances().unwrap().is_empty());
}

/// Serves until the middleware has sent `steps` messages, then stops the server and drops the
/// store (a killed issuer); reopens the same database file on the same address and finishes.
#[test]
fn a_session_survives_an_issuer_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = |d: &Path| Arc::new(Store::open_dir(d).unwrap());

    let server = start(open(dir.path()), Policy::default());
    let addr = server.addr();
    let base = server.base_url().to_owned();
    let mut req = init(&base);
    let mut mw = middleware(ReferenceSks::in_memory_for_tests(18), &issuer_uri_of(&base));
    // InvocationResponse and ProvisioningInitializationResponse with the first server.
    for _ in 0..2 {
        let resp = mw.handle_bytes(&req).unwrap();
        let a = post(&base, Some(&handle()), "application/json", &resp);
        assert_eq!(a.status, 200);
        req = a.body;
    }
    drop(server);

    // The restarted issuer continues the session from the stored state.
    let server = start_at(
        addr,
        open(dir.path()),
        Policy::default(),
        ServerConfig::default(),
    );
    let store = server.state().store().clone();
    assert_eq!(
        store.load_session(&handle()).unwrap().unwrap().status,
        SessionStatus::Open
    );
    let last = loop {
        let resp = mw.handle_bytes(&req).unwrap();
        let a = post(&base, Some(&handle()), "application/json", &resp);
        if a.status != 200 {
            break a;
        }
        req = a.body;
    };
    assert_eq!(last.status, 302);
    assert!(last.location.unwrap().starts_with("/result/"));
    assert!(mw.is_done());
    drop(server);
    drop(store);

    // Killed after completion: the issuance is there after a reopen.
    let store = open(dir.path());
    let all = store.issuances().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].session_handle, handle());
    assert_eq!(all[0].record.keys.len(), 1);
}

#[test]
fn the_driver_aborts_the_card_session_when_the_issuer_refuses() {
    // An issuer that trusts no device: the E2ES session fails at the initialization response,
    // after the card opened its provisioning session.
    let store = Arc::new(Store::in_memory().unwrap());
    let server = ServerHandle::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        let store = store.clone();
        move |base| {
            let mut iss = build_issuer(&issuer_uri_of(base), Policy::default());
            iss.device_anchors.clear();
            AppState::new(iss, store, base, ServerConfig::default())
        }
    })
    .unwrap();
    let url = invocation_urls(server.base_url(), INVITATION).intent;
    let mut card = ReferenceSks::in_memory_for_tests(19);
    let err = driver::enroll(
        &url,
        |ctx| {
            Middleware::new(&mut card, ctx)
                .with_ui(Box::new(AutoUi::accept_all()))
                .with_pin_source(PinSource::Repeat(Zeroizing::new(PIN.into())))
        },
        &mut |_| {},
    )
    .map(|_| ())
    .unwrap_err();
    match err {
        EnrollError::IssuerRefused { reason, .. } => {
            assert!(reason.contains("KG2-IMP-002"), "{reason}")
        }
        other => panic!("expected IssuerRefused, got {other}"),
    }
    // [KG2-HTP-005] the redirect ended KeyGen2 mode and the card's session was aborted.
    assert_eq!(card.open_session_count(), 0);
    assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
    assert!(store.issuances().unwrap().is_empty());
}

fn edit(body: Vec<u8>, f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// Each tampered middleware message over HTTP: a 302 to the error page naming the rule, the
/// session failed, nothing issued.
#[test]
fn tampered_messages_are_refused_over_http() {
    type Tamper = Box<dyn FnMut(usize, Vec<u8>) -> Vec<u8>>;
    let substituted = || -> Tamper {
        // The card's ephemeral key (a valid P-256 key) in place of the generated key.
        let mut ephemeral = None;
        Box::new(move |i, b| match i {
            1 => {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                ephemeral = Some(v["clientEphemeralKey"].clone());
                b
            }
            2 => {
                let k = ephemeral.clone().unwrap();
                edit(b, |v| v["generatedKeys"][0]["publicKey"] = k)
            }
            _ => b,
        })
    };
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "deviceId removed although E2ES was requested",
            Box::new(|i, b| {
                if i == 1 {
                    edit(b, |v| {
                        v.as_object_mut().unwrap().remove("deviceId");
                    })
                } else {
                    b
                }
            }),
            // [KG2-IMP-001]
            "KG2-IMP-001",
        ),
        (
            "serverTime echo changed",
            Box::new(|i, b| {
                if i == 1 {
                    edit(b, |v| v["serverTime"] = "2020-01-01T00:00:00Z".into())
                } else {
                    b
                }
            }),
            // [KG2-IMP-007]
            "KG2-IMP-007",
        ),
        (
            "generated public key substituted",
            substituted(),
            "attestation",
        ),
        (
            "generated keys missing",
            Box::new(|i, b| {
                if i == 2 {
                    edit(b, |v| v["generatedKeys"] = serde_json::json!([]))
                } else {
                    b
                }
            }),
            "generatedKeys",
        ),
    ];
    for (what, tamper, needle) in cases {
        let store = Arc::new(Store::in_memory().unwrap());
        let server = start(store.clone(), Policy::default());
        let base = server.base_url().to_owned();
        let (a, _) = run_by_hand(&base, ReferenceSks::in_memory_for_tests(20), tamper);
        let reason = assert_error_redirect(&base, &a, needle);
        assert!(store.issuances().unwrap().is_empty(), "{what}");
        let s = store.load_session(&handle()).unwrap().unwrap();
        assert_eq!(s.status, SessionStatus::Failed, "{what}: {reason}");
        assert_eq!(s.failure.as_deref(), Some(reason.as_str()), "{what}");
    }
}

#[test]
fn a_response_from_another_session_is_refused() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    // Session B (another cookie) produces an InvocationResponse...
    let other = "othersessionhandle000000000000002";
    let b_req = get(&base, "/keygen2?init=true", Some(other)).body;
    let mut mw_b = middleware(ReferenceSks::in_memory_for_tests(21), &issuer_uri_of(&base));
    let b_resp = mw_b.handle_bytes(&b_req).unwrap();
    // ...which is posted into session A.
    init(&base);
    let a = post(&base, Some(&handle()), "application/json", &b_resp);
    // [KG2-FLW-002]
    assert_error_redirect(&base, &a, "KG2-FLW-002");
    assert_eq!(
        store.load_session(&handle()).unwrap().unwrap().status,
        SessionStatus::Failed
    );
    assert!(store.issuances().unwrap().is_empty());
}

mod fuzz {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use proptest::prelude::*;

    use super::*;

    /// One server for every case (each case has its own session).
    fn server() -> &'static (ServerHandle, Arc<Store>) {
        static S: OnceLock<(ServerHandle, Arc<Store>)> = OnceLock::new();
        S.get_or_init(|| {
            let store = Arc::new(Store::in_memory().unwrap());
            (start(store.clone(), Policy::default()), store)
        })
    }

    fn mutate(body: &[u8], pos: usize, byte: u8) -> Vec<u8> {
        let mut b = body.to_vec();
        if !b.is_empty() {
            let i = pos % b.len();
            b[i] = byte;
        }
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        /// Arbitrary bytes, or an InvocationResponse with one byte changed, POSTed into a
        /// fresh session: never a KeyGen2 message back unless the body still decodes to the
        /// right message, always a redirect to an error page otherwise, never a server error.
        #[test]
        fn garbage_never_gets_a_message_back(
            random in proptest::collection::vec(any::<u8>(), 0..600),
            pos in any::<usize>(),
            byte in any::<u8>(),
            use_random in any::<bool>(),
        ) {
            static N: AtomicU64 = AtomicU64::new(0);
            let (srv, store) = server();
            let base = srv.base_url();
            let invitation = format!("fuzzsessionhandle{:016}", N.fetch_add(1, Ordering::Relaxed));
            let a = get(base, "/keygen2?init=true", Some(&invitation));
            prop_assert_eq!(a.status, 200);
            // The session id is the issuer's, never the client's.
            let handle = a.session_cookie.clone().unwrap();
            prop_assert_ne!(&handle, &invitation);
            let mut mw = middleware(ReferenceSks::in_memory_for_tests(40), &issuer_uri_of(base));
            let good = mw.handle_bytes(&a.body).unwrap();
            let body = if use_random { random } else { mutate(&good, pos, byte) };
            let r = post(base, Some(&handle), "application/json", &body);
            let status = store.load_session(&handle).unwrap().unwrap().status;
            if r.status == 200 {
                // Only a body that is still a valid InvocationResponse of this session.
                prop_assert_eq!(status, SessionStatus::Open);
                prop_assert_eq!(r.content_type.as_deref(), Some("application/json"));
            } else {
                prop_assert_eq!(r.status, 302);
                prop_assert!(r.location.unwrap().starts_with("/error/"));
                prop_assert_eq!(status, SessionStatus::Failed);
            }
        }
    }
}

/// Session fixation: a session id the client chose (planted by someone else) is never
/// adopted; the issuer sets its own, and the planted one names nothing.
#[test]
fn a_planted_session_cookie_is_not_adopted() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    let planted = "A".repeat(32);
    let a = get(&base, "/keygen2?init=true", Some(&planted));
    assert_eq!(a.status, 200, "{a:?}");
    let set = a.session_cookie.clone().unwrap();
    assert_ne!(set, planted);
    assert!(store.load_session(&planted).unwrap().is_none());
    assert_eq!(
        store.load_session(&set).unwrap().unwrap().status,
        SessionStatus::Open
    );
    // Whoever planted it can neither read a result page nor cancel the session with it.
    assert_eq!(get(&base, &format!("/result/{planted}"), None).status, 404);
    let c = get(&base, "/keygen2?abort=true", Some(&planted));
    assert_error_redirect(&base, &c, "unknown session");
    assert_eq!(
        store.load_session(&set).unwrap().unwrap().status,
        SessionStatus::Open
    );
}

/// A client that keeps its cookie jar (the stale cookie of its finished session) enrols a
/// second time: a fresh session under a fresh id.
#[test]
fn a_client_that_keeps_its_cookies_enrols_twice() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let base = server.base_url().to_owned();
    let inv = airtight_client::url::parse_invocation(&format!("{base}/keygen2?init=true")).unwrap();
    let mut http = airtight_client::http::HttpDriver::new(Default::default());
    for seed in [31, 32] {
        let mut mw = middleware(
            ReferenceSks::in_memory_for_tests(seed),
            &issuer_uri_of(&base),
        );
        http.run(&inv, &mut mw).unwrap();
    }
    let all = store.issuances().unwrap();
    assert_eq!(all.len(), 2);
    assert_ne!(all[0].session_handle, all[1].session_handle);
}

/// [KG2-IMP-009] a POST that announces a body over the limit is refused at once, before any
/// of its body arrives, and its connection closed; the session ends. The server's own body
/// timeout is set far beyond the client's patience, so only an immediate refusal passes.
#[test]
fn a_huge_announced_body_is_refused_at_once() {
    use std::io::{Read as _, Write as _};
    let store = Arc::new(Store::in_memory().unwrap());
    let config = ServerConfig {
        body_read_timeout: Duration::from_secs(600),
        request_timeout: Duration::from_secs(600),
        ..ServerConfig::default()
    };
    let server = start_at(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        store.clone(),
        Policy::default(),
        config,
    );
    let base = server.base_url().to_owned();
    init(&base);
    let mut tcp = std::net::TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        tcp,
        "POST /keygen2 HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Cookie: {COOKIE_NAME}={}\r\nContent-Length: 4294967296\r\n\r\n",
        server.addr(),
        handle()
    )
    .unwrap();
    let mut answer = Vec::new();
    // The server closes the connection after its answer: read to the end.
    tcp.read_to_end(&mut answer)
        .expect("no answer (and no close) while the announced body was never sent");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 302"), "{answer}");
    assert!(answer.contains("location: /error/"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let s = store.load_session(&handle()).unwrap().unwrap();
    assert_eq!(s.status, SessionStatus::Failed);
    assert!(s.failure.unwrap().contains("KG2-IMP-009"));
}

/// A policy can give a key no PIN (`pin = []`, a `[[key]]` without `pin`), and such a key is
/// enrolled end to end.
#[test]
fn a_key_without_a_pin_is_enrolled() {
    let policy = Policy::from_toml(
        "pin = []\n[[key]]\nid = \"Key.1\"\nalgorithm = \"https://webpki.github.io/sks/algorithm#ec.nist.p256\"\n",
    )
    .unwrap();
    assert_eq!(policy.key[0].pin, None);
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), policy);
    let init = format!("{}/keygen2?init=true", server.base_url());
    let card = ReferenceSks::in_memory_for_tests(33);
    let (_, mw) = driver::enroll(
        &init,
        |ctx| {
            // No PIN source at all: nothing may ask for one.
            Middleware::new(card, SessionContext::plain(&ctx.issuer_uri))
                .with_ui(Box::new(AutoUi::accept_all()))
        },
        &mut |_| {},
    )
    .unwrap();
    let all = store.issuances().unwrap();
    assert_eq!(all.len(), 1);
    let mut card = mw.into_sks();
    let k = card.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    let attrs = card.get_key_attributes(k.key_handle).unwrap();
    assert_eq!(
        attrs.certificate_path,
        all[0].record.keys[0].certificate_path
    );
}

/// An enrolment that reaches the issuer under another host name than its own URL
/// (localhost for 127.0.0.1) fails the session attestation, and the reason says why and
/// what to do.
#[test]
fn another_host_name_fails_with_a_hint() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store.clone(), Policy::default());
    let init = format!(
        "http://localhost:{}/keygen2?init=true",
        server.addr().port()
    );
    let card = ReferenceSks::in_memory_for_tests(34);
    let e = driver::enroll(&init, |ctx| middleware(card, &ctx.issuer_uri), &mut |_| {})
        .err()
        .unwrap();
    let text = e.to_string();
    assert!(text.contains("CRY-ATT-005"), "{text}");
    assert!(
        text.contains(&format!("this issuer is {}", server.base_url())),
        "{text}"
    );
    assert!(text.contains("--public-url"), "{text}");
    assert!(store.issuances().unwrap().is_empty());
}
