//! The file-backed reference card of the CLI: a card directory holds the device identity
//! (`device.key.pem`, `device.chain.pem`, made on first use under the test device CA of
//! `airtight-pki`, which the reference issuer trusts) and the card's store (`store/`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use airtight_card::ReferenceSks;
use airtight_issuer::http::pages::{certificate_summary, hex};
use airtight_pki::{DeviceIdentity, DeviceKeyKind};
use airtight_proto::keys::{
    HashAlg, KeyType, PublicKey, SignatureAlgorithm, certificate_public_key, sha256,
};
use airtight_proto::policy::DeleteProtection;
use airtight_proto::session1::device_id_string;
use airtight_proto::sks::{
    ExtensionSubType, KeyHandle, KeyProtectionInfo, PinPolicyInfo, ProtectionStatus,
    SecureKeyStore, SksErrorCode,
};

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

/// Opens the card in `dir` (creating it if `create`): [`crate::source::open_card_dir`], the
/// one way a card directory is opened (private modes, the store's seal, its warnings, the
/// device-PIN test mode).
pub fn open(dir: &Path, create: bool) -> Result<ReferenceSks, CliError> {
    crate::source::open_card_dir(dir, create, false, None)
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
    /// Length in bytes of an imported symmetric key, 0 if none.
    pub symmetric_key_length: u16,
    /// The type URIs of the key's extensions (and property bags, logotypes).
    pub extension_types: Vec<String>,
    /// The issuer's id of the key (e.g. `Key.1`), as recorded by `enroll` in the card
    /// directory ([`KEY_IDS_FILE`]); `None` if unknown.
    pub id: Option<String>,
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
            symmetric_key_length: a.symmetric_key_length,
            extension_types: a.extension_types,
            id: None,
        });
    }
    Err(CliError::Card("too many keys".into()))
}

/// `card keys`.
pub fn keys_table<S: SecureKeyStore + ?Sized>(card: &mut S) -> Result<String, CliError> {
    let keys = keys_of(card)?;
    Ok(keys_text(&keys))
}

/// `card keys` for keys already read (with their ids).
pub fn keys_text(keys: &[CardKey]) -> String {
    let keys = keys.to_vec();
    let mut out = String::new();
    if keys.is_empty() {
        out.push_str("no keys\n");
        return out;
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
        if let Some(id) = &k.id {
            let _ = writeln!(out, "  id:        {id}");
        }
        if k.symmetric_key_length > 0 {
            let _ = writeln!(out, "  symmetric: {} bytes", k.symmetric_key_length);
        }
        if let Some(s) = s {
            let _ = writeln!(out, "  subject:   {}", s.subject);
            let _ = writeln!(out, "  issuer:    {}", s.issuer);
            let _ = writeln!(out, "  sha256:    {}", s.sha256);
        }
        for a in &k.endorsed_algorithms {
            let _ = writeln!(out, "  endorsed:  {a}");
        }
        for t in &k.extension_types {
            let _ = writeln!(out, "  extension: {t}");
        }
    }
    out
}

/// Finds a key by handle number, friendly name or (a prefix of at least 8 hex digits of) the
/// SHA-256 of its certificate.
pub fn find_key<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    selector: &str,
) -> Result<CardKey, CliError> {
    let keys = keys_of(card)?;
    select_key(&keys, selector)
}

/// Shortest SHA-256 prefix accepted as a key selector (hex digits).
pub const MIN_SHA256_PREFIX: usize = 8;

/// Picks the key `selector` names among `keys`: its handle (a number), the issuer's key id
/// (e.g. `Key.1`, as `enroll` printed it and `card keys` lists it), its friendly name, or a
/// prefix of at least [`MIN_SHA256_PREFIX`] hex digits of its certificate's SHA-256.
pub fn select_key(keys: &[CardKey], selector: &str) -> Result<CardKey, CliError> {
    if let Ok(n) = selector.parse::<u32>()
        && let Some(k) = keys.iter().find(|k| k.handle.0 == n)
    {
        return Ok(k.clone());
    }
    let sel = selector.to_ascii_lowercase();
    let hex_prefix = sel.len() >= MIN_SHA256_PREFIX && sel.bytes().all(|b| b.is_ascii_hexdigit());
    let matches: Vec<&CardKey> = keys
        .iter()
        .filter(|k| {
            k.id.as_deref() == Some(selector)
                || k.friendly_name.as_deref() == Some(selector)
                || (hex_prefix
                    && k.certificate_path
                        .first()
                        .is_some_and(|c| hex(&sha256(c)).starts_with(&sel)))
        })
        .collect();
    match matches.as_slice() {
        [k] => Ok((*k).clone()),
        [] => Err(CliError::Usage(format!(
            "no key matches {selector:?}: give the key's handle, its issuer key id (e.g. \
             Key.1), its friendly name or at least {MIN_SHA256_PREFIX} hex digits of its \
             certificate's SHA-256, as `airtight card keys` lists them"
        ))),
        several => Err(CliError::Usage(format!(
            "{selector:?} matches {} keys (handles {}); use the handle",
            several.len(),
            several
                .iter()
                .map(|k| k.handle.to_string())
                .collect::<Vec<_>>()
                .join(", ")
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
    Ok(verify(key, alg_uri, data, signature))
}

/// Checks `signature` over `data` with the public key of `key`'s certificate.
pub fn verify(key: &CardKey, alg_uri: &str, data: &[u8], signature: Vec<u8>) -> Signed {
    let verified = match (key.certificate_path.first(), signature_algorithm(alg_uri)) {
        (Some(cert), Some(alg)) => certificate_public_key(cert)
            .map_err(|e| e.to_string())
            .and_then(|pk| pk.verify(alg, data, &signature).map_err(|e| e.to_string())),
        (None, _) => Err("the key has no certificate".into()),
        (_, None) => Err(format!("cannot verify {alg_uri} here")),
    };
    Signed {
        signature,
        verified,
    }
}

/// The file of a card directory in which `enroll` records the issuer's key ids (JSON: the
/// SHA-256 of each new key's certificate and its id), so that `--key Key.1` works. The SKS
/// API has no call that returns the id of a key of a closed session.
pub const KEY_IDS_FILE: &str = "key-ids.json";

fn certificate_sha256(k: &CardKey) -> Option<String> {
    k.certificate_path.first().map(|c| hex(&sha256(c)))
}

/// The `(certificate SHA-256, key id)` pairs recorded in `dir` (none if the file is absent).
pub fn recorded_key_ids(dir: &Path) -> Result<Vec<(String, String)>, CliError> {
    let path = dir.join(KEY_IDS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&path, e)),
    };
    let bad = |why: &str| {
        CliError::Card(format!(
            "{}: {why} (delete the file to forget the key ids; the keys stay on the card)",
            path.display()
        ))
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    let mut out = Vec::new();
    for k in v
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| bad("no \"keys\" array"))?
    {
        match (
            k.get("certificate_sha256").and_then(|x| x.as_str()),
            k.get("id").and_then(|x| x.as_str()),
        ) {
            (Some(h), Some(id)) => out.push((h.to_owned(), id.to_owned())),
            _ => return Err(bad("an entry lacks certificate_sha256 or id")),
        }
    }
    Ok(out)
}

/// Sets [`CardKey::id`] from the ids recorded in `dir`.
pub fn attach_ids(keys: &mut [CardKey], dir: &Path) -> Result<(), CliError> {
    let ids = recorded_key_ids(dir)?;
    for k in keys {
        if let Some(h) = certificate_sha256(k) {
            k.id = ids.iter().find(|(s, _)| *s == h).map(|(_, id)| id.clone());
        }
    }
    Ok(())
}

/// Records the ids of the keys an enrolment created: the keys in `after` but not in `before`,
/// in handle (creation) order, get the ids of `created` (the middleware's outcome, in creation
/// order). Nothing is recorded when the counts differ. Entries of keys no longer on the card
/// are dropped.
pub fn record_key_ids(
    dir: &Path,
    before: &[CardKey],
    after: &[CardKey],
    created: &[String],
) -> Result<(), CliError> {
    let mut new: Vec<&CardKey> = after
        .iter()
        .filter(|k| !before.iter().any(|b| b.handle == k.handle))
        .collect();
    new.sort_by_key(|k| k.handle);
    if new.len() != created.len() || created.is_empty() {
        return Ok(());
    }
    let present: Vec<String> = after.iter().filter_map(certificate_sha256).collect();
    let mut entries: Vec<serde_json::Value> = recorded_key_ids(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|(h, _)| present.contains(h))
        .map(|(h, id)| serde_json::json!({"certificate_sha256": h, "id": id}))
        .collect();
    for (k, id) in new.iter().zip(created) {
        if let Some(h) = certificate_sha256(k) {
            entries.push(serde_json::json!({"certificate_sha256": h, "id": id}));
        }
    }
    let text = serde_json::to_string_pretty(&serde_json::json!({ "keys": entries }))
        .map_err(|e| CliError::Card(format!("key ids: {e}")))?;
    let path = dir.join(KEY_IDS_FILE);
    let tmp = dir.join(format!("{KEY_IDS_FILE}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
}

/// How a key is protected, as `card pin status` shows it.
pub fn protection<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    key: &CardKey,
) -> Result<KeyProtectionInfo, CliError> {
    card.get_key_protection_info(key.handle)
        .map_err(|e| CliError::Card(format!("getKeyProtectionInfo: {e}")))
}

/// Tries left before a passphrase with this limit and error count blocks (`None`: no limit).
pub fn tries_left(retry_limit: u16, error_count: u16) -> Option<u16> {
    (retry_limit > 0).then(|| retry_limit.saturating_sub(error_count))
}

/// The state of a PIN or PUK counter as `card pin status` shows it.
fn counter_state(blocked: bool, retry_limit: u16, error_count: u16) -> String {
    if blocked {
        return "BLOCKED".to_owned();
    }
    match tries_left(retry_limit, error_count) {
        Some(n) => format!("{n} of {retry_limit} tries remaining"),
        None => "no retry limit".to_owned(),
    }
}

/// The JSON of `card pin status` (schema `spec/schemas/cli-card-pin-status.schema.json`).
pub fn protection_json(key: &CardKey, p: &KeyProtectionInfo) -> serde_json::Value {
    let s = p.protection_status;
    let pin = p.pin.map(|pin| {
        serde_json::json!({
            "format": pin.format.as_str(),
            "min_length": pin.min_length,
            "max_length": pin.max_length,
            "retry_limit": pin.retry_limit,
            "error_count": pin.error_count,
            "tries_remaining": tries_left(pin.retry_limit, pin.error_count),
            "blocked": s.contains(ProtectionStatus::PIN_BLOCKED),
            "user_modifiable": pin.user_modifiable,
            "input_method": pin.input_method.as_str(),
        })
    });
    let puk = p.puk.map(|puk| {
        serde_json::json!({
            "format": puk.format.as_str(),
            "retry_limit": puk.retry_limit,
            "error_count": puk.error_count,
            "tries_remaining": tries_left(puk.retry_limit, puk.error_count),
            "blocked": s.contains(ProtectionStatus::PUK_BLOCKED),
        })
    });
    serde_json::json!({
        "key": key.handle.0,
        "id": key.id,
        "pin": pin,
        "puk": puk,
        "device_pin": s.contains(ProtectionStatus::DEVICE_PIN),
        "biometric_protection": p.biometric_protection.as_str(),
        "export_protection": p.export_protection.as_str(),
        "delete_protection": p.delete_protection.as_str(),
    })
}

/// `card pin status` as text.
pub fn protection_text(key: &CardKey, p: &KeyProtectionInfo) -> String {
    let s = p.protection_status;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "key {}{}",
        key.handle,
        key.id
            .as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default()
    );
    match &p.pin {
        None if s.contains(ProtectionStatus::DEVICE_PIN) => {
            let _ = writeln!(out, "  PIN:     the device PIN");
        }
        None => {
            let _ = writeln!(out, "  PIN:     none (the key is used without a PIN)");
        }
        Some(pin) => {
            let state = counter_state(
                s.contains(ProtectionStatus::PIN_BLOCKED),
                pin.retry_limit,
                pin.error_count,
            );
            let _ = writeln!(
                out,
                "  PIN:     {state} ({}, {}-{} characters{})",
                pin.format,
                pin.min_length,
                pin.max_length,
                if pin.user_modifiable {
                    ", changeable"
                } else {
                    ", set by the issuer"
                }
            );
        }
    }
    match &p.puk {
        None => {
            let _ = writeln!(out, "  PUK:     none (a blocked PIN cannot be unblocked)");
        }
        Some(puk) => {
            let state = counter_state(
                s.contains(ProtectionStatus::PUK_BLOCKED),
                puk.retry_limit,
                puk.error_count,
            );
            let _ = writeln!(out, "  PUK:     {state} ({})", puk.format);
        }
    }
    let _ = writeln!(out, "  delete:  {}", p.delete_protection);
    let _ = writeln!(out, "  export:  {}", p.export_protection);
    out
}

/// What an SKS call that needs the key's PIN (or PUK) is told.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// The PIN: from this environment variable, else asked on the terminal.
    Pin(Option<&'a str>),
    /// The PUK: from this environment variable, else asked on the terminal.
    Puk(Option<&'a str>),
}

/// Runs `op` with the authorization it needs: none for a key without a PIN (a given
/// `--pin-env` is then ignored, with a note), the PIN or PUK otherwise. A blocked PIN or PUK
/// fails before anything is sent; a wrong one fails with the tries remaining.
pub fn authorized<S: SecureKeyStore + ?Sized, T>(
    card: &mut S,
    key: &CardKey,
    auth: Auth<'_>,
    method: &str,
    note: &mut dyn FnMut(&str),
    mut op: impl FnMut(&mut S, Option<&[u8]>) -> Result<T, airtight_proto::sks::SksError>,
) -> Result<T, CliError> {
    let p = protection(card, key)?;
    let s = p.protection_status;
    let label = key_label(key);
    let (secret_bytes, what) = match auth {
        Auth::Pin(env) => {
            let Some(pin) = p.pin else {
                if env.is_some() {
                    note(&format!(
                        "note: key {label} has no PIN; --pin-env is ignored"
                    ));
                }
                return op(card, None).map_err(|e| CliError::Card(format!("{method}: {e}")));
            };
            if s.contains(ProtectionStatus::PIN_BLOCKED) {
                return Err(pin_blocked(key, &p));
            }
            let left = tries_left(pin.retry_limit, pin.error_count)
                .map(|n| format!(", {n} tries remaining"))
                .unwrap_or_default();
            let typed = crate::pin::obtain(
                env,
                "PIN",
                "--pin-env",
                &format!("PIN for key {label}{left}: "),
            )?;
            (crate::pin::pin_bytes(&typed, pin.format)?, "PIN")
        }
        Auth::Puk(env) => {
            let Some(puk) = p.puk else {
                return Err(CliError::Card(format!(
                    "key {label} has no PUK (see `airtight card pin status --key {}`)",
                    key.handle
                )));
            };
            if s.contains(ProtectionStatus::PUK_BLOCKED) {
                return Err(CliError::Card(format!(
                    "the PUK of key {label} is blocked: the key cannot be unblocked any more"
                )));
            }
            let left = tries_left(puk.retry_limit, puk.error_count)
                .map(|n| format!(", {n} tries remaining"))
                .unwrap_or_default();
            let typed = crate::pin::obtain(
                env,
                "PUK",
                "--puk-env",
                &format!("PUK for key {label}{left}: "),
            )?;
            (crate::pin::pin_bytes(&typed, puk.format)?, "PUK")
        }
    };
    match op(card, Some(&secret_bytes)) {
        Ok(t) => Ok(t),
        Err(e) if e.code() == SksErrorCode::Authorization => Err(wrong_secret(card, key, what)),
        Err(e) => Err(CliError::Card(format!("{method}: {e}"))),
    }
}

/// `Key.1 (handle 3)` or `3`.
pub fn key_label(key: &CardKey) -> String {
    match &key.id {
        Some(id) => format!("{} ({id})", key.handle),
        None => key.handle.to_string(),
    }
}

fn pin_blocked(key: &CardKey, p: &KeyProtectionInfo) -> CliError {
    let label = key_label(key);
    if p.puk.is_some() && !p.protection_status.contains(ProtectionStatus::PUK_BLOCKED) {
        CliError::Card(format!(
            "the PIN of key {label} is blocked (too many wrong PINs); nothing was sent. \
             Unblock it with the PUK: airtight card pin unblock --key {}",
            key.handle
        ))
    } else {
        CliError::Card(format!(
            "the PIN of key {label} is blocked (too many wrong PINs) and the key has no usable \
             PUK: it cannot be used any more"
        ))
    }
}

fn wrong_secret<S: SecureKeyStore + ?Sized>(card: &mut S, key: &CardKey, what: &str) -> CliError {
    let label = key_label(key);
    let Ok(p) = card.get_key_protection_info(key.handle) else {
        return CliError::Card(format!("wrong {what} for key {label}"));
    };
    let (blocked, left) = if what == "PUK" {
        (
            p.protection_status.contains(ProtectionStatus::PUK_BLOCKED),
            p.puk.and_then(|x| tries_left(x.retry_limit, x.error_count)),
        )
    } else {
        (
            p.protection_status.contains(ProtectionStatus::PIN_BLOCKED),
            p.pin.and_then(|x| tries_left(x.retry_limit, x.error_count)),
        )
    };
    if blocked {
        if what == "PIN" {
            return CliError::Card(format!(
                "wrong PIN for key {label}; the PIN is now BLOCKED. {}",
                if p.puk.is_some() {
                    format!(
                        "Unblock it with the PUK: airtight card pin unblock --key {}",
                        key.handle
                    )
                } else {
                    "The key has no PUK: it cannot be used any more.".to_owned()
                }
            ));
        }
        return CliError::Card(format!(
            "wrong PUK for key {label}; the PUK is now BLOCKED: the key cannot be unblocked"
        ));
    }
    match left {
        Some(n) => CliError::Card(format!(
            "wrong {what} for key {label}: {n} {} remaining before the {what} is blocked",
            if n == 1 { "try" } else { "tries" }
        )),
        None => CliError::Card(format!("wrong {what} for key {label}")),
    }
}

/// A new PIN for `key` under `pin`'s policy: from `env`, else asked twice on the terminal
/// (`card pin change`, `card pin unblock --new-pin`).
fn ask_new_pin(
    env: Option<&str>,
    key: &CardKey,
    pin: &PinPolicyInfo,
) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    let new = crate::pin::obtain_new(
        env,
        "new PIN",
        "--new-pin-env",
        &format!(
            "New PIN for key {} ({}-{} {}): ",
            key_label(key),
            pin.min_length,
            pin.max_length,
            pin.format
        ),
    )?;
    crate::pin::pin_bytes(&new, pin.format)
}

/// `card pin change`: the old PIN authorizes the new one.
pub fn change_pin<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    key: &CardKey,
    pin_env: Option<&str>,
    new_pin_env: Option<&str>,
) -> Result<(), CliError> {
    let p = protection(card, key)?;
    let Some(pin) = p.pin else {
        return Err(CliError::Card(format!(
            "key {} has no PIN to change",
            key_label(key)
        )));
    };
    if !pin.user_modifiable {
        return Err(CliError::Card(format!(
            "the issuer made the PIN of key {} not user-modifiable",
            key_label(key)
        )));
    }
    if pin_env.is_none() && !crate::pin::can_prompt() {
        return Err(CliError::Usage(
            "no PIN given and no terminal to ask on: pass --pin-env VAR and --new-pin-env VAR"
                .into(),
        ));
    }
    // Both PINs are collected before the card is touched.
    let new = ask_new_pin(new_pin_env, key, &pin)?;
    authorized(
        card,
        key,
        Auth::Pin(pin_env),
        "changePin",
        &mut |_| {},
        |c, old| c.change_pin(key.handle, old.unwrap_or_default(), &new),
    )
}

/// `card pin unblock`: the PUK resets the PIN's error count (`unlockKey`), or with a new PIN
/// sets it (`setPin`).
pub fn unblock_pin<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    key: &CardKey,
    puk_env: Option<&str>,
    new_pin: Option<Option<&str>>,
) -> Result<(), CliError> {
    let p = protection(card, key)?;
    let Some(pin) = p.pin else {
        return Err(CliError::Card(format!("key {} has no PIN", key_label(key))));
    };
    let new = match new_pin {
        None => None,
        Some(env) => Some(ask_new_pin(env, key, &pin)?),
    };
    authorized(
        card,
        key,
        Auth::Puk(puk_env),
        "unlockKey",
        &mut |_| {},
        |c, puk| {
            let puk = puk.unwrap_or_default();
            match &new {
                Some(n) => c.set_pin(key.handle, puk, n),
                None => c.unlock_key(key.handle, puk),
            }
        },
    )
}

/// `card delete`: `deleteKey` with the authorization the key's delete protection asks for.
pub fn delete<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    key: &CardKey,
    pin_env: Option<&str>,
    puk_env: Option<&str>,
) -> Result<(), CliError> {
    let p = protection(card, key)?;
    let auth = match p.delete_protection {
        DeleteProtection::NonDeletable => {
            return Err(CliError::Card(format!(
                "the issuer made key {} non-deletable",
                key_label(key)
            )));
        }
        DeleteProtection::None => None,
        DeleteProtection::Pin => Some(Auth::Pin(pin_env)),
        DeleteProtection::Puk => Some(Auth::Puk(puk_env)),
    };
    match auth {
        None => card
            .delete_key(key.handle, None)
            .map_err(|e| CliError::Card(format!("deleteKey: {e}"))),
        Some(a) => authorized(card, key, a, "deleteKey", &mut |_| {}, |c, auth| {
            c.delete_key(key.handle, auth)
        }),
    }
}

/// The certificate path of a key as PEM, end entity first.
pub fn certificate_pem(key: &CardKey) -> Result<String, CliError> {
    if key.certificate_path.is_empty() {
        return Err(CliError::Card(format!(
            "key {} has no certificate",
            key_label(key)
        )));
    }
    airtight_pki::pem::encode_all(airtight_pki::pem::CERTIFICATE, &key.certificate_path)
        .map_err(|e| CliError::Card(format!("certificate: {e}")))
}

/// The default HMAC algorithm.
pub const DEFAULT_HMAC: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";

/// The default symmetric encryption algorithm for a key of `len` bytes (AES-CBC with the IV
/// generated by the card and prepended to the ciphertext).
pub fn default_cipher(len: u16) -> Option<&'static str> {
    match len {
        16 => Some("http://www.w3.org/2001/04/xmlenc#aes128-cbc"),
        24 => Some("http://www.w3.org/2001/04/xmlenc#aes192-cbc"),
        32 => Some("http://www.w3.org/2001/04/xmlenc#aes256-cbc"),
        _ => None,
    }
}

/// The extensions of a key, JSON (schema `spec/schemas/cli-card-ext.schema.json`).
pub fn extensions_json<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    key: &CardKey,
    only: Option<&str>,
) -> Result<serde_json::Value, CliError> {
    let mut list = Vec::new();
    for t in &key.extension_types {
        if only.is_some_and(|o| o != t) {
            continue;
        }
        let e = card
            .get_extension(key.handle, t)
            .map_err(|e| CliError::Card(format!("getExtension {t}: {e}")))?;
        let properties = match e.sub_type {
            ExtensionSubType::PropertyBag => Some(
                airtight_proto::session1::parse_property_bag(&e.extension_data)
                    .map_err(|err| CliError::Card(format!("property bag {t}: {err}")))?
                    .into_iter()
                    .map(|p| {
                        serde_json::json!({
                            "name": p.name, "value": p.value, "writable": p.writable
                        })
                    })
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        };
        list.push(serde_json::json!({
            "type": t,
            "sub_type": sub_type_name(e.sub_type),
            "qualifier": e.qualifier,
            "data": airtight_proto::codec::b64url::encode(&e.extension_data),
            "text": std::str::from_utf8(&e.extension_data).ok(),
            "properties": properties,
        }));
    }
    if let Some(o) = only
        && list.is_empty()
    {
        return Err(CliError::Usage(format!(
            "key {} has no extension {o:?}",
            key_label(key)
        )));
    }
    Ok(serde_json::json!({ "key": key.handle.0, "id": key.id, "extensions": list }))
}

fn sub_type_name(t: ExtensionSubType) -> &'static str {
    match t {
        ExtensionSubType::Extension => "extension",
        ExtensionSubType::EncryptedExtension => "encrypted_extension",
        ExtensionSubType::PropertyBag => "property_bag",
        ExtensionSubType::Logotype => "logotype",
    }
}

/// `card ext` as text.
pub fn extensions_text(v: &serde_json::Value) -> String {
    let mut out = String::new();
    let list = v["extensions"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        out.push_str("no extensions\n");
    }
    for e in list {
        let _ = writeln!(
            out,
            "{} [{}{}]",
            e["type"].as_str().unwrap_or(""),
            e["sub_type"].as_str().unwrap_or(""),
            e["qualifier"]
                .as_str()
                .filter(|q| !q.is_empty())
                .map(|q| format!(", {q}"))
                .unwrap_or_default()
        );
        if let Some(props) = e["properties"].as_array() {
            for p in props {
                let _ = writeln!(
                    out,
                    "  {} = {}{}",
                    p["name"].as_str().unwrap_or(""),
                    p["value"].as_str().unwrap_or(""),
                    if p["writable"].as_bool() == Some(true) {
                        " (writable)"
                    } else {
                        ""
                    }
                );
            }
        } else if let Some(t) = e["text"]
            .as_str()
            .filter(|t| !t.chars().any(char::is_control))
        {
            let _ = writeln!(out, "  text: {t}");
        } else {
            let _ = writeln!(
                out,
                "  data (Base64URL): {}",
                e["data"].as_str().unwrap_or("")
            );
        }
    }
    out
}

/// `card info --json` (schema `spec/schemas/cli-card-info.schema.json`).
pub fn info_json<S: SecureKeyStore + ?Sized>(card: &mut S) -> Result<serde_json::Value, CliError> {
    let d = card
        .get_device_info()
        .map_err(|e| CliError::Card(e.to_string()))?;
    let dev = d.certificate_path.first();
    let summary = dev.and_then(|c| certificate_summary(c));
    Ok(serde_json::json!({
        "vendor_name": d.vendor_name,
        "vendor_description": d.vendor_description,
        "api_level": d.api_level,
        "device_id": dev.map(|c| device_id_string(c, true)),
        "device_certificate": summary.map(|s| serde_json::json!({
            "subject": s.subject, "issuer": s.issuer, "sha256": s.sha256,
        })),
        "supported_algorithms": d.supported_algorithms,
        "device_pin_support": d.device_pin_support,
        "biometric_support": d.biometric_support,
        "keys": keys_of(card)?.len(),
    }))
}

/// `card keys --json` (schema `spec/schemas/cli-card-keys.schema.json`).
pub fn keys_json<S: SecureKeyStore + ?Sized>(
    card: &mut S,
    keys: &[CardKey],
) -> Result<serde_json::Value, CliError> {
    let mut list = Vec::new();
    for k in keys {
        let s = k
            .certificate_path
            .first()
            .and_then(|c| certificate_summary(c));
        let p = protection(card, k)?;
        list.push(serde_json::json!({
            "handle": k.handle.0,
            "id": k.id,
            "friendly_name": k.friendly_name,
            "app_usage": k.app_usage,
            "symmetric_key_length": k.symmetric_key_length,
            "certificate": s.map(|s| serde_json::json!({
                "subject": s.subject, "issuer": s.issuer, "serial": s.serial, "sha256": s.sha256,
            })),
            "endorsed_algorithms": k.endorsed_algorithms,
            "extension_types": k.extension_types,
            "protection": protection_json(k, &p),
        }));
    }
    Ok(serde_json::json!({ "keys": list }))
}
