//! A serde adapter that stores byte fields as unpadded Base64URL strings.
//!
//! serde_json writes a `Vec<u8>` as an array of numbers (up to four bytes of text per byte);
//! keys, certificates and MAC keys in the card state are better kept as Base64URL (four
//! characters per three bytes). Use it on a field:
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Key {
//!     #[serde(with = "airtight_card::store::b64")]
//!     certificate: Vec<u8>,
//! }
//! let k = Key { certificate: vec![0xfb, 0xff] };
//! let json = serde_json::to_string(&k).unwrap();
//! assert_eq!(json, r#"{"certificate":"-_8"}"#);
//! assert_eq!(serde_json::from_str::<Key>(&json).unwrap(), k);
//! ```

use airtight_proto::codec::b64url;
use serde::{Deserialize, Deserializer, Serializer};

/// Serialize bytes as an unpadded Base64URL string.
pub fn serialize<S: Serializer>(bytes: impl AsRef<[u8]>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b64url::encode(bytes.as_ref()))
}

/// Deserialize an unpadded Base64URL string (strict) into bytes.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    b64url::decode(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct T {
        #[serde(with = "super")]
        b: Vec<u8>,
    }

    #[test]
    fn round_trip_and_rejects_padding() {
        // RFC 4648 section 10 vector "foobar" -> "Zm9vYmFy", "fo" -> "Zm8" unpadded.
        let t = T { b: b"fo".to_vec() };
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"b":"Zm8"}"#);
        assert_eq!(
            serde_json::from_str::<T>(r#"{"b":"Zm9vYmFy"}"#).unwrap().b,
            b"foobar"
        );
        assert!(serde_json::from_str::<T>(r#"{"b":"Zm8="}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"b":[1,2]}"#).is_err());
    }
}
