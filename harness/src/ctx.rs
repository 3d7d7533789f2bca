//! [`Ctx`]: what a case body gets: the card under test (through the logging wrapper), the
//! target profile, a per-case seed and, where the target has one, a controllable clock.

use std::collections::BTreeSet;

use airtight_testkit::emulator::Issuer;
use serde::Serialize;

use crate::target::ClockControl;
use crate::wire::RecordingSks;

/// What the harness knows about the target before running cases: the declarations of the
/// configuration merged with `getDeviceInfo`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetProfile {
    /// A display name.
    pub name: String,
    /// The transport (`in-process`, `pcsc`, `shim`).
    pub transport: String,
    /// `supportedAlgorithms` of the device (plus declared ones; minus disabled ones).
    pub algorithms: BTreeSet<String>,
    /// Declared optional features (`privacy`, `kmk`, `clock`, `import-private-key`,
    /// `rsa-kmk`, ...).
    pub features: BTreeSet<String>,
    /// `devicePinSupport`.
    pub device_pin_support: bool,
    /// `biometricSupport`.
    pub biometric_support: bool,
    /// `cryptoDataSize`.
    pub crypto_data_size: u32,
    /// `extensionDataSize`.
    pub extension_data_size: u32,
    /// The configuration allows destructive cases.
    pub destructive: bool,
}

impl TargetProfile {
    /// True if the target lists the algorithm URI.
    pub fn supports(&self, uri: &str) -> bool {
        self.algorithms.contains(uri)
    }

    /// True if the target declares the feature.
    pub fn has(&self, feature: &str) -> bool {
        self.features.contains(feature)
    }
}

/// The context of one case run.
pub struct Ctx<'a> {
    /// The card under test; every call is logged.
    pub sks: &'a mut RecordingSks,
    /// What the target is and declares.
    pub profile: &'a TargetProfile,
    /// A seed unique to this case (stable across runs).
    pub seed: u64,
    /// The card clock, when the target lets the harness move it (in-process cards).
    pub clock: Option<&'a dyn ClockControl>,
    /// Notes the case wants in the report.
    pub notes: Vec<String>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    /// A fresh honest issuer emulator seeded for this case, with `clientTime` taken from the
    /// card's clock (or this machine's, for cards whose clock the harness cannot read).
    pub fn issuer(&self) -> Issuer {
        let mut is = Issuer::new(self.seed);
        is.client_time = self.client_time();
        is
    }

    /// The `n`-th independent issuer emulator of this case.
    pub fn issuer_n(&self, n: u64) -> Issuer {
        let mut is = Issuer::new(
            self.seed
                .wrapping_mul(31)
                .wrapping_add(n.wrapping_mul(0x9e37_79b9)),
        );
        is.client_time = self.client_time();
        is
    }

    /// The `clientTime` an honest middleware would send now.
    pub fn client_time(&self) -> u32 {
        let now = match self.clock {
            Some(c) => c.now(),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        u32::try_from(now).unwrap_or(u32::MAX)
    }

    /// Records a note.
    pub fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }
}
