//! The browser path (`spec/browser.md`): `airtight browser-host`, the native-messaging host
//! the browser extension (`browser/extension/`) talks to, and `airtight browser
//! install|uninstall` that registers it (and, optionally, the desktop `keygen2:` scheme
//! handler).
//!
//! # The host
//!
//! Chromium starts the host once per `chrome.runtime.connectNative` port, with the calling
//! extension's origin as its first argument, and speaks native messaging over stdin/stdout:
//! each message is a 4-byte length in native byte order, then that many bytes of UTF-8 JSON.
//! The host:
//!
//! 1. refuses a caller whose origin is not on its allow-list (an `error` message with code
//!    `origin`, then exit; nothing else is read);
//! 2. waits for one `start` message carrying a `keygen2:` (or `intent://keygen2`) invocation
//!    URL, takes the card's lock (one session per card at a time), opens the card and runs the
//!    middleware over HTTP(S) itself, with the invocation's session cookie (so the TLS
//!    certificate binding of the session works as it does for `airtight enroll`);
//! 3. asks the extension for the user's answers (`consent`, `keys`, `pin`, `pinRejected`),
//!    reports each KeyGen2 message as `progress`, and ends with one `done` message naming
//!    the page the tab should show (`result`, `cancel` or `error`).
//!
//! Bad input never leaves an SKS provisioning session open: a malformed message is answered
//! with an `error` (code `malformed`) and, while a question is pending, counts as Cancel (the
//! middleware aborts the SKS session); a message over [`MAX_INCOMING`] bytes is answered with
//! an `error` (code `oversized`) and ends the host (the stream cannot be resynchronised), which
//! again aborts a running session; a second `start` while a session runs gets an `error`
//! (code `busy`) and does not disturb the first; a second host on the same card gets `busy`
//! before the card is opened.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airtight_client::engine::Middleware;
use airtight_client::error::Failure;
use airtight_client::http::{Direction, DriverError, HttpDriver, HttpOptions, session_context};
use airtight_client::pin::PinProblem;
use airtight_client::ui::{
    Consent, ConsentRequest, KeyCreationSummary, PinRequest, PinSource, UserInterface,
};
use airtight_client::url::{Invocation, parse_invocation};
use airtight_proto::sks::SecureKeyStore;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::source::{self, CardSource};
use crate::{CliError, card, driver};

// The framing and the extension's messages (a library module of the middleware, so that the
// fuzz targets reach them).
pub use airtight_client::native::{
    FrameError, Incoming, MAX_INCOMING, MAX_OUTGOING, error_message, parse_incoming, read_frame,
    write_frame,
};

/// The native-messaging host name (the manifest's `name`, what `connectNative` names).
pub const HOST_NAME: &str = "org.airtight.keygen2";

/// The id of the extension in `browser/extension/` (fixed by the `key` of its manifest).
pub const EXTENSION_ID: &str = "dofaphihjgakbfkehfbcojkoncjjabdh";

/// How long the host waits for the user's answer to one question before it cancels.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// The origin of the extension in `browser/extension/`.
pub fn extension_origin() -> String {
    format!("chrome-extension://{EXTENSION_ID}/")
}

/// What the reader thread hands to the session.
#[derive(Debug)]
enum Event {
    Message(Incoming),
    /// A malformed message (already answered with an error).
    Malformed,
    /// The stream ended or broke (already answered where possible).
    Gone,
}

type Out = Arc<Mutex<Box<dyn Write + Send>>>;

fn send(out: &Out, message: &Value) {
    if let Ok(mut w) = out.lock() {
        // A browser that went away cannot be told anything more.
        let _ = write_frame(&mut *w, message);
    }
}

/// Options of `airtight browser-host`.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The card.
    pub source: CardSource,
    /// Extension origins allowed to call the host (`chrome-extension://ID/`).
    pub allowed_origins: Vec<String>,
    /// Trust anchors (DER) for `https://` issuers.
    pub trust_anchors: Vec<Vec<u8>>,
    /// How long one question may wait for the user.
    pub answer_timeout: Duration,
}

/// The dialogs, answered by the extension.
struct HostUi {
    out: Out,
    events: Arc<Mutex<Receiver<Event>>>,
    timeout: Duration,
}

impl HostUi {
    /// Sends `question` and waits for the answer `pick` accepts; anything else (a malformed
    /// message, Cancel, the browser gone, no answer in time) is `None`: the middleware then
    /// aborts the SKS session.
    fn ask<T>(
        &self,
        question: &Value,
        pick: impl Fn(Incoming) -> Result<T, Incoming>,
    ) -> Option<T> {
        send(&self.out, question);
        let events = self.events.lock().ok()?;
        loop {
            match events.recv_timeout(self.timeout) {
                Ok(Event::Message(Incoming::Cancel)) => return None,
                Ok(Event::Message(m)) => match pick(m) {
                    Ok(t) => return Some(t),
                    Err(other) => send(
                        &self.out,
                        &error_message(
                            "unexpected",
                            &format!("{other:?} does not answer the pending question; cancelled"),
                        ),
                    ),
                },
                Ok(Event::Malformed) | Ok(Event::Gone) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    send(
                        &self.out,
                        &error_message("timeout", "no answer in time; the session is cancelled"),
                    );
                    return None;
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

fn consent_of(accepted: Option<bool>) -> Consent {
    match accepted {
        Some(true) => Consent::Accept,
        _ => Consent::Decline,
    }
}

impl UserInterface for HostUi {
    fn consent(&mut self, r: &ConsentRequest) -> Consent {
        let q = json!({
            "type": "consent",
            "issuerOrigin": r.issuer_origin,
            "action": r.action.as_str(),
            "privacy": r.privacy_enabled,
            "device": format!("{} {}", r.device_vendor, r.device_description),
        });
        consent_of(self.ask(&q, |m| match m {
            Incoming::Consent { accept } => Ok(accept),
            other => Err(other),
        }))
    }

    fn confirm_keys(&mut self, s: &KeyCreationSummary) -> Consent {
        let keys: Vec<Value> = s
            .keys
            .iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "algorithm": k.key_algorithm.rsplit(['#', '.']).next().unwrap_or(&k.key_algorithm),
                    "appUsage": format!("{:?}", k.app_usage).to_lowercase(),
                    "friendlyName": k.friendly_name,
                    "pinPolicy": k.pin_policy,
                    "presetPin": k.preset_pin,
                })
            })
            .collect();
        let q = json!({
            "type": "keys",
            "issuerOrigin": s.issuer_origin,
            "pinPolicies": s.pin_policies,
            "pukPolicies": s.puk_policies,
            "keys": keys,
        });
        consent_of(self.ask(&q, |m| match m {
            Incoming::Consent { accept } => Ok(accept),
            other => Err(other),
        }))
    }

    fn collect_pin(&mut self, r: &PinRequest) -> Option<Zeroizing<String>> {
        let q = json!({
            "type": "pin",
            "issuerOrigin": r.issuer_origin,
            "pinPolicy": r.pin_policy,
            "keyIds": r.key_ids,
            "format": r.format.to_string(),
            "minLength": r.min_length,
            "maxLength": r.max_length,
            "grouping": format!("{:?}", r.grouping).to_lowercase(),
            "patterns": r.pattern_restrictions,
            "attempt": r.attempt,
        });
        self.ask(&q, |m| match m {
            Incoming::Pin { pin } => Ok(pin),
            other => Err(other),
        })
        .flatten()
    }

    fn pin_rejected(&mut self, _r: &PinRequest, problem: &PinProblem) {
        send(
            &self.out,
            &json!({"type": "pinRejected", "problem": problem.to_string()}),
        );
    }
}

/// How a session ended, for the `done` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// `result`, `cancel` or `error`.
    pub outcome: &'static str,
    /// The page the tab should show, if the issuer named one.
    pub url: Option<String>,
    /// What happened, in words.
    pub message: String,
    /// The keys created.
    pub keys: Vec<String>,
}

impl Finished {
    fn to_json(&self) -> Value {
        json!({
            "type": "done",
            "outcome": self.outcome,
            "url": self.url,
            "message": self.message,
            "keys": self.keys,
        })
    }
}

/// The lock file of a card: one host session per card at a time.
fn lock_path(source: &CardSource) -> PathBuf {
    let id = match source {
        CardSource::Dir(d) => format!(
            "dir:{}",
            std::fs::canonicalize(d)
                .unwrap_or_else(|_| d.clone())
                .display()
        ),
        other => format!("{other:?}"),
    };
    let digest = airtight_proto::keys::sha256(id.as_bytes());
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("airtight-browser-host-{name}.lock"))
}

/// Runs the host on `input`/`output` for the caller `origin` (argv[1]).
pub fn run_host(
    origin: Option<&str>,
    input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
    opts: &HostOptions,
) -> Result<(), CliError> {
    let out: Out = Arc::new(Mutex::new(Box::new(output)));
    let caller = origin.unwrap_or("");
    if !opts.allowed_origins.iter().any(|o| o == caller) {
        let m = format!(
            "the caller {:?} is not allowed to use this host (allowed: {}); nothing was read",
            airtight_client::url::clip(caller, 80),
            opts.allowed_origins.join(", ")
        );
        send(&out, &error_message("origin", &m));
        return Err(CliError::Usage(m));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let busy = Arc::new(AtomicBool::new(false));
    {
        let (out, busy) = (out.clone(), busy.clone());
        std::thread::spawn(move || reader(input, &out, &busy, &tx));
    }
    let events = Arc::new(Mutex::new(rx));
    loop {
        let next = events
            .lock()
            .map_err(|_| CliError::Io("host state poisoned".into()))?
            .recv();
        match next {
            Ok(Event::Message(Incoming::Start { invocation })) => {
                let finished = session(&invocation, opts, &out, events.clone());
                match finished {
                    Ok(f) => send(&out, &f.to_json()),
                    Err((code, m)) => send(&out, &error_message(code, &m)),
                }
                // One session per host process: the extension opens a new port for the next.
                return Ok(());
            }
            Ok(Event::Message(other)) => send(
                &out,
                &error_message(
                    "unexpected",
                    &format!("{other:?} before a start message; ignored"),
                ),
            ),
            Ok(Event::Malformed) => {}
            Ok(Event::Gone) | Err(_) => return Ok(()),
        }
    }
}

/// Reads messages until the stream ends; answers what it can itself (malformed, oversized, a
/// second start) and passes the rest on.
fn reader(mut input: impl Read, out: &Out, busy: &AtomicBool, tx: &Sender<Event>) {
    loop {
        let event = match read_frame(&mut input) {
            Ok(bytes) => match parse_incoming(&bytes) {
                Ok(Incoming::Start { .. }) if busy.swap(true, Ordering::SeqCst) => {
                    send(
                        out,
                        &error_message(
                            "busy",
                            "a session is already running on this connection; this start \
                             request is refused (the running session goes on)",
                        ),
                    );
                    continue;
                }
                Ok(m) => Event::Message(m),
                Err(m) => {
                    send(
                        out,
                        &error_message("malformed", &format!("malformed message: {m}")),
                    );
                    Event::Malformed
                }
            },
            Err(FrameError::Closed) => {
                let _ = tx.send(Event::Gone);
                return;
            }
            Err(e) => {
                let code = if matches!(e, FrameError::Oversized(_)) {
                    "oversized"
                } else {
                    "malformed"
                };
                send(out, &error_message(code, &format!("{e}; the host stops")));
                let _ = tx.send(Event::Gone);
                return;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// One session: the lock, the card, the protocol. `Err((code, message))` when nothing was
/// started on the card.
fn session(
    invocation: &str,
    opts: &HostOptions,
    out: &Out,
    events: Arc<Mutex<Receiver<Event>>>,
) -> Result<Finished, (&'static str, String)> {
    let inv = parse_invocation(invocation)
        .map_err(|e| ("invocation", driver::explain(&driver::EnrollError::Url(e))))?;
    if inv.init_url.starts_with("https://") && opts.trust_anchors.is_empty() {
        return Err((
            "invocation",
            "[KG2-HTP-010] an https:// issuer and no trust anchor: install the host with \
             --trust-anchor FILE.pem (there are no built-in roots)"
                .into(),
        ));
    }
    let lock_file = lock_path(&opts.source);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_file)
        .map_err(|e| ("card", format!("{}: {e}", lock_file.display())))?;
    if lock.try_lock().is_err() {
        return Err((
            "busy",
            "another enrolment is using this card; try again when it has finished".into(),
        ));
    }
    let mut sks = source::open(&opts.source, true).map_err(|e| ("card", e.to_string()))?;
    let before = match &opts.source {
        CardSource::Dir(_) => card::keys_of(&mut *sks).map_err(|e| ("card", e.to_string()))?,
        _ => Vec::new(),
    };
    let (ptx, prx) = std::sync::mpsc::channel::<(Direction, String)>();
    let forward = {
        let out = out.clone();
        std::thread::spawn(move || {
            for (n, (direction, qualifier)) in prx.into_iter().enumerate() {
                send(
                    &out,
                    &json!({
                        "type": "progress",
                        "index": n + 1,
                        "from": match direction { Direction::Issuer => "issuer", Direction::Middleware => "card" },
                        "message": qualifier,
                    }),
                );
            }
        })
    };
    let ui = HostUi {
        out: out.clone(),
        events,
        timeout: opts.answer_timeout,
    };
    let mut options = HttpOptions::default();
    options.trust_anchors.clone_from(&opts.trust_anchors);
    let (finished, mw) = drive(&inv, options, sks, ui, ptx);
    let _ = forward.join();
    if let (CardSource::Dir(dir), Some(mw), "result") = (&opts.source, mw, finished.outcome) {
        let mut sks = mw.into_sks();
        if let Ok(after) = card::keys_of(&mut *sks) {
            // The issuer's key ids, so that `card sign --key Key.1` finds the key.
            let _ = card::record_key_ids(dir, &before, &after, &finished.keys);
        }
    }
    drop(lock);
    Ok(finished)
}

/// Runs the middleware over HTTP and says how it ended. The driver does not fetch the cancel
/// URL itself: the host does, with the issuer's session cookie, to learn the page to show.
fn drive<S: SecureKeyStore>(
    inv: &Invocation,
    options: HttpOptions,
    sks: S,
    ui: HostUi,
    progress: Sender<(Direction, String)>,
) -> (Finished, Option<Middleware<S>>) {
    let mut driver_inv = inv.clone();
    driver_inv.cancel_url = None;
    let mut mw = Middleware::new(sks, session_context(inv))
        .with_ui(Box::new(ui))
        .with_pin_source(PinSource::Interactive { max_attempts: 3 });
    let mut http = HttpDriver::new(options).with_progress(progress);
    let result = http.run(&driver_inv, &mut mw);
    let post = inv.post_url();
    let end_session = |http: &HttpDriver| {
        inv.cancel_url.as_deref().and_then(|c| {
            driver::end_issuer_session(c, http.cookie_header().as_deref())
                .map(|l| driver::absolute(&post, &l))
        })
    };
    let finished = match result {
        Ok(done) => {
            let keys = done.outcome.created_keys.clone();
            match done.final_page {
                Some(p) if p.contains("/error/") => Finished {
                    outcome: "error",
                    url: Some(p),
                    message: "the issuer did not accept the end of the session".into(),
                    keys: Vec::new(),
                },
                page => Finished {
                    outcome: "result",
                    url: page,
                    message: format!("keys created: {}", keys.join(", ")),
                    keys,
                },
            }
        }
        Err(DriverError::Redirected { location, .. }) => Finished {
            outcome: "error",
            url: location.map(|l| driver::absolute(&post, &l)),
            message: "the issuer refused the session".into(),
            keys: Vec::new(),
        },
        Err(DriverError::Client { error, .. })
            if matches!(
                error.failure,
                Failure::ConsentDeclined | Failure::PinSourceExhausted { .. }
            ) =>
        {
            Finished {
                outcome: "cancel",
                url: end_session(&http).or_else(|| inv.cancel_url.clone()),
                message: "cancelled; nothing was created".into(),
                keys: Vec::new(),
            }
        }
        Err(e @ DriverError::Client { .. }) => Finished {
            outcome: "error",
            url: end_session(&http),
            message: driver::explain(&driver::EnrollError::Driver(e)),
            keys: Vec::new(),
        },
        Err(e) => Finished {
            outcome: "error",
            url: None,
            message: driver::explain(&driver::EnrollError::Driver(e)),
            keys: Vec::new(),
        },
    };
    (finished, Some(mw))
}

/// Where `browser install` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPaths {
    /// The host manifest (`<dir>/org.airtight.keygen2.json`).
    pub manifest: PathBuf,
    /// The launcher script the manifest names (the host with its options).
    pub launcher: PathBuf,
    /// A copy of the extension, to load unpacked.
    pub extension: PathBuf,
    /// The `.desktop` file of the `keygen2:` scheme handler.
    pub desktop: PathBuf,
}

/// The install locations: `--system` (`/etc/chromium/native-messaging-hosts`,
/// `/usr/local/lib/airtight`, `/usr/share/applications`), else the user's (`~/.config/chromium/
/// NativeMessagingHosts`, `$XDG_DATA_HOME/airtight`, `$XDG_DATA_HOME/applications`);
/// `manifest_dir` overrides the manifest folder and puts the rest beside it (a browser
/// profile's `<user-data-dir>/NativeMessagingHosts`).
pub fn install_paths(system: bool, manifest_dir: Option<&Path>) -> Result<InstallPaths, CliError> {
    let file = format!("{HOST_NAME}.json");
    if let Some(d) = manifest_dir {
        return Ok(InstallPaths {
            manifest: d.join(&file),
            launcher: d.join("airtight-browser-host"),
            extension: d.join("airtight-extension"),
            desktop: d.join("airtight-keygen2.desktop"),
        });
    }
    if system {
        return Ok(InstallPaths {
            manifest: PathBuf::from("/etc/chromium/native-messaging-hosts").join(&file),
            launcher: PathBuf::from("/usr/local/lib/airtight/browser-host"),
            extension: PathBuf::from("/usr/local/lib/airtight/extension"),
            desktop: PathBuf::from("/usr/share/applications/airtight-keygen2.desktop"),
        });
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| CliError::Usage("HOME is not set; use --manifest-dir".into()))?;
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".local/share"));
    Ok(InstallPaths {
        manifest: config.join("chromium/NativeMessagingHosts").join(&file),
        launcher: data.join("airtight/browser-host"),
        extension: data.join("airtight/extension"),
        desktop: data.join("applications/airtight-keygen2.desktop"),
    })
}

/// The extension's files, built into the binary so that `browser install` can write them.
pub const EXTENSION_FILES: &[(&str, &str)] = &[
    (
        "manifest.json",
        include_str!("../../browser/extension/manifest.json"),
    ),
    (
        "background.js",
        include_str!("../../browser/extension/background.js"),
    ),
    (
        "content.js",
        include_str!("../../browser/extension/content.js"),
    ),
    (
        "dialog.html",
        include_str!("../../browser/extension/dialog.html"),
    ),
    (
        "dialog.css",
        include_str!("../../browser/extension/dialog.css"),
    ),
    (
        "dialog.js",
        include_str!("../../browser/extension/dialog.js"),
    ),
];

/// The certificates (DER) of PEM files, for `https://` issuers.
pub fn load_trust_anchors(files: &[PathBuf]) -> Result<Vec<Vec<u8>>, CliError> {
    let mut all = Vec::new();
    for f in files {
        let pem = std::fs::read_to_string(f)
            .map_err(|e| CliError::Io(format!("{}: {e}", f.display())))?;
        let ders: Vec<Vec<u8>> = airtight_pki::pem::decode_all(&pem)
            .map_err(|e| CliError::Config(format!("{}: {e}", f.display())))?
            .into_iter()
            .filter(|(label, _)| label == airtight_pki::pem::CERTIFICATE)
            .map(|(_, der)| der)
            .collect();
        if ders.is_empty() {
            return Err(CliError::Config(format!("{}: no certificate", f.display())));
        }
        all.extend(ders);
    }
    Ok(all)
}

/// A single-quoted shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What the launcher passes to the host: the card and the trust anchors.
#[derive(Debug, Clone, Default)]
pub struct HostArgs {
    /// `--card-dir`, `--reader NAME`, `--reader-atr HEX` or `--shim LINE`, as words.
    pub card: Vec<String>,
    /// `--trust-anchor` files (absolute).
    pub trust_anchors: Vec<PathBuf>,
    /// Extension origins besides the built-in one.
    pub extra_origins: Vec<String>,
}

fn absolute_path(p: &Path) -> Result<PathBuf, CliError> {
    if p.is_absolute() {
        return Ok(p.to_owned());
    }
    std::env::current_dir()
        .map(|c| c.join(p))
        .map_err(|e| CliError::Io(format!("current directory: {e}")))
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Io(format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// `browser install`: writes the launcher, the host manifest, a copy of the extension and,
/// with `scheme_handler`, the `.desktop` file; returns what to tell the user.
pub fn install(
    paths: &InstallPaths,
    args: &HostArgs,
    scheme_handler: bool,
) -> Result<String, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Io(format!("the airtight binary's path: {e}")))?;
    let mut words = vec![
        shell_quote(&exe.display().to_string()),
        "browser-host".to_owned(),
    ];
    let mut card_words = Vec::new();
    let mut it = args.card.iter();
    while let Some(w) = it.next() {
        card_words.push(shell_quote(w));
        if w == "--card-dir"
            && let Some(d) = it.next()
        {
            card_words.push(shell_quote(
                &absolute_path(Path::new(d))?.display().to_string(),
            ));
        }
    }
    words.extend(card_words.iter().cloned());
    let mut anchor_words = Vec::new();
    for t in &args.trust_anchors {
        anchor_words.push("--trust-anchor".to_owned());
        anchor_words.push(shell_quote(&absolute_path(t)?.display().to_string()));
    }
    words.extend(anchor_words.iter().cloned());
    for o in &args.extra_origins {
        words.push("--allow-origin".to_owned());
        words.push(shell_quote(o));
    }
    let launcher = format!(
        "#!/bin/sh\n# Written by `airtight browser install`: the native-messaging host of the \
         airtight extension.\n# Chromium passes the caller's origin as the first argument.\n\
         exec {} -- \"$@\"\n",
        words.join(" ")
    );
    write_file(&paths.launcher, &launcher, 0o755)?;
    let mut origins = vec![extension_origin()];
    origins.extend(args.extra_origins.iter().cloned());
    let manifest = json!({
        "name": HOST_NAME,
        "description": "airtight KeyGen2 middleware (enrolment into a Secure Key Store)",
        "path": paths.launcher.display().to_string(),
        "type": "stdio",
        "allowed_origins": origins,
    });
    let manifest_text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| CliError::Io(format!("manifest: {e}")))?;
    write_file(&paths.manifest, &format!("{manifest_text}\n"), 0o644)?;
    for (name, text) in EXTENSION_FILES {
        write_file(&paths.extension.join(name), text, 0o644)?;
    }
    let mut said = format!(
        "wrote the host manifest {}\nwrote the host launcher {} (the card it enrols into: {})\n\
         wrote the extension to {}\n\n\
         Load the extension once: open chrome://extensions in Chromium, switch on \
         \"Developer mode\", click \"Load unpacked\" and choose\n  {}\n(its id is {EXTENSION_ID}). \
         Then open an issuer's page and click its enrol link.\n",
        paths.manifest.display(),
        paths.launcher.display(),
        card_words.join(" "),
        paths.extension.display(),
        paths.extension.display(),
    );
    if scheme_handler {
        let mut exec = vec![
            exe.display().to_string(),
            "browser".to_owned(),
            "open-url".to_owned(),
        ];
        exec.extend(card_words.iter().map(|w| desktop_word(&unquote(w))));
        exec.extend(anchor_words.iter().map(|w| desktop_word(&unquote(w))));
        exec.push("%u".to_owned());
        let desktop = format!(
            "[Desktop Entry]\nType=Application\nName=airtight KeyGen2 enrolment\n\
             Comment=Provisions keys into your Secure Key Store for an issuer web page\n\
             Exec={}\nTerminal=true\nNoDisplay=true\nMimeType=x-scheme-handler/keygen2;\n",
            exec.iter()
                .map(|w| if w == "%u" {
                    w.clone()
                } else {
                    desktop_word(w)
                })
                .collect::<Vec<_>>()
                .join(" ")
        );
        write_file(&paths.desktop, &desktop, 0o644)?;
        let name = paths
            .desktop
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        said.push_str(&format!(
            "wrote the keygen2: scheme handler {}\nMake it the handler of keygen2: links with\n  \
             xdg-mime default {name} x-scheme-handler/keygen2\n",
            paths.desktop.display()
        ));
    }
    Ok(said)
}

fn unquote(w: &str) -> String {
    w.strip_prefix('\'')
        .and_then(|w| w.strip_suffix('\''))
        .map(|w| w.replace("'\\''", "'"))
        .unwrap_or_else(|| w.to_owned())
}

/// One argument of a `.desktop` `Exec` line (quoted when it needs to be).
fn desktop_word(w: &str) -> String {
    if w.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
        && !w.is_empty()
    {
        return w.to_owned();
    }
    let escaped = w
        .replace('\\', "\\\\\\\\")
        .replace('"', "\\\\\"")
        .replace('`', "\\\\`")
        .replace('$', "\\\\$")
        .replace('%', "%%");
    format!("\"{escaped}\"")
}

/// `browser uninstall`: removes what `install` wrote; returns what was removed.
pub fn uninstall(paths: &InstallPaths) -> Result<String, CliError> {
    let mut said = String::new();
    for f in [&paths.manifest, &paths.launcher, &paths.desktop] {
        match std::fs::remove_file(f) {
            Ok(()) => said.push_str(&format!("removed {}\n", f.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::Io(format!("{}: {e}", f.display()))),
        }
    }
    if paths.extension.join("manifest.json").is_file() {
        for (name, _) in EXTENSION_FILES {
            let _ = std::fs::remove_file(paths.extension.join(name));
        }
        let _ = std::fs::remove_dir(&paths.extension);
        said.push_str(&format!("removed {}\n", paths.extension.display()));
    }
    if said.is_empty() {
        said.push_str("nothing was installed there\n");
    }
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_id_is_the_key_of_its_manifest() {
        // Chromium's rule: SHA-256 of the DER public key, first 32 hex digits mapped 0-f to a-p.
        let manifest: Value = serde_json::from_str(EXTENSION_FILES[0].1).unwrap_or_default();
        let key = manifest["key"].as_str().unwrap_or("");
        let der = base64_decode(key);
        assert!(!der.is_empty());
        let digest = airtight_proto::keys::sha256(&der);
        let id: String = digest[..16]
            .iter()
            .flat_map(|b| [b >> 4, b & 15])
            .map(|n| char::from(b'a' + n))
            .collect();
        assert_eq!(id, EXTENSION_ID);
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|c| *c != b'=') {
            let Some(v) = A.iter().position(|a| *a == c) else {
                return Vec::new();
            };
            acc = (acc << 6) | u32::try_from(v).unwrap_or(0);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push(u8::try_from((acc >> bits) & 0xff).unwrap_or(0));
            }
        }
        out
    }

    #[test]
    fn desktop_words_are_quoted() {
        assert_eq!(desktop_word("/usr/bin/airtight"), "/usr/bin/airtight");
        assert_eq!(desktop_word("a b"), "\"a b\"");
        assert_eq!(desktop_word("100%"), "\"100%%\"");
        assert_eq!(unquote(&shell_quote("it's")), "it's");
    }
}
