//! A full provisioning run through any `SecureKeyStore`, recorded as a transcript so that the
//! same seed can be compared across bindings (direct, APDU loop, shim, PC/SC).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::BufReader;
use std::thread;

use airtight_bindings::shim::{ShimOptions, ShimServerOptions, ShimSks, serve_shim};
use airtight_card::ReferenceSks;
use airtight_proto::policy::PassphraseFormat;
use airtight_proto::sks::{
    DeviceInfo, KeyAttributes, KeyData, KeyProtectionInfo, ProvisioningSessionResult,
    SecureKeyStore,
};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};

/// Everything the card returned that the issuer or the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub device_info: DeviceInfo,
    pub session: ProvisioningSessionResult,
    pub keys: Vec<KeyData>,
    pub close_attestation: Vec<u8>,
    pub signature: Vec<u8>,
    pub attributes: KeyAttributes,
    pub protection: KeyProtectionInfo,
}

/// One session (E2ES or privacy): PUK, PIN, a P-256 key with the PIN and an RSA-1024 key
/// without, certificates, close; then a signature with the PIN and the key attributes.
pub fn provision(sks: &mut dyn SecureKeyStore, seed: u64, privacy: bool) -> Transcript {
    let device_info = sks.get_device_info().unwrap();
    let mut is = Issuer::new(seed);
    is.privacy_enabled = privacy;
    let session = is.create_session(sks).unwrap();
    let puk = is
        .create_puk(sks, "PUK.1", b"01234567", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    let pin = is.create_pin(sks, &ps).unwrap();
    let mut keys = Vec::new();
    for spec in [
        KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        KeySpec::new("Key.2", uri::RSA1024),
    ] {
        let kd = is.create_key(sks, &spec).unwrap();
        let path = is.certificate_path(&kd.public_key).unwrap();
        is.set_certificate_path(sks, kd.key_handle, &spec.id, &kd.public_key, &path)
            .unwrap();
        keys.push(kd);
    }
    let close_attestation = is.close(sks).unwrap();
    let k1 = keys[0].key_handle;
    let signature = sks
        .sign_data(
            k1,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1234"),
            b"data to sign",
        )
        .unwrap();
    airtight_testkit::public_key(&keys[0].public_key)
        .verify(
            airtight_proto::keys::SignatureAlgorithm::Ecdsa(airtight_proto::keys::HashAlg::Sha256),
            b"data to sign",
            &signature,
        )
        .unwrap();
    let attributes = sks.get_key_attributes(k1).unwrap();
    let protection = sks.get_key_protection_info(k1).unwrap();
    Transcript {
        device_info,
        session,
        keys,
        close_attestation,
        signature,
        attributes,
        protection,
    }
}

/// The shim server (`serve_shim`) on a thread in front of `card`, and a `ShimSks` client
/// connected to it over pipes. `shutdown` the client, then join the thread to get the card back.
pub fn shim_over_pipes(card: ReferenceSks) -> (ShimSks, thread::JoinHandle<ReferenceSks>) {
    let (req_r, req_w) = std::io::pipe().unwrap();
    let (resp_r, resp_w) = std::io::pipe().unwrap();
    let server = thread::spawn(move || {
        let mut card = card;
        serve_shim(
            BufReader::new(req_r),
            resp_w,
            &mut card,
            &ShimServerOptions::default(),
        )
        .unwrap();
        card
    });
    let sks = ShimSks::connect(resp_r, req_w, ShimOptions::default()).unwrap();
    (sks, server)
}

/// How a test reaches the reference card.
#[derive(Debug, Clone, Copy)]
pub enum Binding {
    /// `ReferenceSks` directly.
    InProcess,
    /// `ApduSks` -> loopback -> `ApduDispatcher<ReferenceSks>`.
    Apdu,
    /// `ShimSks` -> pipes -> `serve_shim` ([`shim_over_pipes`]).
    Shim,
}

/// Runs `f` on `card` reached through `binding` (the shim is shut down afterwards).
pub fn through(binding: Binding, card: ReferenceSks, f: impl FnOnce(&mut dyn SecureKeyStore)) {
    match binding {
        Binding::InProcess => {
            let mut card = card;
            f(&mut card);
        }
        Binding::Apdu => f(&mut airtight_bindings::ApduSks::new(
            airtight_bindings::LoopbackTransport::new(card),
        )),
        Binding::Shim => {
            let (mut sks, server) = shim_over_pipes(card);
            f(&mut sks);
            sks.shutdown().unwrap();
            server.join().unwrap();
        }
    }
}
