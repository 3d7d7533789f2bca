//! A lenient walk over a certificate's outer DER structure: finds the `TBSCertificate` and the
//! `SubjectPublicKeyInfo` without decoding anything else, so certificates that a strict X.509
//! parser refuses (odd algorithm parameters, legacy encodings) still yield their public key.
//!
//! The walk checks only what it needs: definite lengths that stay inside their parent, the
//! expected tags in the expected order, and no bytes after the certificate. It never panics.

/// Why the walk failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WalkError {
    /// The input ended inside an element.
    #[error("truncated at offset {0}")]
    Truncated(usize),
    /// A length form we do not accept (indefinite, or more than 4 length octets).
    #[error("unsupported length encoding at offset {0}")]
    Length(usize),
    /// A tag other than the one the structure needs.
    #[error("expected {expected} at offset {offset}, found tag 0x{found:02x}")]
    Tag {
        /// Offset of the element.
        offset: usize,
        /// What the structure needs there.
        expected: &'static str,
        /// The tag byte found.
        found: u8,
    },
    /// Bytes after the certificate.
    #[error("trailing bytes after the certificate")]
    Trailing,
}

/// One TLV: its tag, the whole element and its content.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
}

/// Reads one TLV at `pos` of `buf` (offsets reported relative to `base`).
fn read_tlv(buf: &[u8], pos: usize, base: usize) -> Result<(Tlv<'_>, usize), WalkError> {
    let at = base + pos;
    let tag = *buf.get(pos).ok_or(WalkError::Truncated(at))?;
    if tag & 0x1f == 0x1f {
        // High tag numbers never occur at the positions we walk.
        return Err(WalkError::Tag {
            offset: at,
            expected: "a low-number tag",
            found: tag,
        });
    }
    let first = *buf.get(pos + 1).ok_or(WalkError::Truncated(at + 1))?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(WalkError::Length(at + 1));
        }
        let bytes = buf
            .get(pos + 2..pos + 2 + n)
            .ok_or(WalkError::Truncated(at + 2))?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let start = pos + header;
    let end = start.checked_add(len).ok_or(WalkError::Length(at + 1))?;
    let whole = buf
        .get(pos..end)
        .ok_or(WalkError::Truncated(base + buf.len()))?;
    let content = buf
        .get(start..end)
        .ok_or(WalkError::Truncated(base + buf.len()))?;
    Ok((
        Tlv {
            tag,
            whole,
            content,
        },
        end,
    ))
}

fn expect(tlv: &Tlv<'_>, tag: u8, offset: usize, expected: &'static str) -> Result<(), WalkError> {
    if tlv.tag == tag {
        Ok(())
    } else {
        Err(WalkError::Tag {
            offset,
            expected,
            found: tlv.tag,
        })
    }
}

/// The parts of a certificate the lenient walk finds, borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub struct CertificateParts<'a> {
    /// The whole `TBSCertificate` element (the signed bytes).
    pub tbs: &'a [u8],
    /// The whole issuer `Name` element.
    pub issuer: &'a [u8],
    /// The whole subject `Name` element.
    pub subject: &'a [u8],
    /// The whole `SubjectPublicKeyInfo` element.
    pub spki: &'a [u8],
    /// The whole outer `signatureAlgorithm` element.
    pub signature_algorithm: &'a [u8],
    /// The content of the signature BIT STRING (first byte: unused bits).
    pub signature_bits: &'a [u8],
}

/// Walks `der` as `Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature }`.
pub fn certificate_parts(der: &[u8]) -> Result<CertificateParts<'_>, WalkError> {
    const SEQ: u8 = 0x30;
    let (cert, end) = read_tlv(der, 0, 0)?;
    expect(&cert, SEQ, 0, "Certificate SEQUENCE")?;
    if end != der.len() {
        return Err(WalkError::Trailing);
    }
    let base = der.len() - cert.content.len();
    let (tbs, p) = read_tlv(cert.content, 0, base)?;
    expect(&tbs, SEQ, base, "TBSCertificate SEQUENCE")?;
    let (sig_alg, p2) = read_tlv(cert.content, p, base)?;
    expect(&sig_alg, SEQ, base + p, "signatureAlgorithm SEQUENCE")?;
    let (sig, _) = read_tlv(cert.content, p2, base)?;
    expect(&sig, 0x03, base + p2, "signature BIT STRING")?;

    let tbase = base + tbs.whole.len() - tbs.content.len();
    let body = tbs.content;
    let mut pos = 0;
    let (first, next) = read_tlv(body, pos, tbase)?;
    if first.tag == 0xa0 {
        pos = next; // explicit version
    }
    let mut fields: [&[u8]; 6] = [&[]; 6];
    let names: [(u8, &'static str); 6] = [
        (0x02, "serialNumber INTEGER"),
        (SEQ, "signature AlgorithmIdentifier"),
        (SEQ, "issuer Name"),
        (SEQ, "validity SEQUENCE"),
        (SEQ, "subject Name"),
        (SEQ, "subjectPublicKeyInfo SEQUENCE"),
    ];
    for (slot, (tag, what)) in fields.iter_mut().zip(names) {
        let (tlv, next) = read_tlv(body, pos, tbase)?;
        expect(&tlv, tag, tbase + pos, what)?;
        *slot = tlv.whole;
        pos = next;
    }
    Ok(CertificateParts {
        tbs: tbs.whole,
        issuer: fields[2],
        subject: fields[4],
        spki: fields[5],
        signature_algorithm: sig_alg.whole,
        signature_bits: sig.content,
    })
}

/// The `SubjectPublicKeyInfo` DER of a certificate, found without validating the certificate.
pub fn spki_of_certificate(der: &[u8]) -> Result<Vec<u8>, WalkError> {
    certificate_parts(der).map(|p| p.spki.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn short_inputs_are_errors() {
        assert_eq!(spki_of_certificate(&[]), Err(WalkError::Truncated(0)));
        assert_eq!(spki_of_certificate(&[0x30]), Err(WalkError::Truncated(1)));
        assert!(matches!(
            spki_of_certificate(&[0x30, 0x80]),
            Err(WalkError::Length(1))
        ));
        assert!(matches!(
            spki_of_certificate(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(WalkError::Length(1))
        ));
        assert!(matches!(
            spki_of_certificate(&[0x30, 0x00]),
            Err(WalkError::Truncated(_))
        ));
        assert!(matches!(
            spki_of_certificate(&[0x31, 0x00]),
            Err(WalkError::Tag { .. })
        ));
        assert_eq!(
            spki_of_certificate(&[0x30, 0x00, 0x00]),
            Err(WalkError::Trailing)
        );
        assert!(matches!(
            spki_of_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(WalkError::Truncated(_))
        ));
    }
}
