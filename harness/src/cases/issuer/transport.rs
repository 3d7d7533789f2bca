//! HTTP-level moves: slow clients, truncated and oversized bodies, unknown and crossed
//! sessions, concurrent duplicates, cancel, reused invocations and the session lifetime.

use std::time::Duration;

use super::check_success;
use crate::case::Stop;
use crate::issuer::http::{self, Pace, RawRequest};
use crate::issuer::{IssuerCase, IssuerCtx, Session, qualifier};

const IVR: &str = "InvocationResponse";

/// An endless header stream: a request line and headers that never end.
fn never_ending_headers(s: &Session) -> RawRequest {
    let url = s.target().post_url.clone();
    let mut bytes = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-Harness-Slow: ",
        url.target, url.authority
    )
    .into_bytes();
    bytes.extend(std::iter::repeat_n(b'a', 1 << 16));
    RawRequest { url, bytes }
}

/// A POST whose headers promise `declared` bytes of which `body` is sent.
fn lying_post(s: &Session, body: &[u8], declared: usize) -> RawRequest {
    let url = s.target().post_url.clone();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\n",
        url.target, url.authority
    );
    for (n, v) in s.headers(true) {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    RawRequest { url, bytes }
}

fn dribble(ctx: &IssuerCtx<'_>) -> Pace {
    Pace::Dribble {
        interval: Duration::from_millis(50),
        budget: ctx.target.slow_budget,
    }
}

fn slow_cases() -> Vec<IssuerCase> {
    vec![
        IssuerCase::must(
            "issuer.transport.slow-headers",
            &["KG2-IMP-011"],
            "a client that never finishes its request headers is cut off (the wait is bounded)",
            |ctx| {
                let mut s = ctx.session()?;
                let req = never_ending_headers(&s);
                let pace = dribble(ctx);
                let r = s.send_raw("POST", "headers dribbled byte by byte, never finished".into(), &req, pace);
                ctx.expect_refused_or_closed(&mut s, r, "endless headers")
            },
        ),
        IssuerCase::must(
            "issuer.transport.slow-body",
            &["KG2-IMP-011"],
            "a client that dribbles its body and never finishes it is cut off or refused",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(IVR)?;
                let req = lying_post(&s, &honest, honest.len() + (1 << 16));
                let pace = dribble(ctx);
                let r = s.send_raw("POST", format!("{IVR} dribbled, 64 KiB promised but never sent"), &req, pace);
                ctx.expect_refused_or_closed(&mut s, r, "an endless body")
            },
        )
        .needs_flow("InvocationRequest"),
        IssuerCase::must(
            "issuer.transport.slow-clients-do-not-starve",
            &["KG2-IMP-011", "KG2-HTP-003"],
            "while four clients dribble endless headers, an honest session still completes",
            |ctx| {
                let target = ctx.target.clone();
                let budget = ctx.target.slow_budget;
                let mut holders = Vec::new();
                for i in 0..4u64 {
                    let t = target.clone();
                    let log = ctx.log.clone();
                    let seed = ctx.seed ^ (i + 100);
                    holders.push(std::thread::spawn(move || {
                        if let Ok(mut s) = Session::new(&t, &log, seed, None) {
                            let req = never_ending_headers(&s);
                            let _ = s.send_raw(
                                "POST",
                                "a slow client holding a connection".into(),
                                &req,
                                Pace::Dribble {
                                    interval: Duration::from_millis(100),
                                    budget,
                                },
                            );
                        }
                    }));
                }
                std::thread::sleep(Duration::from_millis(200));
                let mut s = ctx.session()?;
                let r = s.run_honest();
                for h in holders {
                    let _ = h.join();
                }
                check_success(ctx, &r?)
            },
        ),
        IssuerCase::must(
            "issuer.transport.truncated-body",
            &["KG2-IMP-011"],
            "a body shorter than its Content-Length, then silence, is cut off or refused, never accepted",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(IVR)?;
                let half = &honest[..honest.len() / 2];
                let req = lying_post(&s, half, honest.len());
                let r = s.send_raw(
                    "POST",
                    format!("{IVR}: half of the declared body, then the client's half-close"),
                    &req,
                    Pace::ThenClose,
                );
                ctx.expect_refused_or_closed(&mut s, r, "a truncated body")
            },
        )
        .needs_flow("InvocationRequest"),
        IssuerCase::must(
            "issuer.transport.huge-content-length",
            &["KG2-IMP-009"],
            "a POST declaring a 4 GiB body is refused before the body arrives",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(IVR)?;
                let req = lying_post(&s, b"", 1 << 32);
                let r = s.send_raw("POST", "Content-Length: 4294967296, no body".into(), &req, Pace::Normal);
                ctx.expect_refused_or_closed(&mut s, r, "a 4 GiB Content-Length")?;
                ctx.expect_ended(&mut s, &honest)
            },
        )
        .needs_flow("InvocationRequest"),
        IssuerCase::must(
            "issuer.transport.chunked-oversized",
            &["KG2-IMP-009"],
            "a chunked body that grows beyond the body limit is refused",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(IVR)?;
                let url = s.target().post_url.clone();
                let mut head = format!("POST {} HTTP/1.1\r\nHost: {}\r\n", url.target, url.authority);
                for (n, v) in s.headers(true) {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
                let mut bytes = head.into_bytes();
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent <= ctx.target.max_body + chunk.len() {
                    bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    bytes.extend_from_slice(&chunk);
                    bytes.extend_from_slice(b"\r\n");
                    sent += chunk.len();
                }
                bytes.extend_from_slice(b"0\r\n\r\n");
                let req = RawRequest { url, bytes };
                let r = s.send_raw("POST", format!("chunked body of {sent} B"), &req, Pace::Normal);
                ctx.expect_refused_or_closed(&mut s, r, "an oversized chunked body")?;
                ctx.expect_ended(&mut s, &honest)
            },
        )
        .needs_flow("InvocationRequest"),
    ]
}

/// The `serverSessionId` of a JSON message.
fn server_session_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("serverSessionId")?
        .as_str()
        .map(str::to_owned)
}

/// Checks one provoked error answer against the redirect convention; adds what was wrong to
/// `problems`.
fn grade_error_answer(
    ctx: &mut IssuerCtx<'_>,
    s: &mut Session,
    r: Result<Option<http::Response>, http::HttpError>,
    what: &str,
    problems: &mut Vec<String>,
) {
    let seen = match r {
        Ok(Some(resp)) => match ctx.check_error_redirect(s, &resp) {
            Ok(()) => {
                ctx.note(format!("{what}: {}", resp.summary()));
                return;
            }
            Err(m) => m,
        },
        Ok(None) => "the connection closed without an answer".into(),
        Err(e) => e.to_string(),
    };
    problems.push(format!("{what}: {seen}"));
}

/// The convention for error answers and the end of a session: graded here once, apart from
/// whether an attack was refused (every hostile case accepts any refusal).
fn redirect_cases() -> Vec<IssuerCase> {
    vec![
        IssuerCase::must(
            "issuer.transport.error-redirect",
            &["KG2-HTP-008"],
            "errors at several stages are reported with a 302 or 303 redirect to an error page that answers 2xx",
            |ctx| {
                let mut problems = Vec::new();
                let mut s = ctx.session()?;
                s.run_until(IVR)?;
                let r = s.post_tampered(b"not a KeyGen2 message");
                grade_error_answer(
                    ctx,
                    &mut s,
                    r,
                    "a body that is not JSON in place of the InvocationResponse",
                    &mut problems,
                );
                if ctx.profile.has("ProvisioningInitializationRequest") {
                    let mut s = ctx.session()?;
                    let (_, honest) = s.run_until("ProvisioningInitializationResponse")?;
                    let bad = crate::issuer::edit(&honest, |m| {
                        if let Some(a) = m.get_mut("attestation") {
                            super::flip_b64(a);
                        }
                    });
                    let r = s.post_tampered(&bad);
                    grade_error_answer(
                        ctx,
                        &mut s,
                        r,
                        "a session attestation with one bit changed",
                        &mut problems,
                    );
                }
                let mut s = ctx.session()?;
                s.set_cookies(Vec::new());
                let r = s.post_tampered(b"{}");
                grade_error_answer(ctx, &mut s, r, "a POST outside any session", &mut problems);
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(Stop::fail(problems.join("; ")))
                }
            },
        ),
        IssuerCase::should(
            "issuer.transport.result-redirect",
            &["KG2-HTP-006"],
            "an honest session ends with a 302 or 303 redirect to the result page",
            |ctx| {
                let mut s = ctx.session()?;
                let r = s.run_honest()?;
                check_success(ctx, &r)?;
                if r.status != 302 && r.status != 303 {
                    return Err(Stop::fail(format!(
                        "the session ended with {}, not a 302 or 303 redirect to a result page (the proxy accepts it, [KG2-HTP-007])",
                        r.summary()
                    )));
                }
                Ok(())
            },
        ),
    ]
}

fn session_cases() -> Vec<IssuerCase> {
    vec![
        IssuerCase::must(
            "issuer.transport.unknown-session",
            &["KG2-FLW-002"],
            "a well-formed InvocationResponse for a session that was never started is refused",
            |ctx| {
                let mut a = ctx.session()?;
                let (_, honest) = a.run_until(IVR)?;
                let mut b = ctx.session()?;
                b.set_cookies(
                    b.cookies()
                        .into_iter()
                        .map(|(n, _)| (n, "harnessNeverStartedSession00000".to_owned()))
                        .collect(),
                );
                let forged = crate::issuer::edit(&honest, |m| {
                    if let Some(o) = m.as_object_mut() {
                        o.insert("serverSessionId".into(), "harnessNeverStartedSession00000".into());
                    }
                });
                ctx.post_refused(&mut b, &forged, "a message of an unknown session")
            },
        ),
        IssuerCase::must(
            "issuer.transport.crossed-cookies",
            &["KG2-FLW-002"],
            "session B's message sent with session A's cookie is refused, and A accepts nothing more",
            |ctx| {
                let mut a = ctx.session()?;
                let (_, honest_a) = a.run_until(IVR)?;
                if a.cookies().is_empty() {
                    return Err(Stop::NotApplicable("the issuer uses no cookies".into()));
                }
                let mut b = ctx.session()?;
                let (_, honest_b) = b.run_until(IVR)?;
                let saved = b.cookies();
                b.set_cookies(a.cookies());
                let r = b.post_tampered(&honest_b);
                b.set_cookies(saved);
                ctx.expect_refused_or_closed(&mut b, r, "B's message under A's cookie")?;
                ctx.expect_ended(&mut a, &honest_a)
            },
        ),
        IssuerCase::must(
            "issuer.transport.concurrent-duplicates",
            &["KG2-ISS-006", "KG2-FLW-001"],
            "the same message posted on four connections at once is accepted at most once",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(IVR)?;
                let url = s.target().post_url.clone();
                let req = http::build("POST", &url, &s.headers(true), Some(&honest));
                let timeout = s.target().timeout;
                let tls = s.target().tls.clone();
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        let req = req.clone();
                        let tls = tls.clone();
                        std::thread::spawn(move || {
                            http::exchange(&req, Pace::Normal, timeout, tls.as_ref())
                        })
                    })
                    .collect();
                let mut accepted = 0;
                let mut answers = Vec::new();
                for h in handles {
                    match h.join() {
                        Ok(Ok(Some(r))) => {
                            if r.status == 200 && !r.body.is_empty() {
                                accepted += 1;
                            }
                            answers.push(r.summary());
                        }
                        Ok(Ok(None)) => answers.push("closed".into()),
                        Ok(Err(e)) => answers.push(e.to_string()),
                        Err(_) => answers.push("thread panicked".into()),
                    }
                }
                ctx.note(format!("answers: {}", answers.join(" | ")));
                if accepted > 1 {
                    return Err(Stop::fail(format!(
                        "{accepted} of 4 concurrent copies of one {IVR} were accepted"
                    )));
                }
                Ok(())
            },
        )
        .needs_flow("InvocationRequest"),
        IssuerCase::must(
            "issuer.transport.init-reused",
            &["KG2-ISS-006"],
            "a second GET of the init URL in a started session is refused or starts a new session under a new serverSessionId, never the same one again",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, _) = s.run_until(IVR)?;
                let first = s
                    .received
                    .first()
                    .and_then(|b| server_session_id(b))
                    .ok_or_else(|| Stop::fail("the InvocationRequest has no serverSessionId"))?;
                let url = s.target().init_url.clone();
                let req = http::build("GET", &url, &s.headers(false), None);
                let r = s.send_raw(
                    "GET",
                    format!("TAMPERED {} (fetched a second time)", url.target),
                    &req,
                    Pace::Normal,
                );
                match &r {
                    Ok(Some(a)) if (200..300).contains(&a.status) => {
                        let second = server_session_id(&a.body).ok_or_else(|| {
                            Stop::fail(format!(
                                "init fetched twice: answered {}, neither a refusal nor an InvocationRequest",
                                a.summary()
                            ))
                        })?;
                        if second == first {
                            return Err(Stop::fail(format!(
                                "init fetched twice: the serverSessionId {first} was given out again"
                            )));
                        }
                        ctx.note(format!(
                            "init fetched twice: a new session started ({second}, the first was {first})"
                        ));
                        Ok(())
                    }
                    _ => ctx.expect_refused_or_closed(&mut s, r, "init fetched twice"),
                }
            },
        )
        .when(|p| p.cookie),
        IssuerCase::must(
            "issuer.transport.cancel-ends-session",
            &["KG2-ISS-006"],
            "after a GET of the cancel URL the session accepts nothing more",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until(IVR)?;
                let cancel = s
                    .target()
                    .cancel_url
                    .clone()
                    .ok_or_else(|| Stop::NotApplicable("no cancel URL".into()))?;
                let r = s.get(&cancel)?;
                if r.status == 200 && r.is_json() {
                    return Err(Stop::fail("the cancel URL answered a KeyGen2 message"));
                }
                ctx.expect_ended(&mut s, &honest)
            },
        )
        .when(|p| p.cancel),
        IssuerCase::must(
            "issuer.transport.cancel-mid-session",
            &["KG2-ISS-006"],
            "a cancel after the session keys exist ends the session before any key is issued",
            |ctx| {
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until("KeyCreationResponse")?;
                let cancel = s
                    .target()
                    .cancel_url
                    .clone()
                    .ok_or_else(|| Stop::NotApplicable("no cancel URL".into()))?;
                s.get(&cancel)?;
                ctx.expect_ended(&mut s, &honest)
            },
        )
        .when(|p| p.cancel)
        .needs_flow("KeyCreationRequest"),
        IssuerCase::must(
            "issuer.transport.server-session-ids-unique",
            &["KG2-ISS-006"],
            "twenty started sessions get twenty different serverSessionIds",
            |ctx| {
                let mut seen = std::collections::BTreeSet::new();
                for _ in 0..20 {
                    let mut s = ctx.session()?;
                    let first = s.start()?;
                    let id = serde_json::from_slice::<serde_json::Value>(&first)
                        .ok()
                        .and_then(|v| v.get("serverSessionId")?.as_str().map(str::to_owned))
                        .ok_or_else(|| Stop::fail("an InvocationRequest without serverSessionId"))?;
                    if !seen.insert(id.clone()) {
                        return Err(Stop::fail(format!("serverSessionId {id} was given twice")));
                    }
                }
                Ok(())
            },
        ),
        IssuerCase::must(
            "issuer.transport.requests-are-json",
            &["KG2-HTP-003", "KG2-ENC-002"],
            "every issuer request of an honest session is a 200 application/json KeyGen2 message",
            |ctx| {
                let mut s = ctx.session()?;
                let r = s.run_honest()?;
                check_success(ctx, &r)?;
                for m in &s.received {
                    let v: serde_json::Value = serde_json::from_slice(m)
                        .map_err(|e| Stop::fail(format!("an issuer request is not JSON: {e}")))?;
                    if v.get("@context").and_then(|c| c.as_str()) != Some("https://webpki.github.io/keygen2#20190318") {
                        return Err(Stop::fail(format!("{} has another @context", qualifier(m))));
                    }
                }
                Ok(())
            },
        ),
        IssuerCase::must(
            "issuer.transport.lifetime-expired",
            &["KG2-IMP-006"],
            "a message that arrives after serverTime + sessionLifeTime is refused",
            |ctx| {
                let life = ctx
                    .profile
                    .session_life_time
                    .ok_or_else(|| Stop::NotApplicable("no sessionLifeTime seen".into()))?;
                if life > 30 {
                    return Err(Stop::NotApplicable(format!(
                        "sessionLifeTime is {life} s; configure the issuer under test with 30 s or less to run this case"
                    )));
                }
                let mut s = ctx.session()?;
                let (_, honest) = s.run_until("KeyCreationResponse")?;
                std::thread::sleep(Duration::from_secs(life + 2));
                ctx.post_refused(&mut s, &honest, "a message after the session lifetime")
            },
        )
        .needs_flow("KeyCreationRequest"),
    ]
}

fn tls_cases() -> Vec<IssuerCase> {
    let mut v = Vec::new();
    for (name, what, other) in [
        (
            "certificate-not-bound",
            "a session that binds another certificate than the issuer's TLS certificate (a man in the middle terminating TLS) is refused",
            true,
        ),
        (
            "no-certificate-bound",
            "a session that binds no TLS certificate (as over plain HTTP) to an HTTPS issuer is refused",
            false,
        ),
    ] {
        v.push(
            IssuerCase::must(
                format!("issuer.tls.{name}"),
                &["CRY-ATT-010"],
                what,
                move |ctx| {
                    let bound = if other {
                        // Any other certificate: the harness card's device certificate.
                        ctx.target
                            .device
                            .certificate_path
                            .first()
                            .cloned()
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    let mut s = ctx.session_binding(bound)?;
                    let (_, response) = s.run_until("ProvisioningInitializationResponse")?;
                    ctx.post_refused(&mut s, &response, what)
                },
            )
            .needs_flow("ProvisioningInitializationRequest")
            .when(|p| p.tls),
        );
    }
    v
}

/// Every transport case.
pub fn cases() -> Vec<IssuerCase> {
    let mut v = slow_cases();
    v.extend(redirect_cases());
    v.extend(session_cases());
    v.extend(tls_cases());
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn lying_posts_declare_more_than_they_send() {
        let t = crate::issuer::issuer_target(
            "http://127.0.0.1:9/keygen2?init=true",
            &Default::default(),
            None,
        )
        .expect("target");
        let log = crate::issuer::WireLog::default();
        let s = crate::issuer::Session::new(&t, &log, 1, None).expect("session");
        let r = super::lying_post(&s, b"{}", 10);
        let text = String::from_utf8(r.bytes).expect("ascii");
        assert!(text.contains("Content-Length: 10\r\n") && text.ends_with("\r\n\r\n{}"));
    }
}
