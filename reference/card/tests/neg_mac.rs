//! Negative checks: wrong MACs on every MAC-carrying method, tampered MAC-covered arguments,
//! replayed, skipped and reused MAC counters, MACs from another session, MACs of the wrong
//! length, and decryption failures behind a valid MAC. Every failure is ERROR_MAC (or
//! ERROR_CRYPTO after a valid MAC) and tears the session down without a trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_neg;

use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::policy::PassphraseFormat;
use airtight_proto::session1::{self, Method};
use airtight_proto::sks::{ExtensionSubType, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{self, KeySpec, PinSpec, uri};
use support_neg::{corrupt, session, snapshot, world};

const EXT: &str = "http://example.com/ext";

#[test]
fn wrong_mac_on_every_mac_carrying_method() {
    // [SKS-ERR-004] [CRY-MAC-023] [SKS-IMP-001] [SKS-TXN-002] [SKS-TXN-003] [SKS-TXN-004]
    let (mut sks, base) = world(1);
    let before = snapshot(&mut sks);

    // createPukPolicy [CRY-MAC-010] [SKS-POL-001]
    let mut is = session(&mut sks, 10);
    let mut p = is
        .puk_params("PUK.1", b"1234", PassphraseFormat::Numeric, 3)
        .unwrap();
    p.mac = corrupt(p.mac);
    fatal!(
        sks,
        is,
        before,
        sks.create_puk_policy(&p),
        SksErrorCode::Mac
    );

    // createPinPolicy [CRY-MAC-011] [SKS-POL-002]
    let mut is = session(&mut sks, 11);
    let mut p = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
    p.mac = corrupt(p.mac);
    fatal!(
        sks,
        is,
        before,
        sks.create_pin_policy(&p),
        SksErrorCode::Mac
    );

    // createKeyEntry [CRY-MAC-013]
    let mut is = session(&mut sks, 12);
    let mut p = is.key_params(&KeySpec::new("K", uri::P256)).unwrap();
    p.mac = corrupt(p.mac);
    fatal!(sks, is, before, sks.create_key_entry(&p), SksErrorCode::Mac);

    // setCertificatePath [CRY-MAC-016] [SKS-CRT-001]
    let mut is = session(&mut sks, 13);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let path = is.certificate_path(&kd.public_key).unwrap();
    let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
    let data = session1::set_certificate_path_data(&kd.public_key, "K", &refs).unwrap();
    let mac = corrupt(is.mac(Method::SetCertificatePath, &data).unwrap());
    fatal!(
        sks,
        is,
        before,
        sks.set_certificate_path(kd.key_handle, &path, &mac),
        SksErrorCode::Mac
    );

    // importSymmetricKey [CRY-MAC-017]
    let mut is = session(&mut sks, 14);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let enc = is.encrypt(&[7u8; 32]).unwrap();
    let data = session1::import_key_data(k.ee(), &enc).unwrap();
    let mac = corrupt(is.mac(Method::ImportSymmetricKey, &data).unwrap());
    fatal!(
        sks,
        is,
        before,
        sks.import_symmetric_key(k.handle, &enc, &mac),
        SksErrorCode::Mac
    );

    // importPrivateKey [CRY-MAC-017]
    let mut is = session(&mut sks, 15);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let pkcs8 = PrivateKey::generate_ec(Curve::P256, &mut is.rng)
        .to_pkcs8_der()
        .unwrap();
    let enc = is.encrypt(&pkcs8).unwrap();
    let data = session1::import_key_data(k.ee(), &enc).unwrap();
    let mac = corrupt(is.mac(Method::ImportPrivateKey, &data).unwrap());
    fatal!(
        sks,
        is,
        before,
        sks.import_private_key(k.handle, &enc, &mac),
        SksErrorCode::Mac
    );

    // addExtension [CRY-MAC-018] [SKS-EXT-001]
    let mut is = session(&mut sks, 16);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let data = session1::add_extension_data(
        k.ee(),
        EXT,
        session1::ExtensionSubType::Extension,
        "",
        b"data",
    )
    .unwrap();
    let mac = corrupt(is.mac(Method::AddExtension, &data).unwrap());
    fatal!(
        sks,
        is,
        before,
        sks.add_extension(
            k.handle,
            EXT,
            ExtensionSubType::Extension.into(),
            "",
            b"data",
            &mac
        ),
        SksErrorCode::Mac
    );

    // postDeleteKey, postUnlockKey [CRY-MAC-019] [SKS-PST-001]
    for (seed, method) in [(17, Method::PostDeleteKey), (18, Method::PostUnlockKey)] {
        let mut is = session(&mut sks, seed);
        let auth = is.authorization(&base.kmk, base.key.ee()).unwrap();
        let data = session1::post_delete_or_unlock_data(&auth).unwrap();
        let mac = corrupt(is.mac(method, &data).unwrap());
        let r = if method == Method::PostDeleteKey {
            sks.post_delete_key(is.handle, base.key.handle, &auth, &mac)
        } else {
            sks.post_unlock_key(is.handle, base.key.handle, &auth, &mac)
        };
        fatal!(sks, is, before, r, SksErrorCode::Mac);
    }

    // postUpdateKey, postCloneKeyProtection [CRY-MAC-019] [SKS-PST-001]
    for (seed, method) in [
        (19, Method::PostUpdateKey),
        (20, Method::PostCloneKeyProtection),
    ] {
        let mut is = session(&mut sks, seed);
        let nk = is
            .provision_key(&mut sks, &KeySpec::new("N", uri::P256))
            .unwrap();
        let auth = is.authorization(&base.kmk, base.key.ee()).unwrap();
        let data = session1::post_update_or_clone_data(nk.ee(), &auth).unwrap();
        let mac = corrupt(is.mac(method, &data).unwrap());
        let r = if method == Method::PostUpdateKey {
            sks.post_update_key(nk.handle, base.key.handle, &auth, &mac)
        } else {
            sks.post_clone_key_protection(nk.handle, base.key.handle, &auth, &mac)
        };
        fatal!(sks, is, before, r, SksErrorCode::Mac);
    }

    // closeProvisioningSession [CRY-MAC-021] [SKS-SES-010] [SKS-CLS-006]
    let mut is = session(&mut sks, 21);
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let nonce = [9u8; 32];
    let data = session1::close_provisioning_session_data(
        &is.client_session_id,
        &is.server_session_id,
        &is.issuer_uri,
        &nonce,
    )
    .unwrap();
    let mac = corrupt(is.mac(Method::CloseProvisioningSession, &data).unwrap());
    fatal!(
        sks,
        is,
        before,
        sks.close_provisioning_session(is.handle, &nonce, &mac),
        SksErrorCode::Mac
    );
}

#[test]
fn tampered_mac_covered_arguments() {
    // The MAC binds every covered argument: changing one after MACing is ERROR_MAC.
    // [CRY-MAC-010] [CRY-MAC-011] [CRY-MAC-013] [CRY-MAC-016] [CRY-MAC-018] [CRY-MAC-021]
    // [CRY-MAC-022] [SKS-ERR-004] [CRY-MAC-023]
    let (mut sks, _base) = world(2);
    let before = snapshot(&mut sks);

    // createPukPolicy: retry limit changed.
    let mut is = session(&mut sks, 30);
    let mut p = is
        .puk_params("PUK.1", b"1234", PassphraseFormat::Numeric, 3)
        .unwrap();
    p.retry_limit = 4;
    fatal!(
        sks,
        is,
        before,
        sks.create_puk_policy(&p),
        SksErrorCode::Mac
    );

    // createPukPolicy: id changed.
    let mut is = session(&mut sks, 31);
    let mut p = is
        .puk_params("PUK.1", b"1234", PassphraseFormat::Numeric, 3)
        .unwrap();
    p.id = "PUK.2".into();
    fatal!(
        sks,
        is,
        before,
        sks.create_puk_policy(&p),
        SksErrorCode::Mac
    );

    // createPinPolicy: userModifiable flipped.
    let mut is = session(&mut sks, 32);
    let mut p = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
    p.user_modifiable = !p.user_modifiable;
    fatal!(
        sks,
        is,
        before,
        sks.create_pin_policy(&p),
        SksErrorCode::Mac
    );

    // createPinPolicy: maxLength changed.
    let mut is = session(&mut sks, 33);
    let mut p = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
    p.max_length = 9;
    fatal!(
        sks,
        is,
        before,
        sks.create_pin_policy(&p),
        SksErrorCode::Mac
    );

    // createKeyEntry: appUsage changed.
    let mut is = session(&mut sks, 34);
    let mut p = is.key_params(&KeySpec::new("K", uri::P256)).unwrap();
    p.app_usage = airtight_proto::policy::AppUsage::Signature.into();
    fatal!(sks, is, before, sks.create_key_entry(&p), SksErrorCode::Mac);

    // createKeyEntry: an endorsed algorithm added.
    let mut is = session(&mut sks, 35);
    let mut p = is.key_params(&KeySpec::new("K", uri::P256)).unwrap();
    p.endorsed_algorithms = vec![uri::ECDSA_SHA256.into()];
    fatal!(sks, is, before, sks.create_key_entry(&p), SksErrorCode::Mac);

    // createKeyEntry: key algorithm changed.
    let mut is = session(&mut sks, 36);
    let mut p = is.key_params(&KeySpec::new("K", uri::P256)).unwrap();
    p.key_algorithm = uri::P384.into();
    fatal!(sks, is, before, sks.create_key_entry(&p), SksErrorCode::Mac);

    // setCertificatePath: the MAC made for another path.
    let mut is = session(&mut sks, 37);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let path = is.certificate_path(&kd.public_key).unwrap();
    let other = is.certificate_path(&kd.public_key).unwrap();
    let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
    let data = session1::set_certificate_path_data(&kd.public_key, "K", &refs).unwrap();
    let mac = is.mac(Method::SetCertificatePath, &data).unwrap();
    fatal!(
        sks,
        is,
        before,
        sks.set_certificate_path(kd.key_handle, &other, &mac),
        SksErrorCode::Mac
    );

    // addExtension: data changed.
    let mut is = session(&mut sks, 38);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let data = session1::add_extension_data(
        k.ee(),
        EXT,
        session1::ExtensionSubType::Extension,
        "",
        b"data",
    )
    .unwrap();
    let mac = is.mac(Method::AddExtension, &data).unwrap();
    fatal!(
        sks,
        is,
        before,
        sks.add_extension(
            k.handle,
            EXT,
            ExtensionSubType::Extension.into(),
            "",
            b"datA",
            &mac
        ),
        SksErrorCode::Mac
    );

    // closeProvisioningSession: nonce changed.
    let mut is = session(&mut sks, 39);
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let nonce = [9u8; 32];
    let data = session1::close_provisioning_session_data(
        &is.client_session_id,
        &is.server_session_id,
        &is.issuer_uri,
        &nonce,
    )
    .unwrap();
    let mac = is.mac(Method::CloseProvisioningSession, &data).unwrap();
    fatal!(
        sks,
        is,
        before,
        sks.close_provisioning_session(is.handle, &[8u8; 32], &mac),
        SksErrorCode::Mac
    );

    // A MAC made with another method name at the right counter [CRY-MAC-002].
    let mut is = session(&mut sks, 40);
    let ps = PinSpec::new("PIN.1");
    let mut p = is.pin_params(&ps).unwrap();
    let data = session1::create_pin_policy_data(&session1::PinPolicyMacInput {
        id: "PIN.1",
        puk_policy_id: None,
        user_defined: ps.user_defined,
        user_modifiable: ps.user_modifiable,
        format: ps.format,
        retry_limit: ps.retry_limit,
        grouping: ps.grouping,
        pattern_restrictions: ps.pattern_restrictions,
        min_length: ps.min_length,
        max_length: ps.max_length,
        input_method: ps.input_method,
    })
    .unwrap();
    p.mac = is.mac_at(Method::CreatePukPolicy, 0, &data).unwrap();
    fatal!(
        sks,
        is,
        before,
        sks.create_pin_policy(&p),
        SksErrorCode::Mac
    );
}

#[test]
fn mac_counter_replay_skip_and_reuse() {
    // [CRY-CTR-002] [CRY-CTR-005] [CRY-MAC-001] [SKS-ERR-004] [CRY-MAC-023]
    let (mut sks, _base) = world(3);
    let before = snapshot(&mut sks);

    // Replayed: the MAC of the previous call sent again with the same arguments.
    let mut is = session(&mut sks, 50);
    let p = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
    sks.create_pin_policy(&p).unwrap();
    fatal!(
        sks,
        is,
        before,
        sks.create_pin_policy(&p),
        SksErrorCode::Mac
    );

    // Skipped: the issuer's MAC is one counter value ahead.
    let mut is = session(&mut sks, 51);
    is.mac(Method::CreateKeyEntry, b"lost").unwrap();
    let p = is.key_params(&KeySpec::new("K", uri::P256)).unwrap();
    fatal!(sks, is, before, sks.create_key_entry(&p), SksErrorCode::Mac);

    // Reused: setCertificatePath MACed at the counter of the key attestation ([CRY-CTR-005]:
    // the attestation consumed it).
    let mut is = session(&mut sks, 52);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let path = is.certificate_path(&kd.public_key).unwrap();
    let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
    let data = session1::set_certificate_path_data(&kd.public_key, "K", &refs).unwrap();
    let mac = is.mac_at(Method::SetCertificatePath, 1, &data).unwrap();
    fatal!(
        sks,
        is,
        before,
        sks.set_certificate_path(kd.key_handle, &path, &mac),
        SksErrorCode::Mac
    );

    // Reused: counter 0 again after two MACed calls.
    let mut is = session(&mut sks, 53);
    is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    is.create_pin(&mut sks, &PinSpec::new("PIN.2")).unwrap();
    let mut p = is.pin_params(&PinSpec::new("PIN.3")).unwrap();
    // Recompute the same data at counter 0.
    let ps = PinSpec::new("PIN.3");
    let data = session1::create_pin_policy_data(&session1::PinPolicyMacInput {
        id: "PIN.3",
        puk_policy_id: None,
        user_defined: ps.user_defined,
        user_modifiable: ps.user_modifiable,
        format: ps.format,
        retry_limit: ps.retry_limit,
        grouping: ps.grouping,
        pattern_restrictions: ps.pattern_restrictions,
        min_length: ps.min_length,
        max_length: ps.max_length,
        input_method: ps.input_method,
    })
    .unwrap();
    p.mac = is.mac_at(Method::CreatePinPolicy, 0, &data).unwrap();
    fatal!(
        sks,
        is,
        before,
        sks.create_pin_policy(&p),
        SksErrorCode::Mac
    );

    // A MAC from another session (another session key) at the same counter.
    let mut a = session(&mut sks, 54);
    let mut b = session(&mut sks, 55);
    let pa = a.pin_params(&PinSpec::new("PIN.1")).unwrap();
    let mut pb = b.pin_params(&PinSpec::new("PIN.1")).unwrap();
    pb.mac = pa.mac.clone();
    let before_b = snapshot(&mut sks);
    fatal!(
        sks,
        b,
        before_b,
        sks.create_pin_policy(&pb),
        SksErrorCode::Mac
    );
    // Session a is unaffected and still accepts its own MAC.
    sks.create_pin_policy(&pa).unwrap();
    sks.abort_provisioning_session(a.handle).unwrap();

    // The close MAC of one session replayed in another one.
    let mut is = session(&mut sks, 56);
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let nonce = [1u8; 32];
    let data = session1::close_provisioning_session_data(
        &is.client_session_id,
        &is.server_session_id,
        &is.issuer_uri,
        &nonce,
    )
    .unwrap();
    let close_mac = is.mac(Method::CloseProvisioningSession, &data).unwrap();
    let mut other = session(&mut sks, 57);
    other
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let before_other = snapshot(&mut sks);
    fatal!(
        sks,
        other,
        before_other,
        sks.close_provisioning_session(other.handle, &nonce, &close_mac),
        SksErrorCode::Mac
    );
    // The original session still closes with it.
    sks.close_provisioning_session(is.handle, &nonce, &close_mac)
        .unwrap();
}

#[test]
fn mac_of_the_wrong_length() {
    // [CRY-MAC-003] every MAC is exactly 32 bytes. [SKS-ERR-004]
    let (mut sks, _base) = world(4);
    let before = snapshot(&mut sks);
    for (i, len) in [0usize, 16, 31, 33, 64].into_iter().enumerate() {
        let mut is = session(&mut sks, 60 + i as u64);
        let mut p = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
        p.mac.resize(len, 0);
        fatal!(
            sks,
            is,
            before,
            sks.create_pin_policy(&p),
            SksErrorCode::Mac
        );
    }
}

#[test]
fn encrypted_values_are_mac_checked_before_decryption() {
    // A ciphertext changed after MACing is ERROR_MAC, never a padding error [CRY-IMP-001]
    // [CRY-ENC-005] [SKS-IMP-001].
    let (mut sks, _base) = world(5);
    let before = snapshot(&mut sks);

    // PUK
    let mut is = session(&mut sks, 70);
    let mut p = is
        .puk_params("PUK.1", b"1234", PassphraseFormat::Numeric, 3)
        .unwrap();
    let last = p.encrypted_puk.len() - 1;
    p.encrypted_puk[last] ^= 0xff;
    fatal!(
        sks,
        is,
        before,
        sks.create_puk_policy(&p),
        SksErrorCode::Mac
    );

    // preset PIN
    let mut is = session(&mut sks, 71);
    let mut ps = PinSpec::new("PIN.1");
    ps.user_defined = false;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let mut ks = KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234");
    ks.preset_pin = true;
    let mut p = is.key_params(&ks).unwrap();
    if let Some(v) = p.pin_value.as_mut() {
        v[0] ^= 1;
    }
    fatal!(sks, is, before, sks.create_key_entry(&p), SksErrorCode::Mac);

    // symmetric key
    let mut is = session(&mut sks, 72);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let mut enc = is.encrypt(&[7u8; 32]).unwrap();
    let data = session1::import_key_data(k.ee(), &enc).unwrap();
    let mac = is.mac(Method::ImportSymmetricKey, &data).unwrap();
    enc[20] ^= 1;
    fatal!(
        sks,
        is,
        before,
        sks.import_symmetric_key(k.handle, &enc, &mac),
        SksErrorCode::Mac
    );

    // private key
    let mut is = session(&mut sks, 73);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let pkcs8 = PrivateKey::generate_ec(Curve::P256, &mut is.rng)
        .to_pkcs8_der()
        .unwrap();
    let mut enc = is.encrypt(&pkcs8).unwrap();
    let data = session1::import_key_data(k.ee(), &enc).unwrap();
    let mac = is.mac(Method::ImportPrivateKey, &data).unwrap();
    enc.truncate(enc.len() - 16);
    fatal!(
        sks,
        is,
        before,
        sks.import_private_key(k.handle, &enc, &mac),
        SksErrorCode::Mac
    );

    // encrypted extension
    let mut is = session(&mut sks, 74);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let mut enc = is.encrypt(b"secret extension").unwrap();
    let data = session1::add_extension_data(
        k.ee(),
        EXT,
        session1::ExtensionSubType::EncryptedExtension,
        "",
        &enc,
    )
    .unwrap();
    let mac = is.mac(Method::AddExtension, &data).unwrap();
    enc[0] ^= 1;
    fatal!(
        sks,
        is,
        before,
        sks.add_extension(
            k.handle,
            EXT,
            ExtensionSubType::EncryptedExtension.into(),
            "",
            &enc,
            &mac
        ),
        SksErrorCode::Mac
    );
}

/// `IV ‖ C` of `plaintext` whose padding is broken: flipping bit 7 of the last IV byte turns
/// the last padding byte of a one-block plaintext into an invalid value.
fn bad_padding(is: &mut emulator::Issuer, plaintext: &[u8]) -> Vec<u8> {
    assert!(plaintext.len() < 16);
    let mut enc = is.encrypt(plaintext).unwrap();
    assert_eq!(enc.len(), 32);
    enc[15] ^= 0x80;
    enc
}

#[test]
fn decryption_failures_behind_a_valid_mac() {
    // Bad padding / bad length after a valid MAC: ERROR_CRYPTO, same text for every cause
    // [CRY-IMP-003] [CRY-ENC-006] [SKS-ERR-008] [SKS-TXN-002]
    let (mut sks, _base) = world(6);
    let before = snapshot(&mut sks);
    let mut texts = Vec::new();

    // PUK with broken padding.
    let mut is = session(&mut sks, 80);
    let enc = bad_padding(&mut is, b"1234");
    let data =
        session1::create_puk_policy_data("PUK.1", &enc, PassphraseFormat::Numeric, 3).unwrap();
    let mac = is.mac(Method::CreatePukPolicy, &data).unwrap();
    let p = airtight_proto::sks::CreatePukPolicyParams {
        provisioning_handle: is.handle,
        id: "PUK.1".into(),
        encrypted_puk: enc,
        format: PassphraseFormat::Numeric.into(),
        retry_limit: 3,
        mac,
    };
    texts.push(fatal!(
        sks,
        is,
        before,
        sks.create_puk_policy(&p),
        SksErrorCode::Crypto
    ));

    // PUK whose ciphertext length is not a multiple of 16.
    let mut is = session(&mut sks, 81);
    let mut enc = is.encrypt(b"1234").unwrap();
    enc.push(0);
    let data =
        session1::create_puk_policy_data("PUK.1", &enc, PassphraseFormat::Numeric, 3).unwrap();
    let mac = is.mac(Method::CreatePukPolicy, &data).unwrap();
    let p = airtight_proto::sks::CreatePukPolicyParams {
        provisioning_handle: is.handle,
        id: "PUK.1".into(),
        encrypted_puk: enc,
        format: PassphraseFormat::Numeric.into(),
        retry_limit: 3,
        mac,
    };
    texts.push(fatal!(
        sks,
        is,
        before,
        sks.create_puk_policy(&p),
        SksErrorCode::Crypto
    ));

    // Symmetric key with broken padding.
    let mut is = session(&mut sks, 82);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let enc = bad_padding(&mut is, &[5u8; 8]);
    let data = session1::import_key_data(k.ee(), &enc).unwrap();
    let mac = is.mac(Method::ImportSymmetricKey, &data).unwrap();
    texts.push(fatal!(
        sks,
        is,
        before,
        sks.import_symmetric_key(k.handle, &enc, &mac),
        SksErrorCode::Crypto
    ));

    // Private key: only 16 bytes (no room for IV and a block).
    let mut is = session(&mut sks, 83);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let enc = vec![0u8; 16];
    let data = session1::import_key_data(k.ee(), &enc).unwrap();
    let mac = is.mac(Method::ImportPrivateKey, &data).unwrap();
    texts.push(fatal!(
        sks,
        is,
        before,
        sks.import_private_key(k.handle, &enc, &mac),
        SksErrorCode::Crypto
    ));

    // Encrypted extension with broken padding.
    let mut is = session(&mut sks, 84);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let enc = bad_padding(&mut is, b"ext");
    let data = session1::add_extension_data(
        k.ee(),
        EXT,
        session1::ExtensionSubType::EncryptedExtension,
        "",
        &enc,
    )
    .unwrap();
    let mac = is.mac(Method::AddExtension, &data).unwrap();
    texts.push(fatal!(
        sks,
        is,
        before,
        sks.add_extension(
            k.handle,
            EXT,
            ExtensionSubType::EncryptedExtension.into(),
            "",
            &enc,
            &mac
        ),
        SksErrorCode::Crypto
    ));

    // Preset PIN with broken padding.
    let mut is = session(&mut sks, 85);
    let mut ps = PinSpec::new("PIN.1");
    ps.user_defined = false;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let enc = bad_padding(&mut is, b"1234");
    let ks = KeySpec::new("K", uri::P256);
    let endorsed: Vec<&str> = Vec::new();
    let data = session1::create_key_entry_data(&session1::KeyEntryMacInput {
        id: "K",
        key_entry_algorithm: &ks.key_entry_algorithm,
        server_seed: None,
        pin_policy_id: Some("PIN.1"),
        encrypted_pin: Some(&enc),
        device_pin_protection: false,
        enable_pin_caching: false,
        biometric_protection: ks.biometric_protection,
        export_protection: ks.export_protection,
        delete_protection: ks.delete_protection,
        app_usage: ks.app_usage,
        friendly_name: None,
        key_algorithm: uri::P256,
        key_parameters: None,
        endorsed_algorithms: &endorsed,
    })
    .unwrap();
    let mut p = is.key_params(&ks).unwrap();
    p.mac = is.mac_at(Method::CreateKeyEntry, 1, &data).unwrap();
    p.pin_policy_handle = pin;
    p.pin_value = Some(zeroize::Zeroizing::new(enc));
    texts.push(fatal!(
        sks,
        is,
        before,
        sks.create_key_entry(&p),
        SksErrorCode::Crypto
    ));

    // No padding oracle: every decryption failure reads the same [CRY-IMP-003].
    let first = texts[0].message().to_owned();
    for t in &texts {
        assert_eq!(t.message(), first, "decryption failures must not differ");
    }
}
