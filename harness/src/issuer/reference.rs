//! The reference issuer on loopback, as a target for the issuer catalog (the CLI's
//! `airtight harness issuer --reference`, the self-test and CI).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airtight_issuer::db::Store;
use airtight_issuer::http::{
    AppState, ServerConfig, ServerHandle, StoreRetention, TlsIdentity, invocation_urls,
    issuer_uri_of,
};
use airtight_issuer::{Faults, Issuer, Policy};

/// How to run the reference issuer for the harness.
#[derive(Debug, Clone)]
pub struct ReferenceOptions {
    /// `sessionLifeTime`, seconds (short, so that the lifetime case can run).
    pub life_time: u16,
    /// Header read timeout of the server.
    pub header_timeout: Duration,
    /// Request timeout (body included).
    pub request_timeout: Duration,
    /// Deliberate faults (test builds with the `faults` feature only).
    pub faults: Faults,
    /// Serve HTTPS with the test TLS server identity (`airtight-pki` fixtures; 127.0.0.1).
    pub tls: bool,
    /// Run credential discovery in every session (a lookup of the user's authentication keys,
    /// with a key-management key), so that the `issuer.discovery.*` cases apply.
    pub discovery: bool,
    /// Request privacy mode (the privacy-mode cases apply; the E2ES-only ones do not).
    pub privacy: bool,
    /// The base URL clients reach the issuer at (`http://host:port`), when that is not the
    /// address it listens on: e.g. a proxy in front of it. The invocation URL and `issuerUri`
    /// name this URL.
    pub public_url: Option<String>,
}

impl Default for ReferenceOptions {
    fn default() -> Self {
        ReferenceOptions {
            life_time: 5,
            header_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            faults: Faults::default(),
            tls: false,
            discovery: true,
            privacy: false,
            public_url: None,
        }
    }
}

impl ReferenceOptions {
    /// A slow-client budget that outlasts the server's timeouts (milliseconds).
    pub fn slow_client_ms(&self) -> u64 {
        let longest = self.header_timeout.max(self.request_timeout);
        u64::try_from(longest.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1500)
    }
}

/// The running reference issuer.
#[derive(Debug)]
pub struct RunningReference {
    /// The server (stop it with [`ServerHandle::shutdown`]).
    pub server: ServerHandle,
    /// An invocation URL (`intent://keygen2?…`) with a cookie and a cancel URL.
    pub invocation_url: String,
    /// The trust anchor (DER) of its TLS certificate when it serves HTTPS.
    pub trust_anchors: Vec<Vec<u8>>,
}

/// Starts the reference issuer on `127.0.0.1:<free port>` with the default policy plus a
/// capability query (P-256, biometric support), a second key and (by default) credential
/// discovery, the test issuer CA and the test device anchor, an in-memory store, and `options`.
pub fn start(options: &ReferenceOptions) -> Result<RunningReference, String> {
    let bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let opts = options.clone();
    let (tls, trust_anchors) = if options.tls {
        let (key, chain) = airtight_pki::fixtures::tls_server();
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| format!("TLS fixture key: {e}"))?;
        let anchors: Vec<Vec<u8>> = chain.last().cloned().into_iter().collect();
        let id = TlsIdentity::from_der(chain, pkcs8.to_vec())
            .map_err(|e| format!("TLS fixture identity: {e}"))?;
        (Some(id), anchors)
    } else {
        (None, Vec::new())
    };
    let make = move |listening: &str| {
        let base = opts.public_url.as_deref().unwrap_or(listening);
        let mut policy = Policy::default();
        policy.session.life_time = opts.life_time;
        policy.privacy_enabled = opts.privacy;
        // A capability query (algorithm and feature) and a second key, so that the capability
        // and key-order cases have something to work on.
        policy.capability_query = vec![
            "https://webpki.github.io/sks/algorithm#ec.nist.p256".into(),
            "https://webpki.github.io/keygen2/feature#biometric-support".into(),
        ];
        if let Some(first) = policy.key.first().cloned() {
            let mut second = first;
            second.id = "Key.2".into();
            policy.key.push(second);
        }
        if opts.discovery {
            policy.discovery.enabled = true;
            policy.discovery.lookup = vec![airtight_issuer::policy::LookupPolicy {
                id: "Lookup.1".into(),
                app_usage: Some("authentication".into()),
                ..Default::default()
            }];
        }
        let mut issuer = Issuer::new(&issuer_uri_of(base), Vec::new(), policy);
        issuer.ca = Some(airtight_pki::fixtures::issuer_ca());
        issuer.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
        issuer.faults = opts.faults.clone();
        if opts.discovery {
            // A fixed key-management key (lookups are signed with it).
            use rand_core::SeedableRng;
            issuer.kmk = Some(airtight_proto::keys::PrivateKey::generate_ec(
                airtight_proto::keys::Curve::P256,
                &mut rand_chacha::ChaCha20Rng::seed_from_u64(0x006b_6d6b),
            ));
        }
        if let Some(id) = &tls {
            // [KG2-HTP-010] the session binds the certificate the middleware sees.
            issuer.server_certificate = id.end_entity_der().to_vec();
        }
        let store = Arc::new(Store::in_memory()?);
        let config = ServerConfig {
            header_read_timeout: opts.header_timeout,
            request_timeout: opts.request_timeout,
            connection_lifetime: Duration::from_secs(60),
            tls: tls.clone(),
            // Prune what never completed as soon as it is past every deadline (2 × the short
            // lifetime), every second: a hostile start flood shows the store staying bounded.
            retention: StoreRetention {
                sweep_interval: Duration::from_secs(1),
                failed_sessions: Duration::ZERO,
                errors: Duration::from_secs(60),
                max_errors: 10_000,
            },
            ..ServerConfig::default()
        };
        AppState::new(issuer, store, base, config)
    };
    let server = if options.tls {
        ServerHandle::start_https(bind, make)
    } else {
        ServerHandle::start(bind, make)
    }
    .map_err(|e| format!("cannot start the reference issuer: {e}"))?;
    let base = options
        .public_url
        .as_deref()
        .unwrap_or_else(|| server.base_url());
    let invocation_url = invocation_urls(base, "harnessInvocation0000000000000000").intent;
    Ok(RunningReference {
        server,
        invocation_url,
        trust_anchors,
    })
}
