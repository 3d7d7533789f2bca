//! The session-key derivations, the MAC sequence counter and `sessionKeyLimit` (facts §3.3,
//! §3.4, §3.6, §3.7).

use zeroize::Zeroizing;

use super::{Session1Error, cipher, ct_eq, hmac_sha256};

/// `KDF_DEVICE_ATTESTATION`.
pub const KDF_DEVICE_ATTESTATION: &str = "DeviceAttestation";
/// `KDF_ENCRYPTION_KEY`.
pub const KDF_ENCRYPTION_KEY: &str = "EncryptionKey";

/// A provisioning method whose MAC key modifier is its name (facts §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `createPUKPolicy` (capitals in the MAC name).
    CreatePukPolicy,
    /// `createPINPolicy` (capitals in the MAC name).
    CreatePinPolicy,
    /// `createKeyEntry`.
    CreateKeyEntry,
    /// `setCertificatePath`.
    SetCertificatePath,
    /// `importSymmetricKey`.
    ImportSymmetricKey,
    /// `importPrivateKey`.
    ImportPrivateKey,
    /// `addExtension`.
    AddExtension,
    /// `postDeleteKey`.
    PostDeleteKey,
    /// `postUnlockKey`.
    PostUnlockKey,
    /// `postUpdateKey`.
    PostUpdateKey,
    /// `postCloneKeyProtection`.
    PostCloneKeyProtection,
    /// `closeProvisioningSession`.
    CloseProvisioningSession,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 12] = [
        Method::CreatePukPolicy,
        Method::CreatePinPolicy,
        Method::CreateKeyEntry,
        Method::SetCertificatePath,
        Method::ImportSymmetricKey,
        Method::ImportPrivateKey,
        Method::AddExtension,
        Method::PostDeleteKey,
        Method::PostUnlockKey,
        Method::PostUpdateKey,
        Method::PostCloneKeyProtection,
        Method::CloseProvisioningSession,
    ];

    /// The exact ASCII name used as the MAC key modifier.
    pub const fn mac_name(self) -> &'static str {
        match self {
            Method::CreatePukPolicy => "createPUKPolicy",
            Method::CreatePinPolicy => "createPINPolicy",
            Method::CreateKeyEntry => "createKeyEntry",
            Method::SetCertificatePath => "setCertificatePath",
            Method::ImportSymmetricKey => "importSymmetricKey",
            Method::ImportPrivateKey => "importPrivateKey",
            Method::AddExtension => "addExtension",
            Method::PostDeleteKey => "postDeleteKey",
            Method::PostUnlockKey => "postUnlockKey",
            Method::PostUpdateKey => "postUpdateKey",
            Method::PostCloneKeyProtection => "postCloneKeyProtection",
            Method::CloseProvisioningSession => "closeProvisioningSession",
        }
    }

    /// From the exact MAC name.
    pub fn from_mac_name(name: &str) -> Option<Self> {
        Method::ALL.into_iter().find(|m| m.mac_name() == name)
    }
}

/// The HMAC key modifier of a method MAC: `name ‖ ushort(counter)`.
pub fn key_modifier(method: Method, counter: u16) -> Vec<u8> {
    let mut m = method.mac_name().as_bytes().to_vec();
    m.extend_from_slice(&counter.to_be_bytes());
    m
}

fn attestation_modifier(counter: u16) -> Vec<u8> {
    let mut m = KDF_DEVICE_ATTESTATION.as_bytes().to_vec();
    m.extend_from_slice(&counter.to_be_bytes());
    m
}

/// The session key, the MAC sequence counter and the remaining `sessionKeyLimit` of one
/// provisioning session. Both sides hold one: the card verifies MACs and computes
/// attestations; the issuer computes MACs and expected attestations.
///
/// Every derivation from the session key (MAC, attestation, encryption key, target-key
/// reference) spends one unit of `sessionKeyLimit` and fails once none is left; MACs and
/// attestations also advance the counter, which never wraps.
pub struct SessionCrypto {
    session_key: Zeroizing<[u8; 32]>,
    /// The next counter value; 65536 means exhausted.
    next_counter: u32,
    remaining: u16,
}

impl std::fmt::Debug for SessionCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCrypto")
            .field("next_counter", &self.next_counter)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl SessionCrypto {
    /// A fresh session: counter 0 and `session_key_limit` uses.
    pub fn new(session_key: [u8; 32], session_key_limit: u16) -> Self {
        Self {
            session_key: Zeroizing::new(session_key),
            next_counter: 0,
            remaining: session_key_limit,
        }
    }

    /// The session key (for the privacy-mode session attestation).
    pub fn session_key(&self) -> &[u8; 32] {
        &self.session_key
    }

    /// The counter value the next MAC or attestation will use (65536 once exhausted).
    pub fn next_counter(&self) -> u32 {
        self.next_counter
    }

    /// Uses of the session key left.
    pub fn remaining_limit(&self) -> u16 {
        self.remaining
    }

    /// `if (sessionKeyLimit-- <= 0) abort`.
    fn spend(&mut self) -> Result<(), Session1Error> {
        self.remaining = self
            .remaining
            .checked_sub(1)
            .ok_or(Session1Error::SessionKeyLimitExhausted)?;
        Ok(())
    }

    /// Takes the next counter value; fails instead of wrapping.
    fn take_counter(&mut self) -> Result<u16, Session1Error> {
        let c = u16::try_from(self.next_counter).map_err(|_| Session1Error::CounterExhausted)?;
        self.next_counter += 1;
        Ok(c)
    }

    /// Reserves the next counter value without computing anything (the issuer reserves the
    /// attestation slot that follows each `createKeyEntry` MAC, facts §3.6).
    pub fn reserve_counter(&mut self) -> Result<u16, Session1Error> {
        self.take_counter()
    }

    fn derive(&mut self, modifier: &[u8], data: &[u8]) -> Result<[u8; 32], Session1Error> {
        self.spend()?;
        let mut key = Zeroizing::new(Vec::with_capacity(32 + modifier.len()));
        key.extend_from_slice(self.session_key.as_ref());
        key.extend_from_slice(modifier);
        Ok(hmac_sha256(&key, data))
    }

    /// The MAC of `method` over `data` at the next counter value, then counter += 1.
    pub fn mac(&mut self, method: Method, data: &[u8]) -> Result<[u8; 32], Session1Error> {
        self.spend_check()?;
        let c = self.take_counter()?;
        self.derive(&key_modifier(method, c), data)
    }

    /// The MAC of `method` over `data` at a given (reserved) counter value; the counter is not
    /// touched.
    pub fn mac_at(
        &mut self,
        method: Method,
        counter: u16,
        data: &[u8],
    ) -> Result<[u8; 32], Session1Error> {
        self.derive(&key_modifier(method, counter), data)
    }

    /// Card side: verifies a received MAC in constant time (consuming a counter value and a
    /// use of the session key whatever the outcome; a failure aborts the session).
    pub fn verify_mac(
        &mut self,
        method: Method,
        data: &[u8],
        mac: &[u8],
    ) -> Result<(), Session1Error> {
        let expected = self.mac(method, data)?;
        if ct_eq(&expected, mac) {
            Ok(())
        } else {
            Err(Session1Error::MacMismatch {
                method: method.mac_name(),
            })
        }
    }

    /// An attestation (`"DeviceAttestation" ‖ ushort(counter)`) over `data` at the next
    /// counter value, then counter += 1. The card computes it; an issuer that did not reserve
    /// the slot computes the expected value the same way.
    pub fn attest(&mut self, data: &[u8]) -> Result<[u8; 32], Session1Error> {
        self.spend_check()?;
        let c = self.take_counter()?;
        self.derive(&attestation_modifier(c), data)
    }

    /// The attestation at a given (reserved) counter value; the counter is not touched.
    pub fn attest_at(&mut self, counter: u16, data: &[u8]) -> Result<[u8; 32], Session1Error> {
        self.derive(&attestation_modifier(counter), data)
    }

    /// Issuer side: checks a received attestation at a reserved counter value, in constant
    /// time.
    pub fn verify_attestation_at(
        &mut self,
        counter: u16,
        data: &[u8],
        attestation: &[u8],
    ) -> Result<(), Session1Error> {
        let expected = self.attest_at(counter, data)?;
        if ct_eq(&expected, attestation) {
            Ok(())
        } else {
            Err(Session1Error::AttestationMismatch)
        }
    }

    /// Issuer side: checks a received attestation at the next counter value.
    pub fn verify_attestation(
        &mut self,
        data: &[u8],
        attestation: &[u8],
    ) -> Result<(), Session1Error> {
        let expected = self.attest(data)?;
        if ct_eq(&expected, attestation) {
            Ok(())
        } else {
            Err(Session1Error::AttestationMismatch)
        }
    }

    /// `HMAC-SHA256(sessionKey, "EncryptionKey")`: no counter, one use of the session key.
    pub fn encryption_key(&mut self) -> Result<Zeroizing<[u8; 32]>, Session1Error> {
        Ok(Zeroizing::new(
            self.derive(&[], KDF_ENCRYPTION_KEY.as_bytes())?,
        ))
    }

    /// The inner HMAC of a target-key reference: key `sessionKey ‖ DeviceID`, data the target
    /// key's end-entity certificate DER; no counter, one use of the session key.
    pub fn target_key_reference(
        &mut self,
        device_id: &[u8],
        ee_certificate_der: &[u8],
    ) -> Result<[u8; 32], Session1Error> {
        self.derive(device_id, ee_certificate_der)
    }

    /// Issuer side: encrypts a secret for the card (derives the encryption key: one use).
    pub fn encrypt(&mut self, iv: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>, Session1Error> {
        let key = self.encryption_key()?;
        Ok(cipher::encrypt_with_key(&key, iv, plaintext))
    }

    /// Card side: verifies the method MAC over `mac_data` (which covers the ciphertext) in
    /// constant time, and only then decrypts `ciphertext` (two uses of the session key). The
    /// Java reference decrypts first (facts §6 item 7); we never decrypt unauthenticated data.
    pub fn verify_mac_then_decrypt(
        &mut self,
        method: Method,
        mac_data: &[u8],
        mac: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Session1Error> {
        self.verify_mac(method, mac_data, mac)?;
        self.decrypt(ciphertext)
    }

    /// Decrypts with the encryption key (one use). Card code must call this only after the
    /// covering MAC verified (see [`SessionCrypto::verify_mac_then_decrypt`]).
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Session1Error> {
        let key = self.encryption_key()?;
        Ok(cipher::decrypt_with_key(&key, ciphertext)?)
    }

    /// Fails early (before consuming a counter value) if no session-key use is left.
    fn spend_check(&self) -> Result<(), Session1Error> {
        if self.remaining == 0 {
            Err(Session1Error::SessionKeyLimitExhausted)
        } else {
            Ok(())
        }
    }
}

/// A card-side provisioning operation, for `sessionKeyLimit` and counter planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// createProvisioningSession.
    CreateProvisioningSession,
    /// createPukPolicy.
    CreatePukPolicy,
    /// createPinPolicy.
    CreatePinPolicy,
    /// createKeyEntry, with or without a preset (encrypted) PIN.
    CreateKeyEntry {
        /// True when `encryptedPin` is present.
        preset_pin: bool,
    },
    /// setCertificatePath.
    SetCertificatePath,
    /// importSymmetricKey.
    ImportSymmetricKey,
    /// importPrivateKey.
    ImportPrivateKey,
    /// addExtension (encrypted or not).
    AddExtension {
        /// True for subType 1 (encrypted extension).
        encrypted: bool,
    },
    /// postDeleteKey.
    PostDeleteKey,
    /// postUnlockKey.
    PostUnlockKey,
    /// postUpdateKey.
    PostUpdateKey,
    /// postCloneKeyProtection.
    PostCloneKeyProtection,
    /// closeProvisioningSession.
    CloseProvisioningSession,
}

/// One use of the MAC sequence counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterUse {
    /// A method MAC.
    Mac(Method),
    /// An attestation (key or close).
    Attestation,
}

impl Operation {
    /// Uses of the session key (facts §3.4, the table checked by SKSTest `test47`).
    pub const fn session_key_uses(self) -> u16 {
        // Kept identical to SESSION_KEY_COST_TABLE (a unit test checks every row).
        match self {
            Operation::CreateProvisioningSession => 0,
            // decrypt + MAC
            Operation::CreatePukPolicy => 2,
            Operation::CreatePinPolicy => 1,
            // MAC + attestation (+ decrypt of the preset PIN)
            Operation::CreateKeyEntry { preset_pin: false } => 2,
            Operation::CreateKeyEntry { preset_pin: true } => 3,
            Operation::SetCertificatePath => 1,
            // decrypt + MAC
            Operation::ImportSymmetricKey | Operation::ImportPrivateKey => 2,
            Operation::AddExtension { encrypted: false } => 1,
            Operation::AddExtension { encrypted: true } => 2,
            // target-key reference + MAC
            Operation::PostDeleteKey
            | Operation::PostUnlockKey
            | Operation::PostUpdateKey
            | Operation::PostCloneKeyProtection => 2,
            // MAC + attestation
            Operation::CloseProvisioningSession => 2,
        }
    }

    /// The counter uses of the operation, in order.
    pub const fn counter_uses(self) -> &'static [CounterUse] {
        use CounterUse::{Attestation as A, Mac as M};
        match self {
            Operation::CreateProvisioningSession => &[],
            Operation::CreatePukPolicy => &[M(Method::CreatePukPolicy)],
            Operation::CreatePinPolicy => &[M(Method::CreatePinPolicy)],
            Operation::CreateKeyEntry { .. } => &[M(Method::CreateKeyEntry), A],
            Operation::SetCertificatePath => &[M(Method::SetCertificatePath)],
            Operation::ImportSymmetricKey => &[M(Method::ImportSymmetricKey)],
            Operation::ImportPrivateKey => &[M(Method::ImportPrivateKey)],
            Operation::AddExtension { .. } => &[M(Method::AddExtension)],
            Operation::PostDeleteKey => &[M(Method::PostDeleteKey)],
            Operation::PostUnlockKey => &[M(Method::PostUnlockKey)],
            Operation::PostUpdateKey => &[M(Method::PostUpdateKey)],
            Operation::PostCloneKeyProtection => &[M(Method::PostCloneKeyProtection)],
            Operation::CloseProvisioningSession => &[M(Method::CloseProvisioningSession), A],
        }
    }
}

/// The `sessionKeyLimit` cost of every card operation, as data (facts §3.4).
pub const SESSION_KEY_COST_TABLE: &[(Operation, u16)] = &[
    (Operation::CreateProvisioningSession, 0),
    (Operation::CreatePukPolicy, 2),
    (Operation::CreatePinPolicy, 1),
    (Operation::CreateKeyEntry { preset_pin: false }, 2),
    (Operation::CreateKeyEntry { preset_pin: true }, 3),
    (Operation::SetCertificatePath, 1),
    (Operation::ImportSymmetricKey, 2),
    (Operation::ImportPrivateKey, 2),
    (Operation::AddExtension { encrypted: false }, 1),
    (Operation::AddExtension { encrypted: true }, 2),
    (Operation::PostDeleteKey, 2),
    (Operation::PostUnlockKey, 2),
    (Operation::PostUpdateKey, 2),
    (Operation::PostCloneKeyProtection, 2),
    (Operation::CloseProvisioningSession, 2),
];

/// The total session-key uses of a sequence of operations (the smallest `sessionKeyLimit`
/// that lets it complete).
pub fn session_key_uses(ops: &[Operation]) -> u32 {
    ops.iter().map(|o| u32::from(o.session_key_uses())).sum()
}

/// The counter value of every MAC and attestation of a sequence of card operations (the
/// table of facts §3.4). Fails if the counter would wrap.
pub fn counter_plan(ops: &[Operation]) -> Result<Vec<(u16, CounterUse)>, Session1Error> {
    let mut out = Vec::new();
    let mut next: u32 = 0;
    for op in ops {
        for u in op.counter_uses() {
            let c = u16::try_from(next).map_err(|_| Session1Error::CounterExhausted)?;
            out.push((c, *u));
            next += 1;
        }
    }
    Ok(out)
}
