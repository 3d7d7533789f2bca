//! Card cases: post-operations (update, clone, unlock, delete) and key-management-key
//! roll-over.

use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::policy::{AppUsage, DeleteProtection, Grouping};
use airtight_proto::session1;
use airtight_proto::sks::{SecureKeyStore as _, SksErrorCode};
use airtight_testkit::emulator::{self, Issuer, KeySpec, PinSpec, Provisioned, uri};

use super::{fatal, fatal_any, grouped, usage};
use crate::case::{Case, Step, Stop};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, ensure, expect_code, expect_key_listed, expect_key_not_listed, ok};

/// A closed session (KMK `kmk_seed` unless `no_kmk`, privacy as given) with one target key
/// under a shared-grouping PIN policy (PIN 1357, 2 tries) with a PUK.
fn target(
    ctx: &mut Ctx<'_>,
    kmk_seed: u64,
    privacy: bool,
    no_kmk: bool,
    app: AppUsage,
) -> Step<(Issuer, Provisioned)> {
    let mut is = ctx.issuer_n(1);
    if !no_kmk {
        is = is.with_kmk(kmk_seed);
    }
    is.privacy_enabled = privacy;
    ok(
        is.create_session(ctx.sks),
        "createProvisioningSession (target)",
    )?;
    let puk = ok(
        is.create_puk(
            ctx.sks,
            "PUK.1",
            b"123456",
            airtight_proto::policy::PassphraseFormat::Numeric,
            3,
        ),
        "createPukPolicy",
    )?;
    let mut p = grouped("PIN.1", Grouping::Shared).with_puk(puk, "PUK.1");
    p.retry_limit = 2;
    let ph = ok(is.create_pin(ctx.sks, &p), "createPinPolicy")?;
    let mut k = usage("Key.1", app).with_pin(ph, "PIN.1", b"1357");
    k.delete_protection = DeleteProtection::NonDeletable;
    let t = ok(is.provision_key(ctx.sks, &k), "provision target")?;
    ok(is.close(ctx.sks), "close (target)")?;
    Ok((is, t))
}

fn second(ctx: &mut Ctx<'_>, kmk_seed: u64, privacy: bool) -> Step<Issuer> {
    let mut is = ctx.issuer_n(2).with_kmk(kmk_seed);
    is.privacy_enabled = privacy;
    ok(
        is.create_session(ctx.sks),
        "createProvisioningSession (post)",
    )?;
    Ok(is)
}

fn update(ctx: &mut Ctx<'_>) -> Step {
    let s = ctx.seed;
    let (_, t) = target(ctx, s, false, false, AppUsage::Authentication)?;
    let mut is = second(ctx, s, false)?;
    let new = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.2")),
        "provision new key",
    )?;
    ok(
        is.post_update_or_clone(
            ctx.sks,
            new.handle,
            new.ee(),
            t.handle,
            t.ee(),
            &emulator::kmk(s),
            true,
        ),
        "postUpdateKey",
    )?;
    // [SKS-PST-005] nothing before close.
    let a = ok(
        ctx.sks.get_key_attributes(t.handle),
        "getKeyAttributes before close",
    )?;
    ensure(a.certificate_path == t.certificate_path, || {
        "the update took effect before close".into()
    })?;
    ok(is.close(ctx.sks), "close")?;
    let a = ok(
        ctx.sks.get_key_attributes(t.handle),
        "getKeyAttributes after close",
    )?;
    ensure(a.certificate_path == new.certificate_path, || {
        "the target handle does not carry the new certificate".into()
    })?;
    expect_key_not_listed(ctx.sks, new.handle, "the new key's own handle")?;
    // The PIN of the target protects the new key material.
    let sig = ok(
        ctx.sks.sign_data(
            t.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1357"),
            b"upd",
        ),
        "signData with the target PIN",
    )?;
    emulator_verify(&new.public_key, b"upd", &sig)?;
    // [SKS-PST-014] the target's session is gone; the key belongs to the new one.
    let e = crate::verify::keys(ctx.sks)?;
    ensure(
        e.iter()
            .any(|k| k.key_handle == t.handle && k.provisioning_handle == is.handle),
        || "the updated key does not belong to the closing session".into(),
    )
}

fn emulator_verify(spki: &[u8], data: &[u8], sig: &[u8]) -> Step {
    let pk = airtight_proto::keys::PublicKey::from_spki_der(spki)
        .map_err(|e| Stop::Fail(e.to_string()))?;
    pk.verify(airtight_proto::keys::SignatureAlgorithm::ES256, data, sig)
        .map_err(|e| Stop::Fail(format!("signature does not verify with the new key: {e}")))
}

fn clone_shares_pin(ctx: &mut Ctx<'_>) -> Step {
    let s = ctx.seed;
    let (_, t) = target(ctx, s, false, false, AppUsage::Authentication)?;
    let mut is = second(ctx, s, false)?;
    let new = ok(
        is.provision_key(ctx.sks, &KeySpec::p256("Key.2")),
        "provision new key",
    )?;
    ok(
        is.post_update_or_clone(
            ctx.sks,
            new.handle,
            new.ee(),
            t.handle,
            t.ee(),
            &emulator::kmk(s),
            false,
        ),
        "postCloneKeyProtection",
    )?;
    ok(is.close(ctx.sks), "close")?;
    expect_key_listed(ctx.sks, new.handle, "the clone")?;
    expect_key_listed(ctx.sks, t.handle, "the target")?;
    ok(
        ctx.sks.sign_data(
            new.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1357"),
            b"c",
        ),
        "the clone signs with the target's PIN",
    )?;
    // One shared error counter: a wrong PIN on the clone counts on the target.
    expect_code(
        ctx.sks.sign_data(
            new.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"0000"),
            b"c",
        ),
        SksErrorCode::Authorization,
        "wrong PIN on the clone",
    )?;
    let p = ok(
        ctx.sks.get_key_protection_info(t.handle),
        "getKeyProtectionInfo",
    )?;
    ensure(p.pin.map(|p| p.error_count) == Some(1), || {
        "the clone does not share the target's PIN error counter".into()
    })
}

fn unlock(ctx: &mut Ctx<'_>) -> Step {
    let s = ctx.seed;
    let (_, t) = target(ctx, s, false, false, AppUsage::Authentication)?;
    for _ in 0..2 {
        expect_code(
            ctx.sks.sign_data(
                t.handle,
                uri::ECDSA_SHA256,
                None,
                false,
                Some(b"0000"),
                b"x",
            ),
            SksErrorCode::Authorization,
            "wrong PIN",
        )?;
    }
    expect_code(
        ctx.sks.sign_data(
            t.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1357"),
            b"x",
        ),
        SksErrorCode::Authorization,
        "right PIN on a blocked key",
    )?;
    let mut is = second(ctx, s, false)?;
    ok(
        is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), &emulator::kmk(s), false),
        "postUnlockKey",
    )?;
    ok(is.close(ctx.sks), "close")?;
    ok(
        ctx.sks.sign_data(
            t.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1357"),
            b"x",
        ),
        "signData after postUnlockKey",
    )
    .map(|_| ())
}

fn delete_ignores_protection(ctx: &mut Ctx<'_>) -> Step {
    let s = ctx.seed;
    let (_, t) = target(ctx, s, false, false, AppUsage::Authentication)?;
    expect_code(
        ctx.sks.delete_key(t.handle, Some(b"1357")),
        SksErrorCode::NotAllowed,
        "deleteKey of a non-deletable key",
    )?;
    let mut is = second(ctx, s, false)?;
    ok(
        is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), &emulator::kmk(s), true),
        "postDeleteKey",
    )?;
    expect_key_listed(ctx.sks, t.handle, "before close")?;
    ok(is.close(ctx.sks), "close")?;
    expect_key_not_listed(ctx.sks, t.handle, "after close")
}

/// A post-operation that must be refused: `op` runs in the second session.
fn post_refused(
    ctx: &mut Ctx<'_>,
    code: Option<SksErrorCode>,
    target_privacy: bool,
    target_no_kmk: bool,
    op: impl FnOnce(
        &mut Ctx<'_>,
        &mut Issuer,
        &Provisioned,
        &PrivateKey,
    ) -> Result<(), airtight_testkit::emulator::EmuError>,
) -> Step {
    let s = ctx.seed;
    let (_, t) = target(
        ctx,
        s,
        target_privacy,
        target_no_kmk,
        AppUsage::Authentication,
    )?;
    let before = Snapshot::take(ctx.sks)?;
    let mut is = second(ctx, s, false)?;
    let kmk = emulator::kmk(s);
    let r = op(ctx, &mut is, &t, &kmk);
    match code {
        Some(c) => fatal(ctx, &before, is.handle, r, c, "post-operation"),
        None => fatal_any(ctx, &before, is.handle, r, "post-operation"),
    }
}

fn kmk_roll(ctx: &mut Ctx<'_>, good: bool) -> Step {
    let s = ctx.seed;
    let (is1, t) = target(ctx, s, false, false, AppUsage::Authentication)?;
    let old = emulator::kmk(s);
    let new = emulator::ec_key(Curve::P256, s ^ 0x77);
    let signer = if good { &old } else { &new };
    let data = session1::roll_over_signed_data(&new.public_key())
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let auth =
        session1::sign_kmk_authorization(signer, &data).map_err(|e| Stop::Fail(e.to_string()))?;
    let spki = new
        .public_key()
        .to_spki_der()
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let before = Snapshot::take(ctx.sks)?;
    let r = ctx.sks.update_key_management_key(is1.handle, &spki, &auth);
    if !good {
        crate::verify::expect_refused(r, "roll-over signed by the new key")?;
        ensure(
            !matches!(ctx.sks.update_key_management_key(is1.handle, &spki, &auth), Err(ref e) if e.code() == SksErrorCode::Authorization),
            || "a roll-over failure was reported as ERROR_AUTHORIZATION".into(),
        )?;
        before.expect_unchanged(ctx.sks, "failed roll-over")?;
        // The old KMK still works.
        let mut is = second(ctx, s, false)?;
        ok(
            is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), &old, false),
            "postUnlockKey with the old KMK",
        )?;
        return ok(is.close(ctx.sks), "close").map(|_| ());
    }
    ok(r, "updateKeyManagementKey")?;
    let closed = crate::verify::sessions(ctx.sks, false)?;
    let sess = closed
        .iter()
        .find(|c| c.provisioning_handle == is1.handle)
        .ok_or_else(|| Stop::fail("session gone"))?;
    ensure(
        sess.key_management_key.as_deref() == Some(spki.as_slice()),
        || "the session does not report the new KMK".into(),
    )?;
    // The old KMK no longer authorizes; the new one does.
    let before = Snapshot::take(ctx.sks)?;
    let mut is = second(ctx, s, false)?;
    let r = is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), &old, false);
    fatal_any(
        ctx,
        &before,
        is.handle,
        r,
        "postUnlockKey with the replaced KMK",
    )?;
    let mut is = ctx.issuer_n(3).with_kmk(s);
    ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    ok(
        is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), &new, false),
        "postUnlockKey with the new KMK",
    )?;
    ok(is.close(ctx.sks), "close").map(|_| ())
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::must("card.post.update.takes-over", &["SKS-PST-005", "SKS-PST-012", "SKS-PST-013", "SKS-PST-014", "CRY-TKR-001", "CRY-TKR-002", "CRY-TKR-004"], "postUpdateKey: at close the new key takes over the target's handle and PIN; nothing happens before", update).needs("kmk"),
        Case::must("card.post.clone.shares-pin", &["SKS-PST-013", "POL-OBJ-005", "POL-GRP-006"], "postCloneKeyProtection: the clone shares the target's PIN value and error counter", clone_shares_pin).needs("kmk"),
        Case::must("card.post.unlock.resets", &["SKS-PST-015", "POL-PIN-005"], "postUnlockKey resets a blocked PIN at close", unlock).needs("kmk"),
        Case::must("card.post.delete.ignores-protection", &["SKS-PST-016", "POL-PRT-005"], "postDeleteKey deletes a non-deletable key at close", delete_ignores_protection).needs("kmk"),
        Case::must("card.post.target-in-open-session", &["SKS-PST-002"], "a target of an open session fails with ERROR_OPTION", |ctx| {
            let s = ctx.seed;
            let mut other = ctx.issuer_n(5).with_kmk(s);
            ok(other.create_session(ctx.sks), "createProvisioningSession")?;
            let t = ok(other.provision_key(ctx.sks, &KeySpec::p256("Key.1")), "provision")?;
            let before = Snapshot::take(ctx.sks)?;
            let mut is = second(ctx, s, false)?;
            let r = is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), &emulator::kmk(s), true);
            fatal(ctx, &before, is.handle, r, SksErrorCode::Option, "postDeleteKey of an open-session key")
        }).needs("kmk"),
        Case::must("card.post.target-not-updatable", &["SKS-PST-003"], "a target whose session has no KMK is refused", |ctx| post_refused(ctx, None, false, true, |ctx, is, t, k| is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), k, true))).needs("kmk"),
        Case::must("card.post.privacy-mismatch", &["SKS-PST-003"], "a target of a privacy-enabled session is refused from an E2ES session", |ctx| post_refused(ctx, None, true, false, |ctx, is, t, k| is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), k, true))).needs("kmk").needs("privacy"),
        Case::must("card.post.foreign-kmk", &["CRY-TKR-004", "SKS-PST-001", "SKS-ERR-008"], "an authorization signed by a foreign KMK is refused and the session torn down", |ctx| post_refused(ctx, None, false, false, |ctx, is, t, _| {
            let foreign = emulator::ec_key(Curve::P256, 0xf0f0);
            is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), &foreign, true)
        })).needs("kmk"),
        Case::must("card.post.authorization-for-other-key", &["CRY-TKR-001", "CRY-TKR-004"], "an authorization computed over another certificate is refused", |ctx| post_refused(ctx, None, false, false, |ctx, is, t, k| {
            let mut other = t.certificate_path.get(1).cloned().unwrap_or_default();
            other.push(0);
            is.post_delete_or_unlock(ctx.sks, t.handle, &other, k, true)
        })).needs("kmk"),
        Case::must("card.post.delete-then-unlock", &["SKS-PST-006"], "a deleted target accepts no other post-operation in the session", |ctx| post_refused(ctx, None, false, false, |ctx, is, t, k| {
            is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), k, true)?;
            is.post_delete_or_unlock(ctx.sks, t.handle, t.ee(), k, false)
        })).needs("kmk"),
        Case::must("card.post.update-twice", &["SKS-PST-007"], "a second postUpdateKey of one target is refused", |ctx| post_refused(ctx, None, false, false, |ctx, is, t, k| {
            let a = is.provision_key(ctx.sks, &KeySpec::p256("Key.2"))?;
            let b = is.provision_key(ctx.sks, &KeySpec::p256("Key.3"))?;
            is.post_update_or_clone(ctx.sks, a.handle, a.ee(), t.handle, t.ee(), k, true)?;
            is.post_update_or_clone(ctx.sks, b.handle, b.ee(), t.handle, t.ee(), k, true)
        })).needs("kmk"),
        Case::must("card.post.new-key-twice", &["SKS-PST-008"], "a new key used in two post-operations is refused", |ctx| post_refused(ctx, None, false, false, |ctx, is, t, k| {
            let a = is.provision_key(ctx.sks, &KeySpec::p256("Key.2"))?;
            is.post_update_or_clone(ctx.sks, a.handle, a.ee(), t.handle, t.ee(), k, false)?;
            is.post_update_or_clone(ctx.sks, a.handle, a.ee(), t.handle, t.ee(), k, false)
        })).needs("kmk"),
        Case::must("card.post.new-key-with-pin", &["SKS-PST-009"], "a new key with its own PIN policy cannot update", |ctx| post_refused(ctx, None, false, false, |ctx, is, t, k| {
            let ph = is.create_pin(ctx.sks, &PinSpec::new("PIN.2"))?;
            let a = is.provision_key(ctx.sks, &KeySpec::p256("Key.2").with_pin(ph, "PIN.2", b"2468"))?;
            is.post_update_or_clone(ctx.sks, a.handle, a.ee(), t.handle, t.ee(), k, true)
        })).needs("kmk"),
        Case::must("card.post.update-app-usage", &["SKS-PST-010"], "an update whose new key has another appUsage is refused", |ctx| post_refused(ctx, None, false, false, |ctx, is, t, k| {
            let a = is.provision_key(ctx.sks, &usage("Key.2", AppUsage::Signature))?;
            is.post_update_or_clone(ctx.sks, a.handle, a.ee(), t.handle, t.ee(), k, true)
        })).needs("kmk"),
        Case::must("card.post.clone-not-shared", &["SKS-PST-011"], "a clone of a target whose grouping is not shared is refused", |ctx| {
            let s = ctx.seed;
            let mut is1 = ctx.issuer_n(1).with_kmk(s);
            ok(is1.create_session(ctx.sks), "createProvisioningSession")?;
            let ph = ok(is1.create_pin(ctx.sks, &PinSpec::new("PIN.1")), "createPinPolicy")?;
            let t = ok(is1.provision_key(ctx.sks, &KeySpec::p256("Key.1").with_pin(ph, "PIN.1", b"1357")), "provision")?;
            ok(is1.close(ctx.sks), "close")?;
            let before = Snapshot::take(ctx.sks)?;
            let mut is = second(ctx, s, false)?;
            let a = ok(is.provision_key(ctx.sks, &KeySpec::p256("Key.2")), "provision")?;
            let r = is.post_update_or_clone(ctx.sks, a.handle, a.ee(), t.handle, t.ee(), &emulator::kmk(s), false);
            fatal_any(ctx, &before, is.handle, r, "clone of a non-shared PIN")
        }).needs("kmk"),
        Case::must("card.kmk.roll-over", &["SKS-KMK-001", "SKS-KMK-003", "CRY-ROL-001"], "updateKeyManagementKey replaces the KMK: the old one stops, the new one works", |ctx| kmk_roll(ctx, true)).needs("kmk"),
        Case::must("card.kmk.roll-over-bad-signature", &["SKS-KMK-002", "CRY-ROL-003"], "a roll-over not signed by the current KMK fails (not ERROR_AUTHORIZATION) and changes nothing", |ctx| kmk_roll(ctx, false)).needs("kmk"),
        Case::must("card.kmk.roll-over-open-session", &["SKS-KMK-001"], "updateKeyManagementKey on an open session is refused", |ctx| {
            let mut is = ctx.issuer().with_kmk(ctx.seed);
            ok(is.create_session(ctx.sks), "createProvisioningSession")?;
            let spki = emulator::ec_key(Curve::P256, 3).public_key().to_spki_der().unwrap_or_default();
            crate::verify::expect_one_of(ctx.sks.update_key_management_key(is.handle, &spki, &[0; 64]), &[SksErrorCode::NoSession, SksErrorCode::NotAllowed], "roll-over on an open session").map(|_| ())
        }).needs("kmk"),
        Case::must("card.kmk.roll-over-no-kmk", &["SKS-KMK-001"], "updateKeyManagementKey on a session without KMK is refused", |ctx| {
            let mut is = ctx.issuer();
            ok(is.create_session(ctx.sks), "createProvisioningSession")?;
            ok(is.provision_key(ctx.sks, &KeySpec::p256("Key.1")), "provision")?;
            ok(is.close(ctx.sks), "close")?;
            let spki = emulator::ec_key(Curve::P256, 3).public_key().to_spki_der().unwrap_or_default();
            crate::verify::expect_one_of(ctx.sks.update_key_management_key(is.handle, &spki, &[0; 64]), &[SksErrorCode::NoSession, SksErrorCode::NotAllowed], "roll-over without KMK").map(|_| ())
        }).needs("kmk"),
    ]
}
