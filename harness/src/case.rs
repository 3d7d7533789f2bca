//! The card suite's case model: a [`Case`] (a [`crate::model::Case`] of the [`Card`] suite)
//! has a stable id, the spec tags it checks, a level, a one-line description, an
//! applicability predicate over the [`TargetProfile`] (naming the missing feature or
//! algorithm) and a run function that returns an [`Outcome`]. The runner turns outcomes into
//! [`Verdict`]s using the target configuration ([`crate::expect`]).

pub use crate::ctx::TargetProfile;
pub use crate::model::{Failure, Level, Outcome, Step, Stop, Verdict};

use crate::ctx::Ctx;
use crate::model::Suite;

/// The card suite (cases run against a [`SecureKeyStore`](airtight_proto::sks::SecureKeyStore)).
#[derive(Debug, Clone, Copy)]
pub struct Card;

impl Suite for Card {
    type Profile = TargetProfile;
    type Ctx<'a> = Ctx<'a>;
    const SANITY_FIRST: &'static str = "card.sanity.first";
    const SANITY_LAST: &'static str = "card.sanity.last";
    const NOT_APPLICABLE: &'static str =
        "the target does not have what this case needs (a condition on its device information)";
}

/// One card conformance case.
pub type Case = crate::model::Case<Card>;

impl Case {
    /// Restricts the case to targets that list the algorithm.
    pub fn needs_alg(self, uri: &'static str) -> Self {
        self.unless(move |p| {
            (!p.supports(uri)).then(|| {
                format!("needs the algorithm {uri}, which the target's supportedAlgorithms lack")
            })
        })
    }

    /// Restricts the case to targets that declare the feature.
    pub fn needs(self, feature: &'static str) -> Self {
        self.unless(move |p| {
            (!p.has(feature)).then(|| {
                format!(
                    "needs the optional feature \"{feature}\", which the target does not declare \
                     (--feature {feature} or [features] declared)"
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_accumulate_and_name_what_is_missing() {
        let c = Case::must("card.x", &["SKS-DEV-001"], "x", |_| Ok(()))
            .needs("kmk")
            .needs("privacy");
        let mut p = TargetProfile::default();
        p.features.insert("privacy".into());
        let why = (c.applies)(&p).expect_err("kmk missing");
        assert!(why.contains("\"kmk\""), "{why}");
        p.features.insert("kmk".into());
        assert!((c.applies)(&p).is_ok());
        let a = Case::must("card.y", &["SKS-DEV-001"], "y", |_| Ok(())).needs_alg("urn:x");
        assert!((a.applies)(&p).expect_err("alg").contains("urn:x"));
    }
}
