//! Shared verifiers: the building blocks of case bodies (expect a precise SKS error, expect
//! success, expect no trace of a torn-down session, expect a session gone).

use airtight_proto::sks::{
    EnumeratedKey, EnumeratedProvisioningSession, KeyHandle, ProvisioningHandle, SecureKeyStore,
    SksError, SksErrorCode,
};
use airtight_testkit::emulator::EmuError;

use crate::model::{Failure, Step, Stop};

/// Enumerations stop after this many items (a faulty card must not loop the harness).
pub const MAX_ENUMERATION: usize = 100_000;

/// Fails the case with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Step {
    if cond { Ok(()) } else { Err(Stop::Fail(msg())) }
}

/// A failure with `message`, stating `expected` and `actual` apart.
fn observed(message: String, expected: impl Into<String>, actual: impl Into<String>) -> Stop {
    Stop::Mismatch(Box::new(Failure {
        message,
        expected: Some(expected.into()),
        actual: Some(actual.into()),
    }))
}

/// An emulator failure a case did not expect (the `?` of a case body): the card refused a call
/// that should have succeeded, or something it returned did not verify.
impl From<EmuError> for Stop {
    fn from(e: EmuError) -> Self {
        Stop::Fail(format!("unexpected failure: {e}"))
    }
}

/// The outcome of a call as a short, stable text: `accepted` or the error code's name.
fn outcome_of(e: &EmuError) -> String {
    match e {
        EmuError::Sks(e) => e.code().name().to_owned(),
        EmuError::Verify(_) => "emulator failure".to_owned(),
    }
}

/// Expects success; a refusal fails the case naming `what`.
pub fn ok<T, E: Into<EmuError>>(r: Result<T, E>, what: &str) -> Step<T> {
    r.map_err(|e| {
        let e = e.into();
        observed(
            format!("{what}: unexpected failure: {e}"),
            "success",
            outcome_of(&e),
        )
    })
}

/// Expects the card to refuse with exactly `code`.
pub fn expect_code<T, E: Into<EmuError>>(
    r: Result<T, E>,
    code: SksErrorCode,
    what: &str,
) -> Step<SksError> {
    match r.map_err(Into::into) {
        Ok(_) => Err(observed(
            format!("{what}: accepted; expected {}", code.name()),
            code.name(),
            "accepted",
        )),
        Err(EmuError::Sks(e)) if e.code() == code => Ok(e),
        Err(EmuError::Sks(e)) => Err(observed(
            format!(
                "{what}: wrong error code {} ({}); expected {}",
                e.code().name(),
                e.message(),
                code.name()
            ),
            code.name(),
            e.code().name(),
        )),
        Err(EmuError::Verify(m)) => Err(observed(
            format!(
                "{what}: expected {}, but the emulator failed: {m}",
                code.name()
            ),
            code.name(),
            "emulator failure",
        )),
    }
}

/// Expects the card to refuse with one of `codes`.
pub fn expect_one_of<T, E: Into<EmuError>>(
    r: Result<T, E>,
    codes: &[SksErrorCode],
    what: &str,
) -> Step<SksError> {
    let expected = || {
        codes
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(" or ")
    };
    match r.map_err(Into::into) {
        Ok(_) => Err(observed(
            format!("{what}: accepted; expected one of {codes:?}"),
            expected(),
            "accepted",
        )),
        Err(EmuError::Sks(e)) if codes.contains(&e.code()) => Ok(e),
        Err(e) => Err(observed(
            format!("{what}: {e}; expected one of {codes:?}"),
            expected(),
            outcome_of(&e),
        )),
    }
}

/// Expects any refusal.
pub fn expect_refused<T, E: Into<EmuError>>(r: Result<T, E>, what: &str) -> Step<SksError> {
    match r.map_err(Into::into) {
        Ok(_) => Err(observed(
            format!("{what}: accepted; expected a refusal"),
            "a refusal",
            "accepted",
        )),
        Err(EmuError::Sks(e)) => Ok(e),
        Err(EmuError::Verify(m)) => Err(observed(
            format!("{what}: emulator failure: {m}"),
            "a refusal",
            "emulator failure",
        )),
    }
}

/// All sessions in one state.
pub fn sessions(
    sks: &mut dyn SecureKeyStore,
    open: bool,
) -> Step<Vec<EnumeratedProvisioningSession>> {
    let mut out = Vec::new();
    let mut h = ProvisioningHandle::NONE;
    for _ in 0..MAX_ENUMERATION {
        match ok(
            sks.enumerate_provisioning_sessions(h, open),
            "enumerateProvisioningSessions",
        )? {
            Some(s) => {
                if s.provisioning_handle == h
                    || out.iter().any(|x: &EnumeratedProvisioningSession| {
                        x.provisioning_handle == s.provisioning_handle
                    })
                {
                    return Err(Stop::fail("enumerateProvisioningSessions loops"));
                }
                h = s.provisioning_handle;
                out.push(s);
            }
            None => return Ok(out),
        }
    }
    Err(Stop::fail("enumerateProvisioningSessions does not end"))
}

/// All enumerated keys.
pub fn keys(sks: &mut dyn SecureKeyStore) -> Step<Vec<EnumeratedKey>> {
    let mut out = Vec::new();
    let mut h = KeyHandle::NONE;
    for _ in 0..MAX_ENUMERATION {
        match ok(sks.enumerate_keys(h), "enumerateKeys")? {
            Some(k) => {
                if k.key_handle == h
                    || out
                        .iter()
                        .any(|x: &EnumeratedKey| x.key_handle == k.key_handle)
                {
                    return Err(Stop::fail("enumerateKeys loops"));
                }
                h = k.key_handle;
                out.push(k);
            }
            None => return Ok(out),
        }
    }
    Err(Stop::fail("enumerateKeys does not end"))
}

/// The observable state of the card: open sessions, closed sessions, keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Handles of open sessions.
    pub open: Vec<ProvisioningHandle>,
    /// Closed sessions.
    pub closed: Vec<EnumeratedProvisioningSession>,
    /// Keys of closed sessions.
    pub keys: Vec<EnumeratedKey>,
}

impl Snapshot {
    /// Takes a snapshot.
    pub fn take(sks: &mut dyn SecureKeyStore) -> Step<Self> {
        Ok(Self {
            open: sessions(sks, true)?
                .into_iter()
                .map(|s| s.provisioning_handle)
                .collect(),
            closed: sessions(sks, false)?,
            keys: keys(sks)?,
        })
    }

    /// Expects the card to show exactly this state again (no trace of what happened since).
    pub fn expect_unchanged(&self, sks: &mut dyn SecureKeyStore, what: &str) -> Step {
        let now = Self::take(sks)?;
        if now.open != self.open {
            return Err(Stop::Fail(format!(
                "{what}: open sessions changed: before {:?}, after {:?}",
                self.open, now.open
            )));
        }
        if now.closed != self.closed {
            return Err(Stop::Fail(format!(
                "{what}: closed sessions changed ({} before, {} after)",
                self.closed.len(),
                now.closed.len()
            )));
        }
        if now.keys != self.keys {
            return Err(Stop::Fail(format!(
                "{what}: enumerateKeys changed: before {:?}, after {:?}",
                self.keys.iter().map(|k| k.key_handle.0).collect::<Vec<_>>(),
                now.keys.iter().map(|k| k.key_handle.0).collect::<Vec<_>>()
            )));
        }
        Ok(())
    }
}

/// Expects the open session `h` to be gone (torn down): it is not enumerated as open, and a
/// further call on it fails with `ERROR_NO_SESSION`.
pub fn expect_session_gone(
    sks: &mut dyn SecureKeyStore,
    h: ProvisioningHandle,
    what: &str,
) -> Step {
    let open = sessions(sks, true)?;
    if open.iter().any(|s| s.provisioning_handle == h) {
        return Err(observed(
            format!("{what}: session {h} still open after a fatal error (no teardown)"),
            "session torn down",
            "session still open",
        ));
    }
    expect_code(
        sks.abort_provisioning_session(h),
        SksErrorCode::NoSession,
        &format!("{what}: abortProvisioningSession on the torn-down session"),
    )?;
    Ok(())
}

/// Expects the open session `h` to be still open.
pub fn expect_session_open(
    sks: &mut dyn SecureKeyStore,
    h: ProvisioningHandle,
    what: &str,
) -> Step {
    let open = sessions(sks, true)?;
    ensure(open.iter().any(|s| s.provisioning_handle == h), || {
        format!("{what}: session {h} is no longer open")
    })
}

/// Expects the key to be enumerated.
pub fn expect_key_listed(sks: &mut dyn SecureKeyStore, k: KeyHandle, what: &str) -> Step {
    let ks = keys(sks)?;
    ensure(ks.iter().any(|e| e.key_handle == k), || {
        format!("{what}: key {k} is not enumerated")
    })
}

/// Expects the key not to be enumerated.
pub fn expect_key_not_listed(sks: &mut dyn SecureKeyStore, k: KeyHandle, what: &str) -> Step {
    let ks = keys(sks)?;
    ensure(!ks.iter().any(|e| e.key_handle == k), || {
        format!("{what}: key {k} is enumerated")
    })
}

impl From<SksError> for Stop {
    fn from(e: SksError) -> Self {
        Stop::Fail(format!("unexpected card error: {e}"))
    }
}
