#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::codec::b64url;
use crate::keys::{Curve, PrivateKey};
use crate::policy::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn hmac_rfc4231_case2() {
    // RFC 4231 test case 2.
    assert_eq!(
        hmac_sha256(b"Jefe", b"what do ya want for nothing?").to_vec(),
        hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    );
}

#[test]
fn kdf_layout_and_key() {
    // [CRY-KDF-007] [CRY-KDF-008]
    let input = kdf_input("C", "SS", "u", b"Anonymous").unwrap();
    assert_eq!(
        input,
        [
            &[0, 1, b'C'][..],
            &[0, 2, b'S', b'S'],
            &[0, 1, b'u'],
            &[0, 9],
            b"Anonymous"
        ]
        .concat()
    );
    let z = [7u8; 32];
    let k = derive_session_key(&z, "C", "SS", "u", b"Anonymous").unwrap();
    assert_eq!(*k, hmac_sha256(&z, &input));
    assert_eq!(device_id_bytes(true, None).unwrap(), b"Anonymous");
    assert_eq!(device_id_bytes(false, Some(b"cert")).unwrap(), b"cert");
    assert!(device_id_bytes(true, Some(b"cert")).is_err());
    assert!(device_id_bytes(false, None).is_err());
}

fn sample_input<'a>(privacy: bool, device_id: &'a [u8]) -> SessionAttestationInput<'a> {
    SessionAttestationInput {
        client_session_id: "c",
        server_session_id: "s",
        issuer_uri: "u",
        device_id,
        session_key_algorithm: SESSION_KEY_ALGORITHM,
        privacy_enabled: privacy,
        server_ephemeral_key_spki: &[1, 2],
        client_ephemeral_key_spki: &[3],
        key_management_key_spki: None,
        client_time: 0x0102_0304,
        session_life_time: 0x0506,
        session_key_limit: 0x0708,
        server_certificate: &[9],
    }
}

#[test]
fn session_attestation_input_layout() {
    // [CRY-ATT-001]
    let i = sample_input(true, b"Anonymous");
    let mut expected = vec![0, 1, b'c', 0, 1, b's', 0, 1, b'u', 0, 9];
    expected.extend_from_slice(b"Anonymous");
    expected.extend_from_slice(&[0, 48]);
    expected.extend_from_slice(b"https://webpki.github.io/sks/algorithm#session.1");
    expected.extend_from_slice(&[1, 0, 2, 1, 2, 0, 1, 3, 0, 0]);
    expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 9]);
    assert_eq!(i.to_bytes().unwrap(), expected);
    let mut with_kmk = i.clone();
    with_kmk.key_management_key_spki = Some(&[0xaa]);
    let b = with_kmk.to_bytes().unwrap();
    assert_eq!(b.len(), expected.len() + 1);
}

#[test]
fn privacy_attestation_and_mode_checks() {
    // [CRY-ATT-008] [CRY-ATT-011]
    let key = [5u8; 32];
    let i = sample_input(true, b"Anonymous");
    let att = privacy_session_attestation(&key, &i).unwrap();
    assert_eq!(att, hmac_sha256(&key, &i.to_bytes().unwrap()));
    verify_session_attestation(&i, &att, None, &key).unwrap();
    let mut bad = att;
    bad[0] ^= 1;
    assert_eq!(
        verify_session_attestation(&i, &bad, None, &key),
        Err(Session1Error::AttestationMismatch)
    );
    // A certificate in privacy mode, or none in E2ES mode, is a mode mismatch (downgrade).
    assert!(matches!(
        verify_session_attestation(&i, &att, Some(b"cert"), &key),
        Err(Session1Error::PrivacyMismatch { .. })
    ));
    let e2es = sample_input(false, b"cert");
    assert!(matches!(
        verify_session_attestation(&e2es, &att, None, &key),
        Err(Session1Error::PrivacyMismatch { .. })
    ));
    assert!(privacy_session_attestation(&key, &e2es).is_err());
}

#[test]
fn device_signed_attestation() {
    // [CRY-ATT-005] [CRY-ATT-007]
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let dev = PrivateKey::generate_ec(Curve::P256, &mut rng);
    let i = sample_input(false, b"cert");
    let sig = sign_session_attestation(&dev, &i).unwrap();
    assert_eq!(sig.len(), 64);
    dev.public_key()
        .verify(
            crate::keys::SignatureAlgorithm::ES256,
            &i.to_bytes().unwrap(),
            &sig,
        )
        .unwrap();
    assert!(sign_session_attestation(&dev, &sample_input(true, b"Anonymous")).is_err());
    let ed = PrivateKey::generate_ed25519(&mut rng);
    assert!(sign_session_attestation(&ed, &i).is_err());
}

#[test]
fn method_names() {
    // [CRY-MAC-002]
    assert_eq!(Method::CreatePukPolicy.mac_name(), "createPUKPolicy");
    assert_eq!(Method::CreatePinPolicy.mac_name(), "createPINPolicy");
    for m in Method::ALL {
        assert_eq!(Method::from_mac_name(m.mac_name()), Some(m));
    }
    assert_eq!(Method::from_mac_name("createPinPolicy"), None);
    assert_eq!(
        key_modifier(Method::CreatePinPolicy, 0x0102),
        b"createPINPolicy\x01\x02".to_vec()
    );
}

#[test]
fn issuer_and_card_agree() {
    // [CRY-MAC-001] [CRY-CTR-002] [CRY-CTR-003] [CRY-CTR-005]
    let key = [9u8; 32];
    let mut issuer = SessionCrypto::new(key, 100);
    let mut card = SessionCrypto::new(key, 100);
    let m0 = issuer.mac(Method::CreatePinPolicy, b"pin").unwrap();
    let m1 = issuer.mac(Method::CreateKeyEntry, b"key").unwrap();
    let slot = issuer.reserve_counter().unwrap();
    assert_eq!(slot, 2);
    let mut k = key.to_vec();
    k.extend_from_slice(b"createKeyEntry\x00\x01");
    assert_eq!(m1, hmac_sha256(&k, b"key"));

    card.verify_mac(Method::CreatePinPolicy, b"pin", &m0)
        .unwrap();
    card.verify_mac(Method::CreateKeyEntry, b"key", &m1)
        .unwrap();
    let att = card.attest(b"spki+mac").unwrap();
    let mut k = key.to_vec();
    k.extend_from_slice(b"DeviceAttestation\x00\x02");
    assert_eq!(att, hmac_sha256(&k, b"spki+mac"));
    issuer
        .verify_attestation_at(slot, b"spki+mac", &att)
        .unwrap();
    assert_eq!(
        issuer.verify_attestation_at(slot, b"other", &att),
        Err(Session1Error::AttestationMismatch)
    );
    assert_eq!(card.next_counter(), 3);
    assert_eq!(issuer.next_counter(), 3);

    // A wrong MAC, a wrong method name, or a short MAC fail. [CRY-MAC-003]
    let m3 = issuer.mac(Method::SetCertificatePath, b"c").unwrap();
    assert_eq!(
        card.clone_for_test()
            .verify_mac(Method::SetCertificatePath, b"C", &m3),
        Err(Session1Error::MacMismatch {
            method: "setCertificatePath"
        })
    );
    assert!(
        card.clone_for_test()
            .verify_mac(Method::ImportPrivateKey, b"c", &m3)
            .is_err()
    );
    assert!(
        card.clone_for_test()
            .verify_mac(Method::SetCertificatePath, b"c", &m3[..31])
            .is_err()
    );
    card.verify_mac(Method::SetCertificatePath, b"c", &m3)
        .unwrap();
}

impl SessionCrypto {
    fn clone_for_test(&self) -> SessionCrypto {
        let mut c = SessionCrypto::new(*self.session_key(), self.remaining_limit());
        for _ in 0..self.next_counter() {
            c.reserve_counter().unwrap();
        }
        c
    }
}

#[test]
fn derivations_without_counter() {
    // [CRY-CTR-004] [CRY-ENC-001] [CRY-TKR-001] [CRY-LIM-001]
    let key = [3u8; 32];
    let mut s = SessionCrypto::new(key, 10);
    let e = s.encryption_key().unwrap();
    assert_eq!(*e, hmac_sha256(&key, b"EncryptionKey"));
    let t = s.target_key_reference(b"devcert", b"ee").unwrap();
    assert_eq!(t, hmac_sha256(&[&key[..], b"devcert"].concat(), b"ee"));
    // A DeviceID longer than the HMAC block: the key is hashed first (RFC 2104).
    let long = vec![0x42u8; 300];
    let t2 = s.target_key_reference(&long, b"ee").unwrap();
    assert_eq!(t2, hmac_sha256(&[&key[..], &long].concat(), b"ee"));
    assert_eq!(s.next_counter(), 0);
    assert_eq!(s.remaining_limit(), 7);
}

#[test]
fn facts_counter_example() {
    // Facts §3.4: one PUK, one PIN, two keys, a plain finalization.
    use CounterUse::{Attestation as A, Mac as M};
    let ops = [
        Operation::CreatePukPolicy,
        Operation::CreatePinPolicy,
        Operation::CreateKeyEntry { preset_pin: false },
        Operation::CreateKeyEntry { preset_pin: false },
        Operation::SetCertificatePath,
        Operation::SetCertificatePath,
        Operation::CloseProvisioningSession,
    ];
    let expected = vec![
        (0, M(Method::CreatePukPolicy)),
        (1, M(Method::CreatePinPolicy)),
        (2, M(Method::CreateKeyEntry)),
        (3, A),
        (4, M(Method::CreateKeyEntry)),
        (5, A),
        (6, M(Method::SetCertificatePath)),
        (7, M(Method::SetCertificatePath)),
        (8, M(Method::CloseProvisioningSession)),
        (9, A),
    ];
    assert_eq!(counter_plan(&ops).unwrap(), expected);
    // [CRY-CTR-001] the plan never wraps.
    let many = vec![Operation::SetCertificatePath; 65537];
    assert_eq!(counter_plan(&many), Err(Session1Error::CounterExhausted));
}

/// Runs the card side of "one PIN policy, one key, a certificate, close" against a limit.
fn run_card(limit: u16, preset_pin: bool) -> Result<SessionCrypto, Session1Error> {
    let key = [1u8; 32];
    let mut issuer = SessionCrypto::new(key, u16::MAX);
    let mut card = SessionCrypto::new(key, limit);
    let enc_pin = issuer.encrypt(&[0u8; 16], b"1234")?;
    let m = issuer.mac(Method::CreatePinPolicy, b"p")?;
    card.verify_mac(Method::CreatePinPolicy, b"p", &m)?;
    let m = issuer.mac(Method::CreateKeyEntry, &enc_pin)?;
    if preset_pin {
        let pin = card.verify_mac_then_decrypt(Method::CreateKeyEntry, &enc_pin, &m, &enc_pin)?;
        assert_eq!(*pin, b"1234");
    } else {
        card.verify_mac(Method::CreateKeyEntry, &enc_pin, &m)?;
    }
    let a = card.attest(b"k")?;
    issuer.verify_attestation(b"k", &a)?;
    let m = issuer.mac(Method::SetCertificatePath, b"c")?;
    card.verify_mac(Method::SetCertificatePath, b"c", &m)?;
    let m = issuer.mac(Method::CloseProvisioningSession, b"n")?;
    card.verify_mac(Method::CloseProvisioningSession, b"n", &m)?;
    let a = card.attest(b"n")?;
    issuer.verify_attestation(b"n", &a)?;
    Ok(card)
}

#[test]
fn session_key_limit_table() {
    // [CRY-LIM-001] [CRY-LIM-002] [CRY-LIM-003] facts §3.4 / SKSTest test47.
    let plain = [
        Operation::CreateProvisioningSession,
        Operation::CreatePinPolicy,
        Operation::CreateKeyEntry { preset_pin: false },
        Operation::SetCertificatePath,
        Operation::CloseProvisioningSession,
    ];
    assert_eq!(session_key_uses(&plain), 6);
    let mut preset = plain;
    preset[2] = Operation::CreateKeyEntry { preset_pin: true };
    assert_eq!(session_key_uses(&preset), 7);
    // The live object agrees with the table.
    assert_eq!(run_card(6, false).unwrap().remaining_limit(), 0);
    assert_eq!(
        run_card(5, false).unwrap_err(),
        Session1Error::SessionKeyLimitExhausted
    );
    assert_eq!(run_card(7, true).unwrap().remaining_limit(), 0);
    assert_eq!(
        run_card(6, true).unwrap_err(),
        Session1Error::SessionKeyLimitExhausted
    );
    // The table as data agrees with the per-operation function, row by row.
    assert_eq!(SESSION_KEY_COST_TABLE.len(), 15);
    for (op, cost) in SESSION_KEY_COST_TABLE {
        assert_eq!(op.session_key_uses(), *cost, "{op:?}");
    }
    // The rest of the table.
    assert_eq!(Operation::CreatePukPolicy.session_key_uses(), 2);
    assert_eq!(Operation::ImportPrivateKey.session_key_uses(), 2);
    assert_eq!(Operation::ImportSymmetricKey.session_key_uses(), 2);
    assert_eq!(
        Operation::AddExtension { encrypted: false }.session_key_uses(),
        1
    );
    assert_eq!(
        Operation::AddExtension { encrypted: true }.session_key_uses(),
        2
    );
    for p in [
        Operation::PostDeleteKey,
        Operation::PostUnlockKey,
        Operation::PostUpdateKey,
        Operation::PostCloneKeyProtection,
    ] {
        assert_eq!(p.session_key_uses(), 2);
    }
}

#[test]
fn limit_zero_and_counter_overflow() {
    // [CRY-CTR-001]
    let mut s = SessionCrypto::new([0; 32], 0);
    assert_eq!(
        s.mac(Method::AddExtension, b""),
        Err(Session1Error::SessionKeyLimitExhausted)
    );
    assert_eq!(
        s.next_counter(),
        0,
        "a refused MAC does not consume a counter value"
    );
    assert!(s.encryption_key().is_err());
    let mut s = SessionCrypto::new([0; 32], 10);
    for _ in 0..65535 {
        s.reserve_counter().unwrap();
    }
    // Counter value 65535 is still usable, then it is exhausted (never wraps to 0).
    s.mac(Method::AddExtension, b"").unwrap();
    assert_eq!(
        s.mac(Method::AddExtension, b""),
        Err(Session1Error::CounterExhausted)
    );
    assert_eq!(s.reserve_counter(), Err(Session1Error::CounterExhausted));
}

#[test]
fn aes_cbc_known_answer_and_round_trip() {
    // [CRY-ENC-002] NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt), first block.
    let key: [u8; 32] = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
        .try_into()
        .unwrap();
    let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let pt = hex("6bc1bee22e409f96e93d7e117393172a");
    let out = encrypt_with_key(&key, &iv, &pt);
    assert_eq!(out.len(), 16 + 32, "IV, the block, a full padding block");
    assert_eq!(out[..16], iv);
    assert_eq!(out[16..32], hex("f58c4c04d6e5f1ba779eabfb5f7bfbd6")[..]);
    assert_eq!(*decrypt_with_key(&key, &out).unwrap(), pt);
    for n in [0usize, 1, 15, 16, 17, 100] {
        let p = vec![0x5a; n];
        let c = encrypt_with_key(&key, &iv, &p);
        assert_eq!(c.len(), 16 + (n / 16 + 1) * 16);
        assert_eq!(*decrypt_with_key(&key, &c).unwrap(), p);
    }
}

#[test]
fn aes_cbc_rejects() {
    // [CRY-ENC-006]
    let key = [1u8; 32];
    for n in [0usize, 16, 31, 33, 47] {
        assert_eq!(
            decrypt_with_key(&key, &vec![0; n]),
            Err(CipherError::BadLength(n))
        );
    }
    // Two blocks whose last plaintext byte is 0x00: a padding error, reported opaquely.
    let mut pt = vec![7u8; 32];
    pt[31] = 0;
    let c = encrypt_with_key(&key, &[2; 16], &pt);
    assert_eq!(decrypt_with_key(&key, &c[..48]), Err(CipherError::Decrypt));
    assert_eq!(CipherError::Decrypt.to_string(), "decryption failed");
}

#[test]
fn mac_is_checked_before_decrypting() {
    // [CRY-IMP-001] [CRY-ENC-005] A bad MAC over garbage reports the MAC error, not a
    // padding or length error: nothing was decrypted.
    let mut s = SessionCrypto::new([4; 32], 10);
    assert_eq!(
        s.verify_mac_then_decrypt(Method::ImportPrivateKey, b"data", &[0; 32], &[0; 7]),
        Err(Session1Error::MacMismatch {
            method: "importPrivateKey"
        })
    );
}

#[test]
fn mac_data_from_samples() {
    // [CRY-MAC-010] [CRY-MAC-011] [CRY-MAC-022] Data bytes from the recorded traces
    // (e2es-ec-device createPINPolicy, preset-pin-with-puk createPUKPolicy).
    let pin = create_pin_policy_data(&PinPolicyMacInput {
        id: "PIN.1",
        puk_policy_id: None,
        user_defined: true,
        user_modifiable: true,
        format: PassphraseFormat::Numeric,
        retry_limit: 3,
        grouping: Grouping::None,
        pattern_restrictions: PatternRestrictions::NONE,
        min_length: 4,
        max_length: 8,
        input_method: InputMethod::Any,
    })
    .unwrap();
    assert_eq!(pin, b64url::decode("AAVQSU4uMQAAAQEAAAMAAAAEAAgA").unwrap());
    let enc = b64url::decode("ilGpuPylQuAkbD-xUjf0ZImnneYB6_PjFrxD5_ErstE").unwrap();
    let puk = create_puk_policy_data("PUK.1", &enc, PassphraseFormat::Numeric, 3).unwrap();
    assert_eq!(
        puk,
        b64url::decode("AAVQVUsuMQAgilGpuPylQuAkbD-xUjf0ZImnneYB6_PjFrxD5_ErstEAAAM").unwrap()
    );
}

fn key_input<'a>(endorsed: &'a [&'a str]) -> KeyEntryMacInput<'a> {
    KeyEntryMacInput {
        id: "K",
        key_entry_algorithm: crate::alg::KEY_1,
        server_seed: Some(&[0xee]),
        pin_policy_id: Some("P"),
        encrypted_pin: None,
        device_pin_protection: false,
        enable_pin_caching: true,
        biometric_protection: BiometricProtection::Alternative,
        export_protection: ExportProtection::Puk,
        delete_protection: DeleteProtection::NonDeletable,
        app_usage: AppUsage::Encryption,
        friendly_name: None,
        key_algorithm: "k",
        key_parameters: Some(&[1, 0, 1]),
        endorsed_algorithms: endorsed,
    }
}

#[test]
fn key_entry_data_layout_and_sorting() {
    // [CRY-MAC-013] [CRY-SER-008]
    let d = create_key_entry_data(&key_input(&["a", "b"])).unwrap();
    let mut e = vec![0, 1, b'K', 0, 44];
    e.extend_from_slice(crate::alg::KEY_1.as_bytes());
    e.extend_from_slice(&[
        0, 1, 0xee, 0, 1, b'P', 0, 0, 0, 1, 1, 2, 3, 2, 0, 0, 0, 1, b'k',
    ]);
    e.extend_from_slice(&[0, 3, 1, 0, 1, 0, 1, b'a', 0, 1, b'b']);
    assert_eq!(d, e);
    assert_eq!(
        create_key_entry_data(&key_input(&["b", "a"])),
        Err(Session1Error::EndorsedNotSorted)
    );
    assert_eq!(
        create_key_entry_data(&key_input(&["a", "a"])),
        Err(Session1Error::EndorsedNotSorted)
    );
}

#[test]
fn other_mac_data_layouts() {
    // [CRY-MAC-016] [CRY-MAC-017] [CRY-MAC-018] [CRY-MAC-019] [CRY-MAC-021] [CRY-SER-006]
    assert_eq!(
        set_certificate_path_data(&[1], "i", &[&[2], &[3, 3]]).unwrap(),
        vec![0, 1, 1, 0, 1, b'i', 0, 1, 2, 0, 2, 3, 3]
    );
    assert_eq!(import_key_data(&[1], &[2]).unwrap(), vec![0, 1, 1, 0, 1, 2]);
    assert_eq!(
        add_extension_data(&[1], "t", ExtensionSubType::Logotype, "q", &[9, 9]).unwrap(),
        vec![0, 1, 1, 0, 1, b't', 3, 0, 1, b'q', 0, 0, 0, 2, 9, 9]
    );
    assert_eq!(post_delete_or_unlock_data(&[5]).unwrap(), vec![0, 1, 5]);
    assert_eq!(
        post_update_or_clone_data(&[4], &[5]).unwrap(),
        vec![0, 1, 4, 0, 1, 5]
    );
    assert_eq!(
        close_provisioning_session_data("c", "s", "u", &[7]).unwrap(),
        vec![0, 1, b'c', 0, 1, b's', 0, 1, b'u', 0, 1, 7]
    );
    assert_eq!(
        key_attestation_data(&[1], &[2, 2]).unwrap(),
        vec![0, 1, 1, 0, 2, 2, 2]
    );
    assert_eq!(close_attestation_data(&[8]).unwrap(), vec![0, 1, 8]);
    for b in 0..4 {
        assert_eq!(ExtensionSubType::from_byte(b).unwrap().to_byte(), b);
    }
    assert!(ExtensionSubType::from_byte(4).is_none());
}

#[test]
fn kmk_authorizations() {
    // [CRY-TKR-002] [CRY-TKR-003] [CRY-ROL-001]
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let kmk = PrivateKey::generate_ec(Curve::P256, &mut rng);
    let new_kmk = PrivateKey::generate_ec(Curve::P256, &mut rng).public_key();
    let data = target_key_reference_signed_data(&[0xab; 32]);
    assert_eq!(&data[..18], b"TargetKeyReference");
    assert_eq!(data.len(), 50);
    let sig = sign_kmk_authorization(&kmk, &data).unwrap();
    assert_eq!(sig.len(), 64);
    verify_kmk_authorization(&kmk.public_key(), &data, &sig).unwrap();
    assert!(verify_kmk_authorization(&new_kmk, &data, &sig).is_err());
    let roll = roll_over_signed_data(&new_kmk).unwrap();
    assert_eq!(&roll[..21], b"RollOverAuthorization");
    assert_eq!(roll[21..], new_kmk.to_spki_der().unwrap()[..]);
    let ed = PrivateKey::generate_ed25519(&mut rng);
    assert!(sign_kmk_authorization(&ed, &roll).is_err());
}

#[test]
fn property_bags() {
    // [CRY-PBG-001] [CRY-PBG-003]
    let props = vec![
        Property {
            name: "Counter".into(),
            writable: true,
            value: "0".into(),
        },
        Property {
            name: "Issuer".into(),
            writable: false,
            value: "Example Bank".into(),
        },
    ];
    let blob = encode_property_bag(&props).unwrap();
    let mut e = vec![0, 7];
    e.extend_from_slice(b"Counter");
    e.extend_from_slice(&[1, 0, 1, b'0', 0, 6]);
    e.extend_from_slice(b"Issuer");
    e.extend_from_slice(&[0, 0, 12]);
    e.extend_from_slice(b"Example Bank");
    assert_eq!(blob, e);
    assert_eq!(parse_property_bag(&blob).unwrap(), props);
    assert_eq!(parse_property_bag(&[]), Err(PropertyBagError::Empty));
    assert!(encode_property_bag(&[]).is_err());
    assert!(matches!(
        parse_property_bag(&blob[..blob.len() - 1]),
        Err(PropertyBagError::Malformed(_))
    ));
    let mut bad_bool = blob.clone();
    bad_bool[9] = 2;
    assert!(matches!(
        parse_property_bag(&bad_bool),
        Err(PropertyBagError::Malformed(_))
    ));
    let mut trailing = blob.clone();
    trailing.push(0);
    assert!(parse_property_bag(&trailing).is_err());
    let dup = [blob.clone(), blob[..13].to_vec()].concat();
    assert_eq!(
        parse_property_bag(&dup),
        Err(PropertyBagError::Duplicate("Counter".into()))
    );
    assert!(matches!(
        parse_property_bag(&[0, 1, 0xff, 0, 0, 0]),
        Err(PropertyBagError::NotUtf8("name"))
    ));
}

/// The recorded device certificates (e2es-ec-device, e2es-rsa-device).
const EC_DEVICE_CERT: &str = "MIIBKTCBzqADAgECAgYBM8UA60UwDAYIKoZIzj0EAwIFADAaMRgwFgYDVQQDEw9NeSBMaXR0bGUgVG9rZW4wHhcNMTEwMTAxMDAwMDAwWhcNMjEwMTAxMDAwMDAwWjAaMRgwFgYDVQQDEw9NeSBMaXR0bGUgVG9rZW4wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQI3nHFLiIvfrCowzdwBthvtNalitOqItipwOVOMZWSEoay6dkaMjMBFynvyv-evgBUQ2Na0V-bwqZk75dAK__9MAwGCCqGSM49BAMCBQADSAAwRQIhAMAkicuSeJOIsK04qc4aEGe3_RzrVa9l-dLFbFKS8PAmAiAzKXAN9WzJe6QMoiBBQHm5-tQ6gi-HUChiItWgzSf1oQ";

#[test]
fn device_ids() {
    // [CRY-DID-001] [CRY-DID-002] [CRY-DID-003] [CRY-DID-005] [CRY-DID-007]
    // Expected values from a literal transcription of the Java DeviceID algorithm (signed
    // bytes and all) run in Python, independent of this Rust code.
    let cert = b64url::decode(EC_DEVICE_CERT).unwrap();
    let long = device_id_string(&cert, true);
    let short = device_id_string(&cert, false);
    assert_eq!(long, "S6YGNW34BCXB2RT7DPRW6ZDBHW7A2F66FQGK");
    assert_eq!(short, "VT3USD45GYJBALPBFQGK");
    validate_device_id(&long).unwrap();
    validate_device_id(&short).unwrap();
    validate_device_id("72X5USBYVVM5ZSGDZV36UZLGPP56GUJ7FS3Q").unwrap();
    validate_device_id("LMNHAHMS88SHTCQ8FS3Q").unwrap();
    // The checksum catches every single-character change.
    for i in 0..long.len() {
        let mut c: Vec<char> = long.chars().collect();
        c[i] = if c[i] == 'A' { 'B' } else { 'A' };
        let s: String = c.into_iter().collect();
        assert_eq!(
            validate_device_id(&s),
            Err(DeviceIdError::Checksum),
            "at {i}"
        );
    }
    assert_eq!(validate_device_id("ABC"), Err(DeviceIdError::Length(3)));
    assert_eq!(
        validate_device_id("S6YGNW34BCXB2RT7DPRW6ZDBHW7A2F66FQG0"),
        Err(DeviceIdError::Character('0'))
    );
    assert_eq!(
        validate_device_id("IT3USD45GYJBALPBFQGK"),
        Err(DeviceIdError::Character('I'))
    );
}

#[test]
fn lookup_nonce_layout() {
    // [CRY-LUP-001]
    let n = lookup_nonce("ab", "c").unwrap();
    assert_eq!(n, crate::keys::sha256(&[0, 2, b'a', b'b', 0, 1, b'c']));
}

proptest::proptest! {
    #[test]
    fn property_bag_round_trip(
        props in proptest::collection::btree_map("[a-zA-Z0-9 ]{0,12}", ("[ -~]{0,20}", proptest::bool::ANY), 1..5)
    ) {
        let props: Vec<Property> = props
            .into_iter()
            .map(|(name, (value, writable))| Property { name, writable, value })
            .collect();
        let blob = encode_property_bag(&props).unwrap();
        proptest::prop_assert_eq!(parse_property_bag(&blob).unwrap(), props);
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
        let _ = parse_property_bag(&bytes);
        let _ = decrypt_with_key(&[0; 32], &bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = validate_device_id(&s);
    }

    #[test]
    fn encrypt_decrypt_round_trip(
        key in proptest::array::uniform32(proptest::prelude::any::<u8>()),
        iv in proptest::array::uniform16(proptest::prelude::any::<u8>()),
        pt in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
    ) {
        let c = encrypt_with_key(&key, &iv, &pt);
        proptest::prop_assert_eq!(&*decrypt_with_key(&key, &c).unwrap(), &pt);
    }
}
