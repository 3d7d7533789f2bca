//! The issuer over HTTPS on loopback with the middleware's HTTPS driver and the reference card
//! in-process: the TLS server certificate the middleware saw is bound into the session
//! attestation ([KG2-HTP-010], [CRY-ATT-001] field 13) and the issuer checks it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use airtight_card::ReferenceSks;
use airtight_client::engine::Middleware;
use airtight_client::http::{DriverError, HttpDriver, HttpOptions, session_context};
use airtight_client::pin::PinProblem;
use airtight_client::ui::{
    AutoUi, Consent, ConsentRequest, KeyCreationSummary, PinRequest, PinSource, UserInterface,
};
use airtight_client::url::parse_invocation;
use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::db::Store;
use airtight_issuer::http::{
    AppState, ServerConfig, ServerHandle, TlsIdentity, invocation_urls, issuer_uri_of,
};
use airtight_issuer::{Issuer, Policy};
use airtight_proto::sks::{KeyHandle, SecureKeyStore};
use zeroize::Zeroizing;

const HANDLE: &str = "httpssessionhandle00000000000001";

/// The fixture TLS identity (`127.0.0.1`, `localhost`) issued by the test issuer CA.
fn identity(label: &str) -> TlsIdentity {
    let (key, chain) = if label == "tls-server" {
        airtight_pki::fixtures::tls_server()
    } else {
        airtight_pki::fixtures::tls_server_labelled(label)
    };
    TlsIdentity::from_der(chain, key.to_pkcs8_der().unwrap().to_vec()).unwrap()
}

/// An HTTPS issuer serving `tls`, whose engine believes its certificate is `engine_cert`.
fn start(store: Arc<Store>, tls: TlsIdentity, engine_cert: Vec<u8>) -> ServerHandle {
    start_at(store, tls, engine_cert, None)
}

/// [`start`], reached at `public` (a forwarder in front of it) instead of its own address.
fn start_at(
    store: Arc<Store>,
    tls: TlsIdentity,
    engine_cert: Vec<u8>,
    public: Option<String>,
) -> ServerHandle {
    ServerHandle::start_https(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), move |own| {
        let base = public.as_deref().unwrap_or(own);
        let mut iss = Issuer::new(&issuer_uri_of(base), engine_cert, Policy::default());
        iss.ca = Some(airtight_pki::fixtures::issuer_ca());
        iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
        let config = ServerConfig {
            tls: Some(tls),
            ..ServerConfig::default()
        };
        Ok(AppState::new(iss, store, base, config)?.with_seed(3))
    })
    .unwrap()
}

fn options(anchor: &[u8]) -> HttpOptions {
    HttpOptions {
        trust_anchors: vec![anchor.to_vec()],
        ..HttpOptions::default()
    }
}

fn run(
    url: &str,
    card: &mut ReferenceSks,
    opts: HttpOptions,
) -> (
    Result<airtight_client::http::Completion, DriverError>,
    HttpDriver,
    Vec<u8>,
) {
    let inv = parse_invocation(url).unwrap();
    let mut mw = Middleware::new(card, session_context(&inv))
        .with_ui(Box::new(AutoUi::accept_all()))
        .with_pin_source(PinSource::Repeat(Zeroizing::new("1357".into())));
    let mut driver = HttpDriver::new(opts);
    let r = driver.run(&inv, &mut mw);
    let bound = mw.context().server_certificate.clone();
    (r, driver, bound)
}

fn issuer_root() -> Vec<u8> {
    airtight_pki::fixtures::issuer_root_ca()
        .certificate_der()
        .to_vec()
}

#[test]
fn full_enrolment_over_https_binds_the_tls_certificate() {
    let store = Arc::new(Store::in_memory().unwrap());
    let tls = identity("tls-server");
    let ee = tls.end_entity_der().to_vec();
    let server = start(store.clone(), tls, ee.clone());
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    let url = invocation_urls(server.base_url(), HANDLE).intent;
    let mut card = ReferenceSks::in_memory_for_tests(41);
    let (r, driver, bound) = run(&url, &mut card, options(&issuer_root()));
    let done = r.unwrap();
    // [KG2-HTP-010] the end-entity certificate of the connection that delivered the
    // InvocationRequest went to createProvisioningSession ...
    assert_eq!(driver.server_certificate(), Some(ee.as_slice()));
    assert_eq!(bound, ee);
    // ... and the issuer, which checks the session attestation over it ([CRY-ATT-001],
    // [CRY-ATT-005]), completed the issuance.
    assert!(done.final_page.unwrap().contains("/result/"));
    let all = store.issuances().unwrap();
    assert_eq!(all.len(), 1);
    assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_some());
}

#[test]
fn a_different_certificate_on_the_card_fails_the_session_attestation() {
    // The middleware sees (and the card attests) the certificate "tls-server", while the
    // issuer's engine knows its certificate as another, equally valid one: what a
    // TLS-terminating interceptor would cause. [KG2-HTP-010] [CRY-ATT-001] [CRY-ATT-005]
    let store = Arc::new(Store::in_memory().unwrap());
    let other = identity("tls-server-other").end_entity_der().to_vec();
    let server = start(store.clone(), identity("tls-server"), other);
    let url = invocation_urls(server.base_url(), HANDLE).intent;
    let mut card = ReferenceSks::in_memory_for_tests(42);
    let (r, _driver, _) = run(&url, &mut card, options(&issuer_root()));
    let location = match r {
        Err(DriverError::Redirected { location, .. }) => location.unwrap(),
        other => panic!("expected the issuer to refuse, got {other:?}"),
    };
    let id = location.rsplit('/').next().unwrap();
    let reason = store.error(id).unwrap().unwrap().reason;
    assert!(reason.contains("CRY-ATT-005"), "{reason}");
    assert!(store.issuances().unwrap().is_empty());
    // [KG2-HTP-005] the middleware aborted the card's session.
    assert_eq!(card.open_session_count(), 0);
    assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
}

#[test]
fn the_same_identity_with_the_right_engine_certificate_is_accepted() {
    // Control for the test above: the second identity works when the engine knows it.
    let store = Arc::new(Store::in_memory().unwrap());
    let tls = identity("tls-server-other");
    let ee = tls.end_entity_der().to_vec();
    let server = start(store.clone(), tls, ee);
    let url = invocation_urls(server.base_url(), HANDLE).intent;
    let mut card = ReferenceSks::in_memory_for_tests(43);
    run(&url, &mut card, options(&issuer_root())).0.unwrap();
    assert_eq!(store.issuances().unwrap().len(), 1);
}

#[test]
fn a_certificate_not_chaining_to_the_anchors_is_refused_before_any_sks_call() {
    let store = Arc::new(Store::in_memory().unwrap());
    let tls = identity("tls-server");
    let ee = tls.end_entity_der().to_vec();
    let server = start(store.clone(), tls, ee);
    let url = invocation_urls(server.base_url(), HANDLE).intent;
    // Trusting only the device CA, not the issuer root.
    let wrong_anchor = airtight_pki::fixtures::device_ca()
        .certificate_der()
        .to_vec();
    for opts in [options(&wrong_anchor), HttpOptions::default()] {
        let mut card = ReferenceSks::in_memory_for_tests(44);
        let (r, driver, bound) = run(&url, &mut card, opts);
        match r {
            Err(e @ DriverError::Tls { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("KG2-HTP-010"), "{msg}");
                assert!(msg.contains("refused"), "{msg}");
            }
            other => panic!("expected a TLS refusal, got {other:?}"),
        }
        // Nothing reached the card: no message was handled, no session opened.
        assert!(driver.transcript().is_empty());
        assert!(driver.server_certificate().is_none());
        assert!(bound.is_empty());
        assert_eq!(card.open_session_count(), 0);
        assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
    }
    assert!(store.issuances().unwrap().is_empty());
}

#[test]
fn a_certificate_for_another_host_name_is_refused() {
    // Chains to the anchor but names only example.com: the name check refuses it.
    use airtight_pki::{AltName, KeyKind, Profile, Serial, SigningKey};
    let mut rng = airtight_pki::fixtures::rng("tls-wrong-name");
    let key = SigningKey::generate(KeyKind::P256, &mut rng).unwrap();
    let profile = Profile {
        validity_seconds: 20 * airtight_pki::ca::YEAR,
        ..Profile::tls_server("CN=example.com", vec![AltName::Dns("example.com".into())])
    };
    let chain = airtight_pki::fixtures::issuer_ca()
        .issue_path_at(
            &key.public_key_spki_der().unwrap(),
            &profile,
            &Serial::from_u64(77).unwrap(),
            airtight_pki::fixtures::FIXTURE_NOT_BEFORE,
        )
        .unwrap();
    let tls = TlsIdentity::from_der(chain, key.to_pkcs8_der().unwrap().to_vec()).unwrap();
    let ee = tls.end_entity_der().to_vec();
    let store = Arc::new(Store::in_memory().unwrap());
    let server = start(store, tls, ee);
    let url = invocation_urls(server.base_url(), HANDLE).intent;
    let mut card = ReferenceSks::in_memory_for_tests(45);
    let (r, driver, _) = run(&url, &mut card, options(&issuer_root()));
    match r {
        Err(e @ DriverError::Tls { .. }) => {
            assert!(e.to_string().contains("not valid for name"), "{e}")
        }
        other => panic!("expected a TLS refusal, got {other:?}"),
    }
    assert!(driver.transcript().is_empty());
    assert_eq!(card.open_session_count(), 0);
}

#[test]
fn the_issuer_refuses_a_tls_identity_whose_key_does_not_match() {
    let (_, chain) = airtight_pki::fixtures::tls_server_labelled("a");
    let (other_key, _) = airtight_pki::fixtures::tls_server_labelled("b");
    let r = TlsIdentity::from_der(chain, other_key.to_pkcs8_der().unwrap().to_vec());
    assert!(r.is_err());
    assert!(TlsIdentity::from_der(Vec::new(), vec![1]).is_err());
}

#[test]
fn plain_http_start_refuses_a_tls_config_and_vice_versa() {
    let store = Arc::new(Store::in_memory().unwrap());
    let r = ServerHandle::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        let store = store.clone();
        move |base| {
            let iss = Issuer::new(&issuer_uri_of(base), Vec::new(), Policy::default());
            let config = ServerConfig {
                tls: Some(identity("tls-server")),
                ..ServerConfig::default()
            };
            AppState::new(iss, store, base, config)
        }
    });
    assert!(r.is_err());
    let r = ServerHandle::start_https(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), move |base| {
        let iss = Issuer::new(&issuer_uri_of(base), Vec::new(), Policy::default());
        AppState::new(iss, store, base, ServerConfig::default())
    });
    assert!(r.is_err());
}

/// A loopback TCP forwarder to `first` until [`Forwarder::switch`], to `second` after it.
struct Forwarder {
    /// Whether the switch happened, and the client sides of the connections to `first`; one
    /// lock, so that no connection accepted before the switch escapes the cut.
    state: Arc<Mutex<(bool, Vec<TcpStream>)>>,
    accepted: Arc<AtomicUsize>,
}

impl Forwarder {
    /// Cuts every connection to `first` (the client sees it closed) and sends the next ones
    /// to `second`.
    fn switch(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        for c in state.1.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn forwarder(listener: TcpListener, first: SocketAddr, second: SocketAddr) -> Forwarder {
    let state = Arc::new(Mutex::new((false, Vec::<TcpStream>::new())));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (st, count) = (state.clone(), accepted.clone());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let target = {
                let mut s = st.lock().unwrap();
                if s.0 {
                    second
                } else {
                    s.1.push(client.try_clone().unwrap());
                    first
                }
            };
            let Ok(upstream) = TcpStream::connect(target) else {
                return;
            };
            let (mut c1, mut u1) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut c2, mut u2) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut u1);
                let _ = u1.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(Shutdown::Write);
            });
        }
    });
    Forwarder { state, accepted }
}

/// Accepts everything; asked to confirm the keys (the card's provisioning session is open),
/// it switches the forwarder first.
struct SwitchAtKeyConfirmation {
    inner: AutoUi,
    forwarder: Arc<Forwarder>,
}

impl UserInterface for SwitchAtKeyConfirmation {
    fn consent(&mut self, request: &ConsentRequest) -> Consent {
        self.inner.consent(request)
    }
    fn confirm_keys(&mut self, summary: &KeyCreationSummary) -> Consent {
        self.forwarder.switch();
        self.inner.confirm_keys(summary)
    }
    fn collect_pin(&mut self, request: &PinRequest) -> Option<Zeroizing<String>> {
        self.inner.collect_pin(request)
    }
    fn pin_rejected(&mut self, request: &PinRequest, problem: &PinProblem) {
        self.inner.pin_rejected(request, problem)
    }
}

#[test]
fn a_certificate_changed_mid_session_aborts_the_session() {
    // The driver keeps its connection to the issuer (certificate A) alive. When the keys are
    // confirmed (the card's provisioning session is open), the forwarder cuts that connection
    // and sends the next one to another server with certificate B, equally valid for
    // 127.0.0.1. The middleware reconnects, must notice the other certificate and abort.
    // [KG2-HTP-010]
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let public = format!("https://{}", listener.local_addr().unwrap());
    let a = identity("tls-server");
    let a_ee = a.end_entity_der().to_vec();
    let store = Arc::new(Store::in_memory().unwrap());
    // A's issuerUri names the forwarder: the session attestation checked on
    // ProvisioningInitializationResponse (before the switch) is valid.
    let server_a = start_at(store.clone(), a, a_ee, Some(public.clone()));
    let b = identity("tls-server-other");
    let b_ee = b.end_entity_der().to_vec();
    let server_b = start_at(
        Arc::new(Store::in_memory().unwrap()),
        b,
        b_ee,
        Some(public.clone()),
    );
    let front = Arc::new(forwarder(listener, server_a.addr(), server_b.addr()));
    let url = invocation_urls(&public, HANDLE).intent;
    let inv = parse_invocation(&url).unwrap();
    let mut card = ReferenceSks::in_memory_for_tests(46);
    let mut mw = Middleware::new(&mut card, session_context(&inv))
        .with_ui(Box::new(SwitchAtKeyConfirmation {
            inner: AutoUi::accept_all(),
            forwarder: front.clone(),
        }))
        .with_pin_source(PinSource::Repeat(Zeroizing::new("1357".into())));
    let mut driver = HttpDriver::new(options(&issuer_root()));
    let r = driver.run(&inv, &mut mw);
    drop(mw);
    match r {
        Err(DriverError::CertificateChanged { .. }) => {}
        other => panic!("expected CertificateChanged, got {other:?}"),
    }
    assert!(front.state.lock().unwrap().0, "the forwarder was switched");
    // One kept connection to A up to the switch, then the one to B.
    assert_eq!(front.accepted.load(Ordering::SeqCst), 2);
    // Invocation-, ProvisioningInitialization- and KeyCreationRequest with their responses;
    // the KeyCreationResponse (recorded before it is sent) was refused with the connection.
    assert_eq!(driver.transcript().len(), 6);
    assert_eq!(card.open_session_count(), 0, "the SKS session was aborted");
    assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
    assert!(store.issuances().unwrap().is_empty());
}
