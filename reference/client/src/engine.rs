//! The sans-IO middleware engine: one issuer request in, the SKS calls in the order the spec
//! requires, one response out.

use std::collections::{HashMap, HashSet};

use airtight_proto::alg;
use airtight_proto::keys::{PublicKey, sha256};
use airtight_proto::messages::{
    Action, CredentialDiscoveryRequest, CredentialDiscoveryResponse, CredentialPostOperation,
    GeneratedKey, InvocationRequest, InvocationResponse, KeyCreationRequest, KeyCreationResponse,
    KeyEntrySpecifier, LookupResult, MatchingCredential, Message, PinPolicySpecifier,
    PostOperation, ProvisioningFinalizationRequest, ProvisioningFinalizationResponse,
    ProvisioningInitializationRequest, ProvisioningInitializationResponse,
    UpdatableKeyManagementKey,
};
use airtight_proto::policy::{InputMethod, PassphraseFormat, PatternRestriction};
use airtight_proto::session1::{Property, encode_property_bag};
use airtight_proto::sks::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, DeviceInfo, EnumeratedKey, EnumeratedProvisioningSession,
    ExtensionSubType, KeyHandle, PinPolicyHandle, ProtectionStatus, ProvisioningHandle,
    PukPolicyHandle, SecureKeyStore, SksMethod,
};
use zeroize::Zeroizing;

use crate::config::{ClientConfig, answer_capabilities, is_client_attribute};
use crate::discovery::{CompiledFilter, KeyFacts, verify_lookup};
use crate::error::{AbortStatus, ClientError, Failure};
use crate::pin::{PinProblem, check_pin, groups_must_differ, pin_bytes, pin_groups};
use crate::ui::{
    AutoUi, Consent, ConsentRequest, KeyCreationSummary, PinRequest, PinSource, PlannedKey,
    UserInterface,
};
use airtight_proto::time::{Clock, SystemClock};

/// Where the issuer lives, as the transport saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    /// The URL every response is POSTed to; it becomes `issuerUri` in the SKS KDF.
    pub issuer_uri: String,
    /// The origin shown to the user (scheme, host, port).
    pub issuer_origin: String,
    /// DER of the TLS server end-entity certificate of the connection that delivered the
    /// InvocationRequest ([KG2-HTP-010]); empty over plain HTTP.
    pub server_certificate: Vec<u8>,
}

impl SessionContext {
    /// A context for `issuer_uri` with the origin derived from it and no TLS certificate.
    pub fn plain(issuer_uri: &str) -> Self {
        SessionContext {
            issuer_uri: issuer_uri.to_owned(),
            issuer_origin: crate::url::origin(issuer_uri).unwrap_or_else(|| issuer_uri.into()),
            server_certificate: Vec::new(),
        }
    }
}

/// Where the engine is in the message flow ([KG2-FLW-001]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the InvocationRequest.
    Invocation,
    /// Waiting for the ProvisioningInitializationRequest.
    Initialization,
    /// Session open; waiting for CredentialDiscovery, KeyCreation or Finalization.
    Open {
        /// A CredentialDiscoveryRequest was handled.
        discovered: bool,
        /// A KeyCreationRequest was handled.
        keys_created: bool,
    },
    /// The session was closed; nothing more is accepted.
    Done,
    /// A step failed and the session was aborted; nothing more is accepted.
    Failed,
}

/// What a successful session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// The ids of the keys created, in creation order.
    pub created_keys: Vec<String>,
    /// Number of keys unlocked.
    pub unlocked_keys: usize,
    /// Number of keys deleted.
    pub deleted_keys: usize,
    /// Number of keys updated or cloned.
    pub updated_keys: usize,
}

/// Upper bound on SKS enumerations (a misbehaving SKS cannot make the engine loop forever).
const MAX_ENUMERATION: usize = 100_000;

/// The KeyGen2 middleware ("provisioning proxy") engine. Sans IO: the caller moves the bytes.
pub struct Middleware<S: SecureKeyStore> {
    sks: S,
    ui: Box<dyn UserInterface>,
    pins: PinSource,
    clock: Box<dyn Clock>,
    utc_offset_minutes: i16,
    config: ClientConfig,
    ctx: SessionContext,
    phase: Phase,
    server_session_id: String,
    client_session_id: String,
    action: Action,
    privacy_enabled: bool,
    device: Option<DeviceInfo>,
    provisioning: Option<ProvisioningHandle>,
    created_keys: Vec<String>,
    outcome: Option<Outcome>,
}

impl<S: SecureKeyStore> std::fmt::Debug for Middleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Middleware")
            .field("ctx", &self.ctx)
            .field("phase", &self.phase)
            .field("server_session_id", &self.server_session_id)
            .field("client_session_id", &self.client_session_id)
            .field("provisioning", &self.provisioning)
            .finish_non_exhaustive()
    }
}

impl<S: SecureKeyStore> Middleware<S> {
    /// An engine for one session with `sks`, accepting every consent, prompting no PINs
    /// (set a [`PinSource`] or a [`UserInterface`]), on the system clock.
    pub fn new(sks: S, ctx: SessionContext) -> Self {
        Middleware {
            sks,
            ui: Box::new(AutoUi::accept_all()),
            pins: PinSource::default(),
            clock: Box::new(SystemClock),
            utc_offset_minutes: 0,
            config: ClientConfig::default(),
            ctx,
            phase: Phase::Invocation,
            server_session_id: String::new(),
            client_session_id: String::new(),
            action: Action::Manage,
            privacy_enabled: false,
            device: None,
            provisioning: None,
            created_keys: Vec::new(),
            outcome: None,
        }
    }

    /// Sets the user interface (consent and PIN prompts).
    pub fn with_ui(mut self, ui: Box<dyn UserInterface>) -> Self {
        self.ui = ui;
        self
    }

    /// Sets where user-defined PINs come from.
    pub fn with_pin_source(mut self, pins: PinSource) -> Self {
        self.pins = pins;
        self
    }

    /// Sets the clock of `clientTime` (the workspace's one clock seam; a
    /// `airtight_proto::time::ManualClock` in tests).
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the UTC offset `clientTime` is written in (minutes east of UTC; UTC, `+00:00`, by
    /// default). An offset of a day or more fails the session's `clientTime` with a typed error.
    pub fn with_utc_offset(mut self, minutes: i16) -> Self {
        self.utc_offset_minutes = minutes;
        self
    }

    /// Sets the configuration (client attributes, image preferences).
    pub fn with_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// True once the session was closed successfully.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// What the session did, once it is done.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Sets the DER of the TLS server certificate of the connection that delivered the
    /// InvocationRequest ([KG2-HTP-010]). Ignored once the provisioning session exists (the
    /// certificate is bound into it by then).
    pub fn set_server_certificate(&mut self, der: Vec<u8>) {
        if self.provisioning.is_none() {
            self.ctx.server_certificate = der;
        }
    }

    /// The session context.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The SKS.
    pub fn sks(&mut self) -> &mut S {
        &mut self.sks
    }

    /// Gives the SKS back.
    pub fn into_sks(self) -> S {
        self.sks
    }

    /// Aborts the open provisioning session, if any (e.g. when the transport fails or the
    /// issuer redirects mid-protocol, [KG2-HTP-005]); the engine accepts nothing afterwards.
    pub fn abort(&mut self) -> AbortStatus {
        if !matches!(self.phase, Phase::Done) {
            self.phase = Phase::Failed;
        }
        match self.provisioning.take() {
            None => AbortStatus::NoSession,
            Some(h) => match self.sks.abort_provisioning_session(h) {
                Ok(()) => AbortStatus::Aborted,
                Err(e) => AbortStatus::AbortFailed(e),
            },
        }
    }

    /// Handles one issuer message given as JSON bytes and returns the response as compact
    /// JSON bytes. A message that does not decode fails the session like any other error.
    pub fn handle_bytes(&mut self, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        match Message::decode(body) {
            Ok(m) => self.handle(m).map(|r| r.to_bytes()),
            Err(e) => Err(self.fail("(undecodable)", Failure::Decode(e))),
        }
    }

    /// Handles one issuer message and returns the response. On any failure the open SKS
    /// session is aborted ([KG2-FLW-006]) and the error says what failed.
    pub fn handle(&mut self, request: Message) -> Result<Message, ClientError> {
        let qualifier = request.qualifier();
        match self.phase {
            Phase::Done => {
                return Err(ClientError {
                    message: qualifier,
                    failure: Failure::Finished,
                    abort: AbortStatus::NoSession,
                });
            }
            Phase::Failed => {
                return Err(ClientError {
                    message: qualifier,
                    failure: Failure::AlreadyFailed,
                    abort: AbortStatus::NoSession,
                });
            }
            _ => {}
        }
        match self.dispatch(request) {
            Ok(r) => Ok(r),
            Err(f) => Err(self.fail(qualifier, f)),
        }
    }

    fn fail(&mut self, message: &'static str, failure: Failure) -> ClientError {
        let abort = self.abort();
        ClientError {
            message,
            failure,
            abort,
        }
    }

    fn expected(&self) -> &'static str {
        match self.phase {
            Phase::Invocation => "InvocationRequest",
            Phase::Initialization => "ProvisioningInitializationRequest",
            Phase::Open {
                discovered: false,
                keys_created: false,
            } => {
                "CredentialDiscoveryRequest, KeyCreationRequest or ProvisioningFinalizationRequest"
            }
            Phase::Open {
                keys_created: false,
                ..
            } => "KeyCreationRequest or ProvisioningFinalizationRequest",
            Phase::Open { .. } => "ProvisioningFinalizationRequest",
            Phase::Done | Phase::Failed => "nothing",
        }
    }

    fn dispatch(&mut self, request: Message) -> Result<Message, Failure> {
        let out_of_order = |s: &Self, got| Failure::OutOfOrder {
            expected: s.expected(),
            got,
        };
        let q = request.qualifier();
        match (self.phase, request) {
            (Phase::Invocation, Message::InvocationRequest(r)) => self.invocation(r),
            (Phase::Initialization, Message::ProvisioningInitializationRequest(r)) => {
                self.initialization(r)
            }
            (
                Phase::Open {
                    discovered: false,
                    keys_created: false,
                },
                Message::CredentialDiscoveryRequest(r),
            ) => self.discovery(r),
            (
                Phase::Open {
                    keys_created: false,
                    ..
                },
                Message::KeyCreationRequest(r),
            ) => self.key_creation(r),
            (Phase::Open { .. }, Message::ProvisioningFinalizationRequest(r)) => {
                self.finalization(r)
            }
            _ => Err(out_of_order(self, q)),
        }
    }

    fn check_ids(&self, server: &str, client: Option<&str>) -> Result<(), Failure> {
        // [KG2-FLW-002]
        if server != self.server_session_id {
            return Err(Failure::SessionId {
                field: "serverSessionId",
                expected: self.server_session_id.clone(),
                got: server.to_owned(),
            });
        }
        if let Some(c) = client
            && c != self.client_session_id
        {
            return Err(Failure::SessionId {
                field: "clientSessionId",
                expected: self.client_session_id.clone(),
                got: c.to_owned(),
            });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- Invocation

    fn invocation(&mut self, r: InvocationRequest) -> Result<Message, Failure> {
        // [KG2-IMP-008]
        if r.privacy_enabled()
            && let Some(u) = r
                .client_capability_query
                .iter()
                .find(|u| is_client_attribute(u))
        {
            return Err(Failure::invalid(
                "KG2-IMP-008",
                format!("client attribute {u} queried in privacy mode"),
            ));
        }
        if let Some(u) =
            crate::config::unconfigured_attribute(&r.client_capability_query, &self.config)
        {
            return Err(Failure::UnconfiguredAttribute {
                capability: u.to_owned(),
            });
        }
        let device = self
            .sks
            .get_device_info()
            .map_err(Failure::sks(SksMethod::GetDeviceInfo))?;
        // [KG2-INV-005]
        let consent = self.ui.consent(&ConsentRequest {
            issuer_origin: self.ctx.issuer_origin.clone(),
            action: r.action,
            privacy_enabled: r.privacy_enabled(),
            preferred_languages: r.preferred_languages.clone(),
            target_key_containers: r.target_key_containers.clone(),
            device_vendor: device.vendor_name.clone(),
            device_description: device.vendor_description.clone(),
        });
        if consent == Consent::Decline {
            return Err(Failure::ConsentDeclined);
        }
        // [KG2-IRS-002] [KG2-IRS-003]
        let client_capabilities =
            answer_capabilities(&r.client_capability_query, &device, &self.config);
        self.server_session_id = r.server_session_id.clone();
        self.action = r.action;
        self.privacy_enabled = r.privacy_enabled();
        self.device = Some(device);
        self.phase = Phase::Initialization;
        Ok(InvocationResponse {
            server_session_id: r.server_session_id,
            client_capabilities,
        }
        .into())
    }

    // ---------------------------------------------------------------- Initialization

    fn initialization(&mut self, r: ProvisioningInitializationRequest) -> Result<Message, Failure> {
        self.check_ids(&r.server_session_id, None)?;
        if r.session_key_algorithm != alg::SESSION_1 {
            return Err(Failure::invalid(
                "KG2-PIQ-002",
                format!("unknown sessionKeyAlgorithm {}", r.session_key_algorithm),
            ));
        }
        let server_key = PublicKey::from_jwk(&r.server_ephemeral_key)
            .map_err(|e| Failure::invalid("KG2-PIQ-005", format!("serverEphemeralKey: {e}")))?;
        let server_curve = server_key
            .curve()
            .ok_or_else(|| Failure::invalid("KG2-PIQ-005", "serverEphemeralKey is not EC"))?;
        let server_spki = server_key
            .to_spki_der()
            .map_err(|e| Failure::invalid("KG2-PIQ-005", e.to_string()))?;
        let kmk = r
            .key_management_key
            .as_ref()
            .map(PublicKey::from_jwk)
            .transpose()
            .map_err(|e| Failure::invalid("KG2-PIQ-006", format!("keyManagementKey: {e}")))?;
        let kmk_spki = kmk
            .as_ref()
            .map(PublicKey::to_spki_der)
            .transpose()
            .map_err(|e| Failure::invalid("KG2-PIQ-006", e.to_string()))?;
        if let Some(k) = &kmk {
            // [KG2-PIQ-009]: leaves first, before createProvisioningSession.
            self.roll_over(&r.updatable_key_management_keys, k)?;
        }
        let now = self.clock.now();
        let client_time = now.client_time_u32().map_err(|e| {
            Failure::invalid(
                "KG2-PIR-002",
                format!("the local clock is out of range: {e}"),
            )
        })?;
        let client_time_text = now.client_time(self.utc_offset_minutes).map_err(|e| {
            Failure::invalid(
                "KG2-PIR-002",
                format!("the local clock is out of range: {e}"),
            )
        })?;
        let params = CreateProvisioningSessionParams {
            session_key_algorithm: r.session_key_algorithm.clone(),
            // [KG2-INV-006]
            privacy_enabled: self.privacy_enabled,
            server_session_id: r.server_session_id.clone(),
            server_ephemeral_key: server_spki,
            issuer_uri: self.ctx.issuer_uri.clone(),
            key_management_key: kmk_spki,
            client_time,
            session_life_time: r.session_life_time,
            session_key_limit: r.session_key_limit,
            server_certificate: self.ctx.server_certificate.clone(),
        };
        let call = SksMethod::CreateProvisioningSession;
        let session = self
            .sks
            .create_provisioning_session(&params)
            .map_err(Failure::sks(call))?;
        self.provisioning = Some(session.provisioning_handle);
        let csid = &session.client_session_id;
        if csid.is_empty() || csid.len() > 32 || !csid.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(Failure::bad_result(
                call,
                "clientSessionId is not a valid id",
            ));
        }
        self.client_session_id = csid.clone();
        let client_key = PublicKey::from_spki_der(&session.client_ephemeral_key)
            .map_err(|e| Failure::bad_result(call, format!("clientEphemeralKey: {e}")))?;
        if client_key.curve() != Some(server_curve) {
            // [KG2-PIR-003]
            return Err(Failure::bad_result(
                call,
                "clientEphemeralKey is not on the server's curve",
            ));
        }
        // [KG2-PIR-004]
        let device_certificate_path = if self.privacy_enabled {
            None
        } else {
            let path = self
                .device
                .as_ref()
                .map(|d| d.certificate_path.clone())
                .unwrap_or_default();
            if path.is_empty() {
                return Err(Failure::bad_result(
                    SksMethod::GetDeviceInfo,
                    "no device certificate for an E2ES session",
                ));
            }
            Some(path)
        };
        self.phase = Phase::Open {
            discovered: false,
            keys_created: false,
        };
        Ok(ProvisioningInitializationResponse {
            server_session_id: r.server_session_id,
            client_session_id: session.client_session_id,
            // [KG2-PIR-001]: verbatim echo.
            server_time: r.server_time,
            // [KG2-PIR-002]
            client_time: client_time_text,
            client_ephemeral_key: client_key.to_jwk(),
            device_certificate_path,
            // [KG2-PIR-006]
            attestation: session.attestation,
            server_certificate_finger_print: None,
        }
        .into())
    }

    /// Applies nested KMK roll-overs, deepest first: every closed session whose KMK is an
    /// entry's `publicKey` gets the key one level up ([KG2-PIQ-008], [KG2-PIQ-009]).
    fn roll_over(
        &mut self,
        entries: &[UpdatableKeyManagementKey],
        parent: &PublicKey,
    ) -> Result<(), Failure> {
        let parent_spki = parent
            .to_spki_der()
            .map_err(|e| Failure::invalid("KG2-PIQ-006", e.to_string()))?;
        for e in entries {
            let old = PublicKey::from_jwk(&e.public_key).map_err(|err| {
                Failure::invalid("KG2-PIQ-006", format!("updatableKeyManagementKeys: {err}"))
            })?;
            self.roll_over(&e.updatable_key_management_keys, &old)?;
            let targets: Vec<ProvisioningHandle> = self
                .closed_sessions()?
                .into_iter()
                .filter(|s| kmk_equals(s, &old))
                .map(|s| s.provisioning_handle)
                .collect();
            for h in targets {
                self.sks
                    .update_key_management_key(h, &parent_spki, &e.authorization)
                    .map_err(Failure::sks(SksMethod::UpdateKeyManagementKey))?;
            }
        }
        Ok(())
    }

    fn closed_sessions(&mut self) -> Result<Vec<EnumeratedProvisioningSession>, Failure> {
        let call = SksMethod::EnumerateProvisioningSessions;
        let mut out: Vec<EnumeratedProvisioningSession> = Vec::new();
        let mut h = ProvisioningHandle::NONE;
        while let Some(s) = self
            .sks
            .enumerate_provisioning_sessions(h, false)
            .map_err(Failure::sks(call))?
        {
            if s.provisioning_handle.is_none()
                || out.len() >= MAX_ENUMERATION
                || out
                    .iter()
                    .any(|o| o.provisioning_handle == s.provisioning_handle)
            {
                return Err(Failure::bad_result(
                    call,
                    "the enumeration does not progress",
                ));
            }
            h = s.provisioning_handle;
            out.push(s);
        }
        Ok(out)
    }

    fn closed_keys(&mut self) -> Result<Vec<EnumeratedKey>, Failure> {
        let call = SksMethod::EnumerateKeys;
        let mut out: Vec<EnumeratedKey> = Vec::new();
        let mut h = KeyHandle::NONE;
        while let Some(k) = self.sks.enumerate_keys(h).map_err(Failure::sks(call))? {
            if k.key_handle.is_none()
                || out.len() >= MAX_ENUMERATION
                || out.iter().any(|o| o.key_handle == k.key_handle)
            {
                return Err(Failure::bad_result(
                    call,
                    "the enumeration does not progress",
                ));
            }
            h = k.key_handle;
            out.push(k);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- CredentialDiscovery

    fn discovery(&mut self, r: CredentialDiscoveryRequest) -> Result<Message, Failure> {
        self.check_ids(&r.server_session_id, Some(&r.client_session_id))?;
        let mut seen = HashSet::new();
        for l in &r.lookup_specifiers {
            if !seen.insert(l.id.as_str()) {
                return Err(Failure::invalid(
                    "KG2-CDR-001",
                    format!("duplicate lookup id {:?}", l.id),
                ));
            }
        }
        // Verify everything before searching ([KG2-CDQ-002]).
        let mut verified = Vec::new();
        for l in &r.lookup_specifiers {
            let key = verify_lookup(l, &self.client_session_id, &self.server_session_id)?;
            let filter = l
                .search_filter
                .as_ref()
                .map(CompiledFilter::new)
                .transpose()?;
            verified.push((l.id.clone(), key, filter));
        }
        let sessions = self.closed_sessions()?;
        let keys = self.closed_keys()?;
        let mut lookup_results = Vec::new();
        for (id, signer, filter) in verified {
            // [KG2-CDQ-003]: the issuer filter.
            let mine: Vec<&EnumeratedProvisioningSession> =
                sessions.iter().filter(|s| kmk_equals(s, &signer)).collect();
            let mut matching_credentials = Vec::new();
            for k in &keys {
                let Some(s) = mine
                    .iter()
                    .find(|s| s.provisioning_handle == k.provisioning_handle)
                else {
                    continue;
                };
                let attrs = self
                    .sks
                    .get_key_attributes(k.key_handle)
                    .map_err(Failure::sks(SksMethod::GetKeyAttributes))?;
                let protection = self
                    .sks
                    .get_key_protection_info(k.key_handle)
                    .map_err(Failure::sks(SksMethod::GetKeyProtectionInfo))?;
                let facts = KeyFacts {
                    app_usage: attrs.app_usage,
                    grouping: protection.pin.map(|p| p.grouping),
                };
                // [KG2-CDQ-004]
                if let Some(f) = &filter
                    && !f.matches(&attrs.certificate_path, facts)
                {
                    continue;
                }
                if attrs.certificate_path.is_empty() {
                    continue;
                }
                // [KG2-CDR-002] [KG2-CDR-003]
                let blocked = protection
                    .protection_status
                    .contains(ProtectionStatus::PIN_BLOCKED);
                matching_credentials.push(MatchingCredential {
                    server_session_id: s.server_session_id.clone(),
                    client_session_id: s.client_session_id.clone(),
                    certificate_path: attrs.certificate_path,
                    locked: blocked.then_some(true),
                });
            }
            lookup_results.push(LookupResult {
                id,
                matching_credentials,
            });
        }
        self.phase = Phase::Open {
            discovered: true,
            keys_created: false,
        };
        Ok(CredentialDiscoveryResponse {
            server_session_id: r.server_session_id,
            client_session_id: r.client_session_id,
            lookup_results,
        }
        .into())
    }

    // ---------------------------------------------------------------- KeyCreation

    fn key_creation(&mut self, r: KeyCreationRequest) -> Result<Message, Failure> {
        self.check_ids(&r.server_session_id, Some(&r.client_session_id))?;
        if self.action == Action::Unlock {
            return Err(Failure::invalid(
                "KG2-INV-002",
                "KeyCreationRequest in an unlock session",
            ));
        }
        if r.key_entry_algorithm != alg::KEY_1 {
            return Err(Failure::invalid(
                "KG2-KCQ-001",
                format!("unknown keyEntryAlgorithm {}", r.key_entry_algorithm),
            ));
        }
        if r.deferred_issuance == Some(true) {
            return Err(Failure::invalid(
                "KG2-KCQ-011",
                "deferredIssuance is not supported",
            ));
        }
        // [KG2-KCQ-004]: one namespace for PUK, PIN and key ids.
        let mut ids = HashSet::new();
        let mut all_pins: Vec<&PinPolicySpecifier> = Vec::new();
        for puk in &r.puk_policy_specifiers {
            all_pins.extend(puk.pin_policy_specifiers.iter());
        }
        all_pins.extend(r.pin_policy_specifiers.iter());
        let all_keys = r.keys();
        let names = r
            .puk_policy_specifiers
            .iter()
            .map(|p| p.id.as_str())
            .chain(all_pins.iter().map(|p| p.id.as_str()))
            .chain(all_keys.iter().map(|k| k.id.as_str()));
        for id in names {
            if !ids.insert(id) {
                return Err(Failure::invalid(
                    "KG2-KCQ-004",
                    format!("id {id:?} is used twice"),
                ));
            }
        }
        for p in &all_pins {
            if p.pattern_set().contains(PatternRestriction::MissingGroup)
                && matches!(
                    p.format,
                    PassphraseFormat::Numeric | PassphraseFormat::Binary
                )
            {
                return Err(Failure::invalid(
                    "POL-PAT-005",
                    format!("PIN policy {:?}: missing-group with {}", p.id, p.format),
                ));
            }
        }
        let summary = self.summary(&r, &all_pins);
        if self.ui.confirm_keys(&summary) == Consent::Decline {
            return Err(Failure::ConsentDeclined);
        }
        // [KG2-KCQ-013]: every user PIN is collected and checked before the first SKS call.
        let mut user_pins: HashMap<String, Zeroizing<Vec<u8>>> = HashMap::new();
        for p in &all_pins {
            if !p.preset() {
                self.collect_pins(p, &mut user_pins)?;
            }
        }
        let ph = self.provisioning.unwrap_or_default();
        let mut generated = Vec::new();
        // [KG2-ORD-001] [KG2-KCQ-012]
        for puk in &r.puk_policy_specifiers {
            let handle = self
                .sks
                .create_puk_policy(&CreatePukPolicyParams {
                    provisioning_handle: ph,
                    id: puk.id.clone(),
                    encrypted_puk: puk.encrypted_puk.clone(),
                    format: puk.format.into(),
                    retry_limit: puk.retry_limit,
                    mac: puk.mac.to_vec(),
                })
                .map_err(Failure::sks(SksMethod::CreatePukPolicy))?;
            for pin in &puk.pin_policy_specifiers {
                self.create_pin_and_keys(ph, pin, handle, &user_pins, &mut generated)?;
            }
        }
        for pin in &r.pin_policy_specifiers {
            self.create_pin_and_keys(ph, pin, PukPolicyHandle::NONE, &user_pins, &mut generated)?;
        }
        for key in &r.key_entry_specifiers {
            let g =
                self.create_key(ph, key, PinPolicyHandle::NONE, None, &r.key_entry_algorithm)?;
            generated.push(g);
        }
        self.phase = Phase::Open {
            discovered: matches!(
                self.phase,
                Phase::Open {
                    discovered: true,
                    ..
                }
            ),
            keys_created: true,
        };
        Ok(KeyCreationResponse {
            server_session_id: r.server_session_id,
            client_session_id: r.client_session_id,
            // [KG2-KCR-001]: request order.
            generated_keys: generated,
        }
        .into())
    }

    fn summary(&self, r: &KeyCreationRequest, pins: &[&PinPolicySpecifier]) -> KeyCreationSummary {
        let mut keys = Vec::new();
        for p in pins {
            for k in &p.key_entry_specifiers {
                keys.push(planned(k, Some(&p.id)));
            }
        }
        for k in &r.key_entry_specifiers {
            keys.push(planned(k, None));
        }
        KeyCreationSummary {
            issuer_origin: self.ctx.issuer_origin.clone(),
            puk_policies: r.puk_policy_specifiers.len(),
            pin_policies: pins.len(),
            keys,
        }
    }

    fn next_pin(&mut self, req: &PinRequest) -> Option<Zeroizing<String>> {
        match &mut self.pins {
            PinSource::Interactive { .. } => self.ui.collect_pin(req),
            PinSource::List(list) => list.pop_front(),
            PinSource::Repeat(p) => Some(p.clone()),
        }
    }

    fn collect_pins(
        &mut self,
        p: &PinPolicySpecifier,
        out: &mut HashMap<String, Zeroizing<Vec<u8>>>,
    ) -> Result<(), Failure> {
        // [POL-INP-001]
        if p.input_method() == InputMethod::TrustedGui && !self.pins.is_interactive() {
            return Err(Failure::invalid(
                "POL-INP-001",
                format!(
                    "PIN policy {:?} requires trusted-gui input; the PIN source is not interactive",
                    p.id
                ),
            ));
        }
        let max_attempts = match self.pins {
            PinSource::Interactive { max_attempts } => max_attempts.max(1),
            _ => 1,
        };
        let must_differ = groups_must_differ(p.grouping());
        let mut chosen: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
        for g in pin_groups(p) {
            let mut attempt = 1;
            let pin = loop {
                let req = PinRequest {
                    issuer_origin: self.ctx.issuer_origin.clone(),
                    pin_policy: p.id.clone(),
                    group: g.label.clone(),
                    key_ids: g.key_ids.clone(),
                    format: p.format,
                    min_length: p.min_length,
                    max_length: p.max_length,
                    grouping: p.grouping(),
                    pattern_restrictions: p.pattern_set().iter().map(|r| r.as_str()).collect(),
                    input_method: p.input_method(),
                    attempt,
                };
                let Some(text) = self.next_pin(&req) else {
                    return Err(Failure::PinSourceExhausted {
                        pin_policy: p.id.clone(),
                        group: g.label.clone(),
                    });
                };
                let checked = pin_bytes(p.format, &text).and_then(|bytes| {
                    check_pin(p, &bytes)?;
                    if must_differ
                        && let Some((other, _)) = chosen.iter().find(|(_, v)| **v == *bytes)
                    {
                        return Err(PinProblem::GroupNotDistinct {
                            other: other.clone(),
                        });
                    }
                    Ok(bytes)
                });
                match checked {
                    Ok(b) => break b,
                    Err(problem) => {
                        if self.pins.is_interactive() {
                            self.ui.pin_rejected(&req, &problem);
                        }
                        if attempt >= max_attempts {
                            return Err(Failure::PinRejected {
                                pin_policy: p.id.clone(),
                                problem,
                            });
                        }
                        attempt += 1;
                    }
                }
            };
            for k in &g.key_ids {
                out.insert(k.clone(), pin.clone());
            }
            chosen.push((g.label, pin));
        }
        Ok(())
    }

    fn create_pin_and_keys(
        &mut self,
        ph: ProvisioningHandle,
        pin: &PinPolicySpecifier,
        puk: PukPolicyHandle,
        user_pins: &HashMap<String, Zeroizing<Vec<u8>>>,
        generated: &mut Vec<GeneratedKey>,
    ) -> Result<(), Failure> {
        let preset = pin.preset();
        let handle = self
            .sks
            .create_pin_policy(&CreatePinPolicyParams {
                provisioning_handle: ph,
                id: pin.id.clone(),
                puk_policy_handle: puk,
                // [KG2-KCQ-005]
                user_defined: !preset,
                user_modifiable: pin.user_modifiable(),
                format: pin.format.into(),
                retry_limit: pin.retry_limit,
                grouping: pin.grouping().into(),
                pattern_restrictions: pin.pattern_set().into(),
                min_length: pin.min_length,
                max_length: pin.max_length,
                input_method: pin.input_method().into(),
                mac: pin.mac.to_vec(),
            })
            .map_err(Failure::sks(SksMethod::CreatePinPolicy))?;
        for k in &pin.key_entry_specifiers {
            let value =
                match &k.encrypted_pin {
                    Some(enc) => Zeroizing::new(enc.clone()),
                    None => user_pins.get(&k.id).cloned().ok_or_else(|| {
                        Failure::PinSourceExhausted {
                            pin_policy: pin.id.clone(),
                            group: k.id.clone(),
                        }
                    })?,
                };
            let g = self.create_key(ph, k, handle, Some(value), alg::KEY_1)?;
            generated.push(g);
        }
        Ok(())
    }

    fn create_key(
        &mut self,
        ph: ProvisioningHandle,
        k: &KeyEntrySpecifier,
        pin_policy: PinPolicyHandle,
        pin_value: Option<Zeroizing<Vec<u8>>>,
        key_entry_algorithm: &str,
    ) -> Result<GeneratedKey, Failure> {
        let call = SksMethod::CreateKeyEntry;
        let data = self
            .sks
            .create_key_entry(&CreateKeyEntryParams {
                provisioning_handle: ph,
                id: k.id.clone(),
                key_entry_algorithm: key_entry_algorithm.to_owned(),
                server_seed: k.server_seed.clone(),
                device_pin_protection: k.device_pin_protection(),
                pin_policy_handle: pin_policy,
                pin_value,
                enable_pin_caching: k.enable_pin_caching(),
                biometric_protection: k.biometric_protection().into(),
                export_protection: k.export_protection().into(),
                delete_protection: k.delete_protection().into(),
                app_usage: k.app_usage.into(),
                friendly_name: k.friendly_name.clone(),
                key_algorithm: k.key_algorithm.clone(),
                key_parameters: k.key_parameters.clone(),
                endorsed_algorithms: k.endorsed_algorithms.clone(),
                mac: k.mac.to_vec(),
            })
            .map_err(Failure::sks(call))?;
        let public_key = PublicKey::from_spki_der(&data.public_key)
            .map_err(|e| Failure::bad_result(call, format!("key {:?}: {e}", k.id)))?;
        let attestation: [u8; 32] = data.attestation.as_slice().try_into().map_err(|_| {
            Failure::bad_result(call, format!("key {:?}: attestation is not 32 bytes", k.id))
        })?;
        self.created_keys.push(k.id.clone());
        Ok(GeneratedKey {
            id: k.id.clone(),
            public_key: public_key.to_jwk(),
            attestation,
        })
    }

    // ---------------------------------------------------------------- Finalization

    fn finalization(&mut self, r: ProvisioningFinalizationRequest) -> Result<Message, Failure> {
        self.check_ids(&r.server_session_id, Some(&r.client_session_id))?;
        // [KG2-PFQ-002]
        let mut issued = HashSet::new();
        for c in &r.issued_credentials {
            if !self.created_keys.contains(&c.id) {
                return Err(Failure::invalid(
                    "KG2-PFQ-002",
                    format!("issued credential {:?} names no key of this session", c.id),
                ));
            }
            if !issued.insert(c.id.as_str()) {
                return Err(Failure::invalid(
                    "KG2-PFQ-002",
                    format!("issued credential {:?} appears twice", c.id),
                ));
            }
        }
        if let Some(missing) = self
            .created_keys
            .iter()
            .find(|k| !issued.contains(k.as_str()))
        {
            return Err(Failure::invalid(
                "KG2-PFQ-002",
                format!("key {missing:?} gets no certificate"),
            ));
        }
        // [KG2-PFQ-006]: resolve every post-operation target before executing anything.
        let has_post_ops = !r.unlock_keys.is_empty()
            || !r.delete_keys.is_empty()
            || r.issued_credentials
                .iter()
                .any(|c| c.post_operation.is_some());
        let targets = if has_post_ops {
            self.target_index()?
        } else {
            Vec::new()
        };
        let resolve = |p: &PostOperation| -> Result<KeyHandle, Failure> {
            targets
                .iter()
                .find(|t| {
                    t.server_session_id == p.server_session_id
                        && t.client_session_id == p.client_session_id
                        && t.finger_print.as_slice() == p.finger_print.as_slice()
                })
                .map(|t| t.key_handle)
                .ok_or_else(|| {
                    Failure::invalid(
                        "KG2-PFQ-006",
                        format!(
                            "no key of session {}/{} has that fingerPrint",
                            p.server_session_id, p.client_session_id
                        ),
                    )
                })
        };
        let mut credential_targets = Vec::new();
        for c in &r.issued_credentials {
            credential_targets.push(match &c.post_operation {
                Some(CredentialPostOperation::UpdateKey(p))
                | Some(CredentialPostOperation::CloneKeyProtection(p)) => Some(resolve(p)?),
                None => None,
            });
        }
        let unlock_targets = r
            .unlock_keys
            .iter()
            .map(&resolve)
            .collect::<Result<Vec<_>, _>>()?;
        let delete_targets = r
            .delete_keys
            .iter()
            .map(&resolve)
            .collect::<Result<Vec<_>, _>>()?;

        let ph = self.provisioning.unwrap_or_default();
        let mut updated = 0;
        // [KG2-ORD-004] [KG2-PFQ-010]
        for (c, target) in r.issued_credentials.iter().zip(credential_targets) {
            let kh = self
                .sks
                .get_key_handle(ph, &c.id)
                .map_err(Failure::sks(SksMethod::GetKeyHandle))?;
            self.sks
                .set_certificate_path(kh, &c.certificate_path, &c.mac)
                .map_err(Failure::sks(SksMethod::SetCertificatePath))?;
            if let Some(k) = &c.import_symmetric_key {
                self.sks
                    .import_symmetric_key(kh, &k.encrypted_key, &k.mac)
                    .map_err(Failure::sks(SksMethod::ImportSymmetricKey))?;
            }
            if let Some(k) = &c.import_private_key {
                self.sks
                    .import_private_key(kh, &k.encrypted_key, &k.mac)
                    .map_err(Failure::sks(SksMethod::ImportPrivateKey))?;
            }
            let add = SksMethod::AddExtension;
            for e in &c.extensions {
                self.sks
                    .add_extension(
                        kh,
                        &e.extension_type,
                        ExtensionSubType::Extension.into(),
                        "",
                        &e.extension_data,
                        &e.mac,
                    )
                    .map_err(Failure::sks(add))?;
            }
            for e in &c.encrypted_extensions {
                self.sks
                    .add_extension(
                        kh,
                        &e.extension_type,
                        ExtensionSubType::EncryptedExtension.into(),
                        "",
                        &e.extension_data,
                        &e.mac,
                    )
                    .map_err(Failure::sks(add))?;
            }
            for b in &c.property_bags {
                let props: Vec<Property> = b
                    .properties
                    .iter()
                    .map(|p| Property {
                        name: p.name.clone(),
                        writable: p.writable.unwrap_or(false),
                        value: p.value.clone(),
                    })
                    .collect();
                let data = encode_property_bag(&props).map_err(|e| {
                    Failure::invalid("KG2-PFQ-007", format!("property bag {}: {e}", b.bag_type))
                })?;
                self.sks
                    .add_extension(
                        kh,
                        &b.bag_type,
                        ExtensionSubType::PropertyBag.into(),
                        "",
                        &data,
                        &b.mac,
                    )
                    .map_err(Failure::sks(add))?;
            }
            for l in &c.logotypes {
                self.sks
                    .add_extension(
                        kh,
                        &l.logotype_type,
                        ExtensionSubType::Logotype.into(),
                        &l.mime_type,
                        &l.extension_data,
                        &l.mac,
                    )
                    .map_err(Failure::sks(add))?;
            }
            match (&c.post_operation, target) {
                (Some(CredentialPostOperation::UpdateKey(p)), Some(t)) => {
                    self.sks
                        .post_update_key(kh, t, &p.authorization, &p.mac)
                        .map_err(Failure::sks(SksMethod::PostUpdateKey))?;
                    updated += 1;
                }
                (Some(CredentialPostOperation::CloneKeyProtection(p)), Some(t)) => {
                    self.sks
                        .post_clone_key_protection(kh, t, &p.authorization, &p.mac)
                        .map_err(Failure::sks(SksMethod::PostCloneKeyProtection))?;
                    updated += 1;
                }
                _ => {}
            }
        }
        // [KG2-ORD-006]
        for (p, t) in r.unlock_keys.iter().zip(&unlock_targets) {
            self.sks
                .post_unlock_key(ph, *t, &p.authorization, &p.mac)
                .map_err(Failure::sks(SksMethod::PostUnlockKey))?;
        }
        for (p, t) in r.delete_keys.iter().zip(&delete_targets) {
            self.sks
                .post_delete_key(ph, *t, &p.authorization, &p.mac)
                .map_err(Failure::sks(SksMethod::PostDeleteKey))?;
        }
        let call = SksMethod::CloseProvisioningSession;
        let attestation = self
            .sks
            .close_provisioning_session(ph, &r.session_close_data.nonce, &r.session_close_data.mac)
            .map_err(Failure::sks(call))?;
        // Closed: nothing is left to abort.
        self.provisioning = None;
        let attestation: [u8; 32] = attestation
            .as_slice()
            .try_into()
            .map_err(|_| Failure::bad_result(call, "close attestation is not 32 bytes"))?;
        self.phase = Phase::Done;
        self.outcome = Some(Outcome {
            server_session_id: self.server_session_id.clone(),
            client_session_id: self.client_session_id.clone(),
            created_keys: self.created_keys.clone(),
            unlocked_keys: unlock_targets.len(),
            deleted_keys: delete_targets.len(),
            updated_keys: updated,
        });
        // [KG2-PFR-001]
        Ok(ProvisioningFinalizationResponse {
            server_session_id: r.server_session_id,
            client_session_id: r.client_session_id,
            attestation,
        }
        .into())
    }

    /// Every key of a closed session with its session ids and end-entity fingerprint.
    fn target_index(&mut self) -> Result<Vec<Target>, Failure> {
        let sessions = self.closed_sessions()?;
        let keys = self.closed_keys()?;
        let mut out = Vec::new();
        for k in keys {
            let Some(s) = sessions
                .iter()
                .find(|s| s.provisioning_handle == k.provisioning_handle)
            else {
                continue;
            };
            let attrs = self
                .sks
                .get_key_attributes(k.key_handle)
                .map_err(Failure::sks(SksMethod::GetKeyAttributes))?;
            let Some(ee) = attrs.certificate_path.first() else {
                continue;
            };
            out.push(Target {
                key_handle: k.key_handle,
                server_session_id: s.server_session_id.clone(),
                client_session_id: s.client_session_id.clone(),
                finger_print: sha256(ee),
            });
        }
        Ok(out)
    }
}

struct Target {
    key_handle: KeyHandle,
    server_session_id: String,
    client_session_id: String,
    finger_print: [u8; 32],
}

fn planned(k: &KeyEntrySpecifier, pin_policy: Option<&String>) -> PlannedKey {
    PlannedKey {
        id: k.id.clone(),
        key_algorithm: k.key_algorithm.clone(),
        app_usage: k.app_usage,
        friendly_name: k.friendly_name.clone(),
        pin_policy: pin_policy.cloned(),
        preset_pin: k.encrypted_pin.is_some(),
    }
}

/// True if the session's KMK is `key` (compared as parsed keys, so that equivalent DER
/// encodings match).
fn kmk_equals(s: &EnumeratedProvisioningSession, key: &PublicKey) -> bool {
    s.key_management_key
        .as_deref()
        .and_then(|der| PublicKey::from_spki_der(der).ok())
        .is_some_and(|k| k == *key)
}
