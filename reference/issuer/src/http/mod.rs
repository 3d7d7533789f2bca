//! The issuer's HTTP server (axum on tokio): the KeyGen2 HTTP binding (`spec/keygen2.md` §5,
//! §6) in front of the sans-IO [`Issuer`] engine, with the [`IssuerStore`] for state.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | landing page: the invocation in three forms (the browser extension's `data-keygen2` element, a `keygen2:` link for the desktop scheme handler, the Android `intent://keygen2?…` link; `spec/browser.md`), following `/status/<invitation>` |
//! | `GET /status/<invitation>` | JSON: the state of the session started with this landing page's invitation (`waiting`, `running`, `done`, `failed`) and the page to show (`location`) |
//! | `GET /keygen2?init=true` | starts a session and returns the InvocationRequest ([KG2-HTP-001], [KG2-HTP-003]) |
//! | `POST /keygen2` | one middleware message in (`application/json`), the next request out ([KG2-HTP-002]) |
//! | `GET /keygen2?abort=true` | the cancel URL ([KG2-URL-003]): ends the session |
//! | `GET /result/<id>` | the result page after a verified close ([KG2-HTP-006]) |
//! | `GET /error/<id>` | the error page ([KG2-HTP-008]) |
//!
//! # Sessions
//!
//! The session is named by the cookie [`COOKIE_NAME`], whose value the issuer always chooses
//! itself: every `GET /keygen2?init=true` starts a session under a fresh random id sent in
//! `Set-Cookie` (the proxy keeps it, [KG2-HTP-009]). A cookie the client brings to the init
//! URL is never adopted (no session fixation): the landing page's invitation cookie, a planted
//! value or one left from an earlier, finished session all get a fresh session; only the
//! cookie of a session that is still open ends that session ([KG2-ISS-006], the same
//! invocation fetched twice). A POST whose cookie names no session is matched by its
//! `serverSessionId` instead (which the engine checks anyway, [KG2-FLW-002]). The engine state
//! is stored after every step, so a session survives an issuer restart.
//!
//! # Errors
//!
//! Any failure (engine error, wrong content type, body over the limit, unknown or finished
//! session, a concurrent or replayed message, timeout) ends the session, is logged with its
//! reason (`tracing`, target `airtight_issuer::http`), recorded, and answered with a 302 to
//! `/error/<id>`, whose page shows the reason ([KG2-HTP-008]). Nothing is issued.
//!
//! # HTTPS
//!
//! With [`ServerConfig::tls`] set, every accepted connection first completes a TLS handshake
//! (tokio-rustls, ring provider; bounded by the header-read timeout) and is then served like a
//! plain one. The engine must be built with the end-entity certificate as its
//! `server_certificate` ([`TlsIdentity::end_entity_der`]): the session attestation binds the
//! certificate the middleware saw ([KG2-HTP-010]).
//!
//! # Bounds
//!
//! Request headers must arrive within [`ServerConfig::header_read_timeout`], a body within
//! [`ServerConfig::body_read_timeout`], each request is answered within
//! [`ServerConfig::request_timeout`], a connection lives at most
//! [`ServerConfig::connection_lifetime`], at most [`ServerConfig::max_connections`] are served
//! at once and at most [`ServerConfig::max_connections_per_client`] from one peer address
//! (more are answered `503` and closed, and logged), and bodies are limited to
//! [`ServerConfig::max_body_bytes`] ([KG2-IMP-009]): a request that announces a larger
//! `Content-Length` is refused at once, before any of its body is read, and its connection
//! closed.

mod handlers;
pub mod pages;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::db::{DbError, IssuerStore};
use crate::engine::Issuer;

/// The cookie that names a session.
pub const COOKIE_NAME: &str = "airtight_session";

/// The proxy versions this issuer accepts (`ver` of the invocation URL, [KG2-URL-002]).
pub const PROXY_VERSIONS: (u32, u32) = (1, 1);

/// The path of the KeyGen2 endpoint (init, POST and cancel).
pub const KEYGEN2_PATH: &str = "/keygen2";

/// Server limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest accepted request body ([KG2-IMP-009]; the engine's own limit applies too).
    pub max_body_bytes: usize,
    /// Longest time to answer one request (reading the body included).
    pub request_timeout: Duration,
    /// Longest time for a request body to arrive once the headers are in (at most
    /// `request_timeout`): KeyGen2 bodies are a few kilobytes, so a client that takes longer
    /// is cut off ([KG2-IMP-011]).
    pub body_read_timeout: Duration,
    /// Longest time for the request headers to arrive.
    pub header_read_timeout: Duration,
    /// Longest life of one connection (keep-alive included).
    pub connection_lifetime: Duration,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// Connections served at once for one client (one peer IP address). A further connection
    /// from that address is answered `503` (with `Retry-After`) and closed at once, and the
    /// limit is logged (warning, target `airtight_issuer::http`): a few slow or idle clients
    /// cannot take the whole [`ServerConfig::max_connections`].
    pub max_connections_per_client: usize,
    /// Serve HTTPS with this identity; `None`: plain HTTP.
    pub tls: Option<TlsIdentity>,
    /// How long the store keeps what never completed (a flood of session starts, refused
    /// requests): the periodic sweep's interval and bounds.
    pub retention: StoreRetention,
}

/// What the periodic sweep keeps: every [`StoreRetention::sweep_interval`] it ends the open
/// sessions past any possible deadline ([KG2-IMP-006]) and prunes the store
/// ([`IssuerStore::prune`]). Completed sessions and their issuances are never deleted. Under
/// a flood of session starts that never go on, the sessions held are therefore bounded by
/// the start rate × (2 × session lifetime + [`StoreRetention::failed_sessions`] + the sweep
/// interval), and the error records by [`StoreRetention::max_errors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRetention {
    /// How often the sweep runs.
    pub sweep_interval: Duration,
    /// How long a failed session (error, cancel, expiry) is kept past the latest deadline any
    /// session has (twice the session lifetime after its start), for `issuer list --all`.
    pub failed_sessions: Duration,
    /// How long an error record (the error page) is kept.
    pub errors: Duration,
    /// At most this many error records are kept (the newest).
    pub max_errors: u64,
}

impl Default for StoreRetention {
    fn default() -> Self {
        StoreRetention {
            sweep_interval: Duration::from_secs(60),
            failed_sessions: Duration::from_secs(3600),
            errors: Duration::from_secs(24 * 3600),
            max_errors: 100_000,
        }
    }
}

impl StoreRetention {
    /// What to prune at `now` for sessions of lifetime `life` seconds.
    pub fn prune_at(&self, now: i64, life: i64) -> crate::db::Prune {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        crate::db::Prune {
            failed_created_before: now
                .saturating_sub(life.saturating_mul(2))
                .saturating_sub(secs(self.failed_sessions)),
            errors_before: now.saturating_sub(secs(self.errors)),
            max_errors: self.max_errors,
        }
    }
}

/// The TLS server identity: certificate chain (end-entity first) and private key.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    chain: Vec<Vec<u8>>,
    key: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// From DER: the chain (end-entity first, then intermediates) and a PKCS#8 private key.
    /// Checks that rustls accepts them and that the key matches the certificate.
    pub fn from_der(chain: Vec<Vec<u8>>, pkcs8_key: Vec<u8>) -> Result<Self, ServerError> {
        if chain.is_empty() {
            return Err(ServerError::Tls("empty certificate chain".into()));
        }
        let id = TlsIdentity {
            chain,
            key: zeroize::Zeroizing::new(pkcs8_key),
        };
        id.server_config()?;
        Ok(id)
    }

    /// From PEM text: `CERTIFICATE` blocks (end-entity first) and one private key block
    /// (`PRIVATE KEY`, PKCS#8).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, ServerError> {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .map(|c| c.map(|c| c.as_ref().to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServerError::Tls(format!("certificate chain PEM: {e}")))?;
        let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem)
            .map_err(|e| ServerError::Tls(format!("private key PEM (PKCS#8 expected): {e}")))?;
        Self::from_der(chain, key.secret_pkcs8_der().to_vec())
    }

    /// DER of the end-entity certificate: what the issuer engine gets as its
    /// `server_certificate` ([KG2-HTP-010]).
    pub fn end_entity_der(&self) -> &[u8] {
        self.chain.first().map_or(&[], Vec::as_slice)
    }

    /// The certificate chain (DER, end-entity first).
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The rustls server configuration (HTTP/1.1 only).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, ServerError> {
        use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = self
            .chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.to_vec()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            // Short enough that a few slow clients cannot hold the connection cap for long;
            // an honest client sends its headers and a KeyGen2 body at once.
            body_read_timeout: Duration::from_secs(4),
            header_read_timeout: Duration::from_secs(4),
            connection_lifetime: Duration::from_secs(300),
            max_connections: 256,
            max_connections_per_client: 64,
            tls: None,
            retention: StoreRetention::default(),
        }
    }
}

/// Why the server could not start or stop.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Socket or runtime I/O.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The store.
    #[error("store: {0}")]
    Db(#[from] DbError),
    /// The OS entropy source failed.
    #[error("entropy: {0}")]
    Entropy(String),
    /// The server task failed.
    #[error("server task: {0}")]
    Task(String),
    /// The TLS identity is unusable.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The issuer's clock (the workspace's one clock seam, `airtight_proto::time::Clock`).
pub type Clock = Arc<dyn airtight_proto::time::Clock>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(airtight_proto::time::SystemClock)
}

/// Everything a request handler needs.
pub struct AppState {
    issuer: Issuer,
    store: Arc<dyn IssuerStore>,
    config: ServerConfig,
    clock: Clock,
    rng: Mutex<ChaCha20Rng>,
    base_url: String,
    invitations: Mutex<Invitations>,
}

/// The invitations of the landing pages served (the invocation's cookie value) and the
/// session each one started, so that a landing page can follow its session
/// (`GET /status/<invitation>`). Kept in memory, at most [`Invitations::CAPACITY`] (the
/// oldest are forgotten first).
#[derive(Debug, Default)]
pub struct Invitations {
    order: std::collections::VecDeque<String>,
    started: std::collections::HashMap<String, Option<String>>,
}

impl Invitations {
    /// How many invitations are remembered.
    pub const CAPACITY: usize = 10_000;

    fn add(&mut self, invitation: &str) {
        while self.order.len() >= Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.started.remove(&old);
            }
        }
        self.order.push_back(invitation.to_owned());
        self.started.insert(invitation.to_owned(), None);
    }

    /// Records that `invitation` started the session `handle`; false if it is not known.
    fn start(&mut self, invitation: &str, handle: &str) -> bool {
        match self.started.get_mut(invitation) {
            Some(s) => {
                *s = Some(handle.to_owned());
                true
            }
            None => false,
        }
    }

    /// `None`: unknown; `Some(None)`: not used yet; `Some(Some(h))`: started session `h`.
    fn session(&self, invitation: &str) -> Option<Option<String>> {
        self.started.get(invitation).cloned()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer_uri", &self.issuer.issuer_uri)
            .field("store", &self.store.location())
            .field("config", &self.config)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state for an issuer reachable at `base_url` (e.g. `http://127.0.0.1:8080`); the
    /// issuer's `issuer_uri` should be [`issuer_uri_of`]`(base_url)`. Randomness is seeded
    /// once from the operating system; the clock is the system clock.
    pub fn new(
        issuer: Issuer,
        store: Arc<dyn IssuerStore>,
        base_url: &str,
        config: ServerConfig,
    ) -> Result<Self, ServerError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ServerError::Entropy(e.to_string()))?;
        let rng = ChaCha20Rng::from_seed(seed);
        seed.fill(0);
        Ok(AppState {
            issuer,
            store,
            config,
            clock: system_clock(),
            rng: Mutex::new(rng),
            base_url: base_url.trim_end_matches('/').to_owned(),
            invitations: Mutex::new(Invitations::default()),
        })
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the randomness with a seeded generator (tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = Mutex::new(ChaCha20Rng::seed_from_u64(seed));
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn IssuerStore> {
        &self.store
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The issuer engine.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// A generator for one request, split off the shared one.
    fn request_rng(&self) -> Option<ChaCha20Rng> {
        let mut g = self.rng.lock().ok()?;
        let mut seed = [0u8; 32];
        g.fill_bytes(&mut seed);
        Some(ChaCha20Rng::from_seed(seed))
    }

    /// A fresh random token (session handles, error ids): 32 Base64URL characters.
    fn token(&self) -> Option<String> {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut rng = self.request_rng()?;
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Some(
            b.iter()
                .map(|x| char::from(ALPHABET[usize::from(x & 0x3f)]))
                .collect(),
        )
    }

    fn now(&self) -> airtight_proto::time::UnixTime {
        self.clock.now()
    }
}

/// The URLs of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationUrls {
    /// The URL to GET for the InvocationRequest.
    pub init: String,
    /// The URL to POST to (`issuerUri`).
    pub url: String,
    /// The cancel URL.
    pub cancel: String,
    /// `NAME=value` of the session cookie.
    pub cookie: String,
    /// The whole `intent://keygen2?…` invocation URL ([KG2-URL-001]).
    pub intent: String,
    /// The desktop form `keygen2:?…` with the same five parameters (`spec/browser.md`).
    pub keygen2: String,
    /// The invitation (the cookie value), which names the status URL.
    pub invitation: String,
}

/// Query-component encoding: everything but unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The invocation URLs of the issuer at `base_url` for the session cookie value `handle`.
pub fn invocation_urls(base_url: &str, handle: &str) -> InvocationUrls {
    let base = base_url.trim_end_matches('/');
    let url = format!("{base}{KEYGEN2_PATH}");
    let init = format!("{url}?init=true");
    let cancel = format!("{url}?abort=true");
    let cookie = format!("{COOKIE_NAME}={handle}");
    let enc = |s: &str| utf8_percent_encode(s, QUERY).to_string();
    let query = format!(
        "cookie={}&init={}&url={}&cncl={}&ver={}-{}",
        enc(&cookie),
        enc(&init),
        enc(&url),
        enc(&cancel),
        PROXY_VERSIONS.0,
        PROXY_VERSIONS.1
    );
    let intent = format!(
        "intent://keygen2?{query}#Intent;scheme=webpkiproxy;package=org.webpki.mobile.android;end"
    );
    InvocationUrls {
        init,
        url,
        cancel,
        cookie,
        intent,
        keygen2: format!("keygen2:?{query}"),
        invitation: handle.to_owned(),
    }
}

/// `http://<addr>` for a bound address.
pub fn base_url_of(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// `https://<addr>` for a bound address served with TLS.
pub fn https_base_url_of(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

/// The KeyGen2 endpoint (`issuerUri`) of the issuer at `base_url`.
pub fn issuer_uri_of(base_url: &str) -> String {
    format!("{}{KEYGEN2_PATH}", base_url.trim_end_matches('/'))
}

/// The router of the issuer.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(handlers::landing))
        .route(
            KEYGEN2_PATH,
            get(handlers::get_keygen2).post(handlers::post_keygen2),
        )
        .route("/status/{invitation}", get(handlers::status))
        .route("/result/{id}", get(handlers::result_page))
        .route("/error/{id}", get(handlers::error_page))
        .fallback(handlers::not_found)
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes; then stops accepting, lets the
/// open connections finish (bounded by the connection lifetime) and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut config = state.config.clone();
    if state.issuer.faults.has(crate::IssuerFault::NoHeaderTimeout) {
        // Deliberate fault (harness self-test builds only): a day instead of the bound.
        config.header_read_timeout = Duration::from_secs(86_400);
    }
    let acceptor = match &config.tls {
        Some(id) => Some(tokio_rustls::TlsAcceptor::from(
            id.server_config()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        )),
        None => None,
    };
    let app = router(state.clone());
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let clients = Clients::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(sweep_expired(state.clone(), stop_rx.clone()));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => match a {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = clients.take(peer.ip(), config.max_connections_per_client) else {
            // Over the per-client limit: a short 503 on plain HTTP, then close (no handshake
            // on HTTPS: the connection is closed).
            let plain = acceptor.is_none();
            tasks.spawn(async move {
                let _permit = permit;
                if plain {
                    refuse_busy(stream).await;
                }
            });
            continue;
        };
        let svc = TowerToHyperService::new(app.clone());
        let cfg = config.clone();
        let mut stop = stop_rx.clone();
        let acceptor = acceptor.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let _slot = slot;
            match acceptor {
                None => serve_connection(stream, svc, &cfg, &mut stop, peer).await,
                Some(acceptor) => {
                    // The handshake counts against the header-read timeout.
                    match tokio::time::timeout(cfg.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => serve_connection(tls, svc, &cfg, &mut stop, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    let grace = config.request_timeout + Duration::from_secs(1);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    Ok(())
}

/// Ends, every [`StoreRetention::sweep_interval`], the open sessions that are past any
/// possible deadline: a session created at `t` must send its
/// ProvisioningInitializationRequest by `t + life` and then expires at the latest at
/// `t + 2 * life` ([KG2-IMP-006]). Their secrets are wiped. Then prunes the store
/// ([`StoreRetention`]).
async fn sweep_expired(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let every = state
        .config
        .retention
        .sweep_interval
        .max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let st = state.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let now = st.now().secs();
            let life = i64::from(st.issuer.policy.session.life_time);
            st.store.expire_open_sessions(now - 2 * life, now)
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(sessions = n, "expired open sessions ended"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not end expired sessions"),
            Err(e) => tracing::warn!(error = %e, "session sweep task failed"),
        }
        prune_store(&state).await;
    }
}

/// Deletes what [`StoreRetention`] no longer keeps.
async fn prune_store(state: &Arc<AppState>) {
    let st = state.clone();
    let pruned = tokio::task::spawn_blocking(move || {
        let life = i64::from(st.issuer.policy.session.life_time);
        let p = st.config.retention.prune_at(st.now().secs(), life);
        st.store.prune(&p)
    })
    .await;
    match pruned {
        Ok(Ok(p)) if p == crate::db::Pruned::default() => {}
        Ok(Ok(p)) => tracing::info!(
            sessions = p.sessions,
            errors = p.errors,
            "store pruned (failed sessions and error records past retention)"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not prune the store"),
        Err(e) => tracing::warn!(error = %e, "store prune task failed"),
    }
}

/// The connections open per peer address, for [`ServerConfig::max_connections_per_client`].
#[derive(Debug, Clone, Default)]
struct Clients(Arc<Mutex<std::collections::HashMap<std::net::IpAddr, ClientCount>>>);

#[derive(Debug, Default)]
struct ClientCount {
    open: usize,
    /// Connections refused since the address was last under its limit.
    refused: u64,
}

/// One connection counted against its peer address; released when dropped.
#[derive(Debug)]
struct ClientSlot {
    clients: Clients,
    ip: std::net::IpAddr,
}

impl Clients {
    /// Counts a new connection from `ip`, or `None` (logged) when `ip` has `limit` open.
    fn take(&self, ip: std::net::IpAddr, limit: usize) -> Option<ClientSlot> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = map.entry(ip).or_default();
        if c.open >= limit.max(1) {
            c.refused += 1;
            // The first refusal of a burst and then every power of two: clear, not a flood.
            if c.refused.is_power_of_two() {
                tracing::warn!(
                    client = %ip,
                    open = c.open,
                    limit,
                    refused = c.refused,
                    "client limited: too many connections from one address                      (max_connections_per_client); refused with 503"
                );
            }
            return None;
        }
        if c.refused > 0 {
            tracing::info!(client = %ip, refused = c.refused, "client back under its connection limit");
            c.refused = 0;
        }
        c.open += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip`.
    #[cfg(test)]
    fn open(&self, ip: std::net::IpAddr) -> usize {
        self.0
            .lock()
            .map(|m| m.get(&ip).map_or(0, |c| c.open))
            .unwrap_or(0)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self
            .clients
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = map.get_mut(&self.ip) {
            c.open = c.open.saturating_sub(1);
            if c.open == 0 {
                // Forget the address: the map holds only clients with open connections.
                map.remove(&self.ip);
            }
        }
    }
}

/// Answers a connection over its client's limit: `503` with `Retry-After`, then closes it
/// (bounded: a client that does not read is dropped after a second).
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt as _;
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
        Content-Type: text/plain\r\nContent-Length: 45\r\nConnection: close\r\n\r\n\
        too many connections from this client address";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Serves one (plain or TLS) connection until it ends, its lifetime is reached, or the server
/// stops.
async fn serve_connection<I>(
    io: I,
    svc: TowerToHyperService<Router>,
    cfg: &ServerConfig,
    stop: &mut watch::Receiver<bool>,
    peer: SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let deadline = tokio::time::sleep(cfg.connection_lifetime);
    tokio::pin!(deadline);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = &mut deadline => {
            tracing::debug!(%peer, "connection lifetime reached");
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(cfg.request_timeout, conn).await;
        }
    }
}

/// A server running on its own tokio runtime, for synchronous callers (the CLI, tests).
/// Dropping it stops the server. Inside an async context use [`serve`] instead:
/// [`ServerHandle::start`] refuses to run there.
pub struct ServerHandle {
    addr: SocketAddr,
    base_url: String,
    state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Binds `bind` (port 0 picks a free port), builds the state with `make_state(base_url)`
    /// and serves it on a new runtime (plain HTTP: the state's config must have no TLS).
    pub fn start(
        bind: SocketAddr,
        make_state: impl FnOnce(&str) -> Result<AppState, ServerError>,
    ) -> Result<Self, ServerError> {
        Self::start_scheme(bind, false, make_state)
    }

    /// Like [`ServerHandle::start`] for HTTPS: `base_url` is `https://<addr>` and the state's
    /// [`ServerConfig::tls`] must be set (build the engine with
    /// [`TlsIdentity::end_entity_der`] as its server certificate, [KG2-HTP-010]).
    pub fn start_https(
        bind: SocketAddr,
        make_state: impl FnOnce(&str) -> Result<AppState, ServerError>,
    ) -> Result<Self, ServerError> {
        Self::start_scheme(bind, true, make_state)
    }

    fn start_scheme(
        bind: SocketAddr,
        https: bool,
        make_state: impl FnOnce(&str) -> Result<AppState, ServerError>,
    ) -> Result<Self, ServerError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(ServerError::Task(
                "ServerHandle::start inside a tokio runtime; use http::serve".into(),
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("airtight-issuer")
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(bind))?;
        let addr = listener.local_addr()?;
        let base_url = if https {
            https_base_url_of(addr)
        } else {
            base_url_of(addr)
        };
        let state = Arc::new(make_state(&base_url)?);
        if state.config.tls.is_some() != https {
            return Err(ServerError::Tls(format!(
                "base URL {base_url} but TLS {}",
                if https {
                    "not configured"
                } else {
                    "configured"
                }
            )));
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, "issuer listening");
        Ok(ServerHandle {
            addr,
            base_url,
            state,
            stop: Some(stop),
            task: Some(task),
            runtime: Some(runtime),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (or `https://<addr>`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The shared state (store, issuer).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops the server and waits for it.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), ServerError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking here would panic: let the runtime wind down in the background.
            if let Some(rt) = self.runtime.take() {
                rt.shutdown_background();
            }
            return Ok(());
        }
        let mut result = Ok(());
        if let (Some(rt), Some(task)) = (self.runtime.as_ref(), self.task.take()) {
            let limit = self.state.config.request_timeout + Duration::from_secs(5);
            result = match rt.block_on(async { tokio::time::timeout(limit, task).await }) {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(e))) => Err(ServerError::Io(e)),
                Ok(Err(e)) => Err(ServerError::Task(e.to_string())),
                Err(_) => Err(ServerError::Task("shutdown timed out".into())),
            };
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::warn!(error = %e, "issuer shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_desktop_form_equals_the_intent() {
        // spec/browser.md: the keygen2: URL carries the intent's five parameters.
        let u = invocation_urls("http://127.0.0.1:18080", "abcDEF0123456789_-xyz");
        let a = airtight_client::url::parse_invocation(&u.keygen2).unwrap();
        let b = airtight_client::url::parse_invocation(&u.intent).unwrap();
        assert_eq!(a, b);
        assert_eq!(u.invitation, "abcDEF0123456789_-xyz");
    }

    #[test]
    fn invitations_are_bounded_and_follow_their_session() {
        let mut inv = Invitations::default();
        assert!(!inv.start("unknown", "S"));
        inv.add("first");
        assert_eq!(inv.session("first"), Some(None));
        assert!(inv.start("first", "S1"));
        assert_eq!(inv.session("first"), Some(Some("S1".to_owned())));
        for i in 0..Invitations::CAPACITY {
            inv.add(&format!("i{i}"));
        }
        // The oldest is forgotten first; the count never passes the capacity.
        assert_eq!(inv.session("first"), None);
        assert_eq!(inv.started.len(), Invitations::CAPACITY);
        assert_eq!(inv.session("i0"), Some(None));
    }

    #[test]
    fn invocation_url_carries_every_parameter() {
        let u = invocation_urls("http://127.0.0.1:18080/", "abcDEF0123456789_-xyz");
        assert_eq!(u.url, "http://127.0.0.1:18080/keygen2");
        assert_eq!(u.init, "http://127.0.0.1:18080/keygen2?init=true");
        assert_eq!(u.cancel, "http://127.0.0.1:18080/keygen2?abort=true");
        // [KG2-URL-001] the middleware's parser finds all five parameters, decoded.
        let parsed = airtight_client::url::parse_invocation(&u.intent).unwrap();
        assert_eq!(parsed.init_url, u.init);
        assert_eq!(parsed.issuer_url.as_deref(), Some(u.url.as_str()));
        assert_eq!(parsed.cancel_url.as_deref(), Some(u.cancel.as_str()));
        assert_eq!(
            parsed.cookie.as_deref(),
            Some("airtight_session=abcDEF0123456789_-xyz")
        );
        assert_eq!(parsed.version, Some(PROXY_VERSIONS));
        // The example of the spec's section 6 (recorded loopback issuer).
        assert!(
            u.intent
                .contains("init=http%3A%2F%2F127.0.0.1%3A18080%2Fkeygen2%3Finit%3Dtrue")
        );
        assert!(
            u.intent
                .contains("&url=http%3A%2F%2F127.0.0.1%3A18080%2Fkeygen2&")
        );
    }

    /// One `GET` over a fresh connection; the status code.
    fn get_status(addr: SocketAddr, path: &str) -> u16 {
        use std::io::{Read as _, Write as _};
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        text.split(' ').nth(1).unwrap().parse().unwrap()
    }

    /// A plain server with `config` and the default policy on a free loopback port.
    fn plain_server(config: ServerConfig) -> ServerHandle {
        let store = Arc::new(crate::db::Store::in_memory().unwrap());
        ServerHandle::start(SocketAddr::from(([127, 0, 0, 1], 0)), move |base| {
            let issuer = Issuer::new(&issuer_uri_of(base), Vec::new(), crate::Policy::default());
            AppState::new(issuer, store, base, config)
        })
        .unwrap()
    }

    /// What the server sends on `c` until it closes (or 10 s of silence).
    fn read_all(c: &mut std::net::TcpStream) -> String {
        use std::io::Read as _;
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn a_client_over_its_connection_limit_gets_503_and_others_are_served() {
        use std::io::Write as _;
        let server = plain_server(ServerConfig {
            max_connections_per_client: 2,
            header_read_timeout: Duration::from_secs(30),
            ..ServerConfig::default()
        });
        let addr = server.addr();
        // Two idle connections (a slow client that never sends its headers) hold the limit.
        let idle1 = std::net::TcpStream::connect(addr).unwrap();
        let idle2 = std::net::TcpStream::connect(addr).unwrap();
        let mut third = std::net::TcpStream::connect(addr).unwrap();
        let answer = read_all(&mut third);
        assert!(
            answer.starts_with("HTTP/1.1 503 ") && answer.contains("Retry-After: 1"),
            "third connection: {answer:?}"
        );
        // The slots are freed when the idle connections close: the client is served again.
        drop(idle1);
        drop(idle2);
        let mut served = String::new();
        for _ in 0..100 {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            write!(
                c,
                "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            served = read_all(&mut c);
            if served.starts_with("HTTP/1.1 200 ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            served.starts_with("HTTP/1.1 200 "),
            "after release: {served:?}"
        );
        server.shutdown().unwrap();
    }

    #[test]
    fn client_slots_are_counted_per_address_and_released() {
        let clients = Clients::default();
        let a: std::net::IpAddr = [127, 0, 0, 1].into();
        let b: std::net::IpAddr = [127, 0, 0, 2].into();
        let s1 = clients.take(a, 2).unwrap();
        let s2 = clients.take(a, 2).unwrap();
        assert!(clients.take(a, 2).is_none());
        // Another address has its own count.
        let s3 = clients.take(b, 2).unwrap();
        assert_eq!(clients.open(a), 2);
        drop(s1);
        assert_eq!(clients.open(a), 1);
        let s4 = clients.take(a, 2).unwrap();
        drop((s2, s3, s4));
        assert_eq!(clients.open(a), 0);
        assert!(clients.0.lock().unwrap().is_empty());
    }

    #[test]
    fn retention_cutoffs_follow_the_lifetime() {
        let r = StoreRetention {
            failed_sessions: Duration::from_secs(10),
            errors: Duration::from_secs(100),
            ..StoreRetention::default()
        };
        let p = r.prune_at(1_000, 30);
        // A session started at t can be answered until t + 2 * life: only failed sessions
        // started before now - 2 * life - retention go.
        assert_eq!(p.failed_created_before, 1_000 - 60 - 10);
        assert_eq!(p.errors_before, 900);
        assert_eq!(p.max_errors, r.max_errors);
    }

    /// A flood of session starts that never go on leaves no rows once the sessions are past
    /// any deadline: the sweep ends them and prunes them.
    #[test]
    fn a_flood_of_session_starts_is_pruned_from_the_store() {
        let store = Arc::new(crate::db::Store::in_memory().unwrap());
        let s2 = store.clone();
        let server = ServerHandle::start(SocketAddr::from(([127, 0, 0, 1], 0)), move |base| {
            let mut policy = crate::Policy::default();
            policy.session.life_time = 1;
            let issuer = Issuer::new(&issuer_uri_of(base), Vec::new(), policy);
            let config = ServerConfig {
                retention: StoreRetention {
                    sweep_interval: Duration::from_millis(100),
                    failed_sessions: Duration::ZERO,
                    errors: Duration::ZERO,
                    max_errors: 10,
                },
                ..ServerConfig::default()
            };
            AppState::new(issuer, s2, base, config)
        })
        .unwrap();
        for _ in 0..20 {
            assert_eq!(get_status(server.addr(), "/keygen2?init=true"), 200);
        }
        assert!(store.row_counts().unwrap().sessions > 0);
        // Poll (no wall-clock assertion): the rows go within a few sweeps after 2 * life.
        let mut left = store.row_counts().unwrap();
        for _ in 0..300 {
            left = store.row_counts().unwrap();
            if left.sessions == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(left.sessions, 0, "the flood's sessions stayed: {left:?}");
        server.shutdown().unwrap();
    }

    #[test]
    fn pages_escape_text() {
        assert_eq!(
            pages::escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let e = crate::db::ErrorEntry {
            id: "E".into(),
            session_handle: None,
            reason: "<script>".into(),
            at: 0,
        };
        assert!(pages::error(&e).contains("&lt;script&gt;"));
        assert!(!pages::error(&e).contains("<script>"));
    }
}
