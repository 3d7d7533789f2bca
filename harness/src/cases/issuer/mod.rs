//! Issuer cases (pending: they need the issuer HTTP server and play the middleware and a
//! reference card against it).

use crate::case::Case;

/// The issuer catalog (empty until the issuer server lands).
pub fn all() -> Vec<Case> {
    Vec::new()
}
