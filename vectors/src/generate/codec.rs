//! Vectors for the SKS serialization and for Base64URL.

use serde_json::{Value, json};

use crate::format::{Builder, VectorFile, Verdict};
use crate::hex;

fn item(kind: &str, value: Value) -> Value {
    json!({ "type": kind, "value": value })
}

/// `sks_serialization.json`: encodings of byte, bool, ushort, uint, L(), blob and raw items,
/// and encodings a strict reader must reject.
pub fn serialization() -> VectorFile {
    let mut b = Builder::new(
        "SKS serialization",
        &[
            "CRY-SER-001",
            "CRY-SER-002",
            "CRY-SER-003",
            "CRY-SER-004",
            "CRY-SER-005",
            "CRY-SER-006",
            "CRY-SER-007",
        ],
        &[
            "Items are written big-endian; L() is a 2-byte length then the bytes; blob a 4-byte",
            "length then the bytes; raw items carry no length. Expected encodings follow",
            "the serialization table of the SKS specification (sks-api-arch.pdf §7.1, public repository cyberphone/doc) and were written out by hand from it.",
        ],
    );
    b.note("Basic", "BASIC", "A plain encoding.")
        .note(
            "EdgeCase",
            "EDGE_CASE",
            "A boundary value: 0, maximum, empty.",
        )
        .note(
            "Truncated",
            "MALFORMED",
            "The encoding ends inside an item.",
        )
        .note("Trailing", "MALFORMED", "Bytes remain after the last item.")
        .note(
            "BadBool",
            "MALFORMED",
            "A bool byte other than 0x00 and 0x01.",
        );

    b.group("SerializationTest");
    let valid: Vec<(&str, &[&str], Vec<Value>, &str)> = vec![
        ("one byte", &["Basic"], vec![item("byte", json!(7))], "07"),
        (
            "bool true",
            &["Basic"],
            vec![item("bool", json!(true))],
            "01",
        ),
        (
            "bool false",
            &["Basic"],
            vec![item("bool", json!(false))],
            "00",
        ),
        (
            "ushort 0x0102 big-endian",
            &["Basic"],
            vec![item("ushort", json!(258))],
            "0102",
        ),
        (
            "ushort 0",
            &["EdgeCase"],
            vec![item("ushort", json!(0))],
            "0000",
        ),
        (
            "ushort max",
            &["EdgeCase"],
            vec![item("ushort", json!(65535))],
            "ffff",
        ),
        (
            "uint big-endian",
            &["Basic"],
            vec![item("uint", json!(70000))],
            "00011170",
        ),
        (
            "uint max",
            &["EdgeCase"],
            vec![item("uint", json!(4_294_967_295u64))],
            "ffffffff",
        ),
        (
            "L() of text",
            &["Basic"],
            vec![item("l", json!("616263"))],
            "0003616263",
        ),
        (
            "L() of nothing",
            &["EdgeCase"],
            vec![item("l", json!(""))],
            "0000",
        ),
        (
            "blob",
            &["Basic"],
            vec![item("blob", json!("0a0b"))],
            "000000020a0b",
        ),
        (
            "empty blob",
            &["EdgeCase"],
            vec![item("blob", json!(""))],
            "00000000",
        ),
        (
            "raw modifier has no length",
            &["Basic"],
            vec![item("raw", json!("4b6579"))],
            "4b6579",
        ),
        (
            "list of L() items has no count prefix",
            &["Basic"],
            vec![item("l", json!("61")), item("l", json!("6263"))],
            "00016100026263",
        ),
        (
            "mixed sequence",
            &["Basic"],
            vec![
                item("l", json!("4944")),
                item("bool", json!(true)),
                item("byte", json!(3)),
                item("ushort", json!(10000)),
                item("blob", json!("ff")),
            ],
            "000249440103271000000001ff",
        ),
    ];
    for (comment, flags, items, enc) in valid {
        let enc: String = enc.chars().filter(|c| !c.is_whitespace()).collect();
        b.test(
            comment,
            flags,
            Verdict::Valid,
            json!({ "items": items, "encoded": enc }),
        );
    }
    let l_300 = {
        let body = vec![0x5au8; 300];
        let mut enc = vec![0x01, 0x2c];
        enc.extend_from_slice(&body);
        (hex(&body), hex(&enc))
    };
    b.test(
        "L() of 300 bytes: length 0x012c",
        &["EdgeCase"],
        Verdict::Valid,
        json!({ "items": [item("l", json!(l_300.0))], "encoded": l_300.1 }),
    );

    b.group("DeserializationTest");
    let invalid: Vec<(&str, &str, Vec<Value>, &str)> = vec![
        (
            "L() length beyond the end",
            "Truncated",
            vec![item("l", Value::Null)],
            "0003ab",
        ),
        (
            "ushort cut in half",
            "Truncated",
            vec![item("ushort", Value::Null)],
            "01",
        ),
        (
            "uint cut",
            "Truncated",
            vec![item("uint", Value::Null)],
            "000001",
        ),
        (
            "blob length beyond the end",
            "Truncated",
            vec![item("blob", Value::Null)],
            "00000002ff",
        ),
        (
            "empty input for a byte",
            "Truncated",
            vec![item("byte", Value::Null)],
            "",
        ),
        (
            "trailing byte after L()",
            "Trailing",
            vec![item("l", Value::Null)],
            "0001aabb",
        ),
        (
            "trailing byte after bool",
            "Trailing",
            vec![item("bool", Value::Null)],
            "0100",
        ),
        (
            "bool 0x02",
            "BadBool",
            vec![item("bool", Value::Null)],
            "02",
        ),
        (
            "bool 0xff",
            "BadBool",
            vec![item("bool", Value::Null)],
            "ff",
        ),
    ];
    for (comment, flag, items, enc) in invalid {
        b.test(
            comment,
            &[flag],
            Verdict::Invalid,
            json!({ "items": items, "encoded": enc }),
        );
    }
    b.test(
        "L() then bool read back",
        &["Basic"],
        Verdict::Valid,
        json!({ "items": [item("l", json!("aa")), item("bool", json!(false))], "encoded": "0001aa00" }),
    );
    b.finish()
}

/// `base64url.json`: Base64URL without padding, strict decoding.
pub fn base64url() -> VectorFile {
    let mut b = Builder::new(
        "Base64URL without padding",
        &["KG2-ENC-003"],
        &[
            "KeyGen2 writes every byte string as Base64URL (RFC 4648 §5) without padding.",
            "Decoders accept exactly one text per byte string: no padding, no whitespace, no",
            "characters of the standard alphabet, no non-zero bits after the last byte.",
        ],
    );
    b.note("Basic", "BASIC", "A plain value.")
        .note("EdgeCase", "EDGE_CASE", "Empty or boundary length.")
        .note("Padding", "MALFORMED", "Carries '=' padding.")
        .note(
            "Alphabet",
            "MALFORMED",
            "Carries a character outside the URL-safe alphabet.",
        )
        .note(
            "NonCanonical",
            "MALFORMED",
            "Non-zero bits after the last byte.",
        )
        .note(
            "BadLength",
            "MALFORMED",
            "A length that no byte string encodes to.",
        );
    b.group("Base64UrlTest");
    let valid: &[(&str, &str, &str, &str)] = &[
        ("empty", "EdgeCase", "", ""),
        ("one byte", "Basic", "AA", "00"),
        ("two bytes", "Basic", "-_8", "fbff"),
        ("three bytes", "Basic", "AQID", "010203"),
        ("url-safe characters", "Basic", "-_-_", "fbffbf"),
        ("all ones", "EdgeCase", "____", "ffffff"),
        ("text", "Basic", "S2V5R2VuMg", "4b657947656e32"),
        (
            "32-byte MAC length",
            "EdgeCase",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ),
    ];
    for (comment, flag, text, bytes) in valid {
        b.test(
            comment,
            &[flag],
            Verdict::Valid,
            json!({ "text": text, "bytes": bytes }),
        );
    }
    let invalid: &[(&str, &str, &str)] = &[
        ("padding after two bytes", "Padding", "-_8="),
        ("padding after one byte", "Padding", "AA=="),
        ("standard alphabet plus", "Alphabet", "+_8"),
        ("standard alphabet slash", "Alphabet", "-/8"),
        ("space inside", "Alphabet", "AQ ID"),
        ("newline at end", "Alphabet", "AQID\n"),
        ("non-ASCII character", "Alphabet", "AQI\u{e9}"),
        ("trailing bits set (one byte)", "NonCanonical", "AB"),
        ("trailing bits set (two bytes)", "NonCanonical", "-_9"),
        ("single character", "BadLength", "A"),
        ("five characters", "BadLength", "AQIDB"),
    ];
    for (comment, flag, text) in invalid {
        b.test(comment, &[flag], Verdict::Invalid, json!({ "text": text }));
    }
    b.finish()
}
