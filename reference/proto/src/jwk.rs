//! The JSF/KeyGen2 public-key object, a subset of JWK [KG2-ENC-006].
//!
//! This is the *wire* form: member values are kept as decoded bytes and the `crv` as written.
//! [`crate::keys`] turns it into a typed public key (and checks curve points, lengths and
//! moduli); [`crate::messages`] reads and writes it as JSON.

/// A public key as KeyGen2 writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwk {
    /// `{"kty":"EC","crv":…,"x":…,"y":…}`; x and y at full field length.
    Ec {
        /// `crv` as written: a JOSE name (`P-256`) or an SKS curve URI.
        crv: String,
        /// The x coordinate.
        x: Vec<u8>,
        /// The y coordinate.
        y: Vec<u8>,
    },
    /// `{"kty":"RSA","n":…,"e":…}`.
    Rsa {
        /// The modulus, big-endian, no leading zero.
        n: Vec<u8>,
        /// The public exponent, big-endian, no leading zero.
        e: Vec<u8>,
    },
    /// `{"kty":"OKP","crv":"Ed25519","x":…}`.
    Okp {
        /// `crv` as written.
        crv: String,
        /// The public key bytes.
        x: Vec<u8>,
    },
}
