//! Codec round trips for every SKS method, binary (APDU payloads) and JSON (shim), and strict
//! decoding of arbitrary bytes.
#![allow(clippy::unwrap_used)]

use airtight_bindings::apdu::{self, StatusWord};
use airtight_bindings::wire::sample::SampleRng;
use airtight_bindings::{SksCall, SksReturn};
use airtight_proto::sks::{SksErrorCode, SksMethod};
use proptest::prelude::*;

fn method(i: usize) -> SksMethod {
    SksMethod::ALL[i % SksMethod::ALL.len()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    // [APDU-ENC-001] [APDU-ENC-002] [APDU-ENC-003] [APDU-ENC-010]
    #[test]
    fn call_binary_round_trip(i in 0usize..34, seed: u64) {
        let m = method(i);
        let call = SksCall::sample(m, &mut SampleRng::new(seed));
        prop_assert_eq!(call.method(), m);
        let bytes = call.encode_payload().unwrap();
        prop_assert_eq!(SksCall::decode_payload(m, &bytes).unwrap(), call);
        // Truncated or extended payloads never decode.
        if !bytes.is_empty() {
            prop_assert!(SksCall::decode_payload(m, &bytes[..bytes.len() - 1]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(SksCall::decode_payload(m, &longer).is_err());
    }

    // [APDU-ENC-001] [APDU-ENC-010]
    #[test]
    fn result_binary_round_trip(i in 0usize..34, seed: u64) {
        let m = method(i);
        let ret = SksReturn::sample(m, &mut SampleRng::new(seed));
        prop_assert_eq!(ret.method(), m);
        let bytes = ret.encode_payload().unwrap();
        prop_assert_eq!(SksReturn::decode_payload(m, &bytes).unwrap(), ret);
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(SksReturn::decode_payload(m, &longer).is_err());
    }

    // [SHIM-ENC-001] [SHIM-ENC-002] [SHIM-ENC-003]
    #[test]
    fn json_round_trip(i in 0usize..34, seed: u64) {
        let m = method(i);
        let mut r = SampleRng::new(seed);
        let call = SksCall::sample(m, &mut r);
        let params = call.to_json_params();
        // Through text, as on the wire.
        let text = serde_json::to_string(&params).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(SksCall::from_json_params(m, &back).unwrap(), call);
        let ret = SksReturn::sample(m, &mut r);
        let v = ret.to_json();
        prop_assert_eq!(SksReturn::from_json(m, &v).unwrap(), ret);
    }

    /// Arbitrary bytes never panic the decoders.
    #[test]
    fn arbitrary_bytes_never_panic(i in 0usize..34, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let m = method(i);
        let _ = SksCall::decode_payload(m, &bytes);
        let _ = SksReturn::decode_payload(m, &bytes);
        let _ = apdu::Command::parse(&bytes);
        let _ = apdu::split_response(&bytes);
    }
}

#[test]
fn json_params_strict() {
    // [SHIM-ENC-004]
    let m = SksMethod::DeleteKey;
    let ok = serde_json::json!({"keyHandle": 7, "authorization": null});
    assert!(SksCall::from_json_params(m, &ok).is_ok());
    let extra = serde_json::json!({"keyHandle": 7, "authorization": null, "x": 1});
    assert!(SksCall::from_json_params(m, &extra).is_err());
    let missing = serde_json::json!({"keyHandle": 7});
    assert!(SksCall::from_json_params(m, &missing).is_err());
    let bad_b64 = serde_json::json!({"keyHandle": 7, "authorization": "AA=="});
    assert!(SksCall::from_json_params(m, &bad_b64).is_err());
    let neg = serde_json::json!({"keyHandle": -1, "authorization": null});
    assert!(SksCall::from_json_params(m, &neg).is_err());
    let big = serde_json::json!({"keyHandle": 4294967296u64, "authorization": null});
    assert!(SksCall::from_json_params(m, &big).is_err());
    let float = serde_json::json!({"keyHandle": 1.5, "authorization": null});
    assert!(SksCall::from_json_params(m, &float).is_err());
}

#[test]
fn create_params_are_flattened_in_json() {
    // [SHIM-ENC-003]
    let call = SksCall::sample(SksMethod::CreatePukPolicy, &mut SampleRng::new(1));
    let v = call.to_json_params();
    let o = v.as_object().unwrap();
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "provisioningHandle",
            "id",
            "encryptedPuk",
            "format",
            "retryLimit",
            "mac"
        ]
    );
    assert!(
        o["format"].is_string(),
        "enumerations travel as KeyGen2 names"
    );
}

#[test]
fn binary_layout_known_answer() {
    // [APDU-ENC-002] [APDU-ENC-003]: deleteKey(0x01020304, Some([0xAA])) written by hand.
    let call = SksCall::DeleteKey {
        key_handle: airtight_proto::sks::KeyHandle(0x0102_0304),
        authorization: Some(vec![0xAA]),
    };
    assert_eq!(
        call.encode_payload().unwrap(),
        vec![1, 2, 3, 4, 0x01, 0, 0, 0, 1, 0xAA]
    );
    let call = SksCall::GetKeyHandle {
        provisioning_handle: airtight_proto::sks::ProvisioningHandle(5),
        id: "Key.1".into(),
    };
    assert_eq!(
        call.encode_payload().unwrap(),
        vec![0, 0, 0, 5, 0, 5, b'K', b'e', b'y', b'.', b'1']
    );
    // A presence byte other than 0/1 is rejected.
    assert!(SksCall::decode_payload(SksMethod::DeleteKey, &[1, 2, 3, 4, 2]).is_err());
}

#[test]
fn undefined_enum_value_decodes_for_the_sks() {
    // [APDU-ERR-004]: createPukPolicy with format byte 0x09 decodes; the SKS rejects it.
    let call = SksCall::sample(SksMethod::CreatePukPolicy, &mut SampleRng::new(3));
    let mut bytes = call.encode_payload().unwrap();
    // provisioningHandle(4) id(L) encryptedPuk(blob) format(1)
    let id_len = u16::from_be_bytes([bytes[4], bytes[5]]) as usize;
    let at = 6 + id_len;
    let puk_len =
        u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    bytes[at + 4 + puk_len] = 0x09;
    let SksCall::CreatePukPolicy { params } =
        SksCall::decode_payload(SksMethod::CreatePukPolicy, &bytes).unwrap()
    else {
        panic!("wrong call");
    };
    assert_eq!(params.format.to_byte(), Some(0x09));
    assert!(!params.format.is_defined());
    // And it encodes back byte for byte (ApduSks can send it to a foreign card).
    assert_eq!(
        SksCall::CreatePukPolicy { params }
            .encode_payload()
            .unwrap(),
        bytes
    );
}

#[test]
fn sks_error_status_words_cover_every_code() {
    // [APDU-ERR-001]
    for c in SksErrorCode::ALL {
        assert_eq!(
            StatusWord::for_sks_error(*c).0,
            0x9100 | u16::from(c.to_byte())
        );
    }
}

#[test]
fn call_adapter_forwards_every_method() {
    use airtight_bindings::calls::{CallAdapter, CallSks, SampleSks};
    struct Counting(usize);
    impl CallSks for Counting {
        fn call(&mut self, call: SksCall) -> Result<SksReturn, airtight_proto::sks::SksError> {
            self.0 += 1;
            SampleSks::expected(&call)
        }
    }
    let mut sks = CallAdapter(Counting(0));
    let mut r = SampleRng::new(5);
    for m in SksMethod::ALL {
        let call = SksCall::sample(*m, &mut r);
        assert_eq!(call.invoke(&mut sks), SampleSks::expected(&call));
    }
    assert_eq!(sks.0.0, SksMethod::ALL.len());
}

#[test]
fn unsigned_fields_keep_values_over_32767() {
    // [SHIM-ENC-006]: a ushort of 32768 or more travels as the unsigned number, both ways;
    // the signed reading (a negative number) is malformed.
    let call = SksCall::sample(SksMethod::CreateProvisioningSession, &mut SampleRng::new(7));
    let SksCall::CreateProvisioningSession { mut params } = call else {
        panic!("wrong call");
    };
    params.session_key_limit = 40_000;
    params.session_life_time = 0xffff;
    let call = SksCall::CreateProvisioningSession { params };
    let mut json = call.to_json_params();
    assert_eq!(json["sessionKeyLimit"], 40_000);
    assert_eq!(json["sessionLifeTime"], 65_535);
    let back = SksCall::from_json_params(SksMethod::CreateProvisioningSession, &json).unwrap();
    assert_eq!(back, call);
    // The APDU form is the same two bytes a signed reader would misread.
    let payload = call.encode_payload().unwrap();
    assert_eq!(
        SksCall::decode_payload(SksMethod::CreateProvisioningSession, &payload).unwrap(),
        call
    );
    json["sessionKeyLimit"] = (-25_536).into();
    assert!(SksCall::from_json_params(SksMethod::CreateProvisioningSession, &json).is_err());
    json["sessionKeyLimit"] = 65_536.into();
    assert!(SksCall::from_json_params(SksMethod::CreateProvisioningSession, &json).is_err());
}

#[test]
fn undefined_values_in_json_params() {
    // [SHIM-ENC-005]: an undefined value of a named enumeration is an integer or an unknown
    // name; it decodes and encodes back unchanged. Other JSON types stay malformed.
    let call = SksCall::sample(SksMethod::CreatePinPolicy, &mut SampleRng::new(11));
    let mut json = call.to_json_params();
    for (member, value) in [
        ("format", serde_json::json!(7)),
        ("format", serde_json::json!("hex")),
        ("grouping", serde_json::json!(255)),
        ("patternRestrictions", serde_json::json!(0x20)),
        ("inputMethod", serde_json::json!("Any")),
    ] {
        let mut j = json.clone();
        j[member] = value.clone();
        let c = SksCall::from_json_params(SksMethod::CreatePinPolicy, &j).unwrap();
        assert_eq!(c.to_json_params()[member], value, "{member}");
    }
    // A defined value sent as its byte decodes to that value and is written by name.
    json["format"] = 1.into();
    let c = SksCall::from_json_params(SksMethod::CreatePinPolicy, &json).unwrap();
    assert_eq!(c.to_json_params()["format"], "alphanumeric");
    for (member, bad) in [
        ("format", serde_json::json!(256)),
        ("format", serde_json::json!(true)),
        ("format", serde_json::json!(null)),
        ("format", serde_json::json!(-1)),
        ("patternRestrictions", serde_json::json!("two-in-a-row")),
    ] {
        let mut j = json.clone();
        j[member] = bad;
        assert!(
            SksCall::from_json_params(SksMethod::CreatePinPolicy, &j).is_err(),
            "{member}"
        );
    }
}
