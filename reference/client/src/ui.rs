//! The user-facing side of the middleware: consent ([KG2-INV-005]) and PIN collection
//! ([KG2-KCQ-013]).
//!
//! [`UserInterface`] is what a GUI or terminal implements. [`PinSource`] decides where
//! user-defined PINs come from: the interface (a prompt), or a fixed list for automation
//! (a file or an environment variable).

use std::collections::VecDeque;
use std::io::{BufRead, Write};

use airtight_proto::messages::{Action, KeyContainer};
use airtight_proto::policy::{AppUsage, Grouping, InputMethod, PassphraseFormat};
use zeroize::Zeroizing;

use crate::pin::PinProblem;

/// The user's answer to a consent question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Go on.
    Accept,
    /// Stop; the middleware aborts.
    Decline,
}

/// What the issuer asks for in its InvocationRequest, for the consent dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest {
    /// The issuer origin (scheme, host and port of the invocation URL).
    pub issuer_origin: String,
    /// `action`.
    pub action: Action,
    /// `privacyEnabled`: the device certificate is not sent.
    pub privacy_enabled: bool,
    /// `preferredLanguages`.
    pub preferred_languages: Vec<String>,
    /// `targetKeyContainers`.
    pub target_key_containers: Vec<KeyContainer>,
    /// The SKS vendor name (from getDeviceInfo).
    pub device_vendor: String,
    /// The SKS description (from getDeviceInfo).
    pub device_description: String,
}

/// One key the issuer wants to create, for the second consent question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedKey {
    /// The key id.
    pub id: String,
    /// `keyAlgorithm` URI.
    pub key_algorithm: String,
    /// `appUsage`.
    pub app_usage: AppUsage,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// The PIN policy id, if the key has a PIN.
    pub pin_policy: Option<String>,
    /// True if the issuer sets the PIN (preset); false if the user chooses it.
    pub preset_pin: bool,
}

/// What a KeyCreationRequest will create ("what will be created once known").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCreationSummary {
    /// The issuer origin.
    pub issuer_origin: String,
    /// Number of PUK policies.
    pub puk_policies: usize,
    /// Number of PIN policies.
    pub pin_policies: usize,
    /// The keys, in request order.
    pub keys: Vec<PlannedKey>,
}

/// A request for one user-defined PIN (one per PIN group, [POL-GRP-007]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRequest {
    /// The issuer origin.
    pub issuer_origin: String,
    /// The PIN policy id.
    pub pin_policy: String,
    /// The PIN group label (key id, `shared`, `signature`, `standard` or an appUsage).
    pub group: String,
    /// The keys that will share this PIN.
    pub key_ids: Vec<String>,
    /// `format` (a `binary` PIN is typed as hexadecimal).
    pub format: PassphraseFormat,
    /// `minLength` in bytes.
    pub min_length: u16,
    /// `maxLength` in bytes.
    pub max_length: u16,
    /// `grouping`.
    pub grouping: Grouping,
    /// `patternRestrictions` names.
    pub pattern_restrictions: Vec<&'static str>,
    /// `inputMethod`.
    pub input_method: InputMethod,
    /// 1 for the first try, then 2, 3, … after rejected PINs.
    pub attempt: u32,
}

/// The user-facing dialogs the middleware needs.
pub trait UserInterface {
    /// The consent dialog of the InvocationRequest ([KG2-INV-005]).
    fn consent(&mut self, request: &ConsentRequest) -> Consent;

    /// The keys a KeyCreationRequest will create; asked before any of them is created.
    fn confirm_keys(&mut self, summary: &KeyCreationSummary) -> Consent;

    /// Asks the user for one PIN (text; hexadecimal for `binary`). `None` cancels.
    fn collect_pin(&mut self, request: &PinRequest) -> Option<Zeroizing<String>>;

    /// Tells the user why the PIN just entered was rejected (it was not sent to the SKS).
    fn pin_rejected(&mut self, request: &PinRequest, problem: &PinProblem);
}

/// Where user-defined PINs come from.
#[derive(Debug)]
pub enum PinSource {
    /// Ask the [`UserInterface`] (up to `max_attempts` tries per PIN group).
    Interactive {
        /// Tries per PIN before the session fails.
        max_attempts: u32,
    },
    /// One PIN per PIN group, in request order (e.g. the lines of a file); the session fails
    /// when the list runs out or a PIN breaks its policy.
    List(VecDeque<Zeroizing<String>>),
    /// The same PIN for every PIN group (e.g. from an environment variable).
    Repeat(Zeroizing<String>),
}

impl Default for PinSource {
    fn default() -> Self {
        PinSource::Interactive { max_attempts: 3 }
    }
}

impl PinSource {
    /// One PIN per non-empty line of `text` (trailing `\r` removed).
    pub fn from_lines(text: &str) -> Self {
        PinSource::List(
            text.lines()
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .filter(|l| !l.is_empty())
                .map(|l| Zeroizing::new(l.to_owned()))
                .collect(),
        )
    }

    /// One PIN per line of the file at `path`.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        let text = Zeroizing::new(std::fs::read_to_string(path)?);
        Ok(Self::from_lines(&text))
    }

    /// The value of the environment variable `name`, used for every PIN group.
    pub fn from_env(name: &str) -> Result<Self, std::env::VarError> {
        Ok(PinSource::Repeat(Zeroizing::new(std::env::var(name)?)))
    }

    /// True if the PINs come from the user through the interface (the only source allowed
    /// for `inputMethod` `trusted-gui`, [POL-INP-001]).
    pub fn is_interactive(&self) -> bool {
        matches!(self, PinSource::Interactive { .. })
    }
}

/// A non-interactive interface for automation and tests: answers every consent with a fixed
/// value and has no PINs of its own (use [`PinSource::List`] or [`PinSource::Repeat`]).
#[derive(Debug, Clone)]
pub struct AutoUi {
    /// The answer to every consent question.
    pub consent: Consent,
    /// PINs handed out by `collect_pin`, in order (for tests of the interactive path).
    pub pins: VecDeque<String>,
    /// Every consent request seen.
    pub seen_consents: Vec<ConsentRequest>,
    /// Every key summary seen.
    pub seen_summaries: Vec<KeyCreationSummary>,
    /// Every PIN request seen.
    pub seen_pin_requests: Vec<PinRequest>,
    /// Every rejection reported.
    pub rejections: Vec<PinProblem>,
}

impl AutoUi {
    /// Accepts everything (the `--yes` of a command line).
    pub fn accept_all() -> Self {
        Self::with(Consent::Accept)
    }

    /// Declines everything.
    pub fn decline_all() -> Self {
        Self::with(Consent::Decline)
    }

    fn with(consent: Consent) -> Self {
        AutoUi {
            consent,
            pins: VecDeque::new(),
            seen_consents: Vec::new(),
            seen_summaries: Vec::new(),
            seen_pin_requests: Vec::new(),
            rejections: Vec::new(),
        }
    }
}

impl UserInterface for AutoUi {
    fn consent(&mut self, request: &ConsentRequest) -> Consent {
        self.seen_consents.push(request.clone());
        self.consent
    }

    fn confirm_keys(&mut self, summary: &KeyCreationSummary) -> Consent {
        self.seen_summaries.push(summary.clone());
        self.consent
    }

    fn collect_pin(&mut self, request: &PinRequest) -> Option<Zeroizing<String>> {
        self.seen_pin_requests.push(request.clone());
        self.pins.pop_front().map(Zeroizing::new)
    }

    fn pin_rejected(&mut self, _request: &PinRequest, problem: &PinProblem) {
        self.rejections.push(problem.clone());
    }
}

/// A terminal dialog: questions on `output`, answers read line by line from `input`.
///
/// With `assume_yes` every consent is accepted without asking (and still printed). PINs are
/// read as plain lines: the terminal echoes them (a documented limitation).
#[derive(Debug)]
pub struct TerminalUi<R, W> {
    input: R,
    output: W,
    assume_yes: bool,
}

impl TerminalUi<std::io::BufReader<std::io::Stdin>, std::io::Stderr> {
    /// Questions on stderr, answers from stdin.
    pub fn stdio(assume_yes: bool) -> Self {
        TerminalUi::new(
            std::io::BufReader::new(std::io::stdin()),
            std::io::stderr(),
            assume_yes,
        )
    }
}

impl<R: BufRead, W: Write> TerminalUi<R, W> {
    /// A dialog over any reader and writer.
    pub fn new(input: R, output: W, assume_yes: bool) -> Self {
        TerminalUi {
            input,
            output,
            assume_yes,
        }
    }

    fn read_line(&mut self) -> Option<Zeroizing<String>> {
        let mut line = Zeroizing::new(String::new());
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let trimmed = line.trim_end_matches(['\r', '\n']).to_owned();
                Some(Zeroizing::new(trimmed))
            }
        }
    }

    fn yes_no(&mut self, question: &str) -> Consent {
        if self.assume_yes {
            let _ = writeln!(self.output, "{question} [y/N] yes (--yes)");
            return Consent::Accept;
        }
        let _ = write!(self.output, "{question} [y/N] ");
        let _ = self.output.flush();
        match self.read_line() {
            Some(a) if matches!(a.trim(), "y" | "Y" | "yes" | "YES" | "Yes") => Consent::Accept,
            _ => Consent::Decline,
        }
    }
}

impl<R: BufRead, W: Write> UserInterface for TerminalUi<R, W> {
    fn consent(&mut self, r: &ConsentRequest) -> Consent {
        let what = match r.action {
            Action::Manage => "create and manage keys",
            Action::Unlock => "unlock keys",
        };
        let _ = writeln!(
            self.output,
            "{} wants to {what} in your key store ({}, {}).",
            r.issuer_origin, r.device_vendor, r.device_description
        );
        let _ = writeln!(
            self.output,
            "{}",
            if r.privacy_enabled {
                "Privacy mode: your device certificate will NOT be sent."
            } else {
                "Your device certificate (a stable device identifier) will be sent to the issuer."
            }
        );
        self.yes_no("Continue?")
    }

    fn confirm_keys(&mut self, s: &KeyCreationSummary) -> Consent {
        let _ = writeln!(
            self.output,
            "{} will create {} key(s) ({} PIN policies, {} PUK policies):",
            s.issuer_origin,
            s.keys.len(),
            s.pin_policies,
            s.puk_policies
        );
        for k in &s.keys {
            let pin = match (&k.pin_policy, k.preset_pin) {
                (None, _) => "no PIN".to_owned(),
                (Some(p), true) => format!("PIN set by the issuer ({p})"),
                (Some(p), false) => format!("PIN chosen by you ({p})"),
            };
            let _ = writeln!(
                self.output,
                "  {} {} {} {} [{pin}]",
                k.id,
                k.key_algorithm
                    .rsplit('#')
                    .next()
                    .unwrap_or(&k.key_algorithm),
                k.app_usage,
                k.friendly_name.as_deref().unwrap_or("")
            );
        }
        self.yes_no("Create these keys?")
    }

    fn collect_pin(&mut self, r: &PinRequest) -> Option<Zeroizing<String>> {
        let _ = write!(
            self.output,
            "PIN for {} ({}, {}-{} {}{}): ",
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
        let _ = self.output.flush();
        self.read_line()
    }

    fn pin_rejected(&mut self, _r: &PinRequest, problem: &PinProblem) {
        let _ = writeln!(self.output, "PIN rejected: {problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_lines() {
        match PinSource::from_lines("1234\r\n\n5678\n") {
            PinSource::List(l) => {
                assert_eq!(l.len(), 2);
                assert_eq!(l[1].as_str(), "5678");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn terminal_yes_no() {
        let mut ui = TerminalUi::new(&b"y\n"[..], Vec::new(), false);
        let r = ConsentRequest {
            issuer_origin: "https://issuer.example".into(),
            action: Action::Manage,
            privacy_enabled: false,
            preferred_languages: vec![],
            target_key_containers: vec![],
            device_vendor: "v".into(),
            device_description: "d".into(),
        };
        assert_eq!(ui.consent(&r), Consent::Accept);
        assert_eq!(ui.consent(&r), Consent::Decline); // EOF declines
        let mut ui = TerminalUi::new(&b""[..], Vec::new(), true);
        assert_eq!(ui.consent(&r), Consent::Accept);
        let text = String::from_utf8(ui.output).unwrap_or_default();
        assert!(text.contains("https://issuer.example"));
    }
}
