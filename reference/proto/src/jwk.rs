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

use crate::codec::b64url;
use crate::messages::{DecodeError, ErrorKind};
use serde_json::{Map, Value};

/// Coordinate length for an EC `crv` (JOSE name or SKS curve URI), `None` if unknown.
fn ec_field_len(crv: &str) -> Option<usize> {
    const SKS: &str = "https://webpki.github.io/sks/algorithm#";
    match crv {
        "P-256" => Some(32),
        "P-384" => Some(48),
        "P-521" => Some(66),
        _ => match crv.strip_prefix(SKS)? {
            "ec.nist.p256" | "ec.brainpool.p256r1" | "ec.secg.p256k" | "ec.secg.p256k1" => Some(32),
            "ec.nist.p384" => Some(48),
            "ec.nist.p521" => Some(66),
            _ => None,
        },
    }
}

/// Key length for an OKP `crv`, `None` if unknown.
fn okp_len(crv: &str) -> Option<usize> {
    match crv {
        "Ed25519" | "https://webpki.github.io/sks/algorithm#ed25519" => Some(32),
        _ => None,
    }
}

impl Jwk {
    /// The JSON object, members in the order the Java encoder writes them
    /// (`kty, crv, x, y` / `kty, n, e` / `kty, crv, x`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let s = |t: &str| Value::String(t.to_owned());
        let b = |x: &[u8]| Value::String(b64url::encode(x));
        match self {
            Jwk::Ec { crv, x, y } => {
                m.insert("kty".into(), s("EC"));
                m.insert("crv".into(), s(crv));
                m.insert("x".into(), b(x));
                m.insert("y".into(), b(y));
            }
            Jwk::Rsa { n, e } => {
                m.insert("kty".into(), s("RSA"));
                m.insert("n".into(), b(n));
                m.insert("e".into(), b(e));
            }
            Jwk::Okp { crv, x } => {
                m.insert("kty".into(), s("OKP"));
                m.insert("crv".into(), s(crv));
                m.insert("x".into(), b(x));
            }
        }
        Value::Object(m)
    }

    /// Strictly decodes a public-key object found at `path` (used for error paths; pass `""`
    /// for a stand-alone key): known `kty`, known `crv`, coordinates at full field length,
    /// RSA integers without leading zero bytes, and no other members.
    pub fn from_json(value: &Value, path: &str) -> Result<Jwk, DecodeError> {
        let map = match value {
            Value::Object(m) => m,
            _ => {
                return Err(DecodeError::new(
                    path,
                    ErrorKind::WrongType,
                    "a public key is an object",
                ));
            }
        };
        let mut o = crate::messages::reader::Obj::new(map, path.to_owned());
        let kty = o.req("kty", |v| v.string().map(str::to_owned))?;
        let crv_path = crate::messages::reader::join(path, "crv");
        let key = match kty.as_str() {
            "EC" => {
                let crv = o.req("crv", |v| v.string().map(str::to_owned))?;
                let len = ec_field_len(&crv).ok_or_else(|| {
                    DecodeError::new(&crv_path, ErrorKind::BadEnum, "unknown EC curve")
                })?;
                let x = o.req("x", |v| v.bytes(len, len))?;
                let y = o.req("y", |v| v.bytes(len, len))?;
                Jwk::Ec { crv, x, y }
            }
            "RSA" => {
                let int = |v: crate::messages::reader::Val<'_, '_>| {
                    let b = v.bytes(1, 2048)?;
                    if b.first() == Some(&0) {
                        return Err(v.err(ErrorKind::BadLength, "leading zero byte"));
                    }
                    Ok(b)
                };
                let n = o.req("n", int)?;
                let e = o.req("e", int)?;
                Jwk::Rsa { n, e }
            }
            "OKP" => {
                let crv = o.req("crv", |v| v.string().map(str::to_owned))?;
                let len = okp_len(&crv).ok_or_else(|| {
                    DecodeError::new(&crv_path, ErrorKind::BadEnum, "unknown OKP curve")
                })?;
                let x = o.req("x", |v| v.bytes(len, len))?;
                Jwk::Okp { crv, x }
            }
            _ => {
                return Err(DecodeError::new(
                    crate::messages::reader::join(path, "kty"),
                    ErrorKind::BadEnum,
                    "kty must be EC, RSA or OKP",
                ));
            }
        };
        o.finish()?;
        Ok(key)
    }
}

#[cfg(test)]
mod json_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::messages::ErrorKind;
    use serde_json::json;

    #[test]
    fn round_trip_and_order() {
        let ec = json!({"kty":"EC","crv":"P-256",
            "x":"Vy8t9BJLAnZhfOc1hhKULqT2-i1iHfdBCvurhNwLOXo",
            "y":"ImjHHpPJpU8iyNHUQVSSwr-CSNrl31vAqQZxh1q7vl4"});
        let k = Jwk::from_json(&ec, "k").unwrap();
        assert!(matches!(&k, Jwk::Ec { x, .. } if x.len() == 32));
        assert_eq!(
            serde_json::to_string(&k.to_json()).unwrap(),
            serde_json::to_string(&ec).unwrap()
        );
        let okp =
            json!({"kty":"OKP","crv":"Ed25519","x":"6mGAUaHdzO-mEiD6aM3PTqSJ_mZui4zMfVl1ilUQs7E"});
        assert_eq!(Jwk::from_json(&okp, "").unwrap().to_json(), okp);
        let rsa = json!({"kty":"RSA","n":"wQ","e":"AQAB"});
        assert_eq!(Jwk::from_json(&rsa, "").unwrap().to_json(), rsa);
    }

    #[test]
    fn strict() {
        // [KG2-ENC-006] no other JWK member, no other kty or crv, exact lengths.
        let bad = [
            (
                json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA"}),
                "k.x",
                ErrorKind::BadLength,
            ),
            (
                json!({"kty":"RSA","n":"AAE","e":"AQAB"}),
                "k.n",
                ErrorKind::BadLength,
            ),
            (
                json!({"kty":"RSA","n":"wQ","e":"AQAB","d":"AQ"}),
                "k.d",
                ErrorKind::UnknownProperty,
            ),
            (json!({"kty":"oct","k":"AQ"}), "k.kty", ErrorKind::BadEnum),
            (
                json!({"kty":"OKP","crv":"X25519","x":"AQ"}),
                "k.crv",
                ErrorKind::BadEnum,
            ),
            (json!({"kty":"RSA","e":"AQAB"}), "k.n", ErrorKind::Missing),
            (json!("RSA"), "k", ErrorKind::WrongType),
        ];
        for (v, path, kind) in bad {
            let e = Jwk::from_json(&v, "k").unwrap_err();
            assert_eq!((e.path(), e.kind()), (path, kind), "{v}");
        }
    }
}
