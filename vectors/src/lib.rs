//! `airtight-vectors`: airtight's known-answer and negative test vectors.
//!
//! Vector files are Wycheproof-style JSON (`vectors/data/*.json`), each validated by
//! `vectors/schema/vector-file.schema.json`. They are written by code ([`gen`]) so that
//! `airtight-vectors regen --check` can prove that the committed files are exactly what the
//! generators produce; tests load every file, validate it and check the implementation against
//! every vector ([`check`]).

#![forbid(unsafe_code)]

pub mod check;
pub mod format;
pub mod generate;
pub mod session_check;

use std::path::{Path, PathBuf};

pub use format::{
    Note, TestCase, TestGroup, VectorFile, Verdict, field_hex, field_str, hex, hex_decode,
};

/// The `vectors/` folder of this checkout.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The folder holding the generated vector files.
pub fn data_dir() -> PathBuf {
    vectors_dir().join("data")
}

/// The folder holding the per-session interop files (`interop/<session>.json`, generated from
/// `interop/recorded/`).
pub fn interop_dir() -> PathBuf {
    vectors_dir().join("interop")
}

/// Every generated file: (folder, file name, file), for `data/` and `interop/`.
pub fn generated_files() -> Vec<(PathBuf, String, VectorFile)> {
    let mut out: Vec<(PathBuf, String, VectorFile)> = generate::all()
        .into_iter()
        .map(|(stem, f)| (data_dir(), format!("{stem}.json"), f))
        .collect();
    out.extend(
        generate::interop()
            .into_iter()
            .map(|(stem, f)| (interop_dir(), format!("{stem}.json"), f)),
    );
    out
}

/// The folder holding the golden session transcripts (`sessions/<scenario>.json`).
pub fn sessions_dir() -> PathBuf {
    vectors_dir().join("sessions")
}

/// Every golden session transcript file: (folder, file name, file).
pub fn generated_session_files() -> Vec<(PathBuf, String, VectorFile)> {
    generate::session_transcripts()
        .into_iter()
        .map(|(stem, f)| (sessions_dir(), format!("{stem}.json"), f))
        .collect()
}

/// The JSON Schema every vector file must satisfy.
pub fn schema_path() -> PathBuf {
    vectors_dir().join("schema").join("vector-file.schema.json")
}
