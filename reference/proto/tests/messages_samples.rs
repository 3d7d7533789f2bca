//! Every recorded Java message decodes strictly, re-encodes to the same JSON (same members, same
//! order) and to the same `PRETTY_PRINT` bytes; lookup signatures sign the bytes the recorder
//! logged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airtight_proto::codec::b64url;
use airtight_proto::messages::Message;

fn recorded() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/interop/recorded")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n.len() > 3 && n.as_bytes()[..2].iter().all(u8::is_ascii_digit) && n.ends_with(".json")
        }) {
            out.push(p);
        }
    }
}

fn samples() -> Vec<PathBuf> {
    let mut v = Vec::new();
    walk(&recorded(), &mut v);
    v.sort();
    v
}

#[test]
fn all_samples_round_trip() {
    let files = samples();
    assert_eq!(files.len(), 152, "18 sessions of 8 or 10 messages");
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let m = Message::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        seen.insert(m.qualifier());
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(
            name.ends_with(&format!("-{}.json", m.qualifier())),
            "{name}"
        );
        let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let encoded = m.encode();
        assert_eq!(encoded, original, "{}", f.display());
        // Value equality ignores member order; the serialized text does not.
        assert_eq!(
            serde_json::to_string(&encoded).unwrap(),
            serde_json::to_string(&original).unwrap(),
            "{}",
            f.display()
        );
        assert_eq!(Message::decode(&m.to_bytes()).unwrap(), m);
        assert_eq!(Message::from_value(&encoded).unwrap(), m);
        assert_eq!(
            m.server_session_id(),
            original["serverSessionId"].as_str().unwrap()
        );
        assert_eq!(m.client_session_id(), original["clientSessionId"].as_str());
    }
    assert_eq!(seen.len(), 10, "every message type is covered: {seen:?}");
}

#[test]
fn java_pretty_print_is_byte_exact() {
    for f in samples() {
        let bytes = std::fs::read(&f).unwrap();
        let m = Message::decode(&bytes).unwrap();
        let pretty = m.to_java_pretty();
        assert_eq!(
            String::from_utf8(pretty).unwrap(),
            String::from_utf8(bytes).unwrap(),
            "{}",
            f.display()
        );
    }
}

#[test]
fn lookup_signed_data_matches_recorded_kmk_sign() {
    let mut checked = 0;
    for f in samples() {
        let Ok(Message::CredentialDiscoveryRequest(req)) =
            Message::decode(&std::fs::read(&f).unwrap())
        else {
            continue;
        };
        let secrets: serde_json::Value = serde_json::from_slice(
            &std::fs::read(f.parent().unwrap().join("secrets.json")).unwrap(),
        )
        .unwrap();
        let signs: Vec<&serde_json::Value> = secrets["serverCryptoTrace"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["op"] == "kmkSign")
            .collect();
        for l in &req.lookup_specifiers {
            let sig = b64url::encode(&l.signature.value);
            let entry = signs
                .iter()
                .find(|e| e["result"] == sig.as_str())
                .unwrap_or_else(|| panic!("{}: no kmkSign for {}", f.display(), l.id));
            let data = b64url::decode(entry["data"].as_str().unwrap()).unwrap();
            assert_eq!(
                String::from_utf8(l.signed_data()).unwrap(),
                String::from_utf8(data).unwrap(),
                "{} {}",
                f.display(),
                l.id
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}");
}

fn reverse_members(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .rev()
                .map(|(k, x)| (k.clone(), reverse_members(x)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(reverse_members).collect())
        }
        x => x.clone(),
    }
}

#[test]
fn decoding_does_not_depend_on_member_order() {
    // [KG2-ENC-016]
    for f in samples() {
        let bytes = std::fs::read(&f).unwrap();
        let m = Message::decode(&bytes).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let reversed = serde_json::to_vec(&reverse_members(&v)).unwrap();
        let r = Message::decode(&reversed).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(r, m, "{}", f.display());
        // Re-encoding restores the Java order.
        assert_eq!(r.to_java_pretty(), bytes, "{}", f.display());
    }
}
