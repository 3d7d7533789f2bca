//! The confidential download: AES-256-CBC with PKCS#7 padding and the IV prepended
//! (facts §3.7).

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use thiserror::Error;
use zeroize::Zeroizing;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

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
    let pad = 16 - plaintext.len() % 16;
    let mut buf = Zeroizing::new(vec![0u8; plaintext.len() + pad]);
    buf[..plaintext.len()].copy_from_slice(plaintext);
    let mut out = iv.to_vec();
    match Enc::new(key.into(), iv.into()).encrypt_padded::<Pkcs7>(&mut buf, plaintext.len()) {
        Ok(ct) => out.extend_from_slice(ct),
        // The buffer always has room for the padding; keep the IV-only output impossible to
        // mistake for a valid ciphertext.
        Err(_) => out.clear(),
    }
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
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = Dec::new(key.into(), iv.into())
        .decrypt_padded::<Pkcs7>(&mut buf)
        .map_err(|_| CipherError::Decrypt)?
        .len();
    buf.truncate(len);
    Ok(buf)
}
