//! Full provisioning flows through the issuer emulator: every key type in E2ES and privacy
//! mode (session, key and close attestations are verified by the emulator), the counter and
//! `sessionKeyLimit` accounting, imports, extensions, post-operations and KMK roll-over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_card::ReferenceSks;
use airtight_pki::DeviceKeyKind;
use airtight_proto::keys::{HashAlg, PrivateKey, SignatureAlgorithm};
use airtight_proto::policy::{AppUsage, ExportProtection, Grouping, PassphraseFormat};
use airtight_proto::session1::{self, Property};
use airtight_proto::sks::{
    ExtensionSubType, KeyBackup, KeyHandle, ProtectionStatus, ProvisioningHandle, SecureKeyStore,
    SksErrorCode,
};
use airtight_testkit::emulator::{self, EmuError, Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Case {
    alg: &'static str,
    params: Option<Vec<u8>>,
    sign_uri: &'static str,
    sig: SignatureAlgorithm,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            alg: uri::P256,
            params: None,
            sign_uri: uri::ECDSA_SHA256,
            sig: SignatureAlgorithm::Ecdsa(HashAlg::Sha256),
        },
        Case {
            alg: uri::P384,
            params: None,
            sign_uri: uri::ECDSA_SHA384,
            sig: SignatureAlgorithm::Ecdsa(HashAlg::Sha384),
        },
        Case {
            alg: uri::P521,
            params: None,
            sign_uri: uri::ECDSA_SHA512,
            sig: SignatureAlgorithm::Ecdsa(HashAlg::Sha512),
        },
        Case {
            alg: uri::RSA1024,
            params: None,
            sign_uri: uri::RSA_SHA256,
            sig: SignatureAlgorithm::RsaPkcs1(HashAlg::Sha256),
        },
        Case {
            alg: uri::RSA1024_EXP,
            params: Some(vec![0x01, 0x00, 0x01]),
            sign_uri: uri::RSA_SHA512,
            sig: SignatureAlgorithm::RsaPkcs1(HashAlg::Sha512),
        },
        Case {
            alg: uri::ED25519,
            params: None,
            sign_uri: uri::ED25519_SIG,
            sig: SignatureAlgorithm::Ed25519,
        },
    ]
}

/// One session: PUK, PIN, one key of `case`, certificate, close; then sign with the PIN.
fn provision_and_sign(sks: &mut ReferenceSks, seed: u64, privacy: bool, case: &Case) {
    let mut is = Issuer::new(seed);
    is.privacy_enabled = privacy;
    is.create_session(sks).unwrap();
    let puk = is
        .create_puk(sks, "PUK.1", b"01234567", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    let pin = is.create_pin(sks, &ps).unwrap();
    let mut spec = KeySpec::new("Key.1", case.alg).with_pin(pin, "PIN.1", b"1234");
    spec.key_parameters = case.params.clone();
    spec.server_seed = Some(vec![7; 64]); // [SKS-LIM-001] 64 bytes is the limit, accepted
    let key = is.provision_key(sks, &spec).unwrap();
    // [SKS-TXN-001] nothing is visible before close.
    assert!(
        sks.enumerate_keys(KeyHandle::NONE)
            .unwrap()
            .is_none_or(|k| k.key_handle != key.handle)
    );
    is.close(sks).unwrap();
    // [SKS-SES-012] visible after close.
    let mut found = false;
    let mut h = KeyHandle::NONE;
    while let Some(e) = sks.enumerate_keys(h).unwrap() {
        found |= e.key_handle == key.handle;
        h = e.key_handle;
    }
    assert!(found);
    let sig = sks
        .sign_data(
            key.handle,
            case.sign_uri,
            None,
            false,
            Some(b"1234"),
            b"data to sign",
        )
        .unwrap();
    airtight_testkit::public_key(&key.public_key)
        .verify(case.sig, b"data to sign", &sig)
        .unwrap();
    let attrs = sks.get_key_attributes(key.handle).unwrap();
    assert_eq!(attrs.certificate_path, key.certificate_path);
    let info = sks.get_key_protection_info(key.handle).unwrap();
    assert!(
        info.protection_status
            .contains(ProtectionStatus::PIN_PROTECTED)
    );
    assert!(
        info.protection_status
            .contains(ProtectionStatus::PUK_PROTECTED)
    );
}

#[test]
fn every_key_type_e2es_p256_device() {
    // [SKS-SES-005] [SKS-KEY-006] [SKS-KEY-010] [CRY-KAT-003]
    let mut sks = airtight_testkit::card(11);
    for (i, c) in cases().iter().enumerate() {
        provision_and_sign(&mut sks, 100 + i as u64, false, c);
    }
}

#[test]
fn every_key_type_privacy_mode() {
    let mut sks = airtight_testkit::card(12);
    for (i, c) in cases().iter().enumerate() {
        provision_and_sign(&mut sks, 200 + i as u64, true, c);
    }
}

#[test]
fn rsa2048_device_and_rsa2048_key() {
    let mut sks = ReferenceSks::in_memory_with_device(DeviceKeyKind::Rsa2048, 13);
    let c = Case {
        alg: uri::RSA2048,
        params: None,
        sign_uri: uri::RSA_SHA256,
        sig: SignatureAlgorithm::RsaPkcs1(HashAlg::Sha256),
    };
    provision_and_sign(&mut sks, 300, false, &c);
    provision_and_sign(&mut sks, 301, true, &cases()[0]);
}

/// Runs one fixed provisioning and returns every byte the card produced.
fn transcript(card_seed: u64) -> Vec<Vec<u8>> {
    let mut sks = airtight_testkit::card(card_seed);
    let mut is = Issuer::new(5);
    let res = is.create_session(&mut sks).unwrap();
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let key = is
        .create_key(
            &mut sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    let path = is.certificate_path(&key.public_key).unwrap();
    is.set_certificate_path(&mut sks, key.key_handle, "Key.1", &key.public_key, &path)
        .unwrap();
    let close = is.close(&mut sks).unwrap();
    let sig = sks
        .sign_data(
            key.key_handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1234"),
            b"x",
        )
        .unwrap();
    vec![
        res.client_session_id.into_bytes(),
        res.attestation,
        res.client_ephemeral_key,
        key.public_key,
        key.attestation,
        close,
        sig,
    ]
}

#[test]
fn a_seed_and_a_fixed_clock_reproduce_every_byte() {
    let a = transcript(42);
    let b = transcript(42);
    assert_eq!(a, b);
    let c = transcript(43);
    assert_ne!(a[0], c[0], "another seed, another clientSessionId");
    assert_ne!(a[3], c[3], "another seed, another key");
    // facts §3.2 item 2: 32 characters of the URL-safe alphabet.
    assert_eq!(a[0].len(), 32);
    assert!(
        a[0].iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
    );
}

/// SKSTest test47: one PIN, one key, a certificate and close need 6 session-key uses; 5 fail.
/// [CRY-LIM-004]
#[test]
fn session_key_limit_accounting() {
    for (limit, ok) in [(6u16, true), (5, false)] {
        let mut sks = airtight_testkit::card(20);
        let mut is = Issuer::new(20);
        is.session_key_limit = limit;
        is.create_session(&mut sks).unwrap();
        let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
        is.provision_key(
            &mut sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
        let r = is.close(&mut sks);
        if ok {
            r.unwrap();
        } else {
            expect_code(r, SksErrorCode::Option);
            // [SKS-SES-011] nothing committed.
            assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
        }
    }
    // A preset PIN needs 7.
    for (limit, ok) in [(7u16, true), (6, false)] {
        let mut sks = airtight_testkit::card(21);
        let mut is = Issuer::new(21);
        is.session_key_limit = limit;
        is.create_session(&mut sks).unwrap();
        let mut ps = PinSpec::new("PIN.1");
        ps.user_defined = false;
        let pin = is.create_pin(&mut sks, &ps).unwrap();
        let mut ks = KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234");
        ks.preset_pin = true;
        is.provision_key(&mut sks, &ks).unwrap();
        let r = is.close(&mut sks).map_err(EmuError::into_sks);
        assert_eq!(r.is_ok(), ok, "limit {limit}: {r:?}");
    }
}

#[test]
fn symmetric_key_import_hmac_and_aes() {
    let mut sks = airtight_testkit::card(30);
    let mut is = Issuer::new(30);
    is.create_session(&mut sks).unwrap();
    let mut spec = KeySpec::new("Key.1", uri::P256);
    spec.endorsed_algorithms = vec![uri::HMAC_SHA256.into()];
    spec.export_protection = ExportProtection::None;
    let hk = is.provision_key(&mut sks, &spec).unwrap();
    let secret = [0x0bu8; 20];
    is.import_symmetric_key(&mut sks, hk.handle, hk.ee(), &secret)
        .unwrap();
    let mut spec = KeySpec::new("Key.2", uri::P256);
    spec.endorsed_algorithms = vec![
        uri::AES256_CBC.into(),
        uri::AES_CBC.into(),
        uri::AES_ECB.into(),
    ];
    spec.endorsed_algorithms.sort();
    let ak = is.provision_key(&mut sks, &spec).unwrap();
    let aes_key = [0x42u8; 32];
    is.import_symmetric_key(&mut sks, ak.handle, ak.ee(), &aes_key)
        .unwrap();
    is.close(&mut sks).unwrap();

    // RFC 4231 test case 1: key 0x0b * 20, "Hi There".
    let mac = sks
        .perform_hmac(hk.handle, uri::HMAC_SHA256, None, false, None, b"Hi There")
        .unwrap();
    assert_eq!(
        mac,
        hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    );
    // Not endorsed -> ERROR_ALGORITHM [SKS-USR-001]
    expect_code(
        sks.perform_hmac(hk.handle, uri::HMAC_SHA1, None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
    // [SKS-MGT-002] exportable symmetric key
    assert_eq!(sks.export_key(hk.handle, None).unwrap().as_slice(), &secret);
    let info = sks.get_key_protection_info(hk.handle).unwrap();
    assert!(info.key_backup.contains(KeyBackup::IMPORTED));
    assert!(info.key_backup.contains(KeyBackup::EXPORTED));
    assert_eq!(
        sks.get_key_attributes(hk.handle)
            .unwrap()
            .symmetric_key_length,
        20
    );

    // [CRY-ALG-009] AES: CBC with internal IV round-trips; external IV; ECB no padding.
    let ct = sks
        .symmetric_key_encrypt(
            ak.handle,
            uri::AES256_CBC,
            true,
            None,
            false,
            None,
            b"secret message",
        )
        .unwrap();
    assert_eq!(ct.len(), 16 + 16);
    let pt = sks
        .symmetric_key_encrypt(ak.handle, uri::AES256_CBC, false, None, false, None, &ct)
        .unwrap();
    assert_eq!(pt.as_slice(), b"secret message");
    let iv = [9u8; 16];
    let ct = sks
        .symmetric_key_encrypt(
            ak.handle,
            uri::AES_CBC,
            true,
            Some(&iv),
            false,
            None,
            &[1u8; 16],
        )
        .unwrap();
    assert_eq!(ct.len(), 32);
    let ecb = sks
        .symmetric_key_encrypt(ak.handle, uri::AES_ECB, true, None, false, None, &[0u8; 32])
        .unwrap();
    assert_eq!(&ecb[..16], &ecb[16..], "ECB encrypts equal blocks equally");
    expect_code(
        sks.symmetric_key_encrypt(ak.handle, uri::AES_ECB, true, None, false, None, &[0u8; 15]),
        SksErrorCode::Option,
    );
    expect_code(
        sks.symmetric_key_encrypt(ak.handle, uri::AES_CBC, true, None, false, None, &[0u8; 16]),
        SksErrorCode::Option,
    );
    // Non-exportable -> ERROR_NOT_ALLOWED
    expect_code(sks.export_key(ak.handle, None), SksErrorCode::NotAllowed);
}

#[test]
fn private_key_import_rsa_decrypt_and_export() {
    let mut sks = airtight_testkit::card(31);
    let mut is = Issuer::new(31);
    is.create_session(&mut sks).unwrap();
    let imported =
        PrivateKey::generate_rsa(1024, 65537, &mut ChaCha20Rng::seed_from_u64(31)).unwrap();
    let pkcs8 = imported.to_pkcs8_der().unwrap();
    let mut spec = KeySpec::new("Key.1", uri::RSA1024);
    spec.export_protection = ExportProtection::None;
    spec.app_usage = AppUsage::Encryption;
    let kd = is.create_key(&mut sks, &spec).unwrap();
    // The certificate certifies the imported key, not the generated one.
    let imported_spki = imported.public_key().to_spki_der().unwrap();
    let path = is.certificate_path(&imported_spki).unwrap();
    is.set_certificate_path(&mut sks, kd.key_handle, "Key.1", &kd.public_key, &path)
        .unwrap();
    is.import_private_key(&mut sks, kd.key_handle, &path[0], &pkcs8)
        .unwrap();
    is.close(&mut sks).unwrap();
    let airtight_proto::keys::PublicKey::Rsa(pk) = imported.public_key() else {
        panic!("rsa")
    };
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let ct = pk
        .encrypt(&mut rng, rsa::Pkcs1v15Encrypt, b"wrapped key")
        .unwrap();
    let pt = sks
        .asymmetric_key_decrypt(kd.key_handle, uri::RSA_PKCS1, None, false, None, &ct)
        .unwrap();
    assert_eq!(pt.as_slice(), b"wrapped key");
    let ct = pk
        .encrypt(&mut rng, rsa::Oaep::<sha2::Sha256>::new(), b"oaep")
        .unwrap();
    let pt = sks
        .asymmetric_key_decrypt(kd.key_handle, uri::RSA_OAEP_SHA256, None, false, None, &ct)
        .unwrap();
    assert_eq!(pt.as_slice(), b"oaep");
    let exported = sks.export_key(kd.key_handle, None).unwrap();
    assert_eq!(
        PrivateKey::from_pkcs8_der(&exported).unwrap().public_key(),
        imported.public_key()
    );
}

#[test]
fn ecdh_key_agreement() {
    let mut sks = airtight_testkit::card(32);
    let mut is = Issuer::new(32);
    is.create_session(&mut sks).unwrap();
    let mut spec = KeySpec::new("Key.1", uri::P256);
    spec.endorsed_algorithms = vec![uri::ECDH_RAW.into()];
    let k = is.provision_key(&mut sks, &spec).unwrap();
    is.close(&mut sks).unwrap();
    let peer = PrivateKey::generate_ec(
        airtight_proto::keys::Curve::P256,
        &mut ChaCha20Rng::seed_from_u64(9),
    );
    let z = sks
        .key_agreement(
            k.handle,
            uri::ECDH_RAW,
            None,
            false,
            None,
            &peer.public_key().to_spki_der().unwrap(),
        )
        .unwrap();
    let expected =
        airtight_proto::keys::ecdh_z(&peer, &airtight_testkit::public_key(&k.public_key)).unwrap();
    assert_eq!(z.as_slice(), expected.as_slice());
    // [CRY-ALG-013] A peer point off its curve, or a peer on another supported curve, fails
    // in the key agreement with ERROR_CRYPTO (the Java reference's code for a failed ECDH).
    let mut off = peer.public_key().to_spki_der().unwrap();
    let n = off.len() - 1;
    off[n] ^= 1;
    expect_code(
        sks.key_agreement(k.handle, uri::ECDH_RAW, None, false, None, &off),
        SksErrorCode::Crypto,
    );
    let p384 = PrivateKey::generate_ec(
        airtight_proto::keys::Curve::P384,
        &mut ChaCha20Rng::seed_from_u64(10),
    );
    expect_code(
        sks.key_agreement(
            k.handle,
            uri::ECDH_RAW,
            None,
            false,
            None,
            &p384.public_key().to_spki_der().unwrap(),
        ),
        SksErrorCode::Crypto,
    );
    // Endorsed ECDH only: signing is refused [SKS-USR-001]
    expect_code(
        sks.sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
}

#[test]
fn extensions_property_bags_and_logotypes() {
    let mut sks = airtight_testkit::card(33);
    let mut is = Issuer::new(33);
    is.create_session(&mut sks).unwrap();
    let k = is
        .provision_key(&mut sks, &KeySpec::new("Key.1", uri::P256))
        .unwrap();
    let ee = k.ee().to_vec();
    is.add_extension(
        &mut sks,
        k.handle,
        &ee,
        "urn:ext:plain",
        ExtensionSubType::Extension,
        "",
        b"plain data",
    )
    .unwrap();
    is.add_extension(
        &mut sks,
        k.handle,
        &ee,
        "urn:ext:secret",
        ExtensionSubType::EncryptedExtension,
        "",
        b"secret data",
    )
    .unwrap();
    let bag = session1::encode_property_bag(&[
        Property {
            name: "user".into(),
            writable: false,
            value: "alice".into(),
        },
        Property {
            name: "counter".into(),
            writable: true,
            value: "1".into(),
        },
    ])
    .unwrap();
    is.add_extension(
        &mut sks,
        k.handle,
        &ee,
        "urn:ext:bag",
        ExtensionSubType::PropertyBag,
        "",
        &bag,
    )
    .unwrap();
    is.add_extension(
        &mut sks,
        k.handle,
        &ee,
        "urn:ext:logo",
        ExtensionSubType::Logotype,
        "image/png",
        &[0x89, b'P', b'N', b'G'],
    )
    .unwrap();
    is.close(&mut sks).unwrap();
    let attrs = sks.get_key_attributes(k.handle).unwrap();
    assert_eq!(
        attrs.extension_types,
        [
            "urn:ext:plain",
            "urn:ext:secret",
            "urn:ext:bag",
            "urn:ext:logo"
        ]
    );
    // [SKS-EXT-005] [SKS-EXT-008] decrypted at provisioning
    let e = sks.get_extension(k.handle, "urn:ext:secret").unwrap();
    assert_eq!(e.extension_data, b"secret data");
    assert_eq!(e.sub_type, ExtensionSubType::EncryptedExtension);
    let logo = sks.get_extension(k.handle, "urn:ext:logo").unwrap();
    assert_eq!(logo.qualifier, "image/png");
    // [SKS-EXT-009]
    sks.set_property(k.handle, "urn:ext:bag", "counter", "2")
        .unwrap();
    expect_code(
        sks.set_property(k.handle, "urn:ext:bag", "user", "bob"),
        SksErrorCode::NotAllowed,
    );
    expect_code(
        sks.set_property(k.handle, "urn:ext:bag", "nope", "x"),
        SksErrorCode::Option,
    );
    expect_code(
        sks.set_property(k.handle, "urn:ext:plain", "user", "x"),
        SksErrorCode::Option,
    );
    let bag = session1::parse_property_bag(
        &sks.get_extension(k.handle, "urn:ext:bag")
            .unwrap()
            .extension_data,
    )
    .unwrap();
    assert_eq!(bag[1].value, "2");
    assert_eq!(bag[0].value, "alice");
    expect_code(
        sks.get_extension(k.handle, "urn:ext:none"),
        SksErrorCode::Option,
    );
}

/// Provisions one PIN-protected key (shared grouping) in an updatable session; returns the key.
fn updatable_session(sks: &mut ReferenceSks, seed: u64) -> (emulator::Provisioned, PrivateKey) {
    let mut is = Issuer::new(seed).with_kmk(seed);
    let kmk = is.key_management_key.clone().unwrap();
    is.create_session(sks).unwrap();
    let puk = is
        .create_puk(sks, "PUK.1", b"0000", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    ps.grouping = Grouping::Shared;
    let pin = is.create_pin(sks, &ps).unwrap();
    let k = is
        .provision_key(
            sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    is.close(sks).unwrap();
    (k, kmk)
}

#[test]
fn post_update_key_takes_over_the_handle_and_the_pin() {
    let mut sks = airtight_testkit::card(40);
    let (old, kmk) = updatable_session(&mut sks, 40);
    let mut is = Issuer::new(41).with_kmk(41);
    is.create_session(&mut sks).unwrap();
    let new = is
        .provision_key(&mut sks, &KeySpec::new("Key.new", uri::P384))
        .unwrap();
    is.post_update_or_clone(
        &mut sks,
        new.handle,
        new.ee(),
        old.handle,
        old.ee(),
        &kmk,
        true,
    )
    .unwrap();
    // [SKS-PST-005] nothing happens before close
    assert_eq!(
        sks.get_key_attributes(old.handle).unwrap().certificate_path,
        old.certificate_path
    );
    is.close(&mut sks).unwrap();
    // [SKS-PST-012] [SKS-PST-013]
    let attrs = sks.get_key_attributes(old.handle).unwrap();
    assert_eq!(attrs.certificate_path, new.certificate_path);
    let sig = sks
        .sign_data(
            old.handle,
            uri::ECDSA_SHA384,
            None,
            false,
            Some(b"1234"),
            b"m",
        )
        .unwrap();
    airtight_testkit::public_key(&new.public_key)
        .verify(SignatureAlgorithm::Ecdsa(HashAlg::Sha384), b"m", &sig)
        .unwrap();
    expect_code(sks.get_key_attributes(new.handle), SksErrorCode::NoKey);
    // [SKS-PST-014] the old session is gone; the key belongs to the new one.
    let e = sks.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert_eq!(e.provisioning_handle, is.handle);
    let s = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
        .unwrap()
        .unwrap();
    assert_eq!(s.provisioning_handle, is.handle);
    assert!(
        sks.enumerate_provisioning_sessions(s.provisioning_handle, false)
            .unwrap()
            .is_none()
    );
}

#[test]
fn post_clone_unlock_and_delete() {
    let mut sks = airtight_testkit::card(42);
    let (old, kmk) = updatable_session(&mut sks, 42);
    // Block the PIN (3 tries).
    for _ in 0..3 {
        expect_code(
            sks.sign_data(
                old.handle,
                uri::ECDSA_SHA256,
                None,
                false,
                Some(b"9999"),
                b"m",
            ),
            SksErrorCode::Authorization,
        );
    }
    let info = sks.get_key_protection_info(old.handle).unwrap();
    assert!(
        info.protection_status
            .contains(ProtectionStatus::PIN_BLOCKED)
    );
    let mut is = Issuer::new(43).with_kmk(43);
    is.create_session(&mut sks).unwrap();
    let clone = is
        .provision_key(&mut sks, &KeySpec::new("Key.clone", uri::P256))
        .unwrap();
    is.post_update_or_clone(
        &mut sks,
        clone.handle,
        clone.ee(),
        old.handle,
        old.ee(),
        &kmk,
        false,
    )
    .unwrap();
    is.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &kmk, false)
        .unwrap();
    is.close(&mut sks).unwrap();
    // [SKS-PST-015] unlocked; the clone shares the PIN ([SKS-PST-013]).
    sks.sign_data(
        old.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"1234"),
        b"m",
    )
    .unwrap();
    sks.sign_data(
        clone.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"1234"),
        b"m",
    )
    .unwrap();
    sks.change_pin(clone.handle, b"1234", b"5678").unwrap();
    sks.sign_data(
        old.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"5678"),
        b"m",
    )
    .unwrap();

    // Delete the old key from a third session ([SKS-PST-016]); the KMK of the owning session
    // (now session 2's, i.e. kmk 43) authorizes.
    let kmk2 = is.key_management_key.clone().unwrap();
    let mut is3 = Issuer::new(44).with_kmk(44);
    is3.create_session(&mut sks).unwrap();
    is3.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &kmk2, true)
        .unwrap();
    is3.close(&mut sks).unwrap();
    expect_code(sks.get_key_attributes(old.handle), SksErrorCode::NoKey);
    sks.sign_data(
        clone.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"5678"),
        b"m",
    )
    .unwrap();
}

#[test]
fn post_operation_rules() {
    let mut sks = airtight_testkit::card(45);
    let (old, kmk) = updatable_session(&mut sks, 45);
    // A wrong KMK: ERROR_OPTION (the Java code for a signature that does not verify).
    let mut is = Issuer::new(46);
    is.create_session(&mut sks).unwrap();
    expect_code(
        is.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &emulator::kmk(999), true),
        SksErrorCode::Option,
    );
    expect_code(
        sks.abort_provisioning_session(is.handle),
        SksErrorCode::NoSession,
    );
    // [SKS-PST-003] privacy mismatch
    let mut is = Issuer::new(47);
    is.privacy_enabled = true;
    is.create_session(&mut sks).unwrap();
    expect_code(
        is.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &kmk, true),
        SksErrorCode::Option,
    );
    // [SKS-PST-006] delete is exclusive
    let mut is = Issuer::new(48);
    is.create_session(&mut sks).unwrap();
    is.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &kmk, false)
        .unwrap();
    expect_code(
        is.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &kmk, true),
        SksErrorCode::Option,
    );
    // [SKS-PST-009] a new key with a PIN cannot update
    let mut is = Issuer::new(49);
    is.create_session(&mut sks).unwrap();
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let nk = is
        .provision_key(
            &mut sks,
            &KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    expect_code(
        is.post_update_or_clone(
            &mut sks,
            nk.handle,
            nk.ee(),
            old.handle,
            old.ee(),
            &kmk,
            true,
        ),
        SksErrorCode::Option,
    );
    // [SKS-PST-010] appUsage must match for an update
    let mut is = Issuer::new(50);
    is.create_session(&mut sks).unwrap();
    let mut ks = KeySpec::new("K", uri::P256);
    ks.app_usage = AppUsage::Signature;
    let nk = is.provision_key(&mut sks, &ks).unwrap();
    expect_code(
        is.post_update_or_clone(
            &mut sks,
            nk.handle,
            nk.ee(),
            old.handle,
            old.ee(),
            &kmk,
            true,
        ),
        SksErrorCode::Option,
    );
    // The original key is untouched by all of this ([SKS-TXN-003]).
    sks.sign_data(
        old.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"1234"),
        b"m",
    )
    .unwrap();
    // A non-updatable session's keys are no targets ([SKS-PST-003]).
    let mut is = Issuer::new(51);
    is.create_session(&mut sks).unwrap();
    let plain = is
        .provision_key(&mut sks, &KeySpec::new("P", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
    let mut is = Issuer::new(52);
    is.create_session(&mut sks).unwrap();
    expect_code(
        is.post_delete_or_unlock(&mut sks, plain.handle, plain.ee(), &kmk, true),
        SksErrorCode::Option,
    );
}

#[test]
fn kmk_roll_over() {
    let mut sks = airtight_testkit::card(60);
    let (old, kmk) = updatable_session(&mut sks, 60);
    let session = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
        .unwrap()
        .unwrap()
        .provisioning_handle;
    let new_kmk = emulator::kmk(61);
    let data = session1::roll_over_signed_data(&new_kmk.public_key()).unwrap();
    let auth = session1::sign_kmk_authorization(&kmk, &data).unwrap();
    let new_spki = new_kmk.public_key().to_spki_der().unwrap();
    // Signed by another key: refused [SKS-KMK-002]
    let bad = session1::sign_kmk_authorization(&emulator::kmk(62), &data).unwrap();
    expect_code(
        sks.update_key_management_key(session, &new_spki, &bad),
        SksErrorCode::Option,
    );
    // [SKS-KMK-003]
    sks.update_key_management_key(session, &new_spki, &auth)
        .unwrap();
    let e = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
        .unwrap()
        .unwrap();
    assert_eq!(e.key_management_key.as_deref(), Some(new_spki.as_slice()));
    // The old KMK no longer authorizes; the new one does.
    let mut is = Issuer::new(63);
    is.create_session(&mut sks).unwrap();
    expect_code(
        is.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &kmk, true),
        SksErrorCode::Option,
    );
    let mut is = Issuer::new(64);
    is.create_session(&mut sks).unwrap();
    is.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &new_kmk, true)
        .unwrap();
    is.close(&mut sks).unwrap();
    assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
}

#[test]
fn enumerate_provisioning_sessions_open_and_closed() {
    // [SKS-SES-021] [SKS-SES-021]
    let mut sks = airtight_testkit::card(70);
    let mut a = Issuer::new(70);
    a.create_session(&mut sks).unwrap();
    a.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    a.close(&mut sks).unwrap();
    let mut b = Issuer::new(71);
    b.create_session(&mut sks).unwrap();
    let open = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
        .unwrap()
        .unwrap();
    assert_eq!(open.provisioning_handle, b.handle);
    assert_eq!(open.client_session_id, b.client_session_id);
    assert_eq!(open.server_session_id, b.server_session_id);
    assert!(
        sks.enumerate_provisioning_sessions(open.provisioning_handle, true)
            .unwrap()
            .is_none()
    );
    let closed = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
        .unwrap()
        .unwrap();
    assert_eq!(closed.provisioning_handle, a.handle);
    assert_eq!(closed.issuer_uri, emulator::ISSUER_URI);
    // A session that closes without keys is not kept.
    b.close(&mut sks).unwrap();
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
            .unwrap()
            .is_none()
    );
    assert!(
        sks.enumerate_provisioning_sessions(a.handle, false)
            .unwrap()
            .is_none()
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn odd_rsa_exponents_fail_cleanly() {
    // keyParameters: 1-8 bytes big-endian (a Java BigInteger); bad values are errors, not panics.
    for (params, code) in [
        (vec![], Some(SksErrorCode::Option)),
        (vec![0; 9], Some(SksErrorCode::Option)),
        (vec![0x80], Some(SksErrorCode::Crypto)),
        (vec![0x00], Some(SksErrorCode::Crypto)),
        (vec![0x01], Some(SksErrorCode::Crypto)),
        (vec![0x02], Some(SksErrorCode::Crypto)),
        (
            vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            Some(SksErrorCode::Crypto),
        ),
        (vec![0x03], None),
    ] {
        let mut sks = airtight_testkit::card(80);
        let mut is = Issuer::new(80);
        is.create_session(&mut sks).unwrap();
        let mut ks = KeySpec::new("K", uri::RSA1024_EXP);
        ks.key_parameters = Some(params.clone());
        let r = is.create_key(&mut sks, &ks);
        match code {
            Some(c) => {
                expect_code(r, c);
            }
            None => {
                r.unwrap();
            }
        }
    }
}

#[test]
fn post_operations_in_privacy_mode_use_the_anonymous_device_id() {
    // [SKS-PST-001] [SKS-PST-003]: the authorization is bound to DeviceID "Anonymous".
    let mut sks = airtight_testkit::card(90);
    let mut is = Issuer::new(90).with_kmk(90);
    is.privacy_enabled = true;
    let kmk = is.key_management_key.clone().unwrap();
    is.create_session(&mut sks).unwrap();
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
    // An E2ES session cannot target it.
    let mut e2es = Issuer::new(91);
    e2es.create_session(&mut sks).unwrap();
    expect_code(
        e2es.post_delete_or_unlock(&mut sks, k.handle, k.ee(), &kmk, true),
        SksErrorCode::Option,
    );
    let mut is2 = Issuer::new(92);
    is2.privacy_enabled = true;
    is2.create_session(&mut sks).unwrap();
    let new = is2
        .provision_key(&mut sks, &KeySpec::new("N", uri::P256))
        .unwrap();
    is2.post_update_or_clone(&mut sks, new.handle, new.ee(), k.handle, k.ee(), &kmk, true)
        .unwrap();
    is2.close(&mut sks).unwrap();
    assert_eq!(
        sks.get_key_attributes(k.handle).unwrap().certificate_path,
        new.certificate_path
    );
}
