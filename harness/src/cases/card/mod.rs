//! Card cases, grouped by area. Shared scenario helpers live here.

mod device;
mod hardening;
mod keys;
mod mac;
mod mgmt;
mod policy;
mod post;
mod provisioning;
mod sanity;
mod session;

use airtight_proto::policy::{AppUsage, Grouping};
use airtight_proto::sks::{ProvisioningHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{EmuError, Issuer, KeySpec, PinSpec, Provisioned};

use crate::case::{Case, Step};
use crate::ctx::Ctx;
use crate::verify::{Snapshot, expect_code, expect_session_gone, ok};

/// The whole card catalog: the first sanity case, every area, the last sanity case.
pub fn all() -> Vec<Case> {
    let mut v = vec![sanity::first()];
    v.extend(device::cases());
    v.extend(session::cases());
    v.extend(mac::cases());
    v.extend(hardening::cases());
    v.extend(policy::cases());
    v.extend(keys::cases());
    v.extend(provisioning::cases());
    v.extend(post::cases());
    v.extend(mgmt::cases());
    v.push(sanity::last());
    v
}

/// One honest provisioning session (a PIN policy, a P-256 key with a PIN, its certificate,
/// close), then a signature with the new key and its deletion. Used by the sanity cases and
/// the performance mode.
pub fn honest_session(
    sks: &mut dyn SecureKeyStore,
    seed: u64,
    client_time: u32,
) -> Result<(), EmuError> {
    let mut is = Issuer::new(seed);
    is.client_time = client_time;
    is.create_session(sks)?;
    let pin = is.create_pin(sks, &PinSpec::new("PIN.1"))?;
    let k = is.provision_key(sks, &KeySpec::p256("Key.1").with_pin(pin, "PIN.1", b"1357"))?;
    is.close(sks)?;
    let sig = sks.sign_data(
        k.handle,
        airtight_testkit::emulator::uri::ECDSA_SHA256,
        None,
        false,
        Some(b"1357"),
        b"harness",
    )?;
    let pk = airtight_proto::keys::PublicKey::from_spki_der(&k.public_key)
        .map_err(|e| EmuError::Verify(e.to_string()))?;
    pk.verify(
        airtight_proto::keys::SignatureAlgorithm::ES256,
        b"harness",
        &sig,
    )
    .map_err(|e| EmuError::Verify(format!("signature: {e}")))?;
    sks.delete_key(k.handle, None)?;
    Ok(())
}

/// An issuer with an open session.
pub(crate) fn open(ctx: &mut Ctx<'_>) -> Step<Issuer> {
    let mut is = ctx.issuer();
    ok(is.create_session(ctx.sks), "createProvisioningSession")?;
    Ok(is)
}

/// A closed session with one P-256 key protected by a PIN `pin` (policy `pin_spec`).
pub(crate) fn key_with_pin(
    ctx: &mut Ctx<'_>,
    pin_spec: PinSpec,
    key: KeySpec,
    pin: &[u8],
) -> Step<(Issuer, Provisioned)> {
    let mut is = open(ctx)?;
    let ph = ok(is.create_pin(ctx.sks, &pin_spec), "createPinPolicy")?;
    let k = ok(
        is.provision_key(ctx.sks, &key.with_pin(ph, &pin_spec.id, pin)),
        "provision key",
    )?;
    ok(is.close(ctx.sks), "closeProvisioningSession")?;
    Ok((is, k))
}

/// Checks the common consequence of a fatal provisioning error: the exact code, the session
/// torn down, and the card back to `before`.
pub(crate) fn fatal<T, E: Into<EmuError>>(
    ctx: &mut Ctx<'_>,
    before: &Snapshot,
    h: ProvisioningHandle,
    r: Result<T, E>,
    code: SksErrorCode,
    what: &str,
) -> Step {
    expect_code(r, code, what)?;
    expect_session_gone(ctx.sks, h, what)?;
    before.expect_unchanged(ctx.sks, what)
}

/// Like [`fatal`] but accepting any refusal code (for rules that only say "rejected").
pub(crate) fn fatal_any<T, E: Into<EmuError>>(
    ctx: &mut Ctx<'_>,
    before: &Snapshot,
    h: ProvisioningHandle,
    r: Result<T, E>,
    what: &str,
) -> Step {
    crate::verify::expect_refused(r, what)?;
    expect_session_gone(ctx.sks, h, what)?;
    before.expect_unchanged(ctx.sks, what)
}

/// A PIN policy with a grouping.
pub(crate) fn grouped(id: &str, g: Grouping) -> PinSpec {
    let mut p = PinSpec::new(id);
    p.grouping = g;
    p
}

/// A P-256 key with an appUsage.
pub(crate) fn usage(id: &str, u: AppUsage) -> KeySpec {
    let mut k = KeySpec::p256(id);
    k.app_usage = u;
    k
}
