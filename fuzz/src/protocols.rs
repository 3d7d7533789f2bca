//! Targets over a line or APDU protocol with a stateless SKS behind it
//! ([`airtight_bindings::calls::SampleSks`]), and X.509 device-path validation.

use std::sync::OnceLock;

use airtight_bindings::ApduDispatcher;
use airtight_bindings::calls::SampleSks;
use airtight_bindings::shim::{ShimExit, ShimServerOptions, serve_shim};
use airtight_pki::{TrustAnchor, fixtures, verify_path};
use serde_json::Value;

use crate::oracle;

/// The shim line decoder and request handler ([SHIM-FRM-001]): arbitrary bytes as the input
/// stream. Oracles: one reply line per request line at most, each a JSON object with an `id`
/// and exactly one of `result` / `error`; a request whose params decode round-trips through
/// the SKS call's JSON form.
pub fn shim_line(data: &[u8]) {
    let options = ShimServerOptions {
        implementation: "fuzz".into(),
        // Small, so that the over-long line path is reachable.
        max_line: 4096,
    };
    let mut out = Vec::new();
    let exit = serve_shim(data, &mut out, &mut SampleSks, &options);
    oracle!(exit.is_ok(), "serve_shim on a byte slice failed: {exit:?}");
    let requests = data.split(|b| *b == b'\n').count();
    let replies: Vec<&[u8]> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    oracle!(
        replies.len() <= requests,
        "{} replies to {requests} lines",
        replies.len()
    );
    for line in &replies {
        let v: Result<Value, _> = serde_json::from_slice(line);
        oracle!(
            v.is_ok(),
            "reply is not JSON: {}",
            String::from_utf8_lossy(line)
        );
        let Ok(v) = v else { return };
        let ok = v.get("id").is_some() && (v.get("result").is_some() != v.get("error").is_some());
        oracle!(ok, "malformed reply {v}");
    }
    if matches!(exit, Ok(ShimExit::Shutdown)) {
        oracle!(
            replies
                .last()
                .is_some_and(|l| l.windows(8).any(|w| w == b"\"result\"")),
            "shutdown without a result line"
        );
    }
    // The params codec itself, line by line.
    for line in data.split(|b| *b == b'\n') {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let (Some(m), Some(p)) = (v.get("method").and_then(Value::as_str), v.get("params")) else {
            continue;
        };
        let Some(method) = airtight_proto::sks::SksMethod::from_java_name(m) else {
            continue;
        };
        if let Ok(call) = airtight_bindings::SksCall::from_json_params(method, p) {
            let back = airtight_bindings::SksCall::from_json_params(method, &call.to_json_params());
            oracle!(back.as_ref() == Ok(&call), "{m}: params JSON round trip");
        }
    }
}

/// The card side of the APDU binding (SELECT, chaining assembly, GET RESPONSE, dispatch) over a
/// stateless SKS: records of the input are command APDUs. Oracles: every command gets a
/// response of at least a status word and at most one extended response.
pub fn apdu_dispatcher(data: &[u8]) {
    let mut d = ApduDispatcher::new(SampleSks);
    for (i, c) in crate::records(data, 256).into_iter().enumerate() {
        let r = d.process(c);
        oracle!(r.len() >= 2, "command {i}: response of {} bytes", r.len());
        oracle!(
            r.len() <= 65535 + 2,
            "command {i}: response of {} bytes",
            r.len()
        );
        if c.first() == Some(&0xFF) {
            d.power_loss();
        }
    }
}

fn anchors() -> &'static [TrustAnchor] {
    static A: OnceLock<Vec<TrustAnchor>> = OnceLock::new();
    A.get_or_init(|| {
        vec![
            fixtures::device_trust_anchor(),
            fixtures::issuer_trust_anchor(),
        ]
    })
}

/// The reference card's test time (`airtight_card::TEST_TIME`, 2026-01-01T00:00:00Z), at which
/// the test device paths are valid.
const TEST_TIME: i64 = 1_767_225_600;

/// Device certificate path validation ([KG2-IMP-002]): records of the input are DER
/// certificates, end entity first, validated against the test device and issuer anchors at the
/// card's test time. Oracles: an accepted path names an anchor that exists and its leaf key is
/// the first certificate's key.
pub fn x509_path(data: &[u8]) {
    let path: Vec<Vec<u8>> = crate::records(data, 12)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let now = TEST_TIME;
    let Ok(v) = verify_path(&path, anchors(), now) else {
        return;
    };
    oracle!(
        v.anchor_index < anchors().len(),
        "anchor index out of range"
    );
    let leaf = airtight_pki::spki_of_certificate(&path[0]);
    oracle!(
        leaf.ok().as_deref() == Some(v.leaf_spki_der.as_slice()),
        "leaf key differs from the first certificate's"
    );
}

/// Seeds of [`x509_path`]: the test device paths (and their parts).
pub fn x509_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in [fixtures::device_p256(), fixtures::device_rsa2048()] {
        out.push(crate::join_records(&d.certificate_path));
        out.push(crate::join_records(&d.certificate_path[..1]));
    }
    out.push(crate::join_records(
        fixtures::issuer_ca().certificate_path(),
    ));
    out
}
