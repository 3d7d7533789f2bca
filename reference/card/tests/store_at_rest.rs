//! The card's secrets at rest, through the public card API only (so the same file also runs
//! against the store before sealing, where it fails):
//! - a copy of the store files (journal, snapshot, and whatever else the store directory
//!   holds) reveals no private key, symmetric key, PIN or PUK, in any encoding;
//! - the store directory is 0700 and its files 0600;
//! - a truncated journal (at several offsets, 200 and ~3,000 bytes among them) or an older
//!   full copy of the store is refused with a message that says what is missing and what to
//!   do, not served;
//! - opening the card and reading from it writes nothing (no compaction on open), and a torn
//!   tail left by a real power cut still opens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use airtight_card::env::ManualClock;
use airtight_card::{CardConfig, ReferenceSks, Storage, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::policy::{ExportProtection, PassphraseFormat};
use airtight_proto::sks::{ExtensionSubType, KeyHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const PIN_USER: &[u8] = b"73915824";
const PIN_PRESET: &[u8] = b"55102938";
const PUK: &[u8] = b"40817263";

fn config(dir: &Path) -> CardConfig {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        5,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    c.storage = Storage::Dir(dir.to_path_buf());
    c
}

fn open(dir: &Path) -> Result<ReferenceSks, airtight_card::CardError> {
    ReferenceSks::open(config(dir))
}

/// Every secret of the provisioned session, with a name for the failure message.
struct Secrets(Vec<(String, Vec<u8>)>);

impl Secrets {
    fn add(&mut self, name: &str, v: &[u8]) {
        self.0.push((name.to_owned(), v.to_vec()));
    }

    /// A private key: its PKCS#8 DER and its raw scalar.
    fn add_private(&mut self, name: &str, pkcs8: &[u8]) {
        self.add(&format!("{name} PKCS#8"), pkcs8);
        let scalar = match PrivateKey::from_pkcs8_der(pkcs8).unwrap() {
            PrivateKey::P256(k) => k.to_bytes().to_vec(),
            PrivateKey::P384(k) => k.to_bytes().to_vec(),
            other => panic!("unexpected key {other:?}"),
        };
        self.add(&format!("{name} scalar"), &scalar);
    }
}

/// Provisions one session with every kind of secret: generated private keys (one protected by
/// a user-defined PIN with a PUK, one by a preset PIN), an imported private key, an imported
/// symmetric key and an encrypted extension. Returns the secrets as the card holds them and
/// the handle of the key with the user-defined PIN.
fn provision(sks: &mut ReferenceSks) -> (Secrets, KeyHandle) {
    let mut s = Secrets(Vec::new());
    let mut is = Issuer::new(41);
    is.create_session(sks).unwrap();
    let puk = is
        .create_puk(sks, "PUK.1", PUK, PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut p1 = PinSpec::new("PIN.1");
    p1.puk = Some((puk, "PUK.1".into()));
    let pin1 = is.create_pin(sks, &p1).unwrap();
    let mut p2 = PinSpec::new("PIN.2");
    p2.user_defined = false;
    let pin2 = is.create_pin(sks, &p2).unwrap();

    let mut g1 = KeySpec::new("Gen.1", uri::P256).with_pin(pin1, "PIN.1", PIN_USER);
    g1.export_protection = ExportProtection::None;
    let gen1 = is.provision_key(sks, &g1).unwrap();
    let mut g2 = KeySpec::new("Gen.2", uri::P384).with_pin(pin2, "PIN.2", PIN_PRESET);
    g2.preset_pin = true;
    g2.export_protection = ExportProtection::None;
    let gen2 = is.provision_key(sks, &g2).unwrap();

    // Imported private key: the certificate certifies the imported key.
    let imported = PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(42));
    let imported_pkcs8 = imported.to_pkcs8_der().unwrap();
    let mut i1 = KeySpec::new("Imp.1", uri::P256);
    i1.export_protection = ExportProtection::None;
    let kd = is.create_key(sks, &i1).unwrap();
    let path = is
        .certificate_path(&imported.public_key().to_spki_der().unwrap())
        .unwrap();
    is.set_certificate_path(sks, kd.key_handle, "Imp.1", &kd.public_key, &path)
        .unwrap();
    is.import_private_key(sks, kd.key_handle, &path[0], &imported_pkcs8)
        .unwrap();

    // Imported symmetric key.
    let symmetric: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
    let mut sy = KeySpec::new("Sym.1", uri::P256);
    sy.export_protection = ExportProtection::None;
    let sym = is.provision_key(sks, &sy).unwrap();
    is.import_symmetric_key(
        sks,
        sym.handle,
        &sym.certificate_path[0].clone(),
        &symmetric,
    )
    .unwrap();

    // An encrypted extension (its plaintext is confidential too).
    let ext = b"confidential extension 4411-7720";
    is.add_extension(
        sks,
        gen1.handle,
        &gen1.certificate_path[0].clone(),
        "urn:airtight:test:secret-extension",
        ExtensionSubType::EncryptedExtension,
        "",
        ext,
    )
    .unwrap();
    is.close(sks).unwrap();

    // The generated private keys as the card holds them (exportable for this test).
    let gen1_pkcs8 = sks.export_key(gen1.handle, None).unwrap();
    let gen2_pkcs8 = sks.export_key(gen2.handle, None).unwrap();
    assert_eq!(
        sks.export_key(kd.key_handle, None).unwrap().as_slice(),
        imported_pkcs8.as_slice()
    );
    assert_eq!(
        sks.export_key(sym.handle, None).unwrap().as_slice(),
        symmetric.as_slice()
    );
    s.add_private("generated P-256 key", &gen1_pkcs8);
    s.add_private("generated P-384 key", &gen2_pkcs8);
    s.add_private("imported P-256 key", &imported_pkcs8);
    s.add("imported symmetric key", &symmetric);
    s.add("user-defined PIN", PIN_USER);
    s.add("preset PIN", PIN_PRESET);
    s.add("PUK", PUK);
    s.add("encrypted extension", ext);
    // The card works with them: a wrong PIN counts, the right one signs.
    expect_code(
        sks.sign_data(
            gen1.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"00000000"),
            b"m",
        ),
        SksErrorCode::Authorization,
    );
    sks.sign_data(
        gen1.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(PIN_USER),
        b"m",
    )
    .unwrap();
    (s, gen1.handle)
}

fn b64(data: &[u8], url: bool, pad: bool) -> String {
    let alphabet: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

fn hex(data: &[u8], upper: bool) -> String {
    data.iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

/// Every encoding of a secret a store could hold it in. Base64 forms are trimmed of their
/// last (partial) group so that a secret embedded at any offset of a longer base64 text is
/// found as well, as are the forms of the three alignments.
fn encodings(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("raw".to_owned(), secret.to_vec()),
        ("hex".to_owned(), hex(secret, false).into_bytes()),
        ("HEX".to_owned(), hex(secret, true).into_bytes()),
    ];
    for (url, pad) in [(false, true), (false, false), (true, true), (true, false)] {
        out.push((
            format!("base64 url={url} pad={pad}"),
            b64(secret, url, pad).into_bytes(),
        ));
    }
    // Inside a longer base64 text the secret starts at any of three alignments: the whole
    // groups of each alignment are what must not appear.
    for skip in 1..3 {
        if secret.len() > skip + 6 {
            for url in [false, true] {
                let mut prefixed = vec![0u8; 3 - skip];
                prefixed.extend_from_slice(secret);
                let text = b64(&prefixed, url, false);
                let whole = (prefixed.len() / 3) * 4;
                out.push((
                    format!("base64 url={url} offset {skip}"),
                    text.as_bytes()[4..whole].to_vec(),
                ));
            }
        }
    }
    out
}

/// The secrets (in any encoding) found in `haystack`.
fn leaks(secrets: &Secrets, haystack: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, secret) in &secrets.0 {
        for (enc, needle) in encodings(secret) {
            if needle.len() >= 4 && haystack.windows(needle.len()).any(|w| w == needle) {
                found.push(format!("{name} as {enc}"));
            }
        }
    }
    found
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for (p, b) in files(from) {
        std::fs::write(to.join(p.file_name().unwrap()), b).unwrap();
    }
}

#[test]
fn copied_store_files_reveal_no_secret_in_any_encoding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let (secrets, _) = {
        let mut sks = open(&dir).unwrap();
        provision(&mut sks)
    };
    // The check can fail: a plaintext store's base64url JSON field would be caught.
    for (name, secret) in &secrets.0 {
        let fake = format!(
            "{{\"private_key\":\"{}\"}}",
            b64(&[b"xy", secret.as_slice()].concat(), true, false)
        );
        assert!(!leaks(&secrets, fake.as_bytes()).is_empty(), "{name}");
    }
    let all = files(&dir);
    let names: Vec<_> = all
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"journal.log".to_owned()) && names.contains(&"state.snap".to_owned()),
        "{names:?}"
    );
    for (path, bytes) in &all {
        let found = leaks(&secrets, bytes);
        assert!(found.is_empty(), "{} reveals {found:?}", path.display());
    }
    // The same after a compaction (everything in the snapshot): wrong and right PINs
    // commit the error counter until the journal is compacted.
    let mut sks = open(&dir).unwrap();
    let key = sks
        .enumerate_keys(KeyHandle::NONE)
        .unwrap()
        .unwrap()
        .key_handle;
    let mut compacted = false;
    for _ in 0..400 {
        let before = std::fs::metadata(dir.join("journal.log")).unwrap().len();
        expect_code(
            sks.sign_data(key, uri::ECDSA_SHA256, None, false, Some(b"00000000"), b"m"),
            SksErrorCode::Authorization,
        );
        sks.sign_data(key, uri::ECDSA_SHA256, None, false, Some(PIN_USER), b"m")
            .unwrap();
        if std::fs::metadata(dir.join("journal.log")).unwrap().len() < before {
            compacted = true;
            break;
        }
    }
    assert!(compacted, "the journal was never compacted");
    drop(sks);
    for (path, bytes) in files(&dir) {
        let found = leaks(&secrets, &bytes);
        assert!(found.is_empty(), "{} reveals {found:?}", path.display());
    }
    // With the device key the store opens and the keys are all there.
    let mut sks = open(&dir).unwrap();
    let mut n = 0;
    let mut h = KeyHandle::NONE;
    while let Some(k) = sks.enumerate_keys(h).unwrap() {
        h = k.key_handle;
        n += 1;
    }
    assert_eq!(n, 4);
}

#[cfg(unix)]
#[test]
fn store_directory_is_0700_and_its_files_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("card").join("store");
    {
        let mut sks = open(&dir).unwrap();
        provision(&mut sks);
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "store directory");
    let all = files(&dir);
    assert!(all.len() >= 2);
    for (p, _) in &all {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
    // Loosened by hand (an old card, a careless copy): tightened when the card opens.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (p, _) in &all {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    drop(open(&dir).unwrap());
    assert_eq!(mode(&dir), 0o700);
    for (p, _) in &all {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
}

/// A card with a key whose PIN (3 tries) is blocked after provisioning: the journal's last
/// commits are the PIN error counter. Returns the directory and the key.
fn blocked_card(tmp: &Path) -> (PathBuf, KeyHandle, PathBuf) {
    let dir = tmp.join("store");
    let before = tmp.join("before-errors");
    let mut sks = open(&dir).unwrap();
    let (_, key) = provision(&mut sks);
    drop(sks);
    copy_dir(&dir, &before);
    let mut sks = open(&dir).unwrap();
    for _ in 0..3 {
        expect_code(
            sks.sign_data(key, uri::ECDSA_SHA256, None, false, Some(b"00000000"), b"m"),
            SksErrorCode::Authorization,
        );
    }
    // Blocked: even the right PIN fails.
    expect_code(
        sks.sign_data(key, uri::ECDSA_SHA256, None, false, Some(PIN_USER), b"m"),
        SksErrorCode::Authorization,
    );
    (dir, key, before)
}

fn assert_refused(dir: &Path, what: &str) {
    match open(dir) {
        Ok(mut sks) => {
            let keys = sks.enumerate_keys(KeyHandle::NONE).unwrap();
            panic!("{what}: the store was served (first key {keys:?})");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("commit") && msg.contains("airtight card repair --accept-loss"),
                "{what}: unclear message: {msg}"
            );
        }
    }
}

#[test]
fn truncated_journal_is_refused_at_every_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _, _) = blocked_card(tmp.path());
    let journal = std::fs::read(dir.join("journal.log")).unwrap();
    assert!(journal.len() > 3_100, "journal of {} bytes", journal.len());
    let mut cuts = vec![200, 3_000, journal.len() - 1, journal.len() - 60];
    cuts.extend((100..journal.len()).step_by(397));
    for cut in cuts {
        let copy = tmp.path().join(format!("cut-{cut}"));
        copy_dir(&dir, &copy);
        std::fs::write(copy.join("journal.log"), &journal[..cut]).unwrap();
        assert_refused(&copy, &format!("journal truncated to {cut} bytes"));
        // Refusing rewrote nothing.
        assert_eq!(
            std::fs::read(copy.join("journal.log")).unwrap(),
            &journal[..cut]
        );
    }
    // The untouched store still opens, with the key still blocked.
    let mut sks = open(&dir).unwrap();
    let key = sks
        .enumerate_keys(KeyHandle::NONE)
        .unwrap()
        .unwrap()
        .key_handle;
    expect_code(
        sks.sign_data(key, uri::ECDSA_SHA256, None, false, Some(PIN_USER), b"m"),
        SksErrorCode::Authorization,
    );
}

#[test]
fn an_older_full_copy_of_the_store_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key, before) = blocked_card(tmp.path());
    // Put back the journal and snapshot from before the PIN errors (an old backup).
    for name in ["journal.log", "state.snap"] {
        std::fs::copy(before.join(name), dir.join(name)).unwrap();
    }
    assert_refused(&dir, "older copy of journal.log and state.snap");
    // Had it been served, the blocked key would sign again.
    let _ = key;
}

#[test]
fn reading_writes_nothing_and_a_torn_tail_still_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let mut sks = open(&dir).unwrap();
        provision(&mut sks);
    }
    // A power cut in the middle of an append: a partial record (length, seq, a few bytes).
    let mut journal = std::fs::read(dir.join("journal.log")).unwrap();
    journal.extend_from_slice(&[200, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    std::fs::write(dir.join("journal.log"), &journal).unwrap();
    let before = files(&dir);
    {
        let mut sks = open(&dir).unwrap();
        sks.get_device_info().unwrap();
        let mut h = KeyHandle::NONE;
        while let Some(k) = sks.enumerate_keys(h).unwrap() {
            h = k.key_handle;
            sks.get_key_attributes(h).unwrap();
            sks.get_key_protection_info(h).unwrap();
        }
        assert_ne!(h, KeyHandle::NONE);
    }
    let after = files(&dir);
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0.display().to_string())
        .collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "a read-only use rewrote the store: {changed:?} ({} files before, {} after)",
        before.len(),
        after.len()
    );
}
