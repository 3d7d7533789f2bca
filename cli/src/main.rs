//! The `airtight` command line (see the `airtight_cli` crate docs).
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airtight_cli::source::{self, CardSource};
use airtight_cli::{CliError, card, demo, driver, harness, issuer};
use airtight_client::engine::Middleware;
use airtight_client::ui::{PinSource, TerminalUi};
use airtight_proto::sks::SecureKeyStore;
use clap::{Parser, Subcommand};

/// `println!` that reports a closed stdout as an error instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        out(&format!("{}\n", format_args!($($t)*)))?
    };
}

/// airtight: air-tight key provisioning (KeyGen2 issuer, middleware and reference SKS).
#[derive(Debug, Parser)]
#[command(name = "airtight", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The reference issuer.
    Issuer {
        #[command(subcommand)]
        command: IssuerCommand,
    },
    /// Runs the middleware against the file-backed reference card for an invocation URL.
    Enroll {
        /// The invocation URL (`intent://keygen2?...` or a plain `http://.../keygen2?init=true`).
        invocation_url: String,
        /// The card directory (created on first use).
        #[arg(long, value_name = "D")]
        card_dir: Option<PathBuf>,
        /// Use the card in the PC/SC reader with exactly this name (e.g. "Virtual PCD 00 00";
        /// needs the `pcsc` build feature).
        #[arg(long, value_name = "NAME", conflicts_with_all = ["reader_atr", "shim"])]
        reader: Option<String>,
        /// Use the first card in any PC/SC reader with this ATR (hex, e.g. 3B80800101; needs
        /// the `pcsc` build feature).
        #[arg(long, value_name = "HEX", conflicts_with = "shim")]
        reader_atr: Option<String>,
        /// Use the SKS shim process started by this command line (`spec/shim.md`), e.g.
        /// "airtight card shim --card-dir D".
        #[arg(long, value_name = "COMMAND LINE")]
        shim: Option<String>,
        /// Accept the consent dialogs without asking.
        #[arg(long)]
        yes: bool,
        /// Take user-defined PINs from this environment variable.
        #[arg(long, value_name = "VAR", conflicts_with = "pin_file")]
        pin_env: Option<String>,
        /// Take user-defined PINs from this file (one per line, in request order).
        #[arg(long, value_name = "F")]
        pin_file: Option<PathBuf>,
        /// PEM file of certificates trusted for `https://` issuers (repeatable; there are no
        /// built-in roots).
        #[arg(long, value_name = "PEM")]
        trust_anchor: Vec<PathBuf>,
    },
    /// The file-backed reference card.
    Card {
        /// The card directory.
        #[arg(long, value_name = "D", global = true)]
        card_dir: Option<PathBuf>,
        /// Use the card in the PC/SC reader with exactly this name (e.g. "Virtual PCD 00 00";
        /// needs the `pcsc` build feature).
        #[arg(long, value_name = "NAME", global = true, conflicts_with_all = ["reader_atr", "shim"])]
        reader: Option<String>,
        /// Use the first card in any PC/SC reader with this ATR (hex, e.g. 3B80800101; needs
        /// the `pcsc` build feature).
        #[arg(long, value_name = "HEX", global = true, conflicts_with = "shim")]
        reader_atr: Option<String>,
        /// Use the SKS shim process started by this command line (`spec/shim.md`), e.g.
        /// "airtight card shim --card-dir D".
        #[arg(long, value_name = "COMMAND LINE", global = true)]
        shim: Option<String>,
        #[command(subcommand)]
        command: CardCommand,
    },
    /// The conformance harness: runs the spec-keyed case catalog against a card or an issuer
    /// and writes JSON, JUnit XML and HTML reports. Exit code 0: the run passed; 1: a case
    /// failed the run; 2: bad arguments or configuration; 6: the card could not be opened.
    Harness {
        #[command(subcommand)]
        command: HarnessCommand,
    },
    /// Issuer, card and middleware on loopback: E2ES and privacy provisioning, then signatures.
    Demo {
        /// Keep the demo's files here instead of a temporary directory.
        #[arg(long, value_name = "D")]
        work_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum IssuerCommand {
    /// Serves the issuer (until Ctrl-C).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// The data directory (SQLite store).
        #[arg(long, value_name = "D")]
        data_dir: Option<PathBuf>,
        /// The issuance policy (TOML); built-in defaults otherwise.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The URL clients use to reach the server (default `http://<bind>`); it is the
        /// `issuerUri` of the session key derivation.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Serve HTTPS with this certificate chain (PEM, server certificate first).
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of `--tls-cert` (PKCS#8 PEM).
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Lists the recorded issuances.
    List {
        /// The data directory.
        #[arg(long, value_name = "D")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CardCommand {
    /// What the card is.
    Info,
    /// The provisioned keys.
    Keys,
    /// Signs a file with a provisioned key (signature in Base64URL on stdout).
    Sign {
        /// The key: its handle, its friendly name, or a prefix of its certificate's SHA-256.
        #[arg(long)]
        key: String,
        /// The signature algorithm URI (default: ECDSA or RSA with SHA-256, by key type).
        #[arg(long)]
        alg: Option<String>,
        /// Take the key's PIN from this environment variable.
        #[arg(long, value_name = "VAR")]
        pin_env: Option<String>,
        /// The file to sign.
        file: PathBuf,
    },
    /// Serves the card to pcscd as a virtual card through vsmartcard's vpcd (until Ctrl-C or
    /// SIGTERM); `--reader "Virtual PCD 00 00"` then reaches it.
    Serve {
        /// vpcd's address (reader `Virtual PCD 00 0n` listens on 35963 + n).
        #[arg(long, value_name = "ADDR")]
        vpcd: SocketAddr,
        /// Test hook: pull the card (close the connection without answering, then exit) on
        /// the APDU after this many answered ones.
        #[arg(long, value_name = "N", hide = true)]
        drop_after_apdus: Option<u64>,
        #[command(flatten)]
        test: CardTestMode,
    },
    /// Serves the card as an SKS shim: JSON lines on stdin/stdout (`spec/shim.md`).
    Shim {
        #[command(flatten)]
        test: CardTestMode,
    },
}

/// Test modes of a served card (off unless asked for by name).
#[derive(Debug, clap::Args)]
struct CardTestMode {
    /// TEST MODE: the card supports device-PIN protection (`devicePinSupport` true) and accepts
    /// exactly PIN as the device PIN, so that test suites can exercise the device-PIN path.
    /// Without it the card has no device PIN and refuses `devicePinProtection` keys. Never for
    /// real keys: anyone who can read this command line knows the PIN.
    #[arg(long, value_name = "PIN")]
    test_device_pin: Option<String>,
}

impl CardTestMode {
    /// The device PIN of the test mode, after a warning on stderr.
    fn device_pin(&self) -> Result<Option<&[u8]>, CliError> {
        let Some(pin) = &self.test_device_pin else {
            return Ok(None);
        };
        if pin.is_empty() {
            return Err(CliError::Usage(
                "--test-device-pin: the PIN is empty".into(),
            ));
        }
        note(
            "airtight: WARNING: test mode: --test-device-pin makes the card accept a device PIN \
             given on the command line; never use this card for real keys",
        );
        Ok(Some(pin.as_bytes()))
    }
}

/// Options of both harness commands.
#[derive(Debug, clap::Args)]
struct HarnessCommon {
    /// The target configuration (TOML, see harness/targets/*.toml); command-line options
    /// override its fields.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Write report.json, junit.xml and report.html into this directory (created if needed).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the catalog (id, level, spec tags, description; one case a line) and exit.
    #[arg(long)]
    list: bool,
    /// Select the cases whose id starts with PREFIX (repeatable; all cases otherwise). The
    /// card sanity cases always run.
    #[arg(long, value_name = "PREFIX")]
    only: Vec<String>,
    /// Base seed (each case derives its own from it and its id).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// The target's display name in the summary and the reports (overrides `[target] name`).
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
}

impl From<HarnessCommon> for harness::Common {
    fn from(c: HarnessCommon) -> Self {
        harness::Common {
            config: c.config,
            out: c.out,
            list: c.list,
            only: c.only,
            seed: c.seed,
            quiet: c.quiet,
            name: c.name,
        }
    }
}

#[derive(Debug, Subcommand)]
enum HarnessCommand {
    /// Runs the card catalog (default target: the reference SKS in this process).
    Card {
        #[command(flatten)]
        common: HarnessCommon,
        /// How to reach the card.
        #[arg(long, value_name = "T", value_parser = clap::builder::PossibleValuesParser::new(harness::CARD_TRANSPORTS))]
        transport: Option<String>,
        /// pcsc: the reader (substring of its name, e.g. "Virtual PCD 00 00"; implies
        /// --transport pcsc; needs the `pcsc` build feature).
        #[arg(long, value_name = "NAME")]
        reader: Option<String>,
        /// pcsc: an ATR (hex) the harness may touch (repeatable; the card's ATR must be listed
        /// here or in the configuration's atr_allowlist).
        #[arg(long, value_name = "HEX")]
        atr: Vec<String>,
        /// shim: the SKS shim's command line (`spec/shim.md`), e.g. "airtight card shim
        /// --card-dir D"; implies --transport shim.
        #[arg(long, value_name = "COMMAND LINE")]
        shim: Option<String>,
        /// Performance mode: this many honest sessions after the conformance cases.
        #[arg(long, value_name = "N", default_value_t = 0)]
        perf: usize,
    },
    /// Runs the issuer catalog against an issuer over HTTP.
    Issuer {
        #[command(flatten)]
        common: HarnessCommon,
        /// The issuer's invocation URL: `intent://keygen2?…` (cookie, init, url, cncl) or the
        /// plain init URL (e.g. http://127.0.0.1:8080/keygen2?init=true).
        #[arg(long, value_name = "URL", conflicts_with = "reference")]
        url: Option<String>,
        /// Start the reference issuer on 127.0.0.1 (random port, in-memory store, 5 s session
        /// lifetime, 1 s / 2 s header / request timeouts) and run against it.
        #[arg(long)]
        reference: bool,
        /// With --reference: serve it over HTTPS (the test TLS identity) and trust its root.
        #[arg(long)]
        tls: bool,
        /// A PEM file of certificates trusted for an https:// issuer (repeatable; adds to
        /// [issuer] trust_anchors).
        #[arg(long = "trust-anchor", value_name = "FILE")]
        trust_anchor: Vec<String>,
        /// Load test after the cases: this many concurrent honest sessions...
        #[arg(long, value_name = "N", requires = "load_seconds")]
        load_sessions: Option<usize>,
        /// ...for this many seconds.
        #[arg(long, value_name = "T", requires = "load_sessions")]
        load_seconds: Option<f64>,
    },
}

/// Writes to stdout; a closed stdout is an I/O error, not a panic.
fn out(text: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| CliError::Io(format!("stdout: {e}")))
}

/// Writes to stderr, ignoring errors.
fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn pin_from_env(var: &str) -> Result<String, CliError> {
    std::env::var(var)
        .map_err(|_| CliError::Usage(format!("environment variable {var} is not set")))
}

fn enroll(
    url: &str,
    source: &CardSource,
    yes: bool,
    pin_env: Option<String>,
    pin_file: Option<PathBuf>,
    trust_anchors: &[PathBuf],
) -> Result<(), CliError> {
    let mut options = airtight_client::http::HttpOptions::default();
    for f in trust_anchors {
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
        options.trust_anchors.extend(ders);
    }
    let pins = match (pin_env, pin_file) {
        (Some(v), _) => PinSource::Repeat(zeroize::Zeroizing::new(pin_from_env(&v)?)),
        (None, Some(f)) => {
            PinSource::from_file(&f).map_err(|e| CliError::Io(format!("{}: {e}", f.display())))?
        }
        (None, None) => PinSource::default(),
    };
    #[cfg(feature = "pcsc")]
    if matches!(source, CardSource::Reader(_) | CardSource::ReaderAtr(_)) {
        let sks = source::open_pcsc(source)?;
        let started = std::time::Instant::now();
        let mw = enroll_with(url, sks, yes, pins, options)?;
        let elapsed = started.elapsed();
        // What crossed the PC/SC link during the session (issue 5's figures).
        let sks = mw.into_sks();
        let m = sks.metrics();
        let (median, p99) = m.latency_median_p99().unwrap_or_default();
        note(&format!(
            "PC/SC link: {} SKS calls, {} APDUs ({} chained, {} GET RESPONSE), {} bytes to the \
             card, {} bytes from the card; per SKS call median {median:?}, p99 {p99:?}; whole \
             session {elapsed:?}",
            m.calls, m.apdus, m.chained, m.get_responses, m.bytes_to_card, m.bytes_from_card
        ));
        return Ok(());
    }
    let sks = source::open(source, true)?;
    enroll_with(url, sks, yes, pins, options).map(|_| ())
}

fn enroll_with<S: SecureKeyStore>(
    url: &str,
    sks: S,
    yes: bool,
    pins: PinSource,
    options: airtight_client::http::HttpOptions,
) -> Result<Middleware<S>, CliError> {
    let mut observe = |e: &driver::Event| match e {
        driver::Event::Received { qualifier, bytes } => {
            note(&format!("<- {qualifier} ({bytes} bytes)"))
        }
        driver::Event::Sent { qualifier, bytes } => {
            note(&format!("-> {qualifier} ({bytes} bytes)"))
        }
        driver::Event::Redirected { location } => note(&format!("<- redirect to {location}")),
    };
    let (enrolled, mw) = driver::enroll_with(
        url,
        options,
        |ctx| {
            Middleware::new(sks, ctx)
                .with_ui(Box::new(TerminalUi::stdio(yes)))
                .with_pin_source(pins)
        },
        &mut observe,
    )
    .map_err(|e| CliError::Enroll(e.to_string()))?;
    let o = &enrolled.outcome;
    outln!(
        "provisioned: serverSessionId {}, clientSessionId {}",
        o.server_session_id,
        o.client_session_id
    );
    outln!(
        "keys created: {}; updated: {}; unlocked: {}; deleted: {}",
        if o.created_keys.is_empty() {
            "-".to_owned()
        } else {
            o.created_keys.join(", ")
        },
        o.updated_keys,
        o.unlocked_keys,
        o.deleted_keys
    );
    if let Some(u) = enrolled.result_url {
        outln!("result page: {u}");
    }
    Ok(mw)
}

fn card_sign(
    source: &CardSource,
    key: &str,
    alg: Option<String>,
    pin_env: Option<String>,
    file: &Path,
) -> Result<(), CliError> {
    let data = std::fs::read(file).map_err(|e| CliError::Io(format!("{}: {e}", file.display())))?;
    let pin = pin_env
        .map(|v| pin_from_env(&v))
        .transpose()?
        .map(zeroize::Zeroizing::new);
    let mut sks = source::open(source, false)?;
    let k = card::find_key(&mut *sks, key)?;
    let alg = match alg {
        Some(a) => a,
        None => {
            let ee = k
                .certificate_path
                .first()
                .ok_or_else(|| CliError::Card("the key has no certificate".into()))?;
            let pk = airtight_proto::keys::certificate_public_key(ee)
                .map_err(|e| CliError::Card(e.to_string()))?;
            card::default_signature_uri(&pk).to_owned()
        }
    };
    let signed = card::sign(
        &mut *sks,
        &k,
        &alg,
        pin.as_ref().map(|p| p.as_bytes()),
        &data,
    )?;
    outln!(
        "{}",
        airtight_proto::codec::b64url::encode(&signed.signature)
    );
    match signed.verified {
        Ok(()) => {
            note("signature verified with the key's certificate");
            Ok(())
        }
        Err(e) => Err(CliError::Card(format!(
            "the signature does not verify: {e}"
        ))),
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Issuer { command } => match command {
            IssuerCommand::Serve {
                bind,
                data_dir,
                policy,
                public_url,
                tls_cert,
                tls_key,
            } => {
                init_tracing("info");
                let dir = data_dir.unwrap_or_else(issuer::default_data_dir);
                let tls = match (tls_cert, tls_key) {
                    (Some(c), Some(k)) => Some(issuer::load_tls(&c, &k)?),
                    _ => None,
                };
                issuer::serve(bind, public_url, &dir, policy.as_deref(), tls)
            }
            IssuerCommand::List { data_dir } => {
                let dir = data_dir.unwrap_or_else(issuer::default_data_dir);
                out(&issuer::list(&dir)?)
            }
        },
        Command::Enroll {
            invocation_url,
            card_dir,
            reader,
            reader_atr,
            shim,
            yes,
            pin_env,
            pin_file,
            trust_anchor,
        } => {
            init_tracing("warn");
            let dir = card_dir.unwrap_or_else(card::default_dir);
            let source = CardSource::from_options(&dir, reader, reader_atr, shim)?;
            enroll(
                &invocation_url,
                &source,
                yes,
                pin_env,
                pin_file,
                &trust_anchor,
            )
        }
        Command::Card {
            card_dir,
            reader,
            reader_atr,
            shim,
            command,
        } => {
            let dir = card_dir.unwrap_or_else(card::default_dir);
            let link = reader.is_some() || reader_atr.is_some() || shim.is_some();
            let source = CardSource::from_options(&dir, reader, reader_atr, shim)?;
            match command {
                CardCommand::Info => {
                    let mut sks = source::open(&source, false)?;
                    out(&card::info(&mut *sks)?)
                }
                CardCommand::Keys => {
                    let mut sks = source::open(&source, false)?;
                    out(&card::keys_table(&mut *sks)?)
                }
                CardCommand::Sign {
                    key,
                    alg,
                    pin_env,
                    file,
                } => card_sign(&source, &key, alg, pin_env, &file),
                CardCommand::Serve { .. } | CardCommand::Shim { .. } if link => {
                    Err(CliError::Usage(
                        "`card serve` and `card shim` serve the card of --card-dir; \
                     --reader, --reader-atr and --shim do not apply"
                            .into(),
                    ))
                }
                CardCommand::Serve {
                    vpcd,
                    drop_after_apdus,
                    test,
                } => {
                    init_tracing("warn");
                    let pin = test.device_pin()?;
                    source::serve_vpcd_card(&dir, vpcd, drop_after_apdus, pin, &mut |m| note(m))
                }
                CardCommand::Shim { test } => {
                    init_tracing("warn");
                    source::serve_shim_card(&dir, test.device_pin()?)
                }
            }
        }
        Command::Harness { command } => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match command {
                HarnessCommand::Card {
                    common,
                    transport,
                    reader,
                    atr,
                    shim,
                    perf,
                } => harness::card(
                    &mut out,
                    &common.into(),
                    &harness::CardOptions {
                        transport,
                        reader,
                        atr,
                        shim,
                        perf,
                    },
                ),
                HarnessCommand::Issuer {
                    common,
                    url,
                    reference,
                    tls,
                    trust_anchor,
                    load_sessions,
                    load_seconds,
                } => harness::issuer(
                    &mut out,
                    &common.into(),
                    &harness::IssuerOptions {
                        url,
                        reference,
                        tls,
                        trust_anchors: trust_anchor,
                        load: load_sessions.zip(load_seconds),
                    },
                ),
            }
        }
        Command::Demo { work_dir } => {
            init_tracing("warn");
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            demo::run(&mut out, work_dir.as_deref()).map(|_| ())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            note(&format!("airtight: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
