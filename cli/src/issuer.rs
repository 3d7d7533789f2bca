//! `airtight issuer serve` and `airtight issuer list`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airtight_issuer::db::{self, Issuance, IssuerStore, SessionStatus, SessionSummary, Store};
use airtight_issuer::http::pages::certificate_summary;
use airtight_issuer::http::{self, AppState, ServerConfig, TlsIdentity};
use airtight_issuer::{Issuer, Policy};

use crate::CliError;

/// The default data directory: `$AIRTIGHT_DATA_DIR`, else `./airtight-data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("AIRTIGHT_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("airtight-data"))
}

/// Reads and checks a policy file; returns the policy and the directory its file names are
/// relative to.
pub fn load_policy(path: &Path) -> Result<(Policy, PathBuf), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    let policy = Policy::from_toml(&text)
        .map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
    policy
        .validate()
        .map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((policy, base))
}

/// Where `issuer serve` gets its PKI: device trust anchors and the CA that certifies keys.
#[derive(Debug, Clone, Default)]
pub struct Pki {
    /// `--test-pki`: trust the test device CA and, when no CA is configured, certify with the
    /// test issuer CA. Both private keys are in the repository: local tests only.
    pub test_pki: bool,
    /// `--device-anchor FILE` (PEM certificates), besides the policy's own anchors.
    pub device_anchors: Vec<PathBuf>,
    /// `--ca-key FILE` (PKCS#8 PEM), with `ca_chain`; overrides the policy's `[ca]` files.
    pub ca_key: Option<PathBuf>,
    /// `--ca-chain FILE` (PEM, the CA's own certificate first).
    pub ca_chain: Option<PathBuf>,
}

/// What `--test-pki` prints on stderr.
pub const TEST_PKI_WARNING: &str = "warning: --test-pki: this issuer trusts the test device CA \
     and certifies keys with the test issuer CA of the airtight repository; both private keys \
     are published (reference/pki/fixtures), so anyone can make a device this issuer accepts. \
     Use it for local tests only.";

/// How to configure the PKI (the refusal message of `issuer serve`).
const PKI_HOWTO: &str = "give the device CA certificates to trust with --device-anchor FILE \
     (repeatable) or [[device.trust_anchors]] in the --policy file, and the issuing CA with \
     --ca-key FILE --ca-chain FILE or [ca] key_file/chain_file in the --policy file; for a \
     local test with the repository's published test CAs, use --test-pki";

fn read_text(p: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(p).map_err(|e| CliError::Io(format!("{}: {e}", p.display())))
}

/// Adds the PKI of `pki` to `issuer` and checks that the issuer can work: a CA, and device
/// anchors unless the policy asks for privacy mode (no device certificate is then sent).
pub fn apply_pki(issuer: &mut Issuer, pki: &Pki) -> Result<(), CliError> {
    for f in &pki.device_anchors {
        let anchor = airtight_pki::TrustAnchor::from_certificate_pem(&read_text(f)?)
            .map_err(|e| CliError::Config(format!("--device-anchor {}: {e}", f.display())))?;
        issuer.device_anchors.push(anchor);
    }
    match (&pki.ca_key, &pki.ca_chain) {
        (Some(k), Some(c)) => {
            let key = airtight_pki::SigningKey::from_pkcs8_pem(&read_text(k)?)
                .map_err(|e| CliError::Config(format!("--ca-key {}: {e}", k.display())))?;
            let chain = airtight_pki::pem::decode_certificates(&read_text(c)?)
                .map_err(|e| CliError::Config(format!("--ca-chain {}: {e}", c.display())))?;
            let ca = airtight_pki::Ca::from_parts(key, chain).map_err(|e| {
                CliError::Config(format!(
                    "--ca-key {} / --ca-chain {}: {e}",
                    k.display(),
                    c.display()
                ))
            })?;
            issuer.ca = Some(ca);
        }
        (None, None) => {}
        _ => {
            return Err(CliError::Usage(
                "--ca-key and --ca-chain go together".into(),
            ));
        }
    }
    if pki.test_pki {
        if issuer.ca.is_none() {
            issuer.ca = Some(airtight_pki::fixtures::issuer_ca());
        }
        issuer
            .device_anchors
            .push(airtight_pki::fixtures::device_trust_anchor());
    }
    if issuer.ca.is_none() {
        return Err(CliError::Config(format!(
            "no issuing CA is configured, so no key could be certified: {PKI_HOWTO}"
        )));
    }
    if issuer.device_anchors.is_empty() && !issuer.policy.privacy_enabled {
        return Err(CliError::Config(format!(
            "no device trust anchor is configured, so no device would be accepted: {PKI_HOWTO}"
        )));
    }
    Ok(())
}

/// An issuer at `issuer_uri` with `policy` (no files) and the repository's test PKI (the test
/// issuer CA and the test device anchor): for `demo` and tests, which ask for it by name.
pub fn test_pki_issuer(issuer_uri: &str, policy: Policy) -> Issuer {
    let mut issuer = Issuer::new(issuer_uri, Vec::new(), policy);
    if issuer.ca.is_none() {
        issuer.ca = Some(airtight_pki::fixtures::issuer_ca());
    }
    issuer
        .device_anchors
        .push(airtight_pki::fixtures::device_trust_anchor());
    issuer
}

/// The issuer of `issuer serve`: `policy` with its files relative to `base`, plus `pki`.
pub fn configure_issuer(
    issuer_uri: &str,
    policy: Policy,
    base: &Path,
    pki: &Pki,
) -> Result<Issuer, CliError> {
    let mut issuer = Issuer::from_policy(issuer_uri, Vec::new(), policy, base)
        .map_err(|e| CliError::Config(e.to_string()))?;
    apply_pki(&mut issuer, pki)?;
    Ok(issuer)
}

/// `--bind`: `IP:PORT`, or `localhost:PORT` (the IPv4 loopback).
pub fn parse_bind(text: &str) -> Result<(SocketAddr, Option<String>), CliError> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok((a, None));
    }
    let bad = || {
        CliError::Usage(format!(
            "--bind {}: give IP:PORT (e.g. 127.0.0.1:8080) or localhost:PORT",
            clip(text, 80)
        ))
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.eq_ignore_ascii_case("localhost") {
        Ok((
            SocketAddr::from(([127, 0, 0, 1], port)),
            Some("localhost".into()),
        ))
    } else {
        Err(bad())
    }
}

/// `text` cut to at most `max` characters (with `…` when cut): user input echoed in messages.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} bytes)", &text[..i], text.len()),
        None => text.to_owned(),
    }
}

/// Checks `--public-url`: `http://` or `https://` (as served), no query or fragment.
fn check_public_url(url: &str, https: bool) -> Result<String, CliError> {
    let scheme = if https { "https://" } else { "http://" };
    let ok = url
        .get(..scheme.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        && url.len() > scheme.len()
        && !url.contains(['?', '#', ' ']);
    if !ok {
        return Err(CliError::Usage(format!(
            "--public-url {}: give the {scheme}HOST[:PORT] clients use to reach this issuer \
             (no query or fragment)",
            clip(url, 80)
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Reads `--tls-cert` (PEM chain, server certificate first) and `--tls-key` (PKCS#8 PEM).
pub fn load_tls(cert: &Path, key: &Path) -> Result<TlsIdentity, CliError> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| CliError::Io(format!("{}: {e}", p.display())));
    TlsIdentity::from_pem(&read(cert)?, &read(key)?)
        .map_err(|e| CliError::Config(format!("{} / {}: {e}", cert.display(), key.display())))
}

/// What `issuer serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `--bind` as given (`IP:PORT` or `localhost:PORT`).
    pub bind: String,
    /// `--public-url`: the base URL clients use (default from `--bind`).
    pub public_url: Option<String>,
    /// The data directory (SQLite store).
    pub data_dir: PathBuf,
    /// `--db`: a PostgreSQL URL; the store is there instead of in `data_dir`.
    pub db: Option<String>,
    /// `--policy`; the built-in policy (`reference/issuer/policies/default.toml`) otherwise.
    pub policy: Option<PathBuf>,
    /// The PKI options.
    pub pki: Pki,
    /// `--max-connections-per-client` ([`ServerConfig::max_connections_per_client`]).
    pub max_connections_per_client: usize,
}

/// `issuer serve`: runs until Ctrl-C; HTTPS when `tls` is given. Everything is checked
/// (arguments, policy, PKI, data directory, the listening socket) before anything is written
/// to disk.
pub fn serve(opts: &ServeOptions, tls: Option<TlsIdentity>) -> Result<(), CliError> {
    if opts.max_connections_per_client == 0 {
        return Err(CliError::Usage(
            "--max-connections-per-client must be at least 1".into(),
        ));
    }
    let (bind, bind_host) = parse_bind(&opts.bind)?;
    let public_url = opts
        .public_url
        .as_deref()
        .map(|u| check_public_url(u, tls.is_some()))
        .transpose()?;
    let (policy, policy_base) = match &opts.policy {
        Some(p) => load_policy(p)?,
        None => (
            Policy::builtin().map_err(|e| CliError::Config(format!("built-in policy: {e}")))?,
            PathBuf::from("."),
        ),
    };
    // The issuer URI depends on the bound port: it is set once the socket is bound.
    let mut issuer = configure_issuer("", policy, &policy_base, &opts.pki)?;
    if opts.pki.test_pki {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), "{TEST_PKI_WARNING}");
    }
    let data_dir = &opts.data_dir;
    if opts.db.is_none() && data_dir.exists() && !data_dir.is_dir() {
        return Err(CliError::Config(format!(
            "--data-dir {}: this is a file; give a directory (it is created if missing)",
            data_dir.display()
        )));
    }
    if !bind.ip().is_loopback() {
        tracing::warn!(%bind, "listening beyond loopback");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(e.to_string()))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (another program listens there: choose another port with --bind)"
            } else {
                ""
            };
            CliError::Io(format!("cannot listen on {bind}: {e}{hint}"))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::Io(e.to_string()))?;
        // Only now that the socket is ours is the database created.
        let store: Arc<dyn IssuerStore> = match &opts.db {
            Some(url) => db::open_url(url),
            None => Store::open_dir(data_dir).map(|s| Arc::new(s) as Arc<dyn IssuerStore>),
        }
        .map_err(|e| CliError::Store(e.to_string()))?;
        let base = public_url.unwrap_or_else(|| {
            let scheme = if tls.is_some() { "https" } else { "http" };
            match &bind_host {
                Some(host) => format!("{scheme}://{host}:{}", addr.port()),
                None if tls.is_some() => http::https_base_url_of(addr),
                None => http::base_url_of(addr),
            }
        });
        issuer.issuer_uri = http::issuer_uri_of(&base);
        // [KG2-HTP-010] the session attestation binds the TLS certificate the client saw.
        if let Some(id) = &tls {
            issuer.server_certificate = id.end_entity_der().to_vec();
        }
        // [KG2-IMP-009] the policy's body limit applies at the HTTP layer too.
        let config = ServerConfig {
            max_body_bytes: issuer.policy.session.max_body_bytes,
            tls,
            max_connections_per_client: opts.max_connections_per_client,
            ..ServerConfig::default()
        };
        let state = AppState::new(issuer, store.clone(), &base, config)
            .map_err(|e| CliError::Io(e.to_string()))?;
        // A closed stdout must not stop the server: write errors are ignored.
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "airtight issuer listening on {base}/ (data: {})",
                store.location()
            );
            let _ = writeln!(
                out,
                "enrol with: airtight enroll {}",
                http::invocation_urls(&base, "").init
            );
            let _ = writeln!(
                out,
                "(clients must use this URL as written: the session attestation binds it; \
                 --public-url sets it)"
            );
            let _ = out.flush();
        }
        http::serve(listener, Arc::new(state), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| CliError::Io(e.to_string()))
    })
}

/// Renders issuances as a table (`issuer list`).
pub fn table(issuances: &[Issuance]) -> String {
    let mut out = String::new();
    if issuances.is_empty() {
        out.push_str("no issuances\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<4} {:<20} {:<8} {:<38} {:<5} serverSessionId",
        "id", "completed (UTC)", "mode", "device ID", "keys"
    );
    for i in issuances {
        let r = &i.record;
        let _ = writeln!(
            out,
            "{:<4} {:<20} {:<8} {:<38} {:<5} {}",
            i.id,
            utc(r.completed_at),
            if r.privacy_enabled { "privacy" } else { "E2ES" },
            r.device_id.as_deref().unwrap_or("-"),
            r.keys.len(),
            r.server_session_id
        );
        for k in &r.keys {
            let subject = k
                .certificate_path
                .first()
                .and_then(|c| certificate_summary(c))
                .map(|s| s.subject)
                .unwrap_or_else(|| "(certificate not parsed)".into());
            let alg = k
                .key_algorithm
                .rsplit('#')
                .next()
                .unwrap_or(&k.key_algorithm);
            let _ = writeln!(
                out,
                "       key {} ({alg}, {}): {subject}",
                k.id, k.app_usage
            );
        }
    }
    out
}

/// `YYYY-MM-DD hh:mm:ss` of Unix seconds (UTC).
pub fn utc(unix: i64) -> String {
    airtight_proto::time::IsoTime::server_time(unix)
        .map(|t| {
            t.as_str()
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_owned()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// A session's status as `issuer list --all` shows it: `abandoned` for a session that
/// expired unanswered or that the user cancelled, else the stored status.
pub fn session_status(s: &SessionSummary) -> &'static str {
    let reason = s.failure.as_deref().unwrap_or("");
    match s.status {
        SessionStatus::Failed
            if reason.starts_with("[KG2-IMP-006]") || reason.starts_with("[KG2-URL-003]") =>
        {
            "abandoned"
        }
        SessionStatus::Failed => "failed",
        SessionStatus::Done => "done",
        SessionStatus::Open => "open",
    }
}

/// Renders the sessions that did not complete (`issuer list --all`).
pub fn sessions_table(sessions: &[SessionSummary]) -> String {
    let mut out = String::new();
    let rest: Vec<&SessionSummary> = sessions
        .iter()
        .filter(|s| s.status != SessionStatus::Done)
        .collect();
    if rest.is_empty() {
        out.push_str("no failed, abandoned or open sessions\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<9} {:<38} reason",
        "started (UTC)", "status", "serverSessionId"
    );
    for s in rest {
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<38} {}",
            utc(s.created_at),
            session_status(s),
            s.server_session_id,
            match s.status {
                SessionStatus::Open => format!("waiting in phase {}", s.phase),
                _ => s.failure.clone().unwrap_or_else(|| "-".into()),
            }
        );
    }
    out
}

/// The `--json` form of `issuer list` (schema: `spec/schemas/cli-issuer-list.schema.json`).
pub fn list_json(issuances: &[Issuance], sessions: Option<&[SessionSummary]>) -> String {
    use serde_json::json;
    let iso = |t: i64| {
        airtight_proto::time::IsoTime::server_time(t)
            .map(|t| t.as_str().to_owned())
            .unwrap_or_else(|| t.to_string())
    };
    let issuances: Vec<serde_json::Value> = issuances
        .iter()
        .map(|i| {
            let r = &i.record;
            json!({
                "id": i.id,
                "completed_at": iso(r.completed_at),
                "mode": if r.privacy_enabled { "privacy" } else { "e2es" },
                "action": r.action,
                "device_id": r.device_id,
                "server_session_id": r.server_session_id,
                "client_session_id": r.client_session_id,
                "keys": r.keys.iter().map(|k| {
                    let cert = k.certificate_path.first().and_then(|c| certificate_summary(c));
                    json!({
                        "id": k.id,
                        "algorithm": k.key_algorithm,
                        "app_usage": k.app_usage,
                        "friendly_name": k.friendly_name,
                        "subject": cert.as_ref().map(|c| c.subject.clone()),
                        "certificate_sha256": cert.as_ref().map(|c| c.sha256.clone()),
                    })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut v = json!({ "issuances": issuances });
    if let (Some(sessions), Some(o)) = (sessions, v.as_object_mut()) {
        let list: Vec<serde_json::Value> = sessions
            .iter()
            .map(|s| {
                json!({
                    "server_session_id": s.server_session_id,
                    "status": session_status(s),
                    "phase": s.phase,
                    "reason": s.failure,
                    "started_at": iso(s.created_at),
                    "updated_at": iso(s.updated_at),
                })
            })
            .collect();
        o.insert("sessions".into(), serde_json::Value::Array(list));
    }
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// `issuer list [--all] [--json]`: the issuances; with `all`, also every session that did
/// not complete (failed, abandoned or still open) with its reason.
pub fn list(data_dir: &Path, all: bool, json: bool) -> Result<String, CliError> {
    let file = data_dir.join(Store::FILE_NAME);
    if !file.is_file() {
        return Err(CliError::Store(format!(
            "no issuer database at {} (run `airtight issuer serve --data-dir {}` first)",
            file.display(),
            data_dir.display()
        )));
    }
    let store = Store::open(&file).map_err(|e| CliError::Store(e.to_string()))?;
    list_store(&store, all, json)
}

/// `issuer list --db URL`: [`list`] from a PostgreSQL store.
pub fn list_db(url: &str, all: bool, json: bool) -> Result<String, CliError> {
    let store = db::open_url(url).map_err(|e| CliError::Store(e.to_string()))?;
    list_store(store.as_ref(), all, json)
}

fn list_store(store: &dyn IssuerStore, all: bool, json: bool) -> Result<String, CliError> {
    let issuances = store
        .issuances()
        .map_err(|e| CliError::Store(e.to_string()))?;
    let sessions = if all {
        Some(
            store
                .session_summaries()
                .map_err(|e| CliError::Store(e.to_string()))?,
        )
    } else {
        None
    };
    if json {
        return Ok(list_json(&issuances, sessions.as_deref()));
    }
    let mut out = table(&issuances);
    if let Some(s) = &sessions {
        out.push('\n');
        out.push_str(&sessions_table(s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bind_takes_an_address_or_localhost() {
        assert_eq!(
            parse_bind("127.0.0.1:8080").unwrap(),
            (SocketAddr::from(([127, 0, 0, 1], 8080)), None)
        );
        assert_eq!(
            parse_bind("localhost:0").unwrap(),
            (
                SocketAddr::from(([127, 0, 0, 1], 0)),
                Some("localhost".into())
            )
        );
        assert!(parse_bind("[::1]:8080").is_ok());
        for bad in ["localhost", "example.com:80", "localhost:99999", ""] {
            let e = parse_bind(bad).unwrap_err();
            assert!(e.to_string().contains("localhost:PORT"), "{bad}: {e}");
        }
        // A long argument is not echoed whole.
        let long = "x".repeat(100_000);
        assert!(parse_bind(&long).unwrap_err().to_string().len() < 300);
    }

    #[test]
    fn public_url_is_checked() {
        assert_eq!(
            check_public_url("http://issuer.test:8080/", false).unwrap(),
            "http://issuer.test:8080"
        );
        assert!(check_public_url("https://issuer.test", true).is_ok());
        assert!(check_public_url("http://issuer.test", true).is_err());
        assert!(check_public_url("http://issuer.test/?a=b", false).is_err());
        assert!(check_public_url("issuer.test", false).is_err());
    }

    fn no_pki_issuer(privacy: bool) -> Issuer {
        let policy = Policy {
            privacy_enabled: privacy,
            ..Policy::builtin().unwrap()
        };
        Issuer::new("http://127.0.0.1:1/keygen2", Vec::new(), policy)
    }

    #[test]
    fn no_test_pki_unless_asked_for() {
        // Nothing configured: refused, with how to configure it.
        let e = apply_pki(&mut no_pki_issuer(false), &Pki::default()).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        for needle in ["--ca-key", "--device-anchor", "--test-pki"] {
            assert!(e.to_string().contains(needle), "{e}");
        }
        // A CA but no device anchor: refused in E2ES mode, fine in privacy mode.
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../reference/pki/fixtures");
        let ca = Pki {
            ca_key: Some(format!("{fixtures}/issuer-ca.key.pem").into()),
            ca_chain: Some(format!("{fixtures}/issuer-ca.chain.pem").into()),
            ..Pki::default()
        };
        let e = apply_pki(&mut no_pki_issuer(false), &ca).unwrap_err();
        assert!(e.to_string().contains("device trust anchor"), "{e}");
        let mut privacy = no_pki_issuer(true);
        apply_pki(&mut privacy, &ca).unwrap();
        assert!(privacy.device_anchors.is_empty());
        // --device-anchor adds exactly that anchor, never the test device CA.
        let own = Pki {
            device_anchors: vec![format!("{fixtures}/issuer-root-ca.cert.pem").into()],
            ..ca.clone()
        };
        let mut issuer = no_pki_issuer(false);
        apply_pki(&mut issuer, &own).unwrap();
        assert_eq!(issuer.device_anchors.len(), 1);
        assert_ne!(
            issuer.device_anchors[0],
            airtight_pki::fixtures::device_trust_anchor()
        );
        // --test-pki: the test device anchor and the test CA.
        let mut test = no_pki_issuer(false);
        apply_pki(
            &mut test,
            &Pki {
                test_pki: true,
                ..Pki::default()
            },
        )
        .unwrap();
        assert_eq!(
            test.device_anchors,
            vec![airtight_pki::fixtures::device_trust_anchor()]
        );
        assert!(test.ca.is_some());
    }

    #[test]
    fn abandoned_sessions_are_named_so() {
        let s = |status, failure: Option<&str>| SessionSummary {
            handle: "h".into(),
            server_session_id: "S".into(),
            status,
            phase: "Failed".into(),
            failure: failure.map(str::to_owned),
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(
            session_status(&s(
                SessionStatus::Failed,
                Some("[KG2-IMP-006] expired without an answer")
            )),
            "abandoned"
        );
        assert_eq!(
            session_status(&s(
                SessionStatus::Failed,
                Some("[KG2-URL-003] cancelled by the user")
            )),
            "abandoned"
        );
        assert_eq!(
            session_status(&s(SessionStatus::Failed, Some("[KG2-IMP-002] untrusted"))),
            "failed"
        );
        let table = sessions_table(&[s(SessionStatus::Failed, Some("[KG2-IMP-002] untrusted"))]);
        assert!(table.contains("[KG2-IMP-002] untrusted"), "{table}");
    }
}
