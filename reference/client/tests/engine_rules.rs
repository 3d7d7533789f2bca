//! Engine rules: strict SKS call order, abort on every failure, message order and session ids,
//! consent, PIN checks before the card, lookup verification.
#![allow(clippy::unwrap_used)]

mod support;

use airtight_client::UnixTime;
use airtight_client::{
    AbortStatus, AutoUi, ClientError, Failure, ManualClock, Middleware, PinSource, SessionContext,
};
use airtight_proto::messages::{Action, Message};
use airtight_proto::sks::{SksError, SksErrorCode, SksMethod};
use support::*;

const BASIC: &str = "e2es-ec-device";

/// A fake SKS scripted with the answers of a recorded session, and its requests.
fn setup(rel: &str) -> (FakeSks, Vec<Message>) {
    let msgs = session_messages(rel);
    let mut sks = FakeSks::new(reference_like_device(Vec::new()));
    sks.script(&msgs);
    let requests = msgs
        .into_iter()
        .step_by(2)
        .map(|(_, _, m)| m)
        .collect::<Vec<_>>();
    (sks, requests)
}

fn engine(sks: &mut FakeSks) -> Middleware<&mut FakeSks> {
    Middleware::new(sks, SessionContext::plain("http://127.0.0.1:18080/keygen2"))
        .with_pin_source(PinSource::from_lines("135790"))
        .with_clock(Box::new(ManualClock::new(UnixTime::from_secs(
            1_795_353_378,
        ))))
}

/// Runs `requests` until the first error.
fn run(mw: &mut Middleware<&mut FakeSks>, requests: &[Message]) -> Result<(), ClientError> {
    for r in requests {
        mw.handle(r.clone())?;
    }
    Ok(())
}

#[test]
fn basic_session_calls_the_sks_in_order() {
    // [KG2-ORD-001] [KG2-ORD-004] [KG2-ORD-006] [KG2-PFQ-010]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs).unwrap();
    assert!(mw.is_done());
    let outcome = mw.outcome().unwrap().clone();
    assert_eq!(outcome.created_keys, ["Key.1"]);
    drop(mw);
    assert_eq!(
        sks.calls,
        [
            "getDeviceInfo",
            "createProvisioningSession",
            "createPinPolicy:PIN.1",
            "createKeyEntry:Key.1",
            "getKeyHandle:Key.1",
            "setCertificatePath:Key.1",
            "closeProvisioningSession"
        ]
    );
}

#[test]
fn sks_failure_aborts_and_names_message_call_and_code() {
    // [KG2-FLW-006]
    let cases = [
        (
            "createPinPolicy",
            "KeyCreationRequest",
            SksMethod::CreatePinPolicy,
        ),
        (
            "createKeyEntry",
            "KeyCreationRequest",
            SksMethod::CreateKeyEntry,
        ),
        (
            "getKeyHandle",
            "ProvisioningFinalizationRequest",
            SksMethod::GetKeyHandle,
        ),
        (
            "setCertificatePath",
            "ProvisioningFinalizationRequest",
            SksMethod::SetCertificatePath,
        ),
        (
            "closeProvisioningSession",
            "ProvisioningFinalizationRequest",
            SksMethod::CloseProvisioningSession,
        ),
    ];
    for (prefix, message, method) in cases {
        let (sks, reqs) = setup(BASIC);
        let mut sks = sks.failing_at(prefix, SksError::mac("bad MAC"));
        let mut mw = engine(&mut sks);
        let err = run(&mut mw, &reqs).unwrap_err();
        assert_eq!(err.message, message, "{prefix}");
        assert_eq!(
            err.sks_failure(),
            Some((method, SksErrorCode::Mac)),
            "{prefix}"
        );
        assert_eq!(err.abort, AbortStatus::Aborted, "{prefix}");
        assert!(err.to_string().contains("ERROR_MAC"), "{err}");
        // Dead afterwards, no further SKS call.
        let again = mw.handle(reqs[0].clone()).unwrap_err();
        assert_eq!(again.failure, Failure::AlreadyFailed);
        drop(mw);
        assert_eq!(
            sks.calls.last().map(String::as_str),
            Some("abortProvisioningSession"),
            "{prefix}: {:?}",
            sks.calls
        );
        assert!(sks.sessions.iter().all(|s| !s.open), "{prefix}");
    }
}

#[test]
fn failure_before_the_session_needs_no_abort() {
    let (sks, reqs) = setup(BASIC);
    let mut sks = sks.failing_at("createProvisioningSession", SksError::crypto("curve"));
    let mut mw = engine(&mut sks);
    let err = run(&mut mw, &reqs).unwrap_err();
    assert_eq!(err.message, "ProvisioningInitializationRequest");
    assert_eq!(err.abort, AbortStatus::NoSession);
    drop(mw);
    assert!(!sks.methods().contains(&"abortProvisioningSession"));
}

#[test]
fn consent_declined_stops_before_any_provisioning_call() {
    // [KG2-INV-005]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks).with_ui(Box::new(AutoUi::decline_all()));
    let err = run(&mut mw, &reqs).unwrap_err();
    assert_eq!(err.message, "InvocationRequest");
    assert_eq!(err.failure, Failure::ConsentDeclined);
    assert_eq!(err.abort, AbortStatus::NoSession);
    drop(mw);
    assert_eq!(sks.calls, ["getDeviceInfo"]);
}

/// A UI that accepts the invocation but declines the keys.
#[derive(Debug)]
struct DeclineKeys;

impl airtight_client::UserInterface for DeclineKeys {
    fn consent(&mut self, _r: &airtight_client::ui::ConsentRequest) -> airtight_client::Consent {
        airtight_client::Consent::Accept
    }
    fn confirm_keys(
        &mut self,
        s: &airtight_client::ui::KeyCreationSummary,
    ) -> airtight_client::Consent {
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.keys[0].pin_policy.as_deref(), Some("PIN.1"));
        assert!(!s.keys[0].preset_pin);
        airtight_client::Consent::Decline
    }
    fn collect_pin(
        &mut self,
        _r: &airtight_client::ui::PinRequest,
    ) -> Option<zeroize::Zeroizing<String>> {
        None
    }
    fn pin_rejected(
        &mut self,
        _r: &airtight_client::ui::PinRequest,
        _p: &airtight_client::pin::PinProblem,
    ) {
    }
}

#[test]
fn declining_the_keys_aborts_the_session() {
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks).with_ui(Box::new(DeclineKeys));
    let err = run(&mut mw, &reqs).unwrap_err();
    assert_eq!(err.message, "KeyCreationRequest");
    assert_eq!(err.failure, Failure::ConsentDeclined);
    assert_eq!(err.abort, AbortStatus::Aborted);
}

#[test]
fn pin_is_checked_before_it_reaches_the_card() {
    // [KG2-KCQ-013] [POL-PIN-002]: too short for minLength 4; nothing is created.
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks).with_pin_source(PinSource::from_lines("123"));
    let err = run(&mut mw, &reqs).unwrap_err();
    assert!(
        matches!(&err.failure, Failure::PinRejected { pin_policy, .. } if pin_policy == "PIN.1"),
        "{err}"
    );
    assert_eq!(err.abort, AbortStatus::Aborted);
    drop(mw);
    assert!(!sks.methods().contains(&"createPinPolicy"));
    assert!(!sks.methods().contains(&"createKeyEntry"));

    // Wrong format.
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks).with_pin_source(PinSource::from_lines("12ab"));
    assert!(matches!(
        run(&mut mw, &reqs).unwrap_err().failure,
        Failure::PinRejected { .. }
    ));
}

#[test]
fn exhausted_pin_source_aborts() {
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks).with_pin_source(PinSource::from_lines(""));
    let err = run(&mut mw, &reqs).unwrap_err();
    assert!(
        matches!(err.failure, Failure::PinSourceExhausted { .. }),
        "{err}"
    );
    assert_eq!(err.abort, AbortStatus::Aborted);
}

#[test]
fn interactive_pins_are_asked_again_after_a_rejection() {
    let (mut sks, reqs) = setup(BASIC);
    let mut ui = AutoUi::accept_all();
    ui.pins.extend(["12".to_owned(), "135790".to_owned()]);
    let mut mw = engine(&mut sks)
        .with_ui(Box::new(ui))
        .with_pin_source(PinSource::Interactive { max_attempts: 3 });
    run(&mut mw, &reqs).unwrap();
    drop(mw);
    assert_eq!(
        sks.key_params[0].pin_value.as_ref().unwrap().as_slice(),
        b"135790"
    );
}

#[test]
fn messages_out_of_order_are_refused() {
    // [KG2-FLW-001]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    let err = mw.handle(reqs[2].clone()).unwrap_err();
    assert!(matches!(
        err.failure,
        Failure::OutOfOrder {
            got: "KeyCreationRequest",
            ..
        }
    ));

    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    mw.handle(reqs[0].clone()).unwrap();
    mw.handle(reqs[1].clone()).unwrap();
    // A repeated ProvisioningInitializationRequest after the session exists.
    let err = mw.handle(reqs[1].clone()).unwrap_err();
    assert!(matches!(err.failure, Failure::OutOfOrder { .. }));
    assert_eq!(err.abort, AbortStatus::Aborted);

    // A middleware message sent to the middleware.
    let (mut sks, _) = setup(BASIC);
    let mut mw = engine(&mut sks);
    let resp = session_messages(BASIC).remove(1).2;
    assert!(matches!(
        mw.handle(resp).unwrap_err().failure,
        Failure::OutOfOrder { .. }
    ));

    // KeyCreation twice.
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks).with_pin_source(PinSource::from_lines("135790\n135790"));
    run(&mut mw, &reqs[..3]).unwrap();
    assert!(matches!(
        mw.handle(reqs[2].clone()).unwrap_err().failure,
        Failure::OutOfOrder { .. }
    ));
}

#[test]
fn foreign_session_ids_are_refused() {
    // [KG2-FLW-002]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    mw.handle(reqs[0].clone()).unwrap();
    let Message::ProvisioningInitializationRequest(mut init) = reqs[1].clone() else {
        panic!()
    };
    init.server_session_id = "SomeOtherServerSession".into();
    let err = mw.handle(init.into()).unwrap_err();
    assert!(matches!(
        err.failure,
        Failure::SessionId {
            field: "serverSessionId",
            ..
        }
    ));

    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..2]).unwrap();
    let Message::KeyCreationRequest(mut kc) = reqs[2].clone() else {
        panic!()
    };
    kc.client_session_id = "AnotherClientSession".into();
    let err = mw.handle(kc.into()).unwrap_err();
    assert!(matches!(
        err.failure,
        Failure::SessionId {
            field: "clientSessionId",
            ..
        }
    ));
    assert_eq!(err.abort, AbortStatus::Aborted);
}

#[test]
fn unlock_sessions_refuse_key_creation() {
    // [KG2-INV-002]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    let Message::InvocationRequest(mut inv) = reqs[0].clone() else {
        panic!()
    };
    inv.action = Action::Unlock;
    mw.handle(inv.into()).unwrap();
    mw.handle(reqs[1].clone()).unwrap();
    let err = mw.handle(reqs[2].clone()).unwrap_err();
    assert!(
        matches!(
            &err.failure,
            Failure::Invalid {
                rule: "KG2-INV-002",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.abort, AbortStatus::Aborted);
    drop(mw);
    assert!(!sks.methods().contains(&"createPinPolicy"));
}

#[test]
fn privacy_mode_refuses_client_attribute_queries() {
    // [KG2-IMP-008]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    let Message::InvocationRequest(mut inv) = reqs[0].clone() else {
        panic!()
    };
    inv.privacy_enabled = Some(true);
    inv.client_capability_query =
        vec!["https://webpki.github.io/keygen2/clientattr#imei-number".into()];
    let err = mw.handle(inv.into()).unwrap_err();
    assert!(matches!(
        err.failure,
        Failure::Invalid {
            rule: "KG2-IMP-008",
            ..
        }
    ));
    drop(mw);
    assert!(sks.calls.is_empty());
}

#[test]
fn privacy_mode_sends_no_device_id_and_uses_the_flag() {
    // [KG2-INV-006] [KG2-PIR-004]
    let (mut sks, reqs) = setup("privacy-enabled");
    let mut mw = engine(&mut sks);
    mw.handle(reqs[0].clone()).unwrap();
    let Message::ProvisioningInitializationResponse(r) = mw.handle(reqs[1].clone()).unwrap() else {
        panic!()
    };
    assert!(r.device_certificate_path.is_none());
    drop(mw);
    assert!(sks.session_params[0].privacy_enabled);
}

#[test]
fn finalization_must_certify_exactly_the_created_keys() {
    // [KG2-PFQ-002]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..3]).unwrap();
    let Message::ProvisioningFinalizationRequest(mut fin) = reqs[3].clone() else {
        panic!()
    };
    fin.issued_credentials[0].id = "Key.9".into();
    let err = mw.handle(fin.into()).unwrap_err();
    assert!(matches!(
        err.failure,
        Failure::Invalid {
            rule: "KG2-PFQ-002",
            ..
        }
    ));
    assert_eq!(err.abort, AbortStatus::Aborted);

    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..3]).unwrap();
    let Message::ProvisioningFinalizationRequest(mut fin) = reqs[3].clone() else {
        panic!()
    };
    fin.issued_credentials.clear();
    assert!(matches!(
        mw.handle(fin.into()).unwrap_err().failure,
        Failure::Invalid {
            rule: "KG2-PFQ-002",
            ..
        }
    ));
}

#[test]
fn key_creation_rules() {
    // [KG2-KCQ-004] duplicate ids, [KG2-KCQ-011] deferredIssuance, [KG2-KCQ-001].
    type Mutation = fn(&mut airtight_proto::messages::KeyCreationRequest);
    let mutate: [(&str, Mutation); 3] = [
        ("KG2-KCQ-004", |kc| {
            kc.pin_policy_specifiers[0].key_entry_specifiers[0].id = "PIN.1".into()
        }),
        ("KG2-KCQ-011", |kc| kc.deferred_issuance = Some(true)),
        ("KG2-KCQ-001", |kc| kc.key_entry_algorithm = "urn:x".into()),
    ];
    for (rule, f) in mutate {
        let (mut sks, reqs) = setup(BASIC);
        let mut mw = engine(&mut sks);
        run(&mut mw, &reqs[..2]).unwrap();
        let Message::KeyCreationRequest(mut kc) = reqs[2].clone() else {
            panic!()
        };
        f(&mut kc);
        let err = mw.handle(kc.into()).unwrap_err();
        assert!(
            matches!(&err.failure, Failure::Invalid { rule: r, .. } if *r == rule),
            "{rule}: {err}"
        );
        drop(mw);
        assert!(!sks.methods().contains(&"createPinPolicy"), "{rule}");
    }
}

#[test]
fn undecodable_bytes_abort_an_open_session() {
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..2]).unwrap();
    let err = mw.handle_bytes(b"{\"not\":\"keygen2\"}").unwrap_err();
    assert!(matches!(err.failure, Failure::Decode(_)));
    assert_eq!(err.abort, AbortStatus::Aborted);
}

#[test]
fn handle_bytes_round_trip() {
    let msgs = session_messages(BASIC);
    let (mut sks, _) = setup(BASIC);
    let mut mw = engine(&mut sks);
    let out = mw.handle_bytes(&msgs[0].1).unwrap();
    let decoded = Message::decode(&out).unwrap();
    assert_eq!(decoded, msgs[1].2);
}

fn discovery_setup() -> (FakeSks, Vec<Message>) {
    // Session 1 of update-key leaves a KMK-managed key behind.
    let (mut sks, reqs1) = setup("update-key/1-initial");
    let mut mw = Middleware::new(
        &mut sks,
        SessionContext::plain("http://127.0.0.1:18080/keygen2"),
    )
    .with_pin_source(PinSource::Repeat("135790".to_owned().into()));
    run(&mut mw, &reqs1).unwrap();
    drop(mw);
    let (sks2, reqs2) = setup("update-key/2-update");
    sks.session_results = sks2.session_results;
    sks.key_results.extend(sks2.key_results);
    sks.close_attestations = sks2.close_attestations;
    (sks, reqs2)
}

#[test]
fn lookup_nonce_and_signature_are_verified() {
    // [KG2-CDQ-001]
    let (mut sks, reqs) = discovery_setup();
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..2]).unwrap();
    let Message::CredentialDiscoveryRequest(mut cd) = reqs[2].clone() else {
        panic!()
    };
    cd.lookup_specifiers[0].nonce[0] ^= 1;
    let err = mw.handle(cd.into()).unwrap_err();
    assert!(
        matches!(
            &err.failure,
            Failure::Invalid {
                rule: "KG2-CDQ-001",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.abort, AbortStatus::Aborted);

    // [KG2-CDQ-002]: any change to the signed object breaks the signature.
    let (mut sks, reqs) = discovery_setup();
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..2]).unwrap();
    let Message::CredentialDiscoveryRequest(mut cd) = reqs[2].clone() else {
        panic!()
    };
    cd.lookup_specifiers[0].id = "Lookup.X".into();
    let err = mw.handle(cd.into()).unwrap_err();
    assert!(
        matches!(
            &err.failure,
            Failure::Invalid {
                rule: "KG2-CDQ-002",
                ..
            }
        ),
        "{err}"
    );

    // The untouched request is accepted.
    let (mut sks, reqs) = discovery_setup();
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs).unwrap();
}

#[test]
fn post_operation_targets_must_exist() {
    // [KG2-PFQ-006]
    let (mut sks, reqs) = discovery_setup();
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..4]).unwrap();
    let Message::ProvisioningFinalizationRequest(mut fin) = reqs[4].clone() else {
        panic!()
    };
    match fin.issued_credentials[0].post_operation.as_mut().unwrap() {
        airtight_proto::messages::CredentialPostOperation::UpdateKey(p)
        | airtight_proto::messages::CredentialPostOperation::CloneKeyProtection(p) => {
            p.finger_print[0] ^= 1
        }
    }
    let err = mw.handle(fin.into()).unwrap_err();
    assert!(
        matches!(
            &err.failure,
            Failure::Invalid {
                rule: "KG2-PFQ-006",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.abort, AbortStatus::Aborted);
    drop(mw);
    assert!(!sks.methods().contains(&"setCertificatePath") || sks.post_ops.is_empty());
}

#[test]
fn nested_puk_pin_key_order_with_two_puks() {
    // [KG2-ORD-001] [KG2-KCQ-012] [KG2-KCR-001]: PUK, its PIN policies each followed by their
    // keys, the next PUK, then PIN policies without PUK, then keys without PIN; every PIN
    // policy gets the handle of the PUK it is nested under (facts §6 item 8).
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks).with_pin_source(PinSource::Repeat("1357".to_owned().into()));
    run(&mut mw, &reqs[..2]).unwrap();
    let (ssid, csid) = (
        reqs[2].server_session_id().to_owned(),
        reqs[2].client_session_id().unwrap().to_owned(),
    );
    let mac = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let puk = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let key = |id: &str| {
        format!(
            r#"{{"id":"{id}","appUsage":"authentication","keyAlgorithm":"https://webpki.github.io/sks/algorithm#ec.nist.p256","mac":"{mac}"}}"#
        )
    };
    let pin = |id: &str, keys: &[&str]| {
        let ks: Vec<String> = keys.iter().map(|k| key(k)).collect();
        format!(
            r#"{{"id":"{id}","minLength":4,"maxLength":8,"retryLimit":3,"format":"numeric","mac":"{mac}","keyEntrySpecifiers":[{}]}}"#,
            ks.join(",")
        )
    };
    let json = format!(
        r#"{{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"KeyCreationRequest",
        "serverSessionId":"{ssid}","clientSessionId":"{csid}",
        "keyEntryAlgorithm":"https://webpki.github.io/sks/algorithm#key.1",
        "pukPolicySpecifiers":[
          {{"id":"PUK.1","encryptedPuk":"{puk}","retryLimit":3,"format":"numeric","mac":"{mac}",
            "pinPolicySpecifiers":[{},{}]}},
          {{"id":"PUK.2","encryptedPuk":"{puk}","retryLimit":3,"format":"numeric","mac":"{mac}",
            "pinPolicySpecifiers":[{}]}}],
        "pinPolicySpecifiers":[{}],
        "keyEntrySpecifiers":[{}]}}"#,
        pin("PIN.A", &["a1", "a2"]),
        pin("PIN.B", &["b1"]),
        pin("PIN.C", &["c1"]),
        pin("PIN.D", &["d1"]),
        key("e1"),
    );
    let kc = Message::decode(json.as_bytes()).unwrap();
    let Message::KeyCreationResponse(resp) = mw.handle(kc).unwrap() else {
        panic!()
    };
    let ids: Vec<&str> = resp.generated_keys.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "b1", "c1", "d1", "e1"]);
    drop(mw);
    let creates: Vec<&str> = sks
        .calls
        .iter()
        .map(String::as_str)
        .filter(|c| {
            c.starts_with("createP") && !c.starts_with("createProvisioning")
                || c.starts_with("createKey")
        })
        .collect();
    assert_eq!(
        creates,
        [
            "createPukPolicy:PUK.1",
            "createPinPolicy:PIN.A",
            "createKeyEntry:a1",
            "createKeyEntry:a2",
            "createPinPolicy:PIN.B",
            "createKeyEntry:b1",
            "createPukPolicy:PUK.2",
            "createPinPolicy:PIN.C",
            "createKeyEntry:c1",
            "createPinPolicy:PIN.D",
            "createKeyEntry:d1",
            "createKeyEntry:e1",
        ]
    );
    // PIN.C is under PUK.2, PIN.D under no PUK; a1 and a2 share PIN.A's handle.
    assert_ne!(
        sks.pin_params[2].puk_policy_handle,
        sks.pin_params[0].puk_policy_handle
    );
    assert_eq!(
        sks.pin_params[0].puk_policy_handle,
        sks.pin_params[1].puk_policy_handle
    );
    assert!(sks.pin_params[3].puk_policy_handle.is_none());
    assert!(sks.key_params[5].pin_policy_handle.is_none());
    assert!(sks.key_params[5].pin_value.is_none());
    assert_eq!(
        sks.key_params[0].pin_value.as_ref().unwrap().as_slice(),
        b"1357"
    );
}

#[test]
fn trusted_gui_pins_need_an_interactive_source() {
    // [POL-INP-001]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    run(&mut mw, &reqs[..2]).unwrap();
    let Message::KeyCreationRequest(mut kc) = reqs[2].clone() else {
        panic!()
    };
    kc.pin_policy_specifiers[0].input_method =
        Some(airtight_proto::policy::InputMethod::TrustedGui);
    let err = mw.handle(kc.into()).unwrap_err();
    assert!(
        matches!(
            &err.failure,
            Failure::Invalid {
                rule: "POL-INP-001",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unconfigured_client_attributes_are_not_answered() {
    // [KG2-IRS-002]: every queried URI must be answered; an empty `values` list is not valid
    // ([KG2-ENC-014]), so an attribute without configured values stops the session.
    let (mut sks, _) = setup("user-pin-multiple-keys");
    let reqs = session_messages("user-pin-multiple-keys");
    let mut mw = engine(&mut sks);
    let err = mw.handle(reqs[0].2.clone()).unwrap_err();
    assert!(
        matches!(&err.failure, Failure::UnconfiguredAttribute { capability } if capability.ends_with("#ip-address")),
        "{err}"
    );
    drop(mw);
    assert!(sks.calls.is_empty());
}

#[test]
fn finalization_follows_its_own_credential_order() {
    // [KG2-ORD-007] [KG2-ORD-004]
    let (mut sks, reqs) = setup("user-pin-multiple-keys");
    let mut mw = engine(&mut sks)
        .with_pin_source(PinSource::from_lines("135790\n246813"))
        .with_config(airtight_client::ClientConfig {
            client_attributes: vec![(
                "https://webpki.github.io/keygen2/clientattr#ip-address".into(),
                vec!["127.0.0.1".into()],
            )],
            ..Default::default()
        });
    run(&mut mw, &reqs[..3]).unwrap();
    let Message::ProvisioningFinalizationRequest(mut fin) = reqs[3].clone() else {
        panic!()
    };
    fin.issued_credentials.reverse();
    let order: Vec<String> = fin
        .issued_credentials
        .iter()
        .map(|c| format!("setCertificatePath:{}", c.id))
        .collect();
    mw.handle(fin.into()).unwrap();
    drop(mw);
    let seen: Vec<String> = sks
        .calls
        .iter()
        .filter(|c| c.starts_with("setCertificatePath"))
        .cloned()
        .collect();
    assert_eq!(seen, order);
    assert_eq!(sks.calls.last().unwrap(), "closeProvisioningSession");
}

#[test]
fn unknown_session_key_algorithm_is_refused_before_the_card() {
    // [KG2-PIQ-002]
    let (mut sks, reqs) = setup(BASIC);
    let mut mw = engine(&mut sks);
    mw.handle(reqs[0].clone()).unwrap();
    let Message::ProvisioningInitializationRequest(mut init) = reqs[1].clone() else {
        panic!()
    };
    init.session_key_algorithm = "https://webpki.github.io/sks/algorithm#session.2".into();
    let err = mw.handle(init.into()).unwrap_err();
    assert!(matches!(
        err.failure,
        Failure::Invalid {
            rule: "KG2-PIQ-002",
            ..
        }
    ));
    drop(mw);
    assert!(!sks.methods().contains(&"createProvisioningSession"));
}
