//! The card's random choices, as one seam: [`CardEntropy`].
//!
//! The card draws randomness for exactly three provisioning outputs: the `clientSessionId`, the
//! client ephemeral ECDH key of `createProvisioningSession`, and the key pair of each
//! `createKeyEntry` (mixed with the issuer's `serverSeed`, [SKS-KEY-009]). Each goes through a
//! [`CardEntropy`] method. (The only other draw, the IV of a User-API AES encryption without an
//! explicit IV, stays on the card's [`CardRng`](crate::env::CardRng): it never appears in a provisioning session.)
//!
//! Every method draws from the workspace's one entropy seam, an `airtight_proto::entropy::Entropy`
//! (the card's own [`CardRng`](crate::env::CardRng) when the card calls it); [`CardEntropy`] only decides what is
//! drawn, and a test hook may pin a value instead of drawing it.
//!
//! - [`FromRng`] (the default, [`CardConfig::for_tests`](super::CardConfig::for_tests) and
//!   [`CardConfig::production`](super::CardConfig::production)) draws from the card's
//!   [`CardRng`](crate::env::CardRng) exactly as the card always has: a seed still reproduces every output byte for
//!   byte.
//! - [`Recorded`] is a **test hook** for interoperability replays: it hands out, in order, the
//!   values another SKS implementation chose in a recorded session (from the recorded
//!   `secrets.json`: `sessionKeyKdfInput` for the client session id,
//!   `clientEphemeralPrivateKey`, `sksGeneratedKeyPairs`), so the card reproduces that session's
//!   messages. Asked for anything it was not given, it fails the SKS call with
//!   `ERROR_INTERNAL` and a message naming what was missing. It must never be used outside
//!   tests: recorded keys are public.

use std::collections::VecDeque;

use airtight_proto::codec::{Reader, b64url};
use airtight_proto::entropy::{self as seam, Entropy, EntropyRng};
use airtight_proto::jwk::Jwk;
use airtight_proto::keys::{Curve, KeyType, PrivateKey, generate_ephemeral};
use airtight_proto::sks::SksError;

use super::crypto;

/// The kind of key pair `createKeyEntry` asks for (decoded from `keyAlgorithm` and
/// `keyParameters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPairSpec {
    /// An EC key on this curve.
    Ec(Curve),
    /// An RSA key of this modulus size and public exponent.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
        /// Public exponent.
        exponent: u64,
    },
    /// An Ed25519 key.
    Ed25519,
}

impl KeyPairSpec {
    /// Whether `key` is of this kind (the RSA exponent is not compared).
    pub fn fits(&self, key: &PrivateKey) -> bool {
        match (self, key.key_type()) {
            (KeyPairSpec::Ec(c), KeyType::Ec(k)) => *c == k,
            (KeyPairSpec::Rsa { bits, .. }, KeyType::Rsa { bits: k }) => *bits == k,
            (KeyPairSpec::Ed25519, KeyType::Ed25519) => true,
            _ => false,
        }
    }
}

/// One `createKeyEntry` key-pair request.
#[derive(Debug, Clone, Copy)]
pub struct KeyPairRequest<'a> {
    /// The key's `id`.
    pub id: &'a str,
    /// The kind of key.
    pub spec: KeyPairSpec,
    /// The issuer's `serverSeed` (possibly empty).
    pub server_seed: &'a [u8],
}

/// Every random choice the card makes in a provisioning session. `rng` is the entropy source
/// to draw from (the card's own generator); an implementation may ignore it.
pub trait CardEntropy: Send {
    /// The `clientSessionId` of a new session: 32 Base64URL characters.
    fn client_session_id(&mut self, rng: &mut dyn Entropy) -> Result<String, SksError>;
    /// The client ephemeral ECDH private key on `curve` (the server ephemeral key's curve).
    fn ephemeral_key(
        &mut self,
        curve: Curve,
        rng: &mut dyn Entropy,
    ) -> Result<PrivateKey, SksError>;
    /// The key pair of a `createKeyEntry`.
    fn key_pair(
        &mut self,
        request: &KeyPairRequest<'_>,
        rng: &mut dyn Entropy,
    ) -> Result<PrivateKey, SksError>;
}

/// The default: everything drawn from the card's [`CardRng`](crate::env::CardRng).
///
/// - client session id: 32 random bytes, each mapped to a Base64URL character by its low six
///   bits (`airtight_proto::entropy::token`);
/// - ephemeral key: generated on the curve from the card RNG;
/// - key pair: generated from ChaCha20 seeded with SHA-256(32 bytes of the card RNG ‖
///   `serverSeed`) ([SKS-KEY-009]).
#[derive(Debug, Clone, Copy, Default)]
pub struct FromRng;

impl CardEntropy for FromRng {
    fn client_session_id(&mut self, rng: &mut dyn Entropy) -> Result<String, SksError> {
        Ok(seam::token(rng))
    }

    fn ephemeral_key(
        &mut self,
        curve: Curve,
        rng: &mut dyn Entropy,
    ) -> Result<PrivateKey, SksError> {
        Ok(generate_ephemeral(curve, &mut EntropyRng(rng)))
    }

    fn key_pair(
        &mut self,
        request: &KeyPairRequest<'_>,
        rng: &mut dyn Entropy,
    ) -> Result<PrivateKey, SksError> {
        let mut key_rng = crypto::key_rng(rng, request.server_seed);
        crypto::generate(request.spec, &mut key_rng)
    }
}

/// A `secrets.json` that [`Recorded::push_session`] cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("recorded secrets: {0}")]
pub struct RecordedError(String);

/// TEST HOOK: the random choices of recorded sessions, handed out in order. See the module
/// documentation. Each call takes the next recorded value of its kind; a key pair must also
/// have the requested `id` and kind. Anything missing or different fails the SKS call with
/// `ERROR_INTERNAL` naming it.
#[derive(Default)]
pub struct Recorded {
    session_ids: VecDeque<String>,
    ephemeral_keys: VecDeque<PrivateKey>,
    key_pairs: VecDeque<(String, PrivateKey)>,
}

impl std::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("session_ids", &self.session_ids)
            .field("ephemeral_keys", &self.ephemeral_keys.len())
            .field(
                "key_pairs",
                &self.key_pairs.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn field<'a>(v: &'a serde_json::Value, name: &str) -> Result<&'a serde_json::Value, RecordedError> {
    v.get(name)
        .ok_or_else(|| RecordedError(format!("missing \"{name}\"")))
}

fn string<'a>(v: &'a serde_json::Value, name: &str) -> Result<&'a str, RecordedError> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| RecordedError(format!("\"{name}\" is not a string")))
}

fn bytes(v: &serde_json::Value, name: &str) -> Result<Vec<u8>, RecordedError> {
    b64url::decode(string(v, name)?).map_err(|e| RecordedError(format!("\"{name}\": {e}")))
}

fn ec_jwk(v: &serde_json::Value, what: &str) -> Result<PrivateKey, RecordedError> {
    let d = bytes(v, "d").map_err(|e| RecordedError(format!("{what}: {e}")))?;
    // The public JWK is the object without `d` (the JWK decoder is strict).
    let mut public = v.clone();
    if let Some(o) = public.as_object_mut() {
        o.remove("d");
    }
    let jwk = Jwk::from_json(&public, what).map_err(|e| RecordedError(format!("{what}: {e}")))?;
    PrivateKey::from_ec_jwk(&jwk, &d).map_err(|e| RecordedError(format!("{what}: {e}")))
}

impl Recorded {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the random choices of one recorded session (a `secrets.json` document): the
    /// client session id (the first `L(...)` of `sessionKeyKdfInput`), the client ephemeral
    /// key (`clientEphemeralPrivateKey`) and the generated key pairs (`sksGeneratedKeyPairs`,
    /// EC as a JWK with `d`, others as PKCS#8), in order.
    pub fn push_session(&mut self, secrets: &serde_json::Value) -> Result<(), RecordedError> {
        let kdf_input = bytes(secrets, "sessionKeyKdfInput")?;
        let mut r = Reader::new(&kdf_input);
        let id = r
            .l()
            .map_err(|e| RecordedError(format!("sessionKeyKdfInput: {e}")))?;
        let id = String::from_utf8(id.to_vec()).map_err(|_| {
            RecordedError("sessionKeyKdfInput: clientSessionId is not UTF-8".into())
        })?;
        let ephemeral = ec_jwk(
            field(secrets, "clientEphemeralPrivateKey")?,
            "clientEphemeralPrivateKey",
        )?;
        let mut pairs = Vec::new();
        if let Some(list) = secrets.get("sksGeneratedKeyPairs") {
            let list = list
                .as_array()
                .ok_or_else(|| RecordedError("\"sksGeneratedKeyPairs\" is not an array".into()))?;
            for entry in list {
                let id = string(entry, "id")?.to_owned();
                let pk = field(entry, "privateKey")?;
                let key = if pk.get("pkcs8").is_some() {
                    PrivateKey::from_pkcs8_der(&bytes(pk, "pkcs8")?)
                        .map_err(|e| RecordedError(format!("key {id}: {e}")))?
                } else {
                    ec_jwk(pk, &format!("key {id}"))?
                };
                pairs.push((id, key));
            }
        }
        self.session_ids.push_back(id);
        self.ephemeral_keys.push_back(ephemeral);
        self.key_pairs.extend(pairs);
        Ok(())
    }

    /// Whether every recorded value has been handed out.
    pub fn is_exhausted(&self) -> bool {
        self.session_ids.is_empty() && self.ephemeral_keys.is_empty() && self.key_pairs.is_empty()
    }
}

fn missing(what: &str) -> SksError {
    SksError::internal(format!("recorded entropy: no recorded {what} left"))
}

impl CardEntropy for Recorded {
    fn client_session_id(&mut self, _rng: &mut dyn Entropy) -> Result<String, SksError> {
        self.session_ids
            .pop_front()
            .ok_or_else(|| missing("client session id"))
    }

    fn ephemeral_key(
        &mut self,
        curve: Curve,
        _rng: &mut dyn Entropy,
    ) -> Result<PrivateKey, SksError> {
        let key = self
            .ephemeral_keys
            .pop_front()
            .ok_or_else(|| missing("ephemeral key"))?;
        if key.key_type() != KeyType::Ec(curve) {
            return Err(SksError::internal(format!(
                "recorded entropy: the recorded ephemeral key is not on {curve:?}"
            )));
        }
        Ok(key)
    }

    fn key_pair(
        &mut self,
        request: &KeyPairRequest<'_>,
        _rng: &mut dyn Entropy,
    ) -> Result<PrivateKey, SksError> {
        let (id, key) = self
            .key_pairs
            .pop_front()
            .ok_or_else(|| missing(&format!("key pair (for \"{}\")", request.id)))?;
        if id != request.id {
            return Err(SksError::internal(format!(
                "recorded entropy: the next recorded key pair is \"{id}\", not \"{}\"",
                request.id
            )));
        }
        if !request.spec.fits(&key) {
            return Err(SksError::internal(format!(
                "recorded entropy: the recorded key pair \"{id}\" is not a {:?}",
                request.spec
            )));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::env::CardRng;
    use airtight_proto::sks::SksErrorCode;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use sha2::Digest;

    #[test]
    fn from_rng_draws_exactly_what_the_card_drew_before_the_seam() {
        // The pre-seam card: 32 bytes -> Base64URL[b & 0x3f], then the ephemeral key from the
        // same stream, then per key ChaCha20(SHA-256(32 card bytes || serverSeed)).
        let mut card = CardRng::from_u64(7);
        let mut e = FromRng;
        let id = e.client_session_id(&mut card).unwrap();
        let eph = e.ephemeral_key(Curve::P256, &mut card).unwrap();
        let req = KeyPairRequest {
            id: "Key.1",
            spec: KeyPairSpec::Ec(Curve::P384),
            server_seed: b"seed",
        };
        let key = e.key_pair(&req, &mut card).unwrap();

        let mut old = CardRng::from_u64(7);
        let raw = old.bytes::<32>();
        let expected_id: String = raw
            .iter()
            .map(|b| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        [usize::from(b & 0x3f)],
                )
            })
            .collect();
        assert_eq!(id, expected_id);
        assert_eq!(
            eph.public_key(),
            generate_ephemeral(Curve::P256, &mut old).public_key()
        );
        let mut h = sha2::Sha256::new();
        h.update(old.bytes::<32>());
        h.update(b"seed");
        let mut key_rng = ChaCha20Rng::from_seed(h.finalize().into());
        assert_eq!(
            key.public_key(),
            PrivateKey::generate_ec(Curve::P384, &mut key_rng).public_key()
        );
        // Both streams are at the same place afterwards.
        assert_eq!(card.bytes::<16>(), old.bytes::<16>());
    }

    fn secrets(rel: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../vectors/interop/recorded")
            .join(rel)
            .join("secrets.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn recorded_hands_out_the_recorded_values_in_order_then_refuses() {
        let s = secrets("user-pin-multiple-keys");
        let mut r = Recorded::new();
        r.push_session(&s).unwrap();
        let mut rng = CardRng::from_u64(1);
        // The recorded clientSessionId is the one of message 04.
        assert_eq!(
            r.client_session_id(&mut rng).unwrap(),
            "by40eaG7nuNl_Tyeoi96EgVHwL0lyCdU"
        );
        let eph = r.ephemeral_key(Curve::P256, &mut rng).unwrap();
        let jwk = eph.public_key().to_jwk().to_json();
        assert_eq!(jwk["x"], s["clientEphemeralPrivateKey"]["x"]);
        assert_eq!(jwk["y"], s["clientEphemeralPrivateKey"]["y"]);
        // Wrong id: refused, naming both.
        let wrong = KeyPairRequest {
            id: "MySigningKey",
            spec: KeyPairSpec::Rsa {
                bits: 2048,
                exponent: 65537,
            },
            server_seed: &[],
        };
        let e = r.key_pair(&wrong, &mut rng).unwrap_err();
        assert_eq!(e.code(), SksErrorCode::Internal);
        assert!(e.message().contains("Key.1"), "{e:?}");
        // The right id and kind.
        let mut r = Recorded::new();
        r.push_session(&s).unwrap();
        for (id, spec) in [
            (
                "Key.1",
                KeyPairSpec::Rsa {
                    bits: 2048,
                    exponent: 65537,
                },
            ),
            ("MySigningKey", KeyPairSpec::Ec(Curve::P256)),
            ("Key.3", KeyPairSpec::Ed25519),
        ] {
            let req = KeyPairRequest {
                id,
                spec,
                server_seed: &[],
            };
            assert!(spec.fits(&r.key_pair(&req, &mut rng).unwrap()));
        }
        let _ = r.client_session_id(&mut rng).unwrap();
        let _ = r.ephemeral_key(Curve::P256, &mut rng).unwrap();
        assert!(r.is_exhausted());
        // Exhausted: every kind fails with a message naming what is missing.
        let e = r.client_session_id(&mut rng).unwrap_err();
        assert!(e.message().contains("client session id"));
        assert!(r.ephemeral_key(Curve::P256, &mut rng).is_err());
        let req = KeyPairRequest {
            id: "Key.4",
            spec: KeyPairSpec::Ed25519,
            server_seed: &[],
        };
        assert!(
            r.key_pair(&req, &mut rng)
                .unwrap_err()
                .message()
                .contains("Key.4")
        );
    }

    #[test]
    fn recorded_refuses_a_key_of_another_kind_or_curve() {
        let mut r = Recorded::new();
        r.push_session(&secrets("e2es-ec-device")).unwrap();
        let mut rng = CardRng::from_u64(1);
        assert!(r.ephemeral_key(Curve::P384, &mut rng).is_err());
        let req = KeyPairRequest {
            id: "Key.1",
            spec: KeyPairSpec::Ec(Curve::P521),
            server_seed: &[],
        };
        assert!(
            r.key_pair(&req, &mut rng)
                .unwrap_err()
                .message()
                .contains("not a")
        );
        assert!(
            Recorded::new()
                .push_session(&serde_json::json!({}))
                .is_err()
        );
    }
}
