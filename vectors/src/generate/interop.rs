//! One interop file per recorded session.

use super::recorded::Session;
use crate::format::VectorFile;

/// Every interop file.
pub fn all(_sessions: &[Session]) -> Vec<(String, VectorFile)> {
    Vec::new()
}
