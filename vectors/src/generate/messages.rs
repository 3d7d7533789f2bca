//! One file per KeyGen2 message family.

use super::recorded::Session;
use crate::format::VectorFile;

/// Every message-family file.
pub fn all(_sessions: &[Session]) -> Vec<(&'static str, VectorFile)> {
    Vec::new()
}
