//! A rewriting HTTP proxy on loopback, for the issuer tests: it relays every byte of the
//! client's request as it comes (slow clients stay slow, lying lengths stay lies) and rewrites
//! the head of the issuer's answer, so the reference issuer answers in the shape of another
//! implementation (errors as 500 or 400 instead of a 302 to the error page, every 302 as a
//! 303, the result as an empty 200, KeyGen2 messages as `text/plain`). One request per
//! connection, as the harness sends them (`Connection: close`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the proxy rewrites the issuer's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A 302 to an error page (`/error/…`) becomes this status, without `Location`.
    ErrorsAs(u16),
    /// Every 302 becomes a 303 (the redirect after a POST).
    SeeOther,
    /// The 302 to the result page (`/result/…`) becomes an empty 200 ([KG2-HTP-006] broken;
    /// the proxy rule [KG2-HTP-007] accepts it).
    ResultAsEmpty200,
    /// A 200 `application/json` answer (a KeyGen2 message) is labelled `text/plain`
    /// ([KG2-HTP-003] broken).
    JsonAsText,
}

/// A running proxy (stopped on drop).
pub struct Proxy {
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// A listener on `127.0.0.1:<free port>` and its base URL (`http://127.0.0.1:<port>`): the
/// issuer is started with this as its public URL, then [`Proxy::start`] relays to it.
pub fn bind() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let addr = l.local_addr().expect("proxy address");
    (l, format!("http://{addr}"))
}

impl Proxy {
    /// Relays connections of `listener` to `upstream`, rewriting answers as `mode` says.
    pub fn start(listener: TcpListener, upstream: SocketAddr, mode: Mode) -> Proxy {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let accept = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        std::thread::spawn(move || relay(client, upstream, mode));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// One connection: the request bytes go up as they come; the answer's head is rewritten.
fn relay(client: TcpStream, upstream: SocketAddr, mode: Mode) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let idle = Some(Duration::from_secs(30));
    for s in [&client, &server] {
        let _ = s.set_read_timeout(idle);
        let _ = s.set_write_timeout(idle);
        let _ = s.set_nodelay(true);
    }
    let (Ok(mut c_in), Ok(mut s_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Client to issuer: byte for byte; once the issuer stops reading, drain the client.
    let up = std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut forwarding = true;
        loop {
            match c_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if forwarding && s_out.write_all(&buf[..n]).is_err() {
                        forwarding = false;
                    }
                }
            }
        }
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let mut server = server;
    let mut client = client;
    // Issuer to client: the head first (rewritten), then the rest as it comes.
    let mut head = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut rest = Vec::new();
    loop {
        match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    rest = head.split_off(i + 4);
                    break;
                }
            }
        }
    }
    if head.ends_with(b"\r\n\r\n") {
        let (new_head, drop_body) = rewrite(&head, mode);
        let _ = client.write_all(&new_head);
        if !drop_body {
            let _ = client.write_all(&rest);
            loop {
                match server.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    } else {
        // No complete head: pass on what came (a cut answer stays cut).
        let _ = client.write_all(&head);
    }
    let _ = client.flush();
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// The reason phrase of a status.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// Rewrites an answer's head (status line and headers, ending with the blank line); also says
/// whether the body is to be dropped.
fn rewrite(head: &[u8], mode: Mode) -> (Vec<u8>, bool) {
    let text = String::from_utf8_lossy(head);
    let mut lines: Vec<String> = text
        .trim_end_matches("\r\n")
        .split("\r\n")
        .map(str::to_owned)
        .collect();
    let status: u16 = lines
        .first()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |lines: &[String], name: &str| -> Option<String> {
        lines.iter().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let location = header(&lines, "location").unwrap_or_default();
    let drop = |lines: &mut Vec<String>, name: &str| {
        lines.retain(|l| {
            l.split_once(':')
                .is_none_or(|(n, _)| !n.trim().eq_ignore_ascii_case(name))
        });
    };
    let mut drop_body = false;
    match mode {
        Mode::ErrorsAs(code) if status == 302 && location.contains("/error/") => {
            lines[0] = format!("HTTP/1.1 {code} {}", reason(code));
            drop(&mut lines, "location");
        }
        Mode::SeeOther if status == 302 => {
            lines[0] = "HTTP/1.1 303 See Other".into();
        }
        Mode::ResultAsEmpty200 if status == 302 && location.contains("/result/") => {
            lines[0] = "HTTP/1.1 200 OK".into();
            drop(&mut lines, "location");
            drop(&mut lines, "content-length");
            drop(&mut lines, "transfer-encoding");
            lines.push("content-length: 0".into());
            drop_body = true;
        }
        Mode::JsonAsText
            if status == 200
                && header(&lines, "content-type")
                    .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json")) =>
        {
            drop(&mut lines, "content-type");
            lines.push("content-type: text/plain".into());
        }
        _ => {}
    }
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    (out, drop_body)
}

#[test]
fn heads_are_rewritten_as_the_mode_says() {
    let err = b"HTTP/1.1 302 Found\r\nlocation: /error/abc\r\ncontent-length: 0\r\n\r\n";
    let res = b"HTTP/1.1 302 Found\r\nlocation: /result/abc\r\ncontent-length: 0\r\n\r\n";
    let json = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n";
    let s = |m: Mode, h: &[u8]| String::from_utf8(rewrite(h, m).0).expect("utf8");
    assert_eq!(
        s(Mode::ErrorsAs(500), err),
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
    );
    assert_eq!(s(Mode::ErrorsAs(500), res), String::from_utf8_lossy(res));
    assert!(s(Mode::SeeOther, res).starts_with("HTTP/1.1 303 See Other\r\nlocation: /result/"));
    assert_eq!(
        s(Mode::ResultAsEmpty200, res),
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    );
    assert!(s(Mode::JsonAsText, json).contains("content-type: text/plain\r\n"));
}
