//! The file-backed reference card of the CLI: a card directory holds the device identity
//! (`device.key.pem`, `device.chain.pem`, made on first use under the test device CA of
//! `airtight-pki`, which the reference issuer trusts) and the card's store (`store/`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use airtight_card::{CardConfig, ReferenceSks};
use airtight_issuer::http::pages::{certificate_summary, hex};
use airtight_pki::{DeviceIdentity, DeviceKeyKind};
use airtight_proto::keys::{
    HashAlg, KeyType, PublicKey, SignatureAlgorithm, certificate_public_key, sha256,
};
use airtight_proto::session1::device_id_string;
use airtight_proto::sks::{KeyHandle, SecureKeyStore};

use crate::CliError;

/// The device key file inside a card directory.
pub const DEVICE_KEY_FILE: &str = "device.key.pem";
/// The device certificate path file inside a card directory.
pub const DEVICE_CHAIN_FILE: &str = "device.chain.pem";
/// The store directory inside a card directory.
pub const STORE_DIR: &str = "store";

/// The default card directory: `$AIRTIGHT_CARD_DIR`, else `./airtight-card`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("AIRTIGHT_CARD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("airtight-card"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn io(path: &Path, e: std::io::Error) -> CliError {
    CliError::Io(format!("{}: {e}", path.display()))
}

/// Loads the device identity of `dir`, creating it (and the directory) if `create` and absent.
pub fn device_identity(dir: &Path, create: bool) -> Result<DeviceIdentity, CliError> {
    let key_path = dir.join(DEVICE_KEY_FILE);
    let chain_path = dir.join(DEVICE_CHAIN_FILE);
    if key_path.exists() || chain_path.exists() {
        let key = std::fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?;
        let chain = std::fs::read_to_string(&chain_path).map_err(|e| io(&chain_path, e))?;
        return DeviceIdentity::from_pem(&key, &chain)
            .map_err(|e| CliError::Card(format!("device identity in {}: {e}", dir.display())));
    }
    if !create {
        return Err(CliError::Card(format!(
            "no card in {} (enroll creates one)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut rng = crate::os_rng()?;
    let identity = DeviceIdentity::generate(DeviceKeyKind::P256, &mut rng, now())
        .map_err(|e| CliError::Card(format!("device identity: {e}")))?;
    let (key, chain) = identity
        .to_pem()
        .map_err(|e| CliError::Card(format!("device identity: {e}")))?;
    write_private(&key_path, key.as_bytes())?;
    std::fs::write(&chain_path, chain).map_err(|e| io(&chain_path, e))?;
    Ok(identity)
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> Result<(), CliError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.write_all(data).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, data).map_err(|e| io(path, e))
}

/// Opens the card in `dir` (creating it if `create`).
pub fn open(dir: &Path, create: bool) -> Result<ReferenceSks, CliError> {
    open_with(dir, create, None)
}

/// [`open`], with the device-PIN test mode when `test_device_pin` is given
/// (`--test-device-pin`): keys with `devicePinProtection` then accept exactly that PIN.
pub fn open_with(
    dir: &Path,
    create: bool,
    test_device_pin: Option<&[u8]>,
) -> Result<ReferenceSks, CliError> {
    let identity = device_identity(dir, create)?;
    let key = identity
        .signing_key
        .to_pkcs8_der()
        .map_err(|e| CliError::Card(format!("device key: {e}")))?;
    let mut config =
        CardConfig::production(key, identity.certificate_path.clone(), dir.join(STORE_DIR));
    if let Some(pin) = test_device_pin {
        config = config.with_test_device_pin(pin);
    }
    ReferenceSks::open(config).map_err(|e| CliError::Card(format!("{}: {e}", dir.display())))
}

/// `card info`.
pub fn info<S: SecureKeyStore + ?Sized>(card: &mut S) -> Result<String, CliError> {
    let d = card
        .get_device_info()
        .map_err(|e| CliError::Card(e.to_string()))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vendor:        {} ({})",
        d.vendor_name, d.vendor_description
    );
    let _ = writeln!(out, "SKS API level: {}", d.api_level);
    if let Some(dev) = d.certificate_path.first() {
        let _ = writeln!(out, "device ID:     {}", device_id_string(dev, true));
        if let Some(s) = certificate_summary(dev) {
            let _ = writeln!(out, "device cert:   {} (issuer {})", s.subject, s.issuer);
        }
    }
    let _ = writeln!(out, "algorithms:    {}", d.supported_algorithms.len());
    let _ = writeln!(out, "device PIN:    {}", d.device_pin_support);
    let _ = writeln!(out, "biometrics:    {}", d.biometric_support);
    let _ = writeln!(out, "keys:          {}", keys_of(card)?.len());
    Ok(out)
}

/// A provisioned key as listed by `card keys`.
#[derive(Debug, Clone)]
pub struct CardKey {
    /// The key handle.
    pub handle: KeyHandle,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// `appUsage`.
    pub app_usage: String,
    /// Certificate path, end entity first.
    pub certificate_path: Vec<Vec<u8>>,
    /// Endorsed algorithms.
    pub endorsed_algorithms: Vec<String>,
}

/// Every key of the card.
pub fn keys_of<S: SecureKeyStore + ?Sized>(card: &mut S) -> Result<Vec<CardKey>, CliError> {
    let mut out = Vec::new();
    let mut h = KeyHandle::NONE;
    // The card bounds its own key count; this guards against a misbehaving one.
    for _ in 0..100_000 {
        let Some(k) = card
            .enumerate_keys(h)
            .map_err(|e| CliError::Card(e.to_string()))?
        else {
            return Ok(out);
        };
        h = k.key_handle;
        let a = card
            .get_key_attributes(h)
            .map_err(|e| CliError::Card(e.to_string()))?;
        out.push(CardKey {
            handle: h,
            friendly_name: a.friendly_name,
            app_usage: format!("{:?}", a.app_usage).to_lowercase(),
            certificate_path: a.certificate_path,
            endorsed_algorithms: a.endorsed_algorithms,
        });
    }
    Err(CliError::Card("too many keys".into()))
}

/// `card keys`.
pub fn keys_table<S: SecureKeyStore + ?Sized>(card: &mut S) -> Result<String, CliError> {
    let keys = keys_of(card)?;
    let mut out = String::new();
    if keys.is_empty() {
        out.push_str("no keys\n");
        return Ok(out);
    }
    for k in keys {
        let ee = k.certificate_path.first();
        let s = ee.and_then(|c| certificate_summary(c));
        let _ = writeln!(
            out,
            "key {}: {} [{}]",
            k.handle,
            k.friendly_name.as_deref().unwrap_or("(no name)"),
            k.app_usage
        );
        if let Some(s) = s {
            let _ = writeln!(out, "  subject:   {}", s.subject);
            let _ = writeln!(out, "  issuer:    {}", s.issuer);
            let _ = writeln!(out, "  sha256:    {}", s.sha256);
        }
        for a in &k.endorsed_algorithms {
            let _ = writeln!(out, "  endorsed:  {a}");
        }
    }
    Ok(out)
}

/// Finds a key by handle number, friendly name or (a prefix of at least 8 hex digits of) the
/// SHA-256 of its certificate.
pub fn find_key<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    selector: &str,
) -> Result<CardKey, CliError> {
    let keys = keys_of(card)?;
    let by_handle = selector
        .parse::<u32>()
        .ok()
        .and_then(|n| keys.iter().find(|k| k.handle.to_string() == n.to_string()));
    if let Some(k) = by_handle {
        return Ok(k.clone());
    }
    let sel = selector.to_ascii_lowercase();
    let matches: Vec<&CardKey> = keys
        .iter()
        .filter(|k| {
            k.friendly_name.as_deref() == Some(selector)
                || (sel.len() >= 8
                    && k.certificate_path
                        .first()
                        .is_some_and(|c| hex(&sha256(c)).starts_with(&sel)))
        })
        .collect();
    match matches.as_slice() {
        [k] => Ok((*k).clone()),
        [] => Err(CliError::Usage(format!(
            "no key matches {selector:?} (see `card keys`)"
        ))),
        _ => Err(CliError::Usage(format!(
            "{selector:?} matches several keys; use the handle"
        ))),
    }
}

/// The signature algorithm of a signature URI (for verification).
pub fn signature_algorithm(uri: &str) -> Option<SignatureAlgorithm> {
    const XMLDSIG: &str = "http://www.w3.org/2001/04/xmldsig-more#";
    Some(match uri.strip_prefix(XMLDSIG)? {
        "rsa-sha256" => SignatureAlgorithm::RsaPkcs1(HashAlg::Sha256),
        "rsa-sha384" => SignatureAlgorithm::RsaPkcs1(HashAlg::Sha384),
        "rsa-sha512" => SignatureAlgorithm::RsaPkcs1(HashAlg::Sha512),
        "ecdsa-sha256" => SignatureAlgorithm::Ecdsa(HashAlg::Sha256),
        "ecdsa-sha384" => SignatureAlgorithm::Ecdsa(HashAlg::Sha384),
        "ecdsa-sha512" => SignatureAlgorithm::Ecdsa(HashAlg::Sha512),
        _ => return None,
    })
}

/// The usual signature URI for a key type.
pub fn default_signature_uri(key: &PublicKey) -> &'static str {
    match key.key_type() {
        KeyType::Rsa { .. } => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        _ => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    }
}

/// A signature and its check against the key's certificate.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The signature (ECDSA: raw r‖s).
    pub signature: Vec<u8>,
    /// The verification against the end-entity certificate's public key.
    pub verified: Result<(), String>,
}

/// Signs `data` with `key` (PIN `pin`) and verifies the result with the certificate's key.
pub fn sign<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    key: &CardKey,
    alg_uri: &str,
    pin: Option<&[u8]>,
    data: &[u8],
) -> Result<Signed, CliError> {
    let signature = card
        .sign_data(key.handle, alg_uri, None, false, pin, data)
        .map_err(|e| CliError::Card(format!("signData: {e}")))?;
    let verified = match (key.certificate_path.first(), signature_algorithm(alg_uri)) {
        (Some(cert), Some(alg)) => certificate_public_key(cert)
            .map_err(|e| e.to_string())
            .and_then(|pk| pk.verify(alg, data, &signature).map_err(|e| e.to_string())),
        (None, _) => Err("the key has no certificate".into()),
        (_, None) => Err(format!("cannot verify {alg_uri} here")),
    };
    Ok(Signed {
        signature,
        verified,
    })
}
