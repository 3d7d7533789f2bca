//! Card cases: certificate paths, imports, extensions and property bags, and the close
//! checks.

use airtight_proto::keys::Curve;
use airtight_proto::session1::{self, Method};
use airtight_proto::sks::{ExtensionSubType, KeyBackup, SecureKeyStore as _, SksErrorCode};
use airtight_testkit::emulator::{self, KeySpec, uri};
use hmac::{KeyInit, Mac};

use super::{fatal, fatal_any, open};
use crate::case::{Case, Step, Stop};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, ensure, expect_code, ok};

const EXT: &str = "urn:airtight:harness:ext";
const BAG: &str = "urn:airtight:harness:bag";

fn second_cert_path(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    let r = is.set_certificate_path(
        ctx.sks,
        k.handle,
        "Key.1",
        &k.public_key,
        &k.certificate_path,
    );
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        "second setCertificatePath",
    )
}

fn cert_garbage(ctx: &mut Ctx<'_>, cert: Vec<u8>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let kd = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.1")),
        "createKeyEntry",
    )?;
    let r = is.set_certificate_path(ctx.sks, kd.key_handle, "Key.1", &kd.public_key, &[cert]);
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        "setCertificatePath with a bad certificate",
    )
}

fn cert_of_other_key(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let kd = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.1")),
        "createKeyEntry",
    )?;
    let other = emulator::ec_key(Curve::P256, ctx.seed)
        .public_key()
        .to_spki_der()
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let path = ok(is.certificate_path(&other), "certificate")?;
    // [SKS-CRT-002] accepted here: the MAC binds the path to the key...
    ok(
        is.set_certificate_path(ctx.sks, kd.key_handle, "Key.1", &kd.public_key, &path),
        "setCertificatePath with a foreign key's certificate",
    )?;
    // ... and the close refuses the mismatch.
    let r = is.close(ctx.sks);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "close with a certificate for another key",
    )
}

fn no_certificate(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.2")),
        "createKeyEntry",
    )?;
    let r = is.close(ctx.sks);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "close with a key without certificate",
    )
}

fn duplicate_certificate(ctx: &mut Ctx<'_>) -> Step {
    // A first session holds a key; a second session creates a new key and presents the same
    // end-entity certificate for it (the MAC still binds; the close must refuse).
    let mut is1 = open(ctx)?;
    let k1 = ok(
        is1.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    ok(is1.close(ctx.sks), "close")?;
    let before = Snapshot::take(ctx.sks)?;
    let mut is2 = ctx.issuer_n(2);
    ok(is2.create_session(ctx.sks), "createProvisioningSession")?;
    let kd = ok(
        is2.create_key(ctx.sks, &KeySpec::p256("Key.2")),
        "createKeyEntry",
    )?;
    ok(
        is2.set_certificate_path(
            ctx.sks,
            kd.key_handle,
            "Key.2",
            &kd.public_key,
            &k1.certificate_path,
        ),
        "setCertificatePath",
    )?;
    let r = is2.close(ctx.sks);
    fatal_any(
        ctx,
        &before,
        is2.handle,
        r,
        "close with a duplicate end-entity certificate",
    )
}

/// A well-formed end-entity certificate for `public_key` from the harness issuer CA, padded
/// with subjectAltName entries to exactly `size` bytes, followed by the CA path.
fn certificate_of_size(public_key: &[u8], serial: u64, size: usize) -> Step<Vec<Vec<u8>>> {
    let ca = airtight_pki::fixtures::issuer_ca();
    let serial = airtight_pki::Serial::from_u64(serial & 0x7fff_ffff_ffff)
        .map_err(|e| Stop::fail(format!("serial: {e}")))?;
    let now = airtight_card::TEST_TIME.secs();
    let issue = |names: usize, last: usize, attempt: u32| -> Step<Vec<u8>> {
        let mut alt: Vec<airtight_pki::AltName> = (0..names)
            .map(|i| airtight_pki::AltName::Dns(format!("{:0>92}.example", i)))
            .collect();
        alt.push(airtight_pki::AltName::Dns("p".repeat(last)));
        let profile = airtight_pki::Profile {
            subject_alt_names: alt,
            ..airtight_pki::Profile::end_entity(&format!(
                "CN=airtight harness size {{serial}} {attempt:03}"
            ))
        };
        ca.issue_at(public_key, &profile, &serial, now)
            .map_err(|e| Stop::fail(format!("issue a padded certificate: {e}")))
    };
    // Each full entry is 102 bytes (tag, length, 100 characters); the last entry (1 to 127
    // characters, one length byte) takes up the rest. The signature length varies by a byte or
    // two with the signed content, so each attempt changes the subject a little and adjusts.
    let base = issue(0, 1, 0)?.len();
    let names = size.saturating_sub(base + 20) / 102;
    let mut last = 64;
    for attempt in 0..64 {
        let c = issue(names, last, attempt)?;
        if c.len() == size {
            let mut path = vec![c];
            path.extend(ca.certificate_path().iter().cloned());
            return Ok(path);
        }
        let want = i64::try_from(last).unwrap_or(0) + i64::try_from(size).unwrap_or(0)
            - i64::try_from(c.len()).unwrap_or(0);
        last = usize::try_from(want.clamp(1, 127)).unwrap_or(64);
    }
    Err(Stop::fail(format!(
        "could not build a certificate of exactly {size} bytes"
    )))
}

/// [SKS-CRT-004] [SKS-LIM-002] a well-formed DER certificate of exactly `cryptoDataSize`
/// bytes is accepted (and the session closes); one of a byte more is refused with
/// `ERROR_OPTION`, so the card enforces the size it reports, not only DER syntax.
fn oversize_cert(ctx: &mut Ctx<'_>, over: bool) -> Step {
    let limit = ctx.profile.crypto_data_size as usize;
    let size = if over { limit + 1 } else { limit };
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let kd = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.1")),
        "createKeyEntry",
    )?;
    let path = certificate_of_size(&kd.public_key, ctx.seed.wrapping_add(7), size)?;
    let r = is.set_certificate_path(ctx.sks, kd.key_handle, "Key.1", &kd.public_key, &path);
    let what = format!(
        "setCertificatePath with a well-formed certificate of {size} bytes (cryptoDataSize {limit})"
    );
    if over {
        return fatal(ctx, &before, is.handle, r, SksErrorCode::Option, &what);
    }
    ok(r, &what)?;
    ok(is.close(ctx.sks), "close")?;
    crate::verify::expect_key_listed(ctx.sks, kd.key_handle, "after close")
}

fn import_symmetric(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").endorse(&[uri::HMAC_SHA256]),
        ),
        "provision",
    )?;
    let secret = [0x0bu8; 20];
    ok(
        is.import_symmetric_key(ctx.sks, k.handle, k.ee(), &secret),
        "importSymmetricKey",
    )?;
    ok(is.close(ctx.sks), "close")?;
    let a = ok(ctx.sks.get_key_attributes(k.handle), "getKeyAttributes")?;
    ensure(a.symmetric_key_length == 20, || {
        format!("symmetricKeyLength {}", a.symmetric_key_length)
    })?;
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(p.key_backup.contains(KeyBackup::IMPORTED), || {
        "IMPORTED not set".into()
    })?;
    let got = ok(
        ctx.sks
            .perform_hmac(k.handle, uri::HMAC_SHA256, None, false, None, b"Hi There"),
        "performHmac",
    )?;
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&secret)
        .map_err(|e| Stop::Fail(e.to_string()))?;
    m.update(b"Hi There");
    let want = m.finalize().into_bytes();
    ensure(got.as_slice() == want.as_slice(), || {
        "performHmac differs from HMAC-SHA256 with the imported key".into()
    })
}

fn import_symmetric_len(ctx: &mut Ctx<'_>, len: usize) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").endorse(&[uri::HMAC_SHA256]),
        ),
        "provision",
    )?;
    let r = is.import_symmetric_key(ctx.sks, k.handle, k.ee(), &vec![0x11; len]);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "importSymmetricKey with a bad length",
    )
}

fn import_before_cert(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let kd = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.1")),
        "createKeyEntry",
    )?;
    let r = is.import_symmetric_key(ctx.sks, kd.key_handle, &[], &[0x22; 32]);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "importSymmetricKey before setCertificatePath",
    )
}

fn double_import(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").endorse(&[uri::HMAC_SHA256]),
        ),
        "provision",
    )?;
    ok(
        is.import_symmetric_key(ctx.sks, k.handle, k.ee(), &[0x33; 32]),
        "first import",
    )?;
    let r = is.import_symmetric_key(ctx.sks, k.handle, k.ee(), &[0x44; 32]);
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        "second import",
    )
}

fn bad_padding(ctx: &mut Ctx<'_>, truncate: bool) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").endorse(&[uri::HMAC_SHA256]),
        ),
        "provision",
    )?;
    let mut enc = ok(is.encrypt(&[0x55; 32]), "encrypt")?;
    if truncate {
        enc.pop();
    } else if let Some(b) = enc.last_mut() {
        // Damage the last block: the padding no longer checks (with high probability).
        *b ^= 0x5a;
    }
    let data = session1::import_key_data(k.ee(), &enc).map_err(|e| Stop::Fail(e.to_string()))?;
    let mac = ok(is.mac(Method::ImportSymmetricKey, &data), "mac")?;
    let r = ctx.sks.import_symmetric_key(k.handle, &enc, &mac);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "importSymmetricKey with a valid MAC over an undecryptable value",
    )
}

fn import_private(ctx: &mut Ctx<'_>, matching: bool) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let mut spec = KeySpec::p256("Key.1");
    spec.app_usage = airtight_proto::policy::AppUsage::Encryption;
    let kd = ok(is.create_key(ctx.sks, &spec), "createKeyEntry")?;
    let imported = emulator::ec_key(Curve::P256, ctx.seed ^ 0x1111);
    let certified = if matching {
        imported.public_key()
    } else {
        emulator::ec_key(Curve::P256, ctx.seed ^ 0x2222).public_key()
    };
    let spki = certified
        .to_spki_der()
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let path = ok(is.certificate_path(&spki), "certificate")?;
    ok(
        is.set_certificate_path(ctx.sks, kd.key_handle, "Key.1", &kd.public_key, &path),
        "setCertificatePath",
    )?;
    let pkcs8 = imported
        .to_pkcs8_der()
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let r = is.import_private_key(ctx.sks, kd.key_handle, &path[0], &pkcs8);
    if !matching {
        return match r {
            Err(e) => {
                crate::verify::expect_refused::<(), _>(
                    Err(e),
                    "import of a key that does not match its certificate",
                )?;
                crate::verify::expect_session_gone(ctx.sks, is.handle, "mismatched import")?;
                before.expect_unchanged(ctx.sks, "mismatched import")
            }
            Ok(()) => {
                let r = is.close(ctx.sks);
                fatal_any(
                    ctx,
                    &before,
                    is.handle,
                    r,
                    "close with an imported key that does not match its certificate",
                )
            }
        };
    }
    ok(r, "importPrivateKey")?;
    ok(is.close(ctx.sks), "close")?;
    let sig = ok(
        ctx.sks.sign_data(
            kd.key_handle,
            uri::ECDSA_SHA256,
            None,
            false,
            None,
            b"imported",
        ),
        "signData",
    )?;
    imported
        .public_key()
        .verify(
            airtight_proto::keys::SignatureAlgorithm::ES256,
            b"imported",
            &sig,
        )
        .map_err(|e| Stop::Fail(format!("the card did not sign with the imported key: {e}")))?;
    let p = ok(
        ctx.sks.get_key_protection_info(kd.key_handle),
        "getKeyProtectionInfo",
    )?;
    ensure(p.key_backup.contains(KeyBackup::IMPORTED), || {
        "IMPORTED not set".into()
    })
}

fn symmetric_endorses_asymmetric(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").endorse(&[uri::ECDSA_SHA256]),
        ),
        "provision",
    )?;
    ok(
        is.import_symmetric_key(ctx.sks, k.handle, k.ee(), &[0x66; 32]),
        "importSymmetricKey",
    )?;
    let r = is.close(ctx.sks);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "close with a symmetric key endorsing ECDSA",
    )
}

fn extension(ctx: &mut Ctx<'_>, sub: ExtensionSubType, qualifier: &str, data: &[u8]) -> Step {
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    ok(
        is.add_extension(ctx.sks, k.handle, k.ee(), EXT, sub, qualifier, data),
        "addExtension",
    )?;
    ok(is.close(ctx.sks), "close")?;
    let e = ok(ctx.sks.get_extension(k.handle, EXT), "getExtension")?;
    ensure(e.sub_type == sub, || "subType differs".into())?;
    ensure(e.qualifier == qualifier, || "qualifier differs".into())?;
    ensure(e.extension_data == data, || {
        "extension data differs (an encrypted extension must be stored decrypted)".into()
    })?;
    let a = ok(ctx.sks.get_key_attributes(k.handle), "getKeyAttributes")?;
    ensure(a.extension_types == vec![EXT.to_owned()], || {
        format!("extensionTypes {:?}", a.extension_types)
    })
}

fn extension_refused(
    ctx: &mut Ctx<'_>,
    sub: ExtensionSubType,
    qualifier: &'static str,
    data: Vec<u8>,
    code: Option<SksErrorCode>,
    twice: bool,
) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    if twice {
        ok(
            is.add_extension(ctx.sks, k.handle, k.ee(), EXT, sub, qualifier, &data),
            "first addExtension",
        )?;
    }
    let r = is.add_extension(ctx.sks, k.handle, k.ee(), EXT, sub, qualifier, &data);
    match code {
        Some(c) => fatal(ctx, &before, is.handle, r, c, "addExtension"),
        None => fatal_any(ctx, &before, is.handle, r, "addExtension"),
    }
}

fn bag(props: &[(&str, bool, &str)]) -> Vec<u8> {
    let mut w = airtight_proto::codec::Writer::new();
    for (n, wr, v) in props {
        let _ = w.l_str(n).map(|w| w.bool(*wr)).and_then(|w| w.l_str(v));
    }
    w.into_bytes()
}

fn property_bag(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    let data = bag(&[("user", true, "alice"), ("host", false, "example.com")]);
    ok(
        is.add_extension(
            ctx.sks,
            k.handle,
            k.ee(),
            BAG,
            ExtensionSubType::PropertyBag,
            "",
            &data,
        ),
        "addExtension",
    )?;
    ok(is.close(ctx.sks), "close")?;
    ok(
        ctx.sks.set_property(k.handle, BAG, "user", "bob"),
        "setProperty on a writable property",
    )?;
    let e = ok(ctx.sks.get_extension(k.handle, BAG), "getExtension")?;
    ensure(
        e.extension_data == bag(&[("user", true, "bob"), ("host", false, "example.com")]),
        || "the property bag does not hold the new value".into(),
    )?;
    expect_code(
        ctx.sks.set_property(k.handle, BAG, "host", "evil.example"),
        SksErrorCode::NotAllowed,
        "setProperty on a read-only property",
    )?;
    expect_code(
        ctx.sks.set_property(k.handle, BAG, "nobody", "x"),
        SksErrorCode::Option,
        "setProperty on an unknown name",
    )?;
    expect_code(
        ctx.sks
            .set_property(k.handle, "urn:airtight:none", "user", "x"),
        SksErrorCode::Option,
        "setProperty on an unknown type",
    )?;
    expect_code(
        ctx.sks.get_extension(k.handle, "urn:airtight:none"),
        SksErrorCode::Option,
        "getExtension of an unknown type",
    )
    .map(|_| ())
}

fn close_nonce(ctx: &mut Ctx<'_>, nonce: Vec<u8>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    let r = is.close_with_nonce(ctx.sks, &nonce);
    fatal_any(ctx, &before, is.handle, r, "close with a bad nonce length")
}

pub(super) fn cases() -> Vec<Case> {
    use ExtensionSubType as S;
    vec![
        Case::must("card.cert.second-path", &["SKS-CRT-003", "SKS-TXN-002"], "a second setCertificatePath on a key fails with ERROR_OPTION", second_cert_path),
        Case::must("card.cert.not-der", &["SKS-CRT-004", "SKS-IMP-010"], "a certificate that is not DER X.509 fails with ERROR_OPTION", |ctx| cert_garbage(ctx, vec![0xde, 0xad, 0xbe, 0xef])),
        Case::must("card.cert.truncated-der", &["SKS-CRT-004", "SKS-IMP-010"], "a truncated certificate fails with ERROR_OPTION", |ctx| {
            let mut is = ctx.issuer_n(9);
            let p = ok(is.certificate_path(&emulator::ec_key(Curve::P256, 1).public_key().to_spki_der().unwrap_or_default()), "cert")?;
            let mut c = p[0].clone();
            c.truncate(c.len() / 2);
            cert_garbage(ctx, c)
        }),
        Case::must("card.cert.oversize", &["SKS-CRT-004", "SKS-LIM-001", "SKS-LIM-002", "SKS-IMP-004"], "a well-formed DER certificate of cryptoDataSize + 1 bytes fails with ERROR_OPTION", |ctx| oversize_cert(ctx, true)),
        Case::must("card.cert.at-size-limit", &["SKS-CRT-004", "SKS-LIM-002"], "a well-formed DER certificate of exactly cryptoDataSize bytes is accepted and the session closes", |ctx| oversize_cert(ctx, false)),
        Case::must("card.cert.other-key-refused-at-close", &["SKS-CRT-002", "SKS-CLS-003", "SKS-CLS-006"], "a path for another key is accepted by setCertificatePath and refused by the close, committing nothing", cert_of_other_key),
        Case::must("card.close.key-without-certificate", &["SKS-CLS-001", "SKS-CLS-006"], "a key without certificate path fails the close, committing nothing", no_certificate),
        Case::must("card.close.duplicate-certificate", &["SKS-CLS-004", "SKS-CLS-006", "SKS-TXN-003"], "an end-entity certificate already held by the card fails the close", duplicate_certificate),
        Case::must("card.close.nonce-33", &["CRY-CLS-002"], "a 33-byte close nonce is refused", |ctx| close_nonce(ctx, vec![7; 33])),
        Case::must("card.close.nonce-empty", &["CRY-CLS-002"], "an empty close nonce is refused", |ctx| close_nonce(ctx, Vec::new())),
        Case::must("card.close.nonce-1", &["CRY-CLS-002", "CRY-CLS-001"], "a 1-byte close nonce is accepted and attested", |ctx| {
            let mut is = open(ctx)?;
            ok(is.provision_key(ctx.sks, &KeySpec::p256("Key.1")), "provision")?;
            ok(is.close_with_nonce(ctx.sks, &[9]), "close").map(|_| ())
        }),
        Case::must("card.close.empty-session", &["SKS-SES-012", "CRY-CLS-001"], "a session with no objects closes with a valid attestation", |ctx| {
            let mut is = open(ctx)?;
            ok(is.close(ctx.sks), "close").map(|_| ())
        }),
        Case::must("card.import.symmetric", &["SKS-IMX-005", "SKS-IMX-006", "SKS-ENU-002", "CRY-ENC-001", "CRY-ENC-002", "CRY-ENC-007"], "an imported HMAC key is used as sent (performHmac matches HMAC-SHA256), IMPORTED set", import_symmetric).needs("import-symmetric-key"),
        Case::must("card.import.symmetric-129", &["SKS-IMX-005", "SKS-LIM-001"], "a 129-byte symmetric key is refused", |ctx| import_symmetric_len(ctx, 129)).needs("import-symmetric-key"),
        Case::must("card.import.symmetric-empty", &["SKS-IMX-005"], "an empty symmetric key is refused", |ctx| import_symmetric_len(ctx, 0)).needs("import-symmetric-key"),
        Case::must("card.import.before-certificate", &["SKS-IMX-001"], "an import before setCertificatePath is refused", import_before_cert).needs("import-symmetric-key"),
        Case::must("card.import.twice", &["SKS-IMX-003"], "a second import on a key fails with ERROR_OPTION", double_import).needs("import-symmetric-key"),
        Case::must("card.import.bad-padding", &["CRY-ENC-006"], "a MAC-valid ciphertext with bad padding aborts the session", |ctx| bad_padding(ctx, false)).needs("import-symmetric-key"),
        Case::must("card.import.ciphertext-not-block", &["CRY-ENC-006"], "a MAC-valid ciphertext whose length is not a multiple of 16 aborts the session", |ctx| bad_padding(ctx, true)).needs("import-symmetric-key"),
        Case::must("card.import.symmetric-endorses-ecdsa", &["SKS-CLS-005", "CRY-ALG-007"], "a key with an imported symmetric key endorsing ECDSA fails the close", symmetric_endorses_asymmetric).needs("import-symmetric-key"),
        Case::must("card.import.private-matching", &["SKS-IMX-004", "SKS-IMX-006", "CRY-ENC-007"], "an imported P-256 private key replaces the generated one (signatures verify with it)", |ctx| import_private(ctx, true)).needs("import-private-key"),
        Case::must("card.import.private-mismatch", &["SKS-IMX-004", "SKS-CLS-003"], "an imported private key that does not match the certificate is refused (import or close)", |ctx| import_private(ctx, false)).needs("import-private-key"),
        Case::must("card.ext.plain", &["SKS-EXT-001", "SKS-EXT-008", "SKS-ENU-002"], "an extension is stored and returned as sent", |ctx| extension(ctx, S::Extension, "", b"plain data")).needs("extensions"),
        Case::must("card.ext.encrypted", &["SKS-EXT-005", "SKS-EXT-008", "CRY-MAC-018"], "an encrypted extension is stored and returned decrypted", |ctx| extension(ctx, S::EncryptedExtension, "", b"secret data")).needs("extensions"),
        Case::must("card.ext.logotype", &["SKS-EXT-004", "CRY-PBG-004"], "a logotype keeps its MIME type qualifier", |ctx| extension(ctx, S::Logotype, "image/png", &[0x89, b'P', b'N', b'G'])).needs("extensions"),
        Case::must("card.ext.logotype-no-qualifier", &["SKS-EXT-004"], "a logotype without MIME type is refused with ERROR_OPTION", |ctx| extension_refused(ctx, S::Logotype, "", vec![1, 2, 3], Some(SksErrorCode::Option), false)).needs("extensions"),
        Case::must("card.ext.qualifier-on-plain", &["SKS-EXT-004", "CRY-PBG-004"], "a qualifier on a plain extension is refused with ERROR_OPTION", |ctx| extension_refused(ctx, S::Extension, "text/plain", vec![1, 2, 3], Some(SksErrorCode::Option), false)).needs("extensions"),
        Case::must("card.ext.duplicate-type", &["SKS-EXT-003"], "a second extension of the same type is refused with ERROR_OPTION", |ctx| extension_refused(ctx, S::Extension, "", vec![1, 2, 3], Some(SksErrorCode::Option), true)).needs("extensions"),
        Case::must("card.ext.oversize", &["SKS-EXT-001", "SKS-LIM-002", "SKS-IMP-004"], "extension data larger than extensionDataSize is refused", |ctx| {
            let n = ctx.profile.extension_data_size as usize + 1;
            extension_refused(ctx, S::Extension, "", vec![0x61; n], None, false)
        }).needs("extensions"),
        Case::must("card.ext.before-certificate", &["SKS-EXT-001"], "addExtension before setCertificatePath is refused", |ctx| {
            let before = Snapshot::take(ctx.sks)?;
            let mut is = open(ctx)?;
            let kd = ok(is.create_key(ctx.sks, &KeySpec::p256("Key.1")), "createKeyEntry")?;
            let r = is.add_extension(ctx.sks, kd.key_handle, &[], EXT, S::Extension, "", b"x");
            fatal_any(ctx, &before, is.handle, r, "addExtension before the certificate")
        }).needs("extensions"),
        Case::must("card.ext.property-bag", &["SKS-EXT-009", "CRY-PBG-001", "SKS-EXT-008"], "setProperty changes a writable property only; unknown names and types fail with ERROR_OPTION", property_bag).needs("property-bags"),
        Case::must("card.ext.property-bag-empty", &["CRY-PBG-003"], "an empty property bag is refused", |ctx| extension_refused(ctx, S::PropertyBag, "", Vec::new(), None, false)).needs("property-bags"),
        Case::must("card.ext.property-bag-truncated", &["CRY-PBG-003", "SKS-IMP-010"], "a property bag ending inside an item is refused", |ctx| {
            let mut b = bag(&[("user", true, "alice")]);
            b.pop();
            extension_refused(ctx, S::PropertyBag, "", b, None, false)
        }).needs("property-bags"),
        Case::must("card.ext.property-bag-duplicate", &["CRY-PBG-003"], "a property bag with a name twice is refused", |ctx| extension_refused(ctx, S::PropertyBag, "", bag(&[("user", true, "a"), ("user", false, "b")]), None, false)).needs("property-bags"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_certificates_have_the_exact_size_and_parse() {
        let spki = emulator::ec_key(Curve::P256, 3)
            .public_key()
            .to_spki_der()
            .unwrap_or_default();
        for size in [16_384, 16_385, 20_000, 20_050, 65_536] {
            let path = certificate_of_size(&spki, 5, size).unwrap_or_default();
            assert_eq!(path.first().map(Vec::len), Some(size));
            let key = airtight_proto::keys::certificate_public_key(&path[0]);
            assert!(key.is_ok(), "{size}: {key:?}");
        }
    }
}
