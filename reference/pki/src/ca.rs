//! A small certification authority on top of x509-cert's builder: roots, intermediates and
//! end-entity certificates from a configurable [`Profile`].
//!
//! Time is always a parameter (unix seconds); nothing here reads the system clock. Serial numbers
//! are positive and come from the caller ([`Serial::random`] from an RNG, or a [`SerialCounter`]).

use core::fmt;
use core::time::Duration;

use der::asn1::{Any, Ia5StringRef, PrintableStringRef, Utf8StringRef};
use der::asn1::{BitString, ObjectIdentifier, OctetString};
use der::{Decode as _, Encode as _};
use rand_core::CryptoRng;
use sha1::Digest as _;
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder as _, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints as X509BasicConstraints};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity as X509Validity};

use crate::keys::{KeyError, PublicKey, SignatureAlgorithm, SigningKey};

/// `id-ce-basicConstraints`.
pub const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// `id-ce-keyUsage`.
pub const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// `id-ce-extKeyUsage`.
pub const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// `id-ce-subjectKeyIdentifier`.
pub const OID_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// `id-ce-authorityKeyIdentifier`.
pub const OID_AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// `id-ce-subjectAltName`.
pub const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// `id-kp-serverAuth`.
pub const EKU_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// `id-kp-clientAuth`.
pub const EKU_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
/// `id-kp-codeSigning`.
pub const EKU_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// `id-kp-emailProtection`.
pub const EKU_EMAIL_PROTECTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");

/// Errors of certificate issuance.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CaError {
    /// A key problem (mismatching algorithm, encoding).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The subject DN template refers to an unknown variable or is malformed.
    #[error("subject template: {0}")]
    Template(String),
    /// The expanded subject is not a valid RFC 4514 distinguished name.
    #[error("invalid distinguished name {dn:?}: {reason}")]
    Name {
        /// The DN text.
        dn: String,
        /// Why it was refused.
        reason: String,
    },
    /// The subject public key is not well-formed SubjectPublicKeyInfo DER.
    #[error("subject public key: {0}")]
    SubjectKey(String),
    /// The serial number is zero, negative or longer than 20 octets.
    #[error("invalid serial number: {0}")]
    Serial(String),
    /// The validity period is empty, starts before 1970 or ends after 9999.
    #[error("invalid validity {not_before}..{not_after}")]
    Validity {
        /// notBefore, unix seconds.
        not_before: i64,
        /// notAfter, unix seconds.
        not_after: i64,
    },
    /// The certificate (path) does not belong to the key, or is not parseable.
    #[error("CA certificate: {0}")]
    Certificate(String),
    /// x509-cert's builder failed.
    #[error("certificate builder: {0}")]
    Builder(String),
}

/// A positive certificate serial number (big-endian, at most 20 octets).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Serial(Vec<u8>);

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl Serial {
    /// A serial from big-endian magnitude bytes (leading zeros ignored); must be non-zero and
    /// fit 20 octets as a positive DER INTEGER.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CaError> {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let mag = &bytes[start..];
        if mag.is_empty() {
            return Err(CaError::Serial("zero".to_owned()));
        }
        let encoded_len = mag.len() + usize::from(mag[0] & 0x80 != 0);
        if encoded_len > 20 {
            return Err(CaError::Serial(format!("{encoded_len} octets (max 20)")));
        }
        Ok(Serial(mag.to_vec()))
    }

    /// A serial from a non-zero integer.
    pub fn from_u64(n: u64) -> Result<Self, CaError> {
        Self::from_bytes(&n.to_be_bytes())
    }

    /// 16 random octets from `rng`, forced positive and non-zero (126 bits of entropy).
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b[0] = (b[0] & 0x3f) | 0x40;
        Serial(b.to_vec())
    }

    /// The magnitude bytes (no sign octet, no leading zeros).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hex of the magnitude.
    pub fn to_hex(&self) -> String {
        hex_upper(&self.0)
    }

    fn to_x509(&self) -> Result<SerialNumber, CaError> {
        SerialNumber::new(&self.0).map_err(|e| CaError::Serial(e.to_string()))
    }
}

/// A counter of serial numbers starting at a chosen value.
#[derive(Debug, Clone)]
pub struct SerialCounter {
    next: u64,
}

impl SerialCounter {
    /// Starts at `first` (0 is skipped: serials are positive).
    pub fn new(first: u64) -> Self {
        SerialCounter { next: first.max(1) }
    }

    /// The next serial.
    pub fn next_serial(&mut self) -> Result<Serial, CaError> {
        let s = Serial::from_u64(self.next)?;
        self.next = self
            .next
            .checked_add(1)
            .ok_or_else(|| CaError::Serial("counter exhausted".to_owned()))?;
        Ok(s)
    }
}

/// A validity period in unix seconds (both ends inclusive, as in RFC 5280).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
}

impl Validity {
    /// `[not_before, not_after]`.
    pub fn new(not_before: i64, not_after: i64) -> Self {
        Validity {
            not_before,
            not_after,
        }
    }

    /// `[start, start + seconds]`.
    pub fn starting_at(start: i64, seconds: i64) -> Self {
        Validity {
            not_before: start,
            not_after: start.saturating_add(seconds),
        }
    }

    fn to_x509(self) -> Result<X509Validity, CaError> {
        let bad = CaError::Validity {
            not_before: self.not_before,
            not_after: self.not_after,
        };
        if self.not_after < self.not_before {
            return Err(bad);
        }
        let t = |s: i64| -> Result<Time, CaError> {
            let secs = u64::try_from(s).map_err(|_| bad.clone())?;
            let dt = der::DateTime::from_unix_duration(Duration::from_secs(secs))
                .map_err(|_| bad.clone())?;
            Ok(Time::from(dt))
        };
        Ok(X509Validity::new(t(self.not_before)?, t(self.not_after)?))
    }
}

/// The keyUsage bits (RFC 5280 §4.2.1.3). The extension is marked critical.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// digitalSignature (0).
    pub digital_signature: bool,
    /// nonRepudiation / contentCommitment (1).
    pub non_repudiation: bool,
    /// keyEncipherment (2).
    pub key_encipherment: bool,
    /// dataEncipherment (3).
    pub data_encipherment: bool,
    /// keyAgreement (4).
    pub key_agreement: bool,
    /// keyCertSign (5).
    pub key_cert_sign: bool,
    /// cRLSign (6).
    pub crl_sign: bool,
}

impl KeyUsage {
    /// keyCertSign and cRLSign: what a CA needs.
    pub const CA: KeyUsage = KeyUsage {
        digital_signature: false,
        non_repudiation: false,
        key_encipherment: false,
        data_encipherment: false,
        key_agreement: false,
        key_cert_sign: true,
        crl_sign: true,
    };

    /// digitalSignature only.
    pub const SIGN: KeyUsage = KeyUsage {
        digital_signature: true,
        non_repudiation: false,
        key_encipherment: false,
        data_encipherment: false,
        key_agreement: false,
        key_cert_sign: false,
        crl_sign: false,
    };

    fn bits(&self) -> [bool; 7] {
        [
            self.digital_signature,
            self.non_repudiation,
            self.key_encipherment,
            self.data_encipherment,
            self.key_agreement,
            self.key_cert_sign,
            self.crl_sign,
        ]
    }

    /// The DER `KeyUsage ::= BIT STRING` (named bits, trailing zero bits removed).
    fn to_der(self) -> Result<Vec<u8>, CaError> {
        let bits = self.bits();
        let used = bits.iter().rposition(|b| *b).map_or(0, |i| i + 1);
        let mut byte = 0u8;
        for (i, b) in bits.iter().enumerate() {
            if *b {
                byte |= 0x80 >> i;
            }
        }
        let (bytes, unused): (Vec<u8>, u8) = if used == 0 {
            (Vec::new(), 0)
        } else {
            // `used` is at most 7, so the unused-bit count fits a u8.
            (vec![byte], u8::try_from(8 - used).unwrap_or(0))
        };
        BitString::new(unused, bytes)
            .and_then(|b| b.to_der())
            .map_err(|e| CaError::Builder(e.to_string()))
    }
}

/// basicConstraints (always marked critical, as RFC 5280 wants for CAs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraints {
    /// cA.
    pub ca: bool,
    /// pathLenConstraint (only meaningful with `ca`).
    pub path_len: Option<u8>,
}

/// What an issued certificate looks like.
///
/// The subject DN comes from `subject_template`, an RFC 4514 string (spaces after the commas are
/// allowed) with `{name}` placeholders; `{{` and `}}` stand for literal braces. Values replace
/// their placeholder escaped as RFC 4514 attribute values, so they cannot add attributes. The
/// CA supplies `{serial}` (upper-case hex of the serial number), `{ski}` (upper-case hex of the
/// subject key identifier, SHA-1 of the public key bits) and `{key}` (`P-256`, `RSA-2048`,
/// `Ed25519`, ...); `variables` supplies the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// RFC 4514 template of the subject DN.
    pub subject_template: String,
    /// Values for the template's own placeholders.
    pub variables: Vec<(String, String)>,
    /// keyUsage (critical) or none.
    pub key_usage: Option<KeyUsage>,
    /// extKeyUsage purposes (non-critical); empty means no extension.
    pub extended_key_usage: Vec<ObjectIdentifier>,
    /// basicConstraints (critical) or none.
    pub basic_constraints: Option<BasicConstraints>,
    /// Add a subjectKeyIdentifier (SHA-1 of the subject public key bits).
    pub subject_key_identifier: bool,
    /// Add an authorityKeyIdentifier (keyIdentifier of the issuer's public key).
    pub authority_key_identifier: bool,
    /// Validity length for [`Ca::issue_at`], in seconds.
    pub validity_seconds: i64,
    /// Signature algorithm; `None` means the CA key's default.
    pub signature_algorithm: Option<SignatureAlgorithm>,
    /// subjectAltName entries (non-critical); empty means no extension.
    pub subject_alt_names: Vec<AltName>,
}

/// One subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltName {
    /// A DNS name (IA5 string).
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(core::net::IpAddr),
}

/// One year of 365 days, in seconds.
pub const YEAR: i64 = 365 * 24 * 3600;

impl Profile {
    /// A self-signed root CA: cA without path length, keyCertSign + cRLSign, SKI and AKI.
    pub fn root_ca(subject: &str) -> Self {
        Profile {
            subject_template: subject.to_owned(),
            variables: Vec::new(),
            key_usage: Some(KeyUsage::CA),
            extended_key_usage: Vec::new(),
            basic_constraints: Some(BasicConstraints {
                ca: true,
                path_len: None,
            }),
            subject_key_identifier: true,
            authority_key_identifier: true,
            validity_seconds: 20 * YEAR,
            signature_algorithm: None,
            subject_alt_names: Vec::new(),
        }
    }

    /// A subordinate CA with an optional path length constraint.
    pub fn sub_ca(subject: &str, path_len: Option<u8>) -> Self {
        Profile {
            basic_constraints: Some(BasicConstraints { ca: true, path_len }),
            validity_seconds: 10 * YEAR,
            ..Self::root_ca(subject)
        }
    }

    /// A device (SKS) certificate: digitalSignature, not a CA, SKI and AKI.
    pub fn device(subject_template: &str) -> Self {
        Profile {
            subject_template: subject_template.to_owned(),
            variables: Vec::new(),
            key_usage: Some(KeyUsage::SIGN),
            extended_key_usage: Vec::new(),
            basic_constraints: Some(BasicConstraints {
                ca: false,
                path_len: None,
            }),
            subject_key_identifier: true,
            authority_key_identifier: true,
            validity_seconds: 20 * YEAR,
            signature_algorithm: None,
            subject_alt_names: Vec::new(),
        }
    }

    /// An end-entity certificate for a provisioned user key: digitalSignature, clientAuth,
    /// not a CA, SKI and AKI, two years. Adjust the fields for other purposes.
    pub fn end_entity(subject_template: &str) -> Self {
        Profile {
            extended_key_usage: vec![EKU_CLIENT_AUTH],
            validity_seconds: 2 * YEAR,
            ..Self::device(subject_template)
        }
    }

    /// A TLS server certificate: digitalSignature, serverAuth, not a CA, SKI and AKI, the
    /// given subjectAltNames (what TLS clients match the host against), two years.
    pub fn tls_server(subject_template: &str, names: Vec<AltName>) -> Self {
        Profile {
            extended_key_usage: vec![EKU_SERVER_AUTH],
            subject_alt_names: names,
            ..Self::end_entity(subject_template)
        }
    }

    /// Adds (or replaces) a template variable.
    pub fn with_variable(mut self, name: &str, value: &str) -> Self {
        self.variables.retain(|(n, _)| n != name);
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Expands the subject template with the profile's variables and `builtins`.
    pub fn subject_dn(&self, builtins: &[(&str, &str)]) -> Result<String, CaError> {
        expand_template(&self.subject_template, |name| {
            self.variables
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .or_else(|| builtins.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
        })
    }
}

/// Expands `{name}` placeholders; values are RFC 4514-escaped.
fn expand_template<'a>(
    template: &str,
    lookup: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, CaError> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' => {
                            name.push(ch)
                        }
                        Some(ch) => {
                            return Err(CaError::Template(format!(
                                "character {ch:?} in placeholder name"
                            )));
                        }
                        None => return Err(CaError::Template("unclosed '{'".to_owned())),
                    }
                }
                let value = lookup(&name)
                    .ok_or_else(|| CaError::Template(format!("unknown variable {{{name}}}")))?;
                out.push_str(&escape_dn_value(value));
            }
            '}' => return Err(CaError::Template("unmatched '}'".to_owned())),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Escapes an attribute value for an RFC 4514 string.
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Attribute keywords accepted in DN strings, with their OIDs.
const DN_KEYWORDS: [(&str, &str); 16] = [
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SURNAME", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("T", "2.5.4.12"),
    ("TITLE", "2.5.4.12"),
    ("GIVENNAME", "2.5.4.42"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
];

/// Splits `s` at unescaped `sep`, keeping escapes in the pieces.
fn split_unescaped(s: &str, sep: char) -> Result<Vec<&str>, &'static str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    if escaped {
        return Err("dangling escape");
    }
    out.push(&s[start..]);
    Ok(out)
}

/// Trims unescaped surrounding spaces (ASCII space only, as RFC 4514 means).
fn trim_dn_part(p: &str) -> &str {
    let p = p.trim_start_matches(' ');
    let trimmed = p.trim_end_matches(' ');
    // Keep one escaped trailing space ("\ "): count the backslashes before it.
    if trimmed.len() < p.len() && trimmed.ends_with('\\') {
        let backslashes = trimmed.chars().rev().take_while(|c| *c == '\\').count();
        if backslashes % 2 == 1 {
            return &p[..trimmed.len() + 1];
        }
    }
    trimmed
}

/// Undoes RFC 4514 escaping of an attribute value.
fn unescape_dn_value(v: &str) -> Result<Vec<u8>, &'static str> {
    if v.starts_with('#') {
        return Err("hex-encoded (#) values are not supported");
    }
    let mut out = Vec::with_capacity(v.len());
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            let next = *bytes.get(i + 1).ok_or("dangling escape")?;
            if next.is_ascii_hexdigit() {
                let pair = bytes.get(i + 1..i + 3).ok_or("short hex escape")?;
                let hex = core::str::from_utf8(pair).map_err(|_| "bad hex escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad hex escape")?);
                i += 3;
            } else if b" \"#+,;<=>\\".contains(&next) {
                out.push(next);
                i += 2;
            } else {
                return Err("invalid escape");
            }
        } else if b"\";<>+,".contains(&b) {
            return Err("unescaped special character in a value");
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// One `type=value` of a DN string.
fn parse_atv(s: &str) -> Result<AttributeTypeAndValue, String> {
    let (ty, value) = s.split_once('=').ok_or("attribute without '='")?;
    let ty = ty.trim_matches(' ');
    let oid = match DN_KEYWORDS.iter().find(|(k, _)| k.eq_ignore_ascii_case(ty)) {
        Some((_, oid)) => ObjectIdentifier::new(oid).map_err(|e| e.to_string())?,
        None if ty.starts_with(|c: char| c.is_ascii_digit()) => {
            ObjectIdentifier::new(ty).map_err(|e| format!("attribute type {ty}: {e}"))?
        }
        None => return Err(format!("unknown attribute type {ty}")),
    };
    let bytes = unescape_dn_value(value)?;
    let any = match oid.to_string().as_str() {
        // RFC 5280 Appendix A: countryName and serialNumber are PrintableString.
        "2.5.4.6" | "2.5.4.5" => PrintableStringRef::new(&bytes)
            .map_err(|_| format!("{ty} is not a PrintableString"))
            .and_then(|v| Any::encode_from(&v).map_err(|e| e.to_string()))?,
        // domainComponent and emailAddress are IA5String.
        "0.9.2342.19200300.100.1.25" | "1.2.840.113549.1.9.1" => Ia5StringRef::new(&bytes)
            .map_err(|_| format!("{ty} is not an IA5String"))
            .and_then(|v| Any::encode_from(&v).map_err(|e| e.to_string()))?,
        _ => {
            let text = core::str::from_utf8(&bytes).map_err(|_| format!("{ty} is not UTF-8"))?;
            Utf8StringRef::new(text)
                .map_err(|e| e.to_string())
                .and_then(|v| Any::encode_from(&v).map_err(|e| e.to_string()))?
        }
    };
    Ok(AttributeTypeAndValue { oid, value: any })
}

/// Parses an RFC 4514 distinguished name: RDNs separated by `,` (spaces around separators are
/// ignored), multi-valued RDNs joined by `+`, values escaped with `\` (`\,` or `\2C`). The
/// string lists RDNs most-specific first, so `CN=a, O=b` encodes `O=b` first. Keywords: CN, SN,
/// SERIALNUMBER, C, L, ST, STREET, O, OU, T, GIVENNAME, UID, DC, EMAILADDRESS, or a dotted OID.
/// C and SERIALNUMBER become PrintableString, DC and EMAILADDRESS IA5String, the rest
/// UTF8String.
pub fn parse_name(dn: &str) -> Result<Name, CaError> {
    let err = |reason: &str| CaError::Name {
        dn: dn.to_owned(),
        reason: reason.to_owned(),
    };
    let mut rdns = Vec::new();
    for part in split_unescaped(dn, ',').map_err(err)? {
        let part = trim_dn_part(part);
        if part.is_empty() {
            return Err(err("empty RDN"));
        }
        let mut atvs = Vec::new();
        for atv in split_unescaped(part, '+').map_err(err)? {
            atvs.push(parse_atv(trim_dn_part(atv)).map_err(|e| err(&e))?);
        }
        rdns.push(RelativeDistinguishedName::try_from(atvs).map_err(|e| err(&e.to_string()))?);
    }
    rdns.reverse();
    let der = RdnSequence::from(rdns)
        .to_der()
        .map_err(|e| err(&e.to_string()))?;
    Name::from_der(&der).map_err(|e| err(&e.to_string()))
}

/// The RFC 5280 §4.2.1.2 (method 1) key identifier: SHA-1 of the subjectPublicKey bits.
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, CaError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| CaError::SubjectKey(e.to_string()))?;
    Ok(sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec())
}

/// A name for the key type of an SPKI: `P-256`, `RSA-2048`, `Ed25519`, or the algorithm OID.
pub fn key_label(spki_der: &[u8]) -> String {
    if let Ok(pk) = PublicKey::from_spki_der(spki_der) {
        return pk.kind().label();
    }
    match SubjectPublicKeyInfoRef::from_der(spki_der) {
        Ok(spki) if spki.algorithm.oid == ObjectIdentifier::new_unwrap("1.3.101.112") => {
            "Ed25519".to_owned()
        }
        Ok(spki) => spki.algorithm.oid.to_string(),
        Err(_) => "unknown".to_owned(),
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The public key given to x509-cert's builder: an SPKI we already hold as DER.
#[derive(Clone, Debug)]
struct SpkiDer(Vec<u8>);

impl EncodePublicKey for SpkiDer {
    fn to_public_key_der(&self) -> spki::Result<spki::Document> {
        spki::Document::try_from(self.0.as_slice()).map_err(spki::Error::from)
    }
}

/// A signature already encoded the X.509 way.
#[derive(Clone, Debug)]
struct EncodedSignature(Vec<u8>);

impl SignatureBitStringEncoding for EncodedSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// Adapts a [`SigningKey`] and a chosen algorithm to the builder's signer traits.
struct CertSigner<'a> {
    key: &'a SigningKey,
    alg: SignatureAlgorithm,
    spki: SpkiDer,
}

impl Keypair for CertSigner<'_> {
    type VerifyingKey = SpkiDer;
    fn verifying_key(&self) -> SpkiDer {
        self.spki.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for CertSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.alg.algorithm_identifier())
    }
}

impl Signer<EncodedSignature> for CertSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<EncodedSignature, signature::Error> {
        self.key
            .sign_with(self.alg, msg)
            .map(EncodedSignature)
            .map_err(|_| signature::Error::new())
    }
}

/// Our [`BuilderProfile`]: fixed subject and issuer, extensions from a [`Profile`].
struct IssueProfile<'a> {
    subject: Name,
    issuer: Option<Name>,
    profile: &'a Profile,
}

fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
) -> x509_cert::builder::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value)?,
    })
}

impl BuilderProfile for IssueProfile<'_> {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let p = self.profile;
        let mut out = Vec::new();
        if let Some(bc) = p.basic_constraints {
            let value = X509BasicConstraints {
                ca: bc.ca,
                path_len_constraint: if bc.ca { bc.path_len } else { None },
            }
            .to_der()?;
            out.push(extension(OID_BASIC_CONSTRAINTS, true, value)?);
        }
        if let Some(ku) = p.key_usage {
            let value = ku
                .to_der()
                .map_err(|_| x509_cert::builder::Error::Asn1(der::ErrorKind::Failed.into()))?;
            out.push(extension(OID_KEY_USAGE, true, value)?);
        }
        if !p.extended_key_usage.is_empty() {
            let value =
                x509_cert::ext::pkix::ExtendedKeyUsage(p.extended_key_usage.clone()).to_der()?;
            out.push(extension(OID_EXT_KEY_USAGE, false, value)?);
        }
        if !p.subject_alt_names.is_empty() {
            let mut names = Vec::with_capacity(p.subject_alt_names.len());
            for n in &p.subject_alt_names {
                names.push(match n {
                    AltName::Dns(d) => x509_cert::ext::pkix::name::GeneralName::DnsName(
                        der::asn1::Ia5String::new(d)?,
                    ),
                    AltName::Ip(ip) => x509_cert::ext::pkix::name::GeneralName::from(*ip),
                });
            }
            let value = x509_cert::ext::pkix::SubjectAltName(names).to_der()?;
            out.push(extension(OID_SUBJECT_ALT_NAME, false, value)?);
        }
        if p.subject_key_identifier {
            let id = sha1::Sha1::digest(spk.subject_public_key.raw_bytes()).to_vec();
            out.push(extension(
                OID_SUBJECT_KEY_ID,
                false,
                OctetString::new(id)?.to_der()?,
            )?);
        }
        if p.authority_key_identifier {
            let id = sha1::Sha1::digest(issuer_spk.subject_public_key.raw_bytes()).to_vec();
            let value = AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(id)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            }
            .to_der()?;
            out.push(extension(OID_AUTHORITY_KEY_ID, false, value)?);
        }
        Ok(out)
    }
}

/// Builds and signs one certificate.
fn build_certificate(
    signer_key: &SigningKey,
    issuer: Option<&Name>,
    subject_spki_der: &[u8],
    profile: &Profile,
    serial: &Serial,
    validity: Validity,
) -> Result<Vec<u8>, CaError> {
    let spki = SubjectPublicKeyInfoOwned::from_der(subject_spki_der)
        .map_err(|e| CaError::SubjectKey(e.to_string()))?;
    let ski = key_identifier(subject_spki_der)?;
    let serial_hex = serial.to_hex();
    let ski_hex = hex_upper(&ski);
    let key = key_label(subject_spki_der);
    let dn = profile.subject_dn(&[
        ("serial", serial_hex.as_str()),
        ("ski", ski_hex.as_str()),
        ("key", key.as_str()),
    ])?;
    let subject = parse_name(&dn)?;
    let alg = profile
        .signature_algorithm
        .unwrap_or_else(|| signer_key.default_signature_algorithm());
    if !alg.fits(signer_key.kind()) {
        return Err(CaError::Key(KeyError::AlgorithmMismatch {
            alg,
            key: signer_key.kind(),
        }));
    }
    let signer = CertSigner {
        key: signer_key,
        alg,
        spki: SpkiDer(signer_key.public_key_spki_der()?),
    };
    let bp = IssueProfile {
        subject,
        issuer: issuer.cloned(),
        profile,
    };
    let builder = CertificateBuilder::new(bp, serial.to_x509()?, validity.to_x509()?, spki)
        .map_err(|e| CaError::Builder(e.to_string()))?;
    let cert: Certificate = builder
        .build::<_, EncodedSignature>(&signer)
        .map_err(|e| CaError::Builder(e.to_string()))?;
    cert.to_der().map_err(|e| CaError::Builder(e.to_string()))
}

/// A certification authority: its key and its certificate path (own certificate first, then
/// its issuers up to the root).
#[derive(Clone)]
pub struct Ca {
    key: SigningKey,
    certificate_path: Vec<Vec<u8>>,
    subject: Name,
    not_after: i64,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("subject", &self.subject.to_string())
            .field("key", &self.key)
            .field("path_len", &self.certificate_path.len())
            .finish()
    }
}

impl Ca {
    /// A self-signed root with [`Profile::root_ca`].
    pub fn new_root(
        subject: &str,
        key: SigningKey,
        serial: &Serial,
        validity: Validity,
    ) -> Result<Self, CaError> {
        Self::new_root_with_profile(key, &Profile::root_ca(subject), serial, validity)
    }

    /// A self-signed root with a custom profile (it should say cA).
    pub fn new_root_with_profile(
        key: SigningKey,
        profile: &Profile,
        serial: &Serial,
        validity: Validity,
    ) -> Result<Self, CaError> {
        let spki = key.public_key_spki_der()?;
        let der = build_certificate(&key, None, &spki, profile, serial, validity)?;
        Self::from_parts(key, vec![der])
    }

    /// An intermediate CA issued by `parent`, with [`Profile::sub_ca`].
    pub fn new_intermediate(
        parent: &Ca,
        subject: &str,
        key: SigningKey,
        path_len: Option<u8>,
        serial: &Serial,
        validity: Validity,
    ) -> Result<Self, CaError> {
        Self::new_intermediate_with_profile(
            parent,
            key,
            &Profile::sub_ca(subject, path_len),
            serial,
            validity,
        )
    }

    /// An intermediate CA issued by `parent` with a custom profile.
    pub fn new_intermediate_with_profile(
        parent: &Ca,
        key: SigningKey,
        profile: &Profile,
        serial: &Serial,
        validity: Validity,
    ) -> Result<Self, CaError> {
        let spki = key.public_key_spki_der()?;
        let der = parent.issue(
            &spki,
            profile,
            serial,
            validity.not_before,
            validity.not_after,
        )?;
        let mut path = vec![der];
        path.extend(parent.certificate_path.iter().cloned());
        Self::from_parts(key, path)
    }

    /// A CA from a key and its certificate path (own certificate first). Checks that the first
    /// certificate parses and carries the key's public key; nothing else (the path may be used
    /// for negative tests, e.g. a leaf acting as a CA).
    pub fn from_parts(key: SigningKey, certificate_path: Vec<Vec<u8>>) -> Result<Self, CaError> {
        let first = certificate_path
            .first()
            .ok_or_else(|| CaError::Certificate("empty certificate path".to_owned()))?;
        let cert = Certificate::from_der(first).map_err(|e| CaError::Certificate(e.to_string()))?;
        let cert_spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| CaError::Certificate(e.to_string()))?;
        if cert_spki != key.public_key_spki_der()? {
            return Err(CaError::Certificate(
                "the certificate does not carry the key's public key".to_owned(),
            ));
        }
        let not_after = i64::try_from(
            cert.tbs_certificate()
                .validity()
                .not_after
                .to_unix_duration()
                .as_secs(),
        )
        .unwrap_or(i64::MAX);
        Ok(Ca {
            subject: cert.tbs_certificate().subject().clone(),
            key,
            certificate_path,
            not_after,
        })
    }

    /// Issues a certificate for `subject_spki_der` (any well-formed SPKI, Ed25519 included).
    pub fn issue(
        &self,
        subject_spki_der: &[u8],
        profile: &Profile,
        serial: &Serial,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>, CaError> {
        build_certificate(
            &self.key,
            Some(&self.subject),
            subject_spki_der,
            profile,
            serial,
            Validity::new(not_before, not_after),
        )
    }

    /// Issues a certificate valid from `now` for `profile.validity_seconds`, cut at the CA's own
    /// notAfter.
    pub fn issue_at(
        &self,
        subject_spki_der: &[u8],
        profile: &Profile,
        serial: &Serial,
        now: i64,
    ) -> Result<Vec<u8>, CaError> {
        let end = now
            .saturating_add(profile.validity_seconds)
            .min(self.not_after);
        self.issue(subject_spki_der, profile, serial, now, end)
    }

    /// Like [`Ca::issue_at`], returning the whole path a KeyGen2 `certificatePath` carries:
    /// the new certificate first, then this CA's path up to the root.
    pub fn issue_path_at(
        &self,
        subject_spki_der: &[u8],
        profile: &Profile,
        serial: &Serial,
        now: i64,
    ) -> Result<Vec<Vec<u8>>, CaError> {
        let mut path = vec![self.issue_at(subject_spki_der, profile, serial, now)?];
        path.extend(self.certificate_path.iter().cloned());
        Ok(path)
    }

    /// The CA's own certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        // `from_parts` refuses an empty path.
        self.certificate_path.first().map_or(&[], Vec::as_slice)
    }

    /// The CA's path: own certificate first, root last.
    pub fn certificate_path(&self) -> &[Vec<u8>] {
        &self.certificate_path
    }

    /// The root certificate of the CA's path (DER).
    pub fn root_certificate_der(&self) -> &[u8] {
        self.certificate_path.last().map_or(&[], Vec::as_slice)
    }

    /// The CA's signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The CA's subject as an RFC 4514 string.
    pub fn subject(&self) -> String {
        self.subject.to_string()
    }

    /// The CA certificate's notAfter (unix seconds).
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn serials_are_positive_and_bounded() {
        assert!(Serial::from_u64(0).is_err());
        assert_eq!(Serial::from_u64(1).unwrap().as_bytes(), &[1]);
        assert_eq!(Serial::from_u64(0x80).unwrap().as_bytes(), &[0x80]);
        assert!(Serial::from_bytes(&[0x7f; 20]).is_ok());
        assert!(Serial::from_bytes(&[0x80; 20]).is_err()); // 21 octets with the sign octet
        assert!(Serial::from_bytes(&[0, 0, 0]).is_err());
        let mut c = SerialCounter::new(0);
        assert_eq!(c.next_serial().unwrap(), Serial::from_u64(1).unwrap());
        assert_eq!(c.next_serial().unwrap(), Serial::from_u64(2).unwrap());
        let mut c = SerialCounter::new(u64::MAX);
        assert!(c.next_serial().is_err());
    }

    #[test]
    fn templates_escape_values() {
        let p = Profile::end_entity("CN={who}, O=x").with_variable("who", "a,b=c+d");
        assert_eq!(p.subject_dn(&[]).unwrap(), "CN=a\\,b\\=c\\+d, O=x");
        let p = Profile::end_entity("CN={{literal}} {serial}");
        assert_eq!(
            p.subject_dn(&[("serial", "0A")]).unwrap(),
            "CN={literal} 0A"
        );
        assert!(matches!(
            Profile::end_entity("CN={nope}").subject_dn(&[]),
            Err(CaError::Template(_))
        ));
        assert!(Profile::end_entity("CN={open").subject_dn(&[]).is_err());
        assert!(Profile::end_entity("CN=}").subject_dn(&[]).is_err());
        assert_eq!(escape_dn_value(" #a "), "\\ #a\\ ");
        assert_eq!(escape_dn_value("#a"), "\\#a");
    }

    #[test]
    fn names_parse_with_spaces_and_reverse_order() {
        let n = parse_name("CN=airtight Test Device CA, O=airtight test fixtures").unwrap();
        assert_eq!(
            n.to_string(),
            "CN=airtight Test Device CA,O=airtight test fixtures"
        );
        // RFC 4514 lists the most specific RDN first; DER encodes it last.
        let first_rdn = n.iter_rdn().next().unwrap().to_string();
        assert_eq!(first_rdn, "O=airtight test fixtures");
        let n = parse_name("CN=a\\, b, SERIALNUMBER=0A").unwrap();
        assert_eq!(n.to_string(), "CN=a\\, b,SERIALNUMBER=0A");
        assert!(parse_name("CN=a,,O=b").is_err());
        assert!(parse_name("garbage").is_err());
        assert!(parse_name("CN=a\\").is_err());
        assert!(parse_name("XYZZY=a").is_err());
    }

    #[test]
    fn key_usage_der() {
        // keyCertSign | cRLSign: bits 5 and 6 -> 0x06 with 1 unused bit.
        assert_eq!(KeyUsage::CA.to_der().unwrap(), vec![0x03, 0x02, 0x01, 0x06]);
        // digitalSignature: bit 0 -> 0x80 with 7 unused bits.
        assert_eq!(
            KeyUsage::SIGN.to_der().unwrap(),
            vec![0x03, 0x02, 0x07, 0x80]
        );
        assert_eq!(
            KeyUsage::default().to_der().unwrap(),
            vec![0x03, 0x01, 0x00]
        );
    }

    #[test]
    fn validity_bounds() {
        assert!(Validity::new(10, 5).to_x509().is_err());
        assert!(Validity::new(-1, 5).to_x509().is_err());
        assert!(Validity::new(0, 0).to_x509().is_ok());
        assert!(Validity::new(0, 300_000_000_000).to_x509().is_err());
    }
}
