//! A minimal blocking HTTP/1.1 client over rustls, used by the driver for `https://` URLs
//! only ([KG2-HTP-010]): `ureq` does not expose the peer certificate, and the middleware must
//! pass the DER of the TLS server end-entity certificate to `createProvisioningSession`.
//!
//! HTTP/1.1 keep-alive: the caller keeps the connection of a response ([`KeptConnection`]) and
//! passes it back for the next request, which reuses it when it goes to the same host and port,
//! the server did not ask to close it, its body was framed (`Content-Length` or chunked) and the
//! socket is still open (probed before reuse, as the server may have closed it while idle).
//! No redirects followed, every response read with a deadline and a body limit;
//! `Content-Length`, chunked and read-to-close bodies.
//! Certificates are validated (chain, validity, name, serverAuth) against the configured trust
//! anchors only: there are no default roots. [`client_config`] is public for other clients of
//! the same trust rules (the harness's adversarial HTTP client).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Status, headers (names in lower case), body of a response, and whether its connection may
/// carry another request.
type Parts = (u16, Vec<(String, String)>, Vec<u8>, bool);

/// Largest response head (status line and headers).
const MAX_HEAD: usize = 64 * 1024;

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// DER of the server's end-entity certificate.
    pub server_certificate: Vec<u8>,
}

/// Why an HTTPS exchange failed.
#[derive(Debug)]
pub enum TlsFailure {
    /// The server certificate (or the handshake) was refused.
    Certificate(String),
    /// The body is over the limit.
    TooLarge,
    /// Anything else (connect, I/O, timeout, malformed response).
    Transport(String),
    /// A new connection presented another end-entity certificate than the one pinned for the
    /// session; nothing was sent over it.
    CertificateChanged,
}

fn transport(e: impl std::fmt::Display) -> TlsFailure {
    TlsFailure::Transport(e.to_string())
}

/// The rustls configuration trusting exactly `anchors` (DER certificates).
pub fn client_config(anchors: &[Vec<u8>]) -> Result<Arc<ClientConfig>, TlsFailure> {
    if anchors.is_empty() {
        return Err(TlsFailure::Certificate(
            "no trust anchors configured for HTTPS (HttpOptions::trust_anchors)".into(),
        ));
    }
    let mut roots = RootCertStore::empty();
    for a in anchors {
        roots
            .add(CertificateDer::from(a.clone()))
            .map_err(|e| TlsFailure::Certificate(format!("unusable trust anchor: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(transport)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `https://host[:port]/path?query` split into (host, port, path-and-query).
fn split_url(url: &str) -> Result<(String, u16, String), TlsFailure> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| transport("not an https URL"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let mut target = rest[end..].split('#').next().unwrap_or("").to_owned();
    if !target.starts_with('/') {
        target.insert(0, '/');
    }
    if authority.contains('@') {
        return Err(transport("user information in the URL"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| transport("bad IPv6 host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| transport("bad port"))?,
            None if after.is_empty() => 443,
            None => return Err(transport("bad authority")),
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| transport("bad port"))?),
            None => (authority.to_owned(), 443),
        }
    };
    if host.is_empty() {
        return Err(transport("empty host"));
    }
    Ok((host, port, target))
}

/// An HTTPS connection kept open after a response, for the next request to the same host and
/// port.
pub(crate) struct KeptConnection {
    host: String,
    port: u16,
    reader: Limited<StreamOwned<ClientConnection, TcpStream>>,
    server_certificate: Vec<u8>,
}

impl std::fmt::Debug for KeptConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl KeptConnection {
    /// True if the socket is still open with nothing unread: a peer that closed the idle
    /// connection (or sent anything unasked, such as a close_notify alert) makes it unusable.
    fn is_open(&self) -> bool {
        if !self.reader.buf.is_empty() || self.reader.eof {
            return false;
        }
        let sock = &self.reader.inner.sock;
        if sock.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let idle =
            matches!(sock.peek(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        sock.set_nonblocking(false).is_ok() && idle
    }
}

/// A new TLS connection to `host:port`, handshake completed.
fn connect(
    config: &Arc<ClientConfig>,
    host: &str,
    port: u16,
    timeout: Duration,
    deadline: Instant,
) -> Result<KeptConnection, TlsFailure> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| transport(format!("server name {host:?}: {e}")))?;
    let addrs: Vec<_> = (host, port).to_socket_addrs().map_err(transport)?.collect();
    let mut tcp = None;
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let tcp = tcp.ok_or_else(|| transport(format!("connect: {last}")))?;
    tcp.set_read_timeout(Some(timeout)).map_err(transport)?;
    tcp.set_write_timeout(Some(timeout)).map_err(transport)?;
    // Requests are written whole; do not hold the last segment back.
    tcp.set_nodelay(true).map_err(transport)?;
    let conn = ClientConnection::new(config.clone(), name).map_err(transport)?;
    let mut tls = StreamOwned::new(conn, tcp);

    // Handshake first, so a refused certificate is reported as such.
    while tls.conn.is_handshaking() {
        if Instant::now() > deadline {
            return Err(transport("timeout during the TLS handshake"));
        }
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            let refused = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|r| r.to_string());
            return Err(match refused {
                Some(r) => TlsFailure::Certificate(r),
                None => transport(format!("TLS handshake: {e}")),
            });
        }
    }
    let server_certificate = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| TlsFailure::Certificate("the server sent no certificate".into()))?;
    Ok(KeptConnection {
        host: host.to_owned(),
        port,
        reader: Limited {
            inner: tls,
            deadline,
            buf: Vec::new(),
            eof: false,
        },
        server_certificate,
    })
}

/// One request: `method` to `url` with `headers` (name, value) and an optional body, over the
/// connection in `kept` when it goes to the same host and port and is still open, else over a
/// new one. A connection that may carry another request is left in `kept`. With `pinned`, the
/// connection's end-entity certificate must be that one (a reconnect mid-session reaching
/// another server is refused before the request is written).
#[allow(clippy::too_many_arguments)]
pub(crate) fn request(
    config: &Arc<ClientConfig>,
    kept: &mut Option<KeptConnection>,
    pinned: Option<&[u8]>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
    max_body: u64,
) -> Result<RawResponse, TlsFailure> {
    let deadline = Instant::now() + timeout;
    let (host, port, target) = split_url(url)?;
    let mut conn = match kept.take() {
        Some(c) if c.host == host && c.port == port && c.is_open() => c,
        _ => connect(config, &host, port, timeout, deadline)?,
    };
    if pinned.is_some_and(|p| p != conn.server_certificate.as_slice()) {
        return Err(TlsFailure::CertificateChanged);
    }
    conn.reader.deadline = deadline;

    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
    for (n, v) in headers {
        if n.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(transport("header with a line break"));
        }
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    let tls = &mut conn.reader.inner;
    tls.write_all(&out).map_err(transport)?;
    tls.flush().map_err(transport)?;

    let (status, headers, body, reusable) = conn.reader.read_response(method, max_body)?;
    let server_certificate = conn.server_certificate.clone();
    if reusable {
        *kept = Some(conn);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
        server_certificate,
    })
}

impl<R: Read> Limited<R> {
    /// Status, headers (names in lower case) and the body, framed as HTTP/1.1 says.
    fn read_response(&mut self, method: &str, max_body: u64) -> Result<Parts, TlsFailure> {
        let reader = self;
        let (http11, status, headers) = reader.read_head()?;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let chunked = header("transfer-encoding").is_some_and(|v| {
            v.rsplit(',')
                .next()
                .is_some_and(|l| l.trim().eq_ignore_ascii_case("chunked"))
        });
        // HTTP/1.1 keeps the connection unless either side says `Connection: close`.
        let close = headers.iter().any(|(n, v)| {
            n == "connection" && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
        });
        let mut framed = true;
        let body =
            if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
                Vec::new()
            } else if chunked {
                reader.read_chunked(max_body)?
            } else if let Some(len) = header("content-length") {
                let len: u64 = len
                    .trim()
                    .parse()
                    .map_err(|_| transport("bad Content-Length"))?;
                if len > max_body {
                    return Err(TlsFailure::TooLarge);
                }
                reader.read_exact_body(usize::try_from(len).map_err(transport)?)?
            } else {
                framed = false;
                reader.read_to_close(max_body)?
            };
        // Anything after the response (which was not asked for) also ends the connection.
        let reusable = http11 && !close && framed && !reader.eof && reader.buf.is_empty();
        Ok((status, headers, body, reusable))
    }
}

/// A buffered reader with a deadline.
struct Limited<R: Read> {
    inner: R,
    deadline: Instant,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: Read> Limited<R> {
    /// Reads more into `buf`; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, TlsFailure> {
        if self.eof {
            return Ok(false);
        }
        if Instant::now() > self.deadline {
            return Err(transport("timeout reading the response"));
        }
        let mut chunk = [0u8; 8192];
        match self.inner.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            // A peer closing without close_notify: treat as the end (the framing decides
            // whether the body is complete).
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.eof = true;
                Ok(false)
            }
            Err(e) => Err(transport(e)),
        }
    }

    fn take_line(&mut self, limit: usize) -> Result<Vec<u8>, TlsFailure> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > limit {
                return Err(transport("line too long"));
            }
            if !self.fill()? {
                return Err(transport("connection closed in the middle of a line"));
            }
        }
    }

    /// Whether the response is HTTP/1.1 (or later 1.x), the status and the headers.
    #[allow(clippy::type_complexity)]
    fn read_head(&mut self) -> Result<(bool, u16, Vec<(String, String)>), TlsFailure> {
        let status_line = self.take_line(MAX_HEAD)?;
        let status_line = String::from_utf8(status_line).map_err(transport)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(transport(format!(
                "not an HTTP/1.x response: {status_line:?}"
            )));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..600).contains(s))
            .ok_or_else(|| transport("bad status line"))?;
        let mut headers = Vec::new();
        let mut total = status_line.len();
        loop {
            let line = self.take_line(MAX_HEAD)?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            if total > MAX_HEAD {
                return Err(transport("response head too large"));
            }
            let line = String::from_utf8(line).map_err(transport)?;
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| transport("malformed header"))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        Ok((version != "HTTP/1.0", status, headers))
    }

    fn read_exact_body(&mut self, len: usize) -> Result<Vec<u8>, TlsFailure> {
        while self.buf.len() < len {
            if !self.fill()? {
                return Err(transport("connection closed before the end of the body"));
            }
        }
        let body = self.buf[..len].to_vec();
        self.buf.drain(..len);
        Ok(body)
    }

    fn read_to_close(&mut self, max_body: u64) -> Result<Vec<u8>, TlsFailure> {
        while self.fill()? {
            if self.buf.len() as u64 > max_body {
                return Err(TlsFailure::TooLarge);
            }
        }
        if self.buf.len() as u64 > max_body {
            return Err(TlsFailure::TooLarge);
        }
        Ok(std::mem::take(&mut self.buf))
    }

    fn read_chunked(&mut self, max_body: u64) -> Result<Vec<u8>, TlsFailure> {
        let mut body = Vec::new();
        loop {
            let line = self.take_line(1024)?;
            let line = String::from_utf8(line).map_err(transport)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| transport("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.take_line(MAX_HEAD)?.is_empty() {}
                return Ok(body);
            }
            if body.len() as u64 + size > max_body {
                return Err(TlsFailure::TooLarge);
            }
            let chunk = self.read_exact_body(usize::try_from(size).map_err(transport)?)?;
            body.extend_from_slice(&chunk);
            if !self.take_line(2)?.is_empty() {
                return Err(transport("chunk not followed by CRLF"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let (h, p, t) = split_url("https://127.0.0.1:8443/keygen2?init=true").expect("url");
        assert_eq!(
            (h.as_str(), p, t.as_str()),
            ("127.0.0.1", 8443, "/keygen2?init=true")
        );
        let (h, p, t) = split_url("https://[::1]/x#frag").expect("url");
        assert_eq!((h.as_str(), p, t.as_str()), ("::1", 443, "/x"));
        let (h, p, t) = split_url("https://example.com?q").expect("url");
        assert_eq!((h.as_str(), p, t.as_str()), ("example.com", 443, "/?q"));
        assert!(split_url("https://u@h/").is_err());
        assert!(split_url("https://h:x/").is_err());
        assert!(split_url("http://h/").is_err());
    }

    fn parse(raw: &[u8], max_body: u64) -> Result<Parts, TlsFailure> {
        Limited {
            inner: std::io::Cursor::new(raw.to_vec()),
            deadline: Instant::now() + Duration::from_secs(5),
            buf: Vec::new(),
            eof: false,
        }
        .read_response("GET", max_body)
    }

    #[test]
    fn responses_are_framed() {
        let (s, h, b, keep) = parse(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}trailing",
            100,
        )
        .expect("content-length");
        assert_eq!((s, b.as_slice()), (200, &b"{}"[..]));
        // Bytes nobody asked for after the response: the connection is not reused.
        assert!(!keep);
        assert_eq!(h[0], ("content-type".into(), "application/json".into()));
        let (_, _, b, keep) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n",
            100,
        )
        .expect("chunked");
        assert_eq!(b, b"abc0123456789");
        assert!(keep);
        let (s, h, b, keep) =
            parse(b"HTTP/1.1 302 Found\r\nLocation: /r\r\n\r\n", 100).expect("eof");
        assert_eq!((s, b.len()), (302, 0));
        // Read to the end of the stream: nothing left to reuse.
        assert!(!keep);
        assert_eq!(h[0].1, "/r");
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100),
            Err(TlsFailure::TooLarge)
        ));
        assert!(matches!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",
                100
            ),
            Err(TlsFailure::TooLarge)
        ));
        assert!(matches!(
            parse(
                &[b"HTTP/1.1 200 OK\r\n\r\n".as_slice(), &[b'x'; 101]].concat(),
                100
            ),
            Err(TlsFailure::TooLarge)
        ));
        // Truncated, malformed, oversized head.
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 100).is_err());
        assert!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                100
            )
            .is_err()
        );
        assert!(parse(b"SMTP 200\r\n\r\n", 100).is_err());
        assert!(parse(b"HTTP/1.1 2000 OK\r\n\r\n", 100).is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", 100).is_err());
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..2000 {
            big.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
        }
        assert!(parse(&big, 100).is_err());
    }

    #[test]
    fn keep_alive_unless_the_server_closes() {
        let keep = |raw: &[u8]| parse(raw, 100).expect("response").3;
        assert!(keep(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(keep(b"HTTP/1.1 204 No Content\r\n\r\n"));
        assert!(!keep(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\n{}"
        ));
        assert!(!keep(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
    }

    #[test]
    fn no_anchors_no_https() {
        assert!(matches!(
            client_config(&[]),
            Err(TlsFailure::Certificate(_))
        ));
        assert!(matches!(
            client_config(&[vec![1, 2, 3]]),
            Err(TlsFailure::Certificate(_))
        ));
    }
}
