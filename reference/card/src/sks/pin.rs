//! PIN and PUK value rules (facts §4; `policies.md`): format, length, patterns and grouping.
//! The messages and codes are those of the Java `verifyPinPolicyCompliance` (`ERROR_OPTION`).

use airtight_proto::policy::{AppUsage, Grouping, PassphraseFormat, PatternRestriction};
use airtight_proto::sks::SksError;

use super::state::{KeyRecord, PinRecord};

/// Character classes found in a value (bytes, as the SKS works on bytes).
#[derive(Debug, Default, Clone, Copy)]
struct Classes {
    upper: bool,
    lower: bool,
    digit: bool,
    other: bool,
}

fn classes(v: &[u8]) -> Classes {
    let mut c = Classes::default();
    for b in v {
        match b {
            b'A'..=b'Z' => c.upper = true,
            b'a'..=b'z' => c.lower = true,
            b'0'..=b'9' => c.digit = true,
            _ => c.other = true,
        }
    }
    c
}

/// The PUK syntax rule: numeric allows 0-9, alphanumeric 0-9 and A-Z (facts §4).
pub(crate) fn check_puk_syntax(value: &[u8], format: PassphraseFormat) -> Result<(), SksError> {
    for &c in value {
        let digit = c.is_ascii_digit();
        let upper = c.is_ascii_uppercase();
        let bad = match format {
            PassphraseFormat::Numeric => !digit,
            PassphraseFormat::Alphanumeric => !digit && !upper,
            _ => false,
        };
        if bad {
            return Err(SksError::option("PUK syntax error"));
        }
    }
    Ok(())
}

/// True if the value is an ascending or descending run by 1 (1234, 9876).
fn is_sequence(v: &[u8]) -> bool {
    if v.len() < 2 {
        return false;
    }
    let step = v[1].wrapping_sub(v[0]);
    if step != 1 && step != 0xff {
        return false;
    }
    v.windows(2).all(|w| w[1] == w[0].wrapping_add(step))
}

/// Length, syntax and pattern checks of a PIN value against its policy.
pub(crate) fn check_pin_value(pin: &[u8], policy: &PinRecord) -> Result<(), SksError> {
    // length
    if pin.len() > usize::from(policy.max_length) || pin.len() < usize::from(policy.min_length) {
        return Err(SksError::option("PIN length error"));
    }
    let c = classes(pin);
    let format = policy.format();
    if (format == PassphraseFormat::Numeric && (c.lower || c.other || c.upper))
        || (format == PassphraseFormat::Alphanumeric && (c.lower || c.other))
    {
        return Err(SksError::option("PIN syntax error"));
    }
    let p = policy.patterns();
    if p.contains(PatternRestriction::MissingGroup)
        && (!c.upper || !c.digit || (format == PassphraseFormat::String && (!c.lower || !c.other)))
    {
        return Err(SksError::option("Missing character group in PIN"));
    }
    if p.contains(PatternRestriction::Sequence) && is_sequence(pin) {
        return Err(SksError::option("PIN must not be a sequence"));
    }
    if p.contains(PatternRestriction::Repeated) {
        let mut seen = [false; 256];
        for &b in pin {
            if seen[usize::from(b)] {
                return Err(SksError::option("Repeated PIN character"));
            }
            seen[usize::from(b)] = true;
        }
    }
    if p.contains(PatternRestriction::TwoInARow) || p.contains(PatternRestriction::ThreeInARow) {
        let max = if p.contains(PatternRestriction::TwoInARow) {
            2
        } else {
            3
        };
        let mut run = 1;
        for w in pin.windows(2) {
            if w[0] == w[1] {
                run += 1;
                if run == max {
                    return Err(SksError::option(format!(
                        "PIN with {max} or more of same the character in a row"
                    )));
                }
            } else {
                run = 1;
            }
        }
    }
    Ok(())
}

fn is_signature(a: AppUsage) -> bool {
    a == AppUsage::Signature
}

/// The grouping rule between a new PIN (for a key of `app_usage`) and the PINs of the other keys
/// of the same policy (facts §4; Java `verifyPinPolicyCompliance`). With `forced_setter`
/// (changePin/setPin) keys whose PIN differs from the new one are skipped.
pub(crate) fn check_grouping<'a>(
    pin: &[u8],
    policy: &PinRecord,
    app_usage: AppUsage,
    others: impl Iterator<Item = &'a KeyRecord>,
    forced_setter: bool,
) -> Result<(), SksError> {
    for k in others {
        let equal = k.pin_value.as_deref() == Some(pin);
        if forced_setter && !equal {
            continue;
        }
        match policy.grouping() {
            Grouping::Shared if !equal => {
                return Err(SksError::option(
                    "Grouping = \"shared\" requires identical PINs",
                ));
            }
            Grouping::Unique if equal ^ (app_usage == k.app_usage()) => {
                return Err(SksError::option("Grouping = \"unique\" PIN error"));
            }
            Grouping::SignaturePlusStandard
                if (is_signature(app_usage) ^ is_signature(k.app_usage())) ^ !equal =>
            {
                return Err(SksError::option(
                    "Grouping = \"signature+standard\" PIN error",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// True if `other` shares the PIN (value and error counter) of a key with `app_usage` under
/// `grouping` (Java `getPinSynchronizedKeys`).
pub(crate) fn synchronized(grouping: Grouping, app_usage: AppUsage, other: AppUsage) -> bool {
    match grouping {
        Grouping::None => false,
        Grouping::Shared => true,
        Grouping::SignaturePlusStandard => is_signature(app_usage) == is_signature(other),
        Grouping::Unique => app_usage == other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airtight_proto::policy::PatternRestrictions;

    fn policy(format: PassphraseFormat, patterns: &[PatternRestriction]) -> PinRecord {
        PinRecord {
            owner: 1,
            id: "p".into(),
            puk_policy: None,
            user_defined: true,
            user_modifiable: true,
            format: format.to_byte(),
            retry_limit: 3,
            grouping: 0,
            pattern_restrictions: patterns
                .iter()
                .copied()
                .collect::<PatternRestrictions>()
                .to_byte(),
            min_length: 4,
            max_length: 8,
            input_method: 0,
        }
    }

    #[test]
    fn patterns_follow_facts_examples() {
        use PatternRestriction::*;
        let n = PassphraseFormat::Numeric;
        // facts §4: two-in-a-row rejects 1124, three-in-a-row 1114, sequence 1234 and 9876.
        assert!(check_pin_value(b"1124", &policy(n, &[TwoInARow])).is_err());
        assert!(check_pin_value(b"1124", &policy(n, &[ThreeInARow])).is_ok());
        assert!(check_pin_value(b"1114", &policy(n, &[ThreeInARow])).is_err());
        assert!(check_pin_value(b"1234", &policy(n, &[Sequence])).is_err());
        assert!(check_pin_value(b"9876", &policy(n, &[Sequence])).is_err());
        assert!(check_pin_value(b"1235", &policy(n, &[Sequence])).is_ok());
        assert!(check_pin_value(b"1231", &policy(n, &[Repeated])).is_err());
        assert!(
            check_pin_value(b"123", &policy(n, &[])).is_err(),
            "too short"
        );
        assert!(
            check_pin_value(b"123456789", &policy(n, &[])).is_err(),
            "too long"
        );
        assert!(check_pin_value(b"12a4", &policy(n, &[])).is_err(), "syntax");
        let a = PassphraseFormat::Alphanumeric;
        assert!(check_pin_value(b"AB12", &policy(a, &[MissingGroup])).is_ok());
        assert!(check_pin_value(b"ABCD", &policy(a, &[MissingGroup])).is_err());
        let s = PassphraseFormat::String;
        assert!(check_pin_value(b"Ab1!", &policy(s, &[MissingGroup])).is_ok());
        assert!(check_pin_value(b"Ab12", &policy(s, &[MissingGroup])).is_err());
    }

    #[test]
    fn puk_syntax() {
        assert!(check_puk_syntax(b"0123", PassphraseFormat::Numeric).is_ok());
        assert!(check_puk_syntax(b"01A3", PassphraseFormat::Numeric).is_err());
        assert!(check_puk_syntax(b"01A3", PassphraseFormat::Alphanumeric).is_ok());
        assert!(check_puk_syntax(b"01a3", PassphraseFormat::Alphanumeric).is_err());
        assert!(check_puk_syntax(b"\x00\xff", PassphraseFormat::Binary).is_ok());
    }
}
