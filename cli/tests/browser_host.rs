//! `airtight browser-host` over a pipe, as Chromium runs it: native-endian length + JSON on
//! stdin/stdout. A whole enrolment against the issuer over HTTP, and every kind of bad input
//! (another origin, a malformed message, an oversized one, a second start, a second host on
//! the same card): each gets a clear error and leaves no SKS provisioning session open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use airtight_cli::browser::{MAX_INCOMING, extension_origin};
use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::http::invocation_urls;
use airtight_proto::sks::{ProvisioningHandle, SecureKeyStore};
use common::{BIN, airtight};
use serde_json::{Value, json};

struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
}

impl Host {
    fn start(card: &Path, origin: &str) -> Host {
        let mut child = Command::new(BIN)
            .args(["browser-host", "--card-dir"])
            .arg(card)
            .arg("--")
            .arg(origin)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            loop {
                let mut len = [0u8; 4];
                if out.read_exact(&mut len).is_err() {
                    return;
                }
                let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
                if out.read_exact(&mut body).is_err() {
                    return;
                }
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        Host {
            stdin: child.stdin.take(),
            child,
            messages: rx,
        }
    }

    fn raw(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().unwrap();
        let _ = w.write_all(bytes);
        let _ = w.flush();
    }

    fn send(&mut self, v: &Value) {
        let body = serde_json::to_vec(v).unwrap();
        let mut f = u32::try_from(body.len()).unwrap().to_ne_bytes().to_vec();
        f.extend_from_slice(&body);
        self.raw(&f);
    }

    /// The next message that is not progress.
    fn next(&mut self) -> Value {
        loop {
            let m = self
                .messages
                .recv_timeout(Duration::from_secs(60))
                .expect("the host said nothing within 60 s");
            if m["type"] != "progress" {
                return m;
            }
        }
    }

    fn close(&mut self) {
        self.stdin = None;
    }

    fn exit(mut self) -> Option<i32> {
        self.close();
        common::wait_bounded(&mut self.child, Duration::from_secs(60), "browser-host").code()
    }
}

fn keygen2_url(base: &str, handle: &str) -> String {
    invocation_urls(base, handle).keygen2
}

/// Open provisioning sessions left on the card of `dir`.
fn open_sessions(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    let mut sks = airtight_cli::source::open_card_dir(dir, false, false, None).unwrap();
    let mut n = 0;
    let mut h = ProvisioningHandle::NONE;
    while let Some(s) = sks.enumerate_provisioning_sessions(h, true).unwrap() {
        n += 1;
        h = s.provisioning_handle;
    }
    n
}

#[test]
fn a_whole_enrolment_over_the_pipe() {
    let (server, store) = common::issuer(false);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let mut host = Host::start(&card, &extension_origin());
    host.send(&json!({"type": "start", "invocation": keygen2_url(server.base_url(), "browserhostinvite000001")}));
    let consent = host.next();
    assert_eq!(consent["type"], "consent", "{consent}");
    assert_eq!(consent["issuerOrigin"], server.base_url());
    host.send(&json!({"type": "consent", "accept": true}));
    let keys = host.next();
    assert_eq!(keys["type"], "keys", "{keys}");
    assert_eq!(keys["keys"][0]["id"], "Key.1");
    host.send(&json!({"type": "consent", "accept": true}));
    let pin = host.next();
    assert_eq!(pin["type"], "pin", "{pin}");
    // A PIN that breaks the policy (too short) is refused before the card sees it.
    host.send(&json!({"type": "pin", "pin": "12"}));
    let rejected = host.next();
    assert_eq!(rejected["type"], "pinRejected", "{rejected}");
    assert_eq!(host.next()["type"], "pin");
    host.send(&json!({"type": "pin", "pin": "1357"}));
    let done = host.next();
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(done["outcome"], "result", "{done}");
    let url = done["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/result/", server.base_url())),
        "{url}"
    );
    assert_eq!(host.exit(), Some(0));
    assert_eq!(store.issuances().unwrap().len(), 1);
    let keys = airtight(&["card", "keys", "--card-dir", card.to_str().unwrap()]);
    assert!(
        keys.ok() && keys.stdout.contains("Key.1"),
        "{}",
        keys.both()
    );
    assert_eq!(open_sessions(&card), 0);
}

#[test]
fn another_origin_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let mut host = Host::start(
        &card,
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop/",
    );
    let e = host.next();
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "origin", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("not allowed"),
        "{e}"
    );
    assert_eq!(host.exit(), Some(2));
    assert!(!card.exists(), "the card was touched");
}

#[test]
fn a_malformed_message_is_answered_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let mut host = Host::start(&card, &extension_origin());
    let body = b"{not json";
    let mut f = u32::try_from(body.len()).unwrap().to_ne_bytes().to_vec();
    f.extend_from_slice(body);
    host.raw(&f);
    let e = host.next();
    assert_eq!(e["code"], "malformed", "{e}");
    host.send(&json!({"type": "start", "invocation": "keygen2:?cookie=x"}));
    let e = host.next();
    assert_eq!(e["code"], "invocation", "{e}");
    assert_eq!(host.exit(), Some(0));
    assert_eq!(open_sessions(&card), 0);
}

#[test]
fn an_oversized_message_ends_the_host_and_aborts_the_session() {
    let (server, store) = common::issuer(false);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let mut host = Host::start(&card, &extension_origin());
    host.send(&json!({"type": "start", "invocation": keygen2_url(server.base_url(), "browserhostinvite000002")}));
    assert_eq!(host.next()["type"], "consent");
    host.send(&json!({"type": "consent", "accept": true}));
    assert_eq!(host.next()["type"], "keys");
    // The card has an open provisioning session now; an oversized message arrives.
    host.raw(&(MAX_INCOMING + 1).to_ne_bytes());
    let e = host.next();
    assert_eq!(e["code"], "oversized", "{e}");
    assert!(e["message"].as_str().unwrap().contains("65536"), "{e}");
    let done = host.next();
    assert_eq!(done["outcome"], "cancel", "{done}");
    assert!(host.exit().is_some());
    assert_eq!(open_sessions(&card), 0, "an SKS session was left open");
    assert!(store.issuances().unwrap().is_empty());
}

#[test]
fn a_second_start_is_busy_and_a_malformed_answer_cancels() {
    let (server, store) = common::issuer(false);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let mut host = Host::start(&card, &extension_origin());
    let url = keygen2_url(server.base_url(), "browserhostinvite000003");
    host.send(&json!({"type": "start", "invocation": url}));
    assert_eq!(host.next()["type"], "consent");
    host.send(&json!({"type": "start", "invocation": url}));
    let e = host.next();
    assert_eq!(e["code"], "busy", "{e}");
    // The first session goes on: accept, then answer the key question with garbage.
    host.send(&json!({"type": "consent", "accept": true}));
    assert_eq!(host.next()["type"], "keys");
    host.send(&json!({"type": "consent", "accept": "maybe"}));
    assert_eq!(host.next()["code"], "malformed");
    let done = host.next();
    assert_eq!(done["outcome"], "cancel", "{done}");
    // The cancel page of the issuer, reached with the issuer's session cookie.
    let url = done["url"].as_str().unwrap();
    assert!(url.contains("/error/"), "{url}");
    let page = ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(page.contains("Enrolment cancelled"), "{page}");
    assert_eq!(host.exit(), Some(0));
    assert_eq!(open_sessions(&card), 0, "an SKS session was left open");
    assert!(store.issuances().unwrap().is_empty());
}

#[test]
fn a_second_host_on_the_same_card_is_busy() {
    let (server, _store) = common::issuer(false);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let mut first = Host::start(&card, &extension_origin());
    first.send(&json!({"type": "start", "invocation": keygen2_url(server.base_url(), "browserhostinvite000004")}));
    assert_eq!(first.next()["type"], "consent");
    let mut second = Host::start(&card, &extension_origin());
    second.send(&json!({"type": "start", "invocation": keygen2_url(server.base_url(), "browserhostinvite000005")}));
    let e = second.next();
    assert_eq!(e["code"], "busy", "{e}");
    assert_eq!(second.exit(), Some(0));
    // Closing the port (the dialog closed) cancels the first session.
    first.close();
    assert_eq!(first.next()["outcome"], "cancel");
    assert_eq!(first.exit(), Some(0));
    assert_eq!(open_sessions(&card), 0, "an SKS session was left open");
}

#[test]
fn install_writes_the_manifest_and_uninstall_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("NativeMessagingHosts");
    let card = dir.path().join("card");
    let ran = airtight(&[
        "browser",
        "install",
        "--manifest-dir",
        hosts.to_str().unwrap(),
        "--card-dir",
        card.to_str().unwrap(),
        "--scheme-handler",
    ]);
    assert!(ran.ok(), "{}", ran.both());
    assert!(ran.stdout.contains("Load unpacked"), "{}", ran.stdout);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(hosts.join("org.airtight.keygen2.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["type"], "stdio");
    assert_eq!(manifest["allowed_origins"][0], extension_origin());
    let launcher = std::fs::read_to_string(manifest["path"].as_str().unwrap()).unwrap();
    assert!(launcher.contains("browser-host") && launcher.contains(card.to_str().unwrap()));
    let desktop = std::fs::read_to_string(hosts.join("airtight-keygen2.desktop")).unwrap();
    assert!(
        desktop.contains("MimeType=x-scheme-handler/keygen2;"),
        "{desktop}"
    );
    assert!(
        desktop.contains("browser open-url") && desktop.contains("%u"),
        "{desktop}"
    );
    assert!(hosts.join("airtight-extension/manifest.json").is_file());
    let ran = airtight(&[
        "browser",
        "uninstall",
        "--manifest-dir",
        hosts.to_str().unwrap(),
    ]);
    assert!(ran.ok(), "{}", ran.both());
    assert!(!hosts.join("org.airtight.keygen2.json").exists());
    assert!(!hosts.join("airtight-browser-host").exists());
    assert!(!hosts.join("airtight-keygen2.desktop").exists());
}

#[test]
fn the_scheme_handler_command_enrols_and_the_landing_page_follows() {
    let (server, store) = common::issuer(false);
    // The landing page registers its invitation; the keygen2: link it carries is what the
    // desktop hands to the scheme handler.
    let landing = ureq::get(server.base_url())
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let start = landing.find("href=\"keygen2:").unwrap() + 6;
    let end = start + landing[start..].find('"').unwrap();
    let url = landing[start..end].replace("&amp;", "&");
    let invitation = url
        .split("cookie=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .split("%3D")
        .nth(1)
        .unwrap()
        .to_owned();
    let status_url = format!("{}/status/{invitation}", server.base_url());
    let status = || {
        ureq::get(&status_url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    assert!(status().contains("waiting"), "{}", status());
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let ran = airtight(&[
        "browser",
        "open-url",
        &url,
        "--card-dir",
        card.to_str().unwrap(),
        "--yes",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
    ]);
    assert!(ran.ok(), "{}", ran.both());
    assert!(ran.stdout.contains("keys created: Key.1"), "{}", ran.both());
    assert_eq!(store.issuances().unwrap().len(), 1);
    let s = status();
    assert!(s.contains("\"done\"") && s.contains("/result/"), "{s}");
    let unknown = ureq::get(&format!(
        "{}/status/nosuchinvitation0000",
        server.base_url()
    ))
    .config()
    .http_status_as_error(false)
    .build()
    .call()
    .unwrap();
    assert_eq!(unknown.status(), 404);
}
