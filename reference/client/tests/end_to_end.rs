//! End to end: the middleware engine drives the reference card (`airtight_card::ReferenceSks`)
//! for a minimal in-test issuer built from `airtight_proto::session1` and the `airtight-pki`
//! test CA: one P-256 key under a user PIN, in E2ES and in privacy mode. The issuer verifies
//! every attestation (session, key, close); afterwards the key signs with the PIN.
#![allow(clippy::unwrap_used)]

use airtight_card::{ReferenceSks, TEST_TIME};
use airtight_client::{AbortStatus, Failure, ManualClock, Middleware, PinSource, SessionContext};
use airtight_pki::{Ca, Profile, Serial};
use airtight_proto::alg;
use airtight_proto::codec::b64url;
use airtight_proto::keys::{self, Curve, PrivateKey, PublicKey, SignatureAlgorithm};
use airtight_proto::messages::{
    Action, CredentialDiscoveryRequest, InvocationRequest, JsfAlgorithm, JsfSignature,
    KeyCreationRequest, KeyEntrySpecifier, LookupSpecifier, MatchingCredential, Message,
    PinPolicySpecifier, PostOperation, ProvisioningFinalizationRequest,
    ProvisioningInitializationRequest, SearchFilter, SessionCloseData, UpdatableKeyManagementKey,
};
use airtight_proto::policy::{
    AppUsage, Grouping, InputMethod, PassphraseFormat, PatternRestriction,
};
use airtight_proto::session1::{self, KeyEntryMacInput, Method, PinPolicyMacInput, SessionCrypto};
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksErrorCode};
use airtight_proto::time::IsoTime;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const ISSUER_URI: &str = "http://127.0.0.1:18080/keygen2";
const P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

/// A minimal issuer: one P-256 key with a user-defined numeric PIN.
struct MiniIssuer {
    rng: ChaCha20Rng,
    privacy: bool,
    ssid: String,
    csid: String,
    server_time: IsoTime,
    ephemeral: PrivateKey,
    crypto: Option<SessionCrypto>,
    key_mac: [u8; 32],
    key_spki: Vec<u8>,
    close_nonce: Vec<u8>,
    ca: Ca,
    path: Vec<Vec<u8>>,
    kmk: Option<PrivateKey>,
    /// Older KMKs to roll over (each authorized by itself for the key one level up).
    updatable: Vec<UpdatableKeyManagementKey>,
    device_id: Vec<u8>,
}

impl MiniIssuer {
    fn new(seed: u64, privacy: bool) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let ephemeral = PrivateKey::generate_ec(Curve::P256, &mut rng);
        MiniIssuer {
            rng,
            privacy,
            ssid: format!("MiniIssuerSession{seed:08}"),
            csid: String::new(),
            server_time: IsoTime::server_time(TEST_TIME.secs()).unwrap(),
            ephemeral,
            crypto: None,
            key_mac: [0; 32],
            key_spki: Vec::new(),
            close_nonce: Vec::new(),
            ca: airtight_pki::fixtures::issuer_ca(),
            path: Vec::new(),
            kmk: None,
            updatable: Vec::new(),
            device_id: Vec::new(),
        }
    }

    fn with_kmk(mut self, seed: u64) -> Self {
        self.kmk = Some(PrivateKey::generate_ec(
            Curve::P256,
            &mut ChaCha20Rng::seed_from_u64(seed),
        ));
        self
    }

    fn kmk_spki(&self) -> Option<Vec<u8>> {
        self.kmk
            .as_ref()
            .map(|k| k.public_key().to_spki_der().unwrap())
    }

    fn crypto(&mut self) -> &mut SessionCrypto {
        self.crypto.as_mut().unwrap()
    }

    fn invocation(&self) -> Message {
        InvocationRequest {
            server_session_id: self.ssid.clone(),
            action: Action::Manage,
            privacy_enabled: self.privacy.then_some(true),
            preferred_languages: vec![],
            target_key_containers: vec![],
            client_capability_query: vec![
                P256.into(),
                "https://webpki.github.io/keygen2/feature#biometric-support".into(),
            ],
        }
        .into()
    }

    fn init(&self) -> Message {
        ProvisioningInitializationRequest {
            server_session_id: self.ssid.clone(),
            server_time: self.server_time.clone(),
            session_key_algorithm: alg::SESSION_1.into(),
            session_key_limit: 50,
            session_life_time: 3600,
            server_ephemeral_key: self.ephemeral.public_key().to_jwk(),
            key_management_key: self.kmk.as_ref().map(|k| k.public_key().to_jwk()),
            updatable_key_management_keys: self.updatable.clone(),
        }
        .into()
    }

    /// Verifies the session attestation and derives the session key.
    fn on_init(&mut self, m: Message) {
        let Message::ProvisioningInitializationResponse(r) = m else {
            panic!("{m:?}")
        };
        // [KG2-PIR-001]
        assert_eq!(r.server_time.as_str(), self.server_time.as_str());
        assert_eq!(r.client_time.as_str(), "2026-01-01T00:00:00+00:00");
        // [KG2-PIR-004]
        assert_eq!(r.device_certificate_path.is_none(), self.privacy);
        let client_key = PublicKey::from_jwk(&r.client_ephemeral_key).unwrap();
        let client_spki = client_key.to_spki_der().unwrap();
        let z = keys::ecdh_z(&self.ephemeral, &client_key).unwrap();
        let device_cert = r.device_certificate_path.as_ref().map(|p| p[0].clone());
        let device_id = session1::device_id_bytes(self.privacy, device_cert.as_deref()).unwrap();
        let session_key = session1::derive_session_key(
            &z,
            &r.client_session_id,
            &self.ssid,
            ISSUER_URI,
            &device_id,
        )
        .unwrap();
        let server_spki = self.ephemeral.public_key().to_spki_der().unwrap();
        let kmk_spki = self.kmk_spki();
        let input = session1::SessionAttestationInput {
            client_session_id: &r.client_session_id,
            server_session_id: &self.ssid,
            issuer_uri: ISSUER_URI,
            device_id: &device_id,
            session_key_algorithm: alg::SESSION_1,
            privacy_enabled: self.privacy,
            server_ephemeral_key_spki: &server_spki,
            client_ephemeral_key_spki: &client_spki,
            key_management_key_spki: kmk_spki.as_deref(),
            client_time: u32::try_from(r.client_time.unix_seconds()).unwrap(),
            session_life_time: 3600,
            session_key_limit: 50,
            server_certificate: &[],
        };
        session1::verify_session_attestation(
            &input,
            &r.attestation,
            device_cert.as_deref(),
            session_key.as_ref(),
        )
        .expect("session attestation");
        self.csid = r.client_session_id;
        self.device_id = device_id;
        self.crypto = Some(SessionCrypto::new(*session_key, u16::MAX));
    }

    fn key_creation(&mut self) -> Message {
        let patterns = [
            PatternRestriction::Sequence,
            PatternRestriction::ThreeInARow,
        ];
        let pin_data = session1::create_pin_policy_data(&PinPolicyMacInput {
            id: "PIN.1",
            puk_policy_id: None,
            user_defined: true,
            user_modifiable: true,
            format: PassphraseFormat::Numeric,
            retry_limit: 3,
            grouping: Grouping::None,
            pattern_restrictions: patterns.into_iter().collect(),
            min_length: 4,
            max_length: 8,
            input_method: InputMethod::Any,
        })
        .unwrap();
        let pin_mac = self
            .crypto()
            .mac(Method::CreatePinPolicy, &pin_data)
            .unwrap();
        let key_data = session1::create_key_entry_data(&KeyEntryMacInput {
            id: "Key.1",
            key_entry_algorithm: alg::KEY_1,
            server_seed: None,
            pin_policy_id: Some("PIN.1"),
            encrypted_pin: None,
            device_pin_protection: false,
            enable_pin_caching: false,
            biometric_protection: airtight_proto::policy::BiometricProtection::None,
            export_protection: airtight_proto::policy::ExportProtection::NonExportable,
            delete_protection: airtight_proto::policy::DeleteProtection::None,
            app_usage: AppUsage::Signature,
            friendly_name: None,
            key_algorithm: P256,
            key_parameters: None,
            endorsed_algorithms: &[ECDSA_SHA256],
        })
        .unwrap();
        self.key_mac = self
            .crypto()
            .mac(Method::CreateKeyEntry, &key_data)
            .unwrap();
        KeyCreationRequest {
            server_session_id: self.ssid.clone(),
            client_session_id: self.csid.clone(),
            key_entry_algorithm: alg::KEY_1.into(),
            deferred_issuance: None,
            puk_policy_specifiers: vec![],
            pin_policy_specifiers: vec![PinPolicySpecifier {
                id: "PIN.1".into(),
                min_length: 4,
                max_length: 8,
                retry_limit: 3,
                format: PassphraseFormat::Numeric,
                user_modifiable: None,
                grouping: None,
                input_method: None,
                pattern_restrictions: patterns.to_vec(),
                mac: pin_mac,
                key_entry_specifiers: vec![KeyEntrySpecifier {
                    id: "Key.1".into(),
                    server_seed: None,
                    device_pin_protection: None,
                    encrypted_pin: None,
                    enable_pin_caching: None,
                    biometric_protection: None,
                    export_protection: None,
                    delete_protection: None,
                    friendly_name: None,
                    app_usage: AppUsage::Signature,
                    key_algorithm: P256.into(),
                    key_parameters: None,
                    endorsed_algorithms: vec![ECDSA_SHA256.into()],
                    mac: self.key_mac,
                }],
            }],
            key_entry_specifiers: vec![],
        }
        .into()
    }

    fn on_key_creation(&mut self, m: Message) {
        let Message::KeyCreationResponse(r) = m else {
            panic!("{m:?}")
        };
        assert_eq!(r.generated_keys.len(), 1);
        let g = &r.generated_keys[0];
        assert_eq!(g.id, "Key.1");
        let key = PublicKey::from_jwk(&g.public_key).unwrap();
        assert_eq!(key.curve(), Some(Curve::P256));
        self.key_spki = key.to_spki_der().unwrap();
        let data = session1::key_attestation_data(&self.key_spki, &self.key_mac).unwrap();
        self.crypto()
            .verify_attestation(&data, &g.attestation)
            .expect("key attestation");
    }

    fn finalization(&mut self) -> Message {
        let ee = self
            .ca
            .issue_at(
                &self.key_spki,
                &Profile::end_entity("CN=airtight client e2e {key}"),
                &Serial::from_u64(7).unwrap(),
                TEST_TIME.secs(),
            )
            .unwrap();
        let mut path = vec![ee];
        path.extend(self.ca.certificate_path().iter().cloned());
        self.path = path.clone();
        let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
        let data = session1::set_certificate_path_data(&self.key_spki, "Key.1", &refs).unwrap();
        let cert_mac = self
            .crypto()
            .mac(Method::SetCertificatePath, &data)
            .unwrap();
        let mut nonce = [0u8; 32];
        self.rng.fill_bytes(&mut nonce);
        self.close_nonce = nonce.to_vec();
        let data =
            session1::close_provisioning_session_data(&self.csid, &self.ssid, ISSUER_URI, &nonce)
                .unwrap();
        let close_mac = self
            .crypto()
            .mac(Method::CloseProvisioningSession, &data)
            .unwrap();
        let json = format!(
            r#"{{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"ProvisioningFinalizationRequest",
            "serverSessionId":"{}","clientSessionId":"{}",
            "issuedCredentials":[{{"id":"Key.1","certificatePath":[{}],"mac":"{}"}}],
            "sessionCloseData":{{"nonce":"{}","mac":"{}"}}}}"#,
            self.ssid,
            self.csid,
            path.iter()
                .map(|c| format!("\"{}\"", b64url::encode(c)))
                .collect::<Vec<_>>()
                .join(","),
            b64url::encode(&cert_mac),
            b64url::encode(&nonce),
            b64url::encode(&close_mac)
        );
        Message::decode(json.as_bytes()).unwrap()
    }

    /// A CredentialDiscoveryRequest with one lookup signed by the KMK.
    fn discovery(&self, email: Option<&str>) -> Message {
        let kmk = self.kmk.as_ref().unwrap();
        let mut lookup = LookupSpecifier {
            id: "Lookup.1".into(),
            nonce: session1::lookup_nonce(&self.csid, &self.ssid)
                .unwrap()
                .to_vec(),
            search_filter: email.map(|e| SearchFilter {
                email_reg_ex: Some(e.into()),
                ..Default::default()
            }),
            signature: JsfSignature {
                algorithm: JsfAlgorithm::Es256,
                public_key: kmk.public_key().to_jwk(),
                value: Vec::new(),
            },
        };
        lookup.signature.value = kmk
            .sign(
                SignatureAlgorithm::from_jose("ES256").unwrap(),
                &lookup.signed_data(),
            )
            .unwrap();
        CredentialDiscoveryRequest {
            server_session_id: self.ssid.clone(),
            client_session_id: self.csid.clone(),
            lookup_specifiers: vec![lookup],
        }
        .into()
    }

    /// A finalization that only deletes `target` (a key of an earlier session) and closes.
    fn delete_and_close(&mut self, target: &MatchingCredential) -> Message {
        let ee = &target.certificate_path[0];
        let device_id = self.device_id.clone();
        let reference = self.crypto().target_key_reference(&device_id, ee).unwrap();
        let authorization = session1::sign_kmk_authorization(
            self.kmk.as_ref().unwrap(),
            &session1::target_key_reference_signed_data(&reference),
        )
        .unwrap();
        let data = session1::post_delete_or_unlock_data(&authorization).unwrap();
        let mac = self.crypto().mac(Method::PostDeleteKey, &data).unwrap();
        let mut nonce = [0u8; 32];
        self.rng.fill_bytes(&mut nonce);
        self.close_nonce = nonce.to_vec();
        let data =
            session1::close_provisioning_session_data(&self.csid, &self.ssid, ISSUER_URI, &nonce)
                .unwrap();
        let close_mac = self
            .crypto()
            .mac(Method::CloseProvisioningSession, &data)
            .unwrap();
        ProvisioningFinalizationRequest {
            server_session_id: self.ssid.clone(),
            client_session_id: self.csid.clone(),
            issued_credentials: vec![],
            unlock_keys: vec![],
            delete_keys: vec![PostOperation {
                finger_print: keys::sha256(ee).to_vec(),
                server_session_id: target.server_session_id.clone(),
                client_session_id: target.client_session_id.clone(),
                authorization,
                mac,
            }],
            session_close_data: SessionCloseData {
                nonce: nonce.to_vec(),
                mac: close_mac,
            },
        }
        .into()
    }

    fn on_finalization(&mut self, m: Message) {
        let Message::ProvisioningFinalizationResponse(r) = m else {
            panic!("{m:?}")
        };
        let data = session1::close_attestation_data(&self.close_nonce).unwrap();
        self.crypto()
            .verify_attestation(&data, &r.attestation)
            .expect("close attestation");
    }
}

fn engine<'a>(card: &'a mut ReferenceSks, pins: &str) -> Middleware<&'a mut ReferenceSks> {
    Middleware::new(card, SessionContext::plain(ISSUER_URI))
        .with_pin_source(PinSource::from_lines(pins))
        .with_clock(Box::new(ManualClock::new(TEST_TIME)))
}

fn provision(privacy: bool, seed: u64) -> (ReferenceSks, MiniIssuer) {
    let mut card = ReferenceSks::in_memory_for_tests(seed);
    let mut is = MiniIssuer::new(seed, privacy);
    let mut mw = engine(&mut card, "135790");
    let Message::InvocationResponse(inv) = mw.handle(is.invocation()).unwrap() else {
        panic!()
    };
    // [KG2-IRS-003]: the card supports P-256.
    assert_eq!(
        inv.client_capabilities[0].value,
        airtight_proto::messages::CapabilityValue::Supported(true)
    );
    let r = mw.handle(is.init()).unwrap();
    is.on_init(r);
    let r = mw.handle(is.key_creation()).unwrap();
    is.on_key_creation(r);
    let r = mw.handle(is.finalization()).unwrap();
    is.on_finalization(r);
    assert!(mw.is_done());
    drop(mw);
    (card, is)
}

fn only_key(card: &mut ReferenceSks) -> KeyHandle {
    let k = card.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert!(card.enumerate_keys(k.key_handle).unwrap().is_none());
    k.key_handle
}

#[test]
fn e2es_session_with_the_reference_card_and_the_key_signs() {
    let (mut card, is) = provision(false, 1);
    let kh = only_key(&mut card);
    let attrs = card.get_key_attributes(kh).unwrap();
    assert_eq!(attrs.certificate_path, is.path);
    let sig = card
        .sign_data(kh, ECDSA_SHA256, None, false, Some(b"135790"), b"hello")
        .unwrap();
    let key = keys::certificate_public_key(&is.path[0]).unwrap();
    key.verify(
        SignatureAlgorithm::from_jose("ES256").unwrap(),
        b"hello",
        &sig,
    )
    .expect("signature by the provisioned key");
    // A wrong PIN is refused by the card.
    let e = card
        .sign_data(kh, ECDSA_SHA256, None, false, Some(b"000000"), b"hello")
        .unwrap_err();
    assert_eq!(e.code(), SksErrorCode::Authorization);
}

#[test]
fn privacy_session_with_the_reference_card() {
    let (mut card, _) = provision(true, 2);
    let kh = only_key(&mut card);
    assert!(
        card.sign_data(kh, ECDSA_SHA256, None, false, Some(b"135790"), b"x")
            .is_ok()
    );
}

#[test]
fn a_pin_against_the_policy_never_reaches_the_card() {
    // [KG2-KCQ-013] [POL-PAT-003]: "1234" is a sequence; the session is aborted and the card
    // keeps nothing.
    let mut card = ReferenceSks::in_memory_for_tests(3);
    let mut is = MiniIssuer::new(3, false);
    let mut mw = engine(&mut card, "1234");
    mw.handle(is.invocation()).unwrap();
    let r = mw.handle(is.init()).unwrap();
    is.on_init(r);
    let err = mw.handle(is.key_creation()).unwrap_err();
    assert!(matches!(err.failure, Failure::PinRejected { .. }), "{err}");
    assert_eq!(err.abort, AbortStatus::Aborted);
    drop(mw);
    assert!(
        card.enumerate_provisioning_sessions(airtight_proto::sks::ProvisioningHandle::NONE, true)
            .unwrap()
            .is_none()
    );
    assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
}

#[test]
fn a_tampered_mac_makes_the_card_fail_and_the_engine_abort() {
    // [KG2-FLW-006]
    let mut card = ReferenceSks::in_memory_for_tests(4);
    let mut is = MiniIssuer::new(4, false);
    let mut mw = engine(&mut card, "135790");
    mw.handle(is.invocation()).unwrap();
    let r = mw.handle(is.init()).unwrap();
    is.on_init(r);
    let Message::KeyCreationRequest(mut kc) = is.key_creation() else {
        panic!()
    };
    kc.pin_policy_specifiers[0].key_entry_specifiers[0].mac[0] ^= 1;
    let err = mw.handle(kc.into()).unwrap_err();
    assert_eq!(err.message, "KeyCreationRequest");
    let (call, code) = err.sks_failure().unwrap();
    assert_eq!(call, airtight_proto::sks::SksMethod::CreateKeyEntry);
    assert_eq!(code, SksErrorCode::Mac);
    assert_ne!(err.abort, AbortStatus::NoSession);
    drop(mw);
    assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
}

fn provision_with(card: &mut ReferenceSks, is: &mut MiniIssuer) {
    let mut mw = engine(card, "135790");
    mw.handle(is.invocation()).unwrap();
    let r = mw.handle(is.init()).unwrap();
    is.on_init(r);
    let r = mw.handle(is.key_creation()).unwrap();
    is.on_key_creation(r);
    let r = mw.handle(is.finalization()).unwrap();
    is.on_finalization(r);
}

#[test]
fn discovery_and_delete_with_the_reference_card() {
    // [KG2-CDQ-001] [KG2-CDQ-002] [KG2-CDQ-003] [KG2-CDR-002] [KG2-PFQ-006] [KG2-FLW-004]
    let mut card = ReferenceSks::in_memory_for_tests(5);
    let mut first = MiniIssuer::new(5, false).with_kmk(77);
    provision_with(&mut card, &mut first);
    // A key of another issuer (no KMK) that must stay invisible.
    let mut other = MiniIssuer::new(6, false);
    provision_with(&mut card, &mut other);

    let mut second = MiniIssuer::new(7, false).with_kmk(77);
    let mut mw = engine(&mut card, "");
    mw.handle(second.invocation()).unwrap();
    let r = mw.handle(second.init()).unwrap();
    second.on_init(r);
    let Message::CredentialDiscoveryResponse(found) = mw.handle(second.discovery(None)).unwrap()
    else {
        panic!()
    };
    let creds = &found.lookup_results[0].matching_credentials;
    assert_eq!(creds.len(), 1, "only the key under this KMK");
    assert_eq!(creds[0].server_session_id, first.ssid);
    assert_eq!(creds[0].client_session_id, first.csid);
    assert_eq!(creds[0].certificate_path, first.path);
    assert_eq!(creds[0].locked, None);
    let target = creds[0].clone();
    let r = mw.handle(second.delete_and_close(&target)).unwrap();
    second.on_finalization(r);
    assert_eq!(mw.outcome().unwrap().deleted_keys, 1);
    drop(mw);
    // Only the other issuer's key is left.
    let k = only_key(&mut card);
    assert_eq!(
        card.get_key_attributes(k).unwrap().certificate_path,
        other.path
    );
}

#[test]
fn a_lookup_signed_by_another_key_is_refused() {
    // [KG2-CDQ-002]
    let mut card = ReferenceSks::in_memory_for_tests(8);
    let mut is = MiniIssuer::new(8, false).with_kmk(1);
    let mut mw = engine(&mut card, "");
    mw.handle(is.invocation()).unwrap();
    let r = mw.handle(is.init()).unwrap();
    is.on_init(r);
    let Message::CredentialDiscoveryRequest(mut cd) = is.discovery(None) else {
        panic!()
    };
    // Claim another public key for the same signature value.
    let other = PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(2));
    cd.lookup_specifiers[0].signature.public_key = other.public_key().to_jwk();
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
    assert_ne!(err.abort, AbortStatus::NoSession);
}

#[test]
fn kmk_rollover_with_the_reference_card() {
    // [KG2-PIQ-008] [KG2-PIQ-009]: session 1 under K0; session 2 under K1 with K0 rolled over
    // (authorized by K0); a lookup signed by K1 then finds the session-1 key.
    let mut card = ReferenceSks::in_memory_for_tests(9);
    let mut first = MiniIssuer::new(9, false).with_kmk(100);
    provision_with(&mut card, &mut first);
    let k0 = first.kmk.clone().unwrap();
    let mut second = MiniIssuer::new(10, false).with_kmk(101);
    let k1 = second.kmk.clone().unwrap();
    let authorization = session1::sign_kmk_authorization(
        &k0,
        &session1::roll_over_signed_data(&k1.public_key()).unwrap(),
    )
    .unwrap();
    second.updatable = vec![UpdatableKeyManagementKey {
        public_key: k0.public_key().to_jwk(),
        authorization,
        updatable_key_management_keys: vec![],
    }];
    let mut mw = engine(&mut card, "");
    mw.handle(second.invocation()).unwrap();
    let r = mw.handle(second.init()).unwrap();
    second.on_init(r);
    let Message::CredentialDiscoveryResponse(found) = mw.handle(second.discovery(None)).unwrap()
    else {
        panic!()
    };
    let creds = &found.lookup_results[0].matching_credentials;
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].server_session_id, first.ssid);
    drop(mw);
    // The first session's KMK is now K1.
    let s = card
        .enumerate_provisioning_sessions(airtight_proto::sks::ProvisioningHandle::NONE, false)
        .unwrap()
        .unwrap();
    assert_eq!(
        s.key_management_key.unwrap(),
        k1.public_key().to_spki_der().unwrap()
    );
}

#[test]
fn a_forged_rollover_fails_before_the_session() {
    // The card refuses a roll-over not signed by the old KMK; no session is created.
    let mut card = ReferenceSks::in_memory_for_tests(11);
    let mut first = MiniIssuer::new(11, false).with_kmk(200);
    provision_with(&mut card, &mut first);
    let mut second = MiniIssuer::new(12, false).with_kmk(201);
    let k1 = second.kmk.clone().unwrap();
    let forged = session1::sign_kmk_authorization(
        &k1,
        &session1::roll_over_signed_data(&k1.public_key()).unwrap(),
    )
    .unwrap();
    second.updatable = vec![UpdatableKeyManagementKey {
        public_key: first.kmk.as_ref().unwrap().public_key().to_jwk(),
        authorization: forged,
        updatable_key_management_keys: vec![],
    }];
    let mut mw = engine(&mut card, "");
    mw.handle(second.invocation()).unwrap();
    let err = mw.handle(second.init()).unwrap_err();
    assert_eq!(
        err.sks_failure().map(|(m, _)| m),
        Some(airtight_proto::sks::SksMethod::UpdateKeyManagementKey)
    );
    assert_eq!(err.abort, AbortStatus::NoSession);
}
