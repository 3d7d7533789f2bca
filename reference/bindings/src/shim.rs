//! The SKS API as JSON lines over stdin/stdout (`spec/shim.md`): [`serve_shim`] (the shim side,
//! over any [`SecureKeyStore`]) and [`ShimSks`] (the middleware side: runs a shim command and
//! implements [`SecureKeyStore`] over it, every wait bounded).

use std::io::{self, BufRead, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use airtight_proto::sks::{SKS_API_LEVEL, SecureKeyStore, SksError, SksErrorCode, SksMethod};
use serde_json::{Map, Value, json};

use crate::calls::{
    CallSks, SksCall, SksReturn, impl_secure_key_store_via_call, impl_sks_via_call,
};

/// The protocol name in `hello` ([SHIM-HEL-001]).
pub const PROTOCOL: &str = "airtight-sks-shim";
/// The protocol version this crate speaks.
pub const VERSION: u64 = 1;
/// The longest line either side accepts, without its LF ([SHIM-FRM-002]).
pub const MAX_LINE: usize = 4 << 20;
/// The largest request id (2^53 - 1, exact in every JSON implementation).
pub const MAX_ID: u64 = (1 << 53) - 1;

/// Shim protocol error codes (above the SKS codes 1-13) ([SHIM-ERR-002]).
pub mod codes {
    /// The line is not a JSON object (or is over [`super::MAX_LINE`], or not UTF-8).
    pub const PARSE: i64 = 100;
    /// The object is not a valid request (id, method, params missing or of the wrong type,
    /// extra members).
    pub const INVALID_REQUEST: i64 = 101;
    /// The method is not defined.
    pub const UNKNOWN_METHOD: i64 = 102;
    /// The params do not decode for the method.
    pub const INVALID_PARAMS: i64 = 103;
    /// An SKS method before a successful `hello`.
    pub const NOT_READY: i64 = 104;
    /// `hello` offered no version the shim speaks.
    pub const UNSUPPORTED_VERSION: i64 = 105;
}

fn error_line(id: Option<u64>, code: i64, message: &str) -> String {
    json!({"id": id, "error": {"code": code, "message": message}}).to_string()
}

fn result_line(id: u64, result: Value) -> String {
    json!({"id": id, "result": result}).to_string()
}

/// One line read with a bound.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Text(String),
    TooLong,
    NotUtf8,
    Eof,
}

/// Reads one LF-terminated line of at most `max` bytes; a longer line is consumed to its end and
/// reported as [`Line::TooLong`]. A final line without LF counts as a line.
fn read_line_bounded<R: BufRead>(r: &mut R, max: usize) -> io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            if !any {
                return Ok(Line::Eof);
            }
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long {
            if buf.len() + part.len() > max {
                too_long = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(part);
            }
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    match String::from_utf8(buf) {
        Ok(s) => Ok(Line::Text(s)),
        Err(_) => Ok(Line::NotUtf8),
    }
}

/// Options of [`serve_shim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimServerOptions {
    /// The `implementation` string of the `hello` result.
    pub implementation: String,
    /// The longest request line accepted.
    pub max_line: usize,
}

impl Default for ShimServerOptions {
    fn default() -> Self {
        Self {
            implementation: format!("airtight-bindings {}", env!("CARGO_PKG_VERSION")),
            max_line: MAX_LINE,
        }
    }
}

/// Why [`serve_shim`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShimExit {
    /// A `shutdown` request was answered.
    Shutdown,
    /// The input ended.
    Eof,
}

/// Serves `sks` over JSON lines: one request per input line, one response line per request,
/// in order ([SHIM-FRM-001]). Returns at `shutdown` or end of input; I/O errors are returned.
pub fn serve_shim<R: BufRead, W: Write, S: SecureKeyStore + ?Sized>(
    mut input: R,
    mut output: W,
    sks: &mut S,
    options: &ShimServerOptions,
) -> io::Result<ShimExit> {
    let mut ready = false;
    loop {
        let line = read_line_bounded(&mut input, options.max_line)?;
        let (reply, exit) = match line {
            Line::Eof => return Ok(ShimExit::Eof),
            // [SHIM-FRM-002] [SHIM-ERR-003]
            Line::TooLong => (
                error_line(
                    None,
                    codes::PARSE,
                    &format!("line over {} bytes", options.max_line),
                ),
                None,
            ),
            Line::NotUtf8 => (error_line(None, codes::PARSE, "line is not UTF-8"), None),
            Line::Text(t) if t.trim().is_empty() => continue,
            Line::Text(t) => handle_line(&t, sks, &mut ready, options),
        };
        output.write_all(reply.as_bytes())?;
        output.write_all(b"\n")?;
        output.flush()?;
        if let Some(e) = exit {
            return Ok(e);
        }
    }
}

fn handle_line<S: SecureKeyStore + ?Sized>(
    text: &str,
    sks: &mut S,
    ready: &mut bool,
    options: &ShimServerOptions,
) -> (String, Option<ShimExit>) {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                error_line(None, codes::PARSE, &format!("not JSON: {e}")),
                None,
            );
        }
    };
    let Some(obj) = v.as_object() else {
        return (error_line(None, codes::PARSE, "not a JSON object"), None);
    };
    let id = obj
        .get("id")
        .and_then(Value::as_u64)
        .filter(|i| *i <= MAX_ID);
    let Some(id) = id else {
        return (
            error_line(
                None,
                codes::INVALID_REQUEST,
                "id must be an integer 0..2^53-1",
            ),
            None,
        );
    };
    let invalid = |m: &str| (error_line(Some(id), codes::INVALID_REQUEST, m), None);
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "id" | "method" | "params"))
    {
        return invalid(&format!("unknown member {k:?}"));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return invalid("method must be a string");
    };
    let empty = Value::Object(Map::new());
    let params = obj.get("params").unwrap_or(&empty);
    if !params.is_object() {
        return invalid("params must be an object");
    }
    match method {
        "hello" => {
            // [SHIM-HEL-001] [SHIM-HEL-002]
            let offered = params.get("versions").and_then(Value::as_array);
            let ok = params.get("protocol").and_then(Value::as_str) == Some(PROTOCOL)
                && offered.is_some_and(|a| a.iter().any(|v| v.as_u64() == Some(VERSION)));
            if !ok {
                return (
                    error_line(
                        Some(id),
                        codes::UNSUPPORTED_VERSION,
                        &format!("this shim speaks {PROTOCOL} version {VERSION} only"),
                    ),
                    None,
                );
            }
            *ready = true;
            (
                result_line(
                    id,
                    json!({
                        "protocol": PROTOCOL,
                        "version": VERSION,
                        "apiLevel": SKS_API_LEVEL,
                        "implementation": options.implementation,
                    }),
                ),
                None,
            )
        }
        "shutdown" => (result_line(id, Value::Null), Some(ShimExit::Shutdown)),
        name => {
            let Some(m) = SksMethod::from_java_name(name) else {
                return (
                    error_line(
                        Some(id),
                        codes::UNKNOWN_METHOD,
                        &format!("unknown method {name:?}"),
                    ),
                    None,
                );
            };
            if !*ready {
                // [SHIM-HEL-003]
                return (error_line(Some(id), codes::NOT_READY, "hello first"), None);
            }
            let call = match SksCall::from_json_params(m, params) {
                Ok(c) => c,
                // [SHIM-ERR-004] an undefined enumeration value is not a decoding error: it
                // reaches the SKS (as an `EnumArg`), which checks the session first.
                Err(e) => {
                    return (
                        error_line(Some(id), codes::INVALID_PARAMS, &format!("{m}: {e}")),
                        None,
                    );
                }
            };
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.invoke(&mut *sks)))
                    .unwrap_or_else(|_| Err(SksError::internal("the SKS panicked")));
            match result {
                Ok(r) => (result_line(id, r.to_json()), None),
                // [SHIM-ERR-001]
                Err(e) => (sks_error_line(id, &e), None),
            }
        }
    }
}

fn sks_error_line(id: u64, e: &SksError) -> String {
    error_line(Some(id), i64::from(e.code().to_byte()), e.message())
}

/// Options of [`ShimSks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimOptions {
    /// The longest wait for one response (including `hello`) ([SHIM-CLI-001]).
    pub timeout: Duration,
    /// The longest response line accepted.
    pub max_line: usize,
    /// How long to wait for the process to exit after `shutdown` before killing it.
    pub exit_grace: Duration,
}

impl Default for ShimOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_line: MAX_LINE,
            exit_grace: Duration::from_secs(2),
        }
    }
}

/// What the shim said in its `hello` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimHello {
    /// Protocol version.
    pub version: u64,
    /// SKS API level.
    pub api_level: u64,
    /// Free text naming the implementation.
    pub implementation: String,
}

#[derive(Debug)]
enum Incoming {
    Line(String),
    Bad(String),
}

/// [`SecureKeyStore`] over a shim process ([`serve_shim`] or any implementation of
/// `spec/shim.md`). Every call waits at most [`ShimOptions::timeout`]; a process that dies,
/// hangs or writes a malformed line becomes an SKS error, and the link is then broken for good
/// (later calls fail at once) ([SHIM-CLI-002]).
#[derive(Debug)]
pub struct ShimSks {
    child: Option<Child>,
    to_child: Option<SyncSender<String>>,
    from_child: Receiver<Incoming>,
    next_id: u64,
    broken: Option<SksError>,
    options: ShimOptions,
    hello: ShimHello,
    calls: u64,
}

impl ShimSks {
    /// Starts `command` with piped stdin/stdout (stderr is inherited) and performs `hello`.
    pub fn spawn(mut command: Command, options: ShimOptions) -> Result<Self, SksError> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .map_err(|e| SksError::not_available(format!("cannot start the shim: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SksError::internal("shim pipes missing"));
        };
        Self::start(Some(child), stdout, stdin, options)
    }

    /// Speaks the protocol over an already connected pair of streams (a shim in a thread, a
    /// socket): `from_shim` carries the response lines, `to_shim` the requests. Performs
    /// `hello`.
    pub fn connect<R, W>(from_shim: R, to_shim: W, options: ShimOptions) -> Result<Self, SksError>
    where
        R: io::Read + Send + 'static,
        W: Write + Send + 'static,
    {
        Self::start(None, from_shim, to_shim, options)
    }

    fn start<R, W>(
        child: Option<Child>,
        from_shim: R,
        to_shim: W,
        options: ShimOptions,
    ) -> Result<Self, SksError>
    where
        R: io::Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let (line_tx, from_child) = mpsc::sync_channel::<Incoming>(4);
        let max_line = options.max_line;
        let (to_child, rx) = mpsc::sync_channel::<String>(1);
        let mut sks = Self {
            child,
            to_child: Some(to_child),
            from_child,
            next_id: 1,
            broken: None,
            options,
            hello: ShimHello {
                version: 0,
                api_level: 0,
                implementation: String::new(),
            },
            calls: 0,
        };
        if let Err(e) = thread::Builder::new()
            .name("shim-reader".into())
            .spawn(move || reader_thread(io::BufReader::new(from_shim), line_tx, max_line))
        {
            return Err(sks.fail(SksError::internal(format!("cannot start a thread: {e}"))));
        }
        if let Err(e) = thread::Builder::new()
            .name("shim-writer".into())
            .spawn(move || writer_thread(to_shim, rx))
        {
            return Err(sks.fail(SksError::internal(format!("cannot start a thread: {e}"))));
        }
        // [SHIM-HEL-001]
        let hello = sks.request(
            "hello",
            json!({"protocol": PROTOCOL, "versions": [VERSION]}),
        )?;
        let version = hello.get("version").and_then(Value::as_u64);
        let api_level = hello.get("apiLevel").and_then(Value::as_u64);
        match (version, api_level) {
            (Some(VERSION), Some(api_level)) => {
                sks.hello = ShimHello {
                    version: VERSION,
                    api_level,
                    implementation: hello
                        .get("implementation")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                };
                Ok(sks)
            }
            _ => Err(sks.fail(SksError::external(format!(
                "shim hello result is not version {VERSION} with an apiLevel: {hello}"
            )))),
        }
    }

    /// The shim's `hello` result.
    pub fn hello(&self) -> &ShimHello {
        &self.hello
    }

    /// SKS calls made.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Sends `shutdown` ([SHIM-END-001]), waits (bounded) for the process to exit and returns
    /// its status (`None` without a process).
    pub fn shutdown(mut self) -> Result<Option<ExitStatus>, SksError> {
        if self.broken.is_none() {
            let _ = self.request("shutdown", json!({}));
        }
        self.finish()
    }

    fn finish(&mut self) -> Result<Option<ExitStatus>, SksError> {
        self.to_child = None; // closes the shim's input once the writer thread ends
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let deadline = Instant::now() + self.options.exit_grace;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = child.kill();
                    return child
                        .wait()
                        .map(Some)
                        .map_err(|e| SksError::internal(format!("waiting for the shim: {e}")));
                }
            }
        }
    }

    /// Marks the link broken (kills the process) and returns `e`.
    fn fail(&mut self, e: SksError) -> SksError {
        self.broken = Some(e.clone());
        self.to_child = None;
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        e
    }

    fn exited(&mut self) -> SksError {
        let status = match self.child.as_mut() {
            None => "stream closed".to_owned(),
            Some(child) => match child.try_wait() {
                Ok(Some(s)) => s.to_string(),
                _ => {
                    // stdout closed; give the process a moment to finish exiting.
                    thread::sleep(Duration::from_millis(50));
                    match child.try_wait() {
                        Ok(Some(s)) => s.to_string(),
                        _ => "still running".to_owned(),
                    }
                }
            },
        };
        self.fail(SksError::not_available(format!(
            "the shim process closed its output ({status})"
        )))
    }

    /// One request, one response: the `result` value or an error.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, SksError> {
        if let Some(e) = &self.broken {
            return Err(SksError::new(
                e.code(),
                format!("shim link is broken: {}", e.message()),
            ));
        }
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string();
        if line.len() > self.options.max_line {
            return Err(SksError::option(format!(
                "{method}: request line of {} bytes is over {}",
                line.len(),
                self.options.max_line
            )));
        }
        let sent = self
            .to_child
            .as_ref()
            .map(|tx| tx.send(line).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(self.exited());
        }
        let incoming = match self.from_child.recv_timeout(self.options.timeout) {
            Ok(i) => i,
            Err(RecvTimeoutError::Timeout) => {
                return Err(self.fail(SksError::external(format!(
                    "{method}: no answer from the shim within {:?}",
                    self.options.timeout
                ))));
            }
            Err(RecvTimeoutError::Disconnected) => return Err(self.exited()),
        };
        let text = match incoming {
            Incoming::Line(t) => t,
            Incoming::Bad(why) => {
                return Err(self.fail(SksError::external(format!("{method}: {why}"))));
            }
        };
        match parse_response(&text, id) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e),
            Err(why) => Err(self.fail(SksError::external(format!(
                "{method}: malformed response line from the shim: {why}"
            )))),
        }
    }
}

/// Parses a response line for request `id`: `Ok(Ok(result))`, `Ok(Err(sks error))`, or
/// `Err(reason)` when the line breaks the protocol ([SHIM-CLI-002]).
fn parse_response(text: &str, id: u64) -> Result<Result<Value, SksError>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "id" | "result" | "error"))
    {
        return Err(format!("unknown member {k:?}"));
    }
    let got = obj.get("id").ok_or("no id")?;
    let error = obj.get("error");
    // A protocol-level error about an unreadable request may come with id null.
    if got.as_u64() != Some(id) && !(got.is_null() && error.is_some()) {
        return Err(format!("id {got} does not answer request {id}"));
    }
    match (obj.get("result"), error) {
        (Some(r), None) => Ok(Ok(r.clone())),
        (None, Some(e)) => {
            let code = e
                .get("code")
                .and_then(Value::as_i64)
                .ok_or("error without an integer code")?;
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .ok_or("error without a message string")?;
            let sks = match u8::try_from(code)
                .ok()
                .and_then(|c| SksErrorCode::from_byte(c).ok())
            {
                Some(c) => SksError::new(c, message),
                None => SksError::external(format!("shim protocol error {code}: {message}")),
            };
            Ok(Err(sks))
        }
        _ => Err("exactly one of result and error must be present".into()),
    }
}

fn reader_thread<R: BufRead>(mut r: R, tx: SyncSender<Incoming>, max: usize) {
    loop {
        let msg = match read_line_bounded(&mut r, max) {
            Ok(Line::Text(t)) if t.trim().is_empty() => continue,
            Ok(Line::Text(t)) => Incoming::Line(t),
            Ok(Line::TooLong) => Incoming::Bad(format!("response line over {max} bytes")),
            Ok(Line::NotUtf8) => Incoming::Bad("response line is not UTF-8".into()),
            Ok(Line::Eof) | Err(_) => return,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

fn writer_thread<W: Write>(mut stdin: W, rx: Receiver<String>) {
    while let Ok(line) = rx.recv() {
        if stdin.write_all(line.as_bytes()).is_err()
            || stdin.write_all(b"\n").is_err()
            || stdin.flush().is_err()
        {
            return;
        }
    }
}

impl CallSks for ShimSks {
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError> {
        let method = call.method();
        self.calls += 1;
        let result = self.request(method.java_name(), call.to_json_params())?;
        SksReturn::from_json(method, &result).map_err(|e| {
            self.fail(SksError::external(format!(
                "{method}: malformed result from the shim: {e}"
            )))
        })
    }
}

impl Drop for ShimSks {
    fn drop(&mut self) {
        if self.broken.is_none() && self.to_child.is_some() {
            let id = self.next_id;
            if let Some(tx) = &self.to_child {
                let _ =
                    tx.try_send(json!({"id": id, "method": "shutdown", "params": {}}).to_string());
            }
        }
        let _ = self.finish();
    }
}

impl_secure_key_store_via_call!([] ShimSks);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bounded_lines() {
        // [SHIM-FRM-002]
        let mut r = io::Cursor::new(b"abc\nxxxxxxxxxx\nde\r\nlast".to_vec());
        assert_eq!(
            read_line_bounded(&mut r, 5).unwrap(),
            Line::Text("abc".into())
        );
        assert_eq!(read_line_bounded(&mut r, 5).unwrap(), Line::TooLong);
        assert_eq!(
            read_line_bounded(&mut r, 5).unwrap(),
            Line::Text("de".into())
        );
        assert_eq!(
            read_line_bounded(&mut r, 5).unwrap(),
            Line::Text("last".into())
        );
        assert_eq!(read_line_bounded(&mut r, 5).unwrap(), Line::Eof);
    }

    #[test]
    fn response_parsing_is_strict() {
        // [SHIM-CLI-002] [SHIM-MSG-002]
        assert_eq!(
            parse_response(r#"{"id":3,"result":null}"#, 3),
            Ok(Ok(Value::Null))
        );
        assert!(parse_response(r#"{"id":4,"result":null}"#, 3).is_err());
        assert!(parse_response(r#"{"id":3,"result":1,"error":{}}"#, 3).is_err());
        assert!(parse_response(r#"{"id":3}"#, 3).is_err());
        assert!(parse_response(r#"{"id":3,"result":1,"x":2}"#, 3).is_err());
        assert!(parse_response("[]", 3).is_err());
        let e = parse_response(r#"{"id":3,"error":{"code":4,"message":"m"}}"#, 3)
            .unwrap()
            .unwrap_err();
        assert_eq!((e.code(), e.message()), (SksErrorCode::Mac, "m"));
        let e = parse_response(r#"{"id":null,"error":{"code":100,"message":"m"}}"#, 3)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code(), SksErrorCode::External);
    }
}
