//! `airtight demo`: the whole seed scheme on one machine. An issuer on loopback (random free
//! port, SQLite store in a temporary directory), a file-backed reference card in a temporary
//! directory, the middleware in between over real HTTP; one provisioning in E2ES mode and one
//! in privacy mode (consent and PIN automated), then the new keys sign and the signatures are
//! verified with the certified public keys.

use std::fmt::Write as _;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use airtight_client::engine::Middleware;
use airtight_client::ui::{AutoUi, PinSource};
use airtight_issuer::Policy;
use airtight_issuer::db::{IssuerStore as _, Store};
use airtight_issuer::http::pages::certificate_summary;
use airtight_issuer::http::{AppState, ServerConfig, ServerHandle};
use airtight_proto::keys::certificate_public_key;
use airtight_proto::session1::device_id_string;
use airtight_proto::sks::SecureKeyStore;
use zeroize::Zeroizing;

use crate::driver::{self, Event};
use crate::{CliError, card, issuer};

/// The PIN the demo enters for the user-defined PIN of the default policy.
pub const DEMO_PIN: &str = "1357";

/// What one demo provisioning did (for the summary and the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeResult {
    /// `E2ES` or `privacy`.
    pub mode: &'static str,
    /// Device ID recorded by the issuer (E2ES only).
    pub device_id: Option<String>,
    /// Keys issued.
    pub keys: usize,
    /// Signatures made with the new keys and verified.
    pub verified_signatures: usize,
}

fn step(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    writeln!(out, "{text}").map_err(|e| CliError::Io(e.to_string()))
}

/// The invocation URL from the landing page's enrol link.
fn invocation_from_landing(base: &str) -> Result<String, CliError> {
    let page =
        driver::fetch_page(&format!("{base}/")).map_err(|e| CliError::Enroll(e.to_string()))?;
    let marker = "<a id=\"enrol\" href=\"";
    let start = page
        .find(marker)
        .map(|i| i + marker.len())
        .ok_or_else(|| CliError::Enroll("the landing page has no enrol link".into()))?;
    let end = page[start..]
        .find('"')
        .ok_or_else(|| CliError::Enroll("unterminated enrol link".into()))?;
    Ok(page[start..start + end].replace("&amp;", "&"))
}

fn run_mode(
    out: &mut dyn Write,
    mode: &'static str,
    policy: Policy,
    store: &Arc<Store>,
    card_dir: &Path,
) -> Result<ModeResult, CliError> {
    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let store_for_server = store.clone();
    let server = ServerHandle::start(bind, move |base| {
        let iss = issuer::test_pki_issuer(&airtight_issuer::http::issuer_uri_of(base), policy);
        AppState::new(iss, store_for_server, base, ServerConfig::default())
    })
    .map_err(|e| CliError::Io(format!("issuer: {e}")))?;
    step(
        out,
        &format!(
            "issuer listening on {}/ (with the repository's test PKI: it trusts the test \
             device CA and certifies with the test issuer CA)",
            server.base_url()
        ),
    )?;
    let invocation = invocation_from_landing(server.base_url())?;
    step(
        out,
        &format!("invocation URL from the landing page:\n  {invocation}"),
    )?;

    let sks = card::open(card_dir, true)?;
    let keys_before = {
        let mut c = sks;
        let n = card::keys_of(&mut c)?.len();
        (c, n)
    };
    let (sks, before) = keys_before;
    let mut lines: Vec<String> = Vec::new();
    let mut observe = |e: &Event| {
        lines.push(match e {
            Event::Received { qualifier, bytes } => {
                format!("  issuer -> middleware  {qualifier} ({bytes} bytes)")
            }
            Event::Sent { qualifier, bytes } => {
                format!("  middleware -> issuer  {qualifier} ({bytes} bytes)")
            }
            Event::Redirected { location } => format!("  issuer redirects to   {location}"),
        });
    };
    let result = driver::enroll(
        &invocation,
        |ctx| {
            Middleware::new(sks, ctx)
                .with_ui(Box::new(AutoUi::accept_all()))
                .with_pin_source(PinSource::Repeat(Zeroizing::new(DEMO_PIN.to_owned())))
        },
        &mut observe,
    );
    for l in &lines {
        step(out, l)?;
    }
    let (enrolled, mw) = result.map_err(|e| CliError::Enroll(e.to_string()))?;
    let mut sks = mw.into_sks();
    step(
        out,
        &format!(
            "middleware: session closed, keys created: {}",
            enrolled.outcome.created_keys.join(", ")
        ),
    )?;
    let result_url = enrolled
        .result_url
        .ok_or_else(|| CliError::Enroll("the issuer did not redirect to a result page".into()))?;
    let page = driver::fetch_page(&result_url).map_err(|e| CliError::Enroll(e.to_string()))?;
    if !page.contains("Provisioning completed") {
        return Err(CliError::Enroll(format!(
            "unexpected result page at {result_url}"
        )));
    }
    step(
        out,
        &format!("result page: {result_url} (Provisioning completed)"),
    )?;
    server
        .shutdown()
        .map_err(|e| CliError::Io(format!("issuer shutdown: {e}")))?;

    // What the issuer recorded.
    let issuance = store
        .issuances()
        .map_err(|e| CliError::Store(e.to_string()))?
        .into_iter()
        .find(|i| i.record.client_session_id == enrolled.outcome.client_session_id)
        .ok_or_else(|| CliError::Store("the issuance is not in the issuer database".into()))?;
    let rec = &issuance.record;
    let info = sks
        .get_device_info()
        .map_err(|e| CliError::Card(e.to_string()))?;
    let card_device_id = info
        .certificate_path
        .first()
        .map(|c| device_id_string(c, true))
        .unwrap_or_default();
    match (&rec.device_id, rec.privacy_enabled) {
        (Some(id), false) => {
            step(out, &format!("issuer recorded device ID {id}"))?;
            if *id != card_device_id {
                return Err(CliError::Enroll(format!(
                    "device ID mismatch: issuer {id}, card {card_device_id}"
                )));
            }
            step(
                out,
                "  = the card's own device ID (device certificate path validated)",
            )?;
        }
        (None, true) => step(
            out,
            "privacy mode: no device certificate was sent or recorded",
        )?,
        _ => return Err(CliError::Enroll("privacy mode not as requested".into())),
    }
    let mut verified = 0;
    let card_keys = card::keys_of(&mut sks)?;
    if card_keys.len() != before + rec.keys.len() {
        return Err(CliError::Card(format!(
            "the card holds {} keys, expected {}",
            card_keys.len(),
            before + rec.keys.len()
        )));
    }
    for k in &rec.keys {
        let ee = k
            .certificate_path
            .first()
            .ok_or_else(|| CliError::Enroll(format!("key {} has no certificate", k.id)))?;
        let s = certificate_summary(ee);
        let mut text = format!("key {} ({}, {})", k.id, k.key_algorithm, k.app_usage);
        if let Some(s) = &s {
            let _ = write!(
                text,
                "\n  certificate: subject {}\n               issuer  {}\n               serial  {}",
                s.subject, s.issuer, s.serial
            );
        }
        step(out, &text)?;
        let on_card = card_keys
            .iter()
            .find(|c| c.certificate_path.first() == Some(ee))
            .ok_or_else(|| CliError::Card(format!("key {} is not on the card", k.id)))?;
        let public = certificate_public_key(ee).map_err(|e| CliError::Enroll(e.to_string()))?;
        let alg = card::default_signature_uri(&public);
        let message = format!("airtight demo ({mode}): signed by {}", k.id);
        let signed = card::sign(
            &mut sks,
            on_card,
            alg,
            Some(DEMO_PIN.as_bytes()),
            message.as_bytes(),
        )?;
        match signed.verified {
            Ok(()) => {
                verified += 1;
                step(
                    out,
                    &format!(
                        "  signData({alg}) with PIN: {} bytes; verified with the certificate's public key: OK",
                        signed.signature.len()
                    ),
                )?;
            }
            Err(e) => {
                return Err(CliError::Card(format!(
                    "signature by {} does not verify: {e}",
                    k.id
                )));
            }
        }
    }
    Ok(ModeResult {
        mode,
        device_id: rec.device_id.clone(),
        keys: rec.keys.len(),
        verified_signatures: verified,
    })
}

/// Runs the demo in `work` (a temporary directory if `None`), printing to `out`.
pub fn run(out: &mut dyn Write, work: Option<&Path>) -> Result<Vec<ModeResult>, CliError> {
    let temp;
    let dir = match work {
        Some(d) => d.to_path_buf(),
        None => {
            temp = tempfile::tempdir().map_err(|e| CliError::Io(format!("temp dir: {e}")))?;
            temp.path().to_path_buf()
        }
    };
    let data_dir = dir.join("issuer-data");
    let card_dir = dir.join("card");
    step(
        out,
        "airtight demo: KeyGen2 provisioning over loopback HTTP",
    )?;
    step(
        out,
        &format!(
            "  issuer store: {}",
            data_dir.join(Store::FILE_NAME).display()
        ),
    )?;
    step(out, &format!("  reference card: {}", card_dir.display()))?;
    let store = Arc::new(Store::open_dir(&data_dir).map_err(|e| CliError::Store(e.to_string()))?);
    let mut results = Vec::new();
    for (i, (mode, privacy)) in [("E2ES", false), ("privacy", true)].into_iter().enumerate() {
        step(out, "")?;
        step(
            out,
            &format!("== {}. provisioning in {mode} mode ==", i + 1),
        )?;
        let policy = Policy {
            privacy_enabled: privacy,
            ..Policy::default()
        };
        results.push(run_mode(out, mode, policy, &store, &card_dir)?);
    }
    step(out, "")?;
    step(out, "== issuer database (airtight issuer list) ==")?;
    let all = store
        .issuances()
        .map_err(|e| CliError::Store(e.to_string()))?;
    write!(out, "{}", issuer::table(&all)).map_err(|e| CliError::Io(e.to_string()))?;
    let mut sks = card::open(&card_dir, false)?;
    step(out, "")?;
    step(out, "== card (airtight card keys) ==")?;
    write!(out, "{}", card::keys_table(&mut sks)?).map_err(|e| CliError::Io(e.to_string()))?;
    let signatures: usize = results.iter().map(|r| r.verified_signatures).sum();
    step(out, "")?;
    step(
        out,
        &format!(
            "demo OK: {} provisioning sessions (E2ES and privacy), {} issuances recorded, {} signatures verified",
            results.len(),
            all.len(),
            signatures
        ),
    )?;
    Ok(results)
}
