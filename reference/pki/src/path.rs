//! Certificate path validation for the issuer: a device (or any) certificate path, end-entity
//! first, checked against configured trust anchors at a given time.
//!
//! Rules, in the order they are checked (the first failure is reported):
//! 1. the path is non-empty and at most [`MAX_PATH_LEN`] certificates;
//! 2. every certificate is strict DER that x509-cert decodes and re-encodes byte for byte, v3 if
//!    it has extensions, with no duplicate extension, the inner and outer signature algorithms
//!    equal, a supported signature algorithm, and no unknown critical extension;
//! 3. every certificate is valid at `now` (notBefore <= now <= notAfter);
//! 4. for each link, the issuer name of certificate `i` equals the subject name of certificate
//!    `i + 1` (DER byte equality), certificate `i + 1` is a CA (basicConstraints cA, keyUsage
//!    keyCertSign when keyUsage is present, pathLenConstraint respected), and its key verifies
//!    the signature of certificate `i`;
//! 5. the last certificate equals an anchor (same subject and key), or is issued by one (names
//!    chain and the anchor's key verifies its signature).
//!
//! Options that relax the rules ([`AnchorOptions`]) belong to an anchor and apply to the whole
//! path that ends at that anchor; all are off by default ([KG2-IMP-004]).

use der::{Decode as _, Encode as _, Tagged as _};
use x509_cert::certificate::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use crate::ca::{
    OID_AUTHORITY_KEY_ID, OID_BASIC_CONSTRAINTS, OID_EXT_KEY_USAGE, OID_KEY_USAGE,
    OID_SUBJECT_ALT_NAME, OID_SUBJECT_KEY_ID,
};
use crate::keys::{PublicKey, SignatureAlgorithm};
use crate::lenient;

/// The longest path accepted.
pub const MAX_PATH_LEN: usize = 8;

/// Why a path was refused. `index` is the position in the path (0 = end entity).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// The path has no certificate.
    #[error("empty certificate path")]
    Empty,
    /// More than [`MAX_PATH_LEN`] certificates.
    #[error("certificate path of {0} certificates is too long")]
    TooLong(usize),
    /// The certificate is not strict, well-formed X.509 DER.
    #[error("certificate {index} is malformed: {reason}")]
    Malformed {
        /// Position in the path.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The signature algorithm is unknown or not allowed.
    #[error("certificate {index}: unsupported signature algorithm {oid}")]
    UnsupportedAlgorithm {
        /// Position in the path.
        index: usize,
        /// The algorithm OID.
        oid: String,
    },
    /// sha1WithRSAEncryption without the anchor's legacy option.
    #[error("certificate {index}: SHA-1 signature not allowed")]
    LegacyAlgorithm {
        /// Position in the path.
        index: usize,
    },
    /// A critical extension we do not understand.
    #[error("certificate {index}: unsupported critical extension {oid}")]
    UnsupportedCriticalExtension {
        /// Position in the path.
        index: usize,
        /// The extension OID.
        oid: String,
    },
    /// `now` is after notAfter.
    #[error("certificate {index} expired")]
    Expired {
        /// Position in the path.
        index: usize,
    },
    /// `now` is before notBefore.
    #[error("certificate {index} is not yet valid")]
    NotYetValid {
        /// Position in the path.
        index: usize,
    },
    /// The issuer name of certificate `index` is not the subject of certificate `index + 1`.
    #[error("certificate {index}: issuer name does not match the next certificate's subject")]
    IssuerMismatch {
        /// Position of the certificate whose issuer does not match.
        index: usize,
    },
    /// Certificate `index` issues another certificate but is not a CA (no basicConstraints cA).
    #[error("certificate {index} is not a CA")]
    NotACa {
        /// Position of the would-be issuer.
        index: usize,
    },
    /// Certificate `index` is a CA whose keyUsage lacks keyCertSign.
    #[error("certificate {index}: keyUsage does not allow certificate signing")]
    KeyUsage {
        /// Position of the issuer.
        index: usize,
    },
    /// Certificate `index` has more CAs below it than its pathLenConstraint allows.
    #[error("certificate {index}: path length constraint exceeded")]
    PathLength {
        /// Position of the constraining CA.
        index: usize,
    },
    /// The signature of certificate `index` does not verify with its issuer's key.
    #[error("certificate {index}: bad signature")]
    BadSignature {
        /// Position of the signed certificate.
        index: usize,
    },
    /// The issuer's public key is not one we can verify with.
    #[error("certificate {index}: unusable issuer public key: {reason}")]
    IssuerKey {
        /// Position of the signed certificate.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The last certificate is neither an anchor nor issued by one.
    #[error("no trust anchor issued the last certificate")]
    UnknownIssuer,
    /// The path ends with a copy of a configured anchor certificate that differs from it (same
    /// name and key, other bytes).
    #[error("certificate {index} names a trust anchor but differs from the configured anchor")]
    AnchorMismatch {
        /// Index of the differing copy.
        index: usize,
    },
    /// A trust anchor could not be built.
    #[error("trust anchor: {0}")]
    BadAnchor(String),
}

/// Relaxations an anchor may allow for paths that end at it; all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnchorOptions {
    /// Accept sha1WithRSAEncryption signatures (the Java test device certificates use it).
    pub allow_sha1: bool,
    /// Accept an explicit NULL parameter in ECDSA AlgorithmIdentifiers (RFC 5758 wants them
    /// absent; the Java EC test device certificate carries NULL).
    pub allow_ecdsa_null_parameters: bool,
    /// Skip the validity-period checks.
    pub allow_expired: bool,
}

impl AnchorOptions {
    /// Everything the Java sample device certificates need.
    pub const LEGACY: AnchorOptions = AnchorOptions {
        allow_sha1: true,
        allow_ecdsa_null_parameters: true,
        allow_expired: true,
    };
}

/// A trust anchor: a subject name and a public key, optionally its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    subject_der: Vec<u8>,
    spki_der: Vec<u8>,
    subject: String,
    certificate_der: Option<Vec<u8>>,
    /// The anchor's key, parsed once (paths are checked against it without DER work); `None`
    /// if it does not parse, which then fails where a path uses it.
    key: Option<PublicKey>,
    /// Relaxations for paths ending at this anchor.
    pub options: AnchorOptions,
}

impl TrustAnchor {
    /// An anchor from a (typically self-signed) CA certificate. The certificate itself is not
    /// checked beyond parsing: configuring it is the act of trust.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, PathError> {
        let cert = Certificate::from_der(der).map_err(|e| PathError::BadAnchor(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let enc = |e: der::Error| PathError::BadAnchor(e.to_string());
        let spki_der = tbs.subject_public_key_info().to_der().map_err(enc)?;
        Ok(TrustAnchor {
            subject_der: tbs.subject().to_der().map_err(enc)?,
            key: PublicKey::from_spki_der(&spki_der).ok(),
            spki_der,
            subject: tbs.subject().to_string(),
            certificate_der: Some(der.to_vec()),
            options: AnchorOptions::default(),
        })
    }

    /// An anchor from a PEM `CERTIFICATE` block.
    pub fn from_certificate_pem(pem: &str) -> Result<Self, PathError> {
        let ders = crate::pem::decode_certificates(pem)
            .map_err(|e| PathError::BadAnchor(e.to_string()))?;
        match ders.as_slice() {
            [der] => Self::from_certificate_der(der),
            _ => Err(PathError::BadAnchor(format!(
                "expected one certificate, found {}",
                ders.len()
            ))),
        }
    }

    /// An anchor from a subject Name (DER) and a SubjectPublicKeyInfo (DER).
    pub fn from_name_and_key(subject_der: &[u8], spki_der: &[u8]) -> Result<Self, PathError> {
        let name = x509_cert::name::Name::from_der(subject_der)
            .map_err(|e| PathError::BadAnchor(e.to_string()))?;
        let key =
            PublicKey::from_spki_der(spki_der).map_err(|e| PathError::BadAnchor(e.to_string()))?;
        Ok(TrustAnchor {
            key: Some(key),
            subject_der: subject_der.to_vec(),
            spki_der: spki_der.to_vec(),
            subject: name.to_string(),
            certificate_der: None,
            options: AnchorOptions::default(),
        })
    }

    /// The same anchor with `options`.
    pub fn with_options(mut self, options: AnchorOptions) -> Self {
        self.options = options;
        self
    }

    /// The anchor's subject (RFC 4514).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The anchor's SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The anchor's certificate, when it was built from one.
    pub fn certificate_der(&self) -> Option<&[u8]> {
        self.certificate_der.as_deref()
    }
}

/// What a successful validation established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPath {
    /// Index (in the `anchors` slice) of the anchor that terminated the path.
    pub anchor_index: usize,
    /// True when the path's last certificate is the anchor itself.
    pub anchor_in_path: bool,
    /// SubjectPublicKeyInfo DER of the end-entity (first) certificate.
    pub leaf_spki_der: Vec<u8>,
    /// Subject of the end-entity certificate (RFC 4514).
    pub leaf_subject: String,
    /// Serial number magnitude of the end-entity certificate.
    pub leaf_serial: Vec<u8>,
    /// notAfter of the end-entity certificate (unix seconds).
    pub leaf_not_after: i64,
}

/// One certificate, decoded and checked for form (rule 2).
struct Parsed<'a> {
    cert: Certificate,
    tbs_der: &'a [u8],
    issuer_der: Vec<u8>,
    subject_der: Vec<u8>,
    spki_der: Vec<u8>,
    alg: SignatureAlgorithm,
    ecdsa_null_params: bool,
    signature: Vec<u8>,
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
    not_before: i64,
    not_after: i64,
}

const KNOWN_EXTENSIONS: [der::asn1::ObjectIdentifier; 6] = [
    OID_BASIC_CONSTRAINTS,
    OID_KEY_USAGE,
    OID_EXT_KEY_USAGE,
    OID_SUBJECT_KEY_ID,
    OID_AUTHORITY_KEY_ID,
    OID_SUBJECT_ALT_NAME,
];

fn parse(index: usize, der: &[u8]) -> Result<Parsed<'_>, PathError> {
    let malformed = |reason: String| PathError::Malformed { index, reason };
    let parts = lenient::certificate_parts(der).map_err(|e| malformed(e.to_string()))?;
    let cert = Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
    let again = cert.to_der().map_err(|e| malformed(e.to_string()))?;
    if again != der {
        return Err(malformed("not canonical DER".to_owned()));
    }
    let tbs = cert.tbs_certificate();
    if cert.signature_algorithm() != tbs.signature() {
        return Err(malformed(
            "signatureAlgorithm differs from the TBSCertificate signature field".to_owned(),
        ));
    }
    let oid = cert.signature_algorithm().oid;
    let alg = SignatureAlgorithm::from_oid(&oid).ok_or(PathError::UnsupportedAlgorithm {
        index,
        oid: oid.to_string(),
    })?;
    let params = cert.signature_algorithm().parameters.as_ref();
    let is_null = params.is_some_and(|p| p.tag() == der::Tag::Null && p.value().is_empty());
    let ecdsa_null_params = if alg.is_ecdsa() {
        match params {
            None => false,
            Some(_) if is_null => true,
            Some(_) => return Err(malformed("ECDSA algorithm parameters present".to_owned())),
        }
    } else {
        // RFC 4055: NULL; absence is tolerated by many verifiers but not produced by anyone we
        // talk to, so we insist.
        if !is_null {
            return Err(malformed(
                "RSA algorithm parameters are not NULL".to_owned(),
            ));
        }
        false
    };
    let sig = cert.signature();
    let signature = sig
        .as_bytes()
        .ok_or_else(|| malformed("signature BIT STRING has unused bits".to_owned()))?
        .to_vec();

    let mut basic_constraints = None;
    let mut key_usage = None;
    if let Some(exts) = tbs.extensions() {
        if tbs.version() != x509_cert::certificate::Version::V3 {
            return Err(malformed(
                "extensions in a certificate that is not v3".to_owned(),
            ));
        }
        for (i, ext) in exts.iter().enumerate() {
            if exts[..i].iter().any(|e| e.extn_id == ext.extn_id) {
                return Err(malformed(format!("duplicate extension {}", ext.extn_id)));
            }
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == OID_BASIC_CONSTRAINTS {
                basic_constraints = Some(
                    BasicConstraints::from_der(value)
                        .map_err(|e| malformed(format!("basicConstraints: {e}")))?,
                );
            } else if ext.extn_id == OID_KEY_USAGE {
                key_usage = Some(
                    KeyUsage::from_der(value).map_err(|e| malformed(format!("keyUsage: {e}")))?,
                );
            } else if ext.critical && !KNOWN_EXTENSIONS.contains(&ext.extn_id) {
                return Err(PathError::UnsupportedCriticalExtension {
                    index,
                    oid: ext.extn_id.to_string(),
                });
            }
        }
    }
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs());
    let validity = tbs.validity();
    let not_before = secs(validity.not_before).map_err(|e| malformed(e.to_string()))?;
    let not_after = secs(validity.not_after).map_err(|e| malformed(e.to_string()))?;
    let enc = |e: der::Error| malformed(e.to_string());
    Ok(Parsed {
        tbs_der: parts.tbs,
        issuer_der: tbs.issuer().to_der().map_err(enc)?,
        subject_der: tbs.subject().to_der().map_err(enc)?,
        spki_der: tbs.subject_public_key_info().to_der().map_err(enc)?,
        alg,
        ecdsa_null_params,
        signature,
        basic_constraints,
        key_usage,
        not_before,
        not_after,
        cert,
    })
}

/// Checks the signature of `child` (at `index`) with the key `issuer_spki`.
fn check_signature(index: usize, child: &Parsed<'_>, issuer_spki: &[u8]) -> Result<(), PathError> {
    let key = PublicKey::from_spki_der(issuer_spki).map_err(|e| PathError::IssuerKey {
        index,
        reason: e.to_string(),
    })?;
    check_signature_with(index, child, &key)
}

/// Checks the signature of `child` (at `index`) with an already parsed key.
fn check_signature_with(
    index: usize,
    child: &Parsed<'_>,
    key: &PublicKey,
) -> Result<(), PathError> {
    key.verify(child.alg, child.tbs_der, &child.signature)
        .map_err(|_| PathError::BadSignature { index })
}

/// Validates `path` (end entity first) against `anchors` at `now_unix` (unix seconds).
pub fn verify_path(
    path: &[Vec<u8>],
    anchors: &[TrustAnchor],
    now_unix: i64,
) -> Result<VerifiedPath, PathError> {
    // Rule 1.
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong(path.len()));
    }
    // Rule 2.
    let parsed = path
        .iter()
        .enumerate()
        .map(|(i, der)| parse(i, der))
        .collect::<Result<Vec<_>, _>>()?;
    let last_index = parsed.len() - 1;
    let last = &parsed[last_index];

    // Rule 5, first half: which anchor ends this path? (Its options govern the checks.)
    let in_path = anchors
        .iter()
        .position(|a| a.subject_der == last.subject_der && a.spki_der == last.spki_der);
    let (anchor_index, anchor_in_path) = match in_path {
        Some(i) => (i, true),
        None => {
            let i = anchors
                .iter()
                .position(|a| a.subject_der == last.issuer_der)
                .ok_or(PathError::UnknownIssuer)?;
            (i, false)
        }
    };
    let anchor = &anchors[anchor_index];
    let opts = anchor.options;
    // A copy of the anchor inside the path must be the anchor itself, byte for byte: the
    // path is recorded (issuance records), so a changed copy must not pass as the anchor.
    if anchor_in_path
        && let Some(der) = &anchor.certificate_der
        && der.as_slice() != path[last_index].as_slice()
    {
        return Err(PathError::AnchorMismatch { index: last_index });
    }

    for (index, p) in parsed.iter().enumerate() {
        if p.alg == SignatureAlgorithm::RsaSha1 && !opts.allow_sha1 {
            return Err(PathError::LegacyAlgorithm { index });
        }
        if p.ecdsa_null_params && !opts.allow_ecdsa_null_parameters {
            return Err(PathError::Malformed {
                index,
                reason: "ECDSA algorithm parameters present (NULL)".to_owned(),
            });
        }
        // Rule 3.
        if !opts.allow_expired {
            if now_unix < p.not_before {
                return Err(PathError::NotYetValid { index });
            }
            if now_unix > p.not_after {
                return Err(PathError::Expired { index });
            }
        }
    }

    // Rule 4.
    for index in 0..last_index {
        let child = &parsed[index];
        let issuer_index = index + 1;
        let issuer = &parsed[issuer_index];
        if child.issuer_der != issuer.subject_der {
            return Err(PathError::IssuerMismatch { index });
        }
        check_ca(issuer_index, issuer)?;
        // pathLenConstraint counts the non-self-issued intermediates below the issuer.
        if let Some(limit) = issuer
            .basic_constraints
            .as_ref()
            .and_then(|b| b.path_len_constraint)
        {
            let below = (1..issuer_index)
                .filter(|&j| parsed[j].issuer_der != parsed[j].subject_der)
                .count();
            if below > usize::from(limit) {
                return Err(PathError::PathLength {
                    index: issuer_index,
                });
            }
        }
        if anchor_in_path
            && issuer_index == last_index
            && let Some(key) = &anchor.key
        {
            // The issuer is the anchor's own certificate (its subject and key are the anchor's,
            // checked above): use the key parsed once.
            check_signature_with(index, child, key)?;
        } else {
            check_signature(index, child, &issuer.spki_der)?;
        }
    }

    // Rule 5, second half.
    if !anchor_in_path {
        match &anchor.key {
            Some(key) => check_signature_with(last_index, last, key)?,
            None => check_signature(last_index, last, &anchor.spki_der)?,
        }
    }

    let leaf = &parsed[0];
    Ok(VerifiedPath {
        anchor_index,
        anchor_in_path,
        leaf_spki_der: leaf.spki_der.clone(),
        leaf_subject: leaf.cert.tbs_certificate().subject().to_string(),
        leaf_serial: leaf
            .cert
            .tbs_certificate()
            .serial_number()
            .as_bytes()
            .to_vec(),
        leaf_not_after: leaf.not_after,
    })
}

fn check_ca(index: usize, p: &Parsed<'_>) -> Result<(), PathError> {
    if !p.basic_constraints.as_ref().is_some_and(|b| b.ca) {
        return Err(PathError::NotACa { index });
    }
    if let Some(ku) = &p.key_usage
        && !ku.0.contains(KeyUsages::KeyCertSign)
    {
        return Err(PathError::KeyUsage { index });
    }
    Ok(())
}

/// Parses one certificate strictly (rule 2 of [`verify_path`] without the anchor options) and
/// returns its SubjectPublicKeyInfo DER.
pub fn parse_certificate_spki(der: &[u8]) -> Result<Vec<u8>, PathError> {
    parse(0, der).map(|p| p.spki_der)
}
