//! The MAC matrix: for each of the 12 MAC'd provisioning methods, a positive control (the
//! honest MAC is accepted, so the layout of the MAC data is right) and seven hostile variants
//! (a forged MAC, a skipped and a replayed counter, another method's name as key modifier, a
//! truncated and an empty MAC, a field altered after MACing). Every hostile variant must be
//! refused (`ERROR_MAC` where the rule names it), tear the session down, and leave no trace.

use airtight_proto::keys::Curve;
use airtight_proto::policy::{AppUsage, PassphraseFormat};
use airtight_proto::session1::{self, KeyEntryMacInput, Method, PinPolicyMacInput};
use airtight_proto::sks::{ExtensionSubType, SecureKeyStore, SksError, SksErrorCode};
use airtight_testkit::emulator::{self, Issuer, KeySpec, PinSpec};

use super::{fatal, grouped, open};
use crate::case::{Case, Step, Stop};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, expect_one_of, expect_session_gone, expect_session_open, ok};

type Send = Box<dyn FnOnce(&mut dyn SecureKeyStore, Vec<u8>, bool) -> Result<(), SksError>>;

/// A prepared MAC'd call: its MAC inputs and a sender that takes any MAC and optionally
/// alters a MAC-covered field.
struct Pending {
    method: Method,
    counter: u16,
    data: Vec<u8>,
    mac: Vec<u8>,
    send: Send,
}

fn m<T, E: std::fmt::Display>(r: Result<T, E>) -> Step<T> {
    r.map_err(|e| Stop::Fail(format!("building the MAC data: {e}")))
}

fn counter(is: &Issuer) -> Step<u16> {
    u16::try_from(is.next_counter()).map_err(|_| Stop::fail("counter exhausted"))
}

fn flip_last(v: &mut [u8]) {
    if let Some(b) = v.last_mut() {
        *b ^= 0x01;
    }
}

type Setup = fn(&mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)>;

fn setup_puk(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    ok(
        is.create_pin(ctx.sks, &PinSpec::new("PIN.0")),
        "createPinPolicy",
    )?;
    let c = counter(&is)?;
    let p = ok(
        is.puk_params("PUK.1", b"123456", PassphraseFormat::Numeric, 3),
        "PUK",
    )?;
    let data = m(session1::create_puk_policy_data(
        &p.id,
        &p.encrypted_puk,
        PassphraseFormat::Numeric,
        p.retry_limit,
    ))?;
    let mac = p.mac.clone();
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut p = p;
        p.mac = mac;
        if alter {
            p.retry_limit += 1;
        }
        sks.create_puk_policy(&p).map(|_| ())
    });
    Ok((
        is,
        before,
        Pending {
            method: Method::CreatePukPolicy,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

fn setup_pin(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let puk = ok(
        is.create_puk(ctx.sks, "PUK.1", b"123456", PassphraseFormat::Numeric, 3),
        "createPukPolicy",
    )?;
    let c = counter(&is)?;
    let spec = PinSpec::new("PIN.1").with_puk(puk, "PUK.1");
    let p = ok(is.pin_params(&spec), "PIN")?;
    let data = m(session1::create_pin_policy_data(&PinPolicyMacInput {
        id: &spec.id,
        puk_policy_id: Some("PUK.1"),
        user_defined: spec.user_defined,
        user_modifiable: spec.user_modifiable,
        format: spec.format,
        retry_limit: spec.retry_limit,
        grouping: spec.grouping,
        pattern_restrictions: spec.pattern_restrictions,
        min_length: spec.min_length,
        max_length: spec.max_length,
        input_method: spec.input_method,
    }))?;
    let mac = p.mac.clone();
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut p = p;
        p.mac = mac;
        if alter {
            p.retry_limit += 1;
        }
        sks.create_pin_policy(&p).map(|_| ())
    });
    Ok((
        is,
        before,
        Pending {
            method: Method::CreatePinPolicy,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

fn setup_key(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let ph = ok(
        is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
        "createPinPolicy",
    )?;
    let c = counter(&is)?;
    let spec = KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357");
    let p = ok(is.key_params(&spec), "key")?;
    let data = m(session1::create_key_entry_data(&KeyEntryMacInput {
        id: &spec.id,
        key_entry_algorithm: &spec.key_entry_algorithm,
        server_seed: None,
        pin_policy_id: Some("PIN.1"),
        encrypted_pin: None,
        device_pin_protection: false,
        enable_pin_caching: false,
        biometric_protection: spec.biometric_protection,
        export_protection: spec.export_protection,
        delete_protection: spec.delete_protection,
        app_usage: spec.app_usage,
        friendly_name: None,
        key_algorithm: &spec.key_algorithm,
        key_parameters: None,
        endorsed_algorithms: &[],
    }))?;
    let mac = p.mac.clone();
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut p = p;
        p.mac = mac;
        if alter {
            p.app_usage = AppUsage::Universal.into();
        }
        sks.create_key_entry(&p).map(|_| ())
    });
    Ok((
        is,
        before,
        Pending {
            method: Method::CreateKeyEntry,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

fn setup_cert(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let kd = ok(
        is.create_key(ctx.sks, &KeySpec::p256("Key.1")),
        "createKeyEntry",
    )?;
    let path = ok(is.certificate_path(&kd.public_key), "certificate")?;
    let c = counter(&is)?;
    let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
    let data = m(session1::set_certificate_path_data(
        &kd.public_key,
        "Key.1",
        &refs,
    ))?;
    let mac = ok(is.mac(Method::SetCertificatePath, &data), "mac")?;
    let kh = kd.key_handle;
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut path = path;
        if alter {
            if path.len() > 1 {
                path.pop();
            } else {
                let first = path[0].clone();
                path.push(first);
            }
        }
        sks.set_certificate_path(kh, &path, &mac)
    });
    Ok((
        is,
        before,
        Pending {
            method: Method::SetCertificatePath,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

fn setup_import(ctx: &mut Ctx<'_>, method: Method) -> Step<(Issuer, Snapshot, Pending)> {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision key",
    )?;
    let secret: Vec<u8> = if method == Method::ImportSymmetricKey {
        vec![0x42; 32]
    } else {
        let key = emulator::ec_key(Curve::P256, ctx.seed);
        ok(
            key.to_pkcs8_der()
                .map(|z| z.to_vec())
                .map_err(|e| airtight_testkit::emulator::EmuError::Verify(e.to_string())),
            "pkcs8",
        )?
    };
    let enc = ok(is.encrypt(&secret), "encrypt")?;
    let c = counter(&is)?;
    let data = m(session1::import_key_data(k.ee(), &enc))?;
    let mac = ok(is.mac(method, &data), "mac")?;
    let kh = k.handle;
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut enc = enc;
        if alter {
            flip_last(&mut enc);
        }
        if method == Method::ImportSymmetricKey {
            sks.import_symmetric_key(kh, &enc, &mac)
        } else {
            sks.import_private_key(kh, &enc, &mac)
        }
    });
    Ok((
        is,
        before,
        Pending {
            method,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

fn setup_sym(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    setup_import(ctx, Method::ImportSymmetricKey)
}

fn setup_priv(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    setup_import(ctx, Method::ImportPrivateKey)
}

fn setup_ext(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision key",
    )?;
    let c = counter(&is)?;
    let body = b"harness extension".to_vec();
    let data = m(session1::add_extension_data(
        k.ee(),
        "urn:airtight:harness:ext",
        session1::ExtensionSubType::Extension,
        "",
        &body,
    ))?;
    let mac = ok(is.mac(Method::AddExtension, &data), "mac")?;
    let kh = k.handle;
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut body = body;
        if alter {
            flip_last(&mut body);
        }
        sks.add_extension(
            kh,
            "urn:airtight:harness:ext",
            ExtensionSubType::Extension.into(),
            "",
            &body,
            &mac,
        )
    });
    Ok((
        is,
        before,
        Pending {
            method: Method::AddExtension,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

/// A closed updatable session with a target key (PIN policy grouping shared, so it can be
/// cloned), then a second open session with a PIN policy created (counter > 0).
fn post_base(
    ctx: &mut Ctx<'_>,
    with_new_key: bool,
) -> Step<(
    Issuer,
    Snapshot,
    airtight_testkit::emulator::Provisioned,
    Option<airtight_testkit::emulator::Provisioned>,
)> {
    let kmk_seed = ctx.seed ^ 0x55;
    let mut is1 = ctx.issuer_n(1).with_kmk(kmk_seed);
    ok(is1.create_session(ctx.sks), "createProvisioningSession")?;
    let ph = ok(
        is1.create_pin(
            ctx.sks,
            &grouped("PIN.1", airtight_proto::policy::Grouping::Shared),
        ),
        "createPinPolicy",
    )?;
    let target = ok(
        is1.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357"),
        ),
        "provision target",
    )?;
    ok(is1.close(ctx.sks), "close")?;
    let before = Snapshot::take(ctx.sks)?;
    let mut is2 = ctx.issuer_n(2).with_kmk(kmk_seed);
    ok(is2.create_session(ctx.sks), "createProvisioningSession")?;
    let new = if with_new_key {
        Some(ok(
            is2.provision_key(ctx.sks, &KeySpec::p256("Key.2")),
            "provision new key",
        )?)
    } else {
        ok(
            is2.create_pin(ctx.sks, &PinSpec::new("PIN.2")),
            "createPinPolicy",
        )?;
        None
    };
    Ok((is2, before, target, new))
}

fn setup_post_del_unlock(ctx: &mut Ctx<'_>, delete: bool) -> Step<(Issuer, Snapshot, Pending)> {
    let kmk = emulator::kmk(ctx.seed ^ 0x55);
    let (mut is, before, target, _) = post_base(ctx, false)?;
    let auth = ok(is.authorization(&kmk, target.ee()), "authorization")?;
    let c = counter(&is)?;
    let data = m(session1::post_delete_or_unlock_data(&auth))?;
    let method = if delete {
        Method::PostDeleteKey
    } else {
        Method::PostUnlockKey
    };
    let mac = ok(is.mac(method, &data), "mac")?;
    let (h, t) = (is.handle, target.handle);
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut auth = auth;
        if alter {
            flip_last(&mut auth);
        }
        if delete {
            sks.post_delete_key(h, t, &auth, &mac)
        } else {
            sks.post_unlock_key(h, t, &auth, &mac)
        }
    });
    Ok((
        is,
        before,
        Pending {
            method,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

fn setup_post_delete(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    setup_post_del_unlock(ctx, true)
}

fn setup_post_unlock(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    setup_post_del_unlock(ctx, false)
}

fn setup_post_upd_clone(ctx: &mut Ctx<'_>, update: bool) -> Step<(Issuer, Snapshot, Pending)> {
    let kmk = emulator::kmk(ctx.seed ^ 0x55);
    let (mut is, before, target, new) = post_base(ctx, true)?;
    let new = new.ok_or_else(|| Stop::fail("no new key"))?;
    let auth = ok(is.authorization(&kmk, target.ee()), "authorization")?;
    let c = counter(&is)?;
    let data = m(session1::post_update_or_clone_data(new.ee(), &auth))?;
    let method = if update {
        Method::PostUpdateKey
    } else {
        Method::PostCloneKeyProtection
    };
    let mac = ok(is.mac(method, &data), "mac")?;
    let (k, t) = (new.handle, target.handle);
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut auth = auth;
        if alter {
            flip_last(&mut auth);
        }
        if update {
            sks.post_update_key(k, t, &auth, &mac)
        } else {
            sks.post_clone_key_protection(k, t, &auth, &mac)
        }
    });
    Ok((
        is,
        before,
        Pending {
            method,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

fn setup_post_update(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    setup_post_upd_clone(ctx, true)
}

fn setup_post_clone(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    setup_post_upd_clone(ctx, false)
}

fn setup_close(ctx: &mut Ctx<'_>) -> Step<(Issuer, Snapshot, Pending)> {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision key",
    )?;
    let c = counter(&is)?;
    let nonce = is.random::<32>().to_vec();
    let data = m(session1::close_provisioning_session_data(
        &is.client_session_id,
        &is.server_session_id,
        &is.issuer_uri,
        &nonce,
    ))?;
    let mac = ok(is.mac(Method::CloseProvisioningSession, &data), "mac")?;
    let h = is.handle;
    let send: Send = Box::new(move |sks, mac, alter| {
        let mut nonce = nonce;
        if alter {
            flip_last(&mut nonce);
        }
        sks.close_provisioning_session(h, &nonce, &mac).map(|_| ())
    });
    Ok((
        is,
        before,
        Pending {
            method: Method::CloseProvisioningSession,
            counter: c,
            data,
            mac,
            send,
        },
    ))
}

#[derive(Clone, Copy)]
enum Tamper {
    Control,
    Forged,
    SkippedCounter,
    ReplayedCounter,
    WrongMethod,
    Truncated,
    Empty,
    AlteredField,
}

impl Tamper {
    const ALL: [Tamper; 8] = [
        Tamper::Control,
        Tamper::Forged,
        Tamper::SkippedCounter,
        Tamper::ReplayedCounter,
        Tamper::WrongMethod,
        Tamper::Truncated,
        Tamper::Empty,
        Tamper::AlteredField,
    ];

    fn id(self) -> &'static str {
        match self {
            Tamper::Control => "honest-mac-accepted",
            Tamper::Forged => "forged-mac",
            Tamper::SkippedCounter => "skipped-counter",
            Tamper::ReplayedCounter => "replayed-counter",
            Tamper::WrongMethod => "wrong-method-name",
            Tamper::Truncated => "truncated-mac",
            Tamper::Empty => "empty-mac",
            Tamper::AlteredField => "field-altered-after-mac",
        }
    }
}

fn other_method(m: Method) -> Method {
    match m {
        Method::CreateKeyEntry => Method::SetCertificatePath,
        Method::CreatePinPolicy => Method::CreatePukPolicy,
        Method::CreatePukPolicy => Method::CreatePinPolicy,
        Method::PostDeleteKey => Method::PostUnlockKey,
        Method::PostUnlockKey => Method::PostDeleteKey,
        Method::PostUpdateKey => Method::PostCloneKeyProtection,
        Method::PostCloneKeyProtection => Method::PostUpdateKey,
        Method::ImportSymmetricKey => Method::ImportPrivateKey,
        Method::ImportPrivateKey => Method::ImportSymmetricKey,
        _ => Method::CreateKeyEntry,
    }
}

fn run(ctx: &mut Ctx<'_>, setup: Setup, tamper: Tamper) -> Step {
    let (mut is, before, p) = setup(ctx)?;
    let h = is.handle;
    let mac = match tamper {
        Tamper::Control | Tamper::AlteredField => p.mac.clone(),
        Tamper::Forged => is.random::<32>().to_vec(),
        Tamper::SkippedCounter => ok(
            is.mac_at(p.method, p.counter.wrapping_add(1), &p.data),
            "mac",
        )?,
        Tamper::ReplayedCounter => {
            let c = p
                .counter
                .checked_sub(1)
                .ok_or_else(|| Stop::fail("setup left counter 0"))?;
            ok(is.mac_at(p.method, c, &p.data), "mac")?
        }
        Tamper::WrongMethod => ok(is.mac_at(other_method(p.method), p.counter, &p.data), "mac")?,
        Tamper::Truncated => p.mac[..31].to_vec(),
        Tamper::Empty => Vec::new(),
    };
    let r = (p.send)(ctx.sks, mac, matches!(tamper, Tamper::AlteredField));
    let what = format!("{} with {}", p.method.mac_name(), tamper.id());
    match tamper {
        Tamper::Control => {
            ok(r, &what)?;
            if p.method != Method::CloseProvisioningSession {
                expect_session_open(ctx.sks, h, &what)?;
            }
            Ok(())
        }
        Tamper::Truncated | Tamper::Empty => {
            // [CRY-MAC-003] any other length is rejected; [SKS-ERR-010] ERROR_OPTION or the MAC code.
            expect_one_of(r, &[SksErrorCode::Mac, SksErrorCode::Option], &what)?;
            expect_session_gone(ctx.sks, h, &what)?;
            before.expect_unchanged(ctx.sks, &what)
        }
        _ => fatal(ctx, &before, h, r, SksErrorCode::Mac, &what),
    }
}

/// The 96 cases of the matrix.
pub(super) fn cases() -> Vec<Case> {
    let methods: [(&str, Method, Setup, &[&'static str]); 12] = [
        (
            "create-puk-policy",
            Method::CreatePukPolicy,
            setup_puk,
            &["CRY-MAC-010", "SKS-POL-001"],
        ),
        (
            "create-pin-policy",
            Method::CreatePinPolicy,
            setup_pin,
            &["CRY-MAC-011", "SKS-POL-002"],
        ),
        (
            "create-key-entry",
            Method::CreateKeyEntry,
            setup_key,
            &["CRY-MAC-013"],
        ),
        (
            "set-certificate-path",
            Method::SetCertificatePath,
            setup_cert,
            &["CRY-MAC-016", "SKS-CRT-001"],
        ),
        (
            "import-symmetric-key",
            Method::ImportSymmetricKey,
            setup_sym,
            &["CRY-MAC-017", "CRY-ENC-005"],
        ),
        (
            "import-private-key",
            Method::ImportPrivateKey,
            setup_priv,
            &["CRY-MAC-017", "CRY-ENC-005"],
        ),
        (
            "add-extension",
            Method::AddExtension,
            setup_ext,
            &["CRY-MAC-018", "SKS-EXT-001"],
        ),
        (
            "post-delete-key",
            Method::PostDeleteKey,
            setup_post_delete,
            &["CRY-MAC-019", "SKS-PST-001"],
        ),
        (
            "post-unlock-key",
            Method::PostUnlockKey,
            setup_post_unlock,
            &["CRY-MAC-019", "SKS-PST-001"],
        ),
        (
            "post-update-key",
            Method::PostUpdateKey,
            setup_post_update,
            &["CRY-MAC-019", "SKS-PST-001"],
        ),
        (
            "post-clone-key-protection",
            Method::PostCloneKeyProtection,
            setup_post_clone,
            &["CRY-MAC-019", "SKS-PST-001"],
        ),
        (
            "close-provisioning-session",
            Method::CloseProvisioningSession,
            setup_close,
            &["CRY-MAC-021", "SKS-SES-010"],
        ),
    ];
    let mut out = Vec::new();
    for (name, method, setup, data_tags) in methods {
        for t in Tamper::ALL {
            let mut tags: Vec<&'static str> = data_tags.to_vec();
            tags.extend_from_slice(match t {
                Tamper::Control => {
                    &["CRY-MAC-001", "CRY-MAC-002", "CRY-CTR-002", "CRY-CTR-003"][..]
                }
                Tamper::Forged => &["CRY-MAC-023", "SKS-ERR-004", "SKS-TXN-002", "SKS-IMP-001"][..],
                Tamper::SkippedCounter => {
                    &["CRY-MAC-001", "CRY-CTR-002", "CRY-CTR-003", "SKS-ERR-004"][..]
                }
                Tamper::ReplayedCounter => {
                    &["CRY-MAC-001", "CRY-CTR-002", "SKS-ERR-004", "SKS-TXN-004"][..]
                }
                Tamper::WrongMethod => &["CRY-MAC-002", "SKS-ERR-004"][..],
                Tamper::Truncated | Tamper::Empty => &["CRY-MAC-003", "SKS-TXN-002"][..],
                Tamper::AlteredField => &["CRY-MAC-023", "SKS-IMP-001", "SKS-TXN-002"][..],
            });
            let needs_kmk = matches!(
                method,
                Method::PostDeleteKey
                    | Method::PostUnlockKey
                    | Method::PostUpdateKey
                    | Method::PostCloneKeyProtection
            );
            let needs_import = matches!(method, Method::ImportPrivateKey);
            let needs_sym = matches!(method, Method::ImportSymmetricKey);
            let needs_ext = matches!(method, Method::AddExtension);
            let description = match t {
                Tamper::Control => format!(
                    "{}: the honest MAC at the current counter is accepted",
                    method.mac_name()
                ),
                Tamper::Forged => format!(
                    "{}: a forged MAC fails with ERROR_MAC, tears the session down, leaves no trace",
                    method.mac_name()
                ),
                Tamper::SkippedCounter => format!(
                    "{}: a MAC made at counter+1 (issuer skipped a value) fails with ERROR_MAC",
                    method.mac_name()
                ),
                Tamper::ReplayedCounter => format!(
                    "{}: a MAC made at the previous counter value (replay) fails with ERROR_MAC",
                    method.mac_name()
                ),
                Tamper::WrongMethod => format!(
                    "{}: a MAC keyed with another method's name fails with ERROR_MAC",
                    method.mac_name()
                ),
                Tamper::Truncated => format!(
                    "{}: a 31-byte MAC is rejected and tears the session down",
                    method.mac_name()
                ),
                Tamper::Empty => format!(
                    "{}: an empty MAC is rejected and tears the session down",
                    method.mac_name()
                ),
                Tamper::AlteredField => format!(
                    "{}: a MAC-covered field altered after MACing fails with ERROR_MAC",
                    method.mac_name()
                ),
            };
            let c = Case::must(
                format!("card.mac.{name}.{}", t.id()),
                &tags,
                description,
                move |ctx| run(ctx, setup, t),
            )
            .when(move |p| {
                (!needs_kmk || p.has("kmk"))
                    && (!needs_import || p.has("import-private-key"))
                    && (!needs_sym || p.has("import-symmetric-key"))
                    && (!needs_ext || p.has("extensions"))
            });
            out.push(c);
        }
    }
    out
}
