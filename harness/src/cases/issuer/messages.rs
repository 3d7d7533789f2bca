//! The same hostile moves applied to every middleware message: session ids, the envelope,
//! encoding, content type, duplicates, replays across sessions, order and size.

use serde_json::Value;

use super::{RESPONSES, request_of, tamper, tamper_bytes};
use crate::case::{Outcome, Step, Stop};
use crate::issuer::http::{self, Pace};
use crate::issuer::{IssuerCase, IssuerCtx, Session, qualifier};

/// A well-formed session id that is nobody's.
const FOREIGN_ID: &str = "harnessForeignId0123456789abcdef";

/// Posts `body` with `content_type` (`None`: no Content-Type header).
fn post_typed(
    s: &mut Session,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Option<http::Response>, http::HttpError> {
    let mut headers: Vec<(String, String)> = s
        .headers(false)
        .into_iter()
        .filter(|(n, _)| n != "Content-Type")
        .collect();
    if let Some(ct) = content_type {
        headers.push(("Content-Type".into(), ct.into()));
    }
    let url = s.target().post_url.clone();
    let req = http::build("POST", &url, &headers, Some(body));
    let what = format!(
        "TAMPERED {} as {} ({} B)",
        qualifier(body),
        content_type.unwrap_or("(no Content-Type)"),
        body.len()
    );
    s.send_raw("POST", what, &req, Pace::Normal)
}

/// The content-type case: `Ok(Some(quirk))` when the issuer accepts the message.
fn content_type_case(
    ctx: &mut IssuerCtx<'_>,
    response: &str,
    ct: Option<&str>,
    what: &str,
) -> Step<Option<String>> {
    let mut s = ctx.session()?;
    let (_, honest) = s.run_until(response)?;
    let r = post_typed(&mut s, &honest, ct);
    if let Ok(Some(answer)) = &r
        && ctx.refusal_of(answer).is_err()
    {
        return Ok(Some(format!(
            "{what} is accepted ({}): no rule forbids it, but a web page can send such a POST with the user's cookies without a CORS preflight",
            answer.summary()
        )));
    }
    ctx.expect_refused_or_closed(&mut s, r, what)?;
    ctx.expect_ended(&mut s, &honest)?;
    Ok(None)
}

/// Runs a whole honest session and returns every middleware message it sent.
fn full_transcript(ctx: &mut IssuerCtx<'_>) -> Step<Vec<Vec<u8>>> {
    let mut a = ctx.session()?;
    let r = a.run_honest()?;
    super::check_success(ctx, &r)?;
    Ok(a.sent.clone())
}

fn set_string(v: &mut Value, key: &str, value: &str) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.into(), Value::String(value.into()));
    }
}

/// The cases of one middleware message.
fn for_message(short: &'static str, response: &'static str) -> Vec<IssuerCase> {
    let request = request_of(response);
    let id = |name: &str| format!("issuer.{short}.{name}");
    let mut v = vec![
        tamper(
            id("wrong-server-session-id"),
            &["KG2-FLW-002"],
            format!("{response} naming another serverSessionId is refused"),
            response,
            |m| set_string(m, "serverSessionId", FOREIGN_ID),
        ),
        tamper(
            id("missing-server-session-id"),
            &["KG2-FLW-002"],
            format!("{response} without serverSessionId is refused"),
            response,
            |m| {
                if let Some(o) = m.as_object_mut() {
                    o.shift_remove("serverSessionId");
                }
            },
        ),
        tamper(
            id("wrong-context"),
            &["KG2-ENC-002"],
            format!("{response} with another @context is refused"),
            response,
            |m| set_string(m, "@context", "https://webpki.github.io/keygen2#20190317"),
        ),
        tamper(
            id("wrong-qualifier"),
            &["KG2-ENC-002", "KG2-FLW-001"],
            format!("{response} relabelled as another message is refused"),
            response,
            move |m| {
                let other = if response == "InvocationResponse" {
                    "ProvisioningInitializationResponse"
                } else {
                    "InvocationResponse"
                };
                set_string(m, "@qualifier", other);
            },
        ),
        tamper(
            id("unknown-property"),
            &["KG2-ENC-004"],
            format!("{response} with an unknown property is refused"),
            response,
            |m| {
                if let Some(o) = m.as_object_mut() {
                    o.insert("harnessExtra".into(), Value::from(1));
                }
            },
        ),
        tamper(
            id("null-member"),
            &["KG2-ENC-014"],
            format!("{response} with serverSessionId null is refused"),
            response,
            |m| {
                if let Some(o) = m.as_object_mut() {
                    o.insert("serverSessionId".into(), Value::Null);
                }
            },
        ),
        tamper_bytes(
            id("duplicate-property"),
            &["KG2-ENC-005"],
            format!("{response} with a property written twice is refused"),
            response,
            |b| {
                // The first property again, with the same value, at the end.
                let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(b) else {
                    return b.to_vec();
                };
                let Some((k, val)) = o.iter().next() else {
                    return b.to_vec();
                };
                let mut out = b.to_vec();
                if out.last() == Some(&b'}') {
                    out.pop();
                    let extra = format!(",{}:{}}}", Value::String(k.clone()), val);
                    out.extend_from_slice(extra.as_bytes());
                }
                out
            },
        ),
        tamper_bytes(
            id("truncated-json"),
            &["KG2-ENC-001"],
            format!("{response} cut in half is refused"),
            response,
            |b| b[..b.len() / 2].to_vec(),
        ),
        tamper_bytes(
            id("not-json"),
            &["KG2-ENC-001"],
            format!("a body that is not JSON in place of {response} is refused"),
            response,
            |_| b"serverSessionId=harness&qualifier=x".to_vec(),
        ),
        tamper_bytes(
            id("empty-body"),
            &["KG2-ENC-001"],
            format!("an empty body in place of {response} is refused"),
            response,
            |_| Vec::new(),
        ),
        tamper_bytes(
            id("json-array"),
            &["KG2-ENC-001"],
            format!("{response} wrapped in a JSON array is refused"),
            response,
            |b| {
                let mut out = b"[".to_vec();
                out.extend_from_slice(b);
                out.push(b']');
                out
            },
        ),
        tamper_bytes(
            id("invalid-utf8"),
            &["KG2-ENC-001"],
            format!("{response} with an invalid UTF-8 byte in a string is refused"),
            response,
            |b| {
                // Replace the first character of the serverSessionId value with 0xFF.
                let key = b"\"serverSessionId\":\"";
                let mut out = b.to_vec();
                if let Some(i) = out.windows(key.len()).position(|w| w == key) {
                    out[i + key.len()] = 0xff;
                }
                out
            },
        ),
    ];
    if response != "InvocationResponse" {
        v.push(tamper(
            id("wrong-client-session-id"),
            if response == "ProvisioningInitializationResponse" {
                &["CRY-ATT-010"]
            } else {
                &["KG2-FLW-002"]
            },
            format!("{response} naming another clientSessionId is refused"),
            response,
            |m| set_string(m, "clientSessionId", FOREIGN_ID),
        ));
    }
    // Content type. No rule makes the issuer refuse another content type ([KG2-HTP-002] binds
    // the proxy): acceptance is a recorded quirk; a refusal must end the session.
    for (name, ct) in [
        ("text-plain", Some("text/plain")),
        ("form-urlencoded", Some("application/x-www-form-urlencoded")),
        ("no-content-type", None),
    ] {
        let what = format!(
            "{response} posted as {}",
            ct.unwrap_or("a body without Content-Type")
        );
        v.push(
            IssuerCase::must(
                id(&format!("content-type.{name}")),
                &["KG2-ISS-006"],
                format!(
                    "{what} is refused and ends the session, or accepted (recorded as a quirk)"
                ),
                |_| Ok(()),
            )
            .with_outcome(
                move |ctx| match content_type_case(ctx, response, ct, &what) {
                    Ok(None) => Outcome::Pass,
                    Ok(Some(q)) => Outcome::Quirk(q),
                    Err(e) => Err::<(), Stop>(e).into(),
                },
            )
            .needs_flow(request),
        );
    }
    // The same message twice.
    v.push(
        IssuerCase::must(
            id("duplicate-post"),
            &["KG2-ISS-006", "KG2-FLW-001"],
            format!("{response} posted a second time is refused and ends the session"),
            move |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(response)?;
                let first = s.post(&honest)?;
                let last = s.mw.is_done();
                let next = if last {
                    super::check_success(ctx, &first)?;
                    None
                } else {
                    Some(s.expect_message(first, response)?)
                };
                ctx.post_refused(&mut s, &honest, &format!("{response} posted twice"))?;
                if let Some(next) = next {
                    let answer = s.answer(&next)?;
                    ctx.expect_ended(&mut s, &answer)?;
                }
                Ok(())
            },
        )
        .needs_flow(request),
    );
    // Replays across sessions.
    v.push(
        IssuerCase::must(
            id("replayed-from-other-session"),
            &["KG2-ISS-006", "KG2-FLW-002"],
            format!("{response} of another session, replayed into this one, is refused"),
            move |ctx| {
                let mut a = ctx.session()?;
                let (_, from_a) = a.run_until(response)?;
                let mut b = ctx.session()?;
                let (_, honest) = b.run_until(response)?;
                ctx.refuse_then_ended(
                    &mut b,
                    &from_a,
                    &honest,
                    &format!("{response} of another session"),
                )
            },
        )
        .needs_flow(request),
    );
    if response != "InvocationResponse" {
        v.push(
            IssuerCase::must(
                id("replayed-with-rewritten-ids"),
                &["KG2-ISS-006", "CRY-ATT-010"],
                format!(
                    "{response} of another session with this session's ids written in is refused"
                ),
                move |ctx| {
                    let mut a = ctx.session()?;
                    let (_, from_a) = a.run_until(response)?;
                    let mut b = ctx.session()?;
                    let (_, honest) = b.run_until(response)?;
                    let hv: Value = serde_json::from_slice(&honest).unwrap_or(Value::Null);
                    let forged = crate::issuer::edit(&from_a, |m| {
                        for k in ["serverSessionId", "clientSessionId"] {
                            if let (Some(o), Some(x)) = (m.as_object_mut(), hv.get(k)) {
                                o.insert(k.into(), x.clone());
                            }
                        }
                    });
                    if forged == honest {
                        return Err(Stop::NotApplicable(format!(
                            "the two sessions' {response} are identical once the ids are aligned"
                        )));
                    }
                    ctx.refuse_then_ended(
                        &mut b,
                        &forged,
                        &honest,
                        &format!("{response} of another session, ids rewritten"),
                    )
                },
            )
            .needs_flow(request),
        );
    }
    // Order: an earlier message again, a later message early.
    if response != "InvocationResponse" {
        v.push(
            IssuerCase::must(
                id("earlier-message-instead"),
                &["KG2-FLW-001"],
                format!("the InvocationResponse posted again where {response} is due is refused"),
                move |ctx| {
                    let mut s = ctx.session()?;
                    let (_, honest) = s.run_until(response)?;
                    let first = s
                        .sent
                        .first()
                        .cloned()
                        .ok_or_else(|| Stop::fail("no InvocationResponse was sent"))?;
                    ctx.refuse_then_ended(&mut s, &first, &honest, "an earlier message again")
                },
            )
            .needs_flow(request),
        );
    }
    if response != "ProvisioningFinalizationResponse" {
        v.push(
            IssuerCase::must(
                id("later-message-instead"),
                &["KG2-FLW-001"],
                format!("a later message (of another session, with this session's ids) where {response} is due is refused"),
                move |ctx| {
                    let others = full_transcript(ctx)?;
                    let pos = others.iter().position(|m| qualifier(m) == response);
                    let Some(later) = pos.and_then(|p| others.get(p + 1)).cloned() else {
                        return Err(Stop::NotApplicable(format!("no message follows {response}")));
                    };
                    let mut s = ctx.session()?;
                    let (_, honest) = s.run_until(response)?;
                    let hv: Value = serde_json::from_slice(&honest).unwrap_or(Value::Null);
                    let forged = crate::issuer::edit(&later, |m| {
                        for k in ["serverSessionId", "clientSessionId"] {
                            if let (Some(o), Some(x)) = (m.as_object_mut(), hv.get(k)) {
                                o.insert(k.into(), x.clone());
                            }
                        }
                    });
                    ctx.refuse_then_ended(&mut s, &forged, &honest, "a later message early")
                },
            )
            .needs_flow(request),
        );
    }
    // Size.
    v.push(
        IssuerCase::must(
            id("oversized"),
            &["KG2-IMP-009"],
            format!("{response} padded beyond the issuer's body limit is refused"),
            move |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(response)?;
                let mut big = honest.clone();
                big.pop();
                big.resize(ctx.target.max_body + 16, b' ');
                big.push(b'}');
                let url = s.target().post_url.clone();
                let req = http::build("POST", &url, &s.headers(true), Some(&big));
                let r = s.send_raw(
                    "POST",
                    format!("{response} padded to {} B", big.len()),
                    &req,
                    Pace::Normal,
                );
                ctx.expect_refused_or_closed(&mut s, r, "an oversized body")?;
                ctx.expect_ended(&mut s, &honest)
            },
        )
        .needs_flow(request),
    );
    v
}

/// Every message case.
pub fn cases() -> Vec<IssuerCase> {
    RESPONSES
        .iter()
        .flat_map(|(short, response, _)| for_message(short, response))
        .collect()
}
