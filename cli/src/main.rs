//! The `airtight` command line (see the `airtight_cli` crate docs).
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airtight_cli::source::{self, CardSource};
use airtight_cli::{CliError, browser, card, demo, driver, harness, issuer};
use airtight_client::engine::Middleware;
use airtight_client::pin::PinProblem;
use airtight_client::ui::{
    Consent, ConsentRequest, KeyCreationSummary, PinRequest, PinSource, TerminalUi, UserInterface,
};
use airtight_proto::policy::PassphraseFormat;
use airtight_proto::sks::SecureKeyStore;
use clap::{Parser, Subcommand};

mod sim;

/// `println!` that reports a closed stdout as an error instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        out(&format!("{}\n", format_args!($($t)*)))?
    };
}

/// airtight: air-tight key provisioning (KeyGen2 issuer, middleware and reference SKS).
#[derive(Debug, Parser)]
#[command(name = "airtight", version, about, after_help = airtight_cli::HELP_FOOTER)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The scenario simulator: many cards, faults and attackers in virtual time.
    Sim {
        #[command(subcommand)]
        command: sim::SimCommand,
    },
    /// The reference issuer.
    Issuer {
        #[command(subcommand)]
        command: IssuerCommand,
    },
    /// Runs the middleware against the file-backed reference card for an invocation URL.
    Enroll {
        /// The invocation URL (`intent://keygen2?...` or a plain `http://.../keygen2?init=true`).
        invocation_url: String,
        /// The card directory, created on first use (default: $AIRTIGHT_CARD_DIR, else
        /// ./airtight-card).
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
        /// Take user-defined PINs from this environment variable (default: asked on the
        /// terminal, hidden, twice).
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
    /// The card: the file-backed reference card of --card-dir (default), a PC/SC reader or
    /// an SKS shim.
    Card {
        /// The card directory (default: $AIRTIGHT_CARD_DIR, else ./airtight-card).
        #[arg(long, value_name = "D", global = true)]
        card_dir: Option<PathBuf>,
        #[command(subcommand)]
        command: CardCommand,
    },
    /// The conformance harness: runs the spec-keyed case catalog against a card or an issuer
    /// and writes JSON, JUnit XML and HTML reports. Exit code 0: the run passed; 1: a case
    /// failed the run; 2: bad arguments; 3: an unreadable --config; 4: an invalid --config;
    /// 6: the card could not be opened.
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
    /// The native-messaging host of the browser extension: Chromium starts it (through the
    /// launcher `browser install` writes) with the caller's origin as the argument and speaks
    /// length-prefixed JSON on stdin/stdout (`spec/browser.md`).
    BrowserHost {
        #[command(flatten)]
        card: BrowserCard,
        /// Another extension origin allowed to call the host (`chrome-extension://ID/`;
        /// repeatable; the airtight extension is always allowed).
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
        /// The caller's origin (Chromium's first argument).
        origin: Option<String>,
        /// Further arguments a browser may add (ignored).
        #[arg(hide = true)]
        rest: Vec<String>,
    },
    /// The browser path: register the native-messaging host (and the keygen2: scheme
    /// handler), or run an invocation from a keygen2: link.
    Browser {
        #[command(subcommand)]
        command: BrowserCommand,
    },
    /// Prints a shell completion script, e.g. `airtight completions bash >
    /// ~/.local/share/bash-completion/completions/airtight`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The card and trust options of the browser commands.
#[derive(Debug, clap::Args)]
struct BrowserCard {
    /// The card directory, created on first use (default: $AIRTIGHT_CARD_DIR, else
    /// ./airtight-card).
    #[arg(long, value_name = "D")]
    card_dir: Option<PathBuf>,
    /// Use the card in the PC/SC reader with exactly this name (needs the `pcsc` feature).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["reader_atr", "shim"])]
    reader: Option<String>,
    /// Use the first card in any PC/SC reader with this ATR (hex; needs the `pcsc` feature).
    #[arg(long, value_name = "HEX", conflicts_with = "shim")]
    reader_atr: Option<String>,
    /// Use the SKS shim process started by this command line.
    #[arg(long, value_name = "COMMAND LINE")]
    shim: Option<String>,
    /// PEM file of certificates trusted for `https://` issuers (repeatable).
    #[arg(long, value_name = "PEM")]
    trust_anchor: Vec<PathBuf>,
}

impl BrowserCard {
    fn source(&self) -> Result<CardSource, airtight_cli::CliError> {
        let dir = self.card_dir.clone().unwrap_or_else(card::default_dir);
        CardSource::from_options(
            &dir,
            self.reader.clone(),
            self.reader_atr.clone(),
            self.shim.clone(),
        )
    }

    /// The card options as words for the launcher.
    fn words(&self) -> Vec<String> {
        let mut w = Vec::new();
        let pairs = [
            ("--reader", &self.reader),
            ("--reader-atr", &self.reader_atr),
            ("--shim", &self.shim),
        ];
        for (flag, v) in pairs {
            if let Some(v) = v {
                w.extend([flag.to_owned(), v.clone()]);
            }
        }
        if w.is_empty() {
            let dir = self.card_dir.clone().unwrap_or_else(card::default_dir);
            w.extend(["--card-dir".to_owned(), dir.display().to_string()]);
        }
        w
    }
}

#[derive(Debug, Subcommand)]
enum BrowserCommand {
    /// Writes the native-messaging host manifest and its launcher (for the card given here),
    /// a copy of the extension to load, and with --scheme-handler a .desktop file for
    /// keygen2: links; prints how to load the extension.
    Install {
        /// For this user (the default): ~/.config/chromium/NativeMessagingHosts.
        #[arg(long, conflicts_with = "system")]
        user: bool,
        /// For every user: /etc/chromium/native-messaging-hosts (root).
        #[arg(long)]
        system: bool,
        /// Write the manifest (and the rest, beside it) into this folder instead, e.g. a
        /// browser profile's <user-data-dir>/NativeMessagingHosts.
        #[arg(long, value_name = "DIR")]
        manifest_dir: Option<PathBuf>,
        /// Also register a keygen2: scheme handler (.desktop file, x-scheme-handler/keygen2)
        /// running `airtight browser open-url` in a terminal.
        #[arg(long)]
        scheme_handler: bool,
        /// Another extension origin allowed to call the host (repeatable).
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
        #[command(flatten)]
        card: BrowserCard,
    },
    /// Removes what `browser install` wrote (same --user/--system/--manifest-dir).
    Uninstall {
        /// For this user (the default).
        #[arg(long, conflicts_with = "system")]
        user: bool,
        /// For every user.
        #[arg(long)]
        system: bool,
        /// The folder given to `install --manifest-dir`.
        #[arg(long, value_name = "DIR")]
        manifest_dir: Option<PathBuf>,
    },
    /// Runs the invocation of a keygen2: link (what the scheme handler runs), asking for
    /// consent and PINs on the terminal; the issuer's page follows the session by itself.
    OpenUrl {
        /// The keygen2:?cookie=…&init=…&url=…&cncl=…&ver=… URL.
        url: String,
        #[command(flatten)]
        card: BrowserCard,
        /// Accept the consent dialogs without asking.
        #[arg(long)]
        yes: bool,
        /// Take user-defined PINs from this environment variable.
        #[arg(long, value_name = "VAR")]
        pin_env: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum IssuerCommand {
    /// Serves the issuer (until Ctrl-C). It needs a CA to certify keys and the device CAs it
    /// trusts: --ca-key/--ca-chain and --device-anchor, or the --policy file; --test-pki uses
    /// the repository's published test CAs (local tests only).
    Serve {
        /// Address to listen on: IP:PORT or localhost:PORT.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        bind: String,
        /// The data directory (SQLite store; created once the address is bound) [default:
        /// $AIRTIGHT_DATA_DIR, else ./airtight-data].
        #[arg(long, value_name = "D")]
        data_dir: Option<PathBuf>,
        /// Keep the store in PostgreSQL instead of SQLite (postgres://USER@HOST:PORT/DB, no
        /// TLS: loopback or a private network): several `issuer serve` processes with the
        /// same --db share the sessions, and any of them can serve any step of any session.
        #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
        db: Option<String>,
        /// The issuance policy (TOML, see reference/issuer/policies/default.toml, which is
        /// also the built-in policy used without this option).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The base URL clients use to reach the server (default `http://<bind>`, with the
        /// host as given to --bind). Clients must use exactly this URL: it is the `issuerUri`
        /// of the session key derivation, so another host name for the same server (localhost
        /// for 127.0.0.1) fails the session attestation.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// A device CA certificate (PEM) whose devices are accepted (repeatable; adds to the
        /// policy's [[device.trust_anchors]]).
        #[arg(long, value_name = "FILE")]
        device_anchor: Vec<PathBuf>,
        /// The issuing CA's private key (PKCS#8 PEM); with --ca-chain. Overrides the policy's
        /// [ca] files.
        #[arg(long, value_name = "FILE", requires = "ca_chain")]
        ca_key: Option<PathBuf>,
        /// The issuing CA's certificate path (PEM, its own certificate first); with --ca-key.
        #[arg(long, value_name = "FILE", requires = "ca_key")]
        ca_chain: Option<PathBuf>,
        /// Trust the repository's test device CA (which certifies the cards `airtight card`
        /// and `enroll --card-dir` create) and certify keys with its test issuer CA unless a CA
        /// is configured. Both private keys are published: for local tests only (a warning is
        /// printed).
        #[arg(long)]
        test_pki: bool,
        /// Serve HTTPS with this certificate chain (PEM, server certificate first).
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of `--tls-cert` (PKCS#8 PEM).
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Connections served at once from one client address; more are answered 503 and
        /// closed (and logged), so that one slow or flooding client cannot hold them all.
        #[arg(long, value_name = "N", default_value_t = 64)]
        max_connections_per_client: usize,
    },
    /// Lists the recorded issuances (with --all also the failed, abandoned and open sessions
    /// with their reasons).
    List {
        /// The data directory [default: $AIRTIGHT_DATA_DIR, else ./airtight-data].
        #[arg(long, value_name = "D")]
        data_dir: Option<PathBuf>,
        /// List from the PostgreSQL store at this URL instead (as `issuer serve --db`).
        #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
        db: Option<String>,
        /// Also list the sessions that did not complete, with why.
        #[arg(long)]
        all: bool,
        /// JSON on stdout (spec/schemas/cli-issuer-list.schema.json).
        #[arg(long)]
        json: bool,
    },
}

/// Which card a card command talks to, besides --card-dir.
#[derive(Debug, Clone, clap::Args)]
struct CardLink {
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
}

/// The key a card command uses.
#[derive(Debug, Clone, clap::Args)]
struct KeyArg {
    /// The key: its handle, the issuer's key id (e.g. Key.1, as `enroll` printed it), its
    /// friendly name, or at least 8 hex digits of its certificate's SHA-256 (see `card keys`).
    #[arg(long, value_name = "KEY")]
    key: String,
}

#[derive(Debug, Subcommand)]
enum CardCommand {
    /// What the card is.
    Info {
        #[command(flatten)]
        link: CardLink,
        /// JSON output (spec/schemas/cli-card-info.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// The provisioned keys, with their ids, certificates and PIN state.
    Keys {
        #[command(flatten)]
        link: CardLink,
        /// JSON output (spec/schemas/cli-card-keys.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// Signs a file with a provisioned key (signature in Base64URL on stdout).
    Sign {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// The signature algorithm URI (default: ECDSA or RSA with SHA-256, by key type).
        #[arg(long)]
        alg: Option<String>,
        /// Take the key's PIN from this environment variable (default: ask on the terminal,
        /// hidden; without a terminal the command fails and nothing is sent).
        #[arg(long, value_name = "VAR")]
        pin_env: Option<String>,
        /// JSON output (spec/schemas/cli-card-result.schema.json).
        #[arg(long)]
        json: bool,
        /// The file to sign.
        file: PathBuf,
    },
    /// PIN state and management: status (tries remaining, blocked), change, unblock (PUK).
    Pin {
        #[command(subcommand)]
        command: PinCommand,
    },
    /// Deletes a key (asks for confirmation unless --yes; the PIN or PUK if the key's delete
    /// protection asks for one).
    Delete {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// The PIN, if needed, from this environment variable (default: ask on the terminal).
        #[arg(long, value_name = "VAR")]
        pin_env: Option<String>,
        /// The PUK, if needed, from this environment variable (default: ask on the terminal).
        #[arg(long, value_name = "VAR")]
        puk_env: Option<String>,
    },
    /// Exports a key's certificate path (PEM, end entity first).
    Export {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// Export the certificate path (the only export there is; private keys stay on the card).
        #[arg(long, required = true)]
        cert: bool,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "F")]
        out: Option<PathBuf>,
    },
    /// HMAC of a file with a symmetric key (Base64URL on stdout).
    Hmac {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// The HMAC algorithm URI (default: hmac-sha256).
        #[arg(long)]
        alg: Option<String>,
        /// The key's PIN from this environment variable (default: ask on the terminal).
        #[arg(long, value_name = "VAR")]
        pin_env: Option<String>,
        /// JSON output (spec/schemas/cli-card-result.schema.json).
        #[arg(long)]
        json: bool,
        /// The file.
        file: PathBuf,
    },
    /// Encrypts a file with a symmetric key (default AES-CBC, IV generated and prepended;
    /// Base64URL on stdout unless --out).
    Encrypt {
        #[command(flatten)]
        sym: SymmetricArgs,
    },
    /// Decrypts a file (raw bytes, as `card encrypt --out` writes them) with a symmetric key
    /// (plaintext on stdout unless --out).
    Decrypt {
        #[command(flatten)]
        sym: SymmetricArgs,
    },
    /// A key's extensions (and property bags, logotypes), as the issuer provisioned them.
    Ext {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// Only the extension of this type URI.
        #[arg(long = "type", value_name = "URI")]
        type_uri: Option<String>,
        /// JSON output (spec/schemas/cli-card-ext.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// A key's property bags; --set changes a writable property (`setProperty`).
    Props {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// Only the property bag of this type URI (required with --set).
        #[arg(long = "type", value_name = "URI")]
        type_uri: Option<String>,
        /// Set a writable property: NAME=VALUE.
        #[arg(long, value_name = "NAME=VALUE", requires = "type_uri")]
        set: Option<String>,
        /// JSON output (spec/schemas/cli-card-ext.schema.json).
        #[arg(long)]
        json: bool,
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
    /// Repairs the card store: drops what an interrupted write left, seals an older-format
    /// store; with --accept-loss, continues from a store that is behind its commit counter
    /// (a truncated journal or an older copy), losing the missing commits.
    Repair {
        /// Accept the loss of the commits the store files no longer hold.
        #[arg(long)]
        accept_loss: bool,
    },
}

/// The options of `card encrypt` and `card decrypt`.
#[derive(Debug, clap::Args)]
struct SymmetricArgs {
    #[command(flatten)]
    link: CardLink,
    #[command(flatten)]
    key: KeyArg,
    /// The algorithm URI (default: xmlenc aesNNN-cbc by key length).
    #[arg(long)]
    alg: Option<String>,
    /// Algorithm parameters (hex), e.g. the IV of `https://webpki.github.io/sks/algorithm#aes.cbc`.
    #[arg(long, value_name = "HEX")]
    parameters: Option<String>,
    /// The key's PIN from this environment variable (default: ask on the terminal).
    #[arg(long, value_name = "VAR")]
    pin_env: Option<String>,
    /// Write the result (raw bytes) to this file.
    #[arg(long, value_name = "F")]
    out: Option<PathBuf>,
    /// JSON output (spec/schemas/cli-card-result.schema.json; the result in Base64URL).
    #[arg(long, conflicts_with = "out")]
    json: bool,
    /// The input file.
    file: PathBuf,
}

#[derive(Debug, Subcommand)]
enum PinCommand {
    /// The PIN and PUK of a key: tries remaining, blocked or not, format.
    Status {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// JSON output (spec/schemas/cli-card-pin-status.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// Changes a key's PIN (asks for the old one, then the new one twice).
    Change {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// The current PIN from this environment variable.
        #[arg(long, value_name = "VAR")]
        pin_env: Option<String>,
        /// The new PIN from this environment variable.
        #[arg(long, value_name = "VAR")]
        new_pin_env: Option<String>,
    },
    /// Unblocks a key's PIN with its PUK (`unlockKey`); with --new-pin or --new-pin-env also
    /// sets a new PIN (`setPin`).
    Unblock {
        #[command(flatten)]
        link: CardLink,
        #[command(flatten)]
        key: KeyArg,
        /// The PUK from this environment variable.
        #[arg(long, value_name = "VAR")]
        puk_env: Option<String>,
        /// Also set a new PIN, asked on the terminal (twice).
        #[arg(long)]
        new_pin: bool,
        /// Also set a new PIN, from this environment variable.
        #[arg(long, value_name = "VAR", conflicts_with = "new_pin")]
        new_pin_env: Option<String>,
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
        /// An optional feature the card implements (repeatable; adds to `[features]
        /// declared`). A pcsc or shim card without --config declares none.
        #[arg(long = "feature", value_name = "NAME")]
        feature: Vec<String>,
        /// Consent to destructive cases (they delete keys) on a foreign card: the exact
        /// reader name of --reader (pcsc) or the command line of --shim.
        #[arg(long, value_name = "READER OR SHIM")]
        destructive: Option<String>,
    },
    /// Runs the issuer catalog against an issuer over HTTP.
    Issuer {
        #[command(flatten)]
        common: HarnessCommon,
        /// The issuer's invocation URL: `intent://keygen2?…` (cookie, init, url, cncl) or the
        /// plain init URL (e.g. http://127.0.0.1:8080/keygen2?init=true). Repeat it for
        /// several nodes of one issuer: the cases run against the first, the load test
        /// spreads its sessions over all of them.
        #[arg(long, value_name = "URL", conflicts_with = "reference")]
        url: Vec<String>,
        /// Start the reference issuer on 127.0.0.1 (random port, in-memory store, 5 s session
        /// lifetime, 1 s / 2 s header / request timeouts) and run against it.
        #[arg(long)]
        reference: bool,
        /// With --reference: serve it over HTTPS (the test TLS identity) and trust its root.
        #[arg(long)]
        tls: bool,
        /// Run the web-flow cases instead of the catalog (spec/browser.md §3): --url is then the
        /// issuer's landing page; the harness reads its keygen2: invocation and plays the
        /// browser's part over HTTP (no browser or Chromium needed).
        #[arg(long)]
        browser: bool,
        /// A PEM file of certificates trusted for an https:// issuer (repeatable; adds to
        /// [issuer] trust_anchors).
        #[arg(long = "trust-anchor", value_name = "FILE")]
        trust_anchor: Vec<String>,
        /// Load test after the cases, closed loop: this many concurrent honest sessions, back
        /// to back...
        #[arg(long, value_name = "N", group = "load", requires = "load_seconds")]
        load_sessions: Option<usize>,
        /// ...or open loop (wrk2-style, coordinated omission corrected): this many session
        /// starts per second on a fixed schedule...
        #[arg(long, value_name = "R", group = "load", requires = "load_seconds")]
        load_rate: Option<f64>,
        /// ...(open loop) over this many client threads, each with keep-alive connections
        /// (default 16)...
        #[arg(long, value_name = "N", requires = "load_rate")]
        load_connections: Option<usize>,
        /// ...for this many seconds.
        #[arg(long, value_name = "T", requires = "load")]
        load_seconds: Option<f64>,
        /// Hostile load: this share of all attempts is hostile (0 < F < 1; e.g. 0.3). The load
        /// test runs twice, honest alone and then beside garbage and oversized bodies,
        /// slowloris heads, replays of other sessions' messages and floods of session starts;
        /// every hostile attempt must be refused.
        #[arg(long, value_name = "F", requires = "load")]
        hostile: Option<f64>,
        /// The hostile kinds to send (comma-separated; default all): garbage, oversized,
        /// slowloris, replay, flood.
        #[arg(
            long,
            value_name = "KINDS",
            value_delimiter = ',',
            requires = "hostile"
        )]
        hostile_kinds: Vec<String>,
        /// The issuer's process id: its resident memory is sampled over the hostile load
        /// (with --hostile; with --reference the issuer runs in this process, which is
        /// sampled).
        #[arg(long, value_name = "PID")]
        issuer_pid: Option<u32>,
        /// Crash under load: N times, SIGKILL `airtight issuer serve --test-pki` at a random
        /// moment (seeded by --seed) of an open-loop load and restart it on the same store;
        /// then audit the store (nothing lost, nothing twice, no half session).
        #[arg(long, value_name = "N", requires = "reference")]
        crash_under_load: Option<usize>,
    },
}

/// Writes to stdout; a closed stdout is an I/O error, not a panic.
/// Long-running servers (issuer, served cards) sign ECDSA with the crypto backend's own signer
/// (aws-lc-rs: random nonces); every other command keeps RFC 6979 signatures, so its output is
/// reproducible (ARCHITECTURE.md, "Crypto backends").
fn server_crypto() {
    let fast = airtight_proto::crypto::get_default().with_deterministic_ecdsa(false);
    // Only fails if a provider is already installed, which then stays.
    let _ = fast.install_default();
}

fn out(text: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| CliError::stdout(&e))
}

/// Writes bytes to stdout.
fn out_bytes(bytes: &[u8]) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    o.write_all(bytes)
        .and_then(|()| o.flush())
        .map_err(|e| CliError::stdout(&e))
}

/// Prints a JSON document (pretty, with a final newline).
fn out_json(v: &serde_json::Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Io(format!("json: {e}")))?;
    out(&format!("{text}\n"))
}

/// Colour on stderr: only on a terminal, and never when `NO_COLOR` is set (non-empty).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal as _;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
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
        .with_ansi(colour_on_stderr())
        .try_init();
}

/// The CLI's dialogs: [`TerminalUi`] on stdin/stderr, except that a PIN typed on a terminal
/// is not echoed and is asked twice (a new PIN is being set); from a pipe it is read as a line.
struct CliUi {
    inner: TerminalUi<std::io::BufReader<std::io::Stdin>, std::io::Stderr>,
}

impl std::fmt::Debug for CliUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CliUi")
    }
}

impl UserInterface for CliUi {
    fn consent(&mut self, request: &ConsentRequest) -> Consent {
        self.inner.consent(request)
    }

    fn confirm_keys(&mut self, summary: &KeyCreationSummary) -> Consent {
        self.inner.confirm_keys(summary)
    }

    fn collect_pin(&mut self, r: &PinRequest) -> Option<zeroize::Zeroizing<String>> {
        if !airtight_cli::pin::can_prompt() {
            return self.inner.collect_pin(r);
        }
        let prompt = format!(
            "New PIN for {} ({}, {}-{} {}{}): ",
            r.key_ids.join(", "),
            r.pin_policy,
            r.min_length,
            r.max_length,
            r.format,
            if r.format == PassphraseFormat::Binary {
                " as hex"
            } else {
                ""
            }
        );
        match airtight_cli::pin::obtain_new(None, "PIN", "--pin-env", &prompt) {
            Ok(p) => Some(p),
            Err(e) => {
                note(&format!("{e}"));
                None
            }
        }
    }

    fn pin_rejected(&mut self, request: &PinRequest, problem: &PinProblem) {
        self.inner.pin_rejected(request, problem)
    }
}

fn enroll(
    url: &str,
    source: &CardSource,
    yes: bool,
    pin_env: Option<String>,
    pin_file: Option<PathBuf>,
    trust_anchors: &[PathBuf],
) -> Result<(), CliError> {
    // Everything that can be checked is checked before a card is created or touched.
    airtight_client::url::parse_invocation(url)
        .map_err(|e| CliError::Enroll(driver::explain(&driver::EnrollError::Url(e))))?;
    if url.starts_with("https://") && trust_anchors.is_empty() {
        return Err(CliError::Enroll(format!(
            "[KG2-HTP-010] {} is an https:// issuer: pass --trust-anchor FILE.pem (the \
             certificate of the issuer's root CA; there are no built-in roots); nothing was \
             created",
            driver::short_url(url)
        )));
    }
    let options = airtight_client::http::HttpOptions {
        trust_anchors: browser::load_trust_anchors(trust_anchors)?,
        ..Default::default()
    };
    let pins = match (pin_env, pin_file) {
        (Some(v), _) => PinSource::Repeat(airtight_cli::pin::from_env(&v, "PIN")?),
        (None, Some(f)) => {
            PinSource::from_file(&f).map_err(|e| CliError::Io(format!("{}: {e}", f.display())))?
        }
        (None, None) => PinSource::default(),
    };
    #[cfg(feature = "pcsc")]
    if matches!(source, CardSource::Reader(_) | CardSource::ReaderAtr(_)) {
        let sks = source::open_pcsc(source)?;
        let started = std::time::Instant::now();
        let (mw, _) = enroll_with(url, sks, yes, pins, options)?;
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
    let mut sks = source::open(source, true)?;
    // The keys before, to tell which ones the session created (a card directory only: that is
    // where the key ids are recorded; a shim or reader sees no extra calls).
    let before = match source {
        CardSource::Dir(_) => card::keys_of(&mut *sks)?,
        _ => Vec::new(),
    };
    let (mw, created) = enroll_with(url, sks, yes, pins, options)?;
    if let CardSource::Dir(dir) = source {
        // The issuer's key ids, so that `card sign --key Key.1` finds the key.
        let mut sks = mw.into_sks();
        let after = card::keys_of(&mut *sks)?;
        card::record_key_ids(dir, &before, &after, &created)?;
    }
    Ok(())
}

fn enroll_with<S: SecureKeyStore>(
    url: &str,
    sks: S,
    yes: bool,
    pins: PinSource,
    options: airtight_client::http::HttpOptions,
) -> Result<(Middleware<S>, Vec<String>), CliError> {
    let mut observe = |e: &driver::Event| match e {
        driver::Event::Received { qualifier, bytes } => {
            note(&format!("<- {qualifier} ({bytes} bytes)"))
        }
        driver::Event::Sent { qualifier, bytes } => {
            note(&format!("-> {qualifier} ({bytes} bytes)"))
        }
        driver::Event::Redirected { location } => note(&format!("<- redirect to {location}")),
    };
    // Say what is being waited for (a hung issuer otherwise means silence until the timeout).
    note(&format!(
        "contacting the issuer at {} (each request may take up to {} s)",
        airtight_client::url::origin(url).unwrap_or_else(|| driver::short_url(url)),
        options.timeout.as_secs()
    ));
    let (enrolled, mw) = driver::enroll_with(
        url,
        options,
        |ctx| {
            Middleware::new(sks, ctx)
                .with_ui(Box::new(CliUi {
                    inner: TerminalUi::stdio(yes),
                }))
                .with_pin_source(pins)
        },
        &mut observe,
    )
    .map_err(|e| CliError::Enroll(driver::explain(&e)))?;
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
    if let Some(first) = o.created_keys.first() {
        note(&format!(
            "use a key by its id, e.g. `airtight card sign --key {first} FILE` (see `airtight \
             card keys`)"
        ));
    }
    Ok((mw, enrolled.outcome.created_keys))
}

/// The keys of the card, with the issuer key ids recorded in a card directory.
fn card_keys(
    sks: &mut dyn SecureKeyStore,
    source: &CardSource,
) -> Result<Vec<card::CardKey>, CliError> {
    let mut keys = card::keys_of(sks)?;
    if let CardSource::Dir(dir) = source {
        card::attach_ids(&mut keys, dir)?;
    }
    Ok(keys)
}

fn read_input(file: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(file).map_err(|e| CliError::Io(format!("{}: {e}", file.display())))
}

fn card_sign(
    source: &CardSource,
    key: &str,
    alg: Option<String>,
    pin_env: Option<String>,
    json: bool,
    file: &Path,
) -> Result<(), CliError> {
    let data = read_input(file)?;
    let mut sks = source::open(source, false)?;
    let keys = card_keys(&mut *sks, source)?;
    let k = card::select_key(&keys, key)?;
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
    let signed = card::authorized(
        &mut *sks,
        &k,
        card::Auth::Pin(pin_env.as_deref()),
        "signData",
        &mut |m| note(m),
        |c, pin| c.sign_data(k.handle, &alg, None, false, pin, &data),
    )?;
    let signed = card::verify(&k, &alg, &data, signed);
    let signature = airtight_proto::codec::b64url::encode(&signed.signature);
    if json {
        out_json(&serde_json::json!({
            "key": k.handle.0,
            "id": k.id,
            "algorithm": alg,
            "result": signature,
            "verified": signed.verified.is_ok(),
        }))?;
    } else {
        outln!("{signature}");
    }
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

fn card_command(dir: &Path, command: CardCommand) -> Result<(), CliError> {
    let open = |link: &CardLink| -> Result<(CardSource, Box<dyn SecureKeyStore>), CliError> {
        let l = link.clone();
        let source = CardSource::from_options(dir, l.reader, l.reader_atr, l.shim)?;
        let sks = source::open(&source, false)?;
        Ok((source, sks))
    };
    let open_key = |link: &CardLink,
                    key: &KeyArg|
     -> Result<(Box<dyn SecureKeyStore>, card::CardKey), CliError> {
        let (source, mut sks) = open(link)?;
        let keys = card_keys(&mut *sks, &source)?;
        let k = card::select_key(&keys, &key.key)?;
        Ok((sks, k))
    };
    match command {
        CardCommand::Info { link, json } => {
            let (_, mut sks) = open(&link)?;
            if json {
                out_json(&card::info_json(&mut *sks)?)
            } else {
                out(&card::info(&mut *sks)?)
            }
        }
        CardCommand::Keys { link, json } => {
            let (source, mut sks) = open(&link)?;
            let keys = card_keys(&mut *sks, &source)?;
            if json {
                out_json(&card::keys_json(&mut *sks, &keys)?)
            } else {
                if keys.is_empty() {
                    return out(&card::keys_text(&keys));
                }
                let mut text = String::new();
                for k in &keys {
                    text.push_str(&card::keys_text(std::slice::from_ref(k)));
                    let p = card::protection(&mut *sks, k)?;
                    if let Some(pin) = p.pin {
                        let state = if p
                            .protection_status
                            .contains(airtight_proto::sks::ProtectionStatus::PIN_BLOCKED)
                        {
                            "BLOCKED (card pin unblock)".to_owned()
                        } else {
                            card::tries_left(pin.retry_limit, pin.error_count)
                                .map(|n| format!("{n} tries remaining"))
                                .unwrap_or_else(|| "no retry limit".into())
                        };
                        text.push_str(&format!("  PIN:       {state}\n"));
                    } else {
                        text.push_str("  PIN:       none\n");
                    }
                }
                out(&text)
            }
        }
        CardCommand::Sign {
            link,
            key,
            alg,
            pin_env,
            json,
            file,
        } => {
            let l = link.clone();
            let source = CardSource::from_options(dir, l.reader, l.reader_atr, l.shim)?;
            card_sign(&source, &key.key, alg, pin_env, json, &file)
        }
        CardCommand::Pin { command } => match command {
            PinCommand::Status { link, key, json } => {
                let (mut sks, k) = open_key(&link, &key)?;
                let p = card::protection(&mut *sks, &k)?;
                if json {
                    out_json(&card::protection_json(&k, &p))
                } else {
                    out(&card::protection_text(&k, &p))
                }
            }
            PinCommand::Change {
                link,
                key,
                pin_env,
                new_pin_env,
            } => {
                let (mut sks, k) = open_key(&link, &key)?;
                card::change_pin(&mut *sks, &k, pin_env.as_deref(), new_pin_env.as_deref())?;
                note(&format!(
                    "the PIN of key {} was changed",
                    card::key_label(&k)
                ));
                Ok(())
            }
            PinCommand::Unblock {
                link,
                key,
                puk_env,
                new_pin,
                new_pin_env,
            } => {
                let (mut sks, k) = open_key(&link, &key)?;
                let new = match (new_pin, new_pin_env.as_deref()) {
                    (_, Some(v)) => Some(Some(v)),
                    (true, None) => Some(None),
                    (false, None) => None,
                };
                card::unblock_pin(&mut *sks, &k, puk_env.as_deref(), new)?;
                note(&format!(
                    "the PIN of key {} is unblocked{}",
                    card::key_label(&k),
                    if new.is_some() { " and set" } else { "" }
                ));
                Ok(())
            }
        },
        CardCommand::Delete {
            link,
            key,
            yes,
            pin_env,
            puk_env,
        } => {
            let (mut sks, k) = open_key(&link, &key)?;
            let what = format!(
                "key {}{}",
                card::key_label(&k),
                k.friendly_name
                    .as_deref()
                    .map(|n| format!(" \"{n}\""))
                    .unwrap_or_default()
            );
            if !yes {
                if !airtight_cli::pin::can_prompt() {
                    return Err(CliError::Usage(format!(
                        "deleting {what} needs confirmation: run on a terminal, or pass --yes"
                    )));
                }
                let mut err = std::io::stderr();
                let _ = write!(err, "Delete {what} from the card for good? [y/N] ");
                let _ = err.flush();
                let mut answer = String::new();
                std::io::stdin()
                    .read_line(&mut answer)
                    .map_err(|e| CliError::Io(format!("terminal: {e}")))?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
                    return Err(CliError::Usage(format!("not confirmed; {what} was kept")));
                }
            }
            card::delete(&mut *sks, &k, pin_env.as_deref(), puk_env.as_deref())?;
            note(&format!("deleted {what}"));
            Ok(())
        }
        CardCommand::Export {
            link,
            key,
            cert: _,
            out: file,
        } => {
            let (_, k) = open_key(&link, &key)?;
            let pem = card::certificate_pem(&k)?;
            match file {
                Some(f) => std::fs::write(&f, pem)
                    .map_err(|e| CliError::Io(format!("{}: {e}", f.display()))),
                None => out(&pem),
            }
        }
        CardCommand::Hmac {
            link,
            key,
            alg,
            pin_env,
            json,
            file,
        } => {
            let data = read_input(&file)?;
            let (mut sks, k) = open_key(&link, &key)?;
            if k.symmetric_key_length == 0 {
                return Err(CliError::Usage(format!(
                    "key {} is not a symmetric key (HMAC needs one)",
                    card::key_label(&k)
                )));
            }
            let alg = alg.unwrap_or_else(|| card::DEFAULT_HMAC.to_owned());
            let mac = card::authorized(
                &mut *sks,
                &k,
                card::Auth::Pin(pin_env.as_deref()),
                "performHmac",
                &mut |m| note(m),
                |c, pin| c.perform_hmac(k.handle, &alg, None, false, pin, &data),
            )?;
            let mac = airtight_proto::codec::b64url::encode(&mac);
            if json {
                out_json(&serde_json::json!({
                    "key": k.handle.0, "id": k.id, "algorithm": alg, "result": mac,
                }))
            } else {
                outln!("{mac}");
                Ok(())
            }
        }
        CardCommand::Encrypt { sym } => symmetric(dir, sym, true),
        CardCommand::Decrypt { sym } => symmetric(dir, sym, false),
        CardCommand::Ext {
            link,
            key,
            type_uri,
            json,
        } => {
            let (mut sks, k) = open_key(&link, &key)?;
            let v = card::extensions_json(&mut *sks, &k, type_uri.as_deref())?;
            if json {
                out_json(&v)
            } else {
                out(&card::extensions_text(&v))
            }
        }
        CardCommand::Props {
            link,
            key,
            type_uri,
            set,
            json,
        } => {
            let (mut sks, k) = open_key(&link, &key)?;
            if let (Some(t), Some(assignment)) = (&type_uri, &set) {
                let (name, value) = assignment.split_once('=').ok_or_else(|| {
                    CliError::Usage(format!("--set {assignment:?}: expected NAME=VALUE"))
                })?;
                sks.set_property(k.handle, t, name, value)
                    .map_err(|e| CliError::Card(format!("setProperty {name}: {e}")))?;
                note(&format!("{t}: {name} set"));
            }
            let mut v = card::extensions_json(&mut *sks, &k, type_uri.as_deref())?;
            if let Some(list) = v["extensions"].as_array_mut() {
                list.retain(|e| e["sub_type"] == "property_bag");
            }
            if json {
                out_json(&v)
            } else if v["extensions"].as_array().is_none_or(|l| l.is_empty()) {
                out("no property bags\n")
            } else {
                out(&card::extensions_text(&v))
            }
        }
        CardCommand::Serve {
            vpcd,
            drop_after_apdus,
            test,
        } => {
            init_tracing("warn");
            server_crypto();
            let pin = test.device_pin()?;
            source::serve_vpcd_card(dir, vpcd, drop_after_apdus, pin, &mut |m| note(m))
        }
        CardCommand::Shim { test } => {
            init_tracing("warn");
            server_crypto();
            source::serve_shim_card(dir, test.device_pin()?)
        }
        CardCommand::Repair { accept_loss } => out(&source::repair_card(
            &CardSource::Dir(dir.to_path_buf()),
            accept_loss,
        )?),
    }
}

/// `card encrypt` (`encrypt`) and `card decrypt`.
fn symmetric(dir: &Path, a: SymmetricArgs, encrypt: bool) -> Result<(), CliError> {
    let data = read_input(&a.file)?;
    let parameters = a
        .parameters
        .as_deref()
        .map(|h| {
            source::parse_hex(h)
                .map_err(|_| CliError::Usage(format!("--parameters {h:?} is not hex")))
        })
        .transpose()?;
    let source = CardSource::from_options(dir, a.link.reader, a.link.reader_atr, a.link.shim)?;
    let mut sks = source::open(&source, false)?;
    let keys = card_keys(&mut *sks, &source)?;
    let k = card::select_key(&keys, &a.key.key)?;
    if k.symmetric_key_length == 0 {
        return Err(CliError::Usage(format!(
            "key {} is not a symmetric key",
            card::key_label(&k)
        )));
    }
    let alg = match a.alg {
        Some(alg) => alg,
        None => card::default_cipher(k.symmetric_key_length)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "no default cipher for a {}-byte key: give --alg",
                    k.symmetric_key_length
                ))
            })?
            .to_owned(),
    };
    let result = card::authorized(
        &mut *sks,
        &k,
        card::Auth::Pin(a.pin_env.as_deref()),
        "symmetricKeyEncrypt",
        &mut |m| note(m),
        |c, pin| {
            c.symmetric_key_encrypt(
                k.handle,
                &alg,
                encrypt,
                parameters.as_deref(),
                false,
                pin,
                &data,
            )
        },
    )?;
    if a.json {
        return out_json(&serde_json::json!({
            "key": k.handle.0,
            "id": k.id,
            "algorithm": alg,
            "result": airtight_proto::codec::b64url::encode(&result),
        }));
    }
    match (a.out, encrypt) {
        (Some(f), _) => {
            std::fs::write(&f, &*result).map_err(|e| CliError::Io(format!("{}: {e}", f.display())))
        }
        (None, true) => out(&format!(
            "{}\n",
            airtight_proto::codec::b64url::encode(&result)
        )),
        (None, false) => out_bytes(&result),
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Sim { command } => sim::run(command),
        Command::Issuer { command } => match command {
            IssuerCommand::Serve {
                bind,
                data_dir,
                db,
                policy,
                public_url,
                device_anchor,
                ca_key,
                ca_chain,
                test_pki,
                tls_cert,
                tls_key,
                max_connections_per_client,
            } => {
                init_tracing("info");
                server_crypto();
                let tls = match (tls_cert, tls_key) {
                    (Some(c), Some(k)) => Some(issuer::load_tls(&c, &k)?),
                    _ => None,
                };
                let opts = issuer::ServeOptions {
                    bind,
                    public_url,
                    data_dir: data_dir.unwrap_or_else(issuer::default_data_dir),
                    db,
                    policy,
                    pki: issuer::Pki {
                        test_pki,
                        device_anchors: device_anchor,
                        ca_key,
                        ca_chain,
                    },
                    max_connections_per_client,
                };
                issuer::serve(&opts, tls)
            }
            IssuerCommand::List {
                data_dir,
                db,
                all,
                json,
            } => match db {
                Some(url) => out(&issuer::list_db(&url, all, json)?),
                None => {
                    let dir = data_dir.unwrap_or_else(issuer::default_data_dir);
                    out(&issuer::list(&dir, all, json)?)
                }
            },
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
        Command::Card { card_dir, command } => {
            let dir = card_dir.unwrap_or_else(card::default_dir);
            card_command(&dir, command)
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
                    feature,
                    destructive,
                } => harness::card(
                    &mut out,
                    &common.into(),
                    &harness::CardOptions {
                        transport,
                        reader,
                        atr,
                        shim,
                        perf,
                        features: feature,
                        destructive,
                    },
                ),
                HarnessCommand::Issuer {
                    common,
                    url,
                    reference,
                    tls,
                    browser,
                    trust_anchor,
                    load_sessions,
                    load_rate,
                    load_connections,
                    load_seconds,
                    hostile,
                    hostile_kinds,
                    issuer_pid,
                    crash_under_load,
                } => {
                    let mode = match (load_sessions, load_rate) {
                        (Some(n), _) => Some(harness::LoadMode::Closed(n)),
                        (None, Some(rate)) => Some(harness::LoadMode::Open {
                            rate,
                            connections: load_connections.unwrap_or(16),
                        }),
                        (None, None) => None,
                    };
                    let mut urls = url.into_iter();
                    harness::issuer(
                        &mut out,
                        &common.into(),
                        &harness::IssuerOptions {
                            url: urls.next(),
                            more_urls: urls.collect(),
                            reference,
                            tls,
                            browser,
                            trust_anchors: trust_anchor,
                            load: mode.zip(load_seconds),
                            hostile,
                            hostile_kinds,
                            issuer_pid,
                            crash_rounds: crash_under_load,
                        },
                    )
                }
            }
        }
        Command::Demo { work_dir } => {
            init_tracing("warn");
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            demo::run(&mut out, work_dir.as_deref()).map(|_| ())
        }
        Command::BrowserHost {
            card,
            allow_origin,
            origin,
            rest: _,
        } => {
            let mut allowed = vec![browser::extension_origin()];
            allowed.extend(allow_origin);
            let opts = browser::HostOptions {
                source: card.source()?,
                allowed_origins: allowed,
                trust_anchors: browser::load_trust_anchors(&card.trust_anchor)?,
                answer_timeout: browser::ANSWER_TIMEOUT,
            };
            browser::run_host(
                origin.as_deref(),
                std::io::stdin(),
                std::io::stdout(),
                &opts,
            )
        }
        Command::Browser { command } => match command {
            BrowserCommand::Install {
                user: _,
                system,
                manifest_dir,
                scheme_handler,
                allow_origin,
                card,
            } => {
                card.source()?;
                let paths = browser::install_paths(system, manifest_dir.as_deref())?;
                let args = browser::HostArgs {
                    card: card.words(),
                    trust_anchors: card.trust_anchor.clone(),
                    extra_origins: allow_origin,
                };
                out(&browser::install(&paths, &args, scheme_handler)?)
            }
            BrowserCommand::Uninstall {
                user: _,
                system,
                manifest_dir,
            } => {
                let paths = browser::install_paths(system, manifest_dir.as_deref())?;
                out(&browser::uninstall(&paths)?)
            }
            BrowserCommand::OpenUrl {
                url,
                card,
                yes,
                pin_env,
            } => {
                init_tracing("warn");
                let result = enroll(
                    &url,
                    &card.source()?,
                    yes,
                    pin_env,
                    None,
                    &card.trust_anchor,
                );
                if let Err(e) = &result {
                    note(&format!("airtight: {e}"));
                }
                note("the issuer's page in the browser shows the result by itself");
                if airtight_cli::pin::can_prompt() {
                    // A terminal the scheme handler opened would otherwise vanish at once.
                    note("press Enter to close");
                    let mut line = String::new();
                    let _ = std::io::stdin().read_line(&mut line);
                }
                result
            }
        },
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "airtight", &mut script);
            out_bytes(&script)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`airtight demo | head -1`): stop quietly.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            note(&format!("airtight: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
