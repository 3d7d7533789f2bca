//! Middleware MUST rules that had no citing test: `trustAnchor` installs nothing, PINs are not
//! kept by the middleware, and user-defined PINs go in clear to createKeyEntry only when no
//! `encryptedPin` is present. Recorded Java sessions are replayed against the recording fake
//! SKS of `support`.
#![allow(clippy::unwrap_used)]

mod support;

use airtight_client::UnixTime;
use airtight_client::{ClientConfig, ManualClock, Middleware, PinSource, SessionContext};
use airtight_proto::messages::Message;
use support::*;

const USER_PINS: &str = "user-pin-multiple-keys";
const PRESET: &str = "preset-pin-with-puk";

/// Replays `rel` with `pins`, after `modify` rewrote each recorded request; every response must
/// still be the recorded one. Returns the engine's Debug text and its outcome's.
fn replay_with(
    rel: &str,
    sks: &mut FakeSks,
    pins: &str,
    modify: impl Fn(&mut Message),
) -> (String, String) {
    let msgs = session_messages(rel);
    sks.script(&msgs);
    let sec = secrets(rel);
    let ctx = SessionContext {
        issuer_uri: sec["issuerUri"].as_str().unwrap().to_owned(),
        issuer_origin: "http://127.0.0.1:18080".into(),
        server_certificate: b64(&sec["serverCertificate"]),
    };
    let mut mw = Middleware::new(&mut *sks, ctx)
        .with_pin_source(PinSource::from_lines(pins))
        .with_clock(Box::new(ManualClock::new(UnixTime::from_secs(
            sec["clientTimeUnixSeconds"].as_i64().unwrap(),
        ))))
        .with_config(ClientConfig {
            client_attributes: vec![(
                "https://webpki.github.io/keygen2/clientattr#ip-address".into(),
                vec!["127.0.0.1".into()],
            )],
            ..ClientConfig::default()
        });
    for pair in msgs.chunks(2) {
        let [(name, _, req), (_, resp, _)] = pair else {
            panic!("{rel}: odd number of messages")
        };
        let mut req = req.clone();
        modify(&mut req);
        let produced = mw
            .handle(req)
            .unwrap_or_else(|e| panic!("{rel}/{name}: {e}"));
        assert_same_as_recorded(&produced, resp, &format!("{rel}/{name}"));
    }
    assert!(mw.is_done(), "{rel}: not done");
    let outcome = format!("{:?}", mw.outcome().unwrap());
    (format!("{mw:?}"), outcome)
}

fn user_pins() -> String {
    secrets(USER_PINS)["userEnteredPins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pin"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn trust_anchor_installs_nothing() {
    // [KG2-PFQ-009] the recorded finalization request marks a credential trustAnchor=true; the
    // session provisions exactly as with the flag removed: same SKS calls, same certificate
    // paths, same responses (checked inside replay_with).
    let recorded = session_messages(USER_PINS)
        .into_iter()
        .find_map(|(_, _, m)| match m {
            Message::ProvisioningFinalizationRequest(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert!(
        recorded
            .issued_credentials
            .iter()
            .any(|c| c.trust_anchor == Some(true)),
        "the sample must carry trustAnchor=true"
    );
    let pins = user_pins();
    let mut with = FakeSks::new(reference_like_device(Vec::new()));
    replay_with(USER_PINS, &mut with, &pins, |_| {});
    let mut without = FakeSks::new(reference_like_device(Vec::new()));
    replay_with(USER_PINS, &mut without, &pins, |m| {
        if let Message::ProvisioningFinalizationRequest(r) = m {
            for c in &mut r.issued_credentials {
                c.trust_anchor = None;
            }
        }
    });
    assert_eq!(with.calls, without.calls);
    let paths = |s: &FakeSks| {
        s.keys
            .iter()
            .map(|k| (k.id.clone(), k.certificate_path.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&with), paths(&without));
    // Only the provisioning methods ran (nothing that could store a root).
    for c in &with.calls {
        let m = c.split(':').next().unwrap();
        assert!(
            [
                "getDeviceInfo",
                "createProvisioningSession",
                "createPinPolicy",
                "createKeyEntry",
                "getKeyHandle",
                "setCertificatePath",
                "closeProvisioningSession",
            ]
            .contains(&m),
            "unexpected SKS call {c}"
        );
    }
}

fn set_pin_caching(m: &mut Message) {
    if let Message::KeyCreationRequest(r) = m {
        for pin in r.pin_policy_specifiers.iter_mut().chain(
            r.puk_policy_specifiers
                .iter_mut()
                .flat_map(|p| p.pin_policy_specifiers.iter_mut()),
        ) {
            for k in &mut pin.key_entry_specifiers {
                k.enable_pin_caching = Some(true);
            }
        }
    }
}

#[test]
fn cached_pins_are_left_to_the_card_and_not_kept() {
    // [POL-INP-005] with enablePinCaching the flag goes to the SKS (which may cache the
    // verified PIN); the middleware itself keeps nothing: the SKS sees the same calls and the
    // same PIN values as without caching, and neither the engine nor its outcome holds a PIN
    // after the session.
    let pins = user_pins();
    let mut cached = FakeSks::new(reference_like_device(Vec::new()));
    let (debug, outcome) = replay_with(USER_PINS, &mut cached, &pins, set_pin_caching);
    let mut plain = FakeSks::new(reference_like_device(Vec::new()));
    replay_with(USER_PINS, &mut plain, &pins, |_| {});
    assert_eq!(cached.calls, plain.calls);
    assert!(!cached.key_params.is_empty());
    for (c, p) in cached.key_params.iter().zip(&plain.key_params) {
        assert!(c.enable_pin_caching, "{}", c.id);
        assert!(!p.enable_pin_caching, "{}", p.id);
        assert_eq!(
            c.pin_value.as_ref().map(|v| v.to_vec()),
            p.pin_value.as_ref().map(|v| v.to_vec())
        );
    }
    for pin in pins.lines() {
        assert!(!debug.contains(pin), "engine holds {pin}: {debug}");
        assert!(!outcome.contains(pin), "outcome holds {pin}: {outcome}");
    }
}

#[test]
fn user_defined_pins_go_in_clear_only_without_encrypted_pin() {
    // [POL-USR-001] no encryptedPin: the policy is user-defined and each key gets the PIN the
    // user entered, in clear.
    let mut sks = FakeSks::new(reference_like_device(Vec::new()));
    replay_with(USER_PINS, &mut sks, &user_pins(), |_| {});
    assert!(sks.pin_params.iter().all(|p| p.user_defined));
    let entered: Vec<Vec<u8>> = user_pins().lines().map(|l| l.as_bytes().to_vec()).collect();
    for k in &sks.key_params {
        let v = k.pin_value.as_ref().unwrap().to_vec();
        assert!(entered.contains(&v), "{}: {v:?}", k.id);
    }
    // With encryptedPin the policy is not user-defined: the key gets the encrypted bytes, and a
    // PIN the user could have entered never reaches the card.
    let mut sks = FakeSks::new(reference_like_device(Vec::new()));
    replay_with(PRESET, &mut sks, "999999\n999999", |_| {});
    let req = session_messages(PRESET)
        .into_iter()
        .find_map(|(_, _, m)| match m {
            Message::KeyCreationRequest(r) => Some(r),
            _ => None,
        })
        .unwrap();
    let enc = req.keys()[0].encrypted_pin.clone().unwrap();
    assert!(sks.pin_params.iter().all(|p| !p.user_defined));
    assert_eq!(sks.key_params.len(), 1);
    let v = sks.key_params[0].pin_value.as_ref().unwrap().to_vec();
    assert_eq!(v, enc.to_vec());
    assert_ne!(v, b"999999".to_vec());
}
