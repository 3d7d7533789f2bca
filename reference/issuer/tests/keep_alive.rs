//! The middleware's HTTP driver keeps one connection alive for a whole session, over plain
//! HTTP and over HTTPS: a counting TCP relay in front of the issuer sees exactly one accepted
//! connection for the InvocationRequest, every POST and the final result page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use airtight_card::ReferenceSks;
use airtight_client::engine::Middleware;
use airtight_client::http::{HttpDriver, HttpOptions, session_context};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_client::url::parse_invocation;
use airtight_issuer::db::{IssuerStore as _, Store};
use airtight_issuer::http::{
    AppState, ServerConfig, ServerHandle, TlsIdentity, invocation_urls, issuer_uri_of,
};
use airtight_issuer::{Issuer, Policy};
use zeroize::Zeroizing;

const HANDLE: &str = "keepalivesessionhandle0000000001";

/// A loopback relay to `target` that counts the connections it accepts.
struct Relay {
    accepted: Arc<AtomicUsize>,
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn relay(target: SocketAddr, listener: TcpListener) -> Relay {
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client, server));
            std::thread::spawn(move || pump(s2, c2));
        }
    });
    Relay { accepted }
}

/// Starts the issuer (HTTPS with `tls`), with its public base URL on a relay in front of it.
fn issuer_behind_relay(tls: Option<TlsIdentity>) -> (ServerHandle, Relay, Arc<Store>, String) {
    let store = Arc::new(Store::in_memory().unwrap());
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public = format!("{scheme}://{}", listener.local_addr().unwrap());
    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let https = tls.is_some();
    let make = {
        let store = store.clone();
        let public = public.clone();
        move |_own: &str| {
            let cert = tls
                .as_ref()
                .map(|t| t.end_entity_der().to_vec())
                .unwrap_or_default();
            let mut iss = Issuer::new(&issuer_uri_of(&public), cert, Policy::default());
            iss.ca = Some(airtight_pki::fixtures::issuer_ca());
            iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
            let config = ServerConfig {
                tls,
                ..ServerConfig::default()
            };
            Ok(AppState::new(iss, store, &public, config)?.with_seed(5))
        }
    };
    let server = if https {
        ServerHandle::start_https(bind, make).unwrap()
    } else {
        ServerHandle::start(bind, make).unwrap()
    };
    let r = relay(server.addr(), listener);
    (server, r, store, public)
}

fn enrol(public: &str, options: HttpOptions) -> HttpDriver {
    let url = invocation_urls(public, HANDLE).intent;
    let inv = parse_invocation(&url).unwrap();
    let mut card = ReferenceSks::in_memory_for_tests(43);
    let mut mw = Middleware::new(&mut card, session_context(&inv))
        .with_ui(Box::new(AutoUi::accept_all()))
        .with_pin_source(PinSource::Repeat(Zeroizing::new("1357".into())));
    let mut driver = HttpDriver::new(options);
    let done = driver.run(&inv, &mut mw).unwrap();
    // The session ran to the result page, which was fetched too.
    assert!(done.final_page.unwrap().contains("/result/"));
    assert_eq!(done.final_status, Some(200));
    driver
}

#[test]
fn one_https_connection_carries_the_whole_session() {
    let (key, chain) = airtight_pki::fixtures::tls_server();
    let tls = TlsIdentity::from_der(chain, key.to_pkcs8_der().unwrap().to_vec()).unwrap();
    let (_server, relay, store, public) = issuer_behind_relay(Some(tls));
    let root = airtight_pki::fixtures::issuer_root_ca()
        .certificate_der()
        .to_vec();
    let driver = enrol(
        &public,
        HttpOptions {
            trust_anchors: vec![root],
            ..HttpOptions::default()
        },
    );
    // GET init, four POSTs and the result page: more than one request ...
    assert!(driver.transcript().len() >= 6);
    assert_eq!(store.issuances().unwrap().len(), 1);
    // ... over one connection.
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn one_plain_http_connection_carries_the_whole_session() {
    let (_server, relay, store, public) = issuer_behind_relay(None);
    let driver = enrol(&public, HttpOptions::default());
    assert!(driver.transcript().len() >= 6);
    assert_eq!(store.issuances().unwrap().len(), 1);
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 1);
}
