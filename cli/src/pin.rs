//! Where PINs and PUKs come from on the command line: an environment variable named by an
//! option, or the terminal (hidden input: the terminal does not echo what is typed). Without
//! either the command fails before anything is sent to the card: an empty or missing PIN is
//! never sent, since a wrong PIN counts as a failed try.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use zeroize::Zeroizing;

use crate::CliError;

/// A PIN, PUK or passphrase.
pub type Secret = Zeroizing<String>;

/// True if stdin is a terminal (so the user can be asked).
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal()
}

/// The value of the environment variable `var`; it must be set and not empty.
pub fn from_env(var: &str, what: &str) -> Result<Secret, CliError> {
    let value = Zeroizing::new(std::env::var(var).map_err(|_| {
        CliError::Usage(format!(
            "environment variable {var} (the {what}) is not set; nothing was sent to the card"
        ))
    })?);
    if value.is_empty() {
        return Err(CliError::Usage(format!(
            "environment variable {var} (the {what}) is empty; an empty {what} is never sent \
             to the card"
        )));
    }
    Ok(value)
}

/// The secret of `env` if given, else asked on the terminal (hidden) with `prompt`. `option`
/// names the option that supplies it without a terminal (for the message when there is none).
pub fn obtain(
    env: Option<&str>,
    what: &str,
    option: &str,
    prompt: &str,
) -> Result<Secret, CliError> {
    if let Some(var) = env {
        return from_env(var, what);
    }
    if !can_prompt() {
        return Err(no_terminal(what, option));
    }
    let s = read_hidden(prompt)?;
    if s.is_empty() {
        return Err(CliError::Usage(format!(
            "no {what} entered; nothing was sent to the card"
        )));
    }
    Ok(s)
}

/// A new secret: from `env` if given, else asked twice on the terminal (hidden); the two
/// entries must match.
pub fn obtain_new(
    env: Option<&str>,
    what: &str,
    option: &str,
    prompt: &str,
) -> Result<Secret, CliError> {
    if let Some(var) = env {
        return from_env(var, what);
    }
    if !can_prompt() {
        return Err(no_terminal(what, option));
    }
    for _ in 0..3 {
        let first = read_hidden(prompt)?;
        if first.is_empty() {
            return Err(CliError::Usage(format!(
                "no {what} entered; nothing was changed"
            )));
        }
        let again = read_hidden(&format!("Repeat the {what}: "))?;
        if *first == *again {
            return Ok(first);
        }
        let _ = writeln!(std::io::stderr(), "The two entries differ; try again.");
    }
    Err(CliError::Usage(format!(
        "the {what} entries did not match; nothing was changed"
    )))
}

fn no_terminal(what: &str, option: &str) -> CliError {
    CliError::Usage(format!(
        "no {what} given and no terminal to ask on: pass {option} VAR (an environment variable \
         holding it) or run the command on a terminal; nothing was sent to the card"
    ))
}

/// Reads one line from the terminal on stdin without echo, after writing `prompt` to stderr.
pub fn read_hidden(prompt: &str) -> Result<Secret, CliError> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let line = {
        let _guard = EchoOff::new();
        let mut line = Zeroizing::new(String::new());
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Io(format!("reading from the terminal: {e}")))?;
        if n == 0 {
            let _ = writeln!(err);
            return Err(CliError::Usage("input ended; nothing was sent".into()));
        }
        line
    };
    Ok(Zeroizing::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Turns terminal echo off on stdin while alive (the newline is still echoed).
struct EchoOff {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

impl EchoOff {
    #[cfg(unix)]
    fn new() -> Self {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            quiet.local_modes.insert(LocalModes::ECHONL);
            let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
        }
        EchoOff { saved }
    }

    #[cfg(not(unix))]
    fn new() -> Self {
        EchoOff {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// The bytes sent to the card for a PIN typed as text: the UTF-8 bytes, or for a `binary`
/// PIN format the bytes of the hexadecimal text.
pub fn pin_bytes(
    pin: &str,
    format: airtight_proto::policy::PassphraseFormat,
) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if format != airtight_proto::policy::PassphraseFormat::Binary {
        return Ok(Zeroizing::new(pin.as_bytes().to_vec()));
    }
    let digits = pin.as_bytes();
    let bad = || CliError::Usage("this key's PIN format is binary: type it as hexadecimal".into());
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut out = Zeroizing::new(Vec::with_capacity(digits.len() / 2));
    for pair in digits.chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use airtight_proto::policy::PassphraseFormat;

    #[test]
    fn binary_pins_are_hex() {
        assert_eq!(
            pin_bytes("0aff", PassphraseFormat::Binary)
                .unwrap()
                .as_slice(),
            [0x0a, 0xff]
        );
        assert!(pin_bytes("0af", PassphraseFormat::Binary).is_err());
        assert_eq!(
            pin_bytes("1234", PassphraseFormat::Numeric)
                .unwrap()
                .as_slice(),
            b"1234"
        );
    }

    #[test]
    fn an_empty_environment_pin_is_refused() {
        // A variable name no other test uses; set for this process only.
        let var = "AIRTIGHT_PIN_UNIT_TEST_UNSET_VARIABLE";
        let Err(CliError::Usage(m)) = from_env(var, "PIN") else {
            panic!("an unset variable must fail");
        };
        assert!(m.contains("not set"), "{m}");
    }
}
