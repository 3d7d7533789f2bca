//! What the target configuration excuses: the verdict of a case from its outcome, its level
//! and the configuration's expected failures and known divergences. Each excuse names one
//! case exactly and may pin the actual outcome it excuses; a failure with another outcome is a
//! failure (a new regression in an excused case is not hidden). Prefixes only disable cases
//! (`[disabled]`, handled by the runner).

use crate::config::{Excuse, TargetConfig};
use crate::model::{Failure, Level, Outcome, Verdict};

/// The verdict of one outcome under `config`, and its message.
pub fn verdict(
    config: &TargetConfig,
    id: &str,
    level: Level,
    outcome: &Outcome,
) -> (Verdict, Option<String>) {
    let text = match outcome {
        Outcome::Pass => None,
        Outcome::Fail(f) => Some(f.message.clone()),
        Outcome::NotApplicable(m) | Outcome::Quirk(m) => Some(m.clone()),
    };
    let excuses = [
        (
            config.expected_failures.get(id).cloned(),
            Verdict::ExpectedFailure,
            "expected failure",
        ),
        (
            config
                .known_divergences
                .get(id)
                .cloned()
                .map(Excuse::Pinned),
            Verdict::KnownDivergence,
            "known divergence",
        ),
    ];
    for (excuse, excused, what) in excuses {
        let Some(excuse) = excuse else { continue };
        let excuse = &excuse;
        return match outcome {
            Outcome::NotApplicable(_) => (Verdict::NotApplicable, text),
            Outcome::Fail(f) if pins(excuse, f) => (
                excused,
                Some(format!("{} ({what}: {})", f.message, excuse.reason())),
            ),
            Outcome::Fail(f) => (
                Verdict::Fail,
                Some(format!(
                    "{} (configured as {what} with the outcome {:?}, but the outcome was {:?}: \
                     a different failure is not excused)",
                    f.message,
                    excuse.actual().unwrap_or_default(),
                    f.observed()
                )),
            ),
            Outcome::Pass | Outcome::Quirk(_) => (
                Verdict::UnexpectedPass,
                Some(format!(
                    "passed, but configured as {what}: {}",
                    excuse.reason()
                )),
            ),
        };
    }
    match outcome {
        Outcome::Pass => (Verdict::Pass, None),
        Outcome::Fail(_) if level == Level::Should && !config.policy.should_fails_run => {
            (Verdict::Warning, text)
        }
        Outcome::Fail(_) => (Verdict::Fail, text),
        Outcome::NotApplicable(_) => (Verdict::NotApplicable, text),
        Outcome::Quirk(_) => (Verdict::Quirk, text),
    }
}

/// True if `excuse` excuses the failure `f`: it pins nothing (expected failures only) or pins
/// exactly what was observed.
fn pins(excuse: &Excuse, f: &Failure) -> bool {
    excuse.actual().is_none_or(|a| a == f.observed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pinned;

    fn fail(actual: &str) -> Outcome {
        Outcome::Fail(Failure {
            message: format!("x: expected ERROR_MAC; got {actual}"),
            expected: Some("ERROR_MAC".into()),
            actual: Some(actual.into()),
        })
    }

    #[test]
    fn excuses_pin_the_actual_outcome_and_name_one_case() {
        let mut c = TargetConfig::default();
        c.expected_failures
            .insert("a.x".into(), Excuse::Reason("bug 1".into()));
        c.known_divergences.insert(
            "b.y".into(),
            Pinned {
                actual: "accepted".into(),
                reason: "no clock".into(),
            },
        );
        let na = Outcome::NotApplicable("n/a".into());
        let m = Level::Must;
        assert_eq!(
            verdict(&c, "a.x", m, &fail("x")).0,
            Verdict::ExpectedFailure
        );
        assert_eq!(
            verdict(&c, "a.x", m, &Outcome::Pass).0,
            Verdict::UnexpectedPass
        );
        assert_eq!(verdict(&c, "a.x", m, &na).0, Verdict::NotApplicable);
        assert_eq!(
            verdict(&c, "b.y", m, &fail("accepted")).0,
            Verdict::KnownDivergence
        );
        // Another failure of the excused case is not hidden.
        let (v, msg) = verdict(&c, "b.y", m, &fail("ERROR_ACCESS"));
        assert_eq!(v, Verdict::Fail);
        assert!(msg.unwrap_or_default().contains("not excused"));
        assert_eq!(
            verdict(&c, "b.y", m, &Outcome::Pass).0,
            Verdict::UnexpectedPass
        );
        // No prefixes: "b." excuses nothing.
        c.known_divergences.insert(
            "c.".into(),
            Pinned {
                actual: "accepted".into(),
                reason: "r".into(),
            },
        );
        assert_eq!(verdict(&c, "c.z", m, &fail("accepted")).0, Verdict::Fail);
        assert_eq!(verdict(&c, "c", m, &Outcome::Pass), (Verdict::Pass, None));
        assert_eq!(
            verdict(&c, "c", m, &Outcome::Quirk("odd".into())).0,
            Verdict::Quirk
        );
        assert!(
            verdict(&c, "a.x", m, &fail("x"))
                .1
                .unwrap_or_default()
                .contains("bug 1")
        );
        assert!(Verdict::UnexpectedPass.fails_run() && Verdict::Fail.fails_run());
        assert!(!Verdict::KnownDivergence.fails_run() && !Verdict::ExpectedFailure.fails_run());
    }

    #[test]
    fn should_failures_are_warnings_unless_the_policy_says_otherwise() {
        let mut c = TargetConfig::default();
        assert_eq!(
            verdict(&c, "s", Level::Should, &fail("x")).0,
            Verdict::Warning
        );
        assert!(!Verdict::Warning.fails_run());
        c.policy.should_fails_run = true;
        assert_eq!(verdict(&c, "s", Level::Should, &fail("x")).0, Verdict::Fail);
    }
}
