//! The catalog itself: stable well-formed unique ids, every case cites existing spec tags,
//! sanity cases first and last, and the list output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

fn spec_tags() -> BTreeSet<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec");
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                if let Some(rest) = line.strip_prefix("- [")
                    && let Some(end) = rest.find(']')
                {
                    out.insert(rest[..end].to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn catalog_is_well_formed() {
    let cases = airtight_harness::card_catalog();
    assert!(cases.len() >= 300, "only {} card cases", cases.len());
    assert_eq!(cases.first().unwrap().id, "card.sanity.first");
    assert_eq!(cases.last().unwrap().id, "card.sanity.last");
    let tags = spec_tags();
    assert!(tags.len() > 100, "spec rules not found");
    let mut ids = BTreeSet::new();
    for c in &cases {
        assert!(ids.insert(c.id.clone()), "duplicate id {}", c.id);
        assert!(c.id.starts_with("card."), "{}", c.id);
        assert!(
            c.id.split('.').all(|p| !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')),
            "malformed id {}",
            c.id
        );
        assert!(!c.tags.is_empty(), "{} cites no tag", c.id);
        for t in &c.tags {
            assert!(tags.contains(*t), "{} cites unknown tag {t}", c.id);
        }
        assert!(!c.description.is_empty());
    }
    let listing = airtight_harness::runner::list(&cases);
    assert_eq!(listing.len(), cases.len());
    assert!(listing[0].starts_with("card.sanity.first\tMust\t"));
    eprintln!(
        "{} card cases, {} distinct tags cited",
        cases.len(),
        cases
            .iter()
            .flat_map(|c| c.tags.iter())
            .collect::<BTreeSet<_>>()
            .len()
    );
}

#[test]
fn issuer_catalog_cites_existing_tags_and_runs_sanity_first_and_last() {
    let cases = airtight_harness::issuer_catalog();
    assert_eq!(
        cases.first().map(|c| c.id.as_str()),
        Some("issuer.sanity.first")
    );
    assert_eq!(
        cases.last().map(|c| c.id.as_str()),
        Some("issuer.sanity.last")
    );
    let spec: String = ["keygen2.md", "crypto.md"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../spec")
                    .join(f),
            )
            .expect("spec file")
        })
        .collect();
    for c in &cases {
        for t in &c.tags {
            assert!(
                spec.contains(&format!("[{t}]")),
                "{}: unknown tag {t}",
                c.id
            );
        }
    }
}
