//! Which card a middleware-side command (`enroll`, `card info|keys|sign`) talks to: the
//! file-backed reference card in-process (the default), a card in a PC/SC reader (`--reader`,
//! `--reader-atr`; cargo feature `pcsc`), or an SKS shim process (`--shim`). And the card side
//! of those links: `card serve --vpcd` and `card shim`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use airtight_bindings::shim::{ShimOptions, ShimServerOptions, ShimSks, serve_shim};
use airtight_bindings::vpcd::{VpcdOptions, serve_vpcd};
use airtight_bindings::{ApduDispatcher, abort_open_sessions};
use airtight_card::{CardConfig, ReferenceSks, StoreSeal};
use airtight_proto::sks::SecureKeyStore;

use crate::{CliError, card};

/// How long `--reader` waits for the card to answer (a virtual card needs up to one pcscd
/// poll, ~0.4 s, to be seen).
pub const READER_WAIT: Duration = Duration::from_secs(3);

/// Where the card is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardSource {
    /// The file-backed reference card in this directory, in-process.
    Dir(PathBuf),
    /// The card in the PC/SC reader with exactly this name.
    Reader(String),
    /// The first card in any PC/SC reader with exactly this ATR.
    ReaderAtr(Vec<u8>),
    /// A shim process started from this command line (`spec/shim.md`).
    Shim(String),
}

impl CardSource {
    /// The source the options name; at most one of `reader`, `reader_atr`, `shim` (clap
    /// enforces it), else the card directory.
    pub fn from_options(
        card_dir: &Path,
        reader: Option<String>,
        reader_atr: Option<String>,
        shim: Option<String>,
    ) -> Result<Self, CliError> {
        Ok(match (reader, reader_atr, shim) {
            (Some(r), None, None) => CardSource::Reader(r),
            (None, Some(a), None) => CardSource::ReaderAtr(parse_hex(&a)?),
            (None, None, Some(s)) => CardSource::Shim(s),
            (None, None, None) => CardSource::Dir(card_dir.to_owned()),
            _ => {
                return Err(CliError::Usage(
                    "--reader, --reader-atr and --shim exclude each other".into(),
                ));
            }
        })
    }
}

/// Hex digits, optionally separated by spaces or colons.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, CliError> {
    let digits: Vec<u8> = s.bytes().filter(|b| !matches!(b, b' ' | b':')).collect();
    let bad = || {
        CliError::Usage(format!(
            "--reader-atr: {s:?} is not hex bytes (e.g. 3B80800101)"
        ))
    };
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(bad());
    }
    digits
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// Splits a command line into words: whitespace separates, single quotes keep everything,
/// double quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes the
/// next character. No expansion of any kind.
pub fn split_command_line(line: &str) -> Result<Vec<String>, CliError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let unterminated = || CliError::Usage(format!("--shim: unterminated quote in {line:?}"));
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(unterminated()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(unterminated()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(unterminated()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err(CliError::Usage("--shim: empty command line".into()));
    }
    Ok(words)
}

/// The environment variable that holds the card store's passphrase: when set, the store is
/// sealed with a key derived from the device key *and* this passphrase (both needed to read
/// it); a store is sealed one way for good.
pub const PASSPHRASE_ENV: &str = "AIRTIGHT_CARD_PASSPHRASE";

/// Makes the card directory private: created mode 0700 when `create` and absent; an existing
/// one readable or writable by others is tightened to 0700, with a warning (it holds the
/// device key and the store).
pub fn private_card_dir(dir: &Path, create: bool) -> Result<(), CliError> {
    use airtight_card::store::vfs;
    let io = |e: std::io::Error| CliError::Io(format!("{}: {e}", dir.display()));
    if dir.is_dir() {
        for t in vfs::tighten_dir_only(dir).map_err(io)? {
            warn(&format!(
                "{t}: the card directory was open to other users; tightened"
            ));
        }
    } else if create {
        vfs::create_private_dir(dir).map_err(io)?;
    }
    Ok(())
}

fn warn(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
}

/// Opens the file-backed card of `dir` (created if `create`), with the store's passphrase
/// from [`PASSPHRASE_ENV`] if set, and prints the store's warnings (tightened permissions,
/// what a power cut left, an older format) to stderr. `accept_loss`: open a store that is
/// behind its commit counter (`card repair --accept-loss`). `test_device_pin`: the device-PIN
/// test mode (`--test-device-pin`; keys with `devicePinProtection` accept exactly that PIN).
pub fn open_card_dir(
    dir: &Path,
    create: bool,
    accept_loss: bool,
    test_device_pin: Option<&[u8]>,
) -> Result<ReferenceSks, CliError> {
    private_card_dir(dir, create)?;
    let identity = card::device_identity(dir, create)?;
    let key = identity
        .signing_key
        .to_pkcs8_der()
        .map_err(|e| CliError::Card(format!("device key: {e}")))?;
    let mut config = CardConfig::production(
        key,
        identity.certificate_path.clone(),
        dir.join(card::STORE_DIR),
    );
    config.accept_store_loss = accept_loss;
    if let Some(pin) = test_device_pin {
        config = config.with_test_device_pin(pin);
    }
    if let Some(p) = std::env::var_os(PASSPHRASE_ENV).filter(|p| !p.is_empty()) {
        let p = p
            .into_string()
            .map_err(|_| CliError::Usage(format!("{PASSPHRASE_ENV} is not valid UTF-8")))?;
        config.store_seal = StoreSeal::passphrase(p);
    }
    let sks = ReferenceSks::open(config)
        .map_err(|e| CliError::Card(format!("{}: {e}", dir.display())))?;
    for n in sks.store_notices() {
        warn(&format!("card store: {n}"));
    }
    Ok(sks)
}

/// `card repair [--accept-loss]`: what the store found, then the repair (a rewrite of the
/// store: the torn tail dropped, an older format sealed, an accepted loss made final). A
/// store behind its commit counter is refused unless `accept_loss`. Returns the report.
pub fn repair_card(source: &CardSource, accept_loss: bool) -> Result<String, CliError> {
    let CardSource::Dir(dir) = source else {
        return Err(CliError::Usage(
            "`card repair` repairs the store of --card-dir; --reader, --reader-atr and --shim \
             do not apply"
                .into(),
        ));
    };
    let mut sks = open_card_dir(dir, false, accept_loss, None)?;
    let recovery = sks.store_recovery();
    if !recovery.needs_repair() {
        return Ok(format!(
            "the card store in {} is consistent (commit {}); nothing to repair\n",
            dir.display(),
            recovery.commit
        ));
    }
    sks.repair_store()
        .map_err(|e| CliError::Card(format!("{}: repair: {e}", dir.display())))?;
    let mut out = format!("repaired the card store in {}:\n", dir.display());
    for n in sks.store_notices() {
        out.push_str("  ");
        out.push_str(&n);
        out.push('\n');
    }
    Ok(out)
}

/// Opens the card of `source`. `create` creates a missing card directory (enrolment).
pub fn open(source: &CardSource, create: bool) -> Result<Box<dyn SecureKeyStore>, CliError> {
    match source {
        CardSource::Dir(dir) => Ok(Box::new(open_card_dir(dir, create, false, None)?)),
        CardSource::Shim(line) => {
            let words = split_command_line(line)?;
            let mut cmd = std::process::Command::new(&words[0]);
            cmd.args(&words[1..]);
            let sks = ShimSks::spawn(cmd, ShimOptions::default())
                .map_err(|e| CliError::Card(format!("shim {:?}: {e}", words[0])))?;
            Ok(Box::new(sks))
        }
        CardSource::Reader(_) | CardSource::ReaderAtr(_) => open_reader(source),
    }
}

#[cfg(feature = "pcsc")]
fn open_reader(source: &CardSource) -> Result<Box<dyn SecureKeyStore>, CliError> {
    Ok(Box::new(open_pcsc(source)?))
}

/// The card of a `--reader`/`--reader-atr` source, selected, with its link metrics.
#[cfg(feature = "pcsc")]
pub fn open_pcsc(
    source: &CardSource,
) -> Result<airtight_bindings::ApduSks<airtight_bindings::pcsc::PcscTransport>, CliError> {
    use airtight_bindings::ApduSks;
    use airtight_bindings::client::TransportError;
    use airtight_bindings::pcsc::{PcscTransport, ReaderSelector};

    let selector = match source {
        CardSource::Reader(name) => ReaderSelector::Name(name.clone()),
        CardSource::ReaderAtr(atr) => ReaderSelector::Atr(atr.clone()),
        _ => return Err(CliError::Usage("not a reader".into())),
    };
    let transport = PcscTransport::connect_within(&selector, READER_WAIT).map_err(|e| {
        CliError::Card(match e {
            TransportError::NoService(why) => {
                format!("PC/SC service not available ({why}): is pcscd running?")
            }
            TransportError::NoReader => "no smart-card reader is connected".into(),
            TransportError::ReaderNotFound { wanted, present } => {
                let present = if present.is_empty() {
                    "none".to_owned()
                } else {
                    present
                        .iter()
                        .map(|r| format!("{r:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                match source {
                    CardSource::ReaderAtr(_) => {
                        format!("no reader holds a {wanted}; readers present: {present}")
                    }
                    _ => format!("no reader {wanted:?}; readers present: {present}"),
                }
            }
            TransportError::NoCard(r) => format!("no card in reader {r:?}"),
            other => other.to_string(),
        })
    })?;
    let reader = transport.reader().to_string_lossy().into_owned();
    let mut sks = ApduSks::new(transport);
    sks.select()
        .map_err(|e| CliError::Card(format!("the card in {reader:?} has no SKS applet: {e}")))?;
    Ok(sks)
}

#[cfg(not(feature = "pcsc"))]
fn open_reader(_: &CardSource) -> Result<Box<dyn SecureKeyStore>, CliError> {
    Err(CliError::Usage(
        "--reader and --reader-atr need PC/SC support, which this airtight was built without: \
         build it with `cargo build -p airtight-cli --features pcsc` (needs libpcsclite-dev \
         and pkg-config)"
            .into(),
    ))
}

/// Sets `stop` on SIGINT or SIGTERM (from a background thread).
fn stop_on_signals(stop: Arc<AtomicBool>) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(format!("signal handling: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    match signal(SignalKind::terminate()) {
                        Ok(mut term) => {
                            tokio::select! {
                                _ = tokio::signal::ctrl_c() => {}
                                _ = term.recv() => {}
                            }
                        }
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
            });
            stop.store(true, Ordering::SeqCst);
        })
        .map_err(|e| CliError::Io(format!("signal handling: {e}")))?;
    Ok(())
}

/// Opens the card of `dir` for serving: a card that is powered up has no open provisioning
/// session ([`abort_open_sessions`]), whatever happened to the last process.
fn open_for_serving(dir: &Path, test_device_pin: Option<&[u8]>) -> Result<ReferenceSks, CliError> {
    let mut sks = open_card_dir(dir, true, false, test_device_pin)?;
    abort_open_sessions(&mut sks);
    Ok(sks)
}

/// `card serve --vpcd ADDR`: the card of `dir` in the vpcd reader at `addr` until SIGINT or
/// SIGTERM. Reconnects when pcscd goes away; a dropped connection is a power loss (open
/// provisioning sessions are aborted). `drop_after`: pull the card (close the connection
/// without answering, then exit) on the APDU after that many answered ones (a test hook).
pub fn serve_vpcd_card(
    dir: &Path,
    addr: SocketAddr,
    drop_after: Option<u64>,
    test_device_pin: Option<&[u8]>,
    log: &mut dyn FnMut(&str),
) -> Result<(), CliError> {
    let sks = open_for_serving(dir, test_device_pin)?;
    let mut dispatcher = ApduDispatcher::new(sks);
    dispatcher.set_power_loss_hook(Box::new(|c: &mut ReferenceSks| abort_open_sessions(c)));
    let options = VpcdOptions {
        drop_after_apdus: drop_after,
        ..VpcdOptions::default()
    };
    stop_on_signals(options.stop.clone())?;
    log(&format!(
        "airtight card {} serving to vpcd at {addr} (stop with Ctrl-C)",
        dir.display()
    ));
    let stats = serve_vpcd(addr, &mut dispatcher, &options)
        .map_err(|e| CliError::Io(format!("vpcd {addr}: {e}")))?;
    log(&format!(
        "airtight card stopped: {} connection(s), {} APDUs, {} control frames{}",
        stats.connections,
        stats.apdus,
        stats.controls,
        if drop_after.is_some_and(|n| stats.apdus >= n) {
            " (card pulled)"
        } else {
            ""
        }
    ));
    Ok(())
}

/// `card shim`: the card of `dir` as a JSON-lines shim on stdin/stdout until EOF or
/// `shutdown`. The end of the process is a power loss: open provisioning sessions are aborted.
pub fn serve_shim_card(dir: &Path, test_device_pin: Option<&[u8]>) -> Result<(), CliError> {
    let mut sks = open_for_serving(dir, test_device_pin)?;
    let options = ShimServerOptions {
        implementation: format!("airtight reference SKS (card {})", dir.display()),
        ..ShimServerOptions::default()
    };
    let result = serve_shim(
        std::io::BufReader::new(std::io::stdin().lock()),
        std::io::stdout().lock(),
        &mut sks,
        &options,
    );
    abort_open_sessions(&mut sks);
    result
        .map(|_| ())
        .map_err(|e| CliError::Io(format!("shim: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell_without_expansion() {
        assert_eq!(
            split_command_line("  /bin/x card shim --card-dir '/a b' \"c\\\"d\" e\\ f ").unwrap(),
            [
                "/bin/x",
                "card",
                "shim",
                "--card-dir",
                "/a b",
                "c\"d",
                "e f"
            ]
        );
        assert_eq!(split_command_line("''").unwrap(), [""]);
        assert!(split_command_line("   ").is_err());
        assert!(split_command_line("a 'b").is_err());
        assert!(split_command_line("a \"b").is_err());
    }

    #[test]
    fn atrs_parse_as_hex() {
        assert_eq!(
            parse_hex("3B 80:80 0101").unwrap(),
            [0x3B, 0x80, 0x80, 0x01, 0x01]
        );
        assert!(parse_hex("3B8").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("").is_err());
    }

    #[cfg(not(feature = "pcsc"))]
    #[test]
    fn readers_need_the_pcsc_feature() {
        let Err(CliError::Usage(m)) = open(&CardSource::Reader("Virtual PCD 00 00".into()), false)
        else {
            panic!("expected a usage error");
        };
        assert!(m.contains("--features pcsc"), "{m}");
    }
}
