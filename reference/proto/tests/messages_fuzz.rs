//! No input makes the decoders panic; whatever decodes, round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;

use airtight_proto::messages::Message;
use proptest::prelude::*;
use serde_json::{Value, json};

fn samples() -> &'static Vec<Value> {
    static S: OnceLock<Vec<Value>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/interop/recorded");
        let mut out = Vec::new();
        for s in [
            "user-pin-multiple-keys",
            "preset-pin-with-puk",
            "extensions-propertybag-logotype",
            "unlock/2-unlock",
            "kmk-rollover/2-rollover",
            "import-private-key",
        ] {
            for e in std::fs::read_dir(dir.join(s)).unwrap() {
                let p = e.unwrap().path();
                let n = p.file_name().unwrap().to_str().unwrap().to_owned();
                if n.as_bytes()[0].is_ascii_digit() {
                    out.push(serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap());
                }
            }
        }
        out
    })
}

/// All JSON pointers into `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

fn replacement(k: u8, s: &str) -> Value {
    match k % 12 {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(65536),
        4 => json!(1.5e300),
        5 => json!(""),
        6 => json!(s),
        7 => json!([]),
        8 => json!({}),
        9 => json!([s]),
        10 => json!({ "x": s }),
        _ => json!(u64::MAX),
    }
}

fn check(v: &Value) {
    if let Ok(m) = Message::from_value(v) {
        let again = Message::decode(&m.to_bytes()).expect("an accepted message re-decodes");
        assert_eq!(again, m);
        assert_eq!(Message::decode(&m.to_java_pretty()).unwrap(), m);
    }
    let _ = Message::decode(&serde_json::to_vec(v).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_samples_never_panic(which in any::<prop::sample::Index>(),
                                   at in any::<prop::sample::Index>(),
                                   op in 0u8..3, k in any::<u8>(), s in "\\PC{0,40}") {
        let mut v = which.get(samples()).clone();
        let mut ptrs = Vec::new();
        pointers(&v, String::new(), &mut ptrs);
        let p = at.get(&ptrs).clone();
        let (parent, last) = p.rsplit_once('/').unwrap();
        match op {
            0 => { *v.pointer_mut(&p).unwrap() = replacement(k, &s); }
            1 => match v.pointer_mut(parent).unwrap() {
                Value::Object(m) => { m.shift_remove(&last.replace("~1", "/").replace("~0", "~")); }
                Value::Array(a) => { a.remove(last.parse::<usize>().unwrap()); }
                _ => {}
            },
            _ => match v.pointer_mut(parent).unwrap() {
                Value::Object(m) => { m.insert(s.clone(), replacement(k, &s)); }
                Value::Array(a) => { a.push(replacement(k, &s)); }
                _ => {}
            },
        }
        check(&v);
    }

    #[test]
    fn mutated_bytes_never_panic(which in any::<prop::sample::Index>(),
                                 at in any::<prop::sample::Index>(), b in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = serde_json::to_vec(which.get(samples())).unwrap();
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i); } else { bytes[i] = b; }
        if let Ok(m) = Message::decode(&bytes) {
            assert_eq!(Message::decode(&m.to_bytes()).unwrap(), m);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn random_json_never_panics(v in arb_json()) {
        let _ = Message::from_value(&v);
        let mut m = serde_json::Map::new();
        m.insert("@context".into(), json!("https://webpki.github.io/keygen2#20190318"));
        m.insert("@qualifier".into(), json!("KeyCreationRequest"));
        m.insert("pinPolicySpecifiers".into(), v);
        let _ = Message::from_value(&Value::Object(m));
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z@]{1,12}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}
