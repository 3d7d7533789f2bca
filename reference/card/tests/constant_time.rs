//! [CRY-IMP-002] is about how secrets are compared, which no black-box test can observe. This is
//! the source-level check the rule calls for: every comparison of a MAC, an attestation, a PIN
//! or a PUK in the card and in session.1 goes through the constant-time helper (`subtle`), and no
//! plain `==` touches those values.
#![allow(clippy::unwrap_used)]

use std::path::Path;

fn source(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// The body of `fn name` (up to the next top-level `fn`), so each check looks at one function.
fn function<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("fn {name} not found"));
    let rest = &text[start + 3..];
    let end = rest
        .find("\n    pub fn ")
        .into_iter()
        .chain(rest.find("\n    fn "))
        .chain(rest.find("\npub fn "))
        .chain(rest.find("\nfn "))
        .min()
        .unwrap_or(rest.len());
    &text[start..start + 3 + end]
}

fn no_plain_equality_on(body: &str, names: &[&str], what: &str) {
    for line in body.lines() {
        let code = line.split("//").next().unwrap_or("");
        if !(code.contains("==") || code.contains("!=")) {
            continue;
        }
        for n in names {
            assert!(
                !code.contains(n) || code.contains(".len()"),
                "{what}: plain comparison involving `{n}`: {}",
                line.trim()
            );
        }
    }
}

#[test]
fn the_constant_time_helper_uses_subtle() {
    // [CRY-IMP-002]
    let m = source("reference/proto/src/session1/mod.rs");
    let f = function(&m, "ct_eq");
    assert!(
        f.contains(".ct_eq("),
        "session1::ct_eq must use subtle: {f}"
    );
    // The card and the issuer use that one helper, not copies of their own.
    for file in [
        "reference/card/src/sks/user.rs",
        "reference/issuer/src/engine.rs",
    ] {
        let u = source(file);
        assert!(!u.contains("fn ct_eq("), "{file} defines its own ct_eq");
        assert!(
            u.contains("session1::") && u.contains("ct_eq"),
            "{file} does not use session1::ct_eq"
        );
    }
}

#[test]
fn macs_and_attestations_are_compared_in_constant_time() {
    // [CRY-IMP-002]: the card verifies MACs and the issuer
    // verifies attestations through session1::SessionCrypto.
    let mac = source("reference/proto/src/session1/mac.rs");
    for f in ["verify_mac", "verify_attestation", "verify_attestation_at"] {
        let body = function(&mac, f);
        assert!(body.contains("ct_eq("), "{f} does not compare with ct_eq");
        no_plain_equality_on(body, &["expected", "mac", "attestation"], f);
    }
}

#[test]
fn pins_and_puks_are_compared_in_constant_time() {
    // [CRY-IMP-002]
    let user = source("reference/card/src/sks/user.rs");
    let uses = user.matches("ct_eq(").count();
    assert!(
        uses >= 2,
        "expected at least two PIN/PUK comparisons with session1::ct_eq, found {uses}"
    );
    no_plain_equality_on(&user, &["pin_value", "rec.value", "puk_value"], "user.rs");
}

#[test]
fn the_checker_itself_can_fail() {
    let bad = "fn verify_mac(&self) {\n    if expected == mac { }\n}\n";
    let r = std::panic::catch_unwind(|| no_plain_equality_on(bad, &["expected"], "sample"));
    assert!(r.is_err());
}
