//! Card cases whose verdict hinges on details an honest-looking session never exercises: the
//! MAC is checked before any decryption ([CRY-IMP-001]), every padding or length failure of a
//! decryption gives one code and one text ([CRY-IMP-003]), and 16-bit fields are read unsigned
//! ([SKS-LIM-005]).

use airtight_proto::policy::PassphraseFormat;
use airtight_proto::session1::{self, Method};
use airtight_proto::sks::{
    CreatePukPolicyParams, ExtensionSubType, SecureKeyStore as _, SksError, SksErrorCode,
};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};

use super::{fatal, open};
use crate::case::{Case, Step, Stop};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, ensure, expect_refused, expect_session_gone, ok};

/// The PUK the decryption cases send: 12 digits, so its single block ends in four bytes 0x04.
const PUK: &[u8] = b"123456789012";

/// One way to spoil an encrypted value `IV ‖ C1` of one block (the plaintext padding is
/// `04 04 04 04`). Changing a byte of the IV changes the same byte of the plaintext.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    /// The last plaintext byte becomes 0x00.
    PadZero,
    /// The last plaintext byte becomes 0x11 (more than a block).
    PadTooLong,
    /// The last byte still says 4, but the byte before the last is 0x05.
    PadInconsistent,
    /// The last byte says 16 over a block of digits.
    PadFullBlock,
    /// One byte appended: not a whole number of blocks.
    OneByteMore,
    /// The last byte removed: not a whole number of blocks.
    OneByteLess,
    /// The IV alone: no ciphertext block.
    IvOnly,
}

impl Spoil {
    const ALL: [Spoil; 7] = [
        Spoil::PadZero,
        Spoil::PadTooLong,
        Spoil::PadInconsistent,
        Spoil::PadFullBlock,
        Spoil::OneByteMore,
        Spoil::OneByteLess,
        Spoil::IvOnly,
    ];

    fn name(self) -> &'static str {
        match self {
            Spoil::PadZero => "padding byte 0x00",
            Spoil::PadTooLong => "padding byte 0x11",
            Spoil::PadInconsistent => "inconsistent padding bytes",
            Spoil::PadFullBlock => "padding byte 0x10 over data",
            Spoil::OneByteMore => "33 bytes (not whole blocks)",
            Spoil::OneByteLess => "31 bytes (not whole blocks)",
            Spoil::IvOnly => "16 bytes (IV only)",
        }
    }

    /// Spoils `enc` (`IV ‖ C1`, 32 bytes, over a plaintext ending in `04 04 04 04`).
    fn apply(self, mut enc: Vec<u8>) -> Step<Vec<u8>> {
        ensure(enc.len() == 32, || {
            format!("the emulator's encrypted PUK is {} bytes", enc.len())
        })?;
        match self {
            Spoil::PadZero => enc[15] ^= 0x04,
            Spoil::PadTooLong => enc[15] ^= 0x04 ^ 0x11,
            Spoil::PadInconsistent => enc[14] ^= 0x04 ^ 0x05,
            Spoil::PadFullBlock => enc[15] ^= 0x04 ^ 0x10,
            Spoil::OneByteMore => enc.push(0),
            Spoil::OneByteLess => {
                enc.pop();
            }
            Spoil::IvOnly => enc.truncate(16),
        }
        Ok(enc)
    }
}

/// `createPukPolicy` parameters carrying `encrypted` as the PUK, with an honest MAC over it
/// (`honest_mac`) or a forged one.
fn puk_params(
    is: &mut Issuer,
    encrypted: Vec<u8>,
    honest_mac: bool,
) -> Step<CreatePukPolicyParams> {
    let data = session1::create_puk_policy_data("PUK.1", &encrypted, PassphraseFormat::Numeric, 3)
        .map_err(|e| Stop::fail(format!("mac data: {e}")))?;
    let mac = if honest_mac {
        ok(is.mac(Method::CreatePukPolicy, &data), "mac")?
    } else {
        ok(is.forged_mac(), "forged mac")?
    };
    Ok(CreatePukPolicyParams {
        provisioning_handle: is.handle,
        id: "PUK.1".into(),
        encrypted_puk: encrypted,
        format: PassphraseFormat::Numeric.into(),
        retry_limit: 3,
        mac,
    })
}

/// [CRY-IMP-001] a forged MAC over an encrypted PUK that cannot be decrypted: the MAC check
/// comes first, so the answer is `ERROR_MAC`, never the decryption error.
fn mac_before_decrypt_puk(ctx: &mut Ctx<'_>, spoil: Spoil) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let enc = spoil.apply(ok(is.encrypt(PUK), "encrypt")?)?;
    let p = puk_params(&mut is, enc, false)?;
    let r = ctx.sks.create_puk_policy(&p);
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Mac,
        &format!(
            "createPukPolicy with a forged MAC over an encrypted PUK of {}",
            spoil.name()
        ),
    )
}

/// [CRY-IMP-001] the same for `importSymmetricKey`.
fn mac_before_decrypt_import(ctx: &mut Ctx<'_>) -> Step {
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
    enc.push(0);
    let mac = ok(is.forged_mac(), "forged mac")?;
    let r = ctx.sks.import_symmetric_key(k.handle, &enc, &mac);
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Mac,
        "importSymmetricKey with a forged MAC over a value that is not whole blocks",
    )
}

/// [CRY-IMP-003] every way the decryption of a MAC-valid PUK can fail gives the same code and
/// the same text, and tears the session down.
fn padding_oracle_puk(ctx: &mut Ctx<'_>) -> Step {
    let mut first: Option<(Spoil, SksError)> = None;
    for (n, spoil) in (1u64..).zip(Spoil::ALL) {
        let before = Snapshot::take(ctx.sks)?;
        let mut is = ctx.issuer_n(n);
        ok(is.create_session(ctx.sks), "createProvisioningSession")?;
        let enc = spoil.apply(ok(is.encrypt(PUK), "encrypt")?)?;
        let p = puk_params(&mut is, enc, true)?;
        let what = format!("createPukPolicy with a valid MAC over {}", spoil.name());
        let e = expect_refused(ctx.sks.create_puk_policy(&p), &what)?;
        expect_session_gone(ctx.sks, is.handle, &what)?;
        before.expect_unchanged(ctx.sks, &what)?;
        same_answer(&mut first, spoil, e)?;
    }
    Ok(())
}

/// [CRY-IMP-003] the same for `importSymmetricKey`.
fn padding_oracle_import(ctx: &mut Ctx<'_>) -> Step {
    let mut first: Option<(Spoil, SksError)> = None;
    for (n, spoil) in (1u64..).zip(Spoil::ALL) {
        let before = Snapshot::take(ctx.sks)?;
        let mut is = ctx.issuer_n(n);
        ok(is.create_session(ctx.sks), "createProvisioningSession")?;
        let k = ok(
            is.provision_key(
                ctx.sks,
                &KeySpec::p256("Key.1").endorse(&[uri::HMAC_SHA256]),
            ),
            "provision",
        )?;
        // Twelve bytes: one block ending in four bytes 0x04, as for the PUK.
        let enc = spoil.apply(ok(is.encrypt(&[0x0b; 12]), "encrypt")?)?;
        let data = session1::import_key_data(k.ee(), &enc)
            .map_err(|e| Stop::fail(format!("mac data: {e}")))?;
        let mac = ok(is.mac(Method::ImportSymmetricKey, &data), "mac")?;
        let what = format!("importSymmetricKey with a valid MAC over {}", spoil.name());
        let e = expect_refused(ctx.sks.import_symmetric_key(k.handle, &enc, &mac), &what)?;
        expect_session_gone(ctx.sks, is.handle, &what)?;
        before.expect_unchanged(ctx.sks, &what)?;
        same_answer(&mut first, spoil, e)?;
    }
    Ok(())
}

fn same_answer(first: &mut Option<(Spoil, SksError)>, spoil: Spoil, e: SksError) -> Step {
    match first {
        None => {
            *first = Some((spoil, e));
            Ok(())
        }
        Some((s0, e0)) => ensure(e0.code() == e.code() && e0.message() == e.message(), || {
            format!(
                "{} is answered {} \"{}\" but {} is answered {} \"{}\": the answer tells padding \
                 and length failures apart (a padding oracle)",
                s0.name(),
                e0.code().name(),
                e0.message(),
                spoil.name(),
                e.code().name(),
                e.message()
            )
        }),
    }
}

/// [SKS-LIM-005] a `sessionKeyLimit` (and a `sessionLifeTime`) of 32768 or more is a large
/// budget, not a negative one: a whole session of MAC'd calls succeeds.
fn large_session_values(ctx: &mut Ctx<'_>, key_limit: u16, life_time: u16) -> Step {
    let mut is = ctx.issuer();
    is.session_key_limit = key_limit;
    is.session_life_time = life_time;
    ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    let what = format!("sessionKeyLimit {key_limit}, sessionLifeTime {life_time}");
    let ph = ok(
        is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
        &format!("createPinPolicy ({what})"),
    )?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357"),
        ),
        &format!("provision a key ({what})"),
    )?;
    ok(is.close(ctx.sks), &format!("close ({what})"))?;
    crate::verify::expect_key_listed(ctx.sks, k.handle, "after close")?;
    let s = crate::verify::sessions(ctx.sks, false)?
        .into_iter()
        .find(|s| s.provisioning_handle == is.handle)
        .ok_or_else(|| Stop::fail("the closed session is not enumerated"))?;
    ensure(s.session_life_time == life_time, || {
        format!(
            "enumerateProvisioningSessions reports sessionLifeTime {} for {life_time}",
            s.session_life_time
        )
    })
}

/// [SKS-LIM-005] [POL-PUK-002] a PUK `retryLimit` of 32768 or more is out of range, not negative.
fn puk_retry_large(ctx: &mut Ctx<'_>, retry: u16) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let r = is.create_puk(
        ctx.sks,
        "PUK.1",
        b"123456",
        PassphraseFormat::Numeric,
        retry,
    );
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        &format!("createPukPolicy with retryLimit {retry}"),
    )
}

/// [SKS-LIM-005] [POL-PIN-003] a PIN `retryLimit` of 32768 or more is out of range.
fn pin_retry_large(ctx: &mut Ctx<'_>, retry: u16) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let mut p = PinSpec::new("PIN.1");
    p.retry_limit = retry;
    let r = is.create_pin(ctx.sks, &p);
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        &format!("createPinPolicy with retryLimit {retry}"),
    )
}

/// [SKS-LIM-005] [SKS-EXT-008] an extension of 40,000 bytes (a length of 32768 or more in every
/// encoding) is stored and returned as sent.
fn long_extension(ctx: &mut Ctx<'_>) -> Step {
    const LEN: usize = 40_000;
    let ty = "urn:airtight:harness:long";
    ensure(ctx.profile.extension_data_size as usize >= LEN, || {
        "extensionDataSize below 40000 (SKS-LIM-002 requires 65536)".into()
    })?;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    ok(
        is.add_extension(
            ctx.sks,
            k.handle,
            k.ee(),
            ty,
            ExtensionSubType::Extension,
            "",
            &data,
        ),
        "addExtension of 40000 bytes",
    )?;
    ok(is.close(ctx.sks), "close")?;
    let e = ok(ctx.sks.get_extension(k.handle, ty), "getExtension")?;
    ensure(e.extension_data == data, || {
        format!(
            "getExtension returns {} bytes that differ from the 40000 sent",
            e.extension_data.len()
        )
    })
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::must("card.crypto.mac-before-decrypt.puk-length", &["CRY-IMP-001", "SKS-POL-001"], "createPukPolicy with a forged MAC over an encrypted PUK that is not whole blocks fails with ERROR_MAC (the MAC is checked before decrypting)", |ctx| mac_before_decrypt_puk(ctx, Spoil::OneByteMore)),
        Case::must("card.crypto.mac-before-decrypt.puk-padding", &["CRY-IMP-001", "SKS-POL-001"], "createPukPolicy with a forged MAC over an encrypted PUK with bad padding fails with ERROR_MAC", |ctx| mac_before_decrypt_puk(ctx, Spoil::PadZero)),
        Case::must("card.crypto.mac-before-decrypt.import-symmetric", &["CRY-IMP-001"], "importSymmetricKey with a forged MAC over a value that is not whole blocks fails with ERROR_MAC", mac_before_decrypt_import).needs("import-symmetric-key"),
        Case::must("card.crypto.padding-oracle.puk", &["CRY-IMP-003", "CRY-ENC-006"], "seven decryption failures of a MAC-valid PUK (bad padding bytes, partial blocks, IV only) give one error code and one error text, and each tears the session down", padding_oracle_puk),
        Case::must("card.crypto.padding-oracle.import-symmetric", &["CRY-IMP-003", "CRY-ENC-006"], "seven decryption failures of a MAC-valid imported key give one error code and one error text", padding_oracle_import).needs("import-symmetric-key"),
        Case::must("card.u16.session-key-limit-40000", &["SKS-LIM-005", "CRY-LIM-002"], "a sessionKeyLimit of 40000 is a budget of 40000: a whole session of MAC'd calls and the close succeed", |ctx| large_session_values(ctx, 40_000, 3600)),
        Case::must("card.u16.session-key-limit-65535", &["SKS-LIM-005", "CRY-LIM-002"], "a sessionKeyLimit of 65535 is accepted and a whole session succeeds", |ctx| large_session_values(ctx, u16::MAX, 3600)),
        Case::must("card.u16.session-life-time-40000", &["SKS-LIM-005", "SKS-SES-006", "SKS-SES-021"], "a sessionLifeTime of 40000 seconds keeps the session alive and is enumerated as 40000", |ctx| large_session_values(ctx, 1000, 40_000)),
        Case::must("card.u16.puk-retry-limit-40000", &["SKS-LIM-005", "POL-PUK-002", "SKS-POL-001"], "a PUK retryLimit of 40000 is out of range (ERROR_OPTION), not a negative number", |ctx| puk_retry_large(ctx, 40_000)),
        Case::must("card.u16.pin-retry-limit-40000", &["SKS-LIM-005", "POL-PIN-003", "SKS-POL-002"], "a PIN retryLimit of 40000 is out of range (ERROR_OPTION), not a negative number", |ctx| pin_retry_large(ctx, 40_000)),
        Case::must("card.u16.extension-40000-bytes", &["SKS-LIM-005", "SKS-EXT-008"], "an extension of 40000 bytes is stored and returned as sent", long_extension).needs("extensions"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoils_are_distinct_and_keep_their_shape() {
        let enc: Vec<u8> = (0u8..32).collect();
        let mut seen = Vec::new();
        for s in Spoil::ALL {
            let out = s.apply(enc.clone()).unwrap_or_default();
            assert_ne!(out, enc, "{s:?}");
            assert!(!seen.contains(&out), "{s:?}");
            seen.push(out);
        }
        assert!(Spoil::PadZero.apply(vec![0; 31]).is_err());
    }

    #[test]
    fn same_answer_compares_code_and_text() {
        let mut first = None;
        assert!(same_answer(&mut first, Spoil::PadZero, SksError::crypto("x")).is_ok());
        assert!(same_answer(&mut first, Spoil::IvOnly, SksError::crypto("x")).is_ok());
        assert!(same_answer(&mut first, Spoil::IvOnly, SksError::crypto("y")).is_err());
        assert!(same_answer(&mut first, Spoil::IvOnly, SksError::option("x")).is_err());
    }
}
