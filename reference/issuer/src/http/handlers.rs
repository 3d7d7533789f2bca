//! Request handlers. The engine and store work of a request (well under a millisecond with an
//! ECDSA CA: one step of crypto and a few statements, no disk flush) runs on the runtime
//! thread that read the request, with no hop to another thread; only the disk flush that makes
//! a completed issuance durable waits on the blocking pool (once per session, shared by the
//! completions that finish together: group commit). Every failure becomes a 302 to the error
//! page.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use super::{AppState, COOKIE_NAME, invocation_urls, pages};
use crate::db::{Commit, SessionStatus, StoredSession};
use crate::engine::{Next, StartRequest};

/// What a handler answers.
enum Reply {
    /// A KeyGen2 request message (200, application/json), optionally setting the cookie.
    Message {
        body: Vec<u8>,
        set_cookie: Option<String>,
    },
    /// A redirect (302) to a result or error page.
    Redirect(String),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Message { body, set_cookie } => {
                let mut r = (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response();
                if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                    r.headers_mut().insert(header::SET_COOKIE, c);
                }
                no_store(&mut r);
                r
            }
            Reply::Redirect(location) => {
                let mut r = StatusCode::FOUND.into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                no_store(&mut r);
                r
            }
        }
    }
}

fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A session handle is 16-64 Base64URL characters.
fn valid_handle(h: &str) -> bool {
    (16..=64).contains(&h.len())
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The first characters of a session handle, for messages (the whole handle is a secret).
fn short(handle: &str) -> String {
    format!("{}…", handle.get(..6).unwrap_or(handle))
}

/// The session cookie of the request, if any (and well formed).
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| valid_handle(v))
}

/// `application/json`, with or without parameters ([KG2-HTP-002]).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false)
}

fn cookie_header(handle: &str) -> String {
    format!("{COOKIE_NAME}={handle}; Path=/; HttpOnly; SameSite=Lax")
}

/// Records an error (ending `session` if it is open) and redirects to its page.
/// [KG2-HTP-008]: errors are 302 redirects, never KeyGen2 messages.
fn fail(
    app: &AppState,
    session: Option<&StoredSession>,
    handle: Option<&str>,
    reason: &str,
) -> Reply {
    let now = app.now().secs();
    let Some(id) = app.token() else {
        tracing::error!(reason, "no randomness for an error id");
        return Reply::Redirect("/error/unrecorded".into());
    };
    let handle = session.map(|s| s.handle.as_str()).or(handle);
    tracing::warn!(session = handle.unwrap_or("-"), error_id = %id, reason, "keygen2 request refused");
    let stored = match session {
        Some(s) if s.status == SessionStatus::Open => app
            .store
            .fail_session(&s.handle, Some(s.version), &s.state, &id, reason, now)
            .or_else(|e| {
                // The session moved on meanwhile (a concurrent request): still record the error.
                tracing::warn!(error = %e, "could not end the session");
                app.store.record_error(&id, Some(&s.handle), reason, now)
            }),
        _ => app.store.record_error(&id, handle, reason, now),
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "could not record the error");
    }
    Reply::Redirect(format!("/error/{id}"))
}

/// Runs `f` here, on the thread that read the request: its work is short (no disk flush).
/// A panic (a bug: nothing reachable from the wire may panic) becomes an error page, not a
/// dropped connection.
fn inline(app: &AppState, f: impl FnOnce(&AppState) -> Reply) -> Reply {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(app))) {
        Ok(reply) => reply,
        Err(_) => fail(
            app,
            None,
            None,
            "internal error: the request handler panicked",
        ),
    }
}

/// What a step produced: an answer, or a completed issuance whose answer (the result
/// redirect) may only be sent once it is durable.
enum Stepped {
    Reply(Reply),
    Completed { handle: String, commit: Commit },
}

/// Sends the result redirect of a completed issuance once it is on disk ([KG2-HTP-006]); the
/// wait for the disk runs on the blocking pool, within the request timeout.
async fn finish(app: Arc<AppState>, stepped: Stepped) -> Reply {
    let (handle, commit) = match stepped {
        Stepped::Reply(r) => return r,
        Stepped::Completed { handle, commit } => (handle, commit),
    };
    let limit = app.config.request_timeout;
    let worker = app.clone();
    let wait = tokio::task::spawn_blocking(move || worker.store.wait_durable(commit));
    let reason = match tokio::time::timeout(limit, wait).await {
        Ok(Ok(Ok(()))) => return Reply::Redirect(format!("/result/{handle}")),
        Ok(Ok(Err(e))) => format!("store: the issuance could not be made durable: {e}"),
        Ok(Err(e)) => format!("internal error: {e}"),
        Err(_) => "request timed out while the issuance was made durable".to_owned(),
    };
    inline(&app, |app| fail(app, None, Some(&handle), &reason))
}

/// `GET /`: the landing page with a fresh invocation.
pub(super) async fn landing(State(app): State<Arc<AppState>>) -> Response {
    let Some(handle) = app.token() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness").into_response();
    };
    let urls = invocation_urls(&app.base_url, &handle);
    if let Ok(mut inv) = app.invitations.lock() {
        inv.add(&handle);
    }
    if app
        .issuer
        .faults
        .has(crate::IssuerFault::LandingWithoutInvocation)
    {
        // Deliberate fault (harness self-test builds only): a page without the invocation.
        return Html(pages::not_found("Enrolment is not offered here.")).into_response();
    }
    Html(pages::landing(&urls)).into_response()
}

/// `GET /keygen2?init=true` (start) and `GET /keygen2?abort=true` (cancel).
pub(super) async fn get_keygen2(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let query = uri.query().unwrap_or("").to_owned();
    let cookie = session_cookie(&headers);
    let params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let reply = if params == ["init=true"] {
        inline(&app, move |app| start(app, cookie))
    } else if params == ["abort=true"] {
        inline(&app, move |app| cancel(app, cookie))
    } else {
        inline(&app, move |app| {
            fail(
                app,
                None,
                cookie.as_deref(),
                "[KG2-HTP-001] GET of /keygen2 needs init=true or abort=true",
            )
        })
    };
    reply.into_response()
}

fn start(app: &AppState, cookie: Option<String>) -> Reply {
    // The session id is always chosen here, never taken from the client: a cookie the client
    // brings (planted by someone else, or left over from an earlier session) names no new
    // session. Only a cookie of a session that is still open is a second GET of the same
    // invocation, which ends that session ([KG2-ISS-006]).
    if let Some(old) = &cookie {
        match app.store.load_session(old) {
            Ok(Some(s)) if s.status == SessionStatus::Open => {
                let reason = format!(
                    "[KG2-ISS-006] the init URL was fetched again during session {} \
                     (an invocation starts one session only); the session is ended",
                    short(old)
                );
                return fail(app, Some(&s), None, &reason);
            }
            Ok(_) => {}
            Err(e) => return fail(app, None, None, &format!("store: {e}")),
        }
    }
    let Some(handle) = app.token() else {
        return fail(app, None, None, "no randomness for a session");
    };
    match app.store.load_session(&handle) {
        Ok(None) => {}
        Ok(Some(_)) => return fail(app, None, None, "session id collision"),
        Err(e) => return fail(app, None, Some(&handle), &format!("store: {e}")),
    }
    let Some(mut rng) = app.request_rng() else {
        return fail(app, None, Some(&handle), "no randomness for a session");
    };
    let now = app.now();
    let request = StartRequest {
        expected_device_id: None,
        subject_label: format!("airtight user {}", handle.get(..8).unwrap_or(&handle)),
    };
    let (state, message) = match app.issuer.start(request, &mut rng, now) {
        Ok(x) => x,
        Err(e) => return fail(app, None, Some(&handle), &e.to_string()),
    };
    if let Err(e) = app.store.insert_session(&handle, &state, now.secs()) {
        return fail(app, None, Some(&handle), &format!("store: {e}"));
    }
    // The landing page whose invitation this was can now follow the session.
    if let (Some(invitation), Ok(mut inv)) = (&cookie, app.invitations.lock()) {
        inv.start(invitation, &handle);
    }
    tracing::info!(
        session = %handle,
        server_session_id = %state.server_session_id,
        "session started: InvocationRequest sent"
    );
    Reply::Message {
        body: message.to_bytes(),
        set_cookie: Some(cookie_header(&handle)),
    }
}

fn cancel(app: &AppState, cookie: Option<String>) -> Reply {
    let Some(handle) = cookie else {
        return fail(
            app,
            None,
            None,
            "[KG2-URL-003] cancel without a session cookie",
        );
    };
    match app.store.load_session(&handle) {
        Ok(Some(_))
            if app
                .issuer
                .faults
                .has(crate::IssuerFault::CancelKeepsSession) =>
        {
            // Deliberate fault (harness self-test builds only): the page, not the end.
            Reply::Redirect("/".into())
        }
        Ok(Some(s)) => fail(app, Some(&s), None, pages::CANCELLED),
        Ok(None) => fail(
            app,
            None,
            Some(&handle),
            "[KG2-URL-003] cancel of an unknown session",
        ),
        Err(e) => fail(app, None, Some(&handle), &format!("store: {e}")),
    }
}

/// `POST /keygen2`: one middleware message.
pub(super) async fn post_keygen2(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cookie = session_cookie(&headers);
    let json = is_json(&headers);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.chars().take(256).collect::<String>());
    let limit = if app.issuer.faults.has(crate::IssuerFault::NoBodyLimit) {
        // Deliberate fault (harness self-test builds only).
        usize::MAX
    } else {
        app.config.max_body_bytes
    };
    // [KG2-IMP-009] a body announced larger than the limit is refused before any of it is
    // read, and the connection is closed (its body is never drained).
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = announced
        && n > u64::try_from(limit).unwrap_or(u64::MAX)
    {
        let reason =
            format!("[KG2-IMP-009] a body of {n} bytes was announced; the limit is {limit} bytes");
        let mut r = inline(&app, move |app| {
            match step(app, cookie, json, host, Err(reason)) {
                Stepped::Reply(r) => r,
                // A refused body completes nothing.
                Stepped::Completed { handle, .. } => fail(
                    app,
                    None,
                    Some(&handle),
                    "internal error: completed without a body",
                ),
            }
        })
        .into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    // [KG2-IMP-009] the limit is enforced while reading, before any parsing; [KG2-IMP-011] the
    // read is bounded in time.
    let wait = app.config.body_read_timeout.min(app.config.request_timeout);
    let read = tokio::time::timeout(wait, axum::body::to_bytes(body, limit)).await;
    let (body, close): (Result<Bytes, String>, bool) = match read {
        Ok(Ok(b)) => (Ok(b), false),
        Ok(Err(e)) => (
            Err(format!(
                "[KG2-IMP-009] body rejected (limit {limit} bytes): {e}"
            )),
            true,
        ),
        Err(_) => (
            Err(format!(
                "[KG2-IMP-011] the request body did not arrive within {} ms",
                wait.as_millis()
            )),
            true,
        ),
    };
    let stepped = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        step(&app, cookie, json, host, body)
    })) {
        Ok(s) => s,
        Err(_) => Stepped::Reply(fail(
            &app,
            None,
            None,
            "internal error: the request handler panicked",
        )),
    };
    let mut r = finish(app, stepped).await.into_response();
    if close {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// What to add to a failed session attestation when the request reached this issuer under
/// another host than its own URL: the attestation covers the issuer URL the client used
/// ([CRY-KDF-010]), so that is the likely cause.
fn host_hint(app: &AppState, host: Option<&str>) -> Option<String> {
    let host = host?;
    let own = app
        .base_url
        .split_once("://")
        .map_or(app.base_url.as_str(), |(_, rest)| rest);
    let own = own.split('/').next().unwrap_or(own);
    (!own.eq_ignore_ascii_case(host)).then(|| {
        format!(
            "; this request was sent to {host:?} but this issuer is {}: the session attestation \
             covers the issuer URL the client used, so enrol with the URL the issuer prints, or \
             start the issuer with --public-url naming the URL clients use",
            app.base_url
        )
    })
}

fn step(
    app: &AppState,
    cookie: Option<String>,
    json: bool,
    host: Option<String>,
    body: Result<Bytes, String>,
) -> Stepped {
    // Which session: the cookie, or else (no cookie, or one that names no session, such as
    // the invitation cookie of a landing page) the serverSessionId of a readable body.
    let by_cookie = match &cookie {
        Some(h) => app.store.load_session(h),
        None => Ok(None),
    };
    let session = match (by_cookie, &body) {
        (Ok(None), Ok(b)) => match server_session_id(b) {
            Some(id) => app.store.find_by_server_session_id(&id),
            None => Ok(None),
        },
        (other, _) => other,
    };
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            return Stepped::Reply(fail(app, None, cookie.as_deref(), &format!("store: {e}")));
        }
    };
    let Some(session) = session else {
        return Stepped::Reply(fail(
            app,
            None,
            cookie.as_deref(),
            "[KG2-FLW-002] unknown session",
        ));
    };
    if !json {
        return Stepped::Reply(fail(
            app,
            Some(&session),
            None,
            "[KG2-HTP-002] Content-Type of a KeyGen2 message must be application/json",
        ));
    }
    let body = match body {
        Ok(b) => b,
        Err(reason) => return Stepped::Reply(fail(app, Some(&session), None, &reason)),
    };
    if session.status != SessionStatus::Open {
        let reason = format!(
            "[KG2-ISS-006] session is {} and accepts no further message",
            session.status.as_str()
        );
        return Stepped::Reply(fail(app, Some(&session), None, &reason));
    }
    let Some(mut rng) = app.request_rng() else {
        return Stepped::Reply(fail(app, Some(&session), None, "no randomness"));
    };
    let now = app.now();
    let mut state = session.state.clone();
    let expected = state.phase.expected();
    match app.issuer.handle(&mut state, &body, &mut rng, now) {
        Ok(Next::Request(message)) => {
            if let Err(e) =
                app.store
                    .update_session(&session.handle, session.version, &state, now.secs())
            {
                return Stepped::Reply(fail(app, Some(&session), None, &format!("store: {e}")));
            }
            tracing::info!(
                session = %session.handle,
                received = expected,
                sent = message.qualifier(),
                "keygen2 step"
            );
            Stepped::Reply(Reply::Message {
                body: message.to_bytes(),
                set_cookie: None,
            })
        }
        Ok(Next::Done(record)) => {
            match app.store.commit_completion(
                &session.handle,
                session.version,
                &state,
                &record,
                now.secs(),
            ) {
                Ok((id, commit)) => {
                    tracing::info!(
                        session = %session.handle,
                        issuance = id,
                        device_id = record.device_id.as_deref().unwrap_or("(privacy mode)"),
                        keys = record.keys.len(),
                        "issuance recorded"
                    );
                    // [KG2-HTP-006] the end is a redirect to the result page, sent once the
                    // issuance is durable.
                    Stepped::Completed {
                        handle: session.handle,
                        commit,
                    }
                }
                Err(e) => Stepped::Reply(fail(app, Some(&session), None, &format!("store: {e}"))),
            }
        }
        Err(e)
            if app
                .issuer
                .faults
                .has(crate::IssuerFault::KeepFailedSessionsOpen) =>
        {
            // Deliberate fault (harness self-test builds only): the error is recorded, the
            // session stays open in its previous state.
            Stepped::Reply(fail(app, None, Some(&session.handle), &e.to_string()))
        }
        Err(e) => {
            let mut reason = e.to_string();
            if e == crate::IssuerError::SessionAttestation
                && let Some(hint) = host_hint(app, host.as_deref())
            {
                reason.push_str(&hint);
            }
            // Store the engine's own final state (phase Failed, with its reason).
            let failed = StoredSession { state, ..session };
            Stepped::Reply(fail(app, Some(&failed), None, &reason))
        }
    }
}

/// The `serverSessionId` member of a JSON body, if there is one.
fn server_session_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("serverSessionId")?.as_str().map(str::to_owned)
}

/// `GET /status/<invitation>`: where the session started with a landing page's invitation
/// stands, as JSON `{"state": "waiting"|"running"|"done"|"failed", "location": …}`; 404 with
/// `"state": "unknown"` for an invitation this issuer does not know (or forgot).
pub(super) async fn status(
    State(app): State<Arc<AppState>>,
    Path(invitation): Path<String>,
) -> Response {
    let started = app
        .invitations
        .lock()
        .ok()
        .and_then(|i| i.session(&invitation));
    let json = |code: StatusCode, v: serde_json::Value| {
        let mut r = (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response();
        no_store(&mut r);
        r
    };
    let handle = match started {
        None => {
            return json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"state": "unknown"}),
            );
        }
        Some(None) => return json(StatusCode::OK, serde_json::json!({"state": "waiting"})),
        Some(Some(h)) => h,
    };
    let task = tokio::task::spawn_blocking(move || {
        let s = app.store.load_session(&handle)?;
        let error = match s.as_ref().map(|s| s.status) {
            Some(SessionStatus::Failed) => app.store.error_of_session(&handle)?,
            _ => None,
        };
        Ok::<_, crate::db::DbError>((s.map(|s| s.status), error, handle))
    });
    match task.await {
        Ok(Ok((Some(SessionStatus::Done), _, handle))) => json(
            StatusCode::OK,
            serde_json::json!({"state": "done", "location": format!("/result/{handle}")}),
        ),
        Ok(Ok((Some(SessionStatus::Failed), error, _))) => json(
            StatusCode::OK,
            serde_json::json!({
                "state": "failed",
                "location": error.map(|id| format!("/error/{id}")),
            }),
        ),
        Ok(Ok((Some(SessionStatus::Open) | None, _, _))) => {
            json(StatusCode::OK, serde_json::json!({"state": "running"}))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "status");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"state": "unknown"}),
            )
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /result/<id>`.
pub(super) async fn result_page(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    match app.store.issuance_by_handle(&id) {
        Ok(Some(issuance)) => Html(pages::result(&issuance)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(pages::not_found("No such result.")),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "result page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(pages::not_found("The store failed.")),
            )
                .into_response()
        }
    }
}

/// `GET /error/<id>`.
pub(super) async fn error_page(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    match app.store.error(&id) {
        Ok(Some(e)) => Html(pages::error(&e)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(pages::not_found(
                "No such error record (see the issuer log).",
            )),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "error page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(pages::not_found("The store failed.")),
            )
                .into_response()
        }
    }
}

/// Anything else.
pub(super) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Html(pages::not_found("Not found."))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_validated() {
        assert!(valid_handle("abcdefghijklmnop"));
        assert!(valid_handle(&"A".repeat(64)));
        assert!(!valid_handle("short"));
        assert!(!valid_handle(&"A".repeat(65)));
        assert!(!valid_handle("abcdefghijklmno;"));
        assert!(!valid_handle("abcdefghijklmno p"));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; airtight_session=abcdefghijklmnop1; b=2"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abcdefghijklmnop1"));
        let mut bad = HeaderMap::new();
        bad.append(
            header::COOKIE,
            HeaderValue::from_static("airtight_session=x"),
        );
        assert_eq!(session_cookie(&bad), None);
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn content_type_must_be_json() {
        // [KG2-HTP-002]
        let ct = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            is_json(&h)
        };
        assert!(ct("application/json"));
        assert!(ct("Application/JSON; charset=utf-8"));
        assert!(!ct("text/plain"));
        assert!(!ct("application/jsonx"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn server_session_id_of_a_body() {
        assert_eq!(
            server_session_id(br#"{"serverSessionId":"S1"}"#).as_deref(),
            Some("S1")
        );
        assert_eq!(server_session_id(b"not json"), None);
        assert_eq!(server_session_id(br#"{"serverSessionId":3}"#), None);
    }
}
