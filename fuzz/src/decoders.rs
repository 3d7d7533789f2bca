//! The stateless targets: one function per parser, each with its round-trip oracle.

use airtight_bindings::apdu::{self, Command, SelectInfo};
use airtight_bindings::exchange::{self, ApduLimits, Exchange, Step};
use airtight_bindings::{SksCall, SksReturn};
use airtight_proto::codec::{Reader, Writer};
use airtight_proto::messages::{KeyGen2Message, Message};
use airtight_proto::sks::SksMethod;

use crate::oracle;

/// One KeyGen2 message decoder: `M::decode`; on success, encode → decode gives the same value,
/// and so do the Java pretty-printed bytes.
pub fn keygen2<M>(data: &[u8])
where
    M: KeyGen2Message + PartialEq + std::fmt::Debug,
{
    let Ok(m) = M::decode(data) else { return };
    let bytes = m.to_bytes();
    let again = M::decode(&bytes);
    oracle!(
        again.as_ref() == Ok(&m),
        "{}: decode(encode(m)) != m: {again:?}",
        M::QUALIFIER
    );
    let pretty = M::decode(&m.to_java_pretty());
    oracle!(
        pretty.as_ref() == Ok(&m),
        "{}: pretty form does not decode to m",
        M::QUALIFIER
    );
    // Encoding is canonical: a second encode gives the same bytes.
    if let Ok(a) = again {
        oracle!(
            a.to_bytes() == bytes,
            "{}: encoding not stable",
            M::QUALIFIER
        );
    }
}

/// `Message::decode` (dispatch on `@qualifier`) agrees with the per-message decoder.
pub fn keygen2_any(data: &[u8]) {
    let Ok(m) = Message::decode(data) else { return };
    let again = Message::decode(&m.to_bytes());
    oracle!(again.as_ref() == Ok(&m), "Message round trip: {again:?}");
}

/// The item kinds of the SKS serialization.
#[derive(Debug, Clone, Copy)]
enum Item {
    Byte,
    Bool,
    Ushort,
    Uint,
    L,
    Blob,
    Raw(usize),
}

/// The SKS serialization reader: the first byte is the number of items `n`, the next `n` bytes
/// their kinds, the rest the encoding. What the reader accepts, the writer writes back byte
/// for byte; `finish` agrees with the bytes consumed.
pub fn sks_serialization(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 32).min(rest.len());
    let (kinds, enc) = rest.split_at(n);
    let kinds: Vec<Item> = kinds
        .iter()
        .map(|k| match k % 7 {
            0 => Item::Byte,
            1 => Item::Bool,
            2 => Item::Ushort,
            3 => Item::Uint,
            4 => Item::L,
            5 => Item::Blob,
            _ => Item::Raw(usize::from(k / 7)),
        })
        .collect();
    let mut r = Reader::new(enc);
    let mut w = Writer::new();
    let mut all_read = true;
    for k in &kinds {
        let ok = match k {
            Item::Byte => r.byte().map(|b| {
                w.byte(b);
            }),
            Item::Bool => r.bool().map(|b| {
                w.bool(b);
            }),
            Item::Ushort => r.ushort().map(|v| {
                w.ushort(v);
            }),
            Item::Uint => r.uint().map(|v| {
                w.uint(v);
            }),
            Item::L => r.l().map(|v| {
                oracle!(w.l(v).is_ok(), "L() of {} bytes not writable", v.len());
            }),
            Item::Blob => r.blob().map(|v| {
                oracle!(w.blob(v).is_ok(), "blob of {} bytes not writable", v.len());
            }),
            Item::Raw(n) => r.raw(*n).map(|v| {
                w.raw(v);
            }),
        };
        if ok.is_err() {
            all_read = false;
            break;
        }
    }
    let written = w.as_bytes();
    oracle!(
        enc.starts_with(written),
        "writer output is not the prefix the reader consumed"
    );
    // After a failed read the reader is abandoned (callers propagate the error).
    if all_read {
        let done = r.finish();
        oracle!(
            done.is_ok() == (written.len() == enc.len()),
            "finish() = {done:?} after {} of {} bytes",
            written.len(),
            enc.len()
        );
    }
}

/// Command APDU parsing: a parsed command rebuilds to the same bytes; the INS table answers.
pub fn apdu_command(data: &[u8]) {
    let _ = apdu::method_of_ins(data.get(1).copied().unwrap_or_default());
    let Ok(c) = Command::parse(data) else { return };
    oracle!(
        c.data.len() <= 65535,
        "data field of {} bytes",
        c.data.len()
    );
    let rebuilt = apdu::build_command(
        c.cla,
        c.ins,
        c.p1,
        c.p2,
        c.data,
        c.ne.unwrap_or(0),
        c.extended,
    );
    oracle!(
        rebuilt.as_deref() == Ok(data),
        "build(parse(x)) != x: {c:?} -> {rebuilt:?}"
    );
}

/// Response APDU decoding: data and status word split and join back; an SKS error text and the
/// SELECT data round-trip.
pub fn apdu_response(data: &[u8]) {
    let Ok((body, sw)) = apdu::split_response(data) else {
        oracle!(
            data.len() < 2,
            "split_response refused {} bytes",
            data.len()
        );
        return;
    };
    oracle!(apdu::response(body, sw) == data, "response(split(x)) != x");
    let _ = (
        sw.sks_error(),
        sw.more_data(),
        sw.describe(),
        sw.to_string(),
    );
    if let Some(text) = exchange::decode_error_text(body) {
        oracle!(
            exchange::encode_error_text(&text) == body,
            "error text round trip"
        );
    }
    if let Some(info) = SelectInfo::decode(body) {
        oracle!(
            SelectInfo::decode(&info.encode()) == Some(info),
            "SELECT data round trip"
        );
    }
}

/// The middleware's chaining / GET RESPONSE assembler fed arbitrary card responses: every APDU
/// it sends parses; the chained segments carry exactly the payload; the response payload stays
/// under the limit; after the end it accepts nothing more.
pub fn apdu_exchange(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let method = SksMethod::ALL[usize::from(data[0]) % SksMethod::ALL.len()];
    let limits = match data[1] % 4 {
        0 => ApduLimits::SHORT,
        1 => ApduLimits::EXTENDED,
        // Small, odd sizes (and some unusable ones: they must be refused, not panic).
        2 => ApduLimits {
            extended: false,
            max_command_data: usize::from(data[2] % 8),
            max_response_data: usize::from(data[3]) + 1,
        },
        _ => ApduLimits {
            extended: true,
            max_command_data: usize::from(data[2]) * 300,
            max_response_data: usize::from(data[3]) * 300,
        },
    };
    let parts = crate::records(&data[4..], 64);
    let Some((payload, responses)) = parts.split_first() else {
        return;
    };
    let Ok((mut ex, first)) = Exchange::start(method, payload, limits) else {
        return;
    };
    let mut sent_data = Vec::new();
    let check = |apdu_bytes: &[u8], sent: &mut Vec<u8>| {
        let c = Command::parse(apdu_bytes);
        oracle!(c.is_ok(), "the exchange sent an unparsable APDU: {c:?}");
        if let Ok(c) = c
            && c.ins != apdu::INS_GET_RESPONSE
        {
            sent.extend_from_slice(c.data);
        }
    };
    check(&first, &mut sent_data);
    let mut finished = false;
    for r in responses {
        match ex.on_response(r) {
            Ok(Step::Send(next)) => {
                oracle!(!finished, "sent after the end");
                check(&next, &mut sent_data);
            }
            Ok(Step::Done(out)) => {
                oracle!(
                    out.len() <= apdu::MAX_MESSAGE,
                    "response of {} bytes",
                    out.len()
                );
                oracle!(
                    sent_data == *payload,
                    "chained segments do not carry the payload"
                );
                finished = true;
            }
            Err(e) => {
                if finished {
                    oracle!(
                        e == exchange::ExchangeError::Finished,
                        "after the end: {e:?}"
                    );
                }
                finished = true;
            }
        }
    }
}

/// SKS call and result payloads (the APDU data of every method, [APDU-ENC-001]) and their shim
/// JSON form: first byte picks the method, second byte call or result, the rest is the payload;
/// decode → encode → decode agrees, and the JSON form decodes to the same value.
pub fn sks_payload(data: &[u8]) {
    let [m, kind, payload @ ..] = data else {
        return;
    };
    let method = SksMethod::ALL[usize::from(*m) % SksMethod::ALL.len()];
    if kind % 2 == 0 {
        let Ok(call) = SksCall::decode_payload(method, payload) else {
            return;
        };
        let enc = call.encode_payload();
        oracle!(enc.is_ok(), "decoded call does not encode: {enc:?}");
        if let Ok(enc) = enc {
            oracle!(enc == payload, "{method}: encode(decode(p)) != p");
        }
        let json = call.to_json_params();
        let back = SksCall::from_json_params(method, &json);
        oracle!(
            back.as_ref() == Ok(&call),
            "{method}: JSON round trip: {back:?}"
        );
    } else {
        let Ok(ret) = SksReturn::decode_payload(method, payload) else {
            return;
        };
        let enc = ret.encode_payload();
        oracle!(enc.is_ok(), "decoded result does not encode: {enc:?}");
        if let Ok(enc) = enc {
            oracle!(enc == payload, "{method}: result encode(decode(p)) != p");
        }
        let back = SksReturn::from_json(method, &ret.to_json());
        oracle!(
            back.as_ref() == Ok(&ret),
            "{method}: result JSON round trip: {back:?}"
        );
    }
}
