//! The algorithm URI registry (facts §3.10) and the KeyGen2 capability URIs (facts §1.3).
//!
//! Every URI the Java SKS knows is here, plus the key-generation URIs keygen2.html lists but the
//! reference SKS rejects (marked unsupported). Each entry says which key material it may be
//! endorsed for (`endorsedAlgorithms` of `createKeyEntry`).

use crate::keys::{Curve, KeyType};

/// The SKS algorithm URI prefix.
pub const SKS: &str = "https://webpki.github.io/sks/algorithm#";

/// `https://webpki.github.io/sks/algorithm#session.1`.
pub const SESSION_1: &str = "https://webpki.github.io/sks/algorithm#session.1";
/// `https://webpki.github.io/sks/algorithm#key.1`.
pub const KEY_1: &str = "https://webpki.github.io/sks/algorithm#key.1";
/// `https://webpki.github.io/sks/algorithm#none`.
pub const NONE: &str = "https://webpki.github.io/sks/algorithm#none";

/// The group an algorithm belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlgGroup {
    /// Symmetric encryption (AES).
    SymmetricEncryption,
    /// HMAC.
    Hmac,
    /// Asymmetric (RSA) decryption.
    AsymmetricDecrypt,
    /// Key agreement (ECDH).
    KeyAgreement,
    /// Signatures.
    Signature,
    /// Key-pair generation (`keyAlgorithm` of `createKeyEntry`).
    KeyGeneration,
    /// Protocol algorithms (`session.1`, `key.1`) and `none`.
    Special,
}

/// What key material an algorithm may be endorsed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRequirement {
    /// A symmetric key of one of these lengths in bytes (empty: any length).
    Symmetric(&'static [usize]),
    /// An RSA key pair.
    Rsa,
    /// An EC key pair.
    Ec,
    /// An Ed25519 key pair.
    Ed25519,
    /// Any key (only `#none`).
    Any,
    /// Not endorsable (key generation and protocol algorithms).
    NotEndorsable,
}

/// What a key-generation URI makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyGen {
    /// An EC key pair on a supported curve.
    Ec(Curve),
    /// An EC curve airtight does not support (brainpool, secp256k1).
    OtherCurve,
    /// RSA of this many bits; `exponent_param` when `keyParameters` carries the exponent.
    Rsa {
        /// Modulus bits.
        bits: usize,
        /// True for the `.exp` variants (`keyParameters` = 1–8-byte big-endian exponent).
        exponent_param: bool,
    },
    /// Ed25519.
    Ed25519,
    /// Ed448, X25519 or X448 (listed by keygen2.html, rejected by the reference SKS).
    Other,
}

/// The key material an algorithm is checked against when endorsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndorsedKey {
    /// A symmetric key of this many bytes (imported with `importSymmetricKey`).
    Symmetric(usize),
    /// An asymmetric key pair.
    Asymmetric(KeyType),
}

/// One registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithm {
    /// The URI.
    pub uri: &'static str,
    /// Its group.
    pub group: AlgGroup,
    /// True if airtight implements it (false: listed by a spec text, rejected by the Java SKS).
    pub supported: bool,
    /// What it may be endorsed for.
    pub requirement: KeyRequirement,
    /// For key-generation URIs, what they make.
    pub keygen: Option<KeyGen>,
}

impl Algorithm {
    /// True if this algorithm may be endorsed for `key` (checked at close, facts §4).
    pub fn fits(&self, key: EndorsedKey) -> bool {
        match (self.requirement, key) {
            (KeyRequirement::Any, _) => true,
            (KeyRequirement::Symmetric(lens), EndorsedKey::Symmetric(n)) => {
                lens.is_empty() || lens.contains(&n)
            }
            (KeyRequirement::Rsa, EndorsedKey::Asymmetric(KeyType::Rsa { .. }))
            | (KeyRequirement::Ec, EndorsedKey::Asymmetric(KeyType::Ec(_)))
            | (KeyRequirement::Ed25519, EndorsedKey::Asymmetric(KeyType::Ed25519)) => true,
            _ => false,
        }
    }
}

const AES_ANY: &[usize] = &[16, 24, 32];

macro_rules! a {
    ($uri:expr, $group:ident, $sup:expr, $req:expr) => {
        Algorithm {
            uri: $uri,
            group: AlgGroup::$group,
            supported: $sup,
            requirement: $req,
            keygen: None,
        }
    };
    ($uri:expr, keygen $sup:expr, $kg:expr) => {
        Algorithm {
            uri: $uri,
            group: AlgGroup::KeyGeneration,
            supported: $sup,
            requirement: KeyRequirement::NotEndorsable,
            keygen: Some($kg),
        }
    };
}

use KeyRequirement as R;

/// Every algorithm URI of facts §3.10 (plus the curves of §3.2 item 1).
pub static ALGORITHMS: &[Algorithm] = &[
    // Symmetric encryption.
    a!(
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        SymmetricEncryption,
        true,
        R::Symmetric(&[16])
    ),
    a!(
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
        SymmetricEncryption,
        true,
        R::Symmetric(&[24])
    ),
    a!(
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        SymmetricEncryption,
        true,
        R::Symmetric(&[32])
    ),
    a!(
        "https://webpki.github.io/sks/algorithm#aes.cbc",
        SymmetricEncryption,
        true,
        R::Symmetric(AES_ANY)
    ),
    a!(
        "https://webpki.github.io/sks/algorithm#aes.ecb.nopad",
        SymmetricEncryption,
        true,
        R::Symmetric(AES_ANY)
    ),
    // HMAC.
    a!(
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        Hmac,
        true,
        R::Symmetric(&[])
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        Hmac,
        true,
        R::Symmetric(&[])
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384",
        Hmac,
        true,
        R::Symmetric(&[])
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512",
        Hmac,
        true,
        R::Symmetric(&[])
    ),
    // Asymmetric decryption.
    a!(
        "https://webpki.github.io/sks/algorithm#rsa.es.pkcs1_5",
        AsymmetricDecrypt,
        true,
        R::Rsa
    ),
    a!(
        "https://webpki.github.io/sks/algorithm#rsa.oaep.sha1",
        AsymmetricDecrypt,
        true,
        R::Rsa
    ),
    a!(
        "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256",
        AsymmetricDecrypt,
        true,
        R::Rsa
    ),
    // Key agreement.
    a!(
        "https://webpki.github.io/sks/algorithm#ecdh.raw",
        KeyAgreement,
        true,
        R::Ec
    ),
    // Signatures.
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        Signature,
        true,
        R::Rsa
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        Signature,
        true,
        R::Rsa
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        Signature,
        true,
        R::Rsa
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        Signature,
        true,
        R::Ec
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        Signature,
        true,
        R::Ec
    ),
    a!(
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
        Signature,
        true,
        R::Ec
    ),
    a!(
        "https://webpki.github.io/sks/algorithm#ed25519",
        Signature,
        true,
        R::Ed25519
    ),
    // Pre-hashed signatures named by the PDF only (the code at API level 106 has none).
    a!(
        "https://webpki.github.io/sks/algorithm#rsa.pkcs1.none",
        Signature,
        false,
        R::Rsa
    ),
    a!(
        "https://webpki.github.io/sks/algorithm#ecdsa.none",
        Signature,
        false,
        R::Ec
    ),
    // Key generation.
    a!("https://webpki.github.io/sks/algorithm#ec.nist.p256", keygen true, KeyGen::Ec(Curve::P256)),
    a!("https://webpki.github.io/sks/algorithm#ec.nist.p384", keygen true, KeyGen::Ec(Curve::P384)),
    a!("https://webpki.github.io/sks/algorithm#ec.nist.p521", keygen true, KeyGen::Ec(Curve::P521)),
    a!("https://webpki.github.io/sks/algorithm#ec.brainpool.p256r1", keygen false, KeyGen::OtherCurve),
    a!("https://webpki.github.io/sks/algorithm#ec.secg.p256k", keygen false, KeyGen::OtherCurve),
    a!("https://webpki.github.io/sks/algorithm#ec.secg.p256k1", keygen false, KeyGen::OtherCurve),
    a!("https://webpki.github.io/sks/algorithm#rsa1024", keygen true, KeyGen::Rsa { bits: 1024, exponent_param: false }),
    a!("https://webpki.github.io/sks/algorithm#rsa2048", keygen true, KeyGen::Rsa { bits: 2048, exponent_param: false }),
    a!("https://webpki.github.io/sks/algorithm#rsa1024.exp", keygen true, KeyGen::Rsa { bits: 1024, exponent_param: true }),
    a!("https://webpki.github.io/sks/algorithm#rsa2048.exp", keygen true, KeyGen::Rsa { bits: 2048, exponent_param: true }),
    a!("https://webpki.github.io/sks/algorithm#rsa3072", keygen false, KeyGen::Rsa { bits: 3072, exponent_param: false }),
    a!("https://webpki.github.io/sks/algorithm#rsa4096", keygen false, KeyGen::Rsa { bits: 4096, exponent_param: false }),
    a!("https://webpki.github.io/sks/algorithm#rsa3072.exp", keygen false, KeyGen::Rsa { bits: 3072, exponent_param: true }),
    a!("https://webpki.github.io/sks/algorithm#rsa4096.exp", keygen false, KeyGen::Rsa { bits: 4096, exponent_param: true }),
    a!("https://webpki.github.io/sks/algorithm#ed25519", keygen true, KeyGen::Ed25519),
    a!("https://webpki.github.io/sks/algorithm#ed448", keygen false, KeyGen::Other),
    a!("https://webpki.github.io/sks/algorithm#x25519", keygen false, KeyGen::Other),
    a!("https://webpki.github.io/sks/algorithm#x448", keygen false, KeyGen::Other),
    // Special.
    a!(SESSION_1, Special, true, R::NotEndorsable),
    a!(KEY_1, Special, true, R::NotEndorsable),
    a!(NONE, Special, true, R::Any),
];

/// Looks up a URI (exact match). `…#ed25519` is both a signature and a key-generation URI;
/// this returns the first entry of `group` when given, otherwise the first entry.
pub fn lookup_in(uri: &str, group: Option<AlgGroup>) -> Option<&'static Algorithm> {
    ALGORITHMS
        .iter()
        .find(|a| a.uri == uri && group.is_none_or(|g| a.group == g))
}

/// Looks up a URI (exact match), preferring non-key-generation entries.
pub fn lookup(uri: &str) -> Option<&'static Algorithm> {
    lookup_in(uri, None)
}

/// Looks up a key-generation URI (`keyAlgorithm`).
pub fn lookup_keygen(uri: &str) -> Option<&'static Algorithm> {
    lookup_in(uri, Some(AlgGroup::KeyGeneration))
}

/// True if `uri` is an algorithm airtight supports (as an endorsed algorithm or otherwise).
pub fn is_supported(uri: &str) -> bool {
    ALGORITHMS.iter().any(|a| a.uri == uri && a.supported)
}

/// The RSA public exponent of a `.exp` key-generation URI's `keyParameters`: 1 to 8
/// big-endian bytes, odd and at least 3 (`None` otherwise).
pub fn rsa_exponent_from_key_parameters(key_parameters: &[u8]) -> Option<u64> {
    if key_parameters.is_empty() || key_parameters.len() > 8 {
        return None;
    }
    let e = key_parameters
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (e >= 3 && e % 2 == 1).then_some(e)
}

/// The KeyGen2 client-attribute, feature and logotype capability URIs (facts §1.3).
pub mod capabilities {
    /// `…/clientattr#imei-number`.
    pub const IMEI_NUMBER: &str = "https://webpki.github.io/keygen2/clientattr#imei-number";
    /// `…/clientattr#ip-address`.
    pub const IP_ADDRESS: &str = "https://webpki.github.io/keygen2/clientattr#ip-address";
    /// `…/clientattr#mac-address`.
    pub const MAC_ADDRESS: &str = "https://webpki.github.io/keygen2/clientattr#mac-address";
    /// `…/clientattr#os-vendor`.
    pub const OS_VENDOR: &str = "https://webpki.github.io/keygen2/clientattr#os-vendor";
    /// `…/clientattr#os-version`.
    pub const OS_VERSION: &str = "https://webpki.github.io/keygen2/clientattr#os-version";
    /// `…/feature#device-pin-support`.
    pub const DEVICE_PIN_SUPPORT: &str =
        "https://webpki.github.io/keygen2/feature#device-pin-support";
    /// `…/feature#biometric-support`.
    pub const BIOMETRIC_SUPPORT: &str =
        "https://webpki.github.io/keygen2/feature#biometric-support";
    /// `…/logotype#list`.
    pub const LOGOTYPE_LIST: &str = "https://webpki.github.io/keygen2/logotype#list";
    /// `…/logotype#card`.
    pub const LOGOTYPE_CARD: &str = "https://webpki.github.io/keygen2/logotype#card";
    /// `…/logotype#icon`.
    pub const LOGOTYPE_ICON: &str = "https://webpki.github.io/keygen2/logotype#icon";
    /// `…/logotype#application`.
    pub const LOGOTYPE_APPLICATION: &str = "https://webpki.github.io/keygen2/logotype#application";

    /// Client attribute (value) URIs.
    pub const CLIENT_ATTRIBUTES: &[&str] =
        &[IMEI_NUMBER, IP_ADDRESS, MAC_ADDRESS, OS_VENDOR, OS_VERSION];
    /// Feature URIs.
    pub const FEATURES: &[&str] = &[DEVICE_PIN_SUPPORT, BIOMETRIC_SUPPORT];
    /// Logotype (image preference) URIs.
    pub const LOGOTYPES: &[&str] = &[
        LOGOTYPE_LIST,
        LOGOTYPE_CARD,
        LOGOTYPE_ICON,
        LOGOTYPE_APPLICATION,
    ];
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uris_unique_per_group_and_prefixed() {
        for (i, a) in ALGORITHMS.iter().enumerate() {
            for b in &ALGORITHMS[i + 1..] {
                assert!(!(a.uri == b.uri && a.group == b.group), "{}", a.uri);
            }
            assert!(
                a.uri.starts_with(SKS) || a.uri.starts_with("http://www.w3.org/"),
                "{}",
                a.uri
            );
        }
    }

    #[test]
    fn rsa_exponents() {
        // [CRY-ALG-004]
        assert_eq!(rsa_exponent_from_key_parameters(&[1, 0, 1]), Some(65537));
        assert_eq!(rsa_exponent_from_key_parameters(&[3]), Some(3));
        assert_eq!(rsa_exponent_from_key_parameters(&[1]), None);
        assert_eq!(rsa_exponent_from_key_parameters(&[4]), None);
        assert_eq!(rsa_exponent_from_key_parameters(&[]), None);
        assert_eq!(
            rsa_exponent_from_key_parameters(&[0, 0, 0, 0, 0, 0, 0, 0, 3]),
            None
        );
        assert_eq!(rsa_exponent_from_key_parameters(&[0xff; 8]), Some(u64::MAX));
    }

    #[test]
    fn compatibility() {
        // [CRY-ALG-007]
        let rsa = EndorsedKey::Asymmetric(KeyType::Rsa { bits: 2048 });
        let ec = EndorsedKey::Asymmetric(KeyType::Ec(Curve::P256));
        let ed = EndorsedKey::Asymmetric(KeyType::Ed25519);
        let rsa_sha256 = lookup("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256").unwrap();
        assert!(rsa_sha256.fits(rsa) && !rsa_sha256.fits(ec));
        let ecdsa = lookup("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256").unwrap();
        assert!(ecdsa.fits(ec) && !ecdsa.fits(rsa) && !ecdsa.fits(EndorsedKey::Symmetric(32)));
        let hmac = lookup("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256").unwrap();
        assert!(hmac.fits(EndorsedKey::Symmetric(7)) && !hmac.fits(ec));
        let aes128 = lookup("http://www.w3.org/2001/04/xmlenc#aes128-cbc").unwrap();
        assert!(
            aes128.fits(EndorsedKey::Symmetric(16)) && !aes128.fits(EndorsedKey::Symmetric(32))
        );
        let aes = lookup("https://webpki.github.io/sks/algorithm#aes.cbc").unwrap();
        assert!(aes.fits(EndorsedKey::Symmetric(24)) && !aes.fits(EndorsedKey::Symmetric(20)));
        let ed_sig = lookup("https://webpki.github.io/sks/algorithm#ed25519").unwrap();
        assert_eq!(ed_sig.group, AlgGroup::Signature);
        assert!(ed_sig.fits(ed) && !ed_sig.fits(ec));
        assert!(lookup(NONE).unwrap().fits(EndorsedKey::Symmetric(1)));
        assert!(!lookup(SESSION_1).unwrap().fits(ec));
        assert!(
            lookup("https://webpki.github.io/sks/algorithm#ecdh.raw")
                .unwrap()
                .fits(ec)
        );
        assert!(lookup("https://webpki.github.io/sks/algorithm#nope").is_none());
    }

    #[test]
    fn keygen_entries() {
        // [CRY-ALG-001] the supported/unsupported split of the registry table.
        let ed = lookup_keygen("https://webpki.github.io/sks/algorithm#ed25519").unwrap();
        assert_eq!(ed.keygen, Some(KeyGen::Ed25519));
        for rejected in [
            "rsa3072",
            "rsa4096",
            "rsa3072.exp",
            "rsa4096.exp",
            "ed448",
            "x25519",
            "x448",
        ] {
            let a = lookup_keygen(&format!("{SKS}{rejected}")).unwrap();
            assert!(!a.supported, "{rejected}");
        }
        for c in Curve::ALL {
            let a = lookup_keygen(c.sks_uri()).unwrap();
            assert_eq!(a.keygen, Some(KeyGen::Ec(c)));
            assert!(a.supported);
        }
        assert!(is_supported(KEY_1) && is_supported(SESSION_1));
    }
}
