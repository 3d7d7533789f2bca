//! The browser host's native-messaging decoder (`airtight_client::native`): 4-byte native-order
//! length frames of UTF-8 JSON, and the extension's messages.

use airtight_client::native::{
    FrameError, Incoming, MAX_INCOMING, MAX_OUTGOING, error_message, parse_incoming, read_frame,
    write_frame,
};
use zeroize::Zeroizing;

use crate::oracle;

/// Frames of at most 64 messages read from `data` as the host reads its stdin. Oracles: each
/// frame consumes exactly its 4 length bytes and the announced body, which is the input's
/// bytes and within [`MAX_INCOMING`]; the reader stops with `Closed` only at the end of the
/// input, `Oversized` only for a length over the limit, `Truncated` only when fewer bytes
/// remain than announced, and never with an I/O error (a byte slice cannot fail). A parsed
/// message written back as JSON and framed reads back as the same message; the `error` answer
/// to a malformed one frames within Chromium's limit and reads back as an `error`.
pub fn native_messaging(data: &[u8]) {
    let mut rest = data;
    for _ in 0..64 {
        let at = data.len() - rest.len();
        let before = rest.len();
        match read_frame(&mut rest) {
            Ok(body) => {
                let used = before - rest.len();
                oracle!(
                    used == 4 + body.len(),
                    "a frame of {} bytes consumed {used} bytes",
                    body.len()
                );
                oracle!(
                    body.len() <= MAX_INCOMING as usize,
                    "a frame of {} bytes passed the limit",
                    body.len()
                );
                oracle!(
                    data.get(at + 4..at + 4 + body.len()) == Some(body.as_slice()),
                    "the frame's body is not the input's bytes"
                );
                message(&body);
            }
            Err(FrameError::Closed) => {
                oracle!(before == 0, "Closed with {before} bytes left");
                break;
            }
            Err(FrameError::Oversized(n)) => {
                oracle!(
                    n > MAX_INCOMING,
                    "a frame of {n} bytes refused as oversized"
                );
                break;
            }
            Err(FrameError::Truncated(why)) => {
                let announced = data
                    .get(at..at + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_ne_bytes);
                let short = match announced {
                    None => before < 4,
                    Some(n) => before < 4 + n as usize,
                };
                oracle!(short, "Truncated ({why}) with the whole frame present");
                break;
            }
            Err(e @ FrameError::Io(_)) => {
                oracle!(false, "a byte slice failed to read: {e}");
            }
        }
    }
}

fn message(body: &[u8]) {
    match parse_incoming(body) {
        Ok(m) => {
            let v = m.to_json();
            let mut framed = Vec::new();
            oracle!(
                write_frame(&mut framed, &v).is_ok(),
                "a message does not frame"
            );
            let back = read_frame(&mut framed.as_slice());
            let again = back.as_deref().map(parse_incoming);
            oracle!(
                matches!(&again, Ok(Ok(a)) if *a == m),
                "message round trip: {m:?} came back as {again:?}"
            );
        }
        Err(why) => {
            // The host answers a malformed message with an error naming what is wrong.
            let mut framed = Vec::new();
            oracle!(
                write_frame(&mut framed, &error_message("malformed", &why)).is_ok(),
                "the error answer does not frame"
            );
            oracle!(
                framed.len() <= 4 + MAX_OUTGOING,
                "the error answer is over Chromium's limit"
            );
            let back = read_frame(&mut framed.as_slice())
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            oracle!(
                back.as_ref().and_then(|v| v["type"].as_str()) == Some("error"),
                "the error answer does not read back: {back:?}"
            );
        }
    }
}

/// Seeds: each kind of message framed alone, a whole conversation in one stream, and the
/// refusals (unknown type, extra member, oversized length, cut short).
pub fn native_seeds() -> Vec<Vec<u8>> {
    let messages = [
        Incoming::Start {
            invocation: "keygen2:?url=http%3A%2F%2F127.0.0.1%3A18080%2Fkeygen2%3Fsession%3Dabc"
                .into(),
        },
        Incoming::Start {
            invocation: "intent://keygen2?url=http%3A%2F%2F127.0.0.1%2Fk#Intent;scheme=keygen2;end"
                .into(),
        },
        Incoming::Consent { accept: true },
        Incoming::Consent { accept: false },
        Incoming::Pin {
            pin: Some(Zeroizing::new("1357".into())),
        },
        Incoming::Pin { pin: None },
        Incoming::Cancel,
    ];
    let frame = |b: &[u8]| {
        let mut v = u32::try_from(b.len()).unwrap_or(0).to_ne_bytes().to_vec();
        v.extend_from_slice(b);
        v
    };
    let mut out = Vec::new();
    let mut all = Vec::new();
    for m in &messages {
        let f = frame(&serde_json::to_vec(&m.to_json()).unwrap_or_default());
        all.extend_from_slice(&f);
        out.push(f);
    }
    out.push(all.clone());
    out.push(frame(br#"{"type":"launch"}"#));
    out.push(frame(
        br#"{"type":"start","invocation":"keygen2:?x","extra":1}"#,
    ));
    out.push((MAX_INCOMING + 1).to_ne_bytes().to_vec());
    out.push(all[..all.len() - 3].to_vec());
    out
}
