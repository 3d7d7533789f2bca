//! The shipped policy file and the TOML loader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_issuer::{IssuerError, Policy};

const DEFAULT_TOML: &str = include_str!("../policies/default.toml");

#[test]
fn shipped_default_policy_loads_and_is_valid() {
    let p = Policy::from_toml(DEFAULT_TOML).unwrap();
    assert_eq!(p.action, "manage");
    assert!(!p.privacy_enabled);
    assert_eq!(p.session.client_time_window, 600);
    assert_eq!(p.session.max_body_bytes, 1 << 20);
    assert_eq!(p.key.len(), 1);
    assert_eq!(p.key[0].pin.as_deref(), Some("PIN.1"));
    assert_eq!(p.pin[0].patterns, ["three-in-a-row", "sequence"]);
}

#[test]
fn empty_toml_gives_the_built_in_defaults() {
    assert_eq!(Policy::from_toml("").unwrap(), Policy::default());
}

#[test]
fn unknown_fields_and_bad_names_are_refused() {
    for bad in [
        "actoin = \"manage\"",
        "action = \"create\"",
        "[session]\nephemeral_curve = \"P-192\"",
        "[[pin]]\nid = \"PIN.1\"\nformat = \"decimal\"\n[[key]]\npin = \"PIN.1\"",
        "[[key]]\nid = \"K\"\nalgorithm = \"https://example.com/nope\"\npin = \"PIN.1\"",
        "[[key]]\nid = \"K\"\npin = \"PIN.9\"",
        "[[pin]]\nid = \"PIN.1\"\nmin_length = 9\nmax_length = 4\n[[key]]\npin = \"PIN.1\"",
    ] {
        let e = Policy::from_toml(bad).unwrap_err();
        assert!(matches!(e, IssuerError::Policy(_)), "{bad}: {e}");
    }
}

#[test]
fn several_puks_nest_their_own_pins() {
    let p = Policy::from_toml(
        r#"
[[puk]]
id = "PUK.1"
value = "11111111"
[[puk]]
id = "PUK.2"
value = "22222222"
[[pin]]
id = "PIN.A"
puk = "PUK.2"
[[pin]]
id = "PIN.B"
puk = "PUK.1"
[[key]]
id = "K.A"
pin = "PIN.A"
[[key]]
id = "K.B"
pin = "PIN.B"
"#,
    )
    .unwrap();
    assert_eq!(p.pins_under(Some("PUK.1"))[0].id, "PIN.B");
    assert_eq!(p.pins_under(Some("PUK.2"))[0].id, "PIN.A");
}

/// The built-in policy of `airtight issuer serve` is `policies/default.toml`, and it has a PUK
/// over its PIN.
#[test]
fn the_builtin_policy_is_the_default_toml_file() {
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/default.toml"
    ))
    .unwrap();
    let builtin = Policy::builtin().unwrap();
    assert_eq!(builtin, Policy::from_toml(&file).unwrap());
    assert_eq!(builtin.puk.len(), 1);
    assert_eq!(builtin.pin[0].puk.as_deref(), Some("PUK.1"));
    assert_eq!(builtin.key[0].pin.as_deref(), Some("PIN.1"));
    // Its patterns refuse the PIN everyone tries first.
    assert!(builtin.pin[0].patterns.iter().any(|p| p == "sequence"));
}

/// A key without `pin` has no PIN, and a policy without PINs is valid.
#[test]
fn a_key_without_pin_has_no_pin() {
    let p = Policy::from_toml("pin = []\n[[key]]\nid = \"K\"\n").unwrap();
    assert!(p.pin.is_empty());
    assert_eq!(p.key[0].pin, None);
    // Naming a PIN that is not declared is still an error.
    assert!(Policy::from_toml("pin = []\n[[key]]\nid = \"K\"\npin = \"PIN.1\"\n").is_err());
}
