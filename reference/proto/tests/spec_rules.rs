//! Spec rules about values, encodings and types that no other test checked: the policy value
//! tables of `spec/policies.md`, the KeyGen2 defaults and ranges of policy fields, the JWK
//! encoder form, and the zeroization of session secrets. Every expectation is written from the
//! spec text, not from running the code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airtight_proto::codec::b64url;
use airtight_proto::jwk::Jwk;
use airtight_proto::keys::{Curve, PrivateKey, PublicKey, ecdh_z};
use airtight_proto::messages::{ErrorKind, KeyCreationRequest, KeyGen2Message};
use airtight_proto::policy::*;
use airtight_proto::session1::{SessionCrypto, derive_session_key, encrypt_with_key};
use airtight_proto::sks::{ExtensionSubType, SksError, SksErrorCode};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use zeroize::ZeroizeOnDrop;

fn recorded(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../vectors/interop/recorded")
        .join(rel)
}

fn load(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(recorded(rel)).unwrap()).unwrap()
}

const MULTI: &str = "user-pin-multiple-keys/05-KeyCreationRequest.json";
const PRESET: &str = "preset-pin-with-puk/05-KeyCreationRequest.json";

fn decode(v: &Value) -> Result<KeyCreationRequest, airtight_proto::messages::DecodeError> {
    KeyCreationRequest::decode(&serde_json::to_vec(v).unwrap())
}

/// `sample` with the member at JSON pointer `ptr` set to `new` (or removed when `None`).
fn with(sample: &str, ptr: &str, new: Option<Value>) -> Value {
    let mut v = load(sample);
    let (parent, name) = ptr.rsplit_once('/').unwrap();
    let obj = v
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{parent}"));
    match new {
        Some(x) => {
            obj.insert(name.to_owned(), x);
        }
        None => {
            obj.remove(name);
        }
    }
    v
}

/// Checks one policy attribute against its row of the value table in `spec/policies.md` §1:
/// every (name, byte) pair maps both ways, and no other byte or name is accepted.
macro_rules! table_row {
    ($ty:ty, [$(($name:literal, $byte:literal)),+ $(,)?]) => {{
        let row: &[(&str, u8)] = &[$(($name, $byte)),+];
        assert_eq!(<$ty>::ALL.len(), row.len(), stringify!($ty));
        for (name, byte) in row {
            let by_name = <$ty>::from_name(name).unwrap();
            let by_byte = <$ty>::from_byte(*byte).unwrap();
            assert_eq!(by_name, by_byte, "{name}");
            assert_eq!(by_name.to_byte(), *byte, "{name}");
            assert_eq!(by_byte.as_str(), *name, "{name}");
        }
        for b in 0..=255u8 {
            let listed = row.iter().any(|(_, x)| *x == b);
            let r = <$ty>::from_byte(b);
            assert_eq!(r.is_ok(), listed, "{} byte {b:#04x}", stringify!($ty));
            // [POL-VAL-002] an unknown value is an ERROR_OPTION at the SKS.
            if let Err(e) = r {
                assert_eq!(SksError::from(e).code(), SksErrorCode::Option);
            }
        }
        for name in row.iter().map(|(n, _)| n.to_uppercase()) {
            assert!(<$ty>::from_name(&name).is_err(), "{name}");
        }
    }};
}

#[test]
fn policy_value_tables() {
    // [POL-VAL-001] [POL-VAL-002]
    table_row!(
        PassphraseFormat,
        [
            ("numeric", 0x00),
            ("alphanumeric", 0x01),
            ("string", 0x02),
            ("binary", 0x03)
        ]
    );
    table_row!(
        Grouping,
        [
            ("none", 0x00),
            ("shared", 0x01),
            ("signature+standard", 0x02),
            ("unique", 0x03)
        ]
    );
    table_row!(
        PatternRestriction,
        [
            ("two-in-a-row", 0x01),
            ("three-in-a-row", 0x02),
            ("sequence", 0x04),
            ("repeated", 0x08),
            ("missing-group", 0x10)
        ]
    );
    table_row!(
        InputMethod,
        [("any", 0x00), ("programmatic", 0x01), ("trusted-gui", 0x02)]
    );
    table_row!(
        BiometricProtection,
        [
            ("none", 0x00),
            ("alternative", 0x01),
            ("combined", 0x02),
            ("exclusive", 0x03)
        ]
    );
    table_row!(
        ExportProtection,
        [
            ("none", 0x00),
            ("pin", 0x01),
            ("puk", 0x02),
            ("non-exportable", 0x03)
        ]
    );
    table_row!(
        DeleteProtection,
        [
            ("none", 0x00),
            ("pin", 0x01),
            ("puk", 0x02),
            ("non-deletable", 0x03)
        ]
    );
    table_row!(
        AppUsage,
        [
            ("signature", 0x00),
            ("authentication", 0x01),
            ("encryption", 0x02),
            ("universal", 0x03)
        ]
    );
    // The pattern set byte: any bit other than 0x01-0x10 is refused, with ERROR_OPTION.
    for b in 0..=255u8 {
        let r = PatternRestrictions::from_byte(b);
        assert_eq!(r.is_ok(), b & !0x1f == 0, "{b:#04x}");
        if let Err(e) = r {
            assert_eq!(SksError::from(e).code(), SksErrorCode::Option);
        }
    }
}

#[test]
fn extension_sub_types_and_unknown_values() {
    // [SKS-EXT-002] 0x00 extension, 0x01 encrypted extension, 0x02 property bag, 0x03 logotype;
    // any other byte is refused with ERROR_OPTION.
    let expected = [
        (0x00, ExtensionSubType::Extension),
        (0x01, ExtensionSubType::EncryptedExtension),
        (0x02, ExtensionSubType::PropertyBag),
        (0x03, ExtensionSubType::Logotype),
    ];
    for (b, st) in expected {
        assert_eq!(ExtensionSubType::from_byte(b).unwrap(), st);
        assert_eq!(st.to_byte(), b);
    }
    for b in 4..=255u8 {
        let e = ExtensionSubType::from_byte(b).unwrap_err();
        assert_eq!(SksError::from(e).code(), SksErrorCode::Option);
    }
}

#[test]
fn pattern_restrictions_in_keygen2() {
    // [POL-VAL-003] an array of names, each at most once, whose SKS byte is the OR of their
    // bits; absent means 0x00.
    let ptr = "/pinPolicySpecifiers/0/patternRestrictions";
    let pin = |v: &Value| decode(v).unwrap().pin_policy_specifiers[0].pattern_set();
    assert_eq!(pin(&with(MULTI, ptr, None)).to_byte(), 0x00);
    assert_eq!(
        pin(&with(MULTI, ptr, Some(json!(["sequence", "two-in-a-row"])))).to_byte(),
        0x05
    );
    assert_eq!(
        pin(&with(MULTI, ptr, Some(json!(["repeated"])))).to_byte(),
        0x08
    );
    assert_eq!(
        pin(&with(
            MULTI,
            ptr,
            Some(json!([
                "three-in-a-row",
                "two-in-a-row",
                "repeated",
                "sequence"
            ]))
        ))
        .to_byte(),
        0x0f
    );
    let e = decode(&with(
        MULTI,
        ptr,
        Some(json!(["sequence", "repeated", "sequence"])),
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let e = decode(&with(MULTI, ptr, Some(json!(["Sequence"])))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadEnum, "{e}");
    // The recorded preset-PIN policy lists four patterns: 0x0f.
    let k = decode(&load(PRESET)).unwrap();
    assert_eq!(
        k.puk_policy_specifiers[0].pin_policy_specifiers[0]
            .pattern_set()
            .to_byte(),
        0x0f
    );
}

#[test]
fn protection_defaults_in_keygen2() {
    // [POL-PRT-001] exportProtection defaults to non-exportable, deleteProtection to none.
    let key = "/pinPolicySpecifiers/0/keyEntrySpecifiers/0";
    let mut v = with(MULTI, &format!("{key}/exportProtection"), None);
    v.pointer_mut(key)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("deleteProtection");
    let k = decode(&v).unwrap();
    let k0 = &k.pin_policy_specifiers[0].key_entry_specifiers[0];
    assert_eq!(k0.export_protection(), ExportProtection::NonExportable);
    assert_eq!(k0.delete_protection(), DeleteProtection::None);
    // Explicit values are kept.
    let v = with(
        MULTI,
        &format!("{key}/exportProtection"),
        Some(json!("none")),
    );
    let v = {
        let mut v = v;
        v.pointer_mut(key)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("deleteProtection".into(), json!("non-deletable"));
        v
    };
    let k = decode(&v).unwrap();
    let k0 = &k.pin_policy_specifiers[0].key_entry_specifiers[0];
    assert_eq!(k0.export_protection(), ExportProtection::None);
    assert_eq!(k0.delete_protection(), DeleteProtection::NonDeletable);
}

#[test]
fn pin_policy_lengths_and_retry_limits() {
    let pin = "/pinPolicySpecifiers/0";
    let set = |fields: &[(&str, Value)]| {
        let mut v = load(MULTI);
        let o = v.pointer_mut(pin).unwrap().as_object_mut().unwrap();
        for (k, x) in fields {
            o.insert((*k).to_owned(), x.clone());
        }
        v
    };
    // [POL-PIN-001] 1 <= minLength <= maxLength <= 128.
    for (min, max) in [(1, 1), (1, 128), (128, 128), (4, 8)] {
        let k = decode(&set(&[
            ("minLength", json!(min)),
            ("maxLength", json!(max)),
        ]))
        .unwrap();
        assert_eq!(
            (
                k.pin_policy_specifiers[0].min_length,
                k.pin_policy_specifiers[0].max_length
            ),
            (min, max)
        );
    }
    for (min, max) in [(0, 8), (4, 129), (9, 8), (129, 129), (0, 0)] {
        let e = decode(&set(&[
            ("minLength", json!(min)),
            ("maxLength", json!(max)),
        ]))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfRange, "{min}..{max}: {e}");
    }
    // [POL-PIN-003] a PIN retryLimit is 1 to 10000.
    for ok in [1, 10000] {
        decode(&set(&[("retryLimit", json!(ok))])).unwrap();
    }
    for bad in [0, 10001] {
        let e = decode(&set(&[("retryLimit", json!(bad))])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfRange, "{bad}: {e}");
    }
    // [POL-PUK-002] a PUK retryLimit is 0 to 10000.
    let puk = "/pukPolicySpecifiers/0/retryLimit";
    for ok in [0, 10000] {
        let k = decode(&with(PRESET, puk, Some(json!(ok)))).unwrap();
        assert_eq!(k.puk_policy_specifiers[0].retry_limit, ok);
    }
    for bad in [-1, 10001] {
        let e = decode(&with(PRESET, puk, Some(json!(bad)))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfRange, "{bad}: {e}");
    }
}

#[test]
fn jwk_encoder_form() {
    // [KG2-ENC-007] crv is written P-256/P-384/P-521/Ed25519 (also after an SKS curve URI on
    // input); RSA n and e are unsigned big-endian without leading zero bytes.
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    for (curve, jose, uri) in [
        (
            Curve::P256,
            "P-256",
            "https://webpki.github.io/sks/algorithm#ec.nist.p256",
        ),
        (
            Curve::P384,
            "P-384",
            "https://webpki.github.io/sks/algorithm#ec.nist.p384",
        ),
        (
            Curve::P521,
            "P-521",
            "https://webpki.github.io/sks/algorithm#ec.nist.p521",
        ),
    ] {
        let p = PrivateKey::generate_ec(curve, &mut rng).public_key();
        let Jwk::Ec { x, y, .. } = p.to_jwk() else {
            panic!("EC")
        };
        let from_uri = PublicKey::from_jwk(&Jwk::Ec {
            crv: uri.into(),
            x,
            y,
        })
        .unwrap();
        let j = from_uri.to_jwk().to_json();
        assert_eq!(j["kty"], "EC");
        assert_eq!(j["crv"], jose);
        let names: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(names, ["kty", "crv", "x", "y"]);
    }
    let ed = PrivateKey::generate_ed25519(&mut rng).public_key().to_jwk();
    assert_eq!(ed.to_json()["crv"], "Ed25519");
    assert_eq!(ed.to_json()["kty"], "OKP");
    // A 1024-bit modulus has its top bit set: DER needs a 0x00 in front, JWK must not have it.
    let rsa = PrivateKey::generate_rsa(1024, 65537, &mut rng)
        .unwrap()
        .public_key()
        .to_jwk()
        .to_json();
    assert_eq!(rsa["kty"], "RSA");
    let n = b64url::decode(rsa["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 128);
    assert!(n[0] >= 0x80);
    assert_eq!(rsa["e"], "AQAB", "65537 = 01 00 01");
    let rsa3 = PrivateKey::generate_rsa(1024, 3, &mut rng)
        .unwrap()
        .public_key()
        .to_jwk()
        .to_json();
    assert_eq!(rsa3["e"], "Aw", "3 = 03");
}

fn zeroized_on_drop<T: ZeroizeOnDrop>(_: &T) {}

#[test]
fn secrets_are_zeroized_on_drop() {
    // [CRY-IMP-004] Z, SK, EncryptionKey, decrypted secrets, exported PKCS#8 and the private
    // key types (ephemeral and generated) all zeroize themselves when dropped. A change of any
    // of these types to a plain buffer fails to compile.
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let a = PrivateKey::generate_ec(Curve::P256, &mut rng);
    let b = PrivateKey::generate_ec(Curve::P256, &mut rng);
    let z = ecdh_z(&a, &b.public_key()).unwrap();
    zeroized_on_drop(&z);
    let sk = derive_session_key(&z, "c", "s", "u", b"Anonymous").unwrap();
    zeroized_on_drop(&sk);
    let mut s = SessionCrypto::new(*sk, 10);
    let ek = s.encryption_key().unwrap();
    zeroized_on_drop(&ek);
    let ct = encrypt_with_key(&ek, &[0; 16], b"1234");
    let pin = s.decrypt(&ct).unwrap();
    assert_eq!(pin.as_slice(), b"1234");
    zeroized_on_drop(&pin);
    let pkcs8 = a.to_pkcs8_der().unwrap();
    zeroized_on_drop(&pkcs8);
    match &a {
        PrivateKey::P256(k) => zeroized_on_drop(k),
        _ => panic!("P-256"),
    }
    let PrivateKey::P384(k) = PrivateKey::generate_ec(Curve::P384, &mut rng) else {
        panic!("P-384")
    };
    zeroized_on_drop(&k);
    let PrivateKey::P521(k) = PrivateKey::generate_ec(Curve::P521, &mut rng) else {
        panic!("P-521")
    };
    zeroized_on_drop(&k);
    let PrivateKey::Ed25519(k) = PrivateKey::generate_ed25519(&mut rng) else {
        panic!("Ed25519")
    };
    zeroized_on_drop(&k);
    let PrivateKey::Rsa(k) = PrivateKey::generate_rsa(1024, 65537, &mut rng).unwrap() else {
        panic!("RSA")
    };
    zeroized_on_drop(k.as_ref());
}

/// The URIs marked "supported" in the registry table of `spec/crypto.md` §12, written out.
const SPEC_SUPPORTED: &[&str] = &[
    "https://webpki.github.io/sks/algorithm#session.1",
    "https://webpki.github.io/sks/algorithm#key.1",
    "https://webpki.github.io/sks/algorithm#none",
    "https://webpki.github.io/sks/algorithm#ec.nist.p256",
    "https://webpki.github.io/sks/algorithm#ec.nist.p384",
    "https://webpki.github.io/sks/algorithm#ec.nist.p521",
    "https://webpki.github.io/sks/algorithm#rsa1024",
    "https://webpki.github.io/sks/algorithm#rsa2048",
    "https://webpki.github.io/sks/algorithm#rsa1024.exp",
    "https://webpki.github.io/sks/algorithm#rsa2048.exp",
    "https://webpki.github.io/sks/algorithm#ed25519",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "https://webpki.github.io/sks/algorithm#aes.cbc",
    "https://webpki.github.io/sks/algorithm#aes.ecb.nopad",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512",
    "https://webpki.github.io/sks/algorithm#rsa.es.pkcs1_5",
    "https://webpki.github.io/sks/algorithm#rsa.oaep.sha1",
    "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256",
    "https://webpki.github.io/sks/algorithm#ecdh.raw",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];

/// URIs the table marks "not supported".
const SPEC_NOT_SUPPORTED: &[&str] = &[
    "rsa3072",
    "rsa4096",
    "rsa3072.exp",
    "rsa4096.exp",
    "ed448",
    "x25519",
    "x448",
    "ec.brainpool.p256r1",
    "ec.secg.p256k",
    "ec.secg.p256k1",
    "rsa.pkcs1.none",
    "ecdsa.none",
];

#[test]
fn algorithm_registry_matches_the_spec_table() {
    // [CRY-ALG-001] the registry supports exactly the URIs marked "supported".
    use airtight_proto::alg::{ALGORITHMS, SKS, is_supported};
    use std::collections::BTreeSet;
    for uri in SPEC_SUPPORTED {
        assert!(is_supported(uri), "{uri}");
    }
    for name in SPEC_NOT_SUPPORTED {
        assert!(!is_supported(&format!("{SKS}{name}")), "{name}");
    }
    let registry: BTreeSet<&str> = ALGORITHMS
        .iter()
        .filter(|a| a.supported)
        .map(|a| a.uri)
        .collect();
    let spec: BTreeSet<&str> = SPEC_SUPPORTED.iter().copied().collect();
    assert_eq!(registry, spec);
}
