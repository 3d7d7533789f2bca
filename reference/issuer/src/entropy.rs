//! Injected randomness. Every random choice of the engine goes through [`Entropy`], so that a
//! seeded RNG reproduces a session byte for byte and a test can pin recorded secrets.

use airtight_proto::keys::{Curve, PrivateKey, generate_ephemeral};
use rand_core::CryptoRng;

/// The engine's random choices. [`RngEntropy`] derives all of them from one `CryptoRng`; a test
/// may pin some (e.g. the recorded server ephemeral key) and derive the rest.
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

/// The alphabet of generated session ids (Base64URL characters).
const ID_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every choice drawn from one `CryptoRng`.
#[derive(Debug)]
pub struct RngEntropy<'a, R: CryptoRng + ?Sized>(pub &'a mut R);

impl<R: CryptoRng + ?Sized> Entropy for RngEntropy<'_, R> {
    fn server_session_id(&mut self) -> String {
        let mut b = [0u8; 32];
        self.0.fill_bytes(&mut b);
        b.iter()
            .map(|x| char::from(ID_ALPHABET[usize::from(x & 0x3f)]))
            .collect()
    }

    fn ephemeral_key(&mut self, curve: Curve) -> PrivateKey {
        generate_ephemeral(curve, self.0)
    }

    fn iv(&mut self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        self.0.fill_bytes(&mut iv);
        iv
    }

    fn close_nonce(&mut self) -> Vec<u8> {
        let mut n = vec![0u8; 32];
        self.0.fill_bytes(&mut n);
        n
    }

    fn serial(&mut self) -> Vec<u8> {
        let mut s = vec![0u8; 16];
        self.0.fill_bytes(&mut s);
        // Positive and without a leading zero byte.
        if let Some(first) = s.first_mut() {
            *first = (*first & 0x7f) | 0x40;
        }
        s
    }

    fn fill(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }
}
