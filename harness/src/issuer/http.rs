//! A small HTTP/1.1 client over `std::net::TcpStream`, written for the adversary's needs: every
//! byte of the request is the harness's choice (truncated bodies, lying `Content-Length`,
//! dribbled headers), every wait is bounded, and every answer is read with a size limit.
//! `http://`, and `https://` over rustls with the configured trust anchors only (the server's
//! end-entity certificate is captured for the session binding, [KG2-HTP-010]); one request
//! per connection (`Connection: close`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use thiserror::Error;

/// Largest response the harness reads (headers and body).
pub const MAX_RESPONSE: usize = 4 << 20;

/// Why an exchange failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not `http(s)://host[:port]/path`.
    #[error("unusable URL {0:?}: expected http:// or https://host[:port]/path")]
    Url(String),
    /// An `https://` URL without trust anchors, or a refused TLS handshake.
    #[error("TLS: {0}")]
    Tls(String),
    /// Connecting failed.
    #[error("cannot connect to {addr}: {detail}")]
    Connect {
        /// The address.
        addr: String,
        /// What failed.
        detail: String,
    },
    /// Sending or receiving failed (including timeouts).
    #[error("{0}")]
    Io(String),
    /// The answer is not HTTP/1.x or is cut short.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The answer exceeds [`MAX_RESPONSE`].
    #[error("answer exceeds {MAX_RESPONSE} bytes")]
    TooLarge,
}

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https://`.
    pub tls: bool,
    /// `host:port` as written (the `Host` header).
    pub authority: String,
    /// Path and query (`/` when empty).
    pub target: String,
}

impl Url {
    /// Parses `http(s)://authority/path?query`.
    pub fn parse(u: &str) -> Result<Url, HttpError> {
        let (tls, rest) = if u
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
        {
            (false, &u[7..])
        } else if u
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        {
            (true, &u[8..])
        } else {
            return Err(HttpError::Url(u.to_owned()));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.split('#').next().unwrap_or("");
        if authority.is_empty() || authority.contains('@') {
            return Err(HttpError::Url(u.to_owned()));
        }
        let target = path.split('#').next().unwrap_or("/").to_owned();
        Ok(Url {
            tls,
            authority: authority.to_owned(),
            target,
        })
    }

    /// `http(s)://authority` (the origin).
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }

    /// The host without port (and without the brackets of an IPv6 literal).
    pub fn host(&self) -> &str {
        match self.authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => self
                .authority
                .rsplit_once(':')
                .map_or(self.authority.as_str(), |(h, _)| h),
        }
    }

    /// Resolves a `Location` against this URL (absolute URLs and absolute paths).
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.origin())
        } else {
            let dir = self
                .target
                .split('?')
                .next()
                .and_then(|p| p.rsplit_once('/'))
                .map_or("", |(d, _)| d);
            format!("{}{dir}/{location}", self.origin())
        }
    }

    pub(crate) fn socket_addr(&self) -> Result<SocketAddr, HttpError> {
        let with_port = if self.authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !self.authority.ends_with(']')
        }) {
            self.authority.clone()
        } else {
            format!("{}:{}", self.authority, if self.tls { 443 } else { 80 })
        };
        with_port
            .to_socket_addrs()
            .map_err(|e| HttpError::Connect {
                addr: with_port.clone(),
                detail: e.to_string(),
            })?
            .next()
            .ok_or(HttpError::Connect {
                addr: with_port,
                detail: "no address".into(),
            })
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// DER of the server's end-entity certificate (`https://` only).
    pub server_certificate: Option<Vec<u8>>,
}

impl Response {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header of that (lower-case) name.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True for `application/json` (parameters allowed).
    pub fn is_json(&self) -> bool {
        self.header("content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
    }

    /// A one-line summary for wire logs.
    pub fn summary(&self) -> String {
        match (self.status, self.header("location")) {
            (300..=399, Some(l)) => format!("{} -> {l}", self.status),
            _ => {
                let q = if self.is_json() {
                    serde_json::from_slice::<serde_json::Value>(&self.body)
                        .ok()
                        .and_then(|v| v.get("@qualifier")?.as_str().map(str::to_owned))
                } else {
                    None
                };
                match q {
                    Some(q) => format!("{} {q} ({} B)", self.status, self.body.len()),
                    None => format!("{} ({} B)", self.status, self.body.len()),
                }
            }
        }
    }
}

/// How the request bytes go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// All at once.
    Normal,
    /// All at once, then the write half is shut down (the client is gone mid-request).
    ThenClose,
    /// One byte every `interval`, for at most `budget` in total; then the connection is left
    /// half-sent and the answer (if the server gives one) is read.
    Dribble {
        /// Pause between bytes.
        interval: Duration,
        /// Total time the harness spends sending.
        budget: Duration,
    },
}

/// A raw request: the exact bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The URL (for the address).
    pub url: Url,
    /// Every byte of the request.
    pub bytes: Vec<u8>,
}

/// Builds a well-formed request: `method target`, `Host`, the given headers, `Content-Length`
/// when there is a body, `Connection: close`.
pub fn build(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> RawRequest {
    build_with(method, url, headers, body, false)
}

/// [`build`], optionally without `Connection: close` (for [`exchange_pooled`]).
pub fn build_with(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    keep_alive: bool,
) -> RawRequest {
    let mut s = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\n",
        url.target, url.authority
    );
    for (n, v) in headers {
        s.push_str(n);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    if let Some(b) = body {
        s.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    s.push_str(if keep_alive {
        "\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut bytes = s.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    RawRequest {
        url: url.clone(),
        bytes,
    }
}

/// The connection: plain TCP or TLS over TCP.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    /// Ends the sending half (TLS: close_notify first).
    fn shutdown_write(&mut self) {
        if let Conn::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Write);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) => t.flush(),
        }
    }
}

/// Connects (and for `https://` completes the handshake, bounded by `timeout`); returns the
/// connection and the server's end-entity certificate.
pub(crate) fn connect(
    url: &Url,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<(Conn, Option<Vec<u8>>), HttpError> {
    let addr = url.socket_addr()?;
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| HttpError::Connect {
        addr: addr.to_string(),
        detail: e.to_string(),
    })?;
    let io = |e: std::io::Error| HttpError::Io(e.to_string());
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    let _ = s.set_nodelay(true);
    if !url.tls {
        return Ok((Conn::Plain(s), None));
    }
    let config = tls.ok_or_else(|| {
        HttpError::Tls("an https:// issuer needs trust anchors ([issuer] trust_anchors)".into())
    })?;
    let name = ServerName::try_from(url.host().to_owned())
        .map_err(|e| HttpError::Tls(format!("server name {:?}: {e}", url.host())))?;
    let conn =
        ClientConnection::new(config.clone(), name).map_err(|e| HttpError::Tls(e.to_string()))?;
    let mut t = StreamOwned::new(conn, s);
    let deadline = Instant::now() + timeout;
    while t.conn.is_handshaking() {
        if Instant::now() > deadline {
            return Err(HttpError::Tls("handshake timed out".into()));
        }
        t.conn
            .complete_io(&mut t.sock)
            .map_err(|e| HttpError::Tls(format!("handshake: {e}")))?;
    }
    let cert = t
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| HttpError::Tls("the server sent no certificate".into()))?;
    Ok((Conn::Tls(Box::new(t)), Some(cert)))
}

/// Sends `req` and reads the answer; the whole exchange is bounded by `timeout` (plus the
/// dribble budget). `Ok(None)`: the server closed the connection without an answer. `tls`:
/// the client configuration for `https://` URLs.
pub fn exchange(
    req: &RawRequest,
    pace: Pace,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Option<Response>, HttpError> {
    let (mut s, cert) = connect(&req.url, tls, timeout)?;
    let io = |e: std::io::Error| HttpError::Io(e.to_string());
    match pace {
        Pace::Normal => {
            if let Err(e) = s.write_all(&req.bytes) {
                // The server may answer (e.g. 302 for an oversized body) and close before
                // reading everything: try to read what it said.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) {
                    return Err(io(e));
                }
            }
        }
        Pace::ThenClose => {
            let _ = s.write_all(&req.bytes);
            let _ = s.flush();
            s.shutdown_write();
        }
        Pace::Dribble { interval, budget } => {
            let start = Instant::now();
            for b in &req.bytes {
                if start.elapsed() >= budget {
                    break;
                }
                if s.write_all(std::slice::from_ref(b))
                    .and_then(|()| s.flush())
                    .is_err()
                {
                    break;
                }
                std::thread::sleep(interval);
            }
        }
    }
    let _ = s.flush();
    let mut r = read_response(&mut s, timeout)?;
    if let Some(resp) = r.as_mut() {
        resp.server_certificate = cert;
    }
    Ok(r)
}

/// Keep-alive connections of one client thread (the load generator's), at most one per
/// origin.
#[derive(Default)]
pub struct Pool {
    conns: Vec<(String, Conn, Option<Vec<u8>>)>,
    /// Connections opened so far.
    pub opened: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("idle", &self.conns.len())
            .field("opened", &self.opened)
            .finish()
    }
}

impl Pool {
    fn take(&mut self, origin: &str) -> Option<(Conn, Option<Vec<u8>>)> {
        let i = self.conns.iter().position(|(o, _, _)| o == origin)?;
        let (_, c, cert) = self.conns.swap_remove(i);
        Some((c, cert))
    }
}

/// Whether the server keeps the connection open after this answer.
fn keeps_open(r: &Response) -> bool {
    !r.headers_named("connection")
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// Sends a request built with `keep_alive` ([`build_with`]) over a kept connection to its
/// origin when there is one (else a new one), and keeps the connection for the next request
/// unless the server closes it. A kept connection the server closed meanwhile (nothing
/// written, or closed without an answer) is replaced by a new one once.
pub fn exchange_pooled(
    pool: &mut Pool,
    req: &RawRequest,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Option<Response>, HttpError> {
    let origin = req.url.origin();
    if let Some((mut conn, cert)) = pool.take(&origin) {
        let sent = conn.write_all(&req.bytes).and_then(|()| conn.flush());
        if sent.is_ok() {
            match read_response(&mut conn, timeout) {
                Ok(Some(r)) => return Ok(Some(finish_pooled(pool, origin, conn, cert, r))),
                // Closed idle by the server: once more on a new connection.
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let (mut conn, cert) = connect(&req.url, tls, timeout)?;
    pool.opened += 1;
    conn.write_all(&req.bytes)
        .and_then(|()| conn.flush())
        .map_err(|e| HttpError::Io(e.to_string()))?;
    Ok(read_response(&mut conn, timeout)?.map(|r| finish_pooled(pool, origin, conn, cert, r)))
}

fn finish_pooled(
    pool: &mut Pool,
    origin: String,
    conn: Conn,
    cert: Option<Vec<u8>>,
    mut r: Response,
) -> Response {
    r.server_certificate = cert.clone();
    if keeps_open(&r) {
        pool.conns.push((origin, conn, cert));
    }
    r
}

/// Reads one answer (until the server closes, or the declared length is read).
pub(crate) fn read_response(
    s: &mut Conn,
    timeout: Duration,
) -> Result<Option<Response>, HttpError> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::Io(format!(
                "no complete answer within {} ms",
                timeout.as_millis()
            )));
        }
        s.tcp()
            .set_read_timeout(Some(left))
            .map_err(|e| HttpError::Io(e.to_string()))?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_RESPONSE {
                    return Err(HttpError::TooLarge);
                }
                if let Some(r) = parse(&buf, false)? {
                    return Ok(Some(r));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HttpError::Io(format!(
                    "no complete answer within {} ms",
                    timeout.as_millis()
                )));
            }
            Err(e) => return Err(HttpError::Io(e.to_string())),
        }
    }
    if buf.is_empty() {
        return Ok(None);
    }
    parse(&buf, true)?
        .map(Some)
        .ok_or_else(|| HttpError::Malformed("answer cut short".into()))
}

/// Parses a complete answer from `buf`; `Ok(None)` when more bytes are needed (and `eof` is
/// false).
fn parse(buf: &[u8], eof: bool) -> Result<Option<Response>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if eof {
            Err(HttpError::Malformed("no end of headers".into()))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..end])
        .map_err(|_| HttpError::Malformed("headers are not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for l in lines {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| HttpError::Malformed(format!("header line {l:?}")))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let body = &buf[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        match dechunk(body)? {
            Some(b) => b,
            None if eof => return Err(HttpError::Malformed("chunked body cut short".into())),
            None => return Ok(None),
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| HttpError::Malformed(format!("Content-Length {len:?}")))?;
        if body.len() < len {
            if eof {
                return Err(HttpError::Malformed("body cut short".into()));
            }
            return Ok(None);
        }
        body[..len].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if eof {
        body.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(Response {
        status,
        headers,
        body,
        server_certificate: None,
    }))
}

/// De-chunks a complete chunked body; `Ok(None)` when incomplete.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_line =
            std::str::from_utf8(&b[..i]).map_err(|_| HttpError::Malformed("chunk size".into()))?;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_line:?}")))?;
        b = &b[i + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if b.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&b[..size]);
        if out.len() > MAX_RESPONSE {
            return Err(HttpError::TooLarge);
        }
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_resolve() {
        let u = Url::parse("http://127.0.0.1:8080/keygen2?init=true").expect("url");
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.target, "/keygen2?init=true");
        assert_eq!(u.resolve("/error/x"), "http://127.0.0.1:8080/error/x");
        assert_eq!(u.resolve("http://a/b"), "http://a/b");
        assert_eq!(u.resolve("res"), "http://127.0.0.1:8080/res");
        assert_eq!(Url::parse("http://h").expect("bare").target, "/");
        let t = Url::parse("https://[::1]:8443/k").expect("tls url");
        assert!(t.tls && t.host() == "::1" && t.origin() == "https://[::1]:8443");
        assert_eq!(
            Url::parse("https://h.example/k").expect("host").host(),
            "h.example"
        );
        for bad in ["ftp://h", "http:///x", "http://u@h/", "h"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_parse_with_length_chunks_and_eof() {
        let r = parse(
            b"HTTP/1.1 302 Found\r\nLocation: /error/a\r\ncontent-length: 0\r\n\r\n",
            false,
        )
        .expect("ok")
        .expect("complete");
        assert_eq!((r.status, r.header("location")), (302, Some("/error/a")));
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false)
                .expect("ok")
                .is_none()
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true).is_err());
        let c = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", false)
            .expect("ok")
            .expect("complete");
        assert_eq!(c.body, b"abcde");
        let e = parse(b"HTTP/1.0 200 OK\r\n\r\nxyz", true)
            .expect("ok")
            .expect("eof");
        assert_eq!(e.body, b"xyz");
        assert!(parse(b"SSH-2.0\r\n\r\n", true).is_err());
        assert!(parse(b"HTTP/1.1 abc\r\n\r\n", true).is_err());
    }

    #[test]
    fn built_requests_carry_length_and_close() {
        let u = Url::parse("http://h:1/p").expect("url");
        let r = build(
            "POST",
            &u,
            &[("Content-Type".into(), "application/json".into())],
            Some(b"{}"),
        );
        let s = String::from_utf8(r.bytes).expect("ascii");
        assert!(s.starts_with("POST /p HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(s.contains("Content-Length: 2\r\n") && s.ends_with("Connection: close\r\n\r\n{}"));
    }
}
