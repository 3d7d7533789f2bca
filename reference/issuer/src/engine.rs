//! The sans-IO issuer engine: [`Issuer::start`] makes the InvocationRequest, and
//! [`Issuer::handle`] takes each middleware message and returns the next request or the final
//! [`IssuanceRecord`]. Time (`now`, an `airtight_proto::time::UnixTime`) and randomness are
//! arguments of every call.
//!
//! Every request the engine sends goes through one "commit" walk that derives, from the request
//! itself, what the engine expects back (MAC counters, key ids and order, attestation inputs,
//! session-key uses). The same walk can adopt a request recorded from another issuer
//! ([`Issuer::handle_adopting`]): it then recomputes every MAC of that request and refuses it on
//! any difference, so a recorded session replays through exactly the checks of a live one.

use airtight_pki::path::{TrustAnchor, verify_path};
use airtight_pki::{Ca, Profile, Serial};
use airtight_proto::alg::{self, KeyGen};
use airtight_proto::jwk::Jwk;
use airtight_proto::keys::{KeyType, PrivateKey, PublicKey, SignatureAlgorithm, ecdh_z, sha256};
use airtight_proto::messages::{
    Action, CapabilityValue, CredentialDiscoveryRequest, CredentialDiscoveryResponse,
    CredentialPostOperation, EncryptedKey, Extension, InvocationRequest, InvocationResponse,
    IssuedCredential, JsfAlgorithm, JsfSignature, KeyContainer, KeyCreationRequest,
    KeyCreationResponse, KeyEntrySpecifier, Logotype, LookupSpecifier, Message, PinPolicySpecifier,
    PostOperation, PropertyBag, ProvisioningFinalizationRequest, ProvisioningFinalizationResponse,
    ProvisioningInitializationRequest, ProvisioningInitializationResponse, PukPolicySpecifier,
    SearchFilter, SessionCloseData, UpdatableKeyManagementKey,
};
use airtight_proto::policy::{AppUsage, Grouping};
use airtight_proto::session1::{
    self, ExtensionSubType, KeyEntryMacInput, Method, Operation, PinPolicyMacInput,
    SessionAttestationInput, SessionCrypto, ct_eq,
};
use airtight_proto::time::{IsoTime, UnixTime};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::IssuerError;
use crate::entropy::{Entropy, RngEntropy};
use crate::faults::IssuerFault;
use crate::policy::{KeyPolicy, PinPolicy, Policy};
use crate::state::{
    Discovered, IssuedCertificate, Phase, PlannedKey, PostOp, Secrets, SessionState,
};

const CLIENTATTR: &str = "https://webpki.github.io/keygen2/clientattr#";
const LOGOTYPE: &str = "https://webpki.github.io/keygen2/logotype#";

/// An older key-management key that may be rolled over to its parent ([KG2-PIQ-008]).
#[derive(Debug, Clone)]
pub struct KmkRollover {
    /// The older KMK (its private key signs the roll-over authorization).
    pub old: PrivateKey,
    /// Still older keys that roll over to `old`.
    pub children: Vec<KmkRollover>,
}

/// What the engine needs besides the policy.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The URL the middleware POSTs to (`issuerUri` of the KDF, [CRY-KDF-010]).
    pub issuer_uri: String,
    /// DER of the issuer's TLS end-entity certificate (`serverCertificate`).
    pub server_certificate: Vec<u8>,
    /// The issuance policy.
    pub policy: Policy,
    /// Device trust anchors ([KG2-IMP-002]).
    pub device_anchors: Vec<TrustAnchor>,
    /// The CA that certifies generated keys.
    pub ca: Option<Ca>,
    /// The key-management key of new sessions (needed for discovery and post-operations).
    pub kmk: Option<PrivateKey>,
    /// Older KMKs to roll over to `kmk`.
    pub kmk_rollovers: Vec<KmkRollover>,
    /// Deliberate faults (settable only with the `faults` feature, for the harness self-test).
    pub faults: crate::faults::Faults,
}

/// What the caller knows when a session starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartRequest {
    /// The device ID the user enrolled with, if any ([KG2-IMP-003]).
    pub expected_device_id: Option<String>,
    /// A label for certificate subjects (`{label}` in the subject template), e.g. a user name.
    pub subject_label: String,
}

/// What to do after a middleware message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send this request.
    Request(Message),
    /// The session is provisioned: record it and redirect to the result page.
    Done(IssuanceRecord),
}

/// One key of a completed issuance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedKey {
    /// Key id.
    pub id: String,
    /// Key generation URI.
    pub key_algorithm: String,
    /// appUsage.
    pub app_usage: String,
    /// friendlyName.
    pub friendly_name: Option<String>,
    /// Attested public key (SPKI DER).
    pub public_key_spki: Vec<u8>,
    /// Delivered certificate path.
    pub certificate_path: Vec<Vec<u8>>,
}

/// The result of a provisioned session: what the server records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceRecord {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `manage` or `unlock`.
    pub action: String,
    /// Privacy mode.
    pub privacy_enabled: bool,
    /// The attested device certificate path (E2ES).
    pub device_certificate_path: Vec<Vec<u8>>,
    /// The long device ID (E2ES).
    pub device_id: Option<String>,
    /// Keys created and certified.
    pub keys: Vec<IssuedKey>,
    /// Post-operations performed on earlier keys.
    pub post_operations: Vec<PostOp>,
    /// `serverTime`.
    pub server_time: String,
    /// Completion time (unix seconds).
    pub completed_at: i64,
}

fn policy_err(e: impl std::fmt::Display) -> IssuerError {
    IssuerError::Policy(e.to_string())
}

fn adopted(e: impl std::fmt::Display) -> IssuerError {
    IssuerError::Adopted(e.to_string())
}

fn spki_of_jwk(jwk: &Jwk) -> Result<Vec<u8>, IssuerError> {
    let k = PublicKey::from_jwk(jwk).map_err(|e| IssuerError::State(e.to_string()))?;
    Ok(k.to_spki_der().map_err(session1::Session1Error::from)?)
}

fn cert_spki(der: &[u8]) -> Option<Vec<u8>> {
    airtight_pki::spki_of_certificate(der).ok()
}

/// Compares or fills one MAC of a request walk.
fn seal(
    slot: &mut [u8; 32],
    computed: [u8; 32],
    fill: bool,
    what: &str,
) -> Result<(), IssuerError> {
    if fill {
        *slot = computed;
        Ok(())
    } else if ct_eq(slot, &computed) {
        Ok(())
    } else {
        Err(IssuerError::AdoptedMac { what: what.into() })
    }
}

/// The issuer half of session.1 for one session.
struct Crypto<'s> {
    st: &'s mut SessionState,
    sc: SessionCrypto,
}

impl<'s> Crypto<'s> {
    fn new(st: &'s mut SessionState) -> Result<Self, IssuerError> {
        let key: [u8; 32] = st
            .secrets
            .session_key
            .as_slice()
            .try_into()
            .map_err(|_| IssuerError::State("no session key".into()))?;
        Ok(Crypto {
            st,
            sc: SessionCrypto::new(key, u16::MAX),
        })
    }

    fn take(&mut self) -> Result<u16, IssuerError> {
        let c = u16::try_from(self.st.counter)
            .map_err(|_| IssuerError::from(session1::Session1Error::CounterExhausted))?;
        self.st.counter += 1;
        Ok(c)
    }

    fn spend(&mut self, op: Operation) -> Result<(), IssuerError> {
        self.st.key_uses += u32::from(op.session_key_uses());
        if self.st.key_uses > u32::from(self.st.session_key_limit) {
            return Err(IssuerError::SessionKeyLimit {
                needed: self.st.key_uses,
                limit: self.st.session_key_limit,
            });
        }
        Ok(())
    }

    fn mac(&mut self, method: Method, data: &[u8]) -> Result<[u8; 32], IssuerError> {
        let c = self.take()?;
        Ok(self.sc.mac_at(method, c, data)?)
    }

    fn encrypt(&mut self, iv: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>, IssuerError> {
        Ok(self.sc.encrypt(iv, plaintext)?)
    }

    fn device_id_bytes(&self) -> Result<Vec<u8>, IssuerError> {
        Ok(session1::device_id_bytes(
            self.st.privacy_enabled,
            self.st.device_certificate_path.first().map(Vec::as_slice),
        )?)
    }

    fn target_key_reference(&mut self, ee: &[u8]) -> Result<[u8; 32], IssuerError> {
        let d = self.device_id_bytes()?;
        Ok(self.sc.target_key_reference(&d, ee)?)
    }
}

impl Issuer {
    /// An issuer with `policy` and nothing else configured (no anchors, CA or KMK).
    pub fn new(issuer_uri: &str, server_certificate: Vec<u8>, policy: Policy) -> Self {
        Issuer {
            issuer_uri: issuer_uri.into(),
            server_certificate,
            policy,
            device_anchors: Vec::new(),
            ca: None,
            kmk: None,
            kmk_rollovers: Vec::new(),
            faults: Default::default(),
        }
    }

    // ------------------------------------------------------------------ start

    /// Starts a session: a fresh `serverSessionId` and the InvocationRequest.
    pub fn start(
        &self,
        request: StartRequest,
        rng: &mut dyn airtight_proto::entropy::Entropy,
        now: UnixTime,
    ) -> Result<(SessionState, Message), IssuerError> {
        self.start_with(request, &mut RngEntropy(rng), now)
    }

    /// [`Issuer::start`] with an explicit [`Entropy`].
    pub fn start_with<E: Entropy + ?Sized>(
        &self,
        request: StartRequest,
        entropy: &mut E,
        now: UnixTime,
    ) -> Result<(SessionState, Message), IssuerError> {
        let p = &self.policy;
        p.validate()?;
        let action = match p.action.as_str() {
            "unlock" => Action::Unlock,
            _ => Action::Manage,
        };
        let mut containers = Vec::new();
        for c in &p.target_key_containers {
            containers.push(KeyContainer::from_name(c).ok_or_else(|| policy_err(c))?);
        }
        let req = InvocationRequest {
            server_session_id: entropy.server_session_id(),
            action,
            privacy_enabled: p.privacy_enabled.then_some(true),
            preferred_languages: p.preferred_languages.clone(),
            target_key_containers: containers,
            client_capability_query: p.capability_query.clone(),
        };
        self.start_adopting(request, &req, now)
            .map(|st| (st, Message::InvocationRequest(req)))
    }

    /// Starts a session whose InvocationRequest was made elsewhere (a recording).
    pub fn start_adopting(
        &self,
        request: StartRequest,
        invocation: &InvocationRequest,
        now: UnixTime,
    ) -> Result<SessionState, IssuerError> {
        let privacy = invocation.privacy_enabled();
        // [KG2-IMP-008] no client attributes in privacy mode.
        if privacy
            && invocation
                .client_capability_query
                .iter()
                .any(|q| q.starts_with(CLIENTATTR))
        {
            return Err(policy_err(
                "[KG2-IMP-008] client attributes queried in privacy mode",
            ));
        }
        Ok(SessionState {
            server_session_id: invocation.server_session_id.clone(),
            phase: Phase::AwaitInvocationResponse,
            failure: None,
            action: invocation.action.as_str().into(),
            privacy_enabled: privacy,
            started_at: now.secs(),
            expected_device_id: request.expected_device_id,
            subject_label: request.subject_label,
            capability_query: invocation.client_capability_query.clone(),
            capabilities: Vec::new(),
            server_time: None,
            server_time_unix: 0,
            session_key_limit: 0,
            session_life_time: 0,
            server_ephemeral_spki: Vec::new(),
            kmk_spki: None,
            client_session_id: None,
            client_time: None,
            device_certificate_path: Vec::new(),
            device_id: None,
            counter: 0,
            key_uses: 0,
            lookup_ids: Vec::new(),
            lookup_kmks: Vec::new(),
            discovered: Vec::new(),
            keys: Vec::new(),
            issued: Vec::new(),
            post_ops: Vec::new(),
            close_attestation_counter: None,
            close_nonce: Vec::new(),
            secrets: Secrets::default(),
        })
    }

    // ----------------------------------------------------------------- handle

    /// Handles one middleware message (the raw HTTP body): checks it and returns the next
    /// request, or the issuance record after a verified close attestation. Any error marks the
    /// session failed.
    pub fn handle(
        &self,
        state: &mut SessionState,
        body: &[u8],
        rng: &mut dyn airtight_proto::entropy::Entropy,
        now: UnixTime,
    ) -> Result<Next, IssuerError> {
        self.handle_with(state, body, &mut RngEntropy(rng), now)
    }

    /// [`Issuer::handle`] with an explicit [`Entropy`].
    pub fn handle_with<E: Entropy + ?Sized>(
        &self,
        state: &mut SessionState,
        body: &[u8],
        entropy: &mut E,
        now: UnixTime,
    ) -> Result<Next, IssuerError> {
        self.guarded(state, |st| self.step(st, body, entropy, now, None))
    }

    /// Like [`Issuer::handle_with`], but the next request is `recorded` (made by another issuer,
    /// e.g. a Java recording) instead of one built from the policy. The response is checked
    /// exactly as by `handle`; the recorded request goes through the same commit walk, which
    /// recomputes each of its MACs and refuses any that differs. `entropy` must supply the
    /// server ephemeral private key matching a recorded ProvisioningInitializationRequest.
    pub fn handle_adopting<E: Entropy + ?Sized>(
        &self,
        state: &mut SessionState,
        body: &[u8],
        recorded: Option<&Message>,
        entropy: &mut E,
        now: UnixTime,
    ) -> Result<Next, IssuerError> {
        self.guarded(state, |st| self.step(st, body, entropy, now, recorded))
    }

    fn guarded(
        &self,
        st: &mut SessionState,
        f: impl FnOnce(&mut SessionState) -> Result<Next, IssuerError>,
    ) -> Result<Next, IssuerError> {
        match st.phase {
            Phase::Done => return Err(IssuerError::SessionClosed("done")),
            Phase::Failed => return Err(IssuerError::SessionClosed("failed")),
            _ => {}
        }
        match f(st) {
            Ok(n) => Ok(n),
            Err(e) => {
                st.phase = Phase::Failed;
                st.failure = Some(e.to_string());
                st.secrets.zeroize();
                Err(e)
            }
        }
    }

    fn step<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        body: &[u8],
        e: &mut E,
        now: UnixTime,
        adopt: Option<&Message>,
    ) -> Result<Next, IssuerError> {
        let limit = self.policy.session.max_body_bytes;
        if body.len() > limit && !self.faults.has(IssuerFault::NoBodyLimit) {
            return Err(IssuerError::BodyTooLarge {
                size: body.len(),
                limit,
            });
        }
        let msg = Message::decode(body)?;
        self.check_lifetime(st, now)?;
        let phase = st.phase;
        if msg.qualifier() != phase.expected() && !self.faults.has(IssuerFault::IgnoreMessageOrder)
        {
            return Err(IssuerError::UnexpectedMessage {
                expected: phase.expected(),
                received: msg.qualifier().into(),
            });
        }
        let ignore_ids = self.faults.has(IssuerFault::IgnoreSessionIds);
        if msg.server_session_id() != st.server_session_id && !ignore_ids {
            return Err(IssuerError::ServerSessionIdMismatch {
                received: msg.server_session_id().into(),
            });
        }
        if phase != Phase::AwaitInitializationResponse
            && !ignore_ids
            && let (Some(got), Some(ours)) = (msg.client_session_id(), &st.client_session_id)
            && got != ours
        {
            return Err(IssuerError::ClientSessionIdMismatch {
                received: got.into(),
            });
        }
        match msg {
            Message::InvocationResponse(m) => {
                self.on_invocation_response(st, &m)?;
                self.send_initialization(st, e, now, adopt)
            }
            Message::ProvisioningInitializationResponse(m) => {
                self.on_initialization_response(st, &m, now)?;
                self.after_initialization(st, e, now, adopt)
            }
            Message::CredentialDiscoveryResponse(m) => {
                self.on_discovery_response(st, &m)?;
                self.after_discovery(st, e, now, adopt)
            }
            Message::KeyCreationResponse(m) => {
                self.on_key_creation_response(st, &m)?;
                self.send_finalization(st, e, now, adopt)
            }
            Message::ProvisioningFinalizationResponse(m) => {
                self.on_finalization_response(st, &m, now)
            }
            other => Err(IssuerError::UnexpectedMessage {
                expected: phase.expected(),
                received: other.qualifier().into(),
            }),
        }
    }

    /// [KG2-IMP-006]
    fn check_lifetime(&self, st: &SessionState, now: UnixTime) -> Result<(), IssuerError> {
        if self.faults.has(IssuerFault::IgnoreLifetime) {
            return Ok(());
        }
        let deadline = if st.server_time.is_some() {
            st.server_time_unix + i64::from(st.session_life_time)
        } else {
            st.started_at + i64::from(self.policy.session.life_time)
        };
        if now.secs() > deadline {
            return Err(IssuerError::SessionExpired {
                deadline,
                now: now.secs(),
            });
        }
        Ok(())
    }

    // ------------------------------------------------------------- invocation

    /// [KG2-IRS-004]
    fn on_invocation_response(
        &self,
        st: &mut SessionState,
        m: &InvocationResponse,
    ) -> Result<(), IssuerError> {
        let q = &st.capability_query;
        if self.faults.has(IssuerFault::AcceptAnyCapabilities) {
            st.capabilities = Vec::new();
            return Ok(());
        }
        if m.client_capabilities.len() != q.len() {
            return Err(IssuerError::Capabilities(format!(
                "{} answers for {} queries",
                m.client_capabilities.len(),
                q.len()
            )));
        }
        let mut answers = Vec::new();
        for (a, uri) in m.client_capabilities.iter().zip(q) {
            if &a.capability_type != uri {
                return Err(IssuerError::Capabilities(format!(
                    "answer {:?} where {uri:?} was queried",
                    a.capability_type
                )));
            }
            let kind_ok = match &a.value {
                CapabilityValue::Values(_) => uri.starts_with(CLIENTATTR),
                CapabilityValue::ImageAttributes(_) => uri.starts_with(LOGOTYPE),
                CapabilityValue::Supported(_) => {
                    !uri.starts_with(CLIENTATTR) && !uri.starts_with(LOGOTYPE)
                }
            };
            if !kind_ok {
                return Err(IssuerError::Capabilities(format!(
                    "{uri:?} answered with the wrong kind"
                )));
            }
            answers.push((uri.clone(), format!("{:?}", a.value)));
        }
        st.capabilities = answers;
        Ok(())
    }

    // --------------------------------------------------------- initialization

    fn send_initialization<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        e: &mut E,
        now: UnixTime,
        adopt: Option<&Message>,
    ) -> Result<Next, IssuerError> {
        let (req, eph, eph_public) = match adopt {
            Some(Message::ProvisioningInitializationRequest(r)) => {
                let curve = PublicKey::from_jwk(&r.server_ephemeral_key)
                    .ok()
                    .and_then(|k| k.curve())
                    .ok_or_else(|| adopted("serverEphemeralKey"))?;
                let eph = e.ephemeral_key(curve);
                let eph_public = eph.public_key();
                if eph_public.to_jwk() != r.server_ephemeral_key {
                    return Err(adopted("the pinned ephemeral key is not the recorded one"));
                }
                (r.clone(), eph, eph_public)
            }
            Some(other) => {
                return Err(adopted(format!(
                    "{} instead of initialization",
                    other.qualifier()
                )));
            }
            None => {
                let eph = e.ephemeral_key(self.policy.ephemeral_curve()?);
                // Derived once: a scalar multiplication.
                let eph_public = eph.public_key();
                let server_time =
                    IsoTime::server_time(now.secs()).ok_or_else(|| policy_err("now"))?;
                let kmk = self.kmk.as_ref().map(|k| k.public_key());
                let mut updatable = Vec::new();
                if let Some(parent) = &kmk {
                    for r in &self.kmk_rollovers {
                        updatable.push(rollover(parent, r)?);
                    }
                } else if !self.kmk_rollovers.is_empty() {
                    return Err(policy_err("KMK roll-over without a KMK"));
                }
                let req = ProvisioningInitializationRequest {
                    server_session_id: st.server_session_id.clone(),
                    server_time,
                    session_key_algorithm: alg::SESSION_1.into(),
                    session_key_limit: self.policy.session.key_limit,
                    session_life_time: self.policy.session.life_time,
                    server_ephemeral_key: eph_public.to_jwk(),
                    key_management_key: kmk.map(|k| k.to_jwk()),
                    updatable_key_management_keys: updatable,
                };
                (req, eph, eph_public)
            }
        };
        if req.server_session_id != st.server_session_id {
            return Err(adopted("serverSessionId"));
        }
        // [KG2-PIQ-008] every roll-over authorization verifies with the older key.
        if let Some(top) = &req.key_management_key {
            let top =
                PublicKey::from_jwk(top).map_err(|e| adopted(format!("keyManagementKey: {e}")))?;
            check_rollovers(&top, &req.updatable_key_management_keys)?;
        } else if !req.updatable_key_management_keys.is_empty() {
            return Err(adopted(
                "[KG2-PIQ-006] updatable KMKs without keyManagementKey",
            ));
        }
        st.server_time = Some(req.server_time.as_str().to_owned());
        st.server_time_unix = req.server_time.unix_seconds();
        st.session_key_limit = req.session_key_limit;
        st.session_life_time = req.session_life_time;
        st.server_ephemeral_spki = eph_public
            .to_spki_der()
            .map_err(session1::Session1Error::from)?;
        st.kmk_spki = req
            .key_management_key
            .as_ref()
            .map(spki_of_jwk)
            .transpose()?;
        // Without the public point: it would cost a scalar multiplication here and another
        // one to check it when the key is read back.
        st.secrets.ephemeral_pkcs8 = eph
            .to_pkcs8_der_without_public()
            .map_err(session1::Session1Error::from)?
            .to_vec();
        st.phase = Phase::AwaitInitializationResponse;
        Ok(Next::Request(Message::ProvisioningInitializationRequest(
            req,
        )))
    }

    fn on_initialization_response(
        &self,
        st: &mut SessionState,
        m: &ProvisioningInitializationResponse,
        now: UnixTime,
    ) -> Result<(), IssuerError> {
        // [KG2-IMP-007] verbatim echo.
        let sent = st.server_time.clone().unwrap_or_default();
        if m.server_time.as_str().as_bytes() != sent.as_bytes()
            && !self.faults.has(IssuerFault::IgnoreServerTimeEcho)
        {
            return Err(IssuerError::ServerTimeEcho {
                sent,
                received: m.server_time.as_str().into(),
            });
        }
        // [KG2-IMP-005]
        let ct = m.client_time.unix_seconds();
        let window = self.policy.session.client_time_window;
        let skew = (ct - now.secs()).abs();
        if skew > window && !self.faults.has(IssuerFault::IgnoreClientTime) {
            return Err(IssuerError::ClientTimeSkew {
                client_time: ct,
                skew,
                window,
            });
        }
        // [KG2-IMP-001] the requested mode, no downgrade.
        // (The AcceptPrivacyDowngrade fault follows the response's mode instead, both ways.)
        let privacy_enabled = if self.faults.has(IssuerFault::AcceptPrivacyDowngrade) {
            m.device_certificate_path.is_none()
        } else {
            st.privacy_enabled
        };
        let path: Vec<Vec<u8>> = match (&m.device_certificate_path, privacy_enabled) {
            (None, false) => return Err(IssuerError::DeviceIdMissing),
            (Some(_), true) => return Err(IssuerError::DeviceIdInPrivacyMode),
            (Some(p), false) => p.clone(),
            (None, true) => Vec::new(),
        };
        // The device certificate's SPKI, taken from the path validation's parse when there is
        // one (the certificate is not parsed a second time for the attestation key).
        let mut device_spki = None;
        if let Some(device) = path.first() {
            // [KG2-IMP-002]
            if !self.faults.has(IssuerFault::AcceptUntrustedDevice) {
                let verified = verify_path(&path, &self.device_anchors, now.secs())
                    .map_err(|e| IssuerError::DeviceUntrusted(e.to_string()))?;
                device_spki = Some(verified.leaf_spki_der);
            }
            // [KG2-IMP-003] / [CRY-DID-009]
            let long = session1::device_id_string(device, true);
            if let Some(expected) = &st.expected_device_id {
                let actual = if expected.len() == 20 {
                    session1::device_id_string(device, false)
                } else {
                    long.clone()
                };
                if &actual != expected {
                    return Err(IssuerError::DeviceIdMismatch {
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
            st.device_id = Some(long);
        }
        // [KG2-PIR-003]
        let server_eph = PrivateKey::from_pkcs8_der(&st.secrets.ephemeral_pkcs8)
            .map_err(|e| IssuerError::State(e.to_string()))?;
        let client_eph = PublicKey::from_jwk(&m.client_ephemeral_key)
            .map_err(|e| IssuerError::ClientEphemeralKey(e.to_string()))?;
        let server_curve = match server_eph.key_type() {
            KeyType::Ec(c) => Some(c),
            _ => None,
        };
        if client_eph.curve().is_none() || client_eph.curve() != server_curve {
            return Err(IssuerError::ClientEphemeralKey(
                "not on the curve of serverEphemeralKey".into(),
            ));
        }
        let z = ecdh_z(&server_eph, &client_eph)
            .map_err(|e| IssuerError::ClientEphemeralKey(e.to_string()))?;
        let device_id =
            session1::device_id_bytes(privacy_enabled, path.first().map(Vec::as_slice))?;
        let session_key = session1::derive_session_key(
            &z,
            &m.client_session_id,
            &st.server_session_id,
            &self.issuer_uri,
            &device_id,
        )?;
        let client_spki = client_eph
            .to_spki_der()
            .map_err(session1::Session1Error::from)?;
        let input = SessionAttestationInput {
            client_session_id: &m.client_session_id,
            server_session_id: &st.server_session_id,
            issuer_uri: &self.issuer_uri,
            device_id: &device_id,
            session_key_algorithm: alg::SESSION_1,
            // [CRY-ATT-011] our own expectation of the mode.
            privacy_enabled,
            server_ephemeral_key_spki: &st.server_ephemeral_spki,
            client_ephemeral_key_spki: &client_spki,
            key_management_key_spki: st.kmk_spki.as_deref(),
            client_time: m
                .client_time
                .unix_seconds_u32()
                .ok_or(IssuerError::SessionAttestation)?,
            session_life_time: st.session_life_time,
            session_key_limit: st.session_key_limit,
            server_certificate: &self.server_certificate,
        };
        let a = input.to_bytes()?;
        // [CRY-ATT-005] / [CRY-ATT-008]
        match path.first() {
            Some(device) => {
                let spki = match device_spki {
                    Some(spki) => spki,
                    None => cert_spki(device)
                        .ok_or_else(|| IssuerError::DeviceUntrusted("no public key".into()))?,
                };
                let key = PublicKey::from_spki_der(&spki)
                    .map_err(|e| IssuerError::DeviceUntrusted(e.to_string()))?;
                let alg = match key.key_type() {
                    KeyType::Rsa { .. } => SignatureAlgorithm::RS256,
                    KeyType::Ec(_) => SignatureAlgorithm::ES256,
                    KeyType::Ed25519 => return Err(IssuerError::SessionAttestation),
                };
                if !self.faults.has(IssuerFault::AcceptBadSessionAttestation) {
                    key.verify(alg, &a, &m.attestation)
                        .map_err(|_| IssuerError::SessionAttestation)?;
                }
            }
            None => {
                let expected = session1::privacy_session_attestation(session_key.as_ref(), &input)?;
                if !ct_eq(&expected, &m.attestation)
                    && !self.faults.has(IssuerFault::AcceptBadSessionAttestation)
                {
                    return Err(IssuerError::SessionAttestation);
                }
            }
        }
        st.client_session_id = Some(m.client_session_id.clone());
        st.client_time = Some(ct);
        st.device_certificate_path = path;
        st.secrets.ephemeral_pkcs8.zeroize();
        st.secrets.ephemeral_pkcs8.clear();
        st.secrets.session_key = session_key.to_vec();
        Ok(())
    }

    fn csid(st: &SessionState) -> Result<String, IssuerError> {
        st.client_session_id
            .clone()
            .ok_or_else(|| IssuerError::State("no clientSessionId".into()))
    }

    fn after_initialization<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        e: &mut E,
        now: UnixTime,
        adopt: Option<&Message>,
    ) -> Result<Next, IssuerError> {
        let discover = match adopt {
            Some(m) => matches!(m, Message::CredentialDiscoveryRequest(_)),
            None => self.policy.discovery.enabled || st.action == "unlock",
        };
        if discover {
            self.send_discovery(st, adopt)
        } else {
            self.after_discovery(st, e, now, adopt)
        }
    }

    // -------------------------------------------------------------- discovery

    fn send_discovery(
        &self,
        st: &mut SessionState,
        adopt: Option<&Message>,
    ) -> Result<Next, IssuerError> {
        let csid = Self::csid(st)?;
        let nonce = session1::lookup_nonce(&csid, &st.server_session_id)?;
        let req = match adopt {
            Some(Message::CredentialDiscoveryRequest(r)) => r.clone(),
            Some(other) => {
                return Err(adopted(format!(
                    "{} instead of discovery",
                    other.qualifier()
                )));
            }
            None => {
                let kmk = self
                    .kmk
                    .as_ref()
                    .ok_or_else(|| policy_err("credential discovery needs a KMK"))?;
                let algorithm = match kmk.key_type() {
                    KeyType::Rsa { .. } => JsfAlgorithm::Rs256,
                    _ => JsfAlgorithm::Es256,
                };
                let mut lookups = self.policy.discovery.lookup.clone();
                if lookups.is_empty() {
                    lookups.push(crate::policy::LookupPolicy {
                        id: "Lookup.1".into(),
                        ..Default::default()
                    });
                }
                let mut specs = Vec::new();
                for l in &lookups {
                    let filter = SearchFilter {
                        email_reg_ex: l.email_reg_ex.clone(),
                        subject_reg_ex: l.subject_reg_ex.clone(),
                        issuer_reg_ex: l.issuer_reg_ex.clone(),
                        app_usage: l
                            .app_usage
                            .as_deref()
                            .map(AppUsage::from_name)
                            .transpose()
                            .map_err(policy_err)?,
                        ..empty_filter()
                    };
                    let has_filter = filter != empty_filter();
                    let mut spec = LookupSpecifier {
                        id: l.id.clone(),
                        nonce: nonce.to_vec(),
                        search_filter: has_filter.then_some(filter),
                        signature: JsfSignature {
                            algorithm,
                            public_key: kmk.public_key().to_jwk(),
                            value: Vec::new(),
                        },
                    };
                    // [CRY-LUP-002]
                    spec.signature.value =
                        session1::sign_kmk_authorization(kmk, &spec.signed_data())?;
                    specs.push(spec);
                }
                CredentialDiscoveryRequest {
                    server_session_id: st.server_session_id.clone(),
                    client_session_id: csid.clone(),
                    lookup_specifiers: specs,
                }
            }
        };
        // Commit: nonces and signatures. Each lookup is verified with the key it embeds; the
        // credentials it finds are managed by that key ([KG2-CDQ-003]), which then has to
        // authorize post-operations on them. (The recorded Java issuer signs lookups with a KMK
        // even in sessions that declare no keyManagementKey of their own.)
        if req.client_session_id != csid || req.server_session_id != st.server_session_id {
            return Err(adopted("session ids of the discovery request"));
        }
        let mut ids = Vec::new();
        let mut keys = Vec::new();
        for s in &req.lookup_specifiers {
            // [CRY-LUP-001]
            if s.nonce != nonce {
                return Err(adopted(format!("lookup {} nonce", s.id)));
            }
            let key = PublicKey::from_jwk(&s.signature.public_key)
                .map_err(|_| adopted(format!("lookup {} public key", s.id)))?;
            // [CRY-LUP-002]
            session1::verify_kmk_authorization(&key, &s.signed_data(), &s.signature.value)
                .map_err(|_| adopted(format!("lookup {} signature", s.id)))?;
            ids.push(s.id.clone());
            keys.push(key.to_spki_der().map_err(session1::Session1Error::from)?);
        }
        st.lookup_kmks = keys;
        st.lookup_ids = ids;
        st.phase = Phase::AwaitDiscoveryResponse;
        Ok(Next::Request(Message::CredentialDiscoveryRequest(req)))
    }

    /// [KG2-CDR-001]
    fn on_discovery_response(
        &self,
        st: &mut SessionState,
        m: &CredentialDiscoveryResponse,
    ) -> Result<(), IssuerError> {
        if m.lookup_results.len() != st.lookup_ids.len() {
            return Err(IssuerError::LookupResults(format!(
                "{} results for {} lookups",
                m.lookup_results.len(),
                st.lookup_ids.len()
            )));
        }
        let mut found = Vec::new();
        for ((r, id), kmk) in m
            .lookup_results
            .iter()
            .zip(&st.lookup_ids)
            .zip(&st.lookup_kmks)
        {
            if &r.id != id {
                return Err(IssuerError::LookupResults(format!(
                    "result {:?} where {id:?} was expected",
                    r.id
                )));
            }
            for c in &r.matching_credentials {
                if c.certificate_path.is_empty() {
                    return Err(IssuerError::LookupResults("empty certificate path".into()));
                }
                found.push(Discovered {
                    lookup_id: id.clone(),
                    server_session_id: c.server_session_id.clone(),
                    client_session_id: c.client_session_id.clone(),
                    certificate_path: c.certificate_path.clone(),
                    locked: c.locked.unwrap_or(false),
                    kmk_spki: kmk.clone(),
                });
            }
        }
        st.discovered = found;
        Ok(())
    }

    fn after_discovery<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        e: &mut E,
        now: UnixTime,
        adopt: Option<&Message>,
    ) -> Result<Next, IssuerError> {
        let create = match adopt {
            Some(m) => matches!(m, Message::KeyCreationRequest(_)),
            None => st.action == "manage" && !self.policy.key.is_empty(),
        };
        if create {
            self.send_key_creation(st, e, adopt)
        } else {
            self.send_finalization(st, e, now, adopt)
        }
    }

    // ----------------------------------------------------------- key creation

    fn send_key_creation<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        e: &mut E,
        adopt: Option<&Message>,
    ) -> Result<Next, IssuerError> {
        if st.action != "manage" {
            return Err(adopted("[KG2-INV-002] key creation in an unlock session"));
        }
        let mut req = match adopt {
            Some(Message::KeyCreationRequest(r)) => r.clone(),
            Some(other) => {
                return Err(adopted(format!(
                    "{} instead of key creation",
                    other.qualifier()
                )));
            }
            None => self.build_key_creation(st, e)?,
        };
        commit_key_creation(st, &mut req, adopt.is_none())?;
        st.phase = Phase::AwaitKeyCreationResponse;
        Ok(Next::Request(Message::KeyCreationRequest(req)))
    }

    fn build_key_creation<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        e: &mut E,
    ) -> Result<KeyCreationRequest, IssuerError> {
        let p = &self.policy;
        let mut c = Crypto::new(st)?;
        let mut puks = Vec::new();
        for puk in &p.puk {
            let format = airtight_proto::policy::PassphraseFormat::from_name(&puk.format)
                .map_err(policy_err)?;
            let iv = e.iv();
            puks.push(PukPolicySpecifier {
                id: puk.id.clone(),
                encrypted_puk: c.encrypt(&iv, puk.value.as_bytes())?,
                retry_limit: puk.retry_limit,
                format,
                mac: [0; 32],
                pin_policy_specifiers: p
                    .pins_under(Some(&puk.id))
                    .into_iter()
                    .map(|pin| build_pin(p, pin, &mut c, e))
                    .collect::<Result<_, _>>()?,
            });
        }
        let pins = p
            .pins_under(None)
            .into_iter()
            .map(|pin| build_pin(p, pin, &mut c, e))
            .collect::<Result<_, _>>()?;
        let keys = p
            .keys_under(None)
            .into_iter()
            .map(|k| build_key(k, None, &mut c, e))
            .collect::<Result<_, _>>()?;
        Ok(KeyCreationRequest {
            server_session_id: c.st.server_session_id.clone(),
            client_session_id: Self::csid(c.st)?,
            key_entry_algorithm: alg::KEY_1.into(),
            deferred_issuance: None,
            puk_policy_specifiers: puks,
            pin_policy_specifiers: pins,
            key_entry_specifiers: keys,
        })
    }

    /// [KG2-KCR-001] / [KG2-KCR-002] / [KG2-KCR-003]
    fn on_key_creation_response(
        &self,
        st: &mut SessionState,
        m: &KeyCreationResponse,
    ) -> Result<(), IssuerError> {
        let expected: Vec<String> = st.keys.iter().map(|k| k.id.clone()).collect();
        let any_order = self.faults.has(IssuerFault::AcceptAnyKeyOrder);
        for (i, id) in expected.iter().enumerate().filter(|_| !any_order) {
            match m.generated_keys.get(i) {
                None => return Err(IssuerError::KeyOrder(format!("key {id} missing"))),
                Some(g) if &g.id != id => {
                    return Err(IssuerError::KeyOrder(format!(
                        "{:?} at position {i} where {id:?} was requested",
                        g.id
                    )));
                }
                Some(_) => {}
            }
        }
        if m.generated_keys.len() > expected.len() && !any_order {
            return Err(IssuerError::KeyOrder(format!(
                "{} keys returned, {} requested",
                m.generated_keys.len(),
                expected.len()
            )));
        }
        let mut c = Crypto::new(st)?;
        let mut spkis = Vec::new();
        for (g, k) in m.generated_keys.iter().zip(c.st.keys.clone()) {
            let key = PublicKey::from_jwk(&g.public_key).map_err(|e| IssuerError::KeyType {
                id: g.id.clone(),
                reason: e.to_string(),
            })?;
            check_key_type(&k, &key, &g.public_key)?;
            let spki = key.to_spki_der().map_err(session1::Session1Error::from)?;
            // [CRY-KAT-004]
            let data = session1::key_attestation_data(&spki, &k.create_mac)?;
            let exp = c.sc.attest_at(k.attestation_counter, &data)?;
            if !ct_eq(&exp, &g.attestation)
                && !self.faults.has(IssuerFault::AcceptBadKeyAttestation)
            {
                return Err(IssuerError::KeyAttestation { id: g.id.clone() });
            }
            spkis.push(spki);
        }
        for (k, s) in st.keys.iter_mut().zip(spkis) {
            k.public_key_spki = Some(s);
        }
        Ok(())
    }

    // ----------------------------------------------------------- finalization

    fn send_finalization<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        e: &mut E,
        now: UnixTime,
        adopt: Option<&Message>,
    ) -> Result<Next, IssuerError> {
        let mut req = match adopt {
            Some(Message::ProvisioningFinalizationRequest(r)) => r.clone(),
            Some(other) => {
                return Err(adopted(format!(
                    "{} instead of finalization",
                    other.qualifier()
                )));
            }
            None => self.build_finalization(st, e, now)?,
        };
        commit_finalization(st, &mut req, adopt.is_none(), &self.issuer_uri)?;
        st.phase = Phase::AwaitFinalizationResponse;
        Ok(Next::Request(Message::ProvisioningFinalizationRequest(req)))
    }

    fn build_finalization<E: Entropy + ?Sized>(
        &self,
        st: &mut SessionState,
        e: &mut E,
        now: UnixTime,
    ) -> Result<ProvisioningFinalizationRequest, IssuerError> {
        let p = &self.policy;
        let mut creds = Vec::new();
        let first_discovered = st.discovered.first().cloned();
        let keys = st.keys.clone();
        let mut c = Crypto::new(st)?;
        for k in &keys {
            let kp = p
                .key
                .iter()
                .find(|x| x.id == k.id)
                .ok_or_else(|| policy_err(format!("no policy for key {}", k.id)))?;
            let import_priv = kp
                .import_private_key
                .as_deref()
                .map(|s| airtight_proto::codec::b64url::decode(s).map_err(policy_err))
                .transpose()?;
            let subject_spki = match &import_priv {
                Some(der) => PrivateKey::from_pkcs8_der(der)
                    .map_err(policy_err)?
                    .public_key()
                    .to_spki_der()
                    .map_err(policy_err)?,
                None => k
                    .public_key_spki
                    .clone()
                    .ok_or_else(|| IssuerError::State("key not attested".into()))?,
            };
            let path = self.certify(
                &subject_spki,
                &k.id,
                &c.st.subject_label,
                e,
                now,
                kp.trust_anchor,
            )?;
            let mut cred = IssuedCredential {
                id: k.id.clone(),
                certificate_path: path,
                mac: [0; 32],
                trust_anchor: kp.trust_anchor.then_some(true),
                import_symmetric_key: None,
                import_private_key: None,
                extensions: Vec::new(),
                encrypted_extensions: Vec::new(),
                property_bags: Vec::new(),
                logotypes: Vec::new(),
                post_operation: None,
            };
            if let Some(s) = &kp.import_symmetric_key {
                let raw = zeroize::Zeroizing::new(
                    airtight_proto::codec::b64url::decode(s).map_err(policy_err)?,
                );
                let iv = e.iv();
                cred.import_symmetric_key = Some(EncryptedKey {
                    encrypted_key: c.encrypt(&iv, &raw)?,
                    mac: [0; 32],
                });
            }
            if let Some(der) = &import_priv {
                let iv = e.iv();
                cred.import_private_key = Some(EncryptedKey {
                    encrypted_key: c.encrypt(&iv, der)?,
                    mac: [0; 32],
                });
            }
            for x in &kp.extensions {
                cred.extensions.push(Extension {
                    extension_type: x.extension_type.clone(),
                    extension_data: airtight_proto::codec::b64url::decode(&x.data)
                        .map_err(policy_err)?,
                    mac: [0; 32],
                });
            }
            for x in &kp.encrypted_extensions {
                let plain = airtight_proto::codec::b64url::decode(&x.data).map_err(policy_err)?;
                let iv = e.iv();
                cred.encrypted_extensions.push(Extension {
                    extension_type: x.extension_type.clone(),
                    extension_data: c.encrypt(&iv, &plain)?,
                    mac: [0; 32],
                });
            }
            for b in &kp.property_bags {
                cred.property_bags.push(PropertyBag {
                    bag_type: b.bag_type.clone(),
                    properties: b
                        .properties
                        .iter()
                        .map(|p| airtight_proto::messages::Property {
                            name: p.name.clone(),
                            value: p.value.clone(),
                            writable: p.writable.then_some(true),
                        })
                        .collect(),
                    mac: [0; 32],
                });
            }
            for l in &kp.logotypes {
                cred.logotypes.push(Logotype {
                    logotype_type: l.logotype_type.clone(),
                    mime_type: l.mime_type.clone(),
                    extension_data: airtight_proto::codec::b64url::decode(&l.data)
                        .map_err(policy_err)?,
                    mac: [0; 32],
                });
            }
            if kp.update_discovered || kp.clone_discovered {
                let t = first_discovered
                    .as_ref()
                    .ok_or_else(|| policy_err("update/clone needs a discovered credential"))?;
                let op = self.post_op(&mut c, t)?;
                cred.post_operation = Some(if kp.update_discovered {
                    CredentialPostOperation::UpdateKey(op)
                } else {
                    CredentialPostOperation::CloneKeyProtection(op)
                });
            }
            creds.push(cred);
        }
        let mut unlock = Vec::new();
        let mut delete = Vec::new();
        let discovered = c.st.discovered.clone();
        for d in &discovered {
            if p.post.unlock_discovered && (c.st.action == "manage" || d.locked) {
                unlock.push(self.post_op(&mut c, d)?);
            }
            if p.post.delete_discovered {
                delete.push(self.post_op(&mut c, d)?);
            }
        }
        Ok(ProvisioningFinalizationRequest {
            server_session_id: c.st.server_session_id.clone(),
            client_session_id: Self::csid(c.st)?,
            issued_credentials: creds,
            unlock_keys: unlock,
            delete_keys: delete,
            session_close_data: SessionCloseData {
                nonce: e.close_nonce(),
                mac: [0; 32],
            },
        })
    }

    /// A post-operation on `target`, authorized by the KMK ([CRY-TKR-002]).
    fn post_op(
        &self,
        c: &mut Crypto<'_>,
        target: &Discovered,
    ) -> Result<PostOperation, IssuerError> {
        let kmk = self
            .kmk
            .as_ref()
            .ok_or_else(|| policy_err("post-operations need a KMK"))?;
        let ee = target
            .certificate_path
            .first()
            .ok_or_else(|| IssuerError::State("empty path".into()))?;
        let tkr = c.target_key_reference(ee)?;
        Ok(PostOperation {
            finger_print: sha256(ee).to_vec(),
            server_session_id: target.server_session_id.clone(),
            client_session_id: target.client_session_id.clone(),
            authorization: session1::sign_kmk_authorization(
                kmk,
                &session1::target_key_reference_signed_data(&tkr),
            )?,
            mac: [0; 32],
        })
    }

    /// Issues the end-entity certificate and returns the delivered path.
    fn certify<E: Entropy + ?Sized>(
        &self,
        spki: &[u8],
        key_id: &str,
        label: &str,
        e: &mut E,
        now: UnixTime,
        with_root: bool,
    ) -> Result<Vec<Vec<u8>>, IssuerError> {
        let ca = self
            .ca
            .as_ref()
            .ok_or_else(|| policy_err("no CA configured"))?;
        let cp = &self.policy.ca;
        let mut profile = Profile::end_entity(&cp.subject_template)
            .with_variable("key_id", key_id)
            .with_variable("label", label);
        profile.validity_seconds = cp.validity_days.saturating_mul(86_400);
        let serial = Serial::from_bytes(&e.serial()).map_err(|x| IssuerError::Ca(x.to_string()))?;
        let ee = ca
            .issue_at(spki, &profile, &serial, now.secs())
            .map_err(|x| IssuerError::Ca(x.to_string()))?;
        let mut path = vec![ee];
        let chain = ca.certificate_path();
        let keep = if with_root || cp.include_root || chain.len() <= 1 {
            chain.len()
        } else {
            chain.len() - 1
        };
        path.extend(chain.iter().take(keep).cloned());
        Ok(path)
    }

    fn on_finalization_response(
        &self,
        st: &mut SessionState,
        m: &ProvisioningFinalizationResponse,
        now: UnixTime,
    ) -> Result<Next, IssuerError> {
        let counter = st
            .close_attestation_counter
            .ok_or_else(|| IssuerError::State("no close attestation expected".into()))?;
        let nonce = st.close_nonce.clone();
        let mut c = Crypto::new(st)?;
        // [KG2-ISS-003] / [CRY-CLS-004]
        let exp =
            c.sc.attest_at(counter, &session1::close_attestation_data(&nonce)?)?;
        if !ct_eq(&exp, &m.attestation) && !self.faults.has(IssuerFault::AcceptBadCloseAttestation)
        {
            return Err(IssuerError::CloseAttestation);
        }
        st.phase = Phase::Done;
        st.secrets.zeroize();
        let keys = st
            .keys
            .iter()
            .map(|k| IssuedKey {
                id: k.id.clone(),
                key_algorithm: k.key_algorithm.clone(),
                app_usage: k.app_usage.clone(),
                friendly_name: k.friendly_name.clone(),
                public_key_spki: k.public_key_spki.clone().unwrap_or_default(),
                certificate_path: st
                    .issued
                    .iter()
                    .find(|i| i.id == k.id)
                    .map(|i| i.certificate_path.clone())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Next::Done(IssuanceRecord {
            server_session_id: st.server_session_id.clone(),
            client_session_id: Self::csid(st)?,
            action: st.action.clone(),
            privacy_enabled: st.privacy_enabled,
            device_certificate_path: st.device_certificate_path.clone(),
            device_id: st.device_id.clone(),
            keys,
            post_operations: st.post_ops.clone(),
            server_time: st.server_time.clone().unwrap_or_default(),
            completed_at: now.secs(),
        }))
    }
}

fn empty_filter() -> SearchFilter {
    SearchFilter {
        finger_print: None,
        issuer_reg_ex: None,
        serial_number: None,
        subject_reg_ex: None,
        email_reg_ex: None,
        policy_rules: Vec::new(),
        key_usage_rules: Vec::new(),
        extended_key_usage_rules: Vec::new(),
        issued_before: None,
        issued_after: None,
        grouping: None,
        app_usage: None,
    }
}

/// A roll-over entry: `old` signs the SPKI of `parent` ([CRY-ROL-001]).
fn rollover(parent: &PublicKey, r: &KmkRollover) -> Result<UpdatableKeyManagementKey, IssuerError> {
    let old_pub = r.old.public_key();
    let authorization =
        session1::sign_kmk_authorization(&r.old, &session1::roll_over_signed_data(parent)?)?;
    let mut children = Vec::new();
    for c in &r.children {
        children.push(rollover(&old_pub, c)?);
    }
    Ok(UpdatableKeyManagementKey {
        public_key: old_pub.to_jwk(),
        authorization,
        updatable_key_management_keys: children,
    })
}

fn check_rollovers(
    parent: &PublicKey,
    list: &[UpdatableKeyManagementKey],
) -> Result<(), IssuerError> {
    for u in list {
        let old = PublicKey::from_jwk(&u.public_key)
            .map_err(|e| adopted(format!("updatable KMK: {e}")))?;
        session1::verify_kmk_authorization(
            &old,
            &session1::roll_over_signed_data(parent)?,
            &u.authorization,
        )
        .map_err(|_| adopted("[CRY-ROL-001] roll-over authorization does not verify"))?;
        check_rollovers(&old, &u.updatable_key_management_keys)?;
    }
    Ok(())
}

fn build_pin<E: Entropy + ?Sized>(
    p: &Policy,
    pin: &PinPolicy,
    c: &mut Crypto<'_>,
    e: &mut E,
) -> Result<PinPolicySpecifier, IssuerError> {
    let r = pin.resolve()?;
    let keys = p
        .keys_under(Some(&pin.id))
        .into_iter()
        .map(|k| build_key(k, pin.preset_value.as_deref(), c, e))
        .collect::<Result<_, _>>()?;
    Ok(PinPolicySpecifier {
        id: pin.id.clone(),
        min_length: pin.min_length,
        max_length: pin.max_length,
        retry_limit: pin.retry_limit,
        format: r.format,
        user_modifiable: (!pin.user_modifiable).then_some(false),
        grouping: (r.grouping != Grouping::None).then_some(r.grouping),
        input_method: (r.input_method != airtight_proto::policy::InputMethod::Any)
            .then_some(r.input_method),
        pattern_restrictions: r.patterns,
        mac: [0; 32],
        key_entry_specifiers: keys,
    })
}

fn build_key<E: Entropy + ?Sized>(
    k: &KeyPolicy,
    preset: Option<&str>,
    c: &mut Crypto<'_>,
    e: &mut E,
) -> Result<KeyEntrySpecifier, IssuerError> {
    let r = k.resolve()?;
    let encrypted_pin = match preset {
        Some(v) => {
            let iv = e.iv();
            Some(c.encrypt(&iv, v.as_bytes())?)
        }
        None => None,
    };
    Ok(KeyEntrySpecifier {
        id: k.id.clone(),
        server_seed: r.server_seed,
        device_pin_protection: k.device_pin_protection.then_some(true),
        encrypted_pin,
        enable_pin_caching: k.enable_pin_caching.then_some(true),
        biometric_protection: (r.biometric != airtight_proto::policy::BiometricProtection::None)
            .then_some(r.biometric),
        export_protection: (r.export != airtight_proto::policy::ExportProtection::NonExportable)
            .then_some(r.export),
        delete_protection: (r.delete != airtight_proto::policy::DeleteProtection::None)
            .then_some(r.delete),
        friendly_name: k.friendly_name.clone(),
        app_usage: r.app_usage,
        key_algorithm: k.algorithm.clone(),
        key_parameters: r.key_parameters,
        endorsed_algorithms: r.endorsed,
        mac: [0; 32],
    })
}

/// Walks a KeyCreationRequest in SKS execution order ([KG2-ORD-001]): fills (own request) or
/// checks (adopted request) every MAC, reserves each key attestation's counter and records the
/// planned keys. PIN policy MACs carry the id of the PUK they are nested under
/// ([KG2-ORD-002]; facts §6 item 8 is not repeated).
fn commit_key_creation(
    st: &mut SessionState,
    req: &mut KeyCreationRequest,
    fill: bool,
) -> Result<(), IssuerError> {
    if req.server_session_id != st.server_session_id
        || Some(&req.client_session_id) != st.client_session_id.as_ref()
    {
        return Err(adopted("session ids of the key creation request"));
    }
    let kea = req.key_entry_algorithm.clone();
    let mut c = Crypto::new(st)?;
    let mut planned = Vec::new();
    for puk in &mut req.puk_policy_specifiers {
        c.spend(Operation::CreatePukPolicy)?;
        let data = session1::create_puk_policy_data(
            &puk.id,
            &puk.encrypted_puk,
            puk.format,
            puk.retry_limit,
        )?;
        let mac = c.mac(Method::CreatePukPolicy, &data)?;
        seal(
            &mut puk.mac,
            mac,
            fill,
            &format!("createPUKPolicy {}", puk.id),
        )?;
        let puk_id = puk.id.clone();
        for pin in &mut puk.pin_policy_specifiers {
            commit_pin(&mut c, pin, Some(&puk_id), &kea, fill, &mut planned)?;
        }
    }
    for pin in &mut req.pin_policy_specifiers {
        commit_pin(&mut c, pin, None, &kea, fill, &mut planned)?;
    }
    for key in &mut req.key_entry_specifiers {
        commit_key(&mut c, key, None, &kea, fill, &mut planned)?;
    }
    if planned.is_empty() {
        return Err(adopted("[KG2-KCQ-003] no key entry"));
    }
    st.keys = planned;
    Ok(())
}

fn commit_pin(
    c: &mut Crypto<'_>,
    pin: &mut PinPolicySpecifier,
    puk_id: Option<&str>,
    kea: &str,
    fill: bool,
    planned: &mut Vec<PlannedKey>,
) -> Result<(), IssuerError> {
    let preset = pin.preset();
    // [KG2-KCQ-005]
    if preset
        && pin
            .key_entry_specifiers
            .iter()
            .any(|k| k.encrypted_pin.is_none())
    {
        return Err(adopted(format!(
            "PIN policy {} mixes preset and user PINs",
            pin.id
        )));
    }
    c.spend(Operation::CreatePinPolicy)?;
    let data = session1::create_pin_policy_data(&PinPolicyMacInput {
        id: &pin.id,
        puk_policy_id: puk_id,
        user_defined: !preset,
        user_modifiable: pin.user_modifiable(),
        format: pin.format,
        retry_limit: pin.retry_limit,
        grouping: pin.grouping(),
        pattern_restrictions: pin.pattern_set(),
        min_length: pin.min_length,
        max_length: pin.max_length,
        input_method: pin.input_method(),
    })?;
    let mac = c.mac(Method::CreatePinPolicy, &data)?;
    seal(
        &mut pin.mac,
        mac,
        fill,
        &format!("createPINPolicy {}", pin.id),
    )?;
    let pin_id = pin.id.clone();
    for key in &mut pin.key_entry_specifiers {
        commit_key(c, key, Some(&pin_id), kea, fill, planned)?;
    }
    Ok(())
}

fn commit_key(
    c: &mut Crypto<'_>,
    k: &mut KeyEntrySpecifier,
    pin_id: Option<&str>,
    kea: &str,
    fill: bool,
    planned: &mut Vec<PlannedKey>,
) -> Result<(), IssuerError> {
    c.spend(Operation::CreateKeyEntry {
        preset_pin: k.encrypted_pin.is_some(),
    })?;
    let endorsed: Vec<&str> = k.endorsed_algorithms.iter().map(String::as_str).collect();
    let data = session1::create_key_entry_data(&KeyEntryMacInput {
        id: &k.id,
        key_entry_algorithm: kea,
        server_seed: k.server_seed.as_deref(),
        pin_policy_id: pin_id,
        encrypted_pin: k.encrypted_pin.as_deref(),
        device_pin_protection: k.device_pin_protection(),
        enable_pin_caching: k.enable_pin_caching(),
        biometric_protection: k.biometric_protection(),
        export_protection: k.export_protection(),
        delete_protection: k.delete_protection(),
        app_usage: k.app_usage,
        friendly_name: k.friendly_name.as_deref(),
        key_algorithm: &k.key_algorithm,
        key_parameters: k.key_parameters.as_deref(),
        endorsed_algorithms: &endorsed,
    })?;
    let mac = c.mac(Method::CreateKeyEntry, &data)?;
    seal(&mut k.mac, mac, fill, &format!("createKeyEntry {}", k.id))?;
    // [CRY-CTR-005] the attestation takes the next counter value.
    let attestation_counter = c.take()?;
    if planned.iter().any(|p| p.id == k.id) {
        return Err(adopted(format!("[KG2-KCQ-004] duplicate key id {}", k.id)));
    }
    planned.push(PlannedKey {
        id: k.id.clone(),
        key_algorithm: k.key_algorithm.clone(),
        key_parameters: k.key_parameters.clone(),
        create_mac: mac.to_vec(),
        attestation_counter,
        app_usage: k.app_usage.as_str().into(),
        friendly_name: k.friendly_name.clone(),
        public_key_spki: None,
    });
    Ok(())
}

/// [KG2-KCR-002]: the generated key has the requested type, size and exponent.
fn check_key_type(k: &PlannedKey, key: &PublicKey, jwk: &Jwk) -> Result<(), IssuerError> {
    let err = |reason: String| IssuerError::KeyType {
        id: k.id.clone(),
        reason,
    };
    let kg = alg::lookup_keygen(&k.key_algorithm)
        .and_then(|a| a.keygen)
        .ok_or_else(|| err(format!("unknown key algorithm {}", k.key_algorithm)))?;
    match (kg, key.key_type()) {
        (KeyGen::Ec(want), KeyType::Ec(got)) if want == got => Ok(()),
        (KeyGen::Ed25519, KeyType::Ed25519) => Ok(()),
        (
            KeyGen::Rsa {
                bits,
                exponent_param,
            },
            KeyType::Rsa { bits: got },
        ) if bits == got => {
            let want: Vec<u8> = if exponent_param {
                k.key_parameters.clone().unwrap_or_default()
            } else {
                vec![1, 0, 1]
            };
            let strip = |b: &[u8]| -> Vec<u8> {
                let f = b.iter().position(|x| *x != 0).unwrap_or(b.len());
                b[f..].to_vec()
            };
            match jwk {
                Jwk::Rsa { e, .. } if strip(e) == strip(&want) => Ok(()),
                _ => Err(err("RSA exponent differs from the requested one".into())),
            }
        }
        (_, got) => Err(err(format!(
            "{} key where {} was requested",
            got.name(),
            k.key_algorithm
        ))),
    }
}

/// Walks a ProvisioningFinalizationRequest in SKS execution order ([KG2-ORD-004],
/// [KG2-ORD-006]): fills or checks every MAC, checks every certificate against the attested key
/// ([KG2-ISS-008]), every post-operation against the discovered credentials and the KMK, and
/// reserves the close attestation.
fn commit_finalization(
    st: &mut SessionState,
    req: &mut ProvisioningFinalizationRequest,
    fill: bool,
    issuer_uri: &str,
) -> Result<(), IssuerError> {
    if req.server_session_id != st.server_session_id
        || Some(&req.client_session_id) != st.client_session_id.as_ref()
    {
        return Err(adopted("session ids of the finalization request"));
    }
    let keys = st.keys.clone();
    let discovered = st.discovered.clone();
    let csid = st.client_session_id.clone().unwrap_or_default();
    let ssid = st.server_session_id.clone();
    let mut c = Crypto::new(st)?;
    let mut issued = Vec::new();
    let mut post_ops = Vec::new();
    let find_target = |op: &PostOperation| -> Result<Discovered, IssuerError> {
        discovered
            .iter()
            .find(|d| {
                d.server_session_id == op.server_session_id
                    && d.client_session_id == op.client_session_id
                    && d.certificate_path
                        .first()
                        .is_some_and(|ee| sha256(ee).as_slice() == op.finger_print.as_slice())
            })
            .cloned()
            .ok_or_else(|| adopted("[KG2-PFQ-006] post-operation targets no discovered credential"))
    };
    for cred in &mut req.issued_credentials {
        let k = keys
            .iter()
            .find(|k| k.id == cred.id)
            .ok_or_else(|| adopted(format!("[KG2-PFQ-002] credential {} names no key", cred.id)))?;
        if issued.iter().any(|i: &IssuedCertificate| i.id == cred.id) {
            return Err(adopted(format!(
                "[KG2-PFQ-002] credential {} twice",
                cred.id
            )));
        }
        let spki = k
            .public_key_spki
            .clone()
            .ok_or_else(|| IssuerError::State(format!("key {} not attested", k.id)))?;
        let ee = cred
            .certificate_path
            .first()
            .cloned()
            .ok_or_else(|| adopted("empty certificate path"))?;
        // [KG2-ISS-008]
        // An adopted certificate must carry the attested key; one of our own requests was
        // issued over that key by `certify` (not parsed back).
        if !fill
            && cred.import_private_key.is_none()
            && cert_spki(&ee).as_deref() != Some(spki.as_slice())
        {
            return Err(IssuerError::CertificateKeyMismatch {
                id: cred.id.clone(),
            });
        }
        c.spend(Operation::SetCertificatePath)?;
        let refs: Vec<&[u8]> = cred.certificate_path.iter().map(Vec::as_slice).collect();
        let mac = c.mac(
            Method::SetCertificatePath,
            &session1::set_certificate_path_data(&spki, &cred.id, &refs)?,
        )?;
        seal(
            &mut cred.mac,
            mac,
            fill,
            &format!("setCertificatePath {}", cred.id),
        )?;
        if let Some(x) = &mut cred.import_symmetric_key {
            c.spend(Operation::ImportSymmetricKey)?;
            let mac = c.mac(
                Method::ImportSymmetricKey,
                &session1::import_key_data(&ee, &x.encrypted_key)?,
            )?;
            seal(&mut x.mac, mac, fill, "importSymmetricKey")?;
        }
        if let Some(x) = &mut cred.import_private_key {
            c.spend(Operation::ImportPrivateKey)?;
            let mac = c.mac(
                Method::ImportPrivateKey,
                &session1::import_key_data(&ee, &x.encrypted_key)?,
            )?;
            seal(&mut x.mac, mac, fill, "importPrivateKey")?;
        }
        for (list, sub) in [
            (&mut cred.extensions, ExtensionSubType::Extension),
            (
                &mut cred.encrypted_extensions,
                ExtensionSubType::EncryptedExtension,
            ),
        ] {
            for x in list.iter_mut() {
                c.spend(Operation::AddExtension {
                    encrypted: sub == ExtensionSubType::EncryptedExtension,
                })?;
                let mac = c.mac(
                    Method::AddExtension,
                    &session1::add_extension_data(
                        &ee,
                        &x.extension_type,
                        sub,
                        "",
                        &x.extension_data,
                    )?,
                )?;
                seal(
                    &mut x.mac,
                    mac,
                    fill,
                    &format!("addExtension {}", x.extension_type),
                )?;
            }
        }
        for b in &mut cred.property_bags {
            c.spend(Operation::AddExtension { encrypted: false })?;
            let props: Vec<session1::Property> = b
                .properties
                .iter()
                .map(|p| session1::Property {
                    name: p.name.clone(),
                    writable: p.writable.unwrap_or(false),
                    value: p.value.clone(),
                })
                .collect();
            let blob = session1::encode_property_bag(&props)?;
            let mac = c.mac(
                Method::AddExtension,
                &session1::add_extension_data(
                    &ee,
                    &b.bag_type,
                    ExtensionSubType::PropertyBag,
                    "",
                    &blob,
                )?,
            )?;
            seal(
                &mut b.mac,
                mac,
                fill,
                &format!("addExtension {}", b.bag_type),
            )?;
        }
        for l in &mut cred.logotypes {
            c.spend(Operation::AddExtension { encrypted: false })?;
            let mac = c.mac(
                Method::AddExtension,
                &session1::add_extension_data(
                    &ee,
                    &l.logotype_type,
                    ExtensionSubType::Logotype,
                    &l.mime_type,
                    &l.extension_data,
                )?,
            )?;
            seal(
                &mut l.mac,
                mac,
                fill,
                &format!("addExtension {}", l.logotype_type),
            )?;
        }
        if let Some(po) = &mut cred.post_operation {
            let (kind, method, op, opk) = match po {
                CredentialPostOperation::UpdateKey(op) => (
                    "update",
                    Method::PostUpdateKey,
                    op,
                    Operation::PostUpdateKey,
                ),
                CredentialPostOperation::CloneKeyProtection(op) => (
                    "clone",
                    Method::PostCloneKeyProtection,
                    op,
                    Operation::PostCloneKeyProtection,
                ),
            };
            let target = find_target(op)?;
            check_authorization(&mut c, &target, op)?;
            c.spend(opk)?;
            let mac = c.mac(
                method,
                &session1::post_update_or_clone_data(&ee, &op.authorization)?,
            )?;
            seal(&mut op.mac, mac, fill, method.mac_name())?;
            post_ops.push(PostOp {
                kind: kind.into(),
                new_key: Some(cred.id.clone()),
                target_finger_print: op.finger_print.clone(),
            });
        }
        issued.push(IssuedCertificate {
            id: cred.id.clone(),
            certificate_path: cred.certificate_path.clone(),
            imported_private_key: cred.import_private_key.is_some(),
            imported_symmetric_key: cred.import_symmetric_key.is_some(),
        });
    }
    // [KG2-PFQ-002] every key of the session is certified.
    if let Some(k) = keys.iter().find(|k| !issued.iter().any(|i| i.id == k.id)) {
        return Err(adopted(format!(
            "[KG2-PFQ-002] key {} gets no certificate",
            k.id
        )));
    }
    for (list, kind, method, opk) in [
        (
            &mut req.unlock_keys,
            "unlock",
            Method::PostUnlockKey,
            Operation::PostUnlockKey,
        ),
        (
            &mut req.delete_keys,
            "delete",
            Method::PostDeleteKey,
            Operation::PostDeleteKey,
        ),
    ] {
        for op in list.iter_mut() {
            let target = find_target(op)?;
            check_authorization(&mut c, &target, op)?;
            c.spend(opk)?;
            let mac = c.mac(
                method,
                &session1::post_delete_or_unlock_data(&op.authorization)?,
            )?;
            seal(&mut op.mac, mac, fill, method.mac_name())?;
            post_ops.push(PostOp {
                kind: kind.into(),
                new_key: None,
                target_finger_print: op.finger_print.clone(),
            });
        }
    }
    let nonce = req.session_close_data.nonce.clone();
    if nonce.is_empty() || nonce.len() > 32 {
        return Err(adopted("[CRY-CLS-002] close nonce length"));
    }
    c.spend(Operation::CloseProvisioningSession)?;
    let mac = c.mac(
        Method::CloseProvisioningSession,
        &session1::close_provisioning_session_data(&csid, &ssid, issuer_uri, &nonce)?,
    )?;
    seal(
        &mut req.session_close_data.mac,
        mac,
        fill,
        "closeProvisioningSession",
    )?;
    let close_counter = c.take()?;
    st.issued = issued;
    st.post_ops = post_ops;
    st.close_nonce = nonce;
    st.close_attestation_counter = Some(close_counter);
    Ok(())
}

/// Checks a post-operation authorization against the target key reference and the KMK that
/// manages the target (the key of the lookup that found it) ([CRY-TKR-001], [CRY-TKR-002]).
fn check_authorization(
    c: &mut Crypto<'_>,
    target: &Discovered,
    op: &PostOperation,
) -> Result<(), IssuerError> {
    let kmk = PublicKey::from_spki_der(&target.kmk_spki)
        .map_err(|e| IssuerError::State(e.to_string()))?;
    let ee = target
        .certificate_path
        .first()
        .ok_or_else(|| adopted("empty target path"))?;
    let tkr = c.target_key_reference(ee)?;
    session1::verify_kmk_authorization(
        &kmk,
        &session1::target_key_reference_signed_data(&tkr),
        &op.authorization,
    )
    .map_err(|_| adopted("post-operation authorization does not verify with the target's KMK"))
}
