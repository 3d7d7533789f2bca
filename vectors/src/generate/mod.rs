//! The generators: one function per vector file. Output is deterministic (no clock, no OS
//! randomness), so regeneration reproduces the committed files byte for byte.

mod codec;

use crate::format::VectorFile;

/// Every vector file, by file stem (`data/<stem>.json`).
pub fn all() -> Vec<(&'static str, VectorFile)> {
    vec![
        ("sks_serialization", codec::serialization()),
        ("base64url", codec::base64url()),
    ]
}
