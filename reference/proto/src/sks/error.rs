//! The SKS error codes and [`SksError`] (facts §2.1; `SKSException.java`; PDF §7.3).

use super::consts::MAX_LENGTH_ERROR_MESSAGE;
use crate::policy::UnknownValue;

macro_rules! error_codes {
    ($( $(#[$m:meta])* $var:ident = $byte:literal, $name:literal, $ctor:ident;)+) => {
        /// An SKS error code: the status byte of a failed call (0 means OK and is not a code).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SksErrorCode {
            $($(#[$m])* $var,)+
        }

        impl SksErrorCode {
            /// Every code, in byte order.
            pub const ALL: &'static [SksErrorCode] = &[$(SksErrorCode::$var,)+];

            /// The status byte.
            pub const fn to_byte(self) -> u8 {
                match self { $(SksErrorCode::$var => $byte,)+ }
            }

            /// From the status byte; 0 (OK) and unknown values are errors.
            pub fn from_byte(value: u8) -> Result<Self, UnknownValue> {
                match value {
                    $($byte => Ok(SksErrorCode::$var),)+
                    _ => Err(UnknownValue::Byte { kind: "SKS error code", value }),
                }
            }

            /// The Java constant name, e.g. `ERROR_AUTHORIZATION`.
            pub const fn name(self) -> &'static str {
                match self { $(SksErrorCode::$var => $name,)+ }
            }

            /// From the Java constant name (exact).
            pub fn from_name(name: &str) -> Result<Self, UnknownValue> {
                match name {
                    $($name => Ok(SksErrorCode::$var),)+
                    _ => Err(UnknownValue::Name { kind: "SKS error code", name: name.to_owned() }),
                }
            }
        }

        impl SksError {
            $(
                #[doc = concat!("An [`SksErrorCode::", stringify!($var), "`] (`", $name, "`) error.")]
                pub fn $ctor(message: impl Into<String>) -> Self {
                    Self::new(SksErrorCode::$var, message)
                }
            )+
        }
    };
}

error_codes! {
    /// 0x01: bad PIN or PUK. The only non-fatal error.
    Authorization = 0x01, "ERROR_AUTHORIZATION", authorization;
    /// 0x02: operation not allowed.
    NotAllowed = 0x02, "ERROR_NOT_ALLOWED", not_allowed;
    /// 0x03: no storage.
    Storage = 0x03, "ERROR_STORAGE", storage;
    /// 0x04: MAC mismatch.
    Mac = 0x04, "ERROR_MAC", mac;
    /// 0x05: crypto failure.
    Crypto = 0x05, "ERROR_CRYPTO", crypto;
    /// 0x06: provisioning session not found.
    NoSession = 0x06, "ERROR_NO_SESSION", no_session;
    /// 0x07: key not found.
    NoKey = 0x07, "ERROR_NO_KEY", no_key;
    /// 0x08: unknown or non-matching algorithm.
    Algorithm = 0x08, "ERROR_ALGORITHM", algorithm;
    /// 0x09: invalid option (the reference implementation's default for `abort(msg)`).
    Option = 0x09, "ERROR_OPTION", option;
    /// 0x0A: internal error.
    Internal = 0x0A, "ERROR_INTERNAL", internal;
    /// 0x0B: external error, e.g. a link failure.
    External = 0x0B, "ERROR_EXTERNAL", external;
    /// 0x0C: the user aborted.
    UserAbort = 0x0C, "ERROR_USER_ABORT", user_abort;
    /// 0x0D: the SKS is not available.
    NotAvailable = 0x0D, "ERROR_NOT_AVAILABLE", not_available;
}

impl SksErrorCode {
    /// True for every code but [`SksErrorCode::Authorization`]: inside a provisioning method a
    /// fatal error tears down the whole session.
    pub const fn is_fatal(self) -> bool {
        !matches!(self, SksErrorCode::Authorization)
    }
}

impl std::fmt::Display for SksErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed SKS call: a code plus a message of at most
/// [`MAX_LENGTH_ERROR_MESSAGE`] UTF-8 bytes (longer messages are cut on a char boundary).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SksError {
    code: SksErrorCode,
    message: String,
}

impl SksError {
    /// A new error; `message` is truncated to [`MAX_LENGTH_ERROR_MESSAGE`] bytes on a char
    /// boundary.
    pub fn new(code: SksErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        truncate_on_char_boundary(&mut message, MAX_LENGTH_ERROR_MESSAGE);
        Self { code, message }
    }

    /// The defined value of an enumeration argument, or `ERROR_OPTION` naming the undefined
    /// value. An SKS calls this after it has looked up the session or key the call names, so
    /// that an unknown handle wins over a bad value and a bad value tears the session down
    /// ([SKS-TXN-002]).
    pub fn require<T: crate::policy::ByteEnum>(
        arg: &crate::policy::EnumArg<T>,
    ) -> Result<T, SksError> {
        arg.defined()
            .map_err(|e| SksError::option(format!("Invalid \"{}\": {e}", T::KIND)))
    }

    /// The error code.
    pub const fn code(&self) -> SksErrorCode {
        self.code
    }

    /// The message (at most [`MAX_LENGTH_ERROR_MESSAGE`] UTF-8 bytes).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True unless the code is [`SksErrorCode::Authorization`].
    pub const fn is_fatal(&self) -> bool {
        self.code.is_fatal()
    }

    /// The code and the message.
    pub fn into_parts(self) -> (SksErrorCode, String) {
        (self.code, self.message)
    }
}

impl std::fmt::Display for SksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (0x{:02x}): {}",
            self.code.name(),
            self.code.to_byte(),
            self.message
        )
    }
}

impl std::error::Error for SksError {}

/// An undefined option byte or name becomes `ERROR_OPTION` (the reference implementation's
/// code for invalid options), with the message naming the field and the value.
impl From<UnknownValue> for SksError {
    fn from(e: UnknownValue) -> Self {
        SksError::option(e.to_string())
    }
}

/// Cuts `s` to at most `max` bytes, backing off to the nearest char boundary.
fn truncate_on_char_boundary(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_backs_off_to_char_boundary() {
        // "é" is 2 bytes; 1999 ASCII bytes + "é" would end at byte 2001.
        let msg = format!("{}é", "a".repeat(1999));
        let e = SksError::mac(msg);
        assert_eq!(e.message().len(), 1999);
        assert!(e.message().chars().all(|c| c == 'a'));
        let short = SksError::crypto("x");
        assert_eq!(short.message(), "x");
    }

    #[test]
    fn display_names_the_code() {
        let e = SksError::no_key("key 7");
        assert_eq!(e.to_string(), "ERROR_NO_KEY (0x07): key 7");
        assert_eq!(e.code(), SksErrorCode::NoKey);
        assert!(e.is_fatal());
        assert!(!SksError::authorization("").is_fatal());
    }

    #[test]
    fn unknown_option_is_error_option() {
        let e =
            SksError::from(crate::policy::AppUsage::from_byte(9).expect_err("9 is no appUsage"));
        assert_eq!(e.code(), SksErrorCode::Option);
        assert!(e.message().contains("appUsage"));
    }
}
