//! Checks `airtight-proto` against vectors: each group type has one checker.

use airtight_proto::codec::{Reader, Writer, b64url};
use serde_json::Value;

use crate::format::{TestCase, VectorFile, Verdict};
use crate::{field_hex, field_str, hex, hex_decode};

/// Outcome of checking one file.
#[derive(Debug, Default)]
pub struct Report {
    /// Tests that behaved as their verdict says.
    pub passed: usize,
    /// One line per test that did not.
    pub failures: Vec<String>,
}

/// Checks every test of `file`; an unknown group type is a failure (every type needs a checker).
pub fn check_file(file: &VectorFile) -> Report {
    let mut report = Report::default();
    for (kind, t) in file.tests() {
        let outcome = match kind {
            "SerializationTest" => serialization(t),
            "DeserializationTest" => deserialization(t),
            "Base64UrlTest" => base64url(t),
            other => Err(format!("no checker for test type {other:?}")),
        };
        match outcome {
            Ok(()) => report.passed += 1,
            Err(e) => report.failures.push(format!(
                "{} tcId {} ({}): {e}",
                file.algorithm, t.tc_id, t.comment
            )),
        }
    }
    report
}

fn items(t: &TestCase) -> Result<&Vec<Value>, String> {
    t.fields
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| "field \"items\" missing".to_owned())
}

fn item_parts(item: &Value) -> Result<(&str, &Value), String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .ok_or("item without type")?;
    Ok((kind, item.get("value").unwrap_or(&Value::Null)))
}

fn int(v: &Value) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{v} is not an unsigned integer"))
}

fn bytes(v: &Value) -> Result<Vec<u8>, String> {
    v.as_str()
        .and_then(hex_decode)
        .ok_or_else(|| format!("{v} is not hex"))
}

fn serialization(t: &TestCase) -> Result<(), String> {
    let mut w = Writer::new();
    for item in items(t)? {
        let (kind, v) = item_parts(item)?;
        match kind {
            "byte" => {
                w.byte(u8::try_from(int(v)?).map_err(|e| e.to_string())?);
            }
            "bool" => {
                w.bool(v.as_bool().ok_or("bool value")?);
            }
            "ushort" => {
                w.ushort(u16::try_from(int(v)?).map_err(|e| e.to_string())?);
            }
            "uint" => {
                w.uint(u32::try_from(int(v)?).map_err(|e| e.to_string())?);
            }
            "l" => {
                w.l(&bytes(v)?).map_err(|e| e.to_string())?;
            }
            "blob" => {
                w.blob(&bytes(v)?).map_err(|e| e.to_string())?;
            }
            "raw" => {
                w.raw(&bytes(v)?);
            }
            other => return Err(format!("unknown item type {other:?}")),
        }
    }
    let expected = field_hex(t, "encoded")?;
    if w.as_bytes() != expected.as_slice() {
        return Err(format!(
            "encoded {} expected {}",
            hex(w.as_bytes()),
            hex(&expected)
        ));
    }
    if t.result != Verdict::Valid {
        return Err("serialization tests are all valid".to_owned());
    }
    Ok(())
}

fn deserialization(t: &TestCase) -> Result<(), String> {
    let encoded = field_hex(t, "encoded")?;
    let read = || -> Result<(), String> {
        let mut r = Reader::new(&encoded);
        for item in items(t)? {
            let (kind, v) = item_parts(item)?;
            let got = match kind {
                "byte" => Value::from(r.byte().map_err(|e| e.to_string())?),
                "bool" => Value::from(r.bool().map_err(|e| e.to_string())?),
                "ushort" => Value::from(r.ushort().map_err(|e| e.to_string())?),
                "uint" => Value::from(r.uint().map_err(|e| e.to_string())?),
                "l" => Value::from(hex(r.l().map_err(|e| e.to_string())?)),
                "blob" => Value::from(hex(r.blob().map_err(|e| e.to_string())?)),
                other => return Err(format!("unknown item type {other:?}")),
            };
            if !v.is_null() && *v != got {
                return Err(format!("read {got}, expected {v}"));
            }
        }
        r.finish().map_err(|e| e.to_string())
    };
    verdict(t.result, read())
}

fn base64url(t: &TestCase) -> Result<(), String> {
    let text = field_str(t, "text")?;
    let decoded = b64url::decode(text).map_err(|e| e.to_string());
    if t.result == Verdict::Valid {
        let expected = field_hex(t, "bytes")?;
        let got = decoded?;
        if got != expected {
            return Err(format!("decoded {} expected {}", hex(&got), hex(&expected)));
        }
        if b64url::encode(&expected) != text {
            return Err("encoding does not reproduce the text".to_owned());
        }
        return Ok(());
    }
    verdict(t.result, decoded.map(|_| ()))
}

/// Maps an implementation outcome onto a verdict: valid must succeed, invalid must fail,
/// acceptable may do either.
pub fn verdict(expected: Verdict, outcome: Result<(), String>) -> Result<(), String> {
    match (expected, outcome) {
        (Verdict::Valid, Ok(())) | (Verdict::Invalid, Err(_)) | (Verdict::Acceptable, _) => Ok(()),
        (Verdict::Valid, Err(e)) => Err(format!("rejected a valid vector: {e}")),
        (Verdict::Invalid, Ok(())) => Err("accepted an invalid vector".to_owned()),
    }
}
