//! Attestations, keys, device chains, privacy mode, echoes and times: the moves of a hostile
//! middleware that holds a real card but wants the issuer to believe something else.

use airtight_pki::{
    Ca, DeviceIdentity, DeviceKeyKind, KeyKind, Profile, Serial, SigningKey, Validity,
};
use airtight_proto::codec::b64url;
use airtight_proto::keys::{Curve, PrivateKey, PublicKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

use super::{flip_b64, tamper};
use crate::case::{Step, Stop};
use crate::issuer::{IssuerCase, IssuerCtx, Reached, edit};

const PIR: &str = "ProvisioningInitializationResponse";
const PIQ: &str = "ProvisioningInitializationRequest";
const KCR: &str = "KeyCreationResponse";
const PFR: &str = "ProvisioningFinalizationResponse";
const IVR: &str = "InvocationResponse";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A fresh EC public key (JWK JSON) on the curve of `jwk` (P-256 when unknown).
fn fresh_key_like(jwk: &Value, seed: u64) -> Value {
    let curve = match jwk.get("crv").and_then(Value::as_str) {
        Some("P-384") => Curve::P384,
        Some("P-521") => Curve::P521,
        _ => Curve::P256,
    };
    PrivateKey::generate_ec(curve, &mut ChaCha20Rng::seed_from_u64(seed))
        .public_key()
        .to_jwk()
        .to_json()
}

fn p384_key(seed: u64) -> Value {
    PrivateKey::generate_ec(Curve::P384, &mut ChaCha20Rng::seed_from_u64(seed))
        .public_key()
        .to_jwk()
        .to_json()
}

/// The RSA-2048 public key of the airtight test RSA device (no key generation needed).
fn rsa_key() -> Value {
    let d = airtight_pki::fixtures::device_rsa2048();
    d.certificate_path
        .first()
        .and_then(|c| airtight_proto::keys::certificate_public_key(c).ok())
        .map_or(Value::Null, |k: PublicKey| k.to_jwk().to_json())
}

/// A case that replaces the key at `pointer` of `response` with `f(honest key, seed)` and
/// expects a refusal and an ended session.
fn replace_key(
    id: &'static str,
    tags: &[&'static str],
    description: &'static str,
    response: &'static str,
    pointer: &'static str,
    f: fn(&Value, u64) -> Value,
) -> IssuerCase {
    IssuerCase::must(id, tags, description, move |ctx| {
        let seed = ctx.seed;
        let mut s = ctx.session()?;
        let (_, honest) = s.run_until(response)?;
        let bad = edit(&honest, |m| at(m, pointer, |k| *k = f(k, seed)));
        ctx.refuse_then_ended(&mut s, &bad, &honest, description)
    })
    .needs_flow(super::request_of(response))
}

/// A fresh key of the same curve.
fn substitute(k: &Value, seed: u64) -> Value {
    fresh_key_like(k, seed)
}

/// A fresh key on another curve (P-384, or P-256 for a P-384 key).
fn other_curve(k: &Value, seed: u64) -> Value {
    if k.get("crv").and_then(Value::as_str) == Some("P-384") {
        fresh_key_like(&Value::Null, seed)
    } else {
        p384_key(seed)
    }
}

/// A key of another type (RSA-2048 for EC, P-256 for RSA).
fn other_type(k: &Value, seed: u64) -> Value {
    if k.get("kty").and_then(Value::as_str) == Some("RSA") {
        fresh_key_like(&Value::Null, seed)
    } else {
        rsa_key()
    }
}

/// Cuts a Base64URL value to half its bytes.
fn halve_b64(v: &mut Value) {
    if let Some(b) = v.as_str().and_then(|s| b64url::decode(s).ok()) {
        *v = Value::String(b64url::encode(&b[..b.len() / 2]));
    }
}

/// Appends a copy of the first element of an array.
fn repeat_first(v: &mut Value) {
    if let Some(a) = v.as_array_mut()
        && let Some(first) = a.first().cloned()
    {
        a.push(first);
    }
}

/// A point not on the curve: the honest key with `y` changed.
fn off_curve(jwk: &mut Value) {
    if let Some(y) = jwk.get_mut("y") {
        flip_b64(y);
    }
}

/// A CA nobody trusts, and a device under it.
fn foreign_device(seed: u64, self_signed: bool) -> Step<DeviceIdentity> {
    let mut r = ChaCha20Rng::seed_from_u64(seed);
    let fail = |e: airtight_pki::CaError| {
        Stop::fail(format!("harness: cannot mint a foreign device: {e}"))
    };
    let key = SigningKey::generate(KeyKind::P256, &mut r)
        .map_err(|e| Stop::fail(format!("harness key: {e}")))?;
    let ca = Ca::new_root(
        "CN=harness foreign device CA, O=airtight harness",
        key,
        &Serial::from_u64(7).map_err(fail)?,
        Validity::starting_at(now() - 86_400, 10 * 365 * 86_400),
    )
    .map_err(fail)?;
    let d = DeviceIdentity::generate_under(&ca, DeviceKeyKind::P256, &mut r, now() - 3600)
        .map_err(fail)?;
    if self_signed {
        // The device certificate alone, issued by itself: a root of its own.
        let ca_only = Ca::new_root(
            "CN=harness self-signed device, O=airtight harness",
            d.signing_key.clone(),
            &Serial::from_u64(8).map_err(fail)?,
            Validity::starting_at(now() - 86_400, 10 * 365 * 86_400),
        )
        .map_err(fail)?;
        return Ok(DeviceIdentity {
            signing_key: d.signing_key,
            certificate_path: ca_only.certificate_path().to_vec(),
        });
    }
    Ok(d)
}

/// A device of the airtight test CA with a chosen validity window.
fn fixture_device_valid(seed: u64, not_before: i64, not_after: i64) -> Step<DeviceIdentity> {
    let mut r = ChaCha20Rng::seed_from_u64(seed);
    let fail = |e: airtight_pki::CaError| Stop::fail(format!("harness: cannot mint a device: {e}"));
    let ca = airtight_pki::fixtures::device_ca();
    let key = SigningKey::generate(KeyKind::P256, &mut r)
        .map_err(|e| Stop::fail(format!("harness key: {e}")))?;
    let spki = key
        .public_key_spki_der()
        .map_err(|e| Stop::fail(format!("harness key: {e}")))?;
    let cert = ca
        .issue(
            &spki,
            &Profile::device(airtight_pki::device::DEVICE_SUBJECT_TEMPLATE),
            &Serial::random(&mut r),
            not_before,
            not_after,
        )
        .map_err(fail)?;
    let mut certificate_path = vec![cert];
    certificate_path.extend(ca.certificate_path().iter().cloned());
    Ok(DeviceIdentity {
        signing_key: key,
        certificate_path,
    })
}

/// A session with `device` up to the ProvisioningInitializationResponse, which must be refused
/// and end the session.
fn refuse_device(ctx: &mut IssuerCtx<'_>, device: &DeviceIdentity, what: &str) -> Step {
    let mut s = ctx.session_with(device)?;
    let (_, response) = s.run_until(PIR)?;
    ctx.post_refused(&mut s, &response, what)
}

/// Runs to `response` in session A, returns A's value at `pointer`.
fn value_of_other_session(ctx: &mut IssuerCtx<'_>, response: &str, pointer: &str) -> Step<Value> {
    let mut a = ctx.session()?;
    let (_, m) = a.run_until(response)?;
    serde_json::from_slice::<Value>(&m)
        .ok()
        .and_then(|v| v.pointer(pointer).cloned())
        .ok_or_else(|| Stop::NotApplicable(format!("{response} has no {pointer}")))
}

/// Replaces `pointer` of `response` with the value of another session.
fn transplant(
    id: &str,
    tags: &[&'static str],
    description: &str,
    response: &'static str,
    pointer: &'static str,
) -> IssuerCase {
    let what = description.to_owned();
    IssuerCase::must(id, tags, description, move |ctx| {
        let other = value_of_other_session(ctx, response, pointer)?;
        let mut s = ctx.session()?;
        let (_, honest) = s.run_until(response)?;
        let bad = edit(&honest, |m| {
            if let Some(x) = m.pointer_mut(pointer) {
                *x = other.clone();
            }
        });
        if bad == honest {
            return Err(Stop::NotApplicable(format!(
                "{pointer} is the same in both sessions"
            )));
        }
        ctx.refuse_then_ended(&mut s, &bad, &honest, &what)
    })
    .needs_flow(super::request_of(response))
}

fn at(v: &mut Value, pointer: &str, f: impl FnOnce(&mut Value)) {
    if let Some(x) = v.pointer_mut(pointer) {
        f(x);
    }
}

fn init_cases() -> Vec<IssuerCase> {
    let mut v = vec![
        tamper(
            "issuer.init.attestation-flipped".into(),
            &["CRY-ATT-005", "CRY-ATT-010"],
            "a session attestation with one bit changed is refused".into(),
            PIR,
            |m| at(m, "/attestation", flip_b64),
        ),
        tamper(
            "issuer.init.attestation-truncated".into(),
            &["CRY-ATT-005", "CRY-ATT-010"],
            "a session attestation cut short is refused".into(),
            PIR,
            |m| at(m, "/attestation", halve_b64),
        ),
        transplant(
            "issuer.init.attestation-of-other-session",
            &["CRY-ATT-010"],
            "the session attestation of another session is refused",
            PIR,
            "/attestation",
        ),
        transplant(
            "issuer.init.client-ephemeral-key-of-other-session",
            &["CRY-ATT-010"],
            "the clientEphemeralKey of another session (with this session's attestation) is refused",
            PIR,
            "/clientEphemeralKey",
        ),
        replace_key(
            "issuer.init.client-ephemeral-key-substituted",
            &["CRY-ATT-010"],
            "a clientEphemeralKey of the middleware's choosing (valid point) is refused",
            PIR,
            "/clientEphemeralKey",
            substitute,
        ),
        tamper(
            "issuer.init.client-ephemeral-key-off-curve".into(),
            &["KG2-PIR-003", "KG2-ENC-006"],
            "a clientEphemeralKey that is not a point of the curve is refused".into(),
            PIR,
            |m| at(m, "/clientEphemeralKey", off_curve),
        ),
        replace_key(
            "issuer.init.client-ephemeral-key-wrong-curve",
            &["KG2-PIR-003"],
            "a clientEphemeralKey on another curve than serverEphemeralKey is refused",
            PIR,
            "/clientEphemeralKey",
            other_curve,
        ),
        IssuerCase::must(
            "issuer.init.server-ephemeral-key-replaced",
            &["CRY-ATT-010"],
            "a man in the middle who swaps serverEphemeralKey before the card sees it is detected",
            |ctx| {
                let seed = ctx.seed;
                let mut s = ctx.session()?;
                let reached = s.run_until_with(PIR, |q, body| {
                    if q == PIQ {
                        edit(&body, |m| at(m, "/serverEphemeralKey", |k| *k = fresh_key_like(k, seed)))
                    } else {
                        body
                    }
                })?;
                let Reached::At { response, .. } = reached else {
                    return Err(Stop::NotApplicable("no ProvisioningInitializationResponse".into()));
                };
                ctx.post_refused(&mut s, &response, "a session built on a swapped serverEphemeralKey")
            },
        )
        .needs_flow(PIQ),
        tamper(
            "issuer.init.server-time-echo-changed".into(),
            &["KG2-IMP-007"],
            "a serverTime echo naming another instant is refused".into(),
            PIR,
            |m| {
                at(m, "/serverTime", |t| {
                    if let Some(s) = t.as_str() {
                        // Move the seconds digit (same form, another instant).
                        let mut b = s.as_bytes().to_vec();
                        if b.len() >= 2 {
                            let i = b.len() - 2;
                            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                        }
                        *t = Value::String(String::from_utf8_lossy(&b).into_owned());
                    }
                });
            },
        ),
        tamper(
            "issuer.init.server-time-echo-rewritten".into(),
            &["KG2-IMP-007"],
            "the same serverTime instant written differently (+00:00 for Z) is refused".into(),
            PIR,
            |m| {
                at(m, "/serverTime", |t| {
                    if let Some(s) = t.as_str().and_then(|s| s.strip_suffix('Z')) {
                        *t = Value::String(format!("{s}+00:00"));
                    }
                });
            },
        ),
        tamper(
            "issuer.init.client-time-altered".into(),
            &["CRY-ATT-010"],
            "a clientTime changed after the card attested it is refused".into(),
            PIR,
            |m| {
                at(m, "/clientTime", |t| {
                    if let Some(s) = t.as_str() {
                        let mut b = s.as_bytes().to_vec();
                        // ...THH:MM:SS+00:00: change the tens of minutes.
                        if let Some(i) = s.find('T').map(|i| i + 4)
                            && i < b.len()
                        {
                            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                        }
                        *t = Value::String(String::from_utf8_lossy(&b).into_owned());
                    }
                });
            },
        ),
        tamper(
            "issuer.init.device-id-removed".into(),
            &["KG2-IMP-001"],
            "a ProvisioningInitializationResponse without deviceId (privacy not requested) is refused".into(),
            PIR,
            |m| {
                if let Some(o) = m.as_object_mut() {
                    o.shift_remove("deviceId");
                }
            },
        )
        .when(|p| !p.privacy),
        IssuerCase::must(
            "issuer.init.privacy-downgrade",
            &["KG2-IMP-001", "CRY-ATT-011"],
            "a middleware that turns privacy mode on (consistent HMAC attestation, no deviceId) is refused",
            |ctx| {
                let mut s = ctx.session()?;
                let reached = s.run_until_with(PIR, |q, body| {
                    if q == "InvocationRequest" {
                        edit(&body, |m| {
                            if let Some(o) = m.as_object_mut() {
                                o.insert("privacyEnabled".into(), Value::Bool(true));
                            }
                        })
                    } else {
                        body
                    }
                })?;
                let Reached::At { response, .. } = reached else {
                    return Err(Stop::NotApplicable("no ProvisioningInitializationResponse".into()));
                };
                ctx.post_refused(&mut s, &response, "a privacy-mode answer to an E2ES request")
            },
        )
        .needs_flow(PIQ)
        .when(|p| !p.privacy),
        IssuerCase::must(
            "issuer.init.privacy-device-id-added",
            &["KG2-IMP-001", "CRY-ATT-011"],
            "a middleware that turns privacy mode off (consistent E2ES answer: deviceId and device signature) is refused",
            |ctx| {
                // The card session is created in E2ES mode, so the answer is consistent in
                // itself: only the issuer's own expectation of the mode can refuse it.
                let mut s = ctx.session()?;
                let reached = s.run_until_with(PIR, |q, body| {
                    if q == "InvocationRequest" {
                        edit(&body, |m| {
                            if let Some(o) = m.as_object_mut() {
                                o.shift_remove("privacyEnabled");
                            }
                        })
                    } else {
                        body
                    }
                })?;
                let Reached::At { response, .. } = reached else {
                    return Err(Stop::NotApplicable("no ProvisioningInitializationResponse".into()));
                };
                ctx.post_refused(&mut s, &response, "an E2ES answer to a privacy-mode request")
            },
        )
        .needs_flow(PIQ)
        .when(|p| p.privacy),
        IssuerCase::must(
            "issuer.init.foreign-device-chain",
            &["KG2-IMP-002"],
            "a card whose device certificate chains to a CA the issuer does not trust is refused",
            |ctx| {
                let d = foreign_device(ctx.seed, false)?;
                refuse_device(ctx, &d, "a device of a foreign CA")
            },
        )
        .needs_flow(PIQ)
        .when(|p| !p.privacy),
        IssuerCase::must(
            "issuer.init.self-signed-device",
            &["KG2-IMP-002"],
            "a card with a self-signed device certificate is refused",
            |ctx| {
                let d = foreign_device(ctx.seed, true)?;
                refuse_device(ctx, &d, "a self-signed device")
            },
        )
        .needs_flow(PIQ)
        .when(|p| !p.privacy),
        IssuerCase::must(
            "issuer.init.trusted-chain-foreign-key",
            &["CRY-ATT-005", "KG2-IMP-002"],
            "a trusted device chain presented by a card that holds another key is refused",
            |ctx| {
                let d = foreign_device(ctx.seed, false)?;
                let trusted = ctx.target.device.certificate_path.clone();
                let mut s = ctx.session_with(&d)?;
                let (_, honest) = s.run_until(PIR)?;
                let bad = edit(&honest, |m| {
                    at(m, "/deviceId/certificatePath", |p| {
                        *p = Value::Array(trusted.iter().map(|c| Value::String(b64url::encode(c))).collect());
                    });
                });
                ctx.post_refused(&mut s, &bad, "a borrowed device chain")
            },
        )
        .needs_flow(PIQ)
        .when(|p| !p.privacy),
        tamper(
            "issuer.init.chain-without-device-certificate".into(),
            &["KG2-IMP-002", "CRY-ATT-005"],
            "a device chain missing its first (device) certificate is refused".into(),
            PIR,
            |m| {
                at(m, "/deviceId/certificatePath", |p| {
                    if let Some(a) = p.as_array_mut()
                        && a.len() > 1
                    {
                        a.remove(0);
                    }
                });
            },
        )
        .when(|p| !p.privacy),
        tamper(
            "issuer.init.chain-reversed".into(),
            &["KG2-IMP-002"],
            "a device chain in reverse order (CA first) is refused".into(),
            PIR,
            |m| {
                at(m, "/deviceId/certificatePath", |p| {
                    if let Some(a) = p.as_array_mut() {
                        a.reverse();
                    }
                });
            },
        )
        .when(|p| !p.privacy),
        tamper(
            "issuer.init.chain-garbage-certificate".into(),
            &["KG2-IMP-002"],
            "a device certificate that is not DER is refused".into(),
            PIR,
            |m| {
                at(m, "/deviceId/certificatePath/0", |c| {
                    *c = Value::String(b64url::encode(b"not a certificate, just bytes"));
                });
            },
        )
        .when(|p| !p.privacy),
        tamper(
            "issuer.init.chain-certificate-bit-flipped".into(),
            &["KG2-IMP-002"],
            "a device certificate with one bit changed (its CA signature breaks) is refused".into(),
            PIR,
            |m| {
                at(m, "/deviceId/certificatePath/0", |c| {
                    if let Some(mut b) = c.as_str().and_then(|s| b64url::decode(s).ok()) {
                        let i = b.len() / 2;
                        b[i] ^= 0x01;
                        *c = Value::String(b64url::encode(&b));
                    }
                });
            },
        )
        .when(|p| !p.privacy),
        tamper(
            "issuer.init.chain-empty".into(),
            &["KG2-IMP-002"],
            "an empty deviceId.certificatePath is refused".into(),
            PIR,
            |m| at(m, "/deviceId/certificatePath", |p| *p = Value::Array(Vec::new())),
        )
        .when(|p| !p.privacy),
        IssuerCase::must(
            "issuer.init.expired-device-certificate",
            &["KG2-IMP-002", "KG2-IMP-004"],
            "a device certificate of the trusted CA that expired yesterday is refused (strict by default)",
            |ctx| {
                let t = now();
                let d = fixture_device_valid(ctx.seed, t - 400 * 86_400, t - 86_400)?;
                refuse_device(ctx, &d, "an expired device certificate")
            },
        )
        .needs_flow(PIQ)
        .when(|p| p.fixture_device && !p.privacy),
        IssuerCase::must(
            "issuer.init.not-yet-valid-device-certificate",
            &["KG2-IMP-002"],
            "a device certificate of the trusted CA that becomes valid tomorrow is refused",
            |ctx| {
                let t = now();
                let d = fixture_device_valid(ctx.seed, t + 86_400, t + 400 * 86_400)?;
                refuse_device(ctx, &d, "a device certificate not yet valid")
            },
        )
        .needs_flow(PIQ)
        .when(|p| p.fixture_device && !p.privacy),
        IssuerCase::must(
            "issuer.init.fresh-device-of-trusted-ca",
            &["KG2-IMP-002", "CRY-ATT-007"],
            "a fresh device certificate of the trusted CA (another P-256 key) is accepted",
            |ctx| {
                let t = now();
                let d = fixture_device_valid(ctx.seed, t - 3600, t + 400 * 86_400)?;
                let mut s = ctx.session_with(&d)?;
                super::honest_session(ctx, &mut s)
            },
        )
        .when(|p| p.fixture_device && !p.privacy),
        IssuerCase::must(
            "issuer.init.rsa-device-accepted",
            &["CRY-ATT-006", "KG2-IMP-002"],
            "an RSA-2048 device of the trusted CA (PKCS#1 v1.5 attestation) is accepted",
            |ctx| {
                let d = airtight_pki::fixtures::device_rsa2048();
                let mut s = ctx.session_with(&d)?;
                super::honest_session(ctx, &mut s)
            },
        )
        .when(|p| p.fixture_device && !p.privacy),
        tamper(
            "issuer.init.client-session-id-too-long".into(),
            &["KG2-ENC-008"],
            "a clientSessionId of 33 characters is refused".into(),
            PIR,
            |m| {
                if let Some(o) = m.as_object_mut() {
                    o.insert("clientSessionId".into(), Value::String("A".repeat(33)));
                }
            },
        ),
        tamper(
            "issuer.init.client-session-id-bad-character".into(),
            &["KG2-ENC-008"],
            "a clientSessionId with a space is refused".into(),
            PIR,
            |m| {
                if let Some(o) = m.as_object_mut() {
                    o.insert("clientSessionId".into(), Value::String("harness session".into()));
                }
            },
        ),
    ];
    for (name, offset, tags) in [
        ("client-time-ahead", 7_200_i64, &["KG2-IMP-005"][..]),
        ("client-time-behind", -7_200, &["KG2-IMP-005"][..]),
        ("client-time-a-day-off", 86_400, &["KG2-IMP-005"][..]),
    ] {
        let what = format!(
            "a consistent session whose clientTime is {offset} s off the issuer's clock is refused"
        );
        v.push(
            IssuerCase::must(
                format!("issuer.init.{name}"),
                tags,
                what.clone(),
                move |ctx| {
                    let mut s = ctx.session_skewed(offset)?;
                    let (_, response) = s.run_until(PIR)?;
                    ctx.post_refused(&mut s, &response, &what)
                },
            )
            .needs_flow(PIQ),
        );
    }
    v.push(
        IssuerCase::should(
            "issuer.init.client-time-slightly-off",
            &["KG2-IMP-005"],
            "a clientTime two minutes off the issuer's clock is accepted (inside the default window)",
            |ctx| {
                let mut s = ctx.session_skewed(120)?;
                super::honest_session(ctx, &mut s)
            },
        )
        .needs_flow(PIQ),
    );
    v
}

fn capability_cases() -> Vec<IssuerCase> {
    let caps = "/clientCapabilities";
    vec![
        tamper(
            "issuer.invocation.capability-missing".into(),
            &["KG2-IRS-004"],
            "an InvocationResponse that leaves a queried capability unanswered is refused".into(),
            IVR,
            move |m| {
                at(m, caps, |c| {
                    if let Some(a) = c.as_array_mut() {
                        a.pop();
                    }
                });
                if m.pointer(caps)
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty)
                    && let Some(o) = m.as_object_mut()
                {
                    o.shift_remove("clientCapabilities");
                }
            },
        ),
        tamper(
            "issuer.invocation.capability-repeated".into(),
            &["KG2-IRS-004"],
            "an InvocationResponse that answers a capability twice is refused".into(),
            IVR,
            move |m| at(m, caps, repeat_first),
        ),
        tamper(
            "issuer.invocation.capability-unqueried".into(),
            &["KG2-IRS-004"],
            "an InvocationResponse that answers a capability nobody asked about is refused".into(),
            IVR,
            move |m| {
                let extra = serde_json::json!({
                    "type": "https://webpki.github.io/sks/algorithm#ec.nist.p521",
                    "supported": true
                });
                match m.pointer_mut(caps).and_then(Value::as_array_mut) {
                    Some(a) => a.push(extra),
                    None => {
                        if let Some(o) = m.as_object_mut() {
                            o.insert("clientCapabilities".into(), Value::Array(vec![extra]));
                        }
                    }
                }
            },
        ),
        tamper(
            "issuer.invocation.capability-wrong-kind".into(),
            &["KG2-IRS-004"],
            "an InvocationResponse that answers a yes/no capability with values is refused".into(),
            IVR,
            move |m| {
                at(m, caps, |c| {
                    if let Some(first) = c.as_array_mut().and_then(|a| a.first_mut())
                        && let Some(o) = first.as_object_mut()
                        && o.shift_remove("supported").is_some()
                    {
                        o.insert("values".into(), serde_json::json!(["yes"]));
                    }
                });
            },
        ),
    ]
}

fn key_cases() -> Vec<IssuerCase> {
    let keys = "/generatedKeys";
    vec![
        tamper(
            "issuer.key-creation.attestation-flipped".into(),
            &["KG2-KCR-003", "CRY-KAT-004"],
            "a key attestation with one bit changed is refused".into(),
            KCR,
            move |m| at(m, "/generatedKeys/0/attestation", flip_b64),
        ),
        transplant(
            "issuer.key-creation.attestation-of-other-session",
            &["KG2-KCR-003"],
            "the key attestation of another session is refused",
            KCR,
            "/generatedKeys/0/attestation",
        ),
        transplant(
            "issuer.key-creation.public-key-of-other-session",
            &["KG2-KCR-003"],
            "the public key (with its attestation) of another session is refused",
            KCR,
            "/generatedKeys/0",
        ),
        replace_key(
            "issuer.key-creation.public-key-substituted",
            &["KG2-KCR-003", "KG2-ISS-008"],
            "a public key of the middleware's choosing in place of the card's is refused",
            KCR,
            "/generatedKeys/0/publicKey",
            substitute,
        ),
        replace_key(
            "issuer.key-creation.public-key-wrong-curve",
            &["KG2-KCR-003"],
            "a public key on another curve than requested is refused",
            KCR,
            "/generatedKeys/0/publicKey",
            other_curve,
        ),
        replace_key(
            "issuer.key-creation.public-key-wrong-type",
            &["KG2-KCR-003"],
            "a public key of another type (RSA for EC, EC for RSA) is refused",
            KCR,
            "/generatedKeys/0/publicKey",
            other_type,
        ),
        tamper(
            "issuer.key-creation.public-key-off-curve".into(),
            &["KG2-ENC-006", "KG2-KCR-003"],
            "a public key that is not a point of its curve is refused".into(),
            KCR,
            move |m| at(m, "/generatedKeys/0/publicKey", off_curve),
        ),
        tamper(
            "issuer.key-creation.key-id-renamed".into(),
            &["KG2-KCR-003"],
            "a generated key under an id that was not requested is refused".into(),
            KCR,
            move |m| {
                at(m, "/generatedKeys/0/id", |i| {
                    *i = Value::String("Harness.Key".into())
                })
            },
        ),
        tamper(
            "issuer.key-creation.key-dropped".into(),
            &["KG2-KCR-003"],
            "a KeyCreationResponse missing a requested key is refused".into(),
            KCR,
            move |m| {
                at(m, keys, |k| {
                    if let Some(a) = k.as_array_mut()
                        && a.len() > 1
                    {
                        a.pop();
                    }
                });
            },
        ),
        tamper(
            "issuer.key-creation.key-duplicated".into(),
            &["KG2-KCR-003"],
            "a KeyCreationResponse listing a key twice is refused".into(),
            KCR,
            move |m| at(m, keys, repeat_first),
        ),
        tamper(
            "issuer.key-creation.unknown-key-added".into(),
            &["KG2-KCR-003"],
            "a KeyCreationResponse with an extra key nobody requested is refused".into(),
            KCR,
            move |m| {
                at(m, keys, |k| {
                    if let Some(a) = k.as_array_mut()
                        && let Some(mut extra) = a.first().cloned()
                    {
                        if let Some(o) = extra.as_object_mut() {
                            o.insert("id".into(), Value::String("Harness.Extra".into()));
                        }
                        a.push(extra);
                    }
                });
            },
        ),
        tamper(
            "issuer.key-creation.keys-reordered".into(),
            &["KG2-KCR-003"],
            "a KeyCreationResponse listing the keys in another order is refused".into(),
            KCR,
            move |m| {
                at(m, keys, |k| {
                    if let Some(a) = k.as_array_mut() {
                        a.reverse();
                    }
                });
            },
        ),
    ]
}

fn close_cases() -> Vec<IssuerCase> {
    vec![
        tamper(
            "issuer.finalization.close-attestation-flipped".into(),
            &["KG2-ISS-003", "CRY-CLS-004"],
            "a close attestation with one bit changed is refused: nothing is provisioned".into(),
            PFR,
            |m| at(m, "/attestation", flip_b64),
        ),
        tamper(
            "issuer.finalization.close-attestation-truncated".into(),
            &["KG2-ISS-003", "CRY-CLS-004"],
            "a close attestation cut short is refused".into(),
            PFR,
            |m| at(m, "/attestation", halve_b64),
        ),
        transplant(
            "issuer.finalization.close-attestation-of-other-session",
            &["KG2-ISS-003", "CRY-CLS-004"],
            "the close attestation of another session is refused",
            PFR,
            "/attestation",
        ),
        IssuerCase::must(
            "issuer.finalization.close-attestation-without-closing",
            &["KG2-ISS-003", "CRY-CLS-004"],
            "a close attestation made up by a middleware that never closed the card session is refused",
            |ctx| {
                let mut s = ctx.session()?;
                let (request, honest) = s.run_until(PFR)?;
                // An HMAC-sized value of the middleware's own: the card was never asked.
                let made_up = edit(&honest, |m| {
                    at(m, "/attestation", |a| {
                        let mut v = [0u8; 32];
                        v[..request.len().min(32)].copy_from_slice(&request[..request.len().min(32)]);
                        *a = Value::String(b64url::encode(&v));
                    });
                });
                ctx.refuse_then_ended(&mut s, &made_up, &honest, "a made-up close attestation")
            },
        )
        .needs_flow("ProvisioningFinalizationRequest"),
    ]
}

/// Every attestation and key case.
pub fn cases() -> Vec<IssuerCase> {
    let mut v = init_cases();
    v.extend(capability_cases());
    v.extend(key_cases());
    v.extend(close_cases());
    v
}
