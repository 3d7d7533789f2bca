//! The HTTP driver against a tiny in-test issuer that serves a recorded Java session over
//! loopback HTTP ([KG2-HTP-001], [KG2-HTP-002], [KG2-HTP-005], [KG2-HTP-007], [KG2-HTP-009],
//! [KG2-HTP-011], [KG2-IMP-009], [KG2-IMP-010]).
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used)]

mod support;

use airtight_client::UnixTime;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use airtight_client::http::{DriverError, HttpDriver, HttpOptions, session_context};
use airtight_client::url::parse_invocation;
use airtight_client::{ManualClock, Middleware, PinSource};
use airtight_proto::messages::Message;
use support::*;

/// What the fake issuer does after the last POST, or instead of answering message `n`.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    Empty200,
    Redirect,
    RedirectAt(usize),
    HugeAt(usize),
    HtmlAt(usize),
}

/// Method, path, Content-Type, Cookie, body.
type Request = (String, String, Option<String>, Option<String>, Vec<u8>);

struct Seen {
    requests: Vec<Request>,
}

/// Serves `bodies` (the issuer's messages) one per request; records each request line,
/// Content-Type, Cookie and body.
fn serve(bodies: Vec<Vec<u8>>, ending: Ending) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen {
        requests: Vec::new(),
    }));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let path = parts.next().unwrap_or("").to_owned();
            let (mut len, mut ct, mut cookie) = (0usize, None, None);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "content-type" => ct = Some(v.trim().to_owned()),
                    "cookie" => cookie = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            seen2
                .lock()
                .unwrap()
                .requests
                .push((method.clone(), path.clone(), ct, cookie, body));
            let reply = if path == "/done" {
                http(200, "text/html", b"<html>ok</html>", "")
            } else if path.contains("abort=true") {
                http(200, "text/html", b"cancelled", "")
            } else if ending == Ending::RedirectAt(n) {
                http(302, "text/plain", b"", "Location: /error\r\n")
            } else if ending == Ending::HugeAt(n) {
                http(200, "application/json", &vec![b' '; 2 << 20], "")
            } else if ending == Ending::HtmlAt(n) {
                http(200, "text/html", &bodies[n], "")
            } else if n < bodies.len() {
                let extra = if n == 0 {
                    "Set-Cookie: SESSION=s1; Path=/\r\n"
                } else {
                    ""
                };
                http(200, "application/json; charset=utf-8", &bodies[n], extra)
            } else if ending == Ending::Redirect {
                http(302, "text/plain", b"", "Location: /done\r\n")
            } else {
                http(200, "text/plain", b"", "")
            };
            n += 1;
            let _ = stream.write_all(&reply);
        }
    });
    (base, seen)
}

fn http(status: u16, ct: &str, body: &[u8], extra: &str) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

fn invocation(base: &str) -> String {
    let enc = |s: &str| {
        s.replace(':', "%3A")
            .replace('/', "%2F")
            .replace('?', "%3F")
            .replace('=', "%3D")
    };
    format!(
        "intent://keygen2?cookie=JSESSIONID%3Dabc&init={}&url={}&cncl={}&ver=1-1#Intent;scheme=webpkiproxy;end",
        enc(&format!("{base}/keygen2?init=true")),
        enc(&format!("{base}/keygen2")),
        enc(&format!("{base}/keygen2?abort=true")),
    )
}

fn scripted(rel: &str) -> (FakeSks, Vec<Vec<u8>>) {
    let msgs = session_messages(rel);
    let mut sks = FakeSks::new(reference_like_device(Vec::new()));
    for (_, _, m) in &msgs {
        match m {
            Message::ProvisioningInitializationResponse(r) => {
                sks.session_results.push_back((
                    r.client_session_id.clone(),
                    r.attestation.clone(),
                    spki_of(&r.client_ephemeral_key),
                ));
                sks.device.certificate_path = r.device_certificate_path.clone().unwrap();
            }
            Message::KeyCreationResponse(r) => {
                for g in &r.generated_keys {
                    sks.key_results.insert(
                        g.id.clone(),
                        (spki_of(&g.public_key), g.attestation.to_vec()),
                    );
                }
            }
            Message::ProvisioningFinalizationResponse(r) => {
                sks.close_attestations.push_back(r.attestation.to_vec());
            }
            _ => {}
        }
    }
    let issuer = msgs.into_iter().step_by(2).map(|(_, b, _)| b).collect();
    (sks, issuer)
}

fn run(
    ending: Ending,
) -> (
    Result<airtight_client::http::Completion, DriverError>,
    FakeSks,
    Arc<Mutex<Seen>>,
) {
    let (mut sks, bodies) = scripted("e2es-ec-device");
    let (base, seen) = serve(bodies, ending);
    let inv = parse_invocation(&invocation(&base)).unwrap();
    let mut mw = Middleware::new(&mut sks, session_context(&inv))
        .with_pin_source(PinSource::from_lines("135790"))
        .with_clock(Box::new(ManualClock::new(UnixTime::from_secs(
            1_795_353_378,
        ))));
    let mut driver = HttpDriver::new(HttpOptions::default());
    let r = driver.run(&inv, &mut mw);
    drop(mw);
    (r, sks, seen)
}

#[test]
fn full_session_over_http_with_empty_200() {
    let (r, sks, seen) = run(Ending::Empty200);
    let done = r.unwrap();
    assert_eq!(done.final_page, None);
    assert_eq!(done.outcome.created_keys, ["Key.1"]);
    assert!(sks.methods().contains(&"closeProvisioningSession"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 5);
    assert_eq!(seen.requests[0].0, "GET");
    assert_eq!(seen.requests[0].1, "/keygen2?init=true");
    for (i, (m, path, ct, cookie, body)) in seen.requests.iter().enumerate().skip(1) {
        assert_eq!(m, "POST");
        assert_eq!(path, "/keygen2");
        assert_eq!(ct.as_deref(), Some("application/json"));
        // The invocation cookie and the one the issuer set ([KG2-HTP-009]).
        let c = cookie.as_deref().unwrap();
        assert!(
            c.contains("JSESSIONID=abc") && c.contains("SESSION=s1"),
            "{c}"
        );
        assert!(Message::decode(body).is_ok(), "POST {i}");
    }
    assert_eq!(
        seen.requests[0].3.as_deref(),
        Some("JSESSIONID=abc"),
        "the init GET carries the invocation cookie"
    );
}

#[test]
fn final_redirect_is_followed_once() {
    let (r, _, seen) = run(Ending::Redirect);
    let done = r.unwrap();
    assert!(done.final_page.as_deref().unwrap().ends_with("/done"));
    assert_eq!(done.final_status, Some(200));
    assert_eq!(seen.lock().unwrap().requests.last().unwrap().1, "/done");
}

#[test]
fn mid_protocol_redirect_aborts() {
    // Redirect instead of the KeyCreationRequest (after the session exists).
    let (r, sks, _) = run(Ending::RedirectAt(2));
    match r {
        Err(DriverError::Redirected {
            status: 302,
            location,
        }) => {
            assert_eq!(location.as_deref(), Some("/error"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sks.calls.last().unwrap(), "abortProvisioningSession");
}

#[test]
fn oversized_body_aborts() {
    let (r, sks, _) = run(Ending::HugeAt(2));
    assert!(matches!(r, Err(DriverError::BodyTooLarge { .. })), "{r:?}");
    assert_eq!(sks.calls.last().unwrap(), "abortProvisioningSession");
}

#[test]
fn wrong_content_type_aborts() {
    let (r, sks, _) = run(Ending::HtmlAt(2));
    assert!(matches!(r, Err(DriverError::ContentType { .. })), "{r:?}");
    assert_eq!(sks.calls.last().unwrap(), "abortProvisioningSession");
}

#[test]
fn declined_consent_fetches_the_cancel_url() {
    let (mut sks, bodies) = scripted("e2es-ec-device");
    let (base, seen) = serve(bodies, Ending::Empty200);
    let inv = parse_invocation(&invocation(&base)).unwrap();
    let mut mw = Middleware::new(&mut sks, session_context(&inv))
        .with_ui(Box::new(airtight_client::AutoUi::decline_all()));
    let r = HttpDriver::new(HttpOptions::default()).run(&inv, &mut mw);
    assert!(
        matches!(
            r,
            Err(DriverError::Client {
                cancelled: true,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .requests
            .last()
            .unwrap()
            .1
            .contains("abort=true")
    );
}

#[test]
fn plain_http_only_on_loopback_and_one_origin() {
    let d = HttpDriver::new(HttpOptions::default());
    let far = parse_invocation("http://issuer.example/keygen2?init=true").unwrap();
    assert!(matches!(
        d.check_invocation(&far),
        Err(DriverError::Insecure(_))
    ));
    let mixed = invocation("http://127.0.0.1:1").replace(
        "url=http%3A%2F%2F127.0.0.1%3A1",
        "url=http%3A%2F%2F127.0.0.2%3A1",
    );
    let mixed = parse_invocation(&mixed).unwrap();
    assert!(matches!(
        d.check_invocation(&mixed),
        Err(DriverError::Insecure(_))
    ));
}

#[test]
fn unreachable_issuer_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let inv = parse_invocation(&format!("http://127.0.0.1:{port}/keygen2?init=true")).unwrap();
    let mut sks = FakeSks::new(reference_like_device(Vec::new()));
    let mut mw = Middleware::new(&mut sks, session_context(&inv));
    let r = HttpDriver::new(HttpOptions::default()).run(&inv, &mut mw);
    assert!(matches!(r, Err(DriverError::Transport { .. })), "{r:?}");
}

#[test]
fn enroll_convenience() {
    let (mut sks, bodies) = scripted("e2es-ec-device");
    let (base, _) = serve(bodies, Ending::Redirect);
    let done = airtight_client::http::enroll(
        &invocation(&base),
        &mut sks,
        Box::new(airtight_client::AutoUi::accept_all()),
        PinSource::from_lines("135790"),
        HttpOptions::default(),
    )
    .unwrap();
    assert_eq!(done.outcome.created_keys, ["Key.1"]);
}

#[test]
fn transcript_records_every_message() {
    let (mut sks, bodies) = scripted("e2es-ec-device");
    let (base, _) = serve(bodies.clone(), Ending::Empty200);
    let inv = parse_invocation(&invocation(&base)).unwrap();
    let mut mw = Middleware::new(&mut sks, session_context(&inv))
        .with_pin_source(PinSource::from_lines("135790"));
    let mut driver = HttpDriver::new(HttpOptions::default());
    driver.run(&inv, &mut mw).unwrap();
    let t = driver.transcript();
    assert_eq!(t.len(), 8);
    for (i, (dir, body)) in t.iter().enumerate() {
        let m = Message::decode(body).unwrap();
        if i % 2 == 0 {
            assert_eq!(*dir, airtight_client::http::Direction::Issuer);
            assert_eq!(body, &bodies[i / 2]);
        } else {
            assert_eq!(*dir, airtight_client::http::Direction::Middleware);
            assert!(m.qualifier().ends_with("Response"));
        }
    }
}
