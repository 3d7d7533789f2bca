//! The generators: one function per vector file. Output is deterministic (no clock, no OS
//! randomness), so regeneration reproduces the committed files byte for byte.

mod codec;
mod interop;
mod keys;
mod messages;
pub mod recorded;
mod session1;
pub mod sessions;

use crate::format::VectorFile;

/// Every vector file of `vectors/data/`, by file stem (`data/<stem>.json`).
pub fn all() -> Vec<(&'static str, VectorFile)> {
    let sessions = recorded::sessions();
    let mut v = vec![
        ("sks_serialization", codec::serialization()),
        ("base64url", codec::base64url()),
    ];
    v.extend(session1::all(&sessions));
    v.extend(keys::all(&sessions));
    v.extend(messages::all(&sessions));
    v
}

/// Every interop file of `vectors/interop/` (one per recorded session), by file stem.
pub fn interop() -> Vec<(String, VectorFile)> {
    interop::all(&recorded::sessions())
}

/// Every golden session transcript of `vectors/sessions/`, by file stem.
pub fn session_transcripts() -> Vec<(String, VectorFile)> {
    sessions::all()
}
