//! Issuer cases: the harness plays the middleware and a reference card against the issuer
//! under test. Every hostile case checks that the issuer refused (any answer that ends the
//! session without proceeding: a redirect that is not to the result page, a 4xx, a 5xx or a
//! closed connection) and that the session then accepts nothing more, so nothing can be issued
//! in it. The shape of error answers, a 302 or 303 to an error page ([KG2-HTP-008]), is graded
//! once, by `issuer.transport.error-redirect`.
//!
//! - [`messages`]: the same hostile moves applied to every middleware message (ids, envelope,
//!   encoding, content type, duplicates, replays, order, size).
//! - [`attest`]: attestations, keys, device chains, privacy mode, echoes and times.
//! - [`browser`]: the issuer's web flow (landing page, cancel, result page), apart from the
//!   catalog: `airtight harness issuer --browser`.
//! - [`transport`]: HTTP-level moves (slow clients, truncated and oversized bodies, unknown
//!   sessions, cancel, lifetime).

pub mod attest;
pub mod browser;
pub mod messages;
pub mod transport;

use serde_json::Value;

use crate::case::{Step, Stop};
use crate::issuer::{IssuerCase, IssuerCtx, SANITY_FIRST, SANITY_LAST, Session, edit};

/// The middleware messages and the issuer requests they answer, in flow order.
pub const RESPONSES: &[(&str, &str, &str)] = &[
    ("invocation", "InvocationResponse", "InvocationRequest"),
    (
        "init",
        "ProvisioningInitializationResponse",
        "ProvisioningInitializationRequest",
    ),
    (
        "discovery",
        "CredentialDiscoveryResponse",
        "CredentialDiscoveryRequest",
    ),
    ("key-creation", "KeyCreationResponse", "KeyCreationRequest"),
    (
        "finalization",
        "ProvisioningFinalizationResponse",
        "ProvisioningFinalizationRequest",
    ),
];

/// The issuer request a middleware message answers.
pub fn request_of(response: &str) -> &'static str {
    RESPONSES
        .iter()
        .find(|(_, r, _)| *r == response)
        .map_or("?", |(_, _, q)| q)
}

/// A case that runs an honest session up to `response`, posts `f(honest)` instead, and expects
/// a refusal and an ended session.
pub fn tamper(
    id: String,
    tags: &[&'static str],
    description: String,
    response: &'static str,
    f: impl Fn(&mut Value) + Send + Sync + 'static,
) -> IssuerCase {
    tamper_bytes(id, tags, description, response, move |b| edit(b, &f))
}

/// [`tamper`] on the raw bytes.
pub fn tamper_bytes(
    id: String,
    tags: &[&'static str],
    description: String,
    response: &'static str,
    f: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> IssuerCase {
    let what = description.clone();
    IssuerCase::must(id, tags, description, move |ctx| {
        let mut s = ctx.session()?;
        let (_, honest) = s.run_until(response)?;
        let bad = f(&honest);
        if bad == honest {
            return Err(Stop::NotApplicable(format!(
                "the honest {response} has nothing this case can change"
            )));
        }
        ctx.refuse_then_ended(&mut s, &bad, &honest, &what)
    })
    .needs_flow(request_of(response))
}

/// Flips the last byte of a Base64URL string (the value stays well-formed Base64URL).
pub fn flip_b64(v: &mut Value) {
    if let Some(s) = v.as_str() {
        let mut b: Vec<u8> = s.bytes().collect();
        if let Some(last) = b.last_mut() {
            // Stay inside the alphabet and keep the unused low bits of the last character
            // (canonical form): change a high bit of the last 6-bit group.
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            if let Some(i) = alphabet.iter().position(|c| c == last) {
                *last = alphabet[i ^ 0x20];
            }
        }
        *v = Value::String(String::from_utf8_lossy(&b).into_owned());
    }
}

/// Runs an honest session to the end and checks it succeeded (not redirected to an error).
pub fn honest_session(ctx: &mut IssuerCtx<'_>, s: &mut Session) -> Step {
    let r = s.run_honest()?;
    check_success(ctx, &r)
}

/// Checks the final answer of a session is a success: a redirect (not to the error pages) or
/// an empty 2xx ([KG2-HTP-006], [KG2-HTP-007]).
pub fn check_success(ctx: &IssuerCtx<'_>, r: &crate::issuer::http::Response) -> Step {
    match r.status {
        300..=399 => {
            let loc = r.header("location").unwrap_or("");
            let prefix = crate::issuer::location_prefix(loc);
            if ctx.profile.error_prefix.as_deref() == Some(prefix.as_str())
                && ctx.profile.success_prefix.as_deref() != Some(prefix.as_str())
            {
                Err(Stop::fail(format!(
                    "an honest session was refused: {}",
                    r.summary()
                )))
            } else {
                Ok(())
            }
        }
        200..=299 if r.body.is_empty() => Ok(()),
        _ => Err(Stop::fail(format!(
            "an honest session ended with {} instead of a redirect to the result page",
            r.summary()
        ))),
    }
}

fn sanity(id: &'static str, description: &'static str) -> IssuerCase {
    IssuerCase::must(id, &["KG2-FLW-001", "KG2-HTP-003"], description, |ctx| {
        let mut s = ctx.session()?;
        honest_session(ctx, &mut s)?;
        if !ctx.profile.has("ProvisioningInitializationRequest") {
            return Err(Stop::fail(
                "the honest session has no ProvisioningInitializationRequest".to_string(),
            ));
        }
        Ok(())
    })
}

/// The whole issuer catalog: the sanity case first and last.
pub fn all() -> Vec<IssuerCase> {
    let mut v = vec![sanity(
        SANITY_FIRST,
        "an honest session (reference middleware and card) completes with a redirect to the result page",
    )];
    v.extend(messages::cases());
    v.extend(attest::cases());
    v.extend(transport::cases());
    v.push(sanity(
        SANITY_LAST,
        "after every hostile case, an honest session still completes",
    ));
    v
}
