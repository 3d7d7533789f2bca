//! Key encodings: SPKI DER, the KeyGen2 JWK form, raw r||s versus DER ECDSA.

use super::recorded::Session;
use crate::format::VectorFile;

/// Every key-encoding file.
pub fn all(_sessions: &[Session]) -> Vec<(&'static str, VectorFile)> {
    Vec::new()
}
