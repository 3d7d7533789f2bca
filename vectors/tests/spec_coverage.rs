//! The spec coverage test: every MUST rule in `spec/` is cited by a test, a vector file or a
//! harness case, or is listed in `spec/coverage-pending.txt` with the part of the work that will
//! cover it. Cited and pending tags must exist; a pending tag that is already cited must leave
//! the pending file.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const AREAS: &[&str] = &["KG2", "SKS", "CRY", "POL", "APDU", "SHIM", "BRW"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every tag-shaped token in `text`: AREA-TOPIC-NNN with AREA from [`AREAS`].
fn tags_in(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_word = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-');
        if starts_word && b[i].is_ascii_uppercase() {
            let mut j = i;
            while j < b.len()
                && (b[j].is_ascii_uppercase() || b[j].is_ascii_digit() || b[j] == b'-')
            {
                j += 1;
            }
            let token = &text[i..j];
            let parts: Vec<&str> = token.split('-').collect();
            if parts.len() == 3
                && AREAS.contains(&parts[0])
                && !parts[1].is_empty()
                && parts[2].len() == 3
                && parts[2].bytes().all(|c| c.is_ascii_digit())
            {
                out.push(token.to_owned());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Rules defined in spec/*.md: `- [TAG] **LEVEL** ...` at the start of a line.
fn defined_rules() -> BTreeMap<String, (String, String)> {
    let mut rules = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("spec"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("md"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("- [") else {
                continue;
            };
            let Some((tag, after)) = rest.split_once(']') else {
                continue;
            };
            if tags_in(tag) != [tag.to_owned()] {
                continue;
            }
            let after = after.trim_start();
            let level = [
                "**MUST NOT**",
                "**MUST**",
                "**SHOULD NOT**",
                "**SHOULD**",
                "**MAY**",
            ]
            .iter()
            .find(|l| after.starts_with(**l))
            .map(|l| {
                l.trim_matches('*')
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_owned()
            });
            let level = level
                .unwrap_or_else(|| panic!("{name}: rule {tag} has no **LEVEL** after its tag"));
            let previous = rules.insert(tag.to_owned(), (level, name.clone()));
            assert!(previous.is_none(), "{tag} is defined twice in spec/");
        }
    }
    rules
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "spec" {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Tags cited by tests (files under a `tests/` folder, and the `#[cfg(test)]` part of sources),
/// by vector files (`vectors/data`), and by harness cases (`harness/src/cases`).
fn cited_tags() -> BTreeMap<String, BTreeSet<String>> {
    let root = root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut cited: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files {
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "vectors/tests/spec_coverage.rs" {
            continue; // this file's own scanner examples are not citations
        }
        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
        let text = match ext {
            "rs" | "json" | "toml" => std::fs::read_to_string(&path).unwrap_or_default(),
            _ => continue,
        };
        let in_tests = rel.split('/').any(|c| c == "tests") || rel.starts_with("harness/src/cases");
        let counted: &str = if ext == "json" {
            if rel.starts_with("vectors/data/") || rel.starts_with("vectors/sessions/") {
                &text
            } else {
                ""
            }
        } else if ext == "toml" {
            ""
        } else if in_tests {
            &text
        } else if let Some(at) = text.find("#[cfg(test)]") {
            &text[at..]
        } else {
            ""
        };
        for tag in tags_in(counted) {
            cited.entry(tag).or_default().insert(rel.clone());
        }
    }
    cited
}

fn pending() -> BTreeMap<String, String> {
    let path = root().join("spec").join("coverage-pending.txt");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (tag, why) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        assert!(
            !why.trim().is_empty(),
            "pending tag {tag} needs the part of the work that will cover it"
        );
        assert!(
            out.insert(tag.to_owned(), why.trim().to_owned()).is_none(),
            "{tag} pending twice"
        );
    }
    out
}

#[test]
fn tag_scanner_finds_tags() {
    assert_eq!(
        tags_in("// [CRY-KDF-001] and \"SKS-IMP-002\", X-CRY-KDF-001 no"),
        vec!["CRY-KDF-001", "SKS-IMP-002"]
    );
    assert!(tags_in("CRY-KDF-01 CRY-KDF-0001 FOO-BAR-001").is_empty());
}

#[test]
fn spec_has_enough_rules() {
    let rules = defined_rules();
    assert!(
        rules.len() >= 150,
        "only {} tagged rules in spec/",
        rules.len()
    );
}

#[test]
fn every_cited_or_pending_tag_exists() {
    let rules = defined_rules();
    let mut unknown = Vec::new();
    for (tag, sites) in cited_tags() {
        if !rules.contains_key(&tag) {
            unknown.push(format!("{tag} cited in {sites:?}"));
        }
    }
    for tag in pending().keys() {
        if !rules.contains_key(tag) {
            unknown.push(format!("{tag} listed in spec/coverage-pending.txt"));
        }
    }
    assert!(
        unknown.is_empty(),
        "tags that spec/ does not define:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn every_must_rule_is_covered_or_pending() {
    let rules = defined_rules();
    let cited = cited_tags();
    let pending = pending();
    let mut uncovered = Vec::new();
    let mut stale = Vec::new();
    for (tag, (level, file)) in &rules {
        let is_cited = cited.contains_key(tag);
        if level == "MUST" && !is_cited && !pending.contains_key(tag) {
            uncovered.push(format!("{tag} ({file})"));
        }
        if is_cited && pending.contains_key(tag) {
            stale.push(tag.clone());
        }
    }
    assert!(
        uncovered.is_empty(),
        "{} MUST rules are cited by no test, vector or case and are not pending:\n{}",
        uncovered.len(),
        uncovered.join("\n")
    );
    assert!(
        stale.is_empty(),
        "pending tags that are now cited (remove them from spec/coverage-pending.txt): {stale:?}"
    );
}
