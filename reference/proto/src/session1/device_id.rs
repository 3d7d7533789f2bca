//! Human-typable device IDs (facts §4, "Dual-use device IDs").
//!
//! The facts give the ingredients (SHA-1 of the certificate DER, 36- and 20-character forms, the
//! alphabet, a 20-bit XOR-folded checksum) but not the exact folding. It was learnt from the
//! public Java source `cyberphone/openkeystore: library/src/org/webpki/crypto/DeviceID.java`
//! (facts only; this is an independent implementation):
//!
//! - the identity is the 20-byte SHA-1 (long form) or that hash folded once to 10 bytes (short);
//! - folding XORs the first half of a byte string with the second half; a 5-byte string is
//!   first spread to 6 bytes (`b0 b1 (b2&F0) (b2<<4|b3>>4) (b3<<4|b4>>4) (b4<<4)`, i.e. 20 bits
//!   XOR 20 bits, left-aligned in 3 bytes);
//! - the checksum is the identity folded down to those 3 bytes (20 significant bits);
//! - identity ‖ checksum is written MSB-first in 5-bit groups (180 bits = 36 characters, or 100
//!   bits = 20 characters).

use thiserror::Error;

use crate::keys::sha1;

/// The 32 visually distinct characters.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A device ID string that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeviceIdError {
    /// Neither 36 nor 20 characters.
    #[error("a device ID has 36 or 20 characters, not {0}")]
    Length(usize),
    /// A character outside the alphabet.
    #[error("character {0:?} is not in the device ID alphabet")]
    Character(char),
    /// The checksum does not match.
    #[error("device ID checksum error")]
    Checksum,
}

fn fold(data: &[u8]) -> Vec<u8> {
    let spread;
    let data = if data.len() == 5 {
        spread = [
            data[0],
            data[1],
            data[2] & 0xf0,
            (data[2] << 4) | (data[3] >> 4),
            (data[3] << 4) | (data[4] >> 4),
            data[4] << 4,
        ];
        &spread[..]
    } else {
        data
    };
    let half = data.len() / 2;
    (0..half).map(|i| data[i] ^ data[i + half]).collect()
}

/// Encodes an identity of 20 or 10 bytes.
fn encode(identity: &[u8]) -> String {
    let mut checksum = fold(&fold(identity));
    if checksum.len() == 5 {
        checksum = fold(&checksum);
    }
    let mut data = identity.to_vec();
    data.extend_from_slice(&checksum);
    data.push(0); // room for the last group's look-ahead
    let total_bits = identity.len() * 8 + 20;
    let mut out = String::with_capacity(total_bits / 5);
    for pos in (0..total_bits).step_by(5) {
        let idx = pos / 8;
        let word = (u16::from(data[idx]) << 8) | u16::from(data[idx + 1]);
        let value = (word >> (11 - pos % 8)) & 0x1f;
        out.push(char::from(ALPHABET[usize::from(value)]));
    }
    out
}

/// The device ID of a device certificate: 36 characters (`long`) or 20.
pub fn device_id_string(device_certificate_der: &[u8], long: bool) -> String {
    let hash = sha1(device_certificate_der);
    if long {
        encode(&hash)
    } else {
        encode(&fold(&hash))
    }
}

/// Checks length, alphabet and checksum of a typed device ID.
pub fn validate_device_id(id: &str) -> Result<(), DeviceIdError> {
    let n = id.chars().count();
    let identity_len = match n {
        36 => 20,
        20 => 10,
        other => return Err(DeviceIdError::Length(other)),
    };
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut identity = Vec::with_capacity(identity_len + 3);
    for c in id.chars() {
        let v = ALPHABET
            .iter()
            .position(|a| char::from(*a) == c)
            .ok_or(DeviceIdError::Character(c))?;
        bits = (bits << 5) | v as u32;
        nbits += 5;
        while nbits >= 8 {
            identity.push((bits >> (nbits - 8)) as u8);
            nbits -= 8;
            bits &= (1 << nbits) - 1;
        }
    }
    identity.truncate(identity_len);
    if encode(&identity) == id {
        Ok(())
    } else {
        Err(DeviceIdError::Checksum)
    }
}
