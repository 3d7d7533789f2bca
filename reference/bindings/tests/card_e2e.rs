//! A full provisioning of the reference card (`airtight_card::ReferenceSks`) through the
//! bindings gives exactly what the card gives in-process for the same seed: through
//! `ApduSks<LoopbackTransport>` -> `ApduDispatcher<ReferenceSks>` (extended and short APDUs),
//! and through `ShimSks` -> `serve_shim` over pipes. The issuer emulator verifies every
//! attestation on the way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_bindings::shim::{ShimOptions, ShimSks};
use airtight_bindings::{ApduLimits, ApduSks, LoopbackTransport};
use airtight_card::ReferenceSks;
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::card;
use airtight_testkit::emulator::{Issuer, KeySpec, uri};
use common::{provision, shim_over_pipes};

const SEED: u64 = 0x5eed;

#[test]
fn apdu_loop_gives_the_same_session_as_the_card() {
    // [APDU-ENC-001] [APDU-CHN-001] [APDU-GR-001] [APDU-ERR-003]
    for privacy in [false, true] {
        let direct = provision(&mut card(SEED), SEED, privacy);
        for limits in [ApduLimits::EXTENDED, ApduLimits::SHORT] {
            let mut t = LoopbackTransport::new(card(SEED));
            t.limits = limits;
            let mut sks = ApduSks::new(t);
            let through = provision(&mut sks, SEED, privacy);
            assert_eq!(through, direct, "privacy {privacy}, {limits:?}");
            let m = sks.metrics();
            eprintln!(
                "privacy {privacy} {limits:?}: {} calls, {} APDUs ({} chained, {} GET RESPONSE), {} bytes to card, {} from card",
                m.calls, m.apdus, m.chained, m.get_responses, m.bytes_to_card, m.bytes_from_card
            );
            // SKS errors from the card arrive unchanged.
            let e = sks.get_key_attributes(KeyHandle(9999)).unwrap_err();
            let d = card(SEED).get_key_attributes(KeyHandle(9999)).unwrap_err();
            assert_eq!((e.code(), e.message()), (d.code(), d.message()));
            assert_eq!(e.code(), SksErrorCode::NoKey);
        }
    }
}

#[test]
fn shim_gives_the_same_session_as_the_card() {
    // [SHIM-ENC-001] [SHIM-ENC-003] [SHIM-ERR-001] [SHIM-END-001]
    for privacy in [false, true] {
        let direct = provision(&mut card(SEED), SEED, privacy);
        let (mut sks, server) = shim_over_pipes(card(SEED));
        let through = provision(&mut sks, SEED, privacy);
        assert_eq!(through, direct, "privacy {privacy}");
        let e = sks.get_key_attributes(KeyHandle(9999)).unwrap_err();
        assert_eq!(e.code(), SksErrorCode::NoKey);
        assert_eq!(sks.shutdown().unwrap(), None);
        // The server returned the card after `shutdown`: its keys are there.
        let mut card = server.join().unwrap();
        assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_some());
    }
}

#[test]
fn power_loss_discards_the_open_session() {
    // [APDU-VPC-005] [SKS-IMP-006]: a session interrupted by a power loss leaves nothing.
    use airtight_bindings::abort_open_sessions;
    use airtight_proto::sks::ProvisioningHandle;
    let mut t = LoopbackTransport::new(card(SEED));
    t.dispatcher
        .set_power_loss_hook(Box::new(|card: &mut ReferenceSks| {
            abort_open_sessions(card)
        }));
    let mut sks = ApduSks::new(t);
    let mut is = Issuer::new(SEED);
    is.create_session(&mut sks).unwrap();
    is.create_key(&mut sks, &KeySpec::new("Key.1", uri::P256))
        .unwrap();
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
            .unwrap()
            .is_some()
    );
    sks.transport_mut().dispatcher.power_loss();
    // [APDU-SEL-005] the next call selects again (the card answered 69 85) and sees no open
    // session.
    let open = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
        .unwrap();
    assert!(open.is_none());
    assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
}

/// The `reference-shim` example, built by `cargo test` beside the test binaries.
fn reference_shim_exe() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.join("examples");
    let p = dir.join(format!("reference-shim{}", std::env::consts::EXE_SUFFIX));
    p.exists().then_some(p)
}

#[test]
fn shim_process_gives_the_same_session_as_the_card() {
    // [SHIM-FRM-001] [SHIM-HEL-001] [SHIM-END-001]: the reference card in a separate process.
    let Some(exe) = reference_shim_exe() else {
        eprintln!("skipped: the reference-shim example is not built (run the whole cargo test)");
        return;
    };
    let direct = provision(&mut card(SEED), SEED, false);
    let mut cmd = std::process::Command::new(exe);
    cmd.arg(SEED.to_string());
    let mut sks = ShimSks::spawn(cmd, ShimOptions::default()).unwrap();
    assert!(sks.hello().implementation.contains("reference"));
    let through = provision(&mut sks, SEED, false);
    assert_eq!(through, direct);
    let status = sks.shutdown().unwrap().unwrap();
    assert!(status.success());
}
