//! The APDU binding end to end in memory: `ApduSks<LoopbackTransport<ApduDispatcher<_>>>`,
//! every method with sample arguments and results, chaining and GET RESPONSE with small limits,
//! status words for malformed, over-long, truncated and out-of-order APDUs.
#![allow(clippy::unwrap_used)]

use airtight_bindings::apdu::{self, AID, Command, SelectInfo, StatusWord};
use airtight_bindings::calls::ScriptedSks;
use airtight_bindings::exchange::{Exchange, ExchangeError, Step};
use airtight_bindings::wire::sample::SampleRng;
use airtight_bindings::{
    ApduDispatcher, ApduLimits, ApduSks, DispatcherOptions, LoopbackTransport, SksCall, SksReturn,
};
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksError, SksErrorCode, SksMethod};
use proptest::prelude::*;

fn loopback(limits: ApduLimits) -> ApduSks<LoopbackTransport<ScriptedSks>> {
    let mut t = LoopbackTransport::new(ScriptedSks::default());
    t.limits = limits;
    ApduSks::new(t)
}

fn scripted(sks: &mut ApduSks<LoopbackTransport<ScriptedSks>>) -> &mut ScriptedSks {
    sks.transport_mut().dispatcher.store_mut()
}

const TINY: ApduLimits = ApduLimits {
    extended: false,
    max_command_data: 17,
    max_response_data: 13,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Every method: the card sees exactly the call made, the middleware gets exactly the
    /// card's result or error, over extended, short and tiny APDU limits.
    // [APDU-ENC-001] [APDU-CHN-001] [APDU-CHN-002] [APDU-CHN-003] [APDU-GR-001] [APDU-GR-002]
    // [APDU-ERR-001] [APDU-ERR-002] [APDU-ERR-003] [APDU-APDU-002]
    #[test]
    fn every_method_through_apdus(i in 0usize..34, seed: u64, which in 0usize..3, fail: bool) {
        let limits = [ApduLimits::EXTENDED, ApduLimits::SHORT, TINY][which];
        let m = SksMethod::ALL[i];
        let mut r = SampleRng::new(seed);
        let call = SksCall::sample(m, &mut r);
        let reply = if fail {
            let code = SksErrorCode::ALL[r.below(SksErrorCode::ALL.len())];
            Err(SksError::new(code, r.string()))
        } else {
            Ok(SksReturn::sample(m, &mut r))
        };
        let mut sks = loopback(limits);
        scripted(&mut sks).replies.push_back(reply.clone());
        let got = call.invoke(&mut sks);
        prop_assert_eq!(got, reply);
        prop_assert_eq!(&scripted(&mut sks).calls, &vec![call]);
    }
}

#[test]
fn chaining_and_get_response_counts() {
    // [APDU-CHN-001] [APDU-GR-001]: 1000 data bytes through 17-byte segments, 13-byte responses.
    let mut sks = loopback(TINY);
    let data = vec![0x5A; 1000];
    scripted(&mut sks)
        .replies
        .push_back(Ok(SksReturn::SignData(vec![0xA5; 300])));
    let sig = sks
        .sign_data(KeyHandle(3), "alg", None, false, None, &data)
        .unwrap();
    assert_eq!(sig, vec![0xA5; 300]);
    let m = sks.metrics();
    let payload: usize = 4 + 2 + 3 + 1 + 1 + 1 + 4 + 1000; // handle, L(alg), opt, bool, opt, blob
    let segments = payload.div_ceil(17);
    assert_eq!(m.chained as usize, segments - 1);
    assert_eq!(m.get_responses as usize, (4 + 300usize).div_ceil(13) - 1);
    // SELECT (+ its 61xx-free reply) + segments + GET RESPONSEs.
    assert_eq!(m.apdus as usize, 1 + segments + m.get_responses as usize);
    assert_eq!(m.calls, 1);
    assert!(m.bytes_to_card as usize > payload);
}

fn selected() -> ApduDispatcher<ScriptedSks> {
    let mut d = ApduDispatcher::new(ScriptedSks::default());
    let r = d.process(&apdu::select_command());
    let (data, sw) = apdu::split_response(&r).unwrap();
    assert_eq!(sw, StatusWord::OK);
    let info = SelectInfo::decode(data).unwrap();
    assert_eq!(info.api_level, 106);
    d
}

fn sw_of(r: &[u8]) -> StatusWord {
    apdu::split_response(r).unwrap().1
}

#[test]
fn select_rules() {
    // [APDU-SEL-001] [APDU-SEL-002] [APDU-SEL-003] [APDU-SEL-004]
    let mut d = ApduDispatcher::new(ScriptedSks::default());
    let gdi = apdu::build_command(0x80, 0x02, 1, 0, &[], 256, false).unwrap();
    assert_eq!(
        sw_of(&d.process(&gdi)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    let mut wrong = AID.to_vec();
    wrong[12] = 2;
    let sel = apdu::build_command(0, 0xA4, 4, 0, &wrong, 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&sel)), StatusWord::NOT_FOUND);
    let mut d = selected();
    d.store_mut().replies.push_back(Err(SksError::crypto("x")));
    assert_eq!(sw_of(&d.process(&gdi)), StatusWord(0x9105));
    d.reset();
    assert_eq!(
        sw_of(&d.process(&gdi)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
}

#[test]
fn ins_p1_p2_cla_checks() {
    // [APDU-INS-003] [APDU-MAL-002]
    let mut d = selected();
    let p1_wrong = apdu::build_command(0x80, 0x02, 2, 0, &[], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&p1_wrong)), StatusWord::WRONG_P1P2);
    let p2_wrong = apdu::build_command(0x80, 0x02, 1, 1, &[], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&p2_wrong)), StatusWord::WRONG_P1P2);
    let ins = apdu::build_command(0x80, 0x03, 1, 0, &[], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&ins)), StatusWord::INS_NOT_SUPPORTED);
    let cla = apdu::build_command(0x84, 0x02, 1, 0, &[], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&cla)), StatusWord::CLA_NOT_SUPPORTED);
    assert!(d.store().calls.is_empty());
}

#[test]
fn truncated_and_malformed_apdus() {
    // [APDU-MAL-001] [APDU-MAL-003]
    let mut d = selected();
    // Lc says 5, 3 bytes follow.
    assert_eq!(
        sw_of(&d.process(&[0x80, 0x02, 1, 0, 5, 1, 2, 3])),
        StatusWord::WRONG_LENGTH
    );
    assert_eq!(sw_of(&d.process(&[0x80, 0x02])), StatusWord::WRONG_LENGTH);
    // getKeyHandle with a payload that ends inside the id.
    let bad =
        apdu::build_command(0x80, 0x16, 11, 0, &[0, 0, 0, 1, 0, 9, b'a'], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&bad)), StatusWord::WRONG_DATA);
    // getDeviceInfo with a trailing byte.
    let bad = apdu::build_command(0x80, 0x02, 1, 0, &[0], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&bad)), StatusWord::WRONG_DATA);
    assert!(d.store().calls.is_empty());
}

#[test]
fn over_long_payload_rejected() {
    // [APDU-LIM-001] [APDU-LIM-002]: a chain that grows over the card's maximum.
    let mut d = ApduDispatcher::with_options(
        ScriptedSks::default(),
        DispatcherOptions {
            max_message: 100,
            ..DispatcherOptions::default()
        },
    );
    d.process(&apdu::select_command());
    let seg = apdu::build_command(0x90, 0x70, 100, 0, &[0; 60], 0, false).unwrap();
    assert_eq!(sw_of(&d.process(&seg)), StatusWord::OK);
    assert_eq!(sw_of(&d.process(&seg)), StatusWord::TOO_LONG);
    // And through the middleware: a 2 MiB payload never leaves it.
    let mut sks = loopback(ApduLimits::EXTENDED);
    let e = sks
        .sign_data(KeyHandle(1), "a", None, false, None, &vec![0; 2 << 20])
        .unwrap_err();
    assert_eq!(e.code(), SksErrorCode::External);
    assert!(scripted(&mut sks).calls.is_empty());
}

#[test]
fn chain_interrupted_by_other_command() {
    // [APDU-CHN-004]
    let mut d = selected();
    let seg = apdu::build_command(0x90, 0x70, 100, 0, &[0; 10], 0, false).unwrap();
    assert_eq!(sw_of(&d.process(&seg)), StatusWord::OK);
    let other = apdu::build_command(0x80, 0x72, 101, 0, &[0; 10], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&other)), StatusWord::LAST_COMMAND_EXPECTED);
    assert!(d.store().calls.is_empty());
}

#[test]
fn get_response_rules() {
    // [APDU-GR-001] [APDU-GR-003] [APDU-GR-004]
    let mut d = selected();
    let gr = apdu::build_command(0, 0xC0, 0, 0, &[], 256, false).unwrap();
    assert_eq!(sw_of(&d.process(&gr)), StatusWord::CONDITIONS_NOT_SATISFIED);
    d.store_mut()
        .replies
        .push_back(Ok(SksReturn::ExportKey(vec![7; 600].into())));
    let export = SksCall::ExportKey {
        key_handle: KeyHandle(1),
        authorization: None,
    };
    let cmd = apdu::build_command(
        0x80,
        apdu::ins_of(SksMethod::ExportKey),
        81,
        0,
        &export.encode_payload().unwrap(),
        256,
        false,
    )
    .unwrap();
    let r = d.process(&cmd);
    let (data, sw) = apdu::split_response(&r).unwrap();
    assert_eq!((data.len(), sw), (256, StatusWord(0x6100)));
    let r = d.process(&gr);
    let (data, sw) = apdu::split_response(&r).unwrap();
    assert_eq!((data.len(), sw), (256, StatusWord(0x6100 | 92)));
    // Another command drops the rest.
    d.process(&apdu::select_command());
    assert_eq!(sw_of(&d.process(&gr)), StatusWord::CONDITIONS_NOT_SATISFIED);
}

#[test]
fn exchange_maps_status_words() {
    // [APDU-ERR-002] [APDU-TRN-002]
    let (mut ex, first) =
        Exchange::start(SksMethod::GetDeviceInfo, &[], ApduLimits::SHORT).unwrap();
    let c = Command::parse(&first).unwrap();
    assert_eq!(
        (c.cla, c.ins, c.p1, c.p2, c.ne),
        (0x80, 0x02, 1, 0, Some(256))
    );
    let mut r = vec![0, 3, b'b', b'a', b'd'];
    r.extend_from_slice(&[0x91, 0x04]);
    match ex.on_response(&r) {
        Err(ExchangeError::Sks(e)) => {
            assert_eq!((e.code(), e.message()), (SksErrorCode::Mac, "bad"));
        }
        other => panic!("{other:?}"),
    }
    let (mut ex, _) = Exchange::start(SksMethod::GetDeviceInfo, &[], ApduLimits::SHORT).unwrap();
    assert!(matches!(ex.on_response(&[]), Err(ExchangeError::Apdu(_))));
    let (mut ex, _) = Exchange::start(SksMethod::GetDeviceInfo, &[], ApduLimits::SHORT).unwrap();
    assert!(matches!(
        ex.on_response(&[0x6A, 0x80]),
        Err(ExchangeError::Status { .. })
    ));
    let (mut ex, _) = Exchange::start(SksMethod::GetDeviceInfo, &[], ApduLimits::SHORT).unwrap();
    assert_eq!(ex.on_response(&[1, 0x90, 0]).unwrap(), Step::Done(vec![1]));
}

#[test]
fn card_gone_is_not_available() {
    // [APDU-TRN-001] [APDU-TRN-002]: an empty response (pcscd's answer when the card vanished).
    struct Gone;
    impl airtight_bindings::CardTransport for Gone {
        fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, airtight_bindings::TransportError> {
            Ok(vec![])
        }
    }
    let mut sks = ApduSks::new(Gone);
    let e = sks.get_device_info().unwrap_err();
    assert_eq!(e.code(), SksErrorCode::NotAvailable);
    assert!(e.message().contains("card is gone"), "{e}");
}

proptest! {
    /// The dispatcher never panics and always answers with a status word.
    // [APDU-MAL-004]
    #[test]
    fn dispatcher_never_panics(apdus in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..300), 1..20)) {
        let mut d = ApduDispatcher::new(ScriptedSks::default());
        for (n, a) in apdus.iter().enumerate() {
            let a = if n % 3 == 0 { apdu::select_command() } else { a.clone() };
            let r = d.process(&a);
            prop_assert!(r.len() >= 2);
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

#[test]
fn spec_examples_hold() {
    // [APDU-SEL-001] [APDU-SEL-003] [APDU-INS-001] [APDU-ENC-001] [APDU-ERR-001] [APDU-ERR-002]
    assert_eq!(
        apdu::select_command(),
        hex("00 A4 04 00 0D F0 61 69 72 74 69 67 68 74 53 4B 53 01 00")
    );
    let mut d = ApduDispatcher::new(ScriptedSks::default());
    assert_eq!(
        d.process(&apdu::select_command()),
        hex("01 00 6A 00 10 00 00 90 00")
    );
    d.store_mut()
        .replies
        .push_back(Ok(SksReturn::GetKeyHandle(KeyHandle(7))));
    let cmd = hex("80 16 0B 00 0B 00 00 00 05 00 05 4B 65 79 2E 31 00");
    assert_eq!(d.process(&cmd), hex("00 00 00 07 90 00"));
    assert_eq!(
        d.store().calls[0],
        SksCall::GetKeyHandle {
            provisioning_handle: airtight_proto::sks::ProvisioningHandle(5),
            id: "Key.1".into()
        }
    );
    d.store_mut()
        .replies
        .push_back(Err(SksError::no_key("no such key")));
    assert_eq!(
        d.process(&cmd),
        hex("00 0B 6E 6F 20 73 75 63 68 20 6B 65 79 91 07")
    );
}

#[test]
fn spec_chaining_example_holds() {
    // [APDU-CHN-001] [APDU-CHN-002] [APDU-GR-001]: 600-byte signData payload over short APDUs,
    // 300-byte response payload.
    let call = SksCall::SignData {
        key_handle: KeyHandle(1),
        algorithm: "a".into(),
        parameters: None,
        biometric_auth: false,
        authorization: None,
        data: vec![0; 600 - (4 + 3 + 1 + 1 + 1 + 4)],
    };
    let payload = call.encode_payload().unwrap();
    assert_eq!(payload.len(), 600);
    let (mut ex, first) =
        Exchange::start(SksMethod::SignData, &payload, ApduLimits::SHORT).unwrap();
    assert_eq!(&first[..5], &hex("90 70 64 00 FF")[..]);
    let mut d = selected();
    d.store_mut()
        .replies
        .push_back(Ok(SksReturn::SignData(vec![1; 296])));
    let mut sent = vec![first];
    let mut answers = Vec::new();
    loop {
        let r = d.process(sent.last().unwrap());
        answers.push(apdu::split_response(&r).unwrap().1);
        match ex.on_response(&r).unwrap() {
            Step::Send(next) => sent.push(next),
            Step::Done(data) => {
                assert_eq!(data.len(), 300);
                break;
            }
        }
    }
    assert_eq!(sent.len(), 4);
    assert_eq!(&sent[1][..5], &hex("90 70 64 00 FF")[..]);
    assert_eq!(&sent[2][..5], &hex("80 70 64 00 5A")[..]);
    assert_eq!(*sent[2].last().unwrap(), 0x00);
    assert_eq!(sent[3], hex("00 C0 00 00 00"));
    assert_eq!(
        answers,
        vec![
            StatusWord::OK,
            StatusWord::OK,
            StatusWord(0x612C),
            StatusWord::OK
        ]
    );
}
