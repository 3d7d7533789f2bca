//! The JSON-lines shim: `ShimSks` against the `airtight-sample-shim` process (every method,
//! errors, a malformed line, a process that dies, one that hangs), and `serve_shim` against
//! malformed input.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use airtight_bindings::SksCall;
use airtight_bindings::calls::SampleSks;
use airtight_bindings::shim::{ShimOptions, ShimServerOptions, ShimSks, serve_shim};
use airtight_bindings::wire::sample::SampleRng;
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksErrorCode, SksMethod};
use serde_json::Value;

fn shim(env: &[(&str, &str)], timeout: Duration) -> ShimSks {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airtight-sample-shim"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    ShimSks::spawn(
        cmd,
        ShimOptions {
            timeout,
            ..ShimOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn every_method_through_the_shim() {
    // [SHIM-MSG-001] [SHIM-MSG-002] [SHIM-ENC-001] [SHIM-HEL-001] [SHIM-FRM-001] [SHIM-ERR-001]
    // [SHIM-END-001]
    let mut sks = shim(&[], Duration::from_secs(20));
    assert_eq!(sks.hello().api_level, 106);
    assert_eq!(sks.hello().implementation, "airtight-sample-shim");
    let mut r = SampleRng::new(42);
    for round in 0..6 {
        for m in SksMethod::ALL {
            let call = SksCall::sample(*m, &mut r);
            let expected = SampleSks::expected(&call);
            assert_eq!(call.invoke(&mut sks), expected, "{m} round {round}");
        }
    }
    // An SKS error travels with its code and message.
    let e = sks
        .sign_data(KeyHandle(1), "FAIL", None, false, None, b"x")
        .unwrap_err();
    assert_eq!(e.code(), SksErrorCode::Crypto);
    assert!(e.message().contains("asked to fail"));
    let status = sks.shutdown().unwrap().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn malformed_line_from_the_shim_is_a_clear_error() {
    // [SHIM-CLI-002]
    let mut sks = shim(&[("SAMPLE_SHIM_GARBAGE_AT", "2")], Duration::from_secs(20));
    sks.get_device_info().unwrap();
    let e = sks.get_device_info().unwrap_err();
    assert_eq!(e.code(), SksErrorCode::External);
    assert!(e.message().contains("malformed response line"), "{e}");
    // The link stays broken.
    let e = sks.get_device_info().unwrap_err();
    assert!(e.message().contains("broken"), "{e}");
}

#[test]
fn shim_that_dies_is_a_clear_error() {
    // [SHIM-CLI-002]
    let mut sks = shim(&[("SAMPLE_SHIM_DIE_AT", "1")], Duration::from_secs(20));
    let t = Instant::now();
    let e = sks.get_device_info().unwrap_err();
    assert_eq!(e.code(), SksErrorCode::NotAvailable);
    assert!(e.message().contains("exit status: 3"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn shim_that_hangs_times_out() {
    // [SHIM-CLI-001]
    let mut sks = shim(&[("SAMPLE_SHIM_HANG_AT", "1")], Duration::from_millis(500));
    let t = Instant::now();
    let e = sks.get_device_info().unwrap_err();
    assert_eq!(e.code(), SksErrorCode::External);
    assert!(e.message().contains("no answer"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn missing_program_is_not_available() {
    let e = ShimSks::spawn(
        Command::new("/nonexistent/airtight-shim"),
        ShimOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), SksErrorCode::NotAvailable);
}

fn serve(input: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut sks = SampleSks;
    serve_shim(
        input.as_bytes(),
        &mut out,
        &mut sks,
        &ShimServerOptions {
            max_line: 200,
            ..ShimServerOptions::default()
        },
    )
    .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn code(v: &Value) -> i64 {
    v["error"]["code"].as_i64().unwrap()
}

#[test]
fn server_answers_malformed_input() {
    // [SHIM-ERR-002] [SHIM-ERR-003] [SHIM-HEL-003] [SHIM-FRM-002] [SHIM-MSG-003]
    let hello =
        r#"{"id":1,"method":"hello","params":{"protocol":"airtight-sks-shim","versions":[1]}}"#;
    let long = format!(r#"{{"id":9,"method":"{}"}}"#, "x".repeat(300));
    let input = [
        r#"{"id":0,"method":"getDeviceInfo","params":{}}"#, // before hello
        "not json",
        "[1,2]",
        r#"{"method":"getDeviceInfo","params":{}}"#,
        r#"{"id":-1,"method":"getDeviceInfo","params":{}}"#,
        hello,
        r#"{"id":2,"method":"noSuchMethod","params":{}}"#,
        r#"{"id":3,"method":"deleteKey","params":{"keyHandle":"x","authorization":null}}"#,
        r#"{"id":4,"method":"deleteKey","params":{"keyHandle":1,"authorization":null},"x":1}"#,
        long.as_str(),
        r#"{"id":5,"method":"deleteKey","params":{"keyHandle":1,"authorization":null}}"#,
        r#"{"id":6,"method":"createPukPolicy","params":{"provisioningHandle":1,"id":"p","encryptedPuk":"","format":"hex","retryLimit":3,"mac":""}}"#,
        r#"{"id":7,"method":"shutdown","params":{}}"#,
        r#"{"id":8,"method":"getDeviceInfo","params":{}}"#, // after shutdown: not read
    ]
    .join("\n");
    let out = serve(&input);
    assert_eq!(out.len(), 13);
    assert_eq!((out[0]["id"].as_u64(), code(&out[0])), (Some(0), 104));
    assert_eq!((out[1]["id"].is_null(), code(&out[1])), (true, 100));
    assert_eq!(code(&out[2]), 100);
    assert_eq!((out[3]["id"].is_null(), code(&out[3])), (true, 101));
    assert_eq!(code(&out[4]), 101);
    assert_eq!(out[5]["result"]["version"], 1);
    assert_eq!(out[5]["result"]["apiLevel"], 106);
    assert_eq!(code(&out[6]), 102);
    assert_eq!(code(&out[7]), 103);
    assert_eq!(code(&out[8]), 101);
    assert_eq!((out[9]["id"].is_null(), code(&out[9])), (true, 100));
    assert_eq!(out[10]["id"], 5);
    assert!(out[10]["result"].is_null());
    // [SHIM-ERR-004] an undefined enumeration name reaches the SKS (this sample SKS cannot
    // encode a name-only value and answers ERROR_OPTION, 9).
    assert_eq!(code(&out[11]), 9);
    assert!(out[12]["result"].is_null());
}

#[test]
fn server_rejects_unknown_version() {
    // [SHIM-HEL-002]
    let out = serve(
        r#"{"id":1,"method":"hello","params":{"protocol":"airtight-sks-shim","versions":[2]}}"#,
    );
    assert_eq!(code(&out[0]), 105);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary input lines never panic the shim server, and every non-empty line gets
        /// exactly one response line that parses as a response.
        // [SHIM-MSG-003] [SHIM-ERR-003]
        #[test]
        fn server_answers_every_line(lines in proptest::collection::vec(
            prop_oneof![
                "[ -~]{0,60}",
                Just(r#"{"id":1,"method":"hello","params":{"protocol":"airtight-sks-shim","versions":[1]}}"#.to_owned()),
                "\\{\"id\":[0-9]{1,3},\"method\":\"(deleteKey|signData|getDeviceInfo|x)\",\"params\":\\{[ -~]{0,30}\\}\\}",
            ], 1..12)) {
            let lines: Vec<String> = lines
                .into_iter()
                .filter(|l| !l.trim().is_empty() && !l.contains("shutdown"))
                .collect();
            let out = serve(&lines.join("\n"));
            prop_assert_eq!(out.len(), lines.len());
            for v in &out {
                let o = v.as_object().unwrap();
                prop_assert!(o.contains_key("id"));
                prop_assert!(o.contains_key("result") ^ o.contains_key("error"));
            }
        }
    }
}
