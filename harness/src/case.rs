//! The case model: a [`Case`] has a stable id, the spec tags it checks, a level, a one-line
//! description, an applicability predicate over the [`TargetProfile`] and a run function that
//! returns an [`Outcome`]. The runner turns outcomes into [`Verdict`]s using the target
//! configuration (expected failures, known divergences, disabled cases).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::ctx::Ctx;

/// The requirement level of a case (the level of the rule it checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// A MUST rule: a failure fails the run.
    Must,
    /// A SHOULD rule: a failure fails the run too, unless configured as a divergence.
    Should,
}

/// What a case's run function reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The rule holds.
    Pass,
    /// The rule is broken; the text says how.
    Fail(String),
    /// The case cannot run against this target (a feature it lacks), discovered at run time.
    NotApplicable(String),
    /// The rule holds, with a noteworthy observation (recorded quirk).
    Quirk(String),
}

/// Why a case stopped early (the `?`-able form of a non-pass [`Outcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The rule is broken.
    Fail(String),
    /// The case does not apply.
    NotApplicable(String),
}

impl Stop {
    /// A failure with a message.
    pub fn fail(msg: impl Into<String>) -> Self {
        Stop::Fail(msg.into())
    }
}

/// The result type of case bodies: `Ok(())` passes.
pub type Step<T = ()> = Result<T, Stop>;

impl From<Step> for Outcome {
    fn from(r: Step) -> Self {
        match r {
            Ok(()) => Outcome::Pass,
            Err(Stop::Fail(m)) => Outcome::Fail(m),
            Err(Stop::NotApplicable(m)) => Outcome::NotApplicable(m),
        }
    }
}

/// The final verdict of one case in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The rule holds.
    Pass,
    /// The rule is broken (fails the run).
    Fail,
    /// The case does not apply to the target, or was disabled by the configuration.
    NotApplicable,
    /// The case failed, as the configuration said it would (a known bug of the target).
    ExpectedFailure,
    /// The case passed although the configuration expected a failure (fails the run: the
    /// configuration is stale).
    UnexpectedPass,
    /// The case failed where the target deliberately diverges (reason in the configuration).
    KnownDivergence,
    /// The case passed with a recorded quirk.
    Quirk,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 7] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::NotApplicable,
        Verdict::ExpectedFailure,
        Verdict::UnexpectedPass,
        Verdict::KnownDivergence,
        Verdict::Quirk,
    ];

    /// True for the verdicts that fail the run.
    pub const fn fails_run(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::UnexpectedPass)
    }

    /// The kebab-case name used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotApplicable => "not-applicable",
            Verdict::ExpectedFailure => "expected-failure",
            Verdict::UnexpectedPass => "unexpected-pass",
            Verdict::KnownDivergence => "known-divergence",
            Verdict::Quirk => "quirk",
        }
    }
}

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

/// A case body.
pub type RunFn = Box<dyn Fn(&mut Ctx<'_>) -> Outcome + Send + Sync>;
/// An applicability predicate.
pub type AppliesFn = Box<dyn Fn(&TargetProfile) -> bool + Send + Sync>;

/// One conformance case.
pub struct Case {
    /// Stable id, dotted, e.g. `card.mac.create-key-entry.wrong-mac`.
    pub id: String,
    /// The spec tags the case checks.
    pub tags: Vec<&'static str>,
    /// MUST or SHOULD.
    pub level: Level,
    /// One line.
    pub description: String,
    /// True when the case needs `destructive = true` in the configuration.
    pub destructive: bool,
    /// Whether the case applies to the target.
    pub applies: AppliesFn,
    /// The body.
    pub run: RunFn,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("tags", &self.tags)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// A MUST case that always applies.
    pub fn must(
        id: impl Into<String>,
        tags: &[&'static str],
        description: impl Into<String>,
        run: impl Fn(&mut Ctx<'_>) -> Step + Send + Sync + 'static,
    ) -> Self {
        Self {
            id: id.into(),
            tags: tags.to_vec(),
            level: Level::Must,
            description: description.into(),
            destructive: false,
            applies: Box::new(|_| true),
            run: Box::new(move |ctx| run(ctx).into()),
        }
    }

    /// A SHOULD case that always applies.
    pub fn should(
        id: impl Into<String>,
        tags: &[&'static str],
        description: impl Into<String>,
        run: impl Fn(&mut Ctx<'_>) -> Step + Send + Sync + 'static,
    ) -> Self {
        let mut c = Self::must(id, tags, description, run);
        c.level = Level::Should;
        c
    }

    /// Restricts the case to targets for which `f` holds (and every earlier restriction).
    pub fn when(mut self, f: impl Fn(&TargetProfile) -> bool + Send + Sync + 'static) -> Self {
        let before = std::mem::replace(&mut self.applies, Box::new(|_| true));
        self.applies = Box::new(move |p| before(p) && f(p));
        self
    }

    /// Restricts the case to targets that list the algorithm.
    pub fn needs_alg(self, uri: &'static str) -> Self {
        self.when(move |p| p.supports(uri))
    }

    /// Restricts the case to targets that declare the feature.
    pub fn needs(self, feature: &'static str) -> Self {
        self.when(move |p| p.has(feature))
    }

    /// Marks the case destructive.
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }

    /// A body that returns an [`Outcome`] directly (for quirks).
    pub fn with_outcome(
        mut self,
        run: impl Fn(&mut Ctx<'_>) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        self.run = Box::new(run);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_accumulate() {
        let c = Case::must("card.x", &["SKS-DEV-001"], "x", |_| Ok(()))
            .needs("kmk")
            .needs("privacy");
        let mut p = TargetProfile::default();
        p.features.insert("privacy".into());
        assert!(!(c.applies)(&p));
        p.features.insert("kmk".into());
        assert!((c.applies)(&p));
    }
}
