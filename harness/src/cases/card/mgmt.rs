//! Card cases: key management (delete, export, PIN and PUK handling) and the User API
//! (signatures, decryption, key agreement, HMAC, endorsement, biometrics).

use airtight_proto::keys::{self, Curve, PrivateKey, PublicKey, SignatureAlgorithm};
use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, InputMethod,
    PassphraseFormat,
};
use airtight_proto::sks::{
    KeyBackup, KeyHandle, ProtectionStatus, SecureKeyStore as _, SksErrorCode,
};
use airtight_testkit::emulator::{self, KeySpec, PinSpec, Provisioned, uri};

use super::{key_with_pin, open};
use crate::case::{Case, Step, Stop};
use crate::ctx::Ctx;
use crate::verify::{ensure, expect_code, expect_key_listed, expect_key_not_listed, ok};

const PIN: &[u8] = b"1357";
const PUK: &[u8] = b"24680246";

fn sign(
    ctx: &mut Ctx<'_>,
    k: KeyHandle,
    pin: Option<&[u8]>,
) -> Result<Vec<u8>, airtight_proto::sks::SksError> {
    ctx.sks
        .sign_data(k, uri::ECDSA_SHA256, None, false, pin, b"data")
}

/// A closed key with a PIN (retry limit 3) under a PUK (retry limit 2).
fn pin_puk_key(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut PinSpec, &mut KeySpec)) -> Step<Provisioned> {
    let mut is = open(ctx)?;
    let puk = ok(
        is.create_puk(ctx.sks, "PUK.1", PUK, PassphraseFormat::Numeric, 2),
        "createPukPolicy",
    )?;
    let mut p = PinSpec::new("PIN.1").with_puk(puk, "PUK.1");
    let mut k = KeySpec::p256("Key.1");
    f(&mut p, &mut k);
    let ph = ok(is.create_pin(ctx.sks, &p), "createPinPolicy")?;
    let key = ok(
        is.provision_key(ctx.sks, &k.with_pin(ph, "PIN.1", PIN)),
        "provision",
    )?;
    ok(is.close(ctx.sks), "close")?;
    Ok(key)
}

/// A closed key without PIN, altered by `f`.
fn plain_key(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut KeySpec)) -> Step<Provisioned> {
    let mut is = open(ctx)?;
    let mut k = KeySpec::p256("Key.1");
    f(&mut k);
    let key = ok(is.provision_key(ctx.sks, &k), "provision")?;
    ok(is.close(ctx.sks), "close")?;
    Ok(key)
}

fn verify_es256(spki: &[u8], data: &[u8], sig: &[u8]) -> Step {
    let pk = PublicKey::from_spki_der(spki).map_err(|e| Stop::Fail(e.to_string()))?;
    pk.verify(SignatureAlgorithm::ES256, data, sig)
        .map_err(|e| Stop::Fail(format!("signature does not verify: {e}")))
}

fn wrong_pin_counts(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |_, _| {})?;
    expect_code(
        sign(ctx, k.handle, Some(b"0000")),
        SksErrorCode::Authorization,
        "wrong PIN",
    )?;
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(p.pin.map(|p| p.error_count) == Some(1), || {
        "the PIN error counter did not count".into()
    })?;
    ok(sign(ctx, k.handle, Some(PIN)), "right PIN")?;
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(p.pin.map(|p| p.error_count) == Some(0), || {
        "a correct PIN did not reset the counter".into()
    })
}

fn block_and_unlock(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |_, _| {})?;
    for _ in 0..3 {
        expect_code(
            sign(ctx, k.handle, Some(b"0000")),
            SksErrorCode::Authorization,
            "wrong PIN",
        )?;
    }
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(
        p.protection_status.contains(ProtectionStatus::PIN_BLOCKED),
        || "PIN_BLOCKED not reported".into(),
    )?;
    expect_code(
        sign(ctx, k.handle, Some(PIN)),
        SksErrorCode::Authorization,
        "right PIN on a blocked key",
    )?;
    expect_code(
        ctx.sks.unlock_key(k.handle, b"11111111"),
        SksErrorCode::Authorization,
        "unlockKey with a wrong PUK",
    )?;
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(p.puk.map(|p| p.error_count) == Some(1), || {
        "the PUK error counter did not count".into()
    })?;
    ok(ctx.sks.unlock_key(k.handle, PUK), "unlockKey")?;
    ok(sign(ctx, k.handle, Some(PIN)), "signData after unlock").map(|_| ())
}

fn puk_blocks(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |_, _| {})?;
    for _ in 0..2 {
        expect_code(
            ctx.sks.unlock_key(k.handle, b"11111111"),
            SksErrorCode::Authorization,
            "wrong PUK",
        )?;
    }
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(
        p.protection_status.contains(ProtectionStatus::PUK_BLOCKED),
        || "PUK_BLOCKED not reported".into(),
    )?;
    expect_code(
        ctx.sks.unlock_key(k.handle, PUK),
        SksErrorCode::Authorization,
        "right PUK when blocked",
    )
    .map(|_| ())
}

fn change_pin(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |_, _| {})?;
    expect_code(
        ctx.sks.change_pin(k.handle, b"0000", b"2468"),
        SksErrorCode::Authorization,
        "changePin with a wrong old PIN",
    )?;
    expect_code(
        ctx.sks.change_pin(k.handle, PIN, b"24"),
        SksErrorCode::Option,
        "changePin to a too-short PIN",
    )?;
    expect_code(
        ctx.sks.change_pin(k.handle, PIN, b"24AB"),
        SksErrorCode::Option,
        "changePin to a non-numeric PIN",
    )?;
    ok(ctx.sks.change_pin(k.handle, PIN, b"2468"), "changePin")?;
    expect_code(
        sign(ctx, k.handle, Some(PIN)),
        SksErrorCode::Authorization,
        "the old PIN",
    )?;
    ok(sign(ctx, k.handle, Some(b"2468")), "the new PIN").map(|_| ())
}

fn set_pin(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |_, _| {})?;
    for _ in 0..3 {
        expect_code(
            sign(ctx, k.handle, Some(b"0000")),
            SksErrorCode::Authorization,
            "wrong PIN",
        )?;
    }
    expect_code(
        ctx.sks.set_pin(k.handle, b"11111111", b"9753"),
        SksErrorCode::Authorization,
        "setPin with a wrong PUK",
    )?;
    ok(ctx.sks.set_pin(k.handle, PUK, b"9753"), "setPin")?;
    ok(
        sign(ctx, k.handle, Some(b"9753")),
        "signData with the PIN set by setPin (unblocked)",
    )
    .map(|_| ())
}

fn not_modifiable(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |p, _| p.user_modifiable = false)?;
    expect_code(
        ctx.sks.change_pin(k.handle, PIN, b"2468"),
        SksErrorCode::NotAllowed,
        "changePin when not userModifiable",
    )?;
    expect_code(
        ctx.sks.set_pin(k.handle, PUK, b"2468"),
        SksErrorCode::NotAllowed,
        "setPin when not userModifiable",
    )?;
    ok(sign(ctx, k.handle, Some(PIN)), "the PIN is unchanged").map(|_| ())
}

fn delete(ctx: &mut Ctx<'_>, prot: DeleteProtection) -> Step {
    let k = pin_puk_key(ctx, |_, k| k.delete_protection = prot)?;
    match prot {
        DeleteProtection::None => ok(ctx.sks.delete_key(k.handle, None), "deleteKey")?,
        DeleteProtection::Pin => {
            expect_code(
                ctx.sks.delete_key(k.handle, Some(b"0000")),
                SksErrorCode::Authorization,
                "deleteKey with a wrong PIN",
            )?;
            expect_key_listed(ctx.sks, k.handle, "after a refused delete")?;
            let p = ok(
                ctx.sks.get_key_protection_info(k.handle),
                "getKeyProtectionInfo",
            )?;
            ensure(p.pin.map(|p| p.error_count) == Some(1), || {
                "a wrong PIN in deleteKey did not count".into()
            })?;
            ok(
                ctx.sks.delete_key(k.handle, Some(PIN)),
                "deleteKey with the PIN",
            )?;
        }
        DeleteProtection::Puk => {
            expect_code(
                ctx.sks.delete_key(k.handle, Some(PIN)),
                SksErrorCode::Authorization,
                "deleteKey with the PIN instead of the PUK",
            )?;
            ok(
                ctx.sks.delete_key(k.handle, Some(PUK)),
                "deleteKey with the PUK",
            )?;
        }
        DeleteProtection::NonDeletable => {
            expect_code(
                ctx.sks.delete_key(k.handle, Some(PUK)),
                SksErrorCode::NotAllowed,
                "deleteKey of a non-deletable key",
            )?;
            return expect_key_listed(ctx.sks, k.handle, "non-deletable key");
        }
    }
    expect_key_not_listed(ctx.sks, k.handle, "after deleteKey")?;
    expect_code(
        ctx.sks.get_key_attributes(k.handle),
        SksErrorCode::NoKey,
        "getKeyAttributes of a deleted key",
    )
    .map(|_| ())
}

fn export(ctx: &mut Ctx<'_>, prot: ExportProtection) -> Step {
    let k = pin_puk_key(ctx, |_, k| k.export_protection = prot)?;
    let r = match prot {
        ExportProtection::None => ctx.sks.export_key(k.handle, None),
        ExportProtection::Pin => {
            expect_code(
                ctx.sks.export_key(k.handle, Some(b"0000")),
                SksErrorCode::Authorization,
                "exportKey with a wrong PIN",
            )?;
            ctx.sks.export_key(k.handle, Some(PIN))
        }
        ExportProtection::Puk => {
            expect_code(
                ctx.sks.export_key(k.handle, Some(PIN)),
                SksErrorCode::Authorization,
                "exportKey with the PIN instead of the PUK",
            )?;
            ctx.sks.export_key(k.handle, Some(PUK))
        }
        ExportProtection::NonExportable => {
            expect_code(
                ctx.sks.export_key(k.handle, Some(PUK)),
                SksErrorCode::NotAllowed,
                "exportKey of a non-exportable key",
            )?;
            let p = ok(
                ctx.sks.get_key_protection_info(k.handle),
                "getKeyProtectionInfo",
            )?;
            return ensure(!p.key_backup.contains(KeyBackup::EXPORTED), || {
                "EXPORTED set without export".into()
            });
        }
    };
    let der = ok(r, "exportKey")?;
    let sk = PrivateKey::from_pkcs8_der(&der)
        .map_err(|e| Stop::Fail(format!("exported key is not PKCS#8: {e}")))?;
    ensure(
        sk.public_key().to_spki_der().ok().as_deref() == Some(k.public_key.as_slice()),
        || "the exported key does not match the public key".into(),
    )?;
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(p.key_backup.contains(KeyBackup::EXPORTED), || {
        "EXPORTED not set".into()
    })
}

fn protection_info(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |p, k| {
        p.retry_limit = 5;
        p.min_length = 4;
        p.max_length = 10;
        p.input_method = InputMethod::Programmatic;
        k.export_protection = ExportProtection::Puk;
        k.delete_protection = DeleteProtection::Pin;
        k.app_usage = AppUsage::Signature;
        k.friendly_name = Some("harness key".into());
    })?;
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(
        p.protection_status
            .contains(ProtectionStatus::PIN_PROTECTED)
            && p.protection_status
                .contains(ProtectionStatus::PUK_PROTECTED),
        || "PIN_PROTECTED/PUK_PROTECTED not reported".into(),
    )?;
    let pin = p.pin.ok_or_else(|| Stop::fail("no PIN info"))?;
    ensure(
        pin.retry_limit == 5
            && pin.min_length == 4
            && pin.max_length == 10
            && pin.input_method == InputMethod::Programmatic
            && pin.format == PassphraseFormat::Numeric,
        || format!("PIN policy reported as {pin:?}"),
    )?;
    let puk = p.puk.ok_or_else(|| Stop::fail("no PUK info"))?;
    ensure(
        puk.retry_limit == 2 && puk.format == PassphraseFormat::Numeric,
        || format!("PUK policy reported as {puk:?}"),
    )?;
    ensure(
        p.export_protection == ExportProtection::Puk
            && p.delete_protection == DeleteProtection::Pin,
        || "export/delete protection reported wrongly".into(),
    )?;
    let a = ok(ctx.sks.get_key_attributes(k.handle), "getKeyAttributes")?;
    ensure(a.app_usage == AppUsage::Signature, || {
        "appUsage reported wrongly".into()
    })?;
    ensure(a.friendly_name.as_deref() == Some("harness key"), || {
        "friendlyName reported wrongly".into()
    })?;
    ensure(a.certificate_path == k.certificate_path, || {
        "certificate path reported wrongly".into()
    })?;
    ensure(a.symmetric_key_length == 0, || {
        "symmetricKeyLength of an asymmetric key is not 0".into()
    })
}

fn no_secrets(ctx: &mut Ctx<'_>) -> Step {
    let k = pin_puk_key(ctx, |_, _| {})?;
    let a = ok(ctx.sks.get_key_attributes(k.handle), "getKeyAttributes")?;
    let p = ok(
        ctx.sks.get_key_protection_info(k.handle),
        "getKeyProtectionInfo",
    )?;
    let text = format!("{a:?}{p:?}");
    for secret in ["1357", "24680246"] {
        ensure(!text.contains(secret), || {
            format!("attributes or protection info reveal {secret}")
        })?;
    }
    Ok(())
}

fn endorsed_only(ctx: &mut Ctx<'_>) -> Step {
    let k = plain_key(ctx, |k| {
        *k = KeySpec::p256("Key.1").endorse(&[uri::ECDSA_SHA384])
    })?;
    expect_code(
        ctx.sks
            .sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"x"),
        SksErrorCode::Algorithm,
        "signData with a non-endorsed algorithm",
    )?;
    let sig = ok(
        ctx.sks
            .sign_data(k.handle, uri::ECDSA_SHA384, None, false, None, b"x"),
        "signData with the endorsed algorithm",
    )?;
    let pk = PublicKey::from_spki_der(&k.public_key).map_err(|e| Stop::Fail(e.to_string()))?;
    pk.verify(SignatureAlgorithm::Ecdsa(keys::HashAlg::Sha384), b"x", &sig)
        .map_err(|e| Stop::Fail(format!("ES384 signature: {e}")))
}

fn ecdh(ctx: &mut Ctx<'_>) -> Step {
    let k = plain_key(ctx, |k| k.app_usage = AppUsage::Encryption)?;
    let peer = emulator::ec_key(Curve::P256, ctx.seed ^ 0xdd);
    let peer_spki = peer
        .public_key()
        .to_spki_der()
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let z = ok(
        ctx.sks
            .key_agreement(k.handle, uri::ECDH_RAW, None, false, None, &peer_spki),
        "keyAgreement",
    )?;
    let mine = PublicKey::from_spki_der(&k.public_key).map_err(|e| Stop::Fail(e.to_string()))?;
    let want = keys::ecdh_z(&peer, &mine).map_err(|e| Stop::Fail(e.to_string()))?;
    ensure(z.as_slice() == want.as_slice(), || {
        "keyAgreement differs from ECDH computed by the peer".into()
    })?;
    ensure(z.len() == 32, || {
        format!("Z has {} bytes, expected 32", z.len())
    })?;
    let other = emulator::ec_key(Curve::P384, 5)
        .public_key()
        .to_spki_der()
        .unwrap_or_default();
    crate::verify::expect_refused(
        ctx.sks
            .key_agreement(k.handle, uri::ECDH_RAW, None, false, None, &other),
        "keyAgreement with a P-384 peer",
    )
    .map(|_| ())
}

fn biometric(ctx: &mut Ctx<'_>, b: BiometricProtection) -> Step {
    match b {
        BiometricProtection::Exclusive => {
            let k = plain_key(ctx, |k| k.biometric_protection = b)?;
            ok(
                ctx.sks
                    .sign_data(k.handle, uri::ECDSA_SHA256, None, true, None, b"x"),
                "signData with biometric",
            )?;
            crate::verify::expect_refused(
                ctx.sks
                    .sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"x"),
                "signData without biometric",
            )?;
            crate::verify::expect_refused(
                ctx.sks
                    .sign_data(k.handle, uri::ECDSA_SHA256, None, true, Some(PIN), b"x"),
                "signData with a PIN argument",
            )
            .map(|_| ())
        }
        BiometricProtection::Alternative => {
            let k = pin_puk_key(ctx, |_, k| k.biometric_protection = b)?;
            ok(
                ctx.sks
                    .sign_data(k.handle, uri::ECDSA_SHA256, None, true, None, b"x"),
                "biometric alone",
            )?;
            ok(sign(ctx, k.handle, Some(PIN)), "PIN alone").map(|_| ())
        }
        BiometricProtection::Combined => {
            let k = pin_puk_key(ctx, |_, k| k.biometric_protection = b)?;
            crate::verify::expect_refused(
                ctx.sks
                    .sign_data(k.handle, uri::ECDSA_SHA256, None, true, None, b"x"),
                "biometric alone",
            )?;
            crate::verify::expect_refused(sign(ctx, k.handle, Some(PIN)), "PIN alone")?;
            ok(
                ctx.sks
                    .sign_data(k.handle, uri::ECDSA_SHA256, None, true, Some(PIN), b"x"),
                "biometric and PIN",
            )
            .map(|_| ())
        }
        BiometricProtection::None => {
            let k = plain_key(ctx, |_| {})?;
            crate::verify::expect_refused(
                ctx.sks
                    .sign_data(k.handle, uri::ECDSA_SHA256, None, true, None, b"x"),
                "biometricAuth true on a key without biometric protection",
            )
            .map(|_| ())
        }
    }
}

fn grouped_counter(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    let ph = ok(
        is.create_pin(
            ctx.sks,
            &super::grouped("PIN.1", airtight_proto::policy::Grouping::Shared),
        ),
        "createPinPolicy",
    )?;
    let a = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", PIN)),
        "key 1",
    )?;
    let b = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.2").with_pin(ph, "PIN.1", PIN)),
        "key 2",
    )?;
    ok(is.close(ctx.sks), "close")?;
    expect_code(
        sign(ctx, a.handle, Some(b"0000")),
        SksErrorCode::Authorization,
        "wrong PIN on key 1",
    )?;
    let p = ok(
        ctx.sks.get_key_protection_info(b.handle),
        "getKeyProtectionInfo of key 2",
    )?;
    ensure(p.pin.map(|p| p.error_count) == Some(1), || {
        "the error counter is not shared across the group".into()
    })?;
    ok(
        ctx.sks.change_pin(a.handle, PIN, b"2468"),
        "changePin on key 1",
    )?;
    ok(sign(ctx, b.handle, Some(b"2468")), "key 2 with the new PIN").map(|_| ())
}

fn orphan_policy(ctx: &mut Ctx<'_>) -> Step {
    let (_, k) = key_with_pin(ctx, PinSpec::new("PIN.1"), KeySpec::p256("Key.1"), PIN)?;
    ok(ctx.sks.delete_key(k.handle, None), "deleteKey")?;
    // With its last key gone, the session owns nothing: it disappears with its policies.
    let closed = crate::verify::sessions(ctx.sks, false)?;
    let keys = crate::verify::keys(ctx.sks)?;
    ensure(keys.iter().all(|e| e.key_handle != k.handle), || {
        "deleted key still listed".into()
    })?;
    let _ = closed;
    Ok(())
}

fn aes_cbc(ctx: &mut Ctx<'_>) -> Step {
    let key = [0x2bu8; 32];
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1").endorse(&[uri::AES256_CBC])),
        "provision",
    )?;
    ok(
        is.import_symmetric_key(ctx.sks, k.handle, k.ee(), &key),
        "importSymmetricKey",
    )?;
    ok(is.close(ctx.sks), "close")?;
    let pt = b"sixteen byte blk and some more".to_vec();
    // The card decrypts what an independent AES-256-CBC (IV first) produced...
    let iv = [0x0fu8; 16];
    let ct = airtight_proto::session1::encrypt_with_key(&key, &iv, &pt);
    let got = ok(
        ctx.sks
            .symmetric_key_encrypt(k.handle, uri::AES256_CBC, false, None, false, None, &ct),
        "decrypt",
    )?;
    ensure(got.as_slice() == pt.as_slice(), || {
        "the card's AES-256-CBC decryption differs".into()
    })?;
    // ... and its encryption (random IV prepended) decrypts independently.
    let ct2 = ok(
        ctx.sks
            .symmetric_key_encrypt(k.handle, uri::AES256_CBC, true, None, false, None, &pt),
        "encrypt",
    )?;
    let back = airtight_proto::session1::decrypt_with_key(&key, &ct2)
        .map_err(|e| Stop::Fail(format!("the card's ciphertext does not decrypt: {e}")))?;
    ensure(back.as_slice() == pt.as_slice(), || {
        "the card's AES-256-CBC encryption differs".into()
    })?;
    let ct3 = ok(
        ctx.sks
            .symmetric_key_encrypt(k.handle, uri::AES256_CBC, true, None, false, None, &pt),
        "encrypt",
    )?;
    ensure(ct2[..16] != ct3[..16], || {
        "two encryptions used the same IV".into()
    })
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::must("card.user.aes256-cbc", &["CRY-ALG-009", "CRY-ALG-007"], "an imported AES-256 key decrypts and encrypts AES-256-CBC (IV first, fresh IV) as an independent implementation does", aes_cbc).needs("import-symmetric-key").needs_alg(uri::AES256_CBC),
        Case::must(
            "card.user.sign.ecdsa",
            &["CRY-ALG-008", "SKS-USR-001"],
            "signData ES256 over raw data verifies with the key's public key",
            |ctx| {
                let k = plain_key(ctx, |_| {})?;
                let sig = ok(
                    ctx.sks
                        .sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"raw data"),
                    "signData",
                )?;
                ensure(sig.len() == 64, || {
                    format!(
                        "ECDSA P-256 signature of {} bytes, expected raw r||s of 64",
                        sig.len()
                    )
                })?;
                verify_es256(&k.public_key, b"raw data", &sig)
            },
        ),
        Case::must(
            "card.user.sign.rsa",
            &["CRY-ALG-008", "SKS-USR-001"],
            "signData RS256 with an RSA-2048 key verifies",
            |ctx| {
                let k = plain_key(ctx, |k| *k = KeySpec::new("Key.1", uri::RSA2048))?;
                let sig = ok(
                    ctx.sks
                        .sign_data(k.handle, uri::RSA_SHA256, None, false, None, b"raw"),
                    "signData",
                )?;
                let pk = PublicKey::from_spki_der(&k.public_key)
                    .map_err(|e| Stop::Fail(e.to_string()))?;
                pk.verify(SignatureAlgorithm::RS256, b"raw", &sig)
                    .map_err(|e| Stop::Fail(format!("RS256: {e}")))
            },
        )
        .needs_alg(uri::RSA2048),
        Case::must(
            "card.user.sign.unfit-algorithm",
            &["SKS-USR-001", "CRY-ALG-003"],
            "signData with an RSA algorithm on an EC key fails with ERROR_ALGORITHM",
            |ctx| {
                let k = plain_key(ctx, |_| {})?;
                expect_code(
                    ctx.sks
                        .sign_data(k.handle, uri::RSA_SHA256, None, false, None, b"x"),
                    SksErrorCode::Algorithm,
                    "signData RS256 with an EC key",
                )
                .map(|_| ())
            },
        ),
        Case::must(
            "card.user.sign.unknown-algorithm",
            &["CRY-ALG-003", "SKS-ERR-006"],
            "signData with an unknown algorithm URI fails with ERROR_ALGORITHM",
            |ctx| {
                let k = plain_key(ctx, |_| {})?;
                expect_code(
                    ctx.sks.sign_data(
                        k.handle,
                        "urn:airtight:no-such-algorithm",
                        None,
                        false,
                        None,
                        b"x",
                    ),
                    SksErrorCode::Algorithm,
                    "signData with an unknown URI",
                )
                .map(|_| ())
            },
        ),
        Case::must(
            "card.user.endorsed-only",
            &["SKS-USR-001"],
            "a key endorsing ecdsa-sha384 refuses ecdsa-sha256 and signs with ecdsa-sha384",
            endorsed_only,
        ),
        Case::must(
            "card.user.endorsed-none",
            &["SKS-USR-002", "CRY-ALG-006"],
            "a key endorsing none refuses every User-API call with ERROR_ALGORITHM",
            |ctx| {
                let k = plain_key(ctx, |k| *k = KeySpec::p256("Key.1").endorse(&[uri::NONE]))?;
                expect_code(
                    ctx.sks
                        .sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"x"),
                    SksErrorCode::Algorithm,
                    "signData",
                )?;
                let peer = emulator::ec_key(Curve::P256, 1)
                    .public_key()
                    .to_spki_der()
                    .unwrap_or_default();
                expect_code(
                    ctx.sks
                        .key_agreement(k.handle, uri::ECDH_RAW, None, false, None, &peer),
                    SksErrorCode::Algorithm,
                    "keyAgreement",
                )
                .map(|_| ())
            },
        ),
        Case::must(
            "card.user.app-usage-no-restriction",
            &["POL-APP-002"],
            "an encryption-usage EC key still signs (appUsage is no algorithm restriction)",
            |ctx| {
                let k = plain_key(ctx, |k| k.app_usage = AppUsage::Encryption)?;
                let sig = ok(
                    ctx.sks
                        .sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"x"),
                    "signData",
                )?;
                verify_es256(&k.public_key, b"x", &sig)
            },
        ),
        Case::must(
            "card.user.ecdh",
            &["CRY-ALG-013", "CRY-KDF-005"],
            "keyAgreement returns the peer's ECDH Z and refuses a peer on another curve",
            ecdh,
        ),
        Case::must(
            "card.user.pin.required",
            &["SKS-USR-003"],
            "a PIN-protected key without PIN fails with ERROR_AUTHORIZATION",
            |ctx| {
                let k = pin_puk_key(ctx, |_, _| {})?;
                expect_code(
                    sign(ctx, k.handle, None),
                    SksErrorCode::Authorization,
                    "signData without PIN",
                )
                .map(|_| ())
            },
        ),
        Case::must(
            "card.user.pin.wrong-counts",
            &["POL-PIN-004", "SKS-USR-003", "SKS-ERR-003"],
            "a wrong PIN counts, a right PIN resets the counter",
            wrong_pin_counts,
        ),
        Case::must(
            "card.user.pin.blocks-and-unlock",
            &[
                "POL-PIN-004",
                "POL-PIN-005",
                "SKS-USR-004",
                "SKS-MGT-003",
                "POL-PUK-004",
            ],
            "the PIN blocks at its retry limit; unlockKey with the PUK unblocks; a wrong PUK counts",
            block_and_unlock,
        ),
        Case::must(
            "card.user.puk.blocks",
            &["POL-PUK-004"],
            "the PUK blocks at its retry limit and then refuses the right PUK",
            puk_blocks,
        ),
        Case::must(
            "card.user.pin.group-shares-counter",
            &["POL-GRP-006", "SKS-MGT-004"],
            "keys of a shared PIN group share the error counter and PIN changes",
            grouped_counter,
        ),
        Case::must(
            "card.mgmt.change-pin",
            &["SKS-MGT-004", "POL-FMT-006", "POL-PIN-002"],
            "changePin needs the old PIN and a new PIN that satisfies the policy",
            change_pin,
        ),
        Case::must(
            "card.mgmt.set-pin",
            &["SKS-MGT-005", "POL-PIN-005"],
            "setPin with the PUK sets a new PIN and unblocks",
            set_pin,
        ),
        Case::must(
            "card.mgmt.not-user-modifiable",
            &["POL-PIN-008"],
            "changePin and setPin fail with ERROR_NOT_ALLOWED when not userModifiable",
            not_modifiable,
        ),
        Case::must(
            "card.mgmt.delete.none",
            &["SKS-MGT-001", "POL-PRT-003"],
            "deleteKey without protection deletes the key",
            |ctx| delete(ctx, DeleteProtection::None),
        ),
        Case::must(
            "card.mgmt.delete.pin",
            &["SKS-MGT-001", "POL-PRT-003"],
            "deleteKey with pin protection needs the PIN; a wrong PIN counts",
            |ctx| delete(ctx, DeleteProtection::Pin),
        ),
        Case::must(
            "card.mgmt.delete.puk",
            &["SKS-MGT-001", "POL-PRT-003"],
            "deleteKey with puk protection needs the PUK",
            |ctx| delete(ctx, DeleteProtection::Puk),
        ),
        Case::must(
            "card.mgmt.delete.non-deletable",
            &["SKS-MGT-001", "POL-PRT-003"],
            "deleteKey of a non-deletable key fails with ERROR_NOT_ALLOWED",
            |ctx| delete(ctx, DeleteProtection::NonDeletable),
        ),
        Case::must(
            "card.mgmt.delete.orphan-policy",
            &["SKS-MGT-001", "POL-OBJ-004"],
            "deleting the last key of a PIN policy leaves nothing behind",
            orphan_policy,
        ),
        Case::must(
            "card.mgmt.export.none",
            &["SKS-MGT-002", "SKS-KEY-006"],
            "exportKey without protection returns the PKCS#8 key and sets EXPORTED",
            |ctx| export(ctx, ExportProtection::None),
        ),
        Case::must(
            "card.mgmt.export.pin",
            &["SKS-MGT-002", "POL-PRT-003"],
            "exportKey with pin protection needs the PIN",
            |ctx| export(ctx, ExportProtection::Pin),
        ),
        Case::must(
            "card.mgmt.export.puk",
            &["SKS-MGT-002", "POL-PRT-003"],
            "exportKey with puk protection needs the PUK",
            |ctx| export(ctx, ExportProtection::Puk),
        ),
        Case::must(
            "card.mgmt.export.non-exportable",
            &["SKS-MGT-002", "POL-PRT-003", "POL-PRT-001"],
            "exportKey of a non-exportable key fails with ERROR_NOT_ALLOWED and sets nothing",
            |ctx| export(ctx, ExportProtection::NonExportable),
        ),
        Case::must(
            "card.mgmt.protection-info",
            &["SKS-ENU-002", "SKS-ENU-003", "POL-INP-003"],
            "getKeyProtectionInfo and getKeyAttributes report what was provisioned",
            protection_info,
        ),
        Case::must(
            "card.mgmt.no-secrets",
            &["SKS-ENU-004"],
            "attributes and protection info do not reveal the PIN or PUK",
            no_secrets,
        ),
        Case::must(
            "card.user.biometric.none-with-bio",
            &["POL-BIO-006"],
            "biometricAuth true on a key without biometric protection is refused",
            |ctx| biometric(ctx, BiometricProtection::None),
        ),
        Case::must(
            "card.user.biometric.exclusive",
            &["POL-BIO-005"],
            "exclusive: usable with biometric only, a PIN argument is refused",
            |ctx| biometric(ctx, BiometricProtection::Exclusive),
        )
        .when(|p| p.biometric_support),
        Case::must(
            "card.user.biometric.alternative",
            &["POL-BIO-003"],
            "alternative: biometric or PIN",
            |ctx| biometric(ctx, BiometricProtection::Alternative),
        )
        .when(|p| p.biometric_support),
        Case::must(
            "card.user.biometric.combined",
            &["POL-BIO-004"],
            "combined: biometric and PIN",
            |ctx| biometric(ctx, BiometricProtection::Combined),
        )
        .when(|p| p.biometric_support),
    ]
}
