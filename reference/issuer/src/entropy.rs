//! Injected randomness. Every random choice of the engine goes through [`Entropy`], so that a
//! seeded RNG reproduces a session byte for byte and a test can pin recorded secrets.
//!
//! The bytes come from the workspace's one entropy seam, an
//! [`airtight_proto::entropy::Entropy`] source (any `CryptoRng` is one): [`RngEntropy`] derives
//! every choice from such a source. [`Entropy`] itself only names the choices, so that a test
//! may pin some (e.g. the recorded server ephemeral key) and draw the rest.

use airtight_proto::entropy::{self as seam, EntropyRng};
use airtight_proto::keys::{Curve, PrivateKey, generate_ephemeral};

/// The engine's random choices. [`RngEntropy`] derives all of them from one entropy source; a
/// test may pin some (e.g. the recorded server ephemeral key) and derive the rest.
pub trait Entropy {
    /// The `serverSessionId` of a new session (1-32 characters in 0x21-0x7E).
    fn server_session_id(&mut self) -> String;
    /// The server ephemeral key pair on `curve`.
    fn ephemeral_key(&mut self, curve: Curve) -> PrivateKey;
    /// A fresh AES-CBC IV.
    fn iv(&mut self) -> [u8; 16];
    /// The close nonce (1-32 bytes).
    fn close_nonce(&mut self) -> Vec<u8>;
    /// A certificate serial number (positive, at most 20 bytes).
    fn serial(&mut self) -> Vec<u8>;
    /// Randomness for signatures that need it (RSA blinding is internal; ECDSA is RFC 6979).
    fn fill(&mut self, out: &mut [u8]);
}

/// Every choice drawn from one entropy source (the seam's
/// [`airtight_proto::entropy::Entropy`]; pass any `CryptoRng`).
pub struct RngEntropy<'a>(pub &'a mut dyn seam::Entropy);

impl std::fmt::Debug for RngEntropy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RngEntropy(..)")
    }
}

impl Entropy for RngEntropy<'_> {
    fn server_session_id(&mut self) -> String {
        seam::token(self.0)
    }

    fn ephemeral_key(&mut self, curve: Curve) -> PrivateKey {
        generate_ephemeral(curve, &mut EntropyRng(&mut *self.0))
    }

    fn iv(&mut self) -> [u8; 16] {
        seam::bytes::<16>(self.0)
    }

    fn close_nonce(&mut self) -> Vec<u8> {
        seam::bytes::<32>(self.0).to_vec()
    }

    fn serial(&mut self) -> Vec<u8> {
        let mut s = seam::bytes::<16>(self.0).to_vec();
        // Positive and without a leading zero byte.
        if let Some(first) = s.first_mut() {
            *first = (*first & 0x7f) | 0x40;
        }
        s
    }

    fn fill(&mut self, out: &mut [u8]) {
        self.0.fill(out);
    }
}
