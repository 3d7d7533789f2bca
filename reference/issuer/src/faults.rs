//! Deliberate faults, for the harness self-test only: an issuer built with the `faults` feature
//! can be told to skip one of its checks, and the harness must then fail at least one case.
//! Without the feature the set cannot be filled and every check always runs.

/// One skipped check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IssuerFault {
    /// Accept any session attestation ([CRY-ATT-005]).
    AcceptBadSessionAttestation,
    /// Accept any key attestation ([KG2-KCR-003]).
    AcceptBadKeyAttestation,
    /// Accept any close attestation ([KG2-ISS-003]).
    AcceptBadCloseAttestation,
    /// Follow the response's mode instead of the requested one: a missing `deviceId` is
    /// verified as privacy mode, a present one as E2ES mode ([KG2-IMP-001], [CRY-ATT-011]).
    AcceptPrivacyDowngrade,
    /// Skip the device certificate path validation ([KG2-IMP-002]).
    AcceptUntrustedDevice,
    /// Skip the `serverTime` echo comparison ([KG2-IMP-007]).
    IgnoreServerTimeEcho,
    /// Skip the `clientTime` window ([KG2-IMP-005]).
    IgnoreClientTime,
    /// Skip the session lifetime ([KG2-IMP-006]).
    IgnoreLifetime,
    /// Skip the `serverSessionId` / `clientSessionId` comparison ([KG2-FLW-002]).
    IgnoreSessionIds,
    /// Keep a session open after a refused message ([KG2-ISS-006]).
    KeepFailedSessionsOpen,
    /// Skip the body size limit of the engine and the HTTP layer ([KG2-IMP-009]).
    NoBodyLimit,
    /// Skip the key order and completeness check ([KG2-KCR-001]).
    AcceptAnyKeyOrder,
    /// Skip the check of the capability answers against the query ([KG2-IRS-004]).
    AcceptAnyCapabilities,
    /// Skip the check that a message is the one the session expects next ([KG2-FLW-001]).
    IgnoreMessageOrder,
    /// The landing page carries no `keygen2:` invocation ([BRW-ISS-001]).
    LandingWithoutInvocation,
    /// The cancel URL shows its page but leaves the session open ([BRW-ISS-002]).
    CancelKeepsSession,
    /// Serve connections without the header-read timeout: a request head trickled byte by
    /// byte (slowloris) holds its connection for as long as the client likes ([KG2-IMP-011]).
    NoHeaderTimeout,
}

impl IssuerFault {
    /// Every fault of the KeyGen2 endpoint (the issuer catalog finds each).
    pub const ALL: [IssuerFault; 14] = [
        IssuerFault::AcceptBadSessionAttestation,
        IssuerFault::AcceptBadKeyAttestation,
        IssuerFault::AcceptBadCloseAttestation,
        IssuerFault::AcceptPrivacyDowngrade,
        IssuerFault::AcceptUntrustedDevice,
        IssuerFault::IgnoreServerTimeEcho,
        IssuerFault::IgnoreClientTime,
        IssuerFault::IgnoreLifetime,
        IssuerFault::IgnoreSessionIds,
        IssuerFault::KeepFailedSessionsOpen,
        IssuerFault::NoBodyLimit,
        IssuerFault::AcceptAnyKeyOrder,
        IssuerFault::AcceptAnyCapabilities,
        IssuerFault::IgnoreMessageOrder,
    ];

    /// The faults of the web flow (the `--browser` cases find each).
    pub const WEB: [IssuerFault; 2] = [
        IssuerFault::LandingWithoutInvocation,
        IssuerFault::CancelKeepsSession,
    ];

    /// The faults the hostile load finds (`airtight harness issuer --hostile`), besides
    /// [`IssuerFault::NoBodyLimit`] of [`IssuerFault::ALL`].
    pub const HOSTILE: [IssuerFault; 1] = [IssuerFault::NoHeaderTimeout];
}

/// The faults an issuer has (always empty without the `faults` feature).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    #[cfg(feature = "faults")]
    set: std::collections::BTreeSet<IssuerFault>,
}

impl Faults {
    /// True if the fault is on.
    #[inline]
    pub fn has(&self, f: IssuerFault) -> bool {
        #[cfg(feature = "faults")]
        {
            self.set.contains(&f)
        }
        #[cfg(not(feature = "faults"))]
        {
            let _ = f;
            false
        }
    }

    /// A set with one fault (test builds only).
    #[cfg(feature = "faults")]
    pub fn one(f: IssuerFault) -> Self {
        let mut set = std::collections::BTreeSet::new();
        set.insert(f);
        Faults { set }
    }

    /// A set with the given faults (test builds only).
    #[cfg(feature = "faults")]
    pub fn of(faults: impl IntoIterator<Item = IssuerFault>) -> Self {
        Faults {
            set: faults.into_iter().collect(),
        }
    }
}
