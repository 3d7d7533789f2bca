//! Browser native messaging, the wire format between the browser extension and the middleware's
//! host (`airtight browser-host`, `spec/browser.md`): each message is a 4-byte length in native
//! byte order, then that many bytes of UTF-8 JSON. This module is the decoder and encoder of
//! that framing and of the extension's messages; the host itself (threads, the card, the
//! session) lives in the CLI. It is a library module so that the fuzz targets reach it.

use std::io::{Read, Write};

use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Largest message accepted from the extension: 64 KiB (a `start` message is an invocation
/// URL of a few hundred bytes; Chromium itself allows up to 64 MiB towards a host).
pub const MAX_INCOMING: u32 = 64 * 1024;

/// Largest message sent to the extension: Chromium's limit towards the browser (1 MiB).
pub const MAX_OUTGOING: usize = 1024 * 1024;

/// Why a native message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The stream ended cleanly between messages (the browser closed the port).
    #[error("the browser closed the connection")]
    Closed,
    /// The stream ended inside a message.
    #[error("the message was cut short: {0}")]
    Truncated(String),
    /// The announced length is over [`MAX_INCOMING`].
    #[error("a message of {0} bytes was announced; the limit is {MAX_INCOMING} bytes")]
    Oversized(u32),
    /// Reading failed.
    #[error("reading the message: {0}")]
    Io(String),
}

/// Reads one native message (length in native byte order, then the bytes).
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => {
                return Err(FrameError::Truncated(format!(
                    "{got} of the 4 length bytes"
                )));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e.to_string())),
        }
    }
    let n = u32::from_ne_bytes(len);
    if n > MAX_INCOMING {
        return Err(FrameError::Oversized(n));
    }
    let mut body = vec![0u8; n as usize];
    r.read_exact(&mut body).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated(format!("fewer than the {n} announced bytes"))
        } else {
            FrameError::Io(e.to_string())
        }
    })?;
    Ok(body)
}

/// Writes one native message and flushes. A message over [`MAX_OUTGOING`] is replaced by an
/// `error` message (Chromium would drop the connection).
pub fn write_frame(w: &mut impl Write, message: &Value) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_OUTGOING {
        bytes = serde_json::to_vec(&error_message(
            "internal",
            &format!("a reply of {} bytes is over the 1 MiB limit", bytes.len()),
        ))
        .map_err(std::io::Error::other)?;
    }
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_ne_bytes())?;
    w.write_all(&bytes)?;
    w.flush()
}

/// An `error` message.
pub fn error_message(code: &str, message: &str) -> Value {
    json!({"type": "error", "code": code, "message": message})
}

/// A message from the extension.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// Start a session for this invocation URL.
    Start {
        /// The `keygen2:?…` (or `intent://keygen2?…`) URL.
        invocation: String,
    },
    /// The answer to `consent` or `keys`.
    Consent {
        /// Accept or Cancel.
        accept: bool,
    },
    /// The answer to `pin`: the PIN, or `None` for Cancel.
    Pin {
        /// The PIN typed.
        pin: Option<Zeroizing<String>>,
    },
    /// The user closed the dialog.
    Cancel,
}

impl Incoming {
    /// The message as the extension sends it (the form [`parse_incoming`] reads).
    pub fn to_json(&self) -> Value {
        match self {
            Incoming::Start { invocation } => json!({"type": "start", "invocation": invocation}),
            Incoming::Consent { accept } => json!({"type": "consent", "accept": accept}),
            Incoming::Pin { pin: Some(p) } => json!({"type": "pin", "pin": p.as_str()}),
            Incoming::Pin { pin: None } => json!({"type": "pin", "cancel": true}),
            Incoming::Cancel => json!({"type": "cancel"}),
        }
    }
}

/// Parses one message of the extension; the error says what is wrong.
pub fn parse_incoming(bytes: &[u8]) -> Result<Incoming, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not a JSON message: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or("no \"type\" member")?;
    let allowed: &[&str] = match kind {
        "start" => &["type", "invocation"],
        "consent" => &["type", "accept"],
        "pin" => &["type", "pin", "cancel"],
        "cancel" => &["type"],
        other => {
            return Err(format!(
                "unknown message type {:?}",
                crate::url::clip(other, 40)
            ));
        }
    };
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown member {:?} in a {kind} message",
            crate::url::clip(extra, 40)
        ));
    }
    Ok(match kind {
        "start" => Incoming::Start {
            invocation: obj
                .get("invocation")
                .and_then(Value::as_str)
                .ok_or("a start message needs \"invocation\" (a string)")?
                .to_owned(),
        },
        "consent" => Incoming::Consent {
            accept: obj
                .get("accept")
                .and_then(Value::as_bool)
                .ok_or("a consent message needs \"accept\" (true or false)")?,
        },
        "pin" => match (obj.get("pin"), obj.get("cancel")) {
            (Some(Value::String(p)), None) => Incoming::Pin {
                pin: Some(Zeroizing::new(p.clone())),
            },
            (None, Some(Value::Bool(true))) => Incoming::Pin { pin: None },
            _ => return Err("a pin message needs \"pin\" (a string) or \"cancel\": true".into()),
        },
        _ => Incoming::Cancel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: &[u8]) -> Vec<u8> {
        let mut v = u32::try_from(bytes.len())
            .unwrap_or(0)
            .to_ne_bytes()
            .to_vec();
        v.extend_from_slice(bytes);
        v
    }

    #[test]
    fn frames_round_trip_in_native_order() {
        let mut buf = Vec::new();
        assert!(write_frame(&mut buf, &json!({"type": "x"})).is_ok());
        assert_eq!(&buf[..4], &12u32.to_ne_bytes());
        assert_eq!(read_frame(&mut &buf[..]), Ok(br#"{"type":"x"}"#.to_vec()));
    }

    #[test]
    fn bad_frames_are_typed() {
        assert_eq!(read_frame(&mut &[][..]), Err(FrameError::Closed));
        assert!(matches!(
            read_frame(&mut &[1u8, 0][..]),
            Err(FrameError::Truncated(_))
        ));
        let big = (MAX_INCOMING + 1).to_ne_bytes();
        assert_eq!(
            read_frame(&mut &big[..]),
            Err(FrameError::Oversized(MAX_INCOMING + 1))
        );
        let mut short = 10u32.to_ne_bytes().to_vec();
        short.extend_from_slice(b"abc");
        assert!(matches!(
            read_frame(&mut &short[..]),
            Err(FrameError::Truncated(_))
        ));
        assert!(read_frame(&mut &frame(b"{}")[..]).is_ok());
    }

    #[test]
    fn messages_are_checked_member_by_member() {
        assert_eq!(
            parse_incoming(br#"{"type":"start","invocation":"keygen2:?x"}"#),
            Ok(Incoming::Start {
                invocation: "keygen2:?x".into()
            })
        );
        assert_eq!(
            parse_incoming(br#"{"type":"consent","accept":false}"#),
            Ok(Incoming::Consent { accept: false })
        );
        assert_eq!(
            parse_incoming(br#"{"type":"pin","cancel":true}"#),
            Ok(Incoming::Pin { pin: None })
        );
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"kind":"start"}"#,
            br#"{"type":"start"}"#,
            br#"{"type":"start","invocation":3}"#,
            br#"{"type":"start","invocation":"x","extra":1}"#,
            br#"{"type":"consent","accept":"yes"}"#,
            br#"{"type":"pin","pin":"1","cancel":true}"#,
            br#"{"type":"launch"}"#,
        ] {
            assert!(
                parse_incoming(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn every_message_survives_its_json_form() {
        for m in [
            Incoming::Start {
                invocation: "keygen2:?url=x".into(),
            },
            Incoming::Consent { accept: true },
            Incoming::Pin {
                pin: Some(Zeroizing::new("1234".into())),
            },
            Incoming::Pin { pin: None },
            Incoming::Cancel,
        ] {
            let bytes = serde_json::to_vec(&m.to_json()).unwrap_or_default();
            assert_eq!(parse_incoming(&bytes), Ok(m));
        }
    }
}
