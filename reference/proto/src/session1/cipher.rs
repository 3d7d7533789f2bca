//! The confidential download: AES-256-CBC with PKCS#7 padding and the IV prepended
//! (facts §3.7).

use thiserror::Error;
use zeroize::Zeroizing;

/// Decryption failures. Padding errors are opaque on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CipherError {
    /// The input is shorter than IV plus one block, or not a whole number of blocks.
    #[error("encrypted data is {0} bytes: needs IV plus at least one 16-byte block")]
    BadLength(usize),
    /// The plaintext padding was wrong (opaque).
    #[error("decryption failed")]
    Decrypt,
}

/// `iv ‖ AES-256-CBC-PKCS#7(key, iv, plaintext)`. The IV is the caller's (fresh random bytes in
/// production, fixed in tests).
pub fn encrypt_with_key(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    let ct = crate::crypto::current()
        .backend
        .aes256_cbc_encrypt(key, iv, plaintext);
    // An empty ciphertext cannot happen (padding adds a block); keep the IV-only output
    // impossible to mistake for a valid ciphertext.
    if ct.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(16 + ct.len());
    out.extend_from_slice(iv);
    out.extend_from_slice(&ct);
    out
}

/// Splits `iv ‖ ciphertext` and decrypts. The input must be at least 32 bytes and a multiple
/// of 16.
pub fn decrypt_with_key(key: &[u8; 32], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return Err(CipherError::BadLength(data.len()));
    }
    let (iv, ct) = data.split_at(16);
    let iv: &[u8; 16] = iv
        .try_into()
        .map_err(|_| CipherError::BadLength(data.len()))?;
    crate::crypto::current()
        .backend
        .aes256_cbc_decrypt(key, iv, ct)
        .ok_or(CipherError::Decrypt)
}
