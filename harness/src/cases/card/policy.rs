//! Card cases: PUK and PIN policies, PIN values against their policy (format, length,
//! patterns, grouping), and the shared id namespace.

use airtight_proto::policy::{
    AppUsage, Grouping, InputMethod, PassphraseFormat, PatternRestriction, PatternRestrictions,
};
use airtight_proto::sks::{PukPolicyHandle, SksErrorCode};
use airtight_testkit::emulator::{KeySpec, PinSpec};

use super::{fatal, fatal_any, grouped, open, usage};
use crate::case::{Case, Step};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, ok};

/// A PUK policy that must be refused with `code`.
fn puk_refused(
    ctx: &mut Ctx<'_>,
    id: &str,
    puk: &[u8],
    format: PassphraseFormat,
    retry: u16,
    code: SksErrorCode,
) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let r = is.create_puk(ctx.sks, id, puk, format, retry);
    fatal(ctx, &before, is.handle, r, code, "createPukPolicy")
}

/// A PUK policy that must be accepted (and a session using it closes).
fn puk_accepted(ctx: &mut Ctx<'_>, puk: &[u8], format: PassphraseFormat, retry: u16) -> Step {
    let mut is = open(ctx)?;
    let h = ok(
        is.create_puk(ctx.sks, "PUK.1", puk, format, retry),
        "createPukPolicy",
    )?;
    let ph = ok(
        is.create_pin(ctx.sks, &PinSpec::new("PIN.1").with_puk(h, "PUK.1")),
        "createPinPolicy",
    )?;
    ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357"),
        ),
        "provision",
    )?;
    ok(is.close(ctx.sks), "close").map(|_| ())
}

/// A PIN policy that must be refused with `code`.
fn pin_refused(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut PinSpec), code: SksErrorCode) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let mut p = PinSpec::new("PIN.1");
    f(&mut p);
    let r = is.create_pin(ctx.sks, &p);
    fatal(ctx, &before, is.handle, r, code, "createPinPolicy")
}

/// A key with PIN `pin` under the policy `f` builds: accepted or refused with ERROR_OPTION.
fn pin_value(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut PinSpec), pin: &[u8], accept: bool) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let mut p = PinSpec::new("PIN.1");
    p.max_length = 16;
    f(&mut p);
    let ph = ok(is.create_pin(ctx.sks, &p), "createPinPolicy")?;
    let r = is.provision_key(ctx.sks, &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", pin));
    if accept {
        ok(r, "createKeyEntry with a valid PIN")?;
        ok(is.close(ctx.sks), "close").map(|_| ())
    } else {
        fatal(
            ctx,
            &before,
            is.handle,
            r,
            SksErrorCode::Option,
            "createKeyEntry with a PIN that violates its policy",
        )
    }
}

fn pattern(r: PatternRestriction) -> impl FnOnce(&mut PinSpec) {
    move |p| p.pattern_restrictions = PatternRestrictions::NONE.with(r)
}

/// Two keys under one grouped policy with PINs and appUsages; accepted or refused.
fn grouping(
    ctx: &mut Ctx<'_>,
    g: Grouping,
    a: (AppUsage, &[u8]),
    b: (AppUsage, &[u8]),
    accept: bool,
) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let ph = ok(
        is.create_pin(ctx.sks, &grouped("PIN.1", g)),
        "createPinPolicy",
    )?;
    ok(
        is.provision_key(ctx.sks, &usage("Key.1", a.0).with_pin(ph, "PIN.1", a.1)),
        "first key",
    )?;
    let r = is.provision_key(ctx.sks, &usage("Key.2", b.0).with_pin(ph, "PIN.1", b.1));
    if accept {
        ok(r, "second key")?;
        ok(is.close(ctx.sks), "close").map(|_| ())
    } else {
        fatal(
            ctx,
            &before,
            is.handle,
            r,
            SksErrorCode::Option,
            "second key breaking the grouping",
        )
    }
}

fn duplicate_id(ctx: &mut Ctx<'_>, first: &str) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    match first {
        "puk" => {
            ok(
                is.create_puk(ctx.sks, "X.1", b"123456", PassphraseFormat::Numeric, 3),
                "createPukPolicy",
            )?;
            let r = is.create_pin(ctx.sks, &PinSpec::new("X.1"));
            fatal(
                ctx,
                &before,
                is.handle,
                r,
                SksErrorCode::Option,
                "PIN policy reusing a PUK id",
            )
        }
        "pin" => {
            let ph = ok(
                is.create_pin(ctx.sks, &PinSpec::new("X.1")),
                "createPinPolicy",
            )?;
            let r = is.create_key(ctx.sks, &KeySpec::p256("X.1").with_pin(ph, "X.1", b"1357"));
            fatal(
                ctx,
                &before,
                is.handle,
                r,
                SksErrorCode::Option,
                "key reusing a PIN policy id",
            )
        }
        _ => {
            ok(
                is.create_key(ctx.sks, &KeySpec::p256("X.1")),
                "createKeyEntry",
            )?;
            let r = is.create_key(ctx.sks, &KeySpec::p256("X.1"));
            fatal(
                ctx,
                &before,
                is.handle,
                r,
                SksErrorCode::Option,
                "key reusing a key id",
            )
        }
    }
}

fn ids_scoped(ctx: &mut Ctx<'_>) -> Step {
    for n in 0..2 {
        let mut is = ctx.issuer_n(n);
        ok(is.create_session(ctx.sks), "createProvisioningSession")?;
        ok(
            is.provision_key(ctx.sks, &KeySpec::p256("Same.Id")),
            "provision",
        )?;
        ok(is.close(ctx.sks), "close")?;
    }
    Ok(())
}

fn foreign_puk(ctx: &mut Ctx<'_>) -> Step {
    let mut other = ctx.issuer_n(7);
    ok(other.create_session(ctx.sks), "createProvisioningSession")?;
    let foreign = ok(
        other.create_puk(ctx.sks, "PUK.1", b"123456", PassphraseFormat::Numeric, 3),
        "createPukPolicy",
    )?;
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let r = is.create_pin(ctx.sks, &PinSpec::new("PIN.1").with_puk(foreign, "PUK.1"));
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        "PIN policy naming another session's PUK policy",
    )
}

fn unreferenced(ctx: &mut Ctx<'_>, puk: bool) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    if puk {
        ok(
            is.create_puk(ctx.sks, "PUK.1", b"123456", PassphraseFormat::Numeric, 3),
            "createPukPolicy",
        )?;
    } else {
        ok(
            is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
            "createPinPolicy",
        )?;
    }
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    let r = is.close(ctx.sks);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "close with an unreferenced policy",
    )
}

fn id_refused(ctx: &mut Ctx<'_>, id: &'static str) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let r = is.create_key(ctx.sks, &KeySpec::p256(id));
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::Option,
        "createKeyEntry with a bad id",
    )
}

pub(super) fn cases() -> Vec<Case> {
    use PassphraseFormat as F;
    use PatternRestriction as P;
    vec![
        Case::must(
            "card.puk.numeric-accepted",
            &["SKS-POL-001", "POL-PUK-001", "POL-FMT-002"],
            "a numeric PUK of digits is accepted",
            |ctx| puk_accepted(ctx, b"12345678", F::Numeric, 3),
        ),
        Case::must(
            "card.puk.numeric-with-letter",
            &["POL-PUK-001", "POL-FMT-002", "POL-FMT-006"],
            "a numeric PUK with a letter is refused with ERROR_OPTION",
            |ctx| puk_refused(ctx, "PUK.1", b"1234A6", F::Numeric, 3, SksErrorCode::Option),
        ),
        Case::must(
            "card.puk.alphanumeric-lowercase",
            &["POL-PUK-001", "POL-FMT-002"],
            "an alphanumeric PUK with a lower-case letter is refused with ERROR_OPTION",
            |ctx| {
                puk_refused(
                    ctx,
                    "PUK.1",
                    b"ABCd12",
                    F::Alphanumeric,
                    3,
                    SksErrorCode::Option,
                )
            },
        ),
        Case::must(
            "card.puk.alphanumeric-accepted",
            &["POL-FMT-002"],
            "an alphanumeric PUK of A-Z and 0-9 is accepted",
            |ctx| puk_accepted(ctx, b"AB12CD34", F::Alphanumeric, 3),
        ),
        Case::must(
            "card.puk.binary-any-bytes",
            &["POL-FMT-002", "POL-FMT-001"],
            "a binary PUK of arbitrary bytes is accepted",
            |ctx| puk_accepted(ctx, &[0x00, 0xff, 0x10, 0x80], F::Binary, 3),
        ),
        Case::must(
            "card.puk.empty",
            &["POL-PUK-001"],
            "an empty PUK is refused with ERROR_OPTION",
            |ctx| puk_refused(ctx, "PUK.1", b"", F::Binary, 3, SksErrorCode::Option),
        ),
        Case::must(
            "card.puk.129-bytes",
            &["POL-PUK-001", "POL-FMT-001", "SKS-LIM-001"],
            "a PUK of 129 bytes is refused with ERROR_OPTION",
            |ctx| {
                puk_refused(
                    ctx,
                    "PUK.1",
                    &[b'1'; 129],
                    F::Numeric,
                    3,
                    SksErrorCode::Option,
                )
            },
        ),
        Case::must(
            "card.puk.128-bytes",
            &["POL-PUK-001", "POL-FMT-001"],
            "a PUK of 128 bytes is accepted",
            |ctx| puk_accepted(ctx, &[b'7'; 128], F::Numeric, 3),
        ),
        Case::must(
            "card.puk.retry-limit-10001",
            &["POL-PUK-002", "SKS-POL-001"],
            "a PUK retryLimit of 10001 is refused with ERROR_OPTION",
            |ctx| {
                puk_refused(
                    ctx,
                    "PUK.1",
                    b"123456",
                    F::Numeric,
                    10001,
                    SksErrorCode::Option,
                )
            },
        ),
        Case::must(
            "card.puk.retry-limit-0",
            &["POL-PUK-002", "POL-PUK-006"],
            "a PUK retryLimit of 0 (no lock-out) is accepted",
            |ctx| puk_accepted(ctx, b"123456", F::Numeric, 0),
        ),
        Case::must(
            "card.puk.retry-limit-10000",
            &["POL-PUK-002"],
            "a PUK retryLimit of 10000 is accepted",
            |ctx| puk_accepted(ctx, b"123456", F::Numeric, 10000),
        ),
        Case::must(
            "card.puk.id-33",
            &["SKS-LIM-004"],
            "a 33-character PUK id is refused with ERROR_OPTION",
            |ctx| {
                puk_refused(
                    ctx,
                    &"P".repeat(33),
                    b"123456",
                    F::Numeric,
                    3,
                    SksErrorCode::Option,
                )
            },
        ),
        Case::must(
            "card.puk.unreferenced-at-close",
            &["SKS-CLS-002", "SKS-CLS-006"],
            "a PUK policy no PIN policy references fails the close, committing nothing",
            |ctx| unreferenced(ctx, true),
        ),
        Case::must(
            "card.pin.unreferenced-at-close",
            &["SKS-CLS-002", "SKS-CLS-006"],
            "a PIN policy no key references fails the close, committing nothing",
            |ctx| unreferenced(ctx, false),
        ),
        Case::must(
            "card.pin.min-greater-than-max",
            &["POL-PIN-001", "SKS-POL-004"],
            "minLength > maxLength is refused with ERROR_OPTION",
            |ctx| {
                pin_refused(
                    ctx,
                    |p| {
                        p.min_length = 9;
                        p.max_length = 8;
                    },
                    SksErrorCode::Option,
                )
            },
        ),
        Case::must(
            "card.pin.min-zero",
            &["POL-PIN-001"],
            "minLength 0 is refused with ERROR_OPTION",
            |ctx| pin_refused(ctx, |p| p.min_length = 0, SksErrorCode::Option),
        ),
        Case::must(
            "card.pin.max-129",
            &["POL-PIN-001", "SKS-LIM-001"],
            "maxLength 129 is refused with ERROR_OPTION",
            |ctx| pin_refused(ctx, |p| p.max_length = 129, SksErrorCode::Option),
        ),
        Case::must(
            "card.pin.retry-limit-zero",
            &["POL-PIN-003", "SKS-POL-002"],
            "a PIN retryLimit of 0 is refused with ERROR_OPTION",
            |ctx| pin_refused(ctx, |p| p.retry_limit = 0, SksErrorCode::Option),
        ),
        Case::must(
            "card.pin.retry-limit-10001",
            &["POL-PIN-003"],
            "a PIN retryLimit of 10001 is refused with ERROR_OPTION",
            |ctx| pin_refused(ctx, |p| p.retry_limit = 10001, SksErrorCode::Option),
        ),
        Case::must(
            "card.pin.missing-group-numeric",
            &["POL-PAT-005", "SKS-POL-004"],
            "missing-group with a numeric format is refused with ERROR_OPTION",
            |ctx| pin_refused(ctx, pattern(P::MissingGroup), SksErrorCode::Option),
        ),
        Case::must(
            "card.pin.missing-group-binary",
            &["POL-PAT-005"],
            "missing-group with a binary format is refused with ERROR_OPTION",
            |ctx| {
                pin_refused(
                    ctx,
                    |p| {
                        p.format = F::Binary;
                        p.pattern_restrictions = PatternRestrictions::NONE.with(P::MissingGroup);
                    },
                    SksErrorCode::Option,
                )
            },
        ),
        Case::must(
            "card.pin.unknown-puk-handle",
            &["SKS-POL-003"],
            "a pukPolicyHandle that names nothing is refused with ERROR_OPTION",
            |ctx| {
                pin_refused(
                    ctx,
                    |p| p.puk = Some((PukPolicyHandle(0x7fff_ff00), "PUK.9".into())),
                    SksErrorCode::Option,
                )
            },
        ),
        Case::must(
            "card.pin.foreign-puk-handle",
            &["SKS-POL-003", "POL-OBJ-001"],
            "a pukPolicyHandle of another session is refused with ERROR_OPTION",
            foreign_puk,
        ),
        Case::must(
            "card.pin.caching-without-trusted-gui",
            &["POL-INP-004", "SKS-KEY-011"],
            "enablePinCaching with inputMethod any is refused with ERROR_OPTION",
            |ctx| {
                let before = Snapshot::take(ctx.sks)?;
                let mut is = open(ctx)?;
                let ph = ok(
                    is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
                    "createPinPolicy",
                )?;
                let mut k = KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357");
                k.enable_pin_caching = true;
                let r = is.create_key(ctx.sks, &k);
                fatal(
                    ctx,
                    &before,
                    is.handle,
                    r,
                    SksErrorCode::Option,
                    "enablePinCaching without trusted-gui",
                )
            },
        ),
        Case::must(
            "card.pin.caching-with-trusted-gui",
            &["POL-INP-004", "POL-INP-003"],
            "enablePinCaching with trusted-gui is accepted and reported",
            |ctx| {
                let mut is = open(ctx)?;
                let mut p = PinSpec::new("PIN.1");
                p.input_method = InputMethod::TrustedGui;
                let ph = ok(is.create_pin(ctx.sks, &p), "createPinPolicy")?;
                let mut k = KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357");
                k.enable_pin_caching = true;
                let key = ok(is.provision_key(ctx.sks, &k), "provision")?;
                ok(is.close(ctx.sks), "close")?;
                let info = ok(
                    airtight_proto::sks::SecureKeyStore::get_key_protection_info(
                        ctx.sks, key.handle,
                    ),
                    "getKeyProtectionInfo",
                )?;
                crate::verify::ensure(info.enable_pin_caching, || {
                    "enablePinCaching not reported".into()
                })?;
                crate::verify::ensure(
                    info.pin.map(|p| p.input_method) == Some(InputMethod::TrustedGui),
                    || "inputMethod not reported as trusted-gui".into(),
                )
            },
        ),
        Case::must(
            "card.pin.value.too-short",
            &["POL-PIN-002", "SKS-KEY-005"],
            "a PIN shorter than minLength is refused",
            |ctx| pin_value(ctx, |_| {}, b"135", false),
        ),
        Case::must(
            "card.pin.value.too-long",
            &["POL-PIN-002", "SKS-KEY-005"],
            "a PIN longer than maxLength is refused",
            |ctx| pin_value(ctx, |p| p.max_length = 8, b"135792468", false),
        ),
        Case::must(
            "card.pin.value.numeric-letter",
            &["POL-FMT-002", "POL-FMT-006"],
            "a numeric PIN with a letter is refused",
            |ctx| pin_value(ctx, |_| {}, b"13A7", false),
        ),
        Case::must(
            "card.pin.value.alphanumeric-lowercase",
            &["POL-FMT-002"],
            "an alphanumeric PIN with lower case is refused",
            |ctx| pin_value(ctx, |p| p.format = F::Alphanumeric, b"ab12", false),
        ),
        Case::must(
            "card.pin.value.alphanumeric-ok",
            &["POL-FMT-002"],
            "an alphanumeric PIN of A-Z0-9 is accepted",
            |ctx| pin_value(ctx, |p| p.format = F::Alphanumeric, b"AB12", true),
        ),
        Case::must(
            "card.pin.value.string-utf8",
            &["POL-FMT-001", "POL-FMT-002"],
            "a string PIN of UTF-8 bytes is accepted",
            |ctx| pin_value(ctx, |p| p.format = F::String, "pässwörd".as_bytes(), true),
        ),
        Case::must(
            "card.pin.value.two-in-a-row",
            &["POL-PAT-001"],
            "two-in-a-row rejects 1124",
            |ctx| pin_value(ctx, pattern(P::TwoInARow), b"1124", false),
        ),
        Case::must(
            "card.pin.value.two-in-a-row-ok",
            &["POL-PAT-001"],
            "two-in-a-row accepts 1214",
            |ctx| pin_value(ctx, pattern(P::TwoInARow), b"1214", true),
        ),
        Case::must(
            "card.pin.value.three-in-a-row",
            &["POL-PAT-002"],
            "three-in-a-row rejects 1114",
            |ctx| pin_value(ctx, pattern(P::ThreeInARow), b"1114", false),
        ),
        Case::must(
            "card.pin.value.three-in-a-row-ok",
            &["POL-PAT-002"],
            "three-in-a-row accepts 1124",
            |ctx| pin_value(ctx, pattern(P::ThreeInARow), b"1124", true),
        ),
        Case::must(
            "card.pin.value.sequence-up",
            &["POL-PAT-003"],
            "sequence rejects 1234",
            |ctx| pin_value(ctx, pattern(P::Sequence), b"1234", false),
        ),
        Case::must(
            "card.pin.value.sequence-down",
            &["POL-PAT-003"],
            "sequence rejects 9876",
            |ctx| pin_value(ctx, pattern(P::Sequence), b"9876", false),
        ),
        Case::must(
            "card.pin.value.sequence-partial",
            &["POL-PAT-003"],
            "sequence accepts 1235",
            |ctx| pin_value(ctx, pattern(P::Sequence), b"1235", true),
        ),
        Case::must(
            "card.pin.value.repeated",
            &["POL-PAT-004"],
            "repeated rejects 1231",
            |ctx| pin_value(ctx, pattern(P::Repeated), b"1231", false),
        ),
        Case::must(
            "card.pin.value.repeated-ok",
            &["POL-PAT-004"],
            "repeated accepts 1357",
            |ctx| pin_value(ctx, pattern(P::Repeated), b"1357", true),
        ),
        Case::must(
            "card.pin.value.missing-group-alnum",
            &["POL-PAT-006"],
            "missing-group (alphanumeric) rejects ABCDEF",
            |ctx| {
                pin_value(
                    ctx,
                    |p| {
                        p.format = F::Alphanumeric;
                        p.pattern_restrictions = PatternRestrictions::NONE.with(P::MissingGroup);
                    },
                    b"ABCDEF",
                    false,
                )
            },
        ),
        Case::must(
            "card.pin.value.missing-group-alnum-ok",
            &["POL-PAT-006"],
            "missing-group (alphanumeric) accepts AB12CD",
            |ctx| {
                pin_value(
                    ctx,
                    |p| {
                        p.format = F::Alphanumeric;
                        p.pattern_restrictions = PatternRestrictions::NONE.with(P::MissingGroup);
                    },
                    b"AB12CD",
                    true,
                )
            },
        ),
        Case::must(
            "card.pin.value.missing-group-string",
            &["POL-PAT-007"],
            "missing-group (string) rejects Abc12345",
            |ctx| {
                pin_value(
                    ctx,
                    |p| {
                        p.format = F::String;
                        p.pattern_restrictions = PatternRestrictions::NONE.with(P::MissingGroup);
                    },
                    b"Abc12345",
                    false,
                )
            },
        ),
        Case::must(
            "card.pin.value.missing-group-string-ok",
            &["POL-PAT-007"],
            "missing-group (string) accepts Abc1234!",
            |ctx| {
                pin_value(
                    ctx,
                    |p| {
                        p.format = F::String;
                        p.pattern_restrictions = PatternRestrictions::NONE.with(P::MissingGroup);
                    },
                    b"Abc1234!",
                    true,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.shared-differs",
            &["POL-GRP-001", "POL-GRP-005"],
            "shared: a second key with another PIN is refused",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::Shared,
                    (AppUsage::Authentication, b"1357"),
                    (AppUsage::Signature, b"2468"),
                    false,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.shared-same",
            &["POL-GRP-001"],
            "shared: a second key with the same PIN is accepted",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::Shared,
                    (AppUsage::Authentication, b"1357"),
                    (AppUsage::Signature, b"1357"),
                    true,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.sigstd-same",
            &["POL-GRP-002", "POL-GRP-005", "POL-APP-001"],
            "signature+standard: a signature and an authentication key with the same PIN are refused",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::SignaturePlusStandard,
                    (AppUsage::Signature, b"1357"),
                    (AppUsage::Authentication, b"1357"),
                    false,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.sigstd-standard-differs",
            &["POL-GRP-002"],
            "signature+standard: two non-signature keys with different PINs are refused",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::SignaturePlusStandard,
                    (AppUsage::Encryption, b"1357"),
                    (AppUsage::Authentication, b"2468"),
                    false,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.sigstd-ok",
            &["POL-GRP-002"],
            "signature+standard: signature and standard keys with different PINs are accepted",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::SignaturePlusStandard,
                    (AppUsage::Signature, b"1357"),
                    (AppUsage::Authentication, b"2468"),
                    true,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.unique-same-usage-differs",
            &["POL-GRP-003", "POL-GRP-005"],
            "unique: two keys of one appUsage with different PINs are refused",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::Unique,
                    (AppUsage::Encryption, b"1357"),
                    (AppUsage::Encryption, b"2468"),
                    false,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.unique-other-usage-same",
            &["POL-GRP-003", "POL-APP-001"],
            "unique: keys of different appUsages with the same PIN are refused",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::Unique,
                    (AppUsage::Encryption, b"1357"),
                    (AppUsage::Signature, b"1357"),
                    false,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.unique-ok",
            &["POL-GRP-003"],
            "unique: different appUsages with different PINs are accepted",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::Unique,
                    (AppUsage::Encryption, b"1357"),
                    (AppUsage::Signature, b"2468"),
                    true,
                )
            },
        ),
        Case::must(
            "card.pin.grouping.none-any",
            &["POL-GRP-004"],
            "none: keys may have different PINs",
            |ctx| {
                grouping(
                    ctx,
                    Grouping::None,
                    (AppUsage::Signature, b"1357"),
                    (AppUsage::Signature, b"2468"),
                    true,
                )
            },
        ),
        Case::must(
            "card.namespace.pin-reuses-puk-id",
            &["SKS-NSP-001"],
            "a PIN policy reusing a PUK policy id is refused with ERROR_OPTION",
            |ctx| duplicate_id(ctx, "puk"),
        ),
        Case::must(
            "card.namespace.key-reuses-pin-id",
            &["SKS-NSP-001"],
            "a key reusing a PIN policy id is refused with ERROR_OPTION",
            |ctx| duplicate_id(ctx, "pin"),
        ),
        Case::must(
            "card.namespace.key-reuses-key-id",
            &["SKS-NSP-001"],
            "a key reusing a key id is refused with ERROR_OPTION",
            |ctx| duplicate_id(ctx, "key"),
        ),
        Case::must(
            "card.namespace.scoped-per-session",
            &["SKS-NSP-001"],
            "the same id in two sessions is accepted",
            ids_scoped,
        ),
        Case::must(
            "card.namespace.id-empty",
            &["SKS-LIM-004"],
            "an empty key id is refused with ERROR_OPTION",
            |ctx| id_refused(ctx, ""),
        ),
        Case::must(
            "card.namespace.id-33",
            &["SKS-LIM-004"],
            "a 33-character key id is refused with ERROR_OPTION",
            |ctx| id_refused(ctx, "K23456789012345678901234567890123"),
        ),
        Case::must(
            "card.namespace.id-space",
            &["SKS-LIM-004"],
            "a key id with a space is refused with ERROR_OPTION",
            |ctx| id_refused(ctx, "Key 1"),
        ),
        Case::must(
            "card.namespace.id-control",
            &["SKS-LIM-004"],
            "a key id with a control character is refused with ERROR_OPTION",
            |ctx| id_refused(ctx, "Key\u{7f}1"),
        ),
    ]
}
