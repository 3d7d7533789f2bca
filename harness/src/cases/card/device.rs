//! Card cases: `getDeviceInfo`, `updateFirmware`, error shapes.

use airtight_proto::keys;
use airtight_proto::sks::{
    DeviceType, KeyHandle, MAX_LENGTH_ERROR_MESSAGE, SecureKeyStore as _, SksErrorCode,
};

use crate::case::{Case, Step};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, ensure, expect_code, ok};

fn api_level(ctx: &mut Ctx<'_>) -> Step {
    let d = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    ensure(d.api_level == 106, || {
        format!("apiLevel {}, expected 106", d.api_level)
    })
}

fn device_type(ctx: &mut Ctx<'_>) -> Step {
    let d = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    let b = d.device_type.to_byte();
    ensure(b & !DeviceType::MASK == 0, || {
        format!("deviceType 0x{b:02x} has bits 4-7 set")
    })?;
    ensure(DeviceType::from_byte(b).ok() == Some(d.device_type), || {
        "deviceType does not round-trip".into()
    })
}

fn certificate_path(ctx: &mut Ctx<'_>) -> Step {
    let d = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    ensure(!d.certificate_path.is_empty(), || {
        "empty certificatePath".into()
    })?;
    for (i, c) in d.certificate_path.iter().enumerate() {
        keys::certificate_public_key(c)
            .map_err(|e| crate::case::Stop::Fail(format!("certificate {i} unusable: {e}")))?;
    }
    // The device certificate's key makes the E2ES attestation: create_session verifies it.
    let mut is = ctx.issuer();
    ok(
        is.create_session(ctx.sks),
        "E2ES session attested by the device certificate key",
    )?;
    ok(ctx.sks.abort_provisioning_session(is.handle), "abort")
}

fn algorithms(ctx: &mut Ctx<'_>) -> Step {
    let d = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    let mut seen = std::collections::BTreeSet::new();
    for a in &d.supported_algorithms {
        ensure(seen.insert(a.clone()), || format!("{a} listed twice"))?;
        ensure(airtight_proto::alg::lookup(a).is_some(), || {
            format!("{a} is not a registered algorithm URI")
        })?;
    }
    for must in [
        airtight_testkit::emulator::uri::SESSION_1,
        airtight_testkit::emulator::uri::KEY_1,
        airtight_testkit::emulator::uri::P256,
    ] {
        ensure(seen.contains(must), || {
            format!("supportedAlgorithms lacks {must}")
        })?;
    }
    Ok(())
}

fn limits(ctx: &mut Ctx<'_>) -> Step {
    let d = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    ensure(d.crypto_data_size >= 16384, || {
        format!("cryptoDataSize {} < 16384", d.crypto_data_size)
    })?;
    ensure(d.extension_data_size >= 65536, || {
        format!("extensionDataSize {} < 65536", d.extension_data_size)
    })
}

fn no_state_change(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let a = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    let b = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    ensure(a == b, || "two getDeviceInfo calls differ".into())?;
    before.expect_unchanged(ctx.sks, "getDeviceInfo")
}

fn firmware(ctx: &mut Ctx<'_>) -> Step {
    if ctx.profile.has("update-firmware") {
        ok(ctx.sks.update_firmware(&[0u8; 16]), "updateFirmware").map(|_| ())
    } else {
        expect_code(
            ctx.sks.update_firmware(&[0u8; 16]),
            SksErrorCode::NotAllowed,
            "updateFirmware",
        )
        .map(|_| ())
    }
}

fn error_text(ctx: &mut Ctx<'_>) -> Step {
    let e = expect_code(
        ctx.sks.get_key_attributes(KeyHandle(0x7fff_fff0)),
        SksErrorCode::NoKey,
        "getKeyAttributes(unknown)",
    )?;
    ensure(e.message().len() <= MAX_LENGTH_ERROR_MESSAGE, || {
        "error text longer than 2000 bytes".into()
    })
}

fn error_codes(_ctx: &mut Ctx<'_>) -> Step {
    // [SKS-ERR-001] the numeric values, against the table of the spec.
    let table: [(SksErrorCode, u8); 13] = [
        (SksErrorCode::Authorization, 0x01),
        (SksErrorCode::NotAllowed, 0x02),
        (SksErrorCode::Storage, 0x03),
        (SksErrorCode::Mac, 0x04),
        (SksErrorCode::Crypto, 0x05),
        (SksErrorCode::NoSession, 0x06),
        (SksErrorCode::NoKey, 0x07),
        (SksErrorCode::Algorithm, 0x08),
        (SksErrorCode::Option, 0x09),
        (SksErrorCode::Internal, 0x0A),
        (SksErrorCode::External, 0x0B),
        (SksErrorCode::UserAbort, 0x0C),
        (SksErrorCode::NotAvailable, 0x0D),
    ];
    for (c, b) in table {
        ensure(c.to_byte() == b, || {
            format!("{} is 0x{:02x}, expected 0x{b:02x}", c.name(), c.to_byte())
        })?;
    }
    Ok(())
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::must(
            "card.device.api-level",
            &["SKS-DEV-001"],
            "getDeviceInfo reports apiLevel 106",
            api_level,
        ),
        Case::must(
            "card.device.device-type-bits",
            &["SKS-DEV-002"],
            "deviceType uses bits 0-3 only",
            device_type,
        ),
        Case::must(
            "card.device.certificate-path",
            &["SKS-DEV-003", "CRY-ATT-005"],
            "certificatePath is non-empty, parses, and its first key attests E2ES sessions",
            certificate_path,
        ),
        Case::must(
            "card.device.supported-algorithms",
            &["SKS-DEV-004", "CRY-ALG-001"],
            "supportedAlgorithms lists registered URIs once each, including session.1, key.1 and P-256",
            algorithms,
        ),
        Case::must(
            "card.device.data-size-limits",
            &["SKS-LIM-002"],
            "cryptoDataSize >= 16384 and extensionDataSize >= 65536",
            limits,
        ),
        Case::must(
            "card.device.no-state-change",
            &["SKS-DEV-005"],
            "getDeviceInfo is stable and changes no state",
            no_state_change,
        ),
        Case::should(
            "card.device.update-firmware",
            &["SKS-DEV-006"],
            "updateFirmware works when declared, else fails with ERROR_NOT_ALLOWED",
            firmware,
        ),
        Case::must(
            "card.device.error-text-bounded",
            &["SKS-ERR-002", "SKS-ERR-005"],
            "an unknown key handle gives ERROR_NO_KEY with a text of at most 2000 bytes",
            error_text,
        ),
        Case::must(
            "card.device.error-code-values",
            &["SKS-ERR-001"],
            "the error codes the binding reports carry the numeric values of the spec table",
            error_codes,
        ),
    ]
}
