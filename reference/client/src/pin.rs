//! PIN policy checks done by the middleware before a user-defined PIN reaches the SKS
//! ([KG2-KCQ-013], spec `policies.md` §2, §4-§6), and the PIN groups of a policy.

use airtight_proto::messages::{KeyEntrySpecifier, PinPolicySpecifier};
use airtight_proto::policy::{AppUsage, Grouping, PassphraseFormat, PatternRestriction};
use thiserror::Error;
use zeroize::Zeroizing;

/// Why a PIN is not acceptable under its policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PinProblem {
    /// Byte length outside `[minLength, maxLength]`.
    #[error("length {len} outside {min}..={max}")]
    Length {
        /// The PIN's length in bytes.
        len: usize,
        /// `minLength`.
        min: u16,
        /// `maxLength`.
        max: u16,
    },
    /// A byte the format does not allow (or bad hex for `binary`).
    #[error("not a valid {0} PIN")]
    Format(PassphraseFormat),
    /// A pattern restriction is violated.
    #[error("violates pattern restriction {}", .0.as_str())]
    Pattern(PatternRestriction),
    /// Two PIN groups that must differ have the same PIN ([POL-GRP-002], [POL-GRP-003]).
    #[error("must differ from the PIN of the {other} group")]
    GroupNotDistinct {
        /// The other group.
        other: String,
    },
}

/// Turns the text a user typed into the PIN bytes: `binary` PINs are typed as hexadecimal
/// ([POL-FMT-005]); every other format is the UTF-8 text.
pub fn pin_bytes(format: PassphraseFormat, text: &str) -> Result<Zeroizing<Vec<u8>>, PinProblem> {
    if format != PassphraseFormat::Binary {
        return Ok(Zeroizing::new(text.as_bytes().to_vec()));
    }
    let t = text.trim();
    if !t.len().is_multiple_of(2) {
        return Err(PinProblem::Format(format));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(t.len() / 2));
    for pair in t.as_bytes().chunks(2) {
        let hi = hex_val(pair[0]).ok_or(PinProblem::Format(format))?;
        let lo = pair
            .get(1)
            .and_then(|b| hex_val(*b))
            .ok_or(PinProblem::Format(format))?;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks one PIN against length, format and pattern restrictions of `policy`
/// ([POL-PIN-002], [POL-FMT-002], [POL-PAT-001]-[POL-PAT-007]).
pub fn check_pin(policy: &PinPolicySpecifier, pin: &[u8]) -> Result<(), PinProblem> {
    let len = pin.len();
    if len < usize::from(policy.min_length) || len > usize::from(policy.max_length) {
        return Err(PinProblem::Length {
            len,
            min: policy.min_length,
            max: policy.max_length,
        });
    }
    let format_ok = match policy.format {
        PassphraseFormat::Numeric => pin.iter().all(u8::is_ascii_digit),
        PassphraseFormat::Alphanumeric => pin
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        PassphraseFormat::String => std::str::from_utf8(pin).is_ok(),
        PassphraseFormat::Binary => true,
    };
    if !format_ok {
        return Err(PinProblem::Format(policy.format));
    }
    let patterns = policy.pattern_set();
    let violated = |r: PatternRestriction| -> bool {
        match r {
            PatternRestriction::TwoInARow => pin.windows(2).any(|w| w[0] == w[1]),
            PatternRestriction::ThreeInARow => pin.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]),
            PatternRestriction::Sequence => {
                len >= 2
                    && (pin.windows(2).all(|w| w[1] == w[0].wrapping_add(1))
                        || pin.windows(2).all(|w| w[1] == w[0].wrapping_sub(1)))
            }
            PatternRestriction::Repeated => {
                let mut seen = [false; 256];
                pin.iter().any(|&b| {
                    let dup = seen[usize::from(b)];
                    seen[usize::from(b)] = true;
                    dup
                })
            }
            PatternRestriction::MissingGroup => {
                let upper = pin.iter().any(u8::is_ascii_uppercase);
                let digit = pin.iter().any(u8::is_ascii_digit);
                match policy.format {
                    PassphraseFormat::Alphanumeric => !(upper && digit),
                    PassphraseFormat::String => {
                        let lower = pin.iter().any(u8::is_ascii_lowercase);
                        let other = pin.iter().any(|b| !b.is_ascii_alphanumeric());
                        !(upper && digit && lower && other)
                    }
                    // Rejected with the policy ([POL-PAT-005]); never reached.
                    _ => true,
                }
            }
        }
    };
    for r in patterns.iter() {
        if violated(r) {
            return Err(PinProblem::Pattern(r));
        }
    }
    Ok(())
}

/// One set of keys of a PIN policy that share one PIN value ([POL-GRP-001]-[POL-GRP-004]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinGroup {
    /// A label: the key id (grouping `none`), `shared`, `signature`, `standard`, or the
    /// appUsage name (grouping `unique`).
    pub label: String,
    /// The keys of the group, in request order.
    pub key_ids: Vec<String>,
}

/// Which group a key of a policy with `grouping` belongs to.
fn group_label(grouping: Grouping, key: &KeyEntrySpecifier) -> String {
    match grouping {
        Grouping::None => key.id.clone(),
        Grouping::Shared => "shared".into(),
        Grouping::SignaturePlusStandard => {
            if key.app_usage == AppUsage::Signature {
                "signature".into()
            } else {
                "standard".into()
            }
        }
        Grouping::Unique => key.app_usage.as_str().into(),
    }
}

/// The PIN groups of a policy, in the order of their first key ([POL-GRP-007]: one PIN per
/// group, not per key).
pub fn pin_groups(policy: &PinPolicySpecifier) -> Vec<PinGroup> {
    let mut groups: Vec<PinGroup> = Vec::new();
    for k in &policy.key_entry_specifiers {
        let label = group_label(policy.grouping(), k);
        match groups.iter_mut().find(|g| g.label == label) {
            Some(g) => g.key_ids.push(k.id.clone()),
            None => groups.push(PinGroup {
                label,
                key_ids: vec![k.id.clone()],
            }),
        }
    }
    groups
}

/// True if the groups of `grouping` must hold different PINs.
pub fn groups_must_differ(grouping: Grouping) -> bool {
    matches!(grouping, Grouping::SignaturePlusStandard | Grouping::Unique)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use airtight_proto::messages::KeyCreationRequest;

    fn policy(json_extra: &str, format: &str, min: u16, max: u16) -> PinPolicySpecifier {
        let mac = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let text = format!(
            r#"{{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"KeyCreationRequest",
            "serverSessionId":"s","clientSessionId":"c",
            "keyEntryAlgorithm":"https://webpki.github.io/sks/algorithm#key.1",
            "pinPolicySpecifiers":[{{"id":"PIN.1","minLength":{min},"maxLength":{max},"retryLimit":3,
              "format":"{format}"{json_extra},"mac":"{mac}",
              "keyEntrySpecifiers":[
                {{"id":"K1","appUsage":"authentication","keyAlgorithm":"https://webpki.github.io/sks/algorithm#ec.nist.p256","mac":"{mac}"}},
                {{"id":"K2","appUsage":"signature","keyAlgorithm":"https://webpki.github.io/sks/algorithm#ec.nist.p256","mac":"{mac}"}},
                {{"id":"K3","appUsage":"authentication","keyAlgorithm":"https://webpki.github.io/sks/algorithm#ec.nist.p256","mac":"{mac}"}}]}}]}}"#
        );
        use airtight_proto::messages::KeyGen2Message;
        KeyCreationRequest::decode(text.as_bytes())
            .unwrap()
            .pin_policy_specifiers
            .remove(0)
    }

    #[test]
    fn length_and_format() {
        // [POL-PIN-002] [POL-FMT-002]
        let p = policy("", "numeric", 4, 8);
        assert!(check_pin(&p, b"1234").is_ok());
        assert!(matches!(
            check_pin(&p, b"123"),
            Err(PinProblem::Length { len: 3, .. })
        ));
        assert!(check_pin(&p, b"123456789").is_err());
        assert_eq!(
            check_pin(&p, b"12a4"),
            Err(PinProblem::Format(PassphraseFormat::Numeric))
        );
        let a = policy("", "alphanumeric", 4, 8);
        assert!(check_pin(&a, b"AB12").is_ok());
        assert!(check_pin(&a, b"ab12").is_err());
    }

    #[test]
    fn patterns() {
        // [POL-PAT-001] [POL-PAT-002] [POL-PAT-003] [POL-PAT-004]
        let two = policy(
            r#","patternRestrictions":["two-in-a-row"]"#,
            "numeric",
            4,
            8,
        );
        assert!(check_pin(&two, b"1124").is_err());
        assert!(check_pin(&two, b"1214").is_ok());
        let three = policy(
            r#","patternRestrictions":["three-in-a-row"]"#,
            "numeric",
            4,
            8,
        );
        assert!(check_pin(&three, b"1114").is_err());
        assert!(check_pin(&three, b"1124").is_ok());
        let seq = policy(r#","patternRestrictions":["sequence"]"#, "numeric", 4, 8);
        assert!(check_pin(&seq, b"1234").is_err());
        assert!(check_pin(&seq, b"9876").is_err());
        assert!(check_pin(&seq, b"1235").is_ok());
        let rep = policy(r#","patternRestrictions":["repeated"]"#, "numeric", 4, 8);
        assert!(check_pin(&rep, b"1231").is_err());
        assert!(check_pin(&rep, b"1239").is_ok());
    }

    #[test]
    fn missing_group() {
        // [POL-PAT-006] [POL-PAT-007]
        let a = policy(
            r#","patternRestrictions":["missing-group"]"#,
            "alphanumeric",
            4,
            8,
        );
        assert!(check_pin(&a, b"ABCDEF").is_err());
        assert!(check_pin(&a, b"ABC1").is_ok());
        let s = policy(
            r#","patternRestrictions":["missing-group"]"#,
            "string",
            4,
            16,
        );
        assert!(check_pin(&s, b"Abc12345").is_err());
        assert!(check_pin(&s, b"Abc1234!").is_ok());
    }

    #[test]
    fn groups() {
        // [POL-GRP-007] one PIN per group
        let p = policy(r#","grouping":"signature+standard""#, "numeric", 4, 8);
        let g = pin_groups(&p);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].label, "standard");
        assert_eq!(g[0].key_ids, vec!["K1", "K3"]);
        assert_eq!(g[1].key_ids, vec!["K2"]);
        assert_eq!(pin_groups(&policy("", "numeric", 4, 8)).len(), 3);
        let shared = policy(r#","grouping":"shared""#, "numeric", 4, 8);
        assert_eq!(pin_groups(&shared).len(), 1);
        let unique = policy(r#","grouping":"unique""#, "numeric", 4, 8);
        assert_eq!(pin_groups(&unique).len(), 2);
        assert!(groups_must_differ(Grouping::Unique));
        assert!(!groups_must_differ(Grouping::Shared));
    }

    #[test]
    fn binary_pins_are_hex() {
        // [POL-FMT-005]
        assert_eq!(
            pin_bytes(PassphraseFormat::Binary, "0aFF")
                .unwrap()
                .as_slice(),
            &[0x0a, 0xff]
        );
        assert!(pin_bytes(PassphraseFormat::Binary, "0aF").is_err());
        assert!(pin_bytes(PassphraseFormat::Binary, "zz").is_err());
        assert_eq!(
            pin_bytes(PassphraseFormat::Numeric, "1234")
                .unwrap()
                .as_slice(),
            b"1234"
        );
    }
}
