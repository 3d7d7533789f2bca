//! The oracle: properties checked after every session from the backend's [`SessionFacts`]
//! (issue 13, point 5). A violated property fails the run with the seed, the event and a
//! minimal transcript (the violating session's lines, re-run from the seed).

use serde::Serialize;

use crate::backend::{AttackOutcome, Cause, SessionFacts, SessionSpec};

/// The properties, by name.
pub const PROPERTIES: [(&str, &str); 8] = [
    (
        "keys_attested",
        "every key an issuer recorded was created in an attested session on a card whose chain validated",
    ),
    (
        "no_secret_in_clear",
        "no secret (PIN, PUK, imported key, session key) appears in clear to the middleware, the network or an attacker",
    ),
    (
        "failed_leaves_nothing",
        "an aborted or failed session leaves no key on the card and no issuance at the issuer",
    ),
    (
        "completed_keeps_keys",
        "a completed session has its keys both on the card and at the issuer",
    ),
    (
        "no_lost_issuance",
        "no completed issuance is lost across issuer crashes",
    ),
    ("mac_counters_rise", "MAC counters only rise"),
    (
        "attacks_rejected_or_harmless",
        "every attack is rejected or harmless, and a rejected one is reported",
    ),
    (
        "privacy_hides_device",
        "privacy mode leaks no device identifier to the issuer",
    ),
];

/// A broken property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Property name (from [`PROPERTIES`]).
    pub property: &'static str,
    /// What was observed.
    pub detail: String,
    /// Session index.
    pub session: u64,
    /// Virtual time (ns) of the session's end event.
    pub vtime: u64,
    /// Sequence number of that event in the run.
    pub event: u64,
}

/// Checks one session; the first broken property, if any. `card_closed`: the middleware
/// completed the finalization step (the card's `closeProvisioningSession` ran), after which
/// keys on the card of a session the issuer never recorded are *orphaned* (a protocol limit,
/// counted in the metrics), not a violation.
pub fn check(
    spec: &SessionSpec,
    f: &SessionFacts,
    card_closed: bool,
) -> Option<(&'static str, String)> {
    if f.keys_attested < f.keys_at_issuer {
        return Some((
            "keys_attested",
            format!(
                "{} of {} keys recorded by the issuer were not attested",
                f.keys_at_issuer - f.keys_attested,
                f.keys_at_issuer
            ),
        ));
    }
    let s = f.secrets_seen;
    if s.middleware || s.network || s.attacker {
        return Some((
            "no_secret_in_clear",
            format!(
                "secret seen in clear by{}{}{}",
                if s.middleware { " middleware" } else { "" },
                if s.network { " network" } else { "" },
                if s.attacker { " attacker" } else { "" }
            ),
        ));
    }
    if f.cause != Cause::Completed
        && ((f.keys_on_card > 0 && !card_closed) || f.issuance_recorded || f.keys_at_issuer > 0)
    {
        return Some((
            "failed_leaves_nothing",
            format!(
                "session ended with {} but left {} keys on the card, {} at the issuer (issuance recorded: {})",
                f.cause.name(),
                f.keys_on_card,
                f.keys_at_issuer,
                f.issuance_recorded
            ),
        ));
    }
    if f.cause == Cause::Completed
        && (!f.issuance_recorded
            || f.keys_on_card != spec.keys()
            || f.keys_at_issuer != spec.keys())
        && !f.issuance_lost
    {
        return Some((
            "completed_keeps_keys",
            format!(
                "completed session: {} keys on the card, {} at the issuer, {} asked for (issuance recorded: {})",
                f.keys_on_card,
                f.keys_at_issuer,
                spec.keys(),
                f.issuance_recorded
            ),
        ));
    }
    if f.issuance_lost {
        return Some((
            "no_lost_issuance",
            "a completed issuance was lost across an issuer restart".into(),
        ));
    }
    if !f.mac_counters_monotonic {
        return Some((
            "mac_counters_rise",
            "a MAC counter went down or repeated".into(),
        ));
    }
    // Before the attack check: a downgrade that went through is named by what it broke.
    if spec.privacy && f.device_id_visible {
        return Some((
            "privacy_hides_device",
            "the issuer saw a device identifier in privacy mode".into(),
        ));
    }
    if let Some(kind) = f.attack {
        if f.attack_outcome == AttackOutcome::Succeeded {
            return Some((
                "attacks_rejected_or_harmless",
                format!("attack {} succeeded", kind.name()),
            ));
        }
        if f.attack_outcome == AttackOutcome::Rejected && !f.attack_reported {
            return Some((
                "attacks_rejected_or_harmless",
                format!(
                    "attack {} was rejected silently (not reported)",
                    kind.name()
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{AttackKind, CardClass, SecretsSeen};
    use airtight_bindings::ApduLimits;

    fn spec() -> SessionSpec {
        SessionSpec {
            index: 0,
            card: 0,
            issuer: 0,
            card_profile: 0,
            card_class: CardClass::JavaCard,
            limits: ApduLimits::SHORT,
            ec_keys: 1,
            rsa_keys: 0,
            pin: true,
            puk: false,
            discovery: false,
            privacy: false,
            import_symmetric: false,
            start_unix: crate::backend::UnixTime::EPOCH,
        }
    }

    fn good() -> SessionFacts {
        SessionFacts {
            keys_at_issuer: 1,
            keys_attested: 1,
            keys_on_card: 1,
            issuance_recorded: true,
            device_id_visible: true,
            ..SessionFacts::default()
        }
    }

    /// Each property fails on facts that break exactly it, and only then.
    #[test]
    fn every_property_can_fail() {
        assert_eq!(check(&spec(), &good(), false), None);
        // Keys left by a session the card closed but the issuer never recorded: orphaned.
        let orphan = SessionFacts {
            cause: Cause::Timeout,
            keys_on_card: 1,
            ..SessionFacts::default()
        };
        assert_eq!(check(&spec(), &orphan, true), None);
        let mut cases: Vec<(&str, SessionFacts, SessionSpec)> = Vec::new();
        let mut f = good();
        f.keys_attested = 0;
        cases.push(("keys_attested", f, spec()));
        let mut f = good();
        f.secrets_seen = SecretsSeen {
            network: true,
            ..SecretsSeen::default()
        };
        cases.push(("no_secret_in_clear", f, spec()));
        let f = SessionFacts {
            cause: Cause::CardRemoved,
            keys_on_card: 1,
            ..SessionFacts::default()
        };
        cases.push(("failed_leaves_nothing", f, spec()));
        let mut f = good();
        f.keys_on_card = 0;
        cases.push(("completed_keeps_keys", f, spec()));
        let mut f = good();
        f.issuance_lost = true;
        cases.push(("no_lost_issuance", f, spec()));
        let mut f = good();
        f.mac_counters_monotonic = false;
        cases.push(("mac_counters_rise", f, spec()));
        let mut f = good();
        f.attack = Some(AttackKind::Tamper);
        f.attack_outcome = AttackOutcome::Succeeded;
        cases.push(("attacks_rejected_or_harmless", f, spec()));
        let mut f = good();
        f.attack = Some(AttackKind::Tamper);
        f.attack_outcome = AttackOutcome::Rejected;
        cases.push(("attacks_rejected_or_harmless", f, spec()));
        let mut s = spec();
        s.privacy = true;
        cases.push(("privacy_hides_device", good(), s));
        for (name, f, s) in cases {
            assert_eq!(check(&s, &f, false).map(|v| v.0), Some(name));
        }
        assert!(PROPERTIES.len() == 8);
    }
}
