//! An enumeration argument outside its enumeration reaches the SKS through every binding, and
//! the SKS applies its own check order: the session (or key) is looked up first, then the
//! value is rejected with `ERROR_OPTION` and the provisioning session is torn down.
//!
//! One table row per enumeration argument of an SKS call; each row runs in process, through
//! APDUs (`ApduSks` -> loopback -> `ApduDispatcher<ReferenceSks>`) and through the shim
//! (`ShimSks` -> pipes -> `serve_shim`), and checks the session state afterwards, not only the
//! error code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_proto::policy::{EnumArg, PatternRestrictions, UnknownValue};
use airtight_proto::sks::{
    CreatePukPolicyParams, ExtensionSubType, KeyHandle, ProvisioningHandle, SecureKeyStore,
    SksError, SksErrorCode,
};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};
use common::{Binding, shim_over_pipes, through};

const SEED: u64 = 0x0dd5;

/// How an undefined value travels: as its byte, or (JSON only) as a name no value has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Byte,
    Name,
}

fn undefined<T: airtight_proto::policy::ByteEnum>(form: Form, byte: u8) -> EnumArg<T> {
    let v = match form {
        Form::Byte => EnumArg::from_byte(byte),
        Form::Name => EnumArg::undefined_name("hex"),
    };
    assert!(!v.is_defined());
    v
}

/// Whether the call names the open session (`Known`) or an unknown handle (`Unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Known,
    Unknown,
}

/// One enumeration argument: the call, the member, and how to send it with an undefined value
/// on a card that has an open session (`setup` ran).
struct Row {
    method: &'static str,
    member: &'static str,
    /// Byte-only enumerations (bit sets, `subType`) have no name form in JSON.
    named: bool,
    send: fn(&mut Issuer, &mut dyn SecureKeyStore, Form, Target) -> Result<(), SksError>,
}

const fn row(
    method: &'static str,
    member: &'static str,
    named: bool,
    send: fn(&mut Issuer, &mut dyn SecureKeyStore, Form, Target) -> Result<(), SksError>,
) -> Row {
    Row {
        method,
        member,
        named,
        send,
    }
}

const UNKNOWN: u32 = 0x7fff_0001;

fn ph(is: &Issuer, target: Target) -> ProvisioningHandle {
    match target {
        Target::Known => is.handle,
        Target::Unknown => ProvisioningHandle(UNKNOWN),
    }
}

fn puk_call(
    is: &mut Issuer,
    sks: &mut dyn SecureKeyStore,
    form: Form,
    target: Target,
) -> Result<(), SksError> {
    // The value is checked before the MAC, so the MAC need not be right.
    let p = CreatePukPolicyParams {
        provisioning_handle: ph(is, target),
        id: "PUK.1".into(),
        encrypted_puk: is.encrypt(b"123456").unwrap(),
        format: undefined(form, 0x04),
        retry_limit: 3,
        mac: vec![0; 32],
    };
    sks.create_puk_policy(&p).map(|_| ())
}

fn pin_call(
    is: &mut Issuer,
    sks: &mut dyn SecureKeyStore,
    target: Target,
    alter: impl FnOnce(&mut airtight_proto::sks::CreatePinPolicyParams),
) -> Result<(), SksError> {
    let mut p = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
    p.provisioning_handle = ph(is, target);
    alter(&mut p);
    sks.create_pin_policy(&p).map(|_| ())
}

fn key_call(
    is: &mut Issuer,
    sks: &mut dyn SecureKeyStore,
    target: Target,
    alter: impl FnOnce(&mut airtight_proto::sks::CreateKeyEntryParams),
) -> Result<(), SksError> {
    let mut p = is.key_params(&KeySpec::new("Key.1", uri::P256)).unwrap();
    p.provisioning_handle = ph(is, target);
    alter(&mut p);
    sks.create_key_entry(&p).map(|_| ())
}

fn extension_call(
    is: &mut Issuer,
    sks: &mut dyn SecureKeyStore,
    form: Form,
    target: Target,
) -> Result<(), SksError> {
    let spec = KeySpec::new("Key.1", uri::P256);
    let k = is.provision_key(sks, &spec).unwrap();
    let key = match target {
        Target::Known => k.handle,
        Target::Unknown => KeyHandle(UNKNOWN),
    };
    let _ = form;
    sks.add_extension(
        key,
        "urn:airtight:test:ext",
        EnumArg::<ExtensionSubType>::from_byte(0x09),
        "",
        b"data",
        &[0; 32],
    )
}

const ROWS: &[Row] = &[
    row("createPukPolicy", "format", true, puk_call),
    row("createPinPolicy", "format", true, |is, sks, form, t| {
        pin_call(is, sks, t, |p| p.format = undefined(form, 0x04))
    }),
    row("createPinPolicy", "grouping", true, |is, sks, form, t| {
        pin_call(is, sks, t, |p| p.grouping = undefined(form, 0x04))
    }),
    row(
        "createPinPolicy",
        "patternRestrictions",
        false,
        |is, sks, _, t| {
            pin_call(is, sks, t, |p| {
                p.pattern_restrictions = EnumArg::<PatternRestrictions>::from_byte(0x20);
            })
        },
    ),
    row(
        "createPinPolicy",
        "inputMethod",
        true,
        |is, sks, form, t| pin_call(is, sks, t, |p| p.input_method = undefined(form, 0x03)),
    ),
    row(
        "createKeyEntry",
        "biometricProtection",
        true,
        |is, sks, form, t| {
            key_call(is, sks, t, |p| {
                p.biometric_protection = undefined(form, 0x04)
            })
        },
    ),
    row(
        "createKeyEntry",
        "exportProtection",
        true,
        |is, sks, form, t| key_call(is, sks, t, |p| p.export_protection = undefined(form, 0x04)),
    ),
    row(
        "createKeyEntry",
        "deleteProtection",
        true,
        |is, sks, form, t| key_call(is, sks, t, |p| p.delete_protection = undefined(form, 0xff)),
    ),
    row("createKeyEntry", "appUsage", true, |is, sks, form, t| {
        key_call(is, sks, t, |p| p.app_usage = undefined(form, 0x04))
    }),
    row("addExtension", "subType", false, extension_call),
];

/// The open sessions the card lists (`provisioningState` true).
fn open_sessions(sks: &mut dyn SecureKeyStore) -> Vec<ProvisioningHandle> {
    let mut out = Vec::new();
    let mut h = ProvisioningHandle(0);
    while let Some(s) = sks.enumerate_provisioning_sessions(h, true).unwrap() {
        h = s.provisioning_handle;
        out.push(h);
    }
    out
}

fn forms(binding: Binding, row: &Row) -> Vec<Form> {
    match binding {
        Binding::Shim if row.named => vec![Form::Byte, Form::Name],
        _ => vec![Form::Byte],
    }
}

/// Runs `check` for every binding, row and form on a fresh card with an open session.
fn each_case(check: impl Fn(&str, &Row, Form, &mut Issuer, &mut dyn SecureKeyStore)) {
    for binding in [Binding::InProcess, Binding::Apdu, Binding::Shim] {
        for row in ROWS {
            for form in forms(binding, row) {
                let what = format!("{binding:?} {} {} {form:?}", row.method, row.member);
                through(binding, airtight_testkit::card(SEED), |sks| {
                    let mut is = Issuer::new(SEED);
                    is.create_session(sks).unwrap();
                    assert_eq!(open_sessions(sks), vec![is.handle], "{what}");
                    check(&what, row, form, &mut is, sks);
                });
            }
        }
    }
}

#[test]
fn an_undefined_value_reaches_the_sks_and_tears_the_session_down() {
    // [SHIM-ERR-004] [APDU-ERR-004] [SKS-TXN-002] [SHIM-ENC-005]
    each_case(|what, row, form, is, sks| {
        let e = (row.send)(is, sks, form, Target::Known).unwrap_err();
        assert_eq!(e.code(), SksErrorCode::Option, "{what}: {e:?}");
        assert!(e.message().contains(row.member), "{what}: {e:?}");
        // The session is gone, and with it everything created in it.
        assert_eq!(open_sessions(sks), vec![], "{what}: session not torn down");
        let e = sks.abort_provisioning_session(is.handle).unwrap_err();
        assert_eq!(e.code(), SksErrorCode::NoSession, "{what}");
    });
}

#[test]
fn an_unknown_handle_wins_over_an_undefined_value() {
    // [SKS-TXN-002] [SHIM-ERR-004] [APDU-ERR-004]: the session (or key) is looked up first.
    each_case(|what, row, form, is, sks| {
        let e = (row.send)(is, sks, form, Target::Unknown).unwrap_err();
        let expected = if row.method == "addExtension" {
            SksErrorCode::NoKey
        } else {
            SksErrorCode::NoSession
        };
        assert_eq!(e.code(), expected, "{what}: {e:?}");
        // A call on an unknown handle touches no session.
        assert_eq!(open_sessions(sks), vec![is.handle], "{what}");
    });
}

#[test]
fn the_reproduction_through_raw_shim_lines() {
    // [SHIM-ERR-004]: createProvisioningSession, then createPinPolicy with format "hex" gives
    // code 9, and enumerateProvisioningSessions no longer lists the session.
    let (mut sks, server) = shim_over_pipes(airtight_testkit::card(SEED));
    let mut is = Issuer::new(SEED);
    is.create_session(&mut sks).unwrap();
    let mut p = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
    p.format = EnumArg::Undefined(UnknownValue::Name {
        kind: "format",
        name: "hex".into(),
    });
    let line = airtight_bindings::SksCall::CreatePinPolicy { params: p.clone() }.to_json_params();
    assert_eq!(line["format"], "hex");
    let e = sks.create_pin_policy(&p).unwrap_err();
    assert_eq!(e.code(), SksErrorCode::Option);
    assert_eq!(open_sessions(&mut sks), vec![]);
    sks.shutdown().unwrap();
    server.join().unwrap();
}

#[test]
fn every_call_enumeration_is_in_the_table() {
    // The table covers each enumeration argument of each call (`spec/apdu.md` §4 lists them).
    let mut members: Vec<(&str, &str)> = ROWS.iter().map(|r| (r.method, r.member)).collect();
    members.sort_unstable();
    let mut expected = vec![
        ("addExtension", "subType"),
        ("createKeyEntry", "appUsage"),
        ("createKeyEntry", "biometricProtection"),
        ("createKeyEntry", "deleteProtection"),
        ("createKeyEntry", "exportProtection"),
        ("createPinPolicy", "format"),
        ("createPinPolicy", "grouping"),
        ("createPinPolicy", "inputMethod"),
        ("createPinPolicy", "patternRestrictions"),
        ("createPukPolicy", "format"),
    ];
    expected.sort_unstable();
    assert_eq!(members, expected);
}
