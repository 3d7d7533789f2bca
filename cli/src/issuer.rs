//! `airtight issuer serve` and `airtight issuer list`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airtight_issuer::db::{Issuance, Store};
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

/// Adds what the CLI's issuer always has: the test issuer CA of `airtight-pki` when the policy
/// names none, and the test device CA (which certifies the CLI's reference cards) besides the
/// policy's own device anchors.
fn with_defaults(mut issuer: Issuer) -> Issuer {
    if issuer.ca.is_none() {
        issuer.ca = Some(airtight_pki::fixtures::issuer_ca());
    }
    issuer
        .device_anchors
        .push(airtight_pki::fixtures::device_trust_anchor());
    issuer
}

/// An issuer at `issuer_uri` with `policy` (no files) and the CLI defaults.
pub fn build_issuer(issuer_uri: &str, policy: Policy) -> Issuer {
    with_defaults(Issuer::new(issuer_uri, Vec::new(), policy))
}

/// An issuer from a policy whose files (anchors, CA, KMKs) are relative to `base`, with the
/// CLI defaults.
pub fn issuer_from_policy(
    issuer_uri: &str,
    policy: Policy,
    base: &Path,
) -> Result<Issuer, CliError> {
    Issuer::from_policy(issuer_uri, Vec::new(), policy, base)
        .map(with_defaults)
        .map_err(|e| CliError::Config(e.to_string()))
}

/// Reads `--tls-cert` (PEM chain, server certificate first) and `--tls-key` (PKCS#8 PEM).
pub fn load_tls(cert: &Path, key: &Path) -> Result<TlsIdentity, CliError> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| CliError::Io(format!("{}: {e}", p.display())));
    TlsIdentity::from_pem(&read(cert)?, &read(key)?)
        .map_err(|e| CliError::Config(format!("{} / {}: {e}", cert.display(), key.display())))
}

/// `issuer serve`: runs until Ctrl-C; HTTPS when `tls` is given.
pub fn serve(
    bind: SocketAddr,
    public_url: Option<String>,
    data_dir: &Path,
    policy_file: Option<&Path>,
    tls: Option<TlsIdentity>,
) -> Result<(), CliError> {
    let (policy, policy_base) = match policy_file {
        Some(p) => {
            let (policy, dir) = load_policy(p)?;
            (policy, Some(dir))
        }
        None => (Policy::default(), None),
    };
    if !bind.ip().is_loopback() {
        tracing::warn!(%bind, "listening beyond loopback");
    }
    let store = Arc::new(Store::open_dir(data_dir).map_err(|e| CliError::Store(e.to_string()))?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(e.to_string()))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| CliError::Io(format!("bind {bind}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::Io(e.to_string()))?;
        let base = public_url.unwrap_or_else(|| {
            if tls.is_some() {
                http::https_base_url_of(addr)
            } else {
                http::base_url_of(addr)
            }
        });
        let issuer_uri = http::issuer_uri_of(&base);
        let mut issuer = match &policy_base {
            Some(dir) => issuer_from_policy(&issuer_uri, policy, dir)?,
            None => build_issuer(&issuer_uri, policy),
        };
        // [KG2-HTP-010] the session attestation binds the TLS certificate the client saw.
        if let Some(id) = &tls {
            issuer.server_certificate = id.end_entity_der().to_vec();
        }
        // [KG2-IMP-009] the policy's body limit applies at the HTTP layer too.
        let config = ServerConfig {
            max_body_bytes: issuer.policy.session.max_body_bytes,
            tls,
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

/// `issuer list`.
pub fn list(data_dir: &Path) -> Result<String, CliError> {
    let file = data_dir.join(Store::FILE_NAME);
    if !file.exists() {
        return Err(CliError::Store(format!(
            "no issuer database at {} (run `airtight issuer serve --data-dir {}` first)",
            file.display(),
            data_dir.display()
        )));
    }
    let store = Store::open(&file).map_err(|e| CliError::Store(e.to_string()))?;
    let all = store
        .issuances()
        .map_err(|e| CliError::Store(e.to_string()))?;
    Ok(table(&all))
}
