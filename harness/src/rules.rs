//! The rules of the spec, embedded from `spec/*.md` at build time: each rule's text, level,
//! file and grade. A rule line is `- [TAG] **LEVEL** text`; a rule that is an airtight
//! tightening (stricter than the original SKS/KeyGen2 behaviour of the protocol author's
//! reference) says so in its line as `(airtight: reason)` right after the level, and every
//! rule of the `IMP` topic is a tightening (`spec/README.md`, "The `IMP` topic"). Every other
//! rule is the protocol's.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Serialize;

/// The spec files holding rules, with their text.
const SPEC: &[(&str, &str)] = &[
    ("sks-api.md", include_str!("../../spec/sks-api.md")),
    ("crypto.md", include_str!("../../spec/crypto.md")),
    ("keygen2.md", include_str!("../../spec/keygen2.md")),
    ("policies.md", include_str!("../../spec/policies.md")),
    ("apdu.md", include_str!("../../spec/apdu.md")),
    ("shim.md", include_str!("../../spec/shim.md")),
];

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grade {
    /// The original SKS/KeyGen2 behaviour.
    Protocol,
    /// An airtight tightening: stricter than the protocol author's reference (the reason is in
    /// the rule).
    Tightening,
}

impl Grade {
    /// The report spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Grade::Protocol => "protocol",
            Grade::Tightening => "tightening",
        }
    }
}

/// One rule of the spec.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// `MUST`, `MUST NOT`, `SHOULD`, `SHOULD NOT` or `MAY`.
    pub level: &'static str,
    /// The file (`sks-api.md`, ...).
    pub file: &'static str,
    /// Protocol or tightening.
    pub grade: Grade,
    /// For a tightening: why airtight is stricter.
    pub reason: Option<String>,
    /// The rule's text (after the level and the marker).
    pub text: String,
}

/// The reason of an `IMP` rule without a marker of its own.
pub const IMP_REASON: &str = "an airtight improvement over the protocol author's reference \
     implementation (the IMP topic: a check, ordering or robustness it lacks)";

const LEVELS: [&str; 5] = [
    "**MUST NOT**",
    "**MUST**",
    "**SHOULD NOT**",
    "**SHOULD**",
    "**MAY**",
];

/// Parses the rule lines of one spec file.
pub fn parse(file: &'static str, text: &str) -> Vec<(String, Rule)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("- [") else {
            continue;
        };
        let Some((tag, after)) = rest.split_once(']') else {
            continue;
        };
        if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            continue;
        }
        let after = after.trim_start();
        let Some(level) = LEVELS.iter().find(|l| after.starts_with(**l)) else {
            continue;
        };
        let mut body = after[level.len()..].trim_start();
        let mut reason = None;
        if let Some(m) = body.strip_prefix("(airtight: ")
            && let Some((r, rest)) = split_marker(m)
        {
            reason = Some(r.trim().to_owned());
            body = rest.trim_start();
        }
        if reason.is_none() && tag.split('-').nth(1) == Some("IMP") {
            reason = Some(IMP_REASON.to_owned());
        }
        out.push((
            tag.to_owned(),
            Rule {
                level: level.trim_matches('*'),
                file,
                grade: if reason.is_some() {
                    Grade::Tightening
                } else {
                    Grade::Protocol
                },
                reason,
                text: body.to_owned(),
            },
        ));
    }
    out
}

/// Splits `reason) rest` at the parenthesis that closes the marker (nested pairs allowed).
fn split_marker(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some((&s[..i], &s[i + 1..])),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Every rule of the spec, by tag.
pub fn all() -> &'static BTreeMap<String, Rule> {
    static RULES: OnceLock<BTreeMap<String, Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        SPEC.iter()
            .flat_map(|(file, text)| parse(file, text))
            .collect()
    })
}

/// The rule of `tag`, if the spec defines it.
pub fn get(tag: &str) -> Option<&'static Rule> {
    all().get(tag)
}

/// The grade of `tag` (rules the spec does not define count as protocol).
pub fn grade(tag: &str) -> Grade {
    get(tag).map_or(Grade::Protocol, |r| r.grade)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_the_imp_topic_make_tightenings() {
        let text = "intro\n\
            - [SKS-SES-002] **MUST** (airtight: the reference accepts 0 (and then fails)) The SKS rejects 0.\n\
            - [CRY-IMP-001] **MUST** MAC before decryption.\n\
            - [SKS-SES-020] **MUST NOT** Plain rule.\n\
            - not a rule\n";
        let r: BTreeMap<String, Rule> = parse("x.md", text).into_iter().collect();
        assert_eq!(r.len(), 3);
        let s = &r["SKS-SES-002"];
        assert_eq!(s.grade, Grade::Tightening);
        assert_eq!(
            s.reason.as_deref(),
            Some("the reference accepts 0 (and then fails)")
        );
        assert_eq!(s.text, "The SKS rejects 0.");
        assert_eq!(r["CRY-IMP-001"].grade, Grade::Tightening);
        assert_eq!(r["SKS-SES-020"].grade, Grade::Protocol);
        assert_eq!(r["SKS-SES-020"].level, "MUST NOT");
    }

    #[test]
    fn the_spec_marks_the_rules_stricter_than_the_reference() {
        for tag in ["SKS-SES-002", "CRY-CLS-002", "SKS-IMX-005", "CRY-PBG-003"] {
            let r = get(tag).unwrap_or_else(|| panic!("{tag} not in the spec"));
            assert_eq!(r.grade, Grade::Tightening, "{tag}");
            assert!(r.reason.as_deref().is_some_and(|x| x.len() > 10), "{tag}");
        }
        assert_eq!(grade("CRY-IMP-001"), Grade::Tightening);
        assert_eq!(grade("SKS-SES-020"), Grade::Protocol);
        assert!(all().len() > 300, "{} rules", all().len());
    }
}
