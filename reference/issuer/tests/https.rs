
/// A loopback TCP forwarder: connections number `0..switch_after` go to `first`, later ones to
/// `second`.
fn forwarder(first: SocketAddr, second: SocketAddr, switch_after: usize) -> SocketAddr {
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            let target = if n < switch_after { first } else { second };
            let Ok(upstream) = TcpStream::connect(target) else {
                return;
            };
            let (mut c1, mut u1) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut c2, mut u2) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut u1);
                let _ = u1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn a_certificate_changed_mid_session_aborts_the_session() {
    // Connections 1-2 (GET init, POST InvocationResponse) reach the issuer with certificate
    // A; connection 3 (POST ProvisioningInitializationResponse, the card's session is open)
    // reaches another server with certificate B, equally valid for 127.0.0.1. The middleware
    // must notice and abort. [KG2-HTP-010]
    let a = identity("tls-server");
    let a_ee = a.end_entity_der().to_vec();
    let server_a = start(Arc::new(Store::in_memory().unwrap()), a, a_ee.clone());
    let b = identity("tls-server-other");
    let b_ee = b.end_entity_der().to_vec();
    let server_b = start(Arc::new(Store::in_memory().unwrap()), b, b_ee);
    let front = forwarder(server_a.addr(), server_b.addr(), 2);
    // The engine of A signs with issuerUri of its own address; the driver posts to the
    // forwarder's address. Use A's issuerUri by building the invocation on the forwarder
    // address and an engine that expects that URI: start a third issuer for that instead.
    let store = Arc::new(Store::in_memory().unwrap());
    drop(server_a);
    let base = format!("https://{front}");
    let tls = identity("tls-server");
    let server_a = ServerHandle::start_https(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        let store = store.clone();
        let base = base.clone();
        move |_| {
            let mut iss = Issuer::new(&issuer_uri_of(&base), a_ee, Policy::default());
            iss.ca = Some(airtight_pki::fixtures::issuer_ca());
            iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
            let config = ServerConfig {
                tls: Some(tls),
                ..ServerConfig::default()
            };
            Ok(AppState::new(iss, store, &base, config)?.with_seed(4))
        }
    })
    .unwrap();
    let _ = server_a.addr();
    let front = forwarder(server_a.addr(), server_b.addr(), 2);
    let base = format!("https://{front}");
    let _ = base;
    let url = invocation_urls(&format!("https://{front}"), HANDLE).intent;
    let mut card = ReferenceSks::in_memory_for_tests(46);
    let (r, driver, _) = run(&url, &mut card, options(&issuer_root()));
    match r {
        Err(DriverError::CertificateChanged { .. }) => {}
        other => panic!("expected CertificateChanged, got {other:?}"),
    }
    assert_eq!(driver.transcript().len(), 4, "failed at the third request");
    assert_eq!(card.open_session_count(), 0, "the SKS session was aborted");
    assert!(store.issuances().unwrap().is_empty());
}
