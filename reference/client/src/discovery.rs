//! CredentialDiscovery on the proxy side: lookup-specifier verification ([KG2-CDQ-001],
//! [KG2-CDQ-002]) and the search filter ([KG2-CDQ-004], [KG2-CDQ-005]).
//!
//! Filter semantics follow the Java `CertificateFilter`: `fingerPrint` matches the SHA-256 of
//! any certificate of the path; `issuerRegEx` the RFC 2253 issuer name of any certificate of
//! the path; `subjectRegEx` the RFC 2253 subject name of the end-entity certificate;
//! `emailRegEx` any e-mail address of the end-entity certificate (subject `emailAddress`
//! attributes and `rfc822Name` alternative names); `serialNumber` the end-entity serial;
//! key-usage, extended-key-usage and policy rules are lists of required names (a leading `-`
//! marks a disallowed one). Regular expressions must match the whole string (Java
//! `matches()`). `issuedBefore` / `issuedAfter` compare the end-entity `notBefore`;
//! `grouping` and `appUsage` compare the key's PIN grouping and appUsage.

use airtight_proto::keys::{PublicKey, SignatureAlgorithm, sha256};
use airtight_proto::messages::{JsfAlgorithm, LookupSpecifier, SearchFilter};
use airtight_proto::policy::{AppUsage, Grouping};
use der::Decode;
use der::asn1::ObjectIdentifier;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    CertificatePolicies, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};

use crate::error::Failure;

/// Verifies the nonce and the JSF signature of one lookup specifier, returning the signer key
/// (the key-management key that selects the searchable sessions).
pub fn verify_lookup(
    lookup: &LookupSpecifier,
    client_session_id: &str,
    server_session_id: &str,
) -> Result<PublicKey, Failure> {
    // [KG2-CDQ-001] [CRY-LUP-001]
    let nonce = airtight_proto::session1::lookup_nonce(client_session_id, server_session_id)
        .map_err(|e| Failure::invalid("KG2-CDQ-001", e.to_string()))?;
    if lookup.nonce != nonce {
        return Err(Failure::invalid(
            "KG2-CDQ-001",
            format!("lookup {:?}: nonce does not bind this session", lookup.id),
        ));
    }
    // [KG2-CDQ-002] [CRY-LUP-002]
    let key = PublicKey::from_jwk(&lookup.signature.public_key).map_err(|e| {
        Failure::invalid(
            "KG2-CDQ-002",
            format!("lookup {:?}: bad publicKey: {e}", lookup.id),
        )
    })?;
    let alg = match lookup.signature.algorithm {
        JsfAlgorithm::Es256 => {
            if !matches!(key, PublicKey::P256(_)) {
                return Err(Failure::invalid(
                    "KG2-CDQ-002",
                    format!("lookup {:?}: ES256 needs a P-256 key", lookup.id),
                ));
            }
            SignatureAlgorithm::from_jose("ES256")
        }
        JsfAlgorithm::Rs256 => SignatureAlgorithm::from_jose("RS256"),
    }
    .ok_or_else(|| Failure::invalid("KG2-CDQ-002", "unknown JSF algorithm"))?;
    key.verify(alg, &lookup.signed_data(), &lookup.signature.value)
        .map_err(|e| {
            Failure::invalid(
                "KG2-CDQ-002",
                format!("lookup {:?}: signature does not verify: {e}", lookup.id),
            )
        })?;
    Ok(key)
}

/// Translates a Java regular expression to the `regex` crate's syntax, anchored for a whole
/// match: `\Q…\E` quoted literals become escaped text; the rest is passed through (the common
/// operators have the same meaning; constructs `regex` does not know fail to compile, and
/// the message is then rejected, [KG2-CDQ-005]).
pub fn java_regex(pattern: &str) -> Result<regex::Regex, Failure> {
    let mut out = String::from("^(?:");
    let mut rest = pattern;
    while let Some(pos) = rest.find("\\Q") {
        // A `\Q` preceded by an odd number of backslashes is an escaped backslash + `Q`.
        let backslashes = rest[..pos].chars().rev().take_while(|c| *c == '\\').count();
        if !backslashes.is_multiple_of(2) {
            out.push_str(&rest[..pos + 2]);
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let quoted = &rest[pos + 2..];
        match quoted.find("\\E") {
            Some(end) => {
                out.push_str(&regex::escape(&quoted[..end]));
                rest = &quoted[end + 2..];
            }
            None => {
                out.push_str(&regex::escape(quoted));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.push_str(")$");
    regex::Regex::new(&out).map_err(|e| {
        Failure::invalid(
            "KG2-CDQ-005",
            format!("unsupported regular expression {pattern:?}: {e}"),
        )
    })
}

/// The RFC 2253 form of a name as Java's `X500Principal.getName(RFC2253)` writes it: RDNs in
/// reverse order, keywords for CN, C, L, ST, O, OU, STREET, DC and UID, every other attribute
/// as `dotted-OID=#hex-of-DER`.
pub fn rfc2253(name: &x509_cert::name::Name) -> String {
    use der::Encode;
    use der::Tag;
    let mut rdns = Vec::new();
    for rdn in name.iter_rdn() {
        let mut atvs = Vec::new();
        for atv in rdn.iter() {
            let key = match atv.oid.to_string().as_str() {
                "2.5.4.3" => Some("CN"),
                "2.5.4.6" => Some("C"),
                "2.5.4.7" => Some("L"),
                "2.5.4.8" => Some("ST"),
                "2.5.4.10" => Some("O"),
                "2.5.4.11" => Some("OU"),
                "2.5.4.9" => Some("STREET"),
                "0.9.2342.19200300.100.1.25" => Some("DC"),
                "0.9.2342.19200300.100.1.1" => Some("UID"),
                _ => None,
            };
            let text = match der::Tagged::tag(&atv.value) {
                Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
                    std::str::from_utf8(atv.value.value()).ok()
                }
                _ => None,
            };
            match (key, text) {
                (Some(k), Some(v)) => {
                    let mut s = format!("{k}=");
                    let n = v.chars().count();
                    for (i, c) in v.chars().enumerate() {
                        match c {
                            '#' if i == 0 => s.push_str("\\#"),
                            ' ' if i == 0 || i + 1 == n => s.push_str("\\ "),
                            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                                s.push('\\');
                                s.push(c);
                            }
                            _ => s.push(c),
                        }
                    }
                    atvs.push(s);
                }
                _ => {
                    let der = atv.value.to_der().unwrap_or_default();
                    let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                    atvs.push(format!("{}=#{hex}", atv.oid));
                }
            }
        }
        rdns.push(atvs.join("+"));
    }
    rdns.reverse();
    rdns.join(",")
}

/// What the filter needs to know about one key besides its certificate path.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts {
    /// The key's appUsage.
    pub app_usage: AppUsage,
    /// The PIN grouping of the key's PIN policy, if it has one.
    pub grouping: Option<Grouping>,
}

/// A compiled search filter.
#[derive(Debug)]
pub struct CompiledFilter<'a> {
    filter: &'a SearchFilter,
    issuer: Option<regex::Regex>,
    subject: Option<regex::Regex>,
    email: Option<regex::Regex>,
    serial: Option<Vec<u8>>,
}

impl<'a> CompiledFilter<'a> {
    /// Compiles the regular expressions and checks the rule lists; an unusable member
    /// rejects the message ([KG2-CDQ-005]).
    pub fn new(filter: &'a SearchFilter) -> Result<Self, Failure> {
        let re = |p: &Option<String>| p.as_deref().map(java_regex).transpose();
        for rule in filter
            .policy_rules
            .iter()
            .chain(&filter.extended_key_usage_rules)
        {
            let oid = rule.strip_prefix('-').unwrap_or(rule);
            if ObjectIdentifier::new(oid).is_err() {
                return Err(Failure::invalid(
                    "KG2-CDQ-005",
                    format!("bad OID rule {rule:?}"),
                ));
            }
        }
        for rule in &filter.key_usage_rules {
            let name = rule.strip_prefix('-').unwrap_or(rule);
            if key_usage_bit(name).is_none() {
                return Err(Failure::invalid(
                    "KG2-CDQ-005",
                    format!("unknown key usage {rule:?}"),
                ));
            }
        }
        Ok(CompiledFilter {
            filter,
            issuer: re(&filter.issuer_reg_ex)?,
            subject: re(&filter.subject_reg_ex)?,
            email: re(&filter.email_reg_ex)?,
            serial: filter.serial_number.as_deref().map(decimal_to_be),
        })
    }

    /// True if the key matches every member of the filter ([KG2-CDQ-004]). A certificate that
    /// does not parse matches nothing.
    pub fn matches(&self, path: &[Vec<u8>], facts: KeyFacts) -> bool {
        let f = self.filter;
        let Some(ee_der) = path.first() else {
            return false;
        };
        let Ok(ee) = Certificate::from_der(ee_der) else {
            return false;
        };
        let tbs = ee.tbs_certificate();
        if let Some(fp) = &f.finger_print
            && !path.iter().any(|c| sha256(c).as_slice() == fp.as_slice())
        {
            return false;
        }
        if let Some(serial) = &self.serial {
            let bytes = tbs.serial_number().as_bytes();
            let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            if &bytes[first..] != serial.as_slice() {
                return false;
            }
        }
        if let Some(re) = &self.issuer {
            let any = path.iter().any(|c| {
                Certificate::from_der(c)
                    .map(|c| re.is_match(&rfc2253(c.tbs_certificate().issuer())))
                    .unwrap_or(false)
            });
            if !any {
                return false;
            }
        }
        if let Some(re) = &self.subject
            && !re.is_match(&rfc2253(tbs.subject()))
        {
            return false;
        }
        if let Some(re) = &self.email
            && !emails(&ee).iter().any(|e| re.is_match(e))
        {
            return false;
        }
        if !f.key_usage_rules.is_empty() {
            let Ok(Some((_, ku))) = tbs.get_extension::<KeyUsage>() else {
                return false;
            };
            let present: Vec<&str> = KEY_USAGES
                .iter()
                .filter(|(_, bit)| ku.0.contains(*bit))
                .map(|(n, _)| *n)
                .collect();
            if !rules_match(&f.key_usage_rules, &present) {
                return false;
            }
        }
        if !f.extended_key_usage_rules.is_empty() {
            let Ok(Some((_, eku))) = tbs.get_extension::<ExtendedKeyUsage>() else {
                return false;
            };
            let present: Vec<String> = eku.0.iter().map(ToString::to_string).collect();
            let present: Vec<&str> = present.iter().map(String::as_str).collect();
            if !rules_match(&f.extended_key_usage_rules, &present) {
                return false;
            }
        }
        if !f.policy_rules.is_empty() {
            let Ok(Some((_, pol))) = tbs.get_extension::<CertificatePolicies>() else {
                return false;
            };
            let present: Vec<String> = pol
                .0
                .iter()
                .map(|p| p.policy_identifier.to_string())
                .collect();
            let present: Vec<&str> = present.iter().map(String::as_str).collect();
            if !rules_match(&f.policy_rules, &present) {
                return false;
            }
        }
        let not_before = tbs.validity().not_before.to_unix_duration().as_secs();
        let not_before = i64::try_from(not_before).unwrap_or(i64::MAX);
        if let Some(t) = &f.issued_before
            && not_before >= t.unix_seconds()
        {
            return false;
        }
        if let Some(t) = &f.issued_after
            && not_before <= t.unix_seconds()
        {
            return false;
        }
        if let Some(g) = f.grouping
            && facts.grouping != Some(g)
        {
            return false;
        }
        if let Some(a) = f.app_usage
            && facts.app_usage != a
        {
            return false;
        }
        true
    }
}

const KEY_USAGES: [(&str, KeyUsages); 9] = [
    ("digitalSignature", KeyUsages::DigitalSignature),
    ("nonRepudiation", KeyUsages::NonRepudiation),
    ("keyEncipherment", KeyUsages::KeyEncipherment),
    ("dataEncipherment", KeyUsages::DataEncipherment),
    ("keyAgreement", KeyUsages::KeyAgreement),
    ("keyCertSign", KeyUsages::KeyCertSign),
    ("cRLSign", KeyUsages::CRLSign),
    ("encipherOnly", KeyUsages::EncipherOnly),
    ("decipherOnly", KeyUsages::DecipherOnly),
];

fn key_usage_bit(name: &str) -> Option<KeyUsages> {
    KEY_USAGES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Every required rule present, no present value disallowed.
fn rules_match(rules: &[String], present: &[&str]) -> bool {
    for rule in rules {
        match rule.strip_prefix('-') {
            Some(disallowed) => {
                if present.contains(&disallowed) {
                    return false;
                }
            }
            None => {
                if !present.contains(&rule.as_str()) {
                    return false;
                }
            }
        }
    }
    true
}

/// The e-mail addresses of a certificate: subject `emailAddress` attributes and SAN
/// `rfc822Name`s.
fn emails(cert: &Certificate) -> Vec<String> {
    let tbs = cert.tbs_certificate();
    let mut out = Vec::new();
    for atv in tbs.subject().iter() {
        if atv.oid.to_string() == "1.2.840.113549.1.9.1"
            && let Ok(s) = std::str::from_utf8(atv.value.value())
        {
            out.push(s.to_owned());
        }
    }
    if let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() {
        for n in san.0 {
            if let GeneralName::Rfc822Name(s) = n {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// A decimal string (validated digits) as a minimal big-endian byte string.
fn decimal_to_be(s: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for d in s.bytes().filter(u8::is_ascii_digit) {
        let mut carry = u32::from(d - b'0');
        for b in out.iter_mut().rev() {
            let v = u32::from(*b) * 10 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let first = out.iter().position(|b| *b != 0).unwrap_or(out.len());
    out.split_off(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn java_quoting() {
        // [KG2-CDQ-005] \Q…\E literals, whole-string match
        let re = java_regex(r"\Qjohn.doe@example.com\E").unwrap();
        assert!(re.is_match("john.doe@example.com"));
        assert!(!re.is_match("johnXdoe@example.com"));
        assert!(!re.is_match("xjohn.doe@example.com"));
        let re = java_regex(r".*@\Qexample.com\E|admin").unwrap();
        assert!(re.is_match("a@example.com"));
        assert!(re.is_match("admin"));
        assert!(!re.is_match("admins"));
        let re = java_regex(r"CN=[A-Z]+(,.*)?").unwrap();
        assert!(re.is_match("CN=ABC,O=x"));
        assert!(java_regex(r"a(?<=b)").is_err());
    }

    #[test]
    fn decimal() {
        assert_eq!(decimal_to_be("0"), Vec::<u8>::new());
        assert_eq!(decimal_to_be("255"), vec![0xff]);
        assert_eq!(decimal_to_be("256"), vec![1, 0]);
        assert_eq!(
            decimal_to_be("18446744073709551616"),
            vec![1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn rules() {
        assert!(rules_match(
            &["digitalSignature".into(), "-keyEncipherment".into()],
            &["digitalSignature", "nonRepudiation"]
        ));
        assert!(!rules_match(
            &["-keyEncipherment".into()],
            &["keyEncipherment"]
        ));
        assert!(!rules_match(&["keyAgreement".into()], &[]));
    }
}
