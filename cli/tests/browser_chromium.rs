//! The browser path end to end in real headless Chromium (Debian's `chromium`, installed by
//! `scripts/chromium.sh`): the extension of `browser/extension/` loaded, the host registered
//! with `airtight browser install --manifest-dir <profile>/NativeMessagingHosts`, the issuer
//! `airtight issuer serve --test-pki` on 127.0.0.1. Driven over the DevTools protocol with a
//! small WebSocket client (below). Scenarios: enrol (accept, PIN, result page, the issuance
//! recorded, the key on the card), cancel in the dialog, a tampering issuer (a proxy that
//! changes a MAC), an issuer that is down. Screenshots
//! of the dialog's states and of the pages go to `$AIRTIGHT_SCREENSHOT_DIR` (default
//! `target/browser-screenshots`). Skips, saying why, when Chromium is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airtight_cli::browser::EXTENSION_ID;
#[cfg(feature = "pcsc")]
use common::BIN;
use common::{IssuerServe, airtight, issuer_serve};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// A minimal WebSocket client (RFC 6455: text frames, masked from the client, pings
/// answered), enough for the DevTools protocol.
struct Ws {
    stream: TcpStream,
}

impl Ws {
    fn connect(port: u16, path: &str) -> Ws {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: YWlydGlnaHQtdGVzdC1rZXk=\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Ws { stream }
    }

    fn frame(&mut self, opcode: u8, payload: &[u8]) {
        let mut f = vec![0x80 | opcode];
        let n = payload.len();
        if n < 126 {
            f.push(0x80 | u8::try_from(n).unwrap());
        } else if n < 65536 {
            f.push(0x80 | 126);
            f.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mask = [0x5a, 0xa5, 0x3c, 0xc3];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&f).unwrap();
    }

    fn send(&mut self, text: &str) {
        self.frame(1, text.as_bytes());
    }

    fn recv(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h).unwrap();
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let mut n = u64::from(h[1] & 0x7f);
            if n == 126 {
                let mut e = [0u8; 2];
                self.stream.read_exact(&mut e).unwrap();
                n = u64::from(u16::from_be_bytes(e));
            } else if n == 127 {
                let mut e = [0u8; 8];
                self.stream.read_exact(&mut e).unwrap();
                n = u64::from_be_bytes(e);
            }
            let mask = if h[1] & 0x80 != 0 {
                let mut m = [0u8; 4];
                self.stream.read_exact(&mut m).unwrap();
                Some(m)
            } else {
                None
            };
            let mut payload = vec![0u8; usize::try_from(n).unwrap()];
            self.stream.read_exact(&mut payload).unwrap();
            if let Some(m) = mask {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= m[i % 4];
                }
            }
            match opcode {
                9 => self.frame(10, &payload),
                8 => panic!("DevTools closed the WebSocket"),
                0..=2 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return String::from_utf8(message).unwrap();
                    }
                }
                _ => {}
            }
        }
    }
}

/// The DevTools protocol over [`Ws`]: commands with ids, events skipped.
/// The dialog's state (`data-state` of its body).
const STATE: &str = "document.body ? document.body.dataset.state : null";

struct Cdp {
    ws: Ws,
    next: u64,
}

impl Cdp {
    /// Opens the issuer's landing page in a new tab and waits for the extension's content script.
    fn open_landing(&mut self, base: &str) -> String {
        let tab = self.open(&format!("{base}/"));
        self.wait_for(
            &tab,
            "document.documentElement.getAttribute('data-keygen2-extension')",
            &json!("1"),
            "the extension's content script",
        );
        tab
    }

    /// Clicks the dialog's button `id` (from the page's script: the dialog trusts any click).
    fn press(&mut self, dialog: &str, id: &str) {
        self.eval(
            dialog,
            &format!("document.getElementById('{id}').click(), true"),
        );
    }

    /// Types `pin` twice into the dialog's PIN fields and confirms.
    fn enter_pin(&mut self, dialog: &str, pin: &str) {
        self.eval(
            dialog,
            &format!(
                "document.getElementById('pin1').value = '{pin}'; \
                 document.getElementById('pin2').value = '{pin}'; \
                 document.getElementById('pin-ok').click(), true"
            ),
        );
    }

    /// Waits for the dialog's failed state and returns what it says.
    fn failure(&mut self, dialog: &str) -> String {
        self.wait_for(dialog, STATE, &json!("failed"), "the failed dialog");
        let why = self.eval(dialog, "document.getElementById('failed-text').textContent");
        why.and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Consent, keys, then PIN 1357: the enrolment as far as the card.
    fn accept_with_pin(&mut self, dialog: &str) {
        self.wait_for(dialog, STATE, &json!("consent"), "the consent dialog");
        self.press(dialog, "consent-accept");
        self.wait_for(dialog, STATE, &json!("keys"), "the keys dialog");
        self.press(dialog, "keys-accept");
        self.wait_for(dialog, STATE, &json!("pin"), "the PIN dialog");
        self.enter_pin(dialog, "1357");
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        self.next += 1;
        let id = self.next;
        let mut m = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            m["sessionId"] = json!(s);
        }
        self.ws.send(&m.to_string());
        loop {
            let v: Value = serde_json::from_str(&self.ws.recv()).unwrap();
            if v["id"] == json!(id) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    /// The value of a JavaScript expression in a page (`None` while it cannot be evaluated,
    /// e.g. during a navigation).
    fn eval(&mut self, session: &str, expression: &str) -> Option<Value> {
        let r = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .ok()?;
        if r.get("exceptionDetails").is_some() {
            return None;
        }
        Some(r["result"]["value"].clone())
    }

    /// Waits (at most 60 s) until `expression` is `want`.
    fn wait_for(&mut self, session: &str, expression: &str, want: &Value, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        while Instant::now() < deadline {
            last = self.eval(session, expression);
            if last.as_ref() == Some(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let page = self.eval(session, "location.href + ' ' + document.title");
        panic!("{what}: {expression} is {last:?}, not {want} after 60 s (page {page:?})");
    }

    fn attach(&mut self, target: &str) -> String {
        self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )
        .unwrap()["sessionId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn open(&mut self, url: &str) -> String {
        let t = self
            .call(None, "Target.createTarget", json!({"url": url}))
            .unwrap();
        self.attach(t["targetId"].as_str().unwrap())
    }

    /// Waits for a keygen dialog not seen before and attaches to it.
    fn dialog(&mut self, seen: &mut Vec<String>) -> String {
        let prefix = format!("chrome-extension://{EXTENSION_ID}/dialog.html");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let targets = self.call(None, "Target.getTargets", json!({})).unwrap();
            for t in targets["targetInfos"].as_array().unwrap() {
                let id = t["targetId"].as_str().unwrap().to_owned();
                if t["url"].as_str().unwrap_or("").starts_with(&prefix) && !seen.contains(&id) {
                    seen.push(id.clone());
                    return self.attach(&id);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no keygen dialog opened within 30 s");
    }

    /// A real (trusted) mouse click in the middle of the element with this id: the extension
    /// ignores clicks synthesized by page scripts.
    fn click(&mut self, session: &str, id: &str) {
        let at = self
            .eval(
                session,
                &format!(
                    "(() => {{ const r = document.getElementById('{id}').getBoundingClientRect(); \
                     return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
                ),
            )
            .unwrap();
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                Some(session),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .unwrap();
        }
    }

    fn screenshot(&mut self, session: &str, dir: &Path, name: &str) {
        let Ok(r) = self.call(
            Some(session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        ) else {
            return;
        };
        let b64 = r["data"].as_str().unwrap_or("");
        let url = b64.replace('+', "-").replace('/', "_").replace('=', "");
        if let Ok(png) = airtight_proto::codec::b64url::decode(&url) {
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }
}

/// A process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tampering proxy in front of an issuer: one request per connection (forwarded with
/// `Connection: close`); in the KeyCreationRequest it changes one character of the first
/// `"mac"` value, which the card must refuse. Returns its port.
fn tampering_proxy(upstream: std::net::SocketAddr, listener: std::net::TcpListener) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            std::thread::spawn(move || {
                let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
                let mut req = Vec::new();
                let mut b = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") {
                    if client.read_exact(&mut b).is_err() {
                        return;
                    }
                    req.push(b[0]);
                }
                let head = String::from_utf8_lossy(&req).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if client.read_exact(&mut body).is_err() {
                    return;
                }
                let head: String = head
                    .trim_end()
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                let Ok(mut up) = TcpStream::connect(upstream) else {
                    return;
                };
                let _ = up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
                let _ = up.write_all(&body);
                let mut resp = Vec::new();
                let _ = up.read_to_end(&mut resp);
                if let Some(at) =
                    find(&resp, b"\"KeyCreationRequest\"").and_then(|_| find(&resp, b"\"mac\":\""))
                {
                    let i = at + 7;
                    resp[i] = if resp[i] == b'A' { b'B' } else { b'A' };
                }
                let _ = client.write_all(&resp);
            });
        }
    });
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `airtight issuer serve --test-pki` on a free loopback port; returns it and its base URL.
fn issuer(data: &Path) -> (IssuerServe, String) {
    issuer_with(data, &[])
}

fn issuer_with(data: &Path, extra: &[&str]) -> (IssuerServe, String) {
    let mut args = vec!["--test-pki", "--data-dir", data.to_str().unwrap()];
    args.extend_from_slice(if extra.is_empty() {
        &["--bind", "127.0.0.1:0"][..]
    } else {
        extra
    });
    let server = issuer_serve(&args, |c| {
        c.env("RUST_LOG", "warn").stderr(Stdio::null());
    });
    let base = server.base();
    (server, base)
}

/// Open provisioning sessions left on the card of `dir`.
fn open_sessions(dir: &Path) -> usize {
    use airtight_proto::sks::{ProvisioningHandle, SecureKeyStore};
    let mut sks = airtight_cli::source::open_card_dir(dir, false, false, None).unwrap();
    let mut n = 0;
    let mut h = ProvisioningHandle::NONE;
    while let Some(s) = sks.enumerate_provisioning_sessions(h, true).unwrap() {
        n += 1;
        h = s.provisioning_handle;
    }
    n
}

fn screenshot_dir() -> PathBuf {
    let d = std::env::var_os("AIRTIGHT_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots")
        });
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts headless Chromium with the extension on `profile` and connects to its DevTools.
fn launch(profile: &Path, extension: &Path) -> (Killed, Cdp) {
    let chromium = Killed(
        Command::new(CHROMIUM)
            .arg("--headless=new")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--no-default-browser-check")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--load-extension={}", extension.display()))
            .arg("--remote-debugging-port=0")
            .arg("--remote-debugging-address=127.0.0.1")
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let active = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(&active)
            && t.lines().count() >= 2
        {
            break t;
        }
        assert!(Instant::now() < deadline, "Chromium did not start in 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut lines = text.lines();
    let port: u16 = lines.next().unwrap().trim().parse().unwrap();
    let path = lines.next().unwrap().trim().to_owned();
    let cdp = Cdp {
        ws: Ws::connect(port, &path),
        next: 0,
    };
    (chromium, cdp)
}

#[test]
fn enrol_cancel_tampering_and_issuer_down_in_chromium() {
    if !Path::new(CHROMIUM).exists() {
        println!("SKIPPED: {CHROMIUM} is absent (install it with scripts/chromium.sh)");
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("profile");
    let card = work.path().join("card");
    let data = work.path().join("issuer");
    let shots = screenshot_dir();
    let extension = Path::new(env!("CARGO_MANIFEST_DIR")).join("../browser/extension");
    let extension = std::fs::canonicalize(extension).unwrap();
    let hosts = profile.join("NativeMessagingHosts");
    let ran = airtight(&[
        "browser",
        "install",
        "--manifest-dir",
        hosts.to_str().unwrap(),
        "--card-dir",
        card.to_str().unwrap(),
    ]);
    assert!(ran.ok(), "{}", ran.both());
    let (issuer_process, base) = issuer(&data);

    let (_chromium, mut cdp) = launch(&profile, &extension);
    let mut dialogs = Vec::new();

    // 1. Enrol: accept, accept the keys, choose a PIN; the tab lands on the result page.
    let tab = cdp.open_landing(&base);
    cdp.screenshot(&tab, &shots, "landing");
    // A click synthesized by the page's own script opens nothing.
    cdp.eval(
        &tab,
        "document.getElementById('keygen2-extension').click(), true",
    );
    std::thread::sleep(Duration::from_millis(500));
    let targets = cdp.call(None, "Target.getTargets", json!({})).unwrap();
    assert!(
        !targets.to_string().contains("dialog.html"),
        "a scripted click opened the dialog"
    );
    cdp.click(&tab, "keygen2-extension");
    let dialog = cdp.dialog(&mut dialogs);
    cdp.wait_for(&dialog, STATE, &json!("consent"), "the consent dialog");
    cdp.screenshot(&dialog, &shots, "dialog-1-consent");
    cdp.press(&dialog, "consent-accept");
    cdp.wait_for(&dialog, STATE, &json!("keys"), "the keys dialog");
    cdp.screenshot(&dialog, &shots, "dialog-2-keys");
    cdp.press(&dialog, "keys-accept");
    cdp.wait_for(&dialog, STATE, &json!("pin"), "the PIN dialog");
    // A PIN the policy refuses is stopped in the dialog, before the card sees it.
    cdp.enter_pin(&dialog, "12");
    cdp.wait_for(
        &dialog,
        "document.getElementById('pin-problem').textContent.includes('long')",
        &json!(true),
        "the PIN check in the dialog",
    );
    cdp.screenshot(&dialog, &shots, "dialog-3-pin-refused");
    cdp.enter_pin(&dialog, "1357");
    cdp.wait_for(
        &tab,
        "location.pathname.startsWith('/result/')",
        &json!(true),
        "the result page",
    );
    cdp.wait_for(
        &tab,
        "document.readyState",
        &json!("complete"),
        "the result page",
    );
    cdp.screenshot(&tab, &shots, "result-page");
    let title = cdp.eval(&tab, "document.title").unwrap();
    assert_eq!(title, json!("Provisioning completed"));
    let list = airtight(&["issuer", "list", "--data-dir", data.to_str().unwrap()]);
    assert!(
        list.ok() && list.stdout.contains("Key.1"),
        "{}",
        list.both()
    );
    let keys = airtight(&["card", "keys", "--card-dir", card.to_str().unwrap()]);
    assert!(
        keys.ok() && keys.stdout.contains("Key.1"),
        "{}",
        keys.both()
    );
    let keys_before = keys.stdout.lines().count();

    // 2. Cancel in the dialog: the tab lands on the issuer's cancel page, nothing is created.
    let tab = cdp.open_landing(&base);
    cdp.click(&tab, "keygen2-extension");
    let dialog = cdp.dialog(&mut dialogs);
    cdp.wait_for(&dialog, STATE, &json!("consent"), "the consent dialog");
    cdp.press(&dialog, "consent-cancel");
    cdp.wait_for(
        &tab,
        "document.title",
        &json!("Enrolment cancelled"),
        "the cancel page",
    );
    cdp.screenshot(&tab, &shots, "cancel-page");
    let keys = airtight(&["card", "keys", "--card-dir", card.to_str().unwrap()]);
    assert_eq!(keys.stdout.lines().count(), keys_before, "{}", keys.both());

    // 3. A tampering issuer (a proxy that changes a MAC in the KeyCreationRequest): the card
    //    refuses, the session is aborted and ended, the tab lands on the error page.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let tampered_data = work.path().join("issuer-tampered");
    // The issuer's own port (its banner names the public URL, the proxy's).
    let real = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_tampered_issuer, _) = issuer_with(
        &tampered_data,
        &["--bind", &real.to_string(), "--public-url", &proxy],
    );
    tampering_proxy(real, listener);
    let tab = cdp.open_landing(&proxy);
    cdp.click(&tab, "keygen2-extension");
    let dialog = cdp.dialog(&mut dialogs);
    cdp.accept_with_pin(&dialog);
    // The middleware ended the issuer's session through the cancel URL; the dialog says why.
    let why = cdp.failure(&dialog);
    println!("tampered session: the dialog says {why}");
    assert!(why.contains("SKS call"), "{why}");
    cdp.screenshot(&dialog, &shots, "dialog-5-tampered");
    cdp.wait_for(
        &tab,
        "location.pathname.startsWith('/error/')",
        &json!(true),
        "the issuer's page after tampering",
    );
    cdp.screenshot(&tab, &shots, "tampered-page");
    let list = airtight(&[
        "issuer",
        "list",
        "--data-dir",
        tampered_data.to_str().unwrap(),
    ]);
    assert!(
        list.ok() && !list.stdout.contains("Key.1"),
        "{}",
        list.both()
    );
    let keys = airtight(&["card", "keys", "--card-dir", card.to_str().unwrap()]);
    assert_eq!(keys.stdout.lines().count(), keys_before, "{}", keys.both());
    assert_eq!(open_sessions(&card), 0, "an SKS session was left open");

    // 4. The issuer is down: the dialog says so and stays; the tab stays where it was.
    let tab = cdp.open_landing(&base);
    drop(issuer_process);
    cdp.click(&tab, "keygen2-extension");
    let dialog = cdp.dialog(&mut dialogs);
    let text = cdp.failure(&dialog);
    assert!(text.contains("cannot reach the issuer"), "{text}");
    cdp.screenshot(&dialog, &shots, "dialog-4-issuer-down");
    assert_eq!(cdp.eval(&tab, "location.pathname"), Some(json!("/")));
    println!(
        "browser end-to-end: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
}

/// A card pulled mid-session through the browser path: the host uses the card in pcscd's
/// `Virtual PCD 00 00` (`airtight card serve --vpcd`, which drops its connection after a fixed
/// number of APDUs). The dialog reports the card gone, the tab shows the issuer's page for the
/// ended session, and after reinsertion the card has no open provisioning session. Needs the
/// `pcsc` feature and `AIRTIGHT_PCSC=1` (`scripts/pcsc-stack.sh`); skips otherwise.
#[cfg(feature = "pcsc")]
#[test]
fn card_pulled_mid_session_in_chromium() {
    use airtight_bindings::ApduSks;
    use airtight_bindings::pcsc::{PcscTransport, ReaderSelector};
    use airtight_proto::sks::{ProvisioningHandle, SecureKeyStore};
    const READER: &str = "Virtual PCD 00 00";
    if !Path::new(CHROMIUM).exists() {
        println!("SKIPPED: {CHROMIUM} is absent (install it with scripts/chromium.sh)");
        return;
    }
    if std::env::var("AIRTIGHT_PCSC").as_deref() != Ok("1") {
        println!("SKIPPED: set AIRTIGHT_PCSC=1 with pcscd running (scripts/pcsc-stack.sh)");
        return;
    }
    let serve = |card: &Path, drop_after: Option<u64>| -> Killed {
        let mut cmd = Command::new(BIN);
        cmd.args(["card", "serve", "--vpcd", "127.0.0.1:35963", "--card-dir"])
            .arg(card);
        if let Some(n) = drop_after {
            cmd.args(["--drop-after-apdus", &n.to_string()]);
        }
        let child = Killed(
            cmd.env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // Ready = one SELECT answered through pcscd (bounded).
        common::wait_card_in_reader(READER, Duration::from_secs(10), String::new);
        child
    };
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("profile");
    let card = work.path().join("card");
    let data = work.path().join("issuer");
    let shots = screenshot_dir();
    let extension =
        std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../browser/extension"))
            .unwrap();
    let ran = airtight(&[
        "browser",
        "install",
        "--manifest-dir",
        profile.join("NativeMessagingHosts").to_str().unwrap(),
        "--reader",
        READER,
    ]);
    assert!(ran.ok(), "{}", ran.both());
    let (_issuer, base) = issuer(&data);
    let (_chromium, mut cdp) = launch(&profile, &extension);
    // The readiness SELECT, then the host's SELECT, getDeviceInfo and
    // createProvisioningSession are answered; the card vanishes at the next APDU.
    let card_serve = serve(&card, Some(4));
    let tab = cdp.open_landing(&base);
    cdp.click(&tab, "keygen2-extension");
    let dialog = cdp.dialog(&mut Vec::new());
    cdp.accept_with_pin(&dialog);
    let why = cdp.failure(&dialog);
    println!("card pulled: the dialog says {why}");
    assert!(why.contains("card removed"), "{why}");
    cdp.screenshot(&dialog, &shots, "dialog-6-card-pulled");
    cdp.wait_for(
        &tab,
        "location.pathname.startsWith('/error/')",
        &json!(true),
        "the issuer's page for the ended session",
    );
    drop(card_serve);
    std::thread::sleep(Duration::from_millis(600));
    // Reinsertion: no open provisioning session, no key.
    let _card_serve = serve(&card, None);
    let t =
        PcscTransport::connect_within(&ReaderSelector::Name(READER.into()), Duration::from_secs(5))
            .unwrap();
    let mut sks = ApduSks::new(t);
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
            .unwrap()
            .is_none(),
        "an open provisioning session survived the removal"
    );
    sks.into_transport().disconnect();
}
