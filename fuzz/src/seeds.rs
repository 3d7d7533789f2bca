//! Seed corpora: taken from the vector files (`vectors/data`) and the golden session
//! transcripts (`vectors/sessions`), or made by running honest parties in process.
//!
//! A target writes its seeds into the directory named by `AIRTIGHT_FUZZ_SEEDS` (when set) from
//! its `init` block, before libFuzzer reads its corpus; `scripts/fuzz.sh` sets it to the
//! target's corpus directory. File names are content hashes, so seeding twice adds nothing.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root (the parent of `fuzz/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn tests(file: &Value) -> Vec<&Value> {
    file["testGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["tests"].as_array().into_iter().flatten())
        .collect()
}

/// Every KeyGen2 message of the vectors and golden sessions, as `(qualifier, JSON bytes)`:
/// the `message` of each `vectors/data/messages_*.json` test (valid and invalid ones) and each
/// body of each `vectors/sessions/*.json` transcript.
pub fn keygen2_messages() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let data = repo().join("vectors/data");
    for f in json_files(&data) {
        let is_messages = f
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("messages_"));
        if !is_messages {
            continue;
        }
        let Some(v) = read_json(&f) else { continue };
        for t in tests(&v) {
            let q = t["qualifier"].as_str().unwrap_or_default().to_owned();
            if let Ok(bytes) = serde_json::to_vec(&t["message"]) {
                out.push((q, bytes));
            }
        }
    }
    for f in json_files(&repo().join("vectors/sessions")) {
        let Some(v) = read_json(&f) else { continue };
        for t in tests(&v) {
            for m in t["messages"].as_array().into_iter().flatten() {
                let q = m["qualifier"].as_str().unwrap_or_default().to_owned();
                if let Some(body) = m["body"].as_str() {
                    out.push((q, body.as_bytes().to_vec()));
                }
            }
        }
    }
    out
}

/// The tests of `vectors/data/<name>`.
pub fn vector_tests(name: &str) -> Vec<Value> {
    read_json(&repo().join("vectors/data").join(name))
        .map(|v| tests(&v).into_iter().cloned().collect())
        .unwrap_or_default()
}

/// Decodes lowercase or uppercase hex (for vector fields); `None` on anything else.
pub fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Writes `seeds` into `$AIRTIGHT_FUZZ_SEEDS` when it is set (see the module docs).
pub fn emit<B: AsRef<[u8]>>(seeds: impl IntoIterator<Item = B>) {
    let Some(dir) = std::env::var_os("AIRTIGHT_FUZZ_SEEDS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for s in seeds {
        let s = s.as_ref();
        // FNV-1a, 64 bits: a stable name per content.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let _ = std::fs::write(dir.join(format!("seed-{h:016x}")), s);
    }
}

/// Seeds of the KeyGen2 decoders: the vector and golden-session messages with this qualifier
/// (all of them for `None`).
pub fn keygen2(qualifier: Option<&str>) -> Vec<Vec<u8>> {
    keygen2_messages()
        .into_iter()
        .filter(|(q, _)| qualifier.is_none_or(|want| q == want))
        .map(|(_, b)| b)
        .collect()
}

/// Seeds of the SKS serialization reader: each vector as `[n, kinds..., encoding]`.
pub fn sks_serialization() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in vector_tests("sks_serialization.json") {
        let Some(enc) = t["encoded"].as_str().and_then(hex) else {
            continue;
        };
        let mut kinds = Vec::new();
        for item in t["items"].as_array().into_iter().flatten() {
            let k = match item["type"].as_str().unwrap_or_default() {
                "byte" => 0u8,
                "bool" => 1,
                "ushort" => 2,
                "uint" => 3,
                "L" | "l" => 4,
                "blob" => 5,
                _ => {
                    let n = item["value"].as_str().map_or(0, |v| v.len() / 2);
                    6 + 7 * u8::try_from(n.min(35)).unwrap_or(0)
                }
            };
            kinds.push(k);
        }
        let mut s = vec![u8::try_from(kinds.len()).unwrap_or(0)];
        s.extend(kinds);
        s.extend(enc);
        out.push(s);
    }
    out
}

/// The example and reference harness target files.
pub fn target_tomls() -> Vec<Vec<u8>> {
    let dir = repo().join("harness/targets");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}
