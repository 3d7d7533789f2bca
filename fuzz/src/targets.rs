//! Seeds made from the honest in-process session's card calls ([`crate::sessions::honest`]).
//! Without the feature `full` (the CI set) there is no honest session: these seeds are then
//! the hand-made ones only.

use airtight_bindings::SksCall;
use airtight_bindings::apdu::{self, SelectInfo, StatusWord};
use airtight_bindings::exchange::{self, ApduLimits, Exchange};
use airtight_proto::sks::{SksErrorCode, SksMethod};
use serde_json::json;

use crate::join_records;

/// The card calls of the honest session.
#[derive(Debug, Default)]
struct Recorded {
    /// Provisioning calls, `[method number, APDU payload...]`.
    card_calls: Vec<Vec<u8>>,
    /// Their successful results.
    card_results: Vec<Vec<u8>>,
    /// User calls on the provisioned card.
    user_calls: Vec<Vec<u8>>,
}

#[cfg(feature = "full")]
fn recorded() -> Recorded {
    let h = crate::sessions::honest();
    Recorded {
        card_calls: h.card_calls.clone(),
        card_results: h.card_results.clone(),
        user_calls: h.user_calls.clone(),
    }
}

#[cfg(not(feature = "full"))]
fn recorded() -> Recorded {
    Recorded::default()
}

fn split_call(rec: &[u8]) -> Option<(SksMethod, &[u8])> {
    let (&m, p) = rec.split_first()?;
    Some((SksMethod::from_number(m)?, p))
}

/// Every honest card call (provisioning and user calls).
fn all_calls() -> Vec<Vec<u8>> {
    let h = recorded();
    h.card_calls.iter().chain(&h.user_calls).cloned().collect()
}

/// The APDUs that carry `rec` under `limits`.
fn apdus(rec: &[u8], limits: ApduLimits) -> Vec<Vec<u8>> {
    let Some((m, p)) = split_call(rec) else {
        return Vec::new();
    };
    let Ok((mut ex, first)) = Exchange::start(m, p, limits) else {
        return Vec::new();
    };
    let mut out = vec![first];
    // Acknowledge every chain segment to get the next one.
    while let Ok(exchange::Step::Send(next)) = ex.on_response(&[0x90, 0x00]) {
        if next.get(1) == Some(&apdu::INS_GET_RESPONSE) {
            break;
        }
        out.push(next);
    }
    out
}

/// Command APDUs: SELECT and the APDUs of every honest call, short and extended.
pub fn apdu_command_seeds() -> Vec<Vec<u8>> {
    let mut out = vec![apdu::select_command()];
    for c in all_calls() {
        out.extend(apdus(&c, ApduLimits::SHORT));
        out.extend(apdus(&c, ApduLimits::EXTENDED));
    }
    out
}

/// Response APDUs: OK, more data, SELECT data, SKS errors with their text.
pub fn apdu_response_seeds() -> Vec<Vec<u8>> {
    let select = SelectInfo {
        binding_version: apdu::BINDING_VERSION,
        api_level: 106,
        max_message: 1 << 20,
    };
    let mut out = vec![
        vec![0x90, 0x00],
        vec![0x61, 0x10],
        apdu::response(&select.encode(), StatusWord::OK),
        apdu::response(
            &exchange::encode_error_text("Authorization error"),
            StatusWord::for_sks_error(SksErrorCode::Authorization),
        ),
    ];
    for r in &recorded().card_results {
        out.push(apdu::response(
            r.get(1..).unwrap_or_default(),
            StatusWord::OK,
        ));
    }
    out
}

/// Exchanges: each honest call with its honest result as the card's response, in one piece
/// and split over `61xx` + GET RESPONSE.
pub fn apdu_exchange_seeds() -> Vec<Vec<u8>> {
    let h = recorded();
    let mut out = Vec::new();
    for (call, result) in h.card_calls.iter().zip(&h.card_results) {
        let Some((m, p)) = split_call(call) else {
            continue;
        };
        let body = result.get(1..).unwrap_or_default();
        for sel in [0u8, 1] {
            let mut s = vec![m.number(), sel, 0, 0];
            let half = body.len() / 2;
            let mut first = body[..half].to_vec();
            first.extend([0x61, 0x00]);
            let mut second = body[half..].to_vec();
            second.extend([0x90, 0x00]);
            let mut whole = body.to_vec();
            whole.extend([0x90, 0x00]);
            s.extend(join_records(&[p.to_vec(), whole]));
            out.push(s);
            let mut s = vec![m.number(), sel, 0, 0];
            s.extend(join_records(&[p.to_vec(), first, second]));
            out.push(s);
        }
    }
    out
}

/// Dispatcher sessions: SELECT, then the APDUs of every honest call (short APDUs, chained).
pub fn apdu_dispatcher_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut session = vec![apdu::select_command()];
    for c in all_calls() {
        let a = apdus(&c, ApduLimits::SHORT);
        let mut one = vec![apdu::select_command()];
        one.extend(a.clone());
        out.push(join_records(&one));
        session.extend(a);
        session.push(vec![0x00, apdu::INS_GET_RESPONSE, 0, 0, 0]);
    }
    out.push(join_records(&session));
    out
}

/// Call and result payloads of every honest call: `[method, 0 | 1, payload...]`.
pub fn sks_payload_seeds() -> Vec<Vec<u8>> {
    let h = recorded();
    let mut out = Vec::new();
    for (kind, list) in [(0u8, all_calls()), (1u8, h.card_results.clone())] {
        for rec in list {
            if let Some((&m, p)) = rec.split_first() {
                let mut s = vec![m, kind];
                s.extend_from_slice(p);
                out.push(s);
            }
        }
    }
    out
}

/// Shim streams: hello, every honest call as a request line, shutdown.
pub fn shim_seeds() -> Vec<Vec<u8>> {
    let mut lines = vec![
        json!({"id": 0, "method": "hello", "params": {"protocol": "airtight-sks-shim", "versions": [1]}})
            .to_string(),
    ];
    for (i, c) in all_calls().iter().enumerate() {
        let Some((m, p)) = split_call(c) else {
            continue;
        };
        if let Ok(call) = SksCall::decode_payload(m, p) {
            lines.push(
                json!({"id": i + 1, "method": m.java_name(), "params": call.to_json_params()})
                    .to_string(),
            );
        }
    }
    let mut out = Vec::new();
    for l in &lines[1..] {
        out.push(format!("{}\n{l}\n", lines[0]).into_bytes());
    }
    lines.push(json!({"id": 9999, "method": "shutdown"}).to_string());
    out.push(lines.join("\n").into_bytes());
    out
}

/// Card call sequences: the honest provisioning on an empty card, the user calls on the
/// provisioned card, and the same with power cuts at a few write points and offsets.
#[cfg(feature = "full")]
pub fn card_seeds() -> Vec<Vec<u8>> {
    let h = recorded();
    let mut out = Vec::new();
    let mut prov = vec![0u8];
    prov.extend(join_records(&h.card_calls));
    out.push(prov);
    let mut user = vec![1u8];
    user.extend(join_records(&h.user_calls));
    out.push(user);
    for (k, off) in [(1u8, 0u8), (3, 2), (5, 9), (9, 1), (14, 40)] {
        let mut s = vec![0x80 | 0x04, k, off];
        s.extend(join_records(&h.card_calls));
        out.push(s);
        let mut s = vec![0x80 | 0x01, k % 6, off];
        s.extend(join_records(&h.user_calls));
        out.push(s);
    }
    out
}
