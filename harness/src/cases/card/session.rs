//! Card cases: `createProvisioningSession` arguments, session attestation, enumeration,
//! abort, lifetime, and the session-key budget.

use airtight_proto::keys::{Curve, PrivateKey, PublicKey};
use airtight_proto::sks::{
    CreateProvisioningSessionParams, KeyHandle, ProvisioningHandle, SecureKeyStore as _,
    SksErrorCode,
};
use airtight_testkit::emulator::{KeySpec, PinSpec};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{fatal, open};
use crate::case::{Case, Step, Stop};
use crate::ctx::Ctx;
use crate::verify::{
    Snapshot, ensure, expect_code, expect_key_not_listed, expect_session_gone, ok, sessions,
};

/// `createProvisioningSession` with altered parameters must fail with `code` and leave no
/// trace.
fn refused(
    ctx: &mut Ctx<'_>,
    code: SksErrorCode,
    alter: impl FnOnce(&mut CreateProvisioningSessionParams),
) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = ctx.issuer();
    let r = is.create_session_with(ctx.sks, alter);
    expect_code(r, code, "createProvisioningSession")?;
    before.expect_unchanged(ctx.sks, "refused createProvisioningSession")
}

/// `createProvisioningSession` with altered parameters must succeed (attestation verified).
fn accepted(ctx: &mut Ctx<'_>, alter: impl FnOnce(&mut CreateProvisioningSessionParams)) -> Step {
    let mut is = ctx.issuer();
    ok(
        is.create_session_with(ctx.sks, alter),
        "createProvisioningSession",
    )?;
    ok(
        ctx.sks.abort_provisioning_session(is.handle),
        "abortProvisioningSession",
    )
}

/// The SPKI DER of a 512-bit RSA public key (a random odd modulus with the top bit set; the
/// card must refuse it on its size alone).
fn rsa512_spki(seed: u64) -> Vec<u8> {
    use rand_core::Rng as _;
    let mut n = [0u8; 64];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut n);
    n[0] |= 0x80;
    n[63] |= 0x01;
    let mut der = vec![
        0x30, 0x5c, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        0x05, 0x00,
    ];
    der.extend_from_slice(&[0x03, 0x4b, 0x00, 0x30, 0x48, 0x02, 0x41, 0x00]);
    der.extend_from_slice(&n);
    der.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
    der
}

fn spki_of(curve: Curve, seed: u64) -> Vec<u8> {
    PrivateKey::generate_ec(curve, &mut ChaCha20Rng::seed_from_u64(seed))
        .public_key()
        .to_spki_der()
        .unwrap_or_default()
}

fn curve_session(ctx: &mut Ctx<'_>, curve: Curve) -> Step {
    let mut is = ctx.issuer();
    is.ephemeral_curve = curve;
    let r = ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    let k = PublicKey::from_spki_der(&r.client_ephemeral_key)
        .map_err(|e| Stop::Fail(format!("clientEphemeralKey: {e}")))?;
    ensure(k.curve() == Some(curve), || {
        format!(
            "clientEphemeralKey on {:?}, server used {curve:?}",
            k.curve()
        )
    })?;
    ok(ctx.sks.abort_provisioning_session(is.handle), "abort")
}

fn client_session_id(ctx: &mut Ctx<'_>) -> Step {
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut is = ctx.issuer_n(n);
        let r = ok(is.create_session(ctx.sks), "createProvisioningSession")?;
        ensure(r.client_session_id.len() == 32, || {
            format!("clientSessionId has {} chars", r.client_session_id.len())
        })?;
        ensure(
            r.client_session_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            || format!("clientSessionId {} is not Base64URL", r.client_session_id),
        )?;
        ensure(!ids.contains(&r.client_session_id), || {
            "clientSessionId repeated".into()
        })?;
        ids.push(r.client_session_id);
        ok(ctx.sks.abort_provisioning_session(is.handle), "abort")?;
    }
    Ok(())
}

fn privacy_session(ctx: &mut Ctx<'_>) -> Step {
    let mut is = ctx.issuer().privacy();
    let r = ok(
        is.create_session(ctx.sks),
        "privacy-enabled createProvisioningSession",
    )?;
    ensure(r.attestation.len() == 32, || {
        format!(
            "privacy attestation has {} bytes, expected an HMAC",
            r.attestation.len()
        )
    })?;
    // The HMAC attestation is not counted: the first MAC is still at counter 0 and works.
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision in privacy mode",
    )?;
    ok(is.close(ctx.sks), "close")?;
    Ok(())
}

fn e2es_signature_shape(ctx: &mut Ctx<'_>) -> Step {
    let mut is = ctx.issuer();
    let r = ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    let d = ok(ctx.sks.get_device_info(), "getDeviceInfo")?;
    let dev = d.certificate_path.first().cloned().unwrap_or_default();
    let k = airtight_proto::keys::certificate_public_key(&dev)
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let expected = match k.curve() {
        Some(Curve::P256) => 64,
        Some(Curve::P384) => 96,
        Some(Curve::P521) => 132,
        None => r.attestation.len(),
    };
    ensure(r.attestation.len() == expected, || {
        format!(
            "attestation of {} bytes, expected raw r||s of {expected}",
            r.attestation.len()
        )
    })?;
    ok(ctx.sks.abort_provisioning_session(is.handle), "abort")
}

fn enumerate_open(ctx: &mut Ctx<'_>) -> Step {
    let mut is = ctx.issuer().with_kmk(ctx.seed);
    ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    let open = sessions(ctx.sks, true)?;
    let s = open
        .iter()
        .find(|s| s.provisioning_handle == is.handle)
        .ok_or_else(|| Stop::fail("the new session is not enumerated as open"))?;
    ensure(s.client_session_id == is.client_session_id, || {
        "clientSessionId differs".into()
    })?;
    ensure(s.server_session_id == is.server_session_id, || {
        "serverSessionId differs".into()
    })?;
    ensure(s.issuer_uri == is.issuer_uri, || "issuerUri differs".into())?;
    ensure(s.client_time == is.client_time, || {
        "clientTime differs".into()
    })?;
    ensure(s.session_life_time == is.session_life_time, || {
        "sessionLifeTime differs".into()
    })?;
    ensure(!s.privacy_enabled, || "privacyEnabled differs".into())?;
    ensure(s.key_management_key.is_some(), || "KMK missing".into())?;
    ensure(
        s.session_key_algorithm == airtight_testkit::emulator::uri::SESSION_1,
        || "sessionKeyAlgorithm differs".into(),
    )?;
    let closed = sessions(ctx.sks, false)?;
    ensure(
        !closed.iter().any(|c| c.provisioning_handle == is.handle),
        || "an open session is listed as closed".into(),
    )?;
    ok(ctx.sks.abort_provisioning_session(is.handle), "abort")
}

fn enumerate_closed(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    ok(is.close(ctx.sks), "close")?;
    let closed = sessions(ctx.sks, false)?;
    ensure(
        closed.iter().any(|c| {
            c.provisioning_handle == is.handle && c.client_session_id == is.client_session_id
        }),
        || "the closed session is not enumerated as closed".into(),
    )?;
    let open = sessions(ctx.sks, true)?;
    ensure(
        !open.iter().any(|c| c.provisioning_handle == is.handle),
        || "a closed session is listed as open".into(),
    )
}

fn handles_unique(ctx: &mut Ctx<'_>) -> Step {
    let mut hs = Vec::new();
    for n in 0..4 {
        let mut is = ctx.issuer_n(n);
        ok(is.create_session(ctx.sks), "createProvisioningSession")?;
        ensure(!is.handle.is_none(), || "handle 0 returned".into())?;
        ensure(!hs.contains(&is.handle), || {
            format!("handle {} returned twice", is.handle)
        })?;
        hs.push(is.handle);
    }
    Ok(())
}

fn abort_removes(ctx: &mut Ctx<'_>) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = open(ctx)?;
    let ph = ok(
        is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
        "createPinPolicy",
    )?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357"),
        ),
        "provision",
    )?;
    ok(
        ctx.sks.abort_provisioning_session(is.handle),
        "abortProvisioningSession",
    )?;
    expect_session_gone(ctx.sks, is.handle, "after abort")?;
    expect_code(
        ctx.sks.get_key_handle(is.handle, "Key.1"),
        SksErrorCode::NoSession,
        "getKeyHandle after abort",
    )?;
    expect_code(
        ctx.sks.get_key_attributes(k.handle),
        SksErrorCode::NoKey,
        "getKeyAttributes of an aborted key",
    )?;
    before.expect_unchanged(ctx.sks, "after abort")
}

fn abort_unknown(ctx: &mut Ctx<'_>) -> Step {
    expect_code(
        ctx.sks
            .abort_provisioning_session(ProvisioningHandle(0x7fff_fff1)),
        SksErrorCode::NoSession,
        "abort of an unknown handle",
    )
    .map(|_| ())
}

fn abort_closed(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    ok(is.close(ctx.sks), "close")?;
    let before = Snapshot::take(ctx.sks)?;
    expect_code(
        ctx.sks.abort_provisioning_session(is.handle),
        SksErrorCode::NoSession,
        "abort of a closed session",
    )?;
    before.expect_unchanged(ctx.sks, "abort of a closed session")
}

fn closed_refuses_provisioning(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    ok(is.close(ctx.sks), "close")?;
    let before = Snapshot::take(ctx.sks)?;
    let r = is.create_pin(ctx.sks, &PinSpec::new("PIN.9"));
    expect_code(
        r,
        SksErrorCode::NoSession,
        "createPinPolicy on a closed session",
    )?;
    let r = is.close(ctx.sks);
    expect_code(r, SksErrorCode::NoSession, "second close")?;
    before.expect_unchanged(ctx.sks, "provisioning calls on a closed session")
}

fn lifetime(ctx: &mut Ctx<'_>, advance: u64, expect_dead: bool) -> Step {
    let Some(clock) = ctx.clock else {
        return Err(Stop::NotApplicable("the target exposes no clock".into()));
    };
    let before = Snapshot::take(ctx.sks)?;
    let mut is = ctx.issuer();
    is.session_life_time = 600;
    ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    clock.advance(advance);
    let r = is.provision_key(ctx.sks, &KeySpec::p256("Key.1"));
    if expect_dead {
        fatal(
            ctx,
            &before,
            is.handle,
            r,
            SksErrorCode::NoSession,
            "createKeyEntry after the session lifetime",
        )
    } else {
        ok(r, "createKeyEntry within the session lifetime")?;
        ok(is.close(ctx.sks), "close within the lifetime").map(|_| ())
    }
}

fn lifetime_close(ctx: &mut Ctx<'_>) -> Step {
    let Some(clock) = ctx.clock else {
        return Err(Stop::NotApplicable("the target exposes no clock".into()));
    };
    let before = Snapshot::take(ctx.sks)?;
    let mut is = ctx.issuer();
    is.session_life_time = 60;
    ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    clock.advance(61);
    let r = is.close(ctx.sks);
    fatal(
        ctx,
        &before,
        is.handle,
        r,
        SksErrorCode::NoSession,
        "close after the session lifetime",
    )
}

/// [CRY-LIM-003] one PIN policy (1), a key (2), a certificate path (1), close (2) = 6 uses.
fn key_limit(ctx: &mut Ctx<'_>, limit: u16) -> Step {
    let before = Snapshot::take(ctx.sks)?;
    let mut is = ctx.issuer();
    is.session_key_limit = limit;
    ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    let ph = ok(
        is.create_pin(ctx.sks, &PinSpec::new("PIN.1")),
        "createPinPolicy",
    )?;
    let k = ok(
        is.provision_key(
            ctx.sks,
            &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357"),
        ),
        "provision",
    )?;
    let r = is.close(ctx.sks);
    if limit >= 6 {
        ok(r, "close within sessionKeyLimit")?;
        crate::verify::expect_key_listed(ctx.sks, k.handle, "after close")
    } else {
        expect_code(r, SksErrorCode::Option, "close beyond sessionKeyLimit")?;
        expect_session_gone(ctx.sks, is.handle, "exhausted session")?;
        expect_key_not_listed(ctx.sks, k.handle, "exhausted session")?;
        before.expect_unchanged(ctx.sks, "exhausted session")
    }
}

fn too_many_open(ctx: &mut Ctx<'_>) -> Step {
    for n in 0..1000u64 {
        let mut is = ctx.issuer_n(n);
        match is.create_session(ctx.sks) {
            Ok(_) => {}
            Err(e) => {
                ensure(e.code() == Some(SksErrorCode::Storage), || {
                    format!("session {n} refused with {e}, expected ERROR_STORAGE")
                })?;
                ctx.note(format!("the card refused open session number {}", n + 1));
                return Ok(());
            }
        }
    }
    Err(Stop::fail(
        "1000 open sessions accepted: no bound on open sessions",
    ))
}

fn open_key_invisible(ctx: &mut Ctx<'_>) -> Step {
    let mut is = open(ctx)?;
    let k = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.1")),
        "provision",
    )?;
    expect_key_not_listed(ctx.sks, k.handle, "key of an open session")?;
    expect_code(
        ctx.sks.get_key_attributes(k.handle),
        SksErrorCode::NoKey,
        "getKeyAttributes of an open-session key",
    )?;
    expect_code(
        ctx.sks.sign_data(
            k.handle,
            airtight_testkit::emulator::uri::ECDSA_SHA256,
            None,
            false,
            None,
            b"x",
        ),
        SksErrorCode::NoKey,
        "signData with an open-session key",
    )?;
    expect_code(
        ctx.sks.delete_key(k.handle, None),
        SksErrorCode::NoKey,
        "deleteKey of an open-session key",
    )?;
    ok(is.close(ctx.sks), "close")?;
    crate::verify::expect_key_listed(ctx.sks, k.handle, "after close")
}

fn unknown_key(ctx: &mut Ctx<'_>) -> Step {
    expect_code(
        ctx.sks.get_key_protection_info(KeyHandle(0x7fff_fff3)),
        SksErrorCode::NoKey,
        "getKeyProtectionInfo(unknown)",
    )
    .map(|_| ())
}

pub(super) fn cases() -> Vec<Case> {
    let mut v = vec![
        Case::must("card.session.create.e2es-attested", &["SKS-SES-005", "CRY-ATT-001", "CRY-ATT-005", "CRY-KDF-007", "CRY-KDF-008"], "an E2ES session's attestation verifies with the device certificate and the derived session key MACs", |ctx| {
            let mut is = open(ctx)?;
            ok(is.provision_key(ctx.sks, &KeySpec::p256("Key.1")), "provision")?;
            ok(is.close(ctx.sks), "close").map(|_| ())
        }),
        Case::must("card.session.create.e2es-signature-shape", &["CRY-ATT-007", "CRY-ATT-006"], "an EC device attestation is raw r||s at the field length", e2es_signature_shape),
        Case::must("card.session.create.privacy-hmac", &["CRY-ATT-008", "CRY-KDF-008", "CRY-CTR-004"], "a privacy-enabled session is attested by HMAC(SK, A) that does not use the MAC counter", privacy_session).needs("privacy"),
        Case::must("card.session.create.client-session-id", &["CRY-KDF-011"], "clientSessionId is 32 Base64URL characters and fresh per session", client_session_id),
        Case::must("card.session.create.p384-ephemeral", &["CRY-KDF-003", "CRY-KDF-005"], "a P-384 server ephemeral key gets a P-384 client ephemeral key", |ctx| curve_session(ctx, Curve::P384)).needs_alg(airtight_testkit::emulator::uri::P384),
        Case::must("card.session.create.p521-ephemeral", &["CRY-KDF-003", "CRY-KDF-005"], "a P-521 server ephemeral key gets a P-521 client ephemeral key (Z keeps leading zeros)", |ctx| curve_session(ctx, Curve::P521)).needs_alg(airtight_testkit::emulator::uri::P521),
        Case::must("card.session.create.ed25519-ephemeral", &["CRY-KDF-003"], "an Ed25519 server ephemeral key is refused with ERROR_OPTION", |ctx| {
            let k = PrivateKey::generate_ed25519(&mut ChaCha20Rng::seed_from_u64(ctx.seed)).public_key().to_spki_der().unwrap_or_default();
            refused(ctx, SksErrorCode::Option, move |p| p.server_ephemeral_key = k)
        }),
        Case::must("card.session.create.point-off-curve", &["CRY-KDF-003", "CRY-IMP-007"], "a server ephemeral point that is not on the curve is refused with ERROR_CRYPTO", |ctx| {
            let mut k = spki_of(Curve::P256, ctx.seed);
            if let Some(b) = k.last_mut() { *b ^= 0x01; }
            refused(ctx, SksErrorCode::Crypto, move |p| p.server_ephemeral_key = k)
        }),
        Case::must("card.session.create.garbage-ephemeral", &["SKS-IMP-010", "CRY-KDF-003"], "a server ephemeral key that is not DER is refused with an error code", |ctx| {
            let before = Snapshot::take(ctx.sks)?;
            let mut is = ctx.issuer();
            crate::verify::expect_refused(is.create_session_with(ctx.sks, |p| p.server_ephemeral_key = vec![0x30, 0x03, 0x01, 0x02]), "garbage serverEphemeralKey")?;
            before.expect_unchanged(ctx.sks, "refused session")
        }),
        Case::must("card.session.create.unknown-session-algorithm", &["CRY-ALG-002", "SKS-ERR-006"], "a sessionKeyAlgorithm other than session.1 is refused with ERROR_OPTION", |ctx| {
            refused(ctx, SksErrorCode::Option, |p| p.session_key_algorithm = "https://webpki.github.io/sks/algorithm#session.2".into())
        }),
        Case::must("card.session.create.server-session-id-empty", &["SKS-SES-002", "SKS-LIM-004"], "an empty serverSessionId is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.server_session_id.clear())),
        Case::must("card.session.create.server-session-id-33", &["SKS-SES-002", "SKS-LIM-004", "SKS-LIM-001"], "a 33-character serverSessionId is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.server_session_id = "a".repeat(33))),
        Case::must("card.session.create.server-session-id-space", &["SKS-SES-002", "SKS-LIM-004"], "a serverSessionId with a space is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.server_session_id = "abc def".into())),
        Case::must("card.session.create.server-session-id-non-ascii", &["SKS-SES-002", "SKS-LIM-004"], "a serverSessionId with a non-ASCII character is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.server_session_id = "abcé".into())),
        Case::must("card.session.create.server-session-id-32", &["SKS-LIM-004"], "a 32-character serverSessionId of 0x21-0x7E is accepted", |ctx| accepted(ctx, |p| p.server_session_id = "!~".repeat(16))),
        Case::must("card.session.create.issuer-uri-empty", &["SKS-SES-002"], "an empty issuerUri is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.issuer_uri.clear())),
        Case::must("card.session.create.issuer-uri-1001", &["SKS-SES-002", "SKS-LIM-001"], "an issuerUri of 1001 bytes is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.issuer_uri = format!("https://x/{}", "a".repeat(991)))),
        Case::must("card.session.create.issuer-uri-1000", &["SKS-LIM-001", "CRY-KDF-010"], "an issuerUri of exactly 1000 bytes is accepted and used in the KDF as sent", |ctx| {
            let mut is = ctx.issuer();
            is.issuer_uri = format!("https://x/{}", "a".repeat(990));
            ok(is.create_session(ctx.sks), "createProvisioningSession")?;
            ok(is.provision_key(ctx.sks, &KeySpec::p256("Key.1")), "provision")?;
            ok(is.close(ctx.sks), "close").map(|_| ())
        }),
        Case::must("card.session.create.key-limit-zero", &["SKS-SES-002"], "sessionKeyLimit 0 is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.session_key_limit = 0)),
        Case::must("card.session.create.lifetime-zero", &["SKS-SES-002"], "sessionLifeTime 0 is refused with ERROR_OPTION", |ctx| refused(ctx, SksErrorCode::Option, |p| p.session_life_time = 0)),
        Case::must("card.session.create.kmk-rsa-512", &["SKS-SES-003"], "an RSA-512 key-management key is refused with ERROR_OPTION", |ctx| {
            let k = rsa512_spki(ctx.seed);
            refused(ctx, SksErrorCode::Option, move |p| p.key_management_key = Some(k))
        }).needs("kmk"),
        Case::must("card.session.create.kmk-garbage", &["SKS-SES-003", "SKS-IMP-010"], "a key-management key that is not an SPKI is refused with an error code", |ctx| {
            let before = Snapshot::take(ctx.sks)?;
            let mut is = ctx.issuer();
            crate::verify::expect_refused(is.create_session_with(ctx.sks, |p| p.key_management_key = Some(vec![1, 2, 3])), "garbage KMK")?;
            before.expect_unchanged(ctx.sks, "refused session")
        }).needs("kmk"),
        Case::must("card.session.enumerate.open", &["SKS-SES-006", "SKS-SES-021"], "an open session is enumerated as open with the stored ids, issuerUri, clientTime, lifetime and KMK", enumerate_open),
        Case::must("card.session.enumerate.closed", &["SKS-SES-021", "SKS-SES-013"], "a closed session is enumerated as closed, not open", enumerate_closed),
        Case::must("card.session.handles-unique", &["SKS-SES-006", "SKS-NSP-005"], "session handles are non-zero and distinct", handles_unique),
        Case::must("card.session.abort.removes-everything", &["SKS-SES-020", "SKS-TXN-004"], "abortProvisioningSession deletes the session and its objects", abort_removes),
        Case::must("card.session.abort.unknown-handle", &["SKS-SES-020", "SKS-ERR-005"], "abort of an unknown handle fails with ERROR_NO_SESSION", abort_unknown),
        Case::must("card.session.abort.closed-session", &["SKS-SES-020"], "abort of a closed session fails with ERROR_NO_SESSION and changes nothing", abort_closed),
        Case::must("card.session.closed.refuses-provisioning", &["SKS-SES-013", "SKS-ERR-005"], "a closed session refuses further provisioning calls with ERROR_NO_SESSION", closed_refuses_provisioning),
        Case::must("card.session.lifetime.within", &["SKS-IMP-003"], "a call before clientTime + sessionLifeTime works", |ctx| lifetime(ctx, 599, false)).needs("clock"),
        Case::must("card.session.lifetime.expired-create-key", &["SKS-IMP-003", "SKS-TXN-004"], "createKeyEntry after clientTime + sessionLifeTime fails with ERROR_NO_SESSION and tears the session down", |ctx| lifetime(ctx, 601, true)).needs("clock"),
        Case::must("card.session.lifetime.expired-close", &["SKS-IMP-003"], "close after the lifetime fails with ERROR_NO_SESSION and commits nothing", lifetime_close).needs("clock"),
        Case::must("card.session.key-limit.exact", &["CRY-LIM-001", "CRY-LIM-003"], "a PIN policy, a key, its certificate and close fit a sessionKeyLimit of 6", |ctx| key_limit(ctx, 6)),
        Case::must("card.session.key-limit.one-short", &["CRY-LIM-002", "CRY-LIM-003", "CRY-LIM-004", "SKS-SES-011"], "the same session with a limit of 5 fails at close and commits nothing", |ctx| key_limit(ctx, 5)),
        Case::should("card.session.open-sessions-bounded", &["SKS-SES-008"], "the number of open sessions is bounded with ERROR_STORAGE", too_many_open).needs("resource-limits"),
        Case::must("card.session.open-keys-invisible", &["SKS-TXN-001", "SKS-MGT-006", "SKS-ENU-001"], "keys of an open session are not enumerated or usable before close", open_key_invisible),
        Case::must("card.session.unknown-key-handle", &["SKS-ERR-005"], "an unknown key handle fails with ERROR_NO_KEY", unknown_key),
    ];
    v.push(Case::must(
        "card.session.enumerate.start-at-zero",
        &["SKS-ENU-001", "SKS-SES-021"],
        "enumeration from 0 on a fresh card ends (no phantom sessions or keys)",
        |ctx| {
            crate::verify::sessions(ctx.sks, true)?;
            crate::verify::sessions(ctx.sks, false)?;
            crate::verify::keys(ctx.sks)?;
            Ok(())
        },
    ));
    v
}
