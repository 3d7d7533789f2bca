//! The case model both suites share: levels, outcomes that keep what was observed
//! ([`Failure`]: expected and actual), verdicts, and [`Case<S>`], a case of a [`Suite`].
//!
//! Layering (no module below imports one above): `model` (this) → `expect` (what the
//! configuration excuses) → `run` (selection, seeds, progress, report) over a [`Suite`]; the
//! card suite (`case`, `ctx`, `runner`) and the issuer suite (`issuer`) implement it.

use serde::Serialize;

use crate::wire::WireEntry;

/// The requirement level of a case (the level of the rule it checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// A MUST rule: a failure fails the run.
    Must,
    /// A SHOULD rule: a failure is a warning, unless the target's policy makes it fail the run.
    Should,
}

/// A failure as observed: what the case expected and what the target did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The whole text (what was done, what was expected, what happened).
    pub message: String,
    /// What the rule requires, when the case states it apart (e.g. `ERROR_MAC`).
    pub expected: Option<String>,
    /// What the target did, when the case states it apart (e.g. `ERROR_ACCESS`, `accepted`).
    /// A known divergence pins this value; without it the message is what is pinned.
    pub actual: Option<String>,
}

impl Failure {
    /// A failure described in words only.
    pub fn text(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            expected: None,
            actual: None,
        }
    }

    /// The observed outcome a known divergence must pin: `actual`, or the message.
    pub fn observed(&self) -> &str {
        self.actual.as_deref().unwrap_or(&self.message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a case's run function reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The rule holds.
    Pass,
    /// The rule is broken: expected and actual.
    Fail(Failure),
    /// The case cannot run against this target (a feature it lacks), discovered at run time.
    NotApplicable(String),
    /// The rule holds, with a noteworthy observation (recorded quirk).
    Quirk(String),
}

/// Why a case stopped early (the `?`-able form of a non-pass [`Outcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The rule is broken; the text says how (expected and actual not told apart).
    Fail(String),
    /// The rule is broken: what was expected and what was observed.
    Mismatch(Box<Failure>),
    /// The case does not apply.
    NotApplicable(String),
}

impl Stop {
    /// A failure with a message.
    pub fn fail(msg: impl Into<String>) -> Self {
        Stop::Fail(msg.into())
    }

    /// A failure of `what`: `expected` was required, `actual` was observed.
    pub fn mismatch(
        what: impl std::fmt::Display,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        let (expected, actual) = (expected.into(), actual.into());
        Stop::Mismatch(Box::new(Failure {
            message: format!("{what}: expected {expected}; got {actual}"),
            expected: Some(expected),
            actual: Some(actual),
        }))
    }

    /// The same stop with its text prefixed (`prefix: text`), expected and actual kept.
    #[must_use]
    pub fn context(self, prefix: impl std::fmt::Display) -> Self {
        match self {
            Stop::Fail(m) => Stop::Fail(format!("{prefix}: {m}")),
            Stop::Mismatch(mut f) => {
                f.message = format!("{prefix}: {}", f.message);
                Stop::Mismatch(f)
            }
            Stop::NotApplicable(m) => Stop::NotApplicable(format!("{prefix}: {m}")),
        }
    }

    /// The failure, if this is one.
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Stop::Fail(m) => Some(Failure::text(m.clone())),
            Stop::Mismatch(f) => Some((**f).clone()),
            Stop::NotApplicable(_) => None,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Fail(m) | Stop::NotApplicable(m) => f.write_str(m),
            Stop::Mismatch(x) => f.write_str(&x.message),
        }
    }
}

/// The result type of case bodies: `Ok(())` passes.
pub type Step<T = ()> = Result<T, Stop>;

impl From<Step> for Outcome {
    fn from(r: Step) -> Self {
        match r {
            Ok(()) => Outcome::Pass,
            Err(Stop::Fail(m)) => Outcome::Fail(Failure::text(m)),
            Err(Stop::Mismatch(f)) => Outcome::Fail(*f),
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
    /// The case failed where the target deliberately diverges, with the outcome the
    /// configuration pins (reason in the configuration).
    KnownDivergence,
    /// The case passed with a recorded quirk.
    Quirk,
    /// A SHOULD rule is broken, or the device is weak (short RSA key, SHA-1, certificate out
    /// of its validity): reported, does not fail the run unless the target's policy says so.
    Warning,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 8] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Warning,
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
            Verdict::Warning => "warning",
        }
    }
}

/// What a suite's case run produced (before the configuration's discipline).
#[derive(Debug)]
pub struct CaseRun {
    /// The outcome.
    pub outcome: Outcome,
    /// The wire log.
    pub wire: Vec<WireEntry>,
    /// Notes of the case.
    pub notes: Vec<String>,
    /// What cleanup after the case could not remove.
    pub left_behind: Vec<String>,
}

impl CaseRun {
    /// A run with `outcome` and nothing logged.
    pub fn new(outcome: Outcome) -> Self {
        CaseRun {
            outcome,
            wire: Vec::new(),
            notes: Vec::new(),
            left_behind: Vec::new(),
        }
    }

    /// A run that could not start.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Outcome::Fail(Failure::text(message)))
    }
}

/// A kind of target the harness runs cases against (cards, issuers): the types its cases
/// see. The state of a run is a [`crate::run::Driver`] of the suite.
pub trait Suite: Sized + 'static {
    /// What the harness knows about the target before the cases.
    type Profile;
    /// What a case body gets.
    type Ctx<'a>;
    /// Id of the sanity case that runs first.
    const SANITY_FIRST: &'static str;
    /// Id of the sanity case that runs last.
    const SANITY_LAST: &'static str;
    /// Why a case whose predicate does not hold is not applicable (when it names no missing
    /// feature itself).
    const NOT_APPLICABLE: &'static str;
}

/// Runs a case body, a panic becoming a failure.
pub fn run_body<S: Suite>(case: &Case<S>, ctx: &mut S::Ctx<'_>) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(ctx)))
        .unwrap_or_else(|_| Outcome::Fail(Failure::text("the case panicked")))
}

/// A case body.
pub type RunFn<S> = Box<dyn for<'a> Fn(&mut <S as Suite>::Ctx<'a>) -> Outcome + Send + Sync>;
/// An applicability check: `Err(why not)` when the case does not apply.
pub type AppliesFn<S> = Box<dyn Fn(&<S as Suite>::Profile) -> Result<(), String> + Send + Sync>;

/// One conformance case of suite `S`.
pub struct Case<S: Suite> {
    /// Stable id, dotted, e.g. `card.mac.create-key-entry.wrong-mac`.
    pub id: String,
    /// The spec tags the case checks.
    pub tags: Vec<&'static str>,
    /// MUST or SHOULD.
    pub level: Level,
    /// One line.
    pub description: String,
    /// True when the case needs consent to destructive cases.
    pub destructive: bool,
    /// Whether the case applies to the target (`Err`: why not).
    pub applies: AppliesFn<S>,
    /// The body.
    pub run: RunFn<S>,
}

impl<S: Suite> std::fmt::Debug for Case<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("tags", &self.tags)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl<S: Suite> Case<S> {
    /// A MUST case that always applies.
    pub fn must(
        id: impl Into<String>,
        tags: &[&'static str],
        description: impl Into<String>,
        run: impl for<'a> Fn(&mut S::Ctx<'a>) -> Step + Send + Sync + 'static,
    ) -> Self {
        Self {
            id: id.into(),
            tags: tags.to_vec(),
            level: Level::Must,
            description: description.into(),
            destructive: false,
            applies: Box::new(|_| Ok(())),
            run: Box::new(move |ctx| run(ctx).into()),
        }
    }

    /// A SHOULD case that always applies.
    pub fn should(
        id: impl Into<String>,
        tags: &[&'static str],
        description: impl Into<String>,
        run: impl for<'a> Fn(&mut S::Ctx<'a>) -> Step + Send + Sync + 'static,
    ) -> Self {
        let mut c = Self::must(id, tags, description, run);
        c.level = Level::Should;
        c
    }

    /// Restricts the case to targets for which `f` holds (and every earlier restriction).
    pub fn when(self, f: impl Fn(&S::Profile) -> bool + Send + Sync + 'static) -> Self {
        self.unless(move |p| (!f(p)).then(|| S::NOT_APPLICABLE.to_owned()))
    }

    /// Restricts the case: `f` returns why the case does not apply to a target, if it does not.
    pub fn unless(
        mut self,
        f: impl Fn(&S::Profile) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        let before = std::mem::replace(&mut self.applies, Box::new(|_| Ok(())));
        self.applies = Box::new(move |p| {
            before(p)?;
            f(p).map_or(Ok(()), Err)
        });
        self
    }

    /// Marks the case destructive.
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }

    /// A body that returns an [`Outcome`] directly (for quirks).
    pub fn with_outcome(
        mut self,
        run: impl for<'a> Fn(&mut S::Ctx<'a>) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        self.run = Box::new(run);
        self
    }
}

/// What `--list` shows of a case (card and issuer cases alike).
pub trait Listed {
    /// Stable id.
    fn id(&self) -> &str;
    /// MUST or SHOULD.
    fn level(&self) -> Level;
    /// Spec tags.
    fn tags(&self) -> &[&'static str];
    /// One line.
    fn description(&self) -> &str;
}

impl<S: Suite> Listed for Case<S> {
    fn id(&self) -> &str {
        &self.id
    }
    fn level(&self) -> Level {
        self.level
    }
    fn tags(&self) -> &[&'static str] {
        &self.tags
    }
    fn description(&self) -> &str {
        &self.description
    }
}
