//! PEM (RFC 7468) for certificates and PKCS#8 keys: LF line endings, 64-column Base64.

use der::pem::{self, LineEnding};

/// The `CERTIFICATE` label.
pub const CERTIFICATE: &str = "CERTIFICATE";
/// The `PRIVATE KEY` label (PKCS#8).
pub const PRIVATE_KEY: &str = "PRIVATE KEY";

/// A PEM problem.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PemError {
    /// A block is not well-formed PEM.
    #[error("PEM block {index}: {reason}")]
    Block {
        /// Index of the block (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Text outside the blocks that is not whitespace.
    #[error("unexpected text outside PEM blocks")]
    Stray,
    /// A block has another label than expected.
    #[error("PEM block {index} is labelled {found}, expected {expected}")]
    Label {
        /// Index of the block.
        index: usize,
        /// The label found.
        found: String,
        /// The label expected.
        expected: &'static str,
    },
    /// Encoding failed.
    #[error("PEM encoding failed: {0}")]
    Encode(String),
}

/// Encodes one block.
pub fn encode(label: &str, der: &[u8]) -> Result<String, PemError> {
    pem::encode_string(label, LineEnding::LF, der).map_err(|e| PemError::Encode(e.to_string()))
}

/// Encodes several blocks of the same label, concatenated.
pub fn encode_all(label: &str, ders: &[Vec<u8>]) -> Result<String, PemError> {
    let mut out = String::new();
    for der in ders {
        out.push_str(&encode(label, der)?);
    }
    Ok(out)
}

/// Decodes every block of `text`, in order, as (label, DER). Only whitespace may separate them.
pub fn decode_all(text: &str) -> Result<Vec<(String, Vec<u8>)>, PemError> {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        if !trimmed.starts_with(BEGIN) {
            return Err(PemError::Stray);
        }
        let index = out.len();
        let block_err = |reason: &str| PemError::Block {
            index,
            reason: reason.to_owned(),
        };
        // The label ends at the first "-----" after BEGIN.
        let after_begin = &trimmed[BEGIN.len()..];
        let label_end = after_begin
            .find("-----")
            .ok_or_else(|| block_err("unterminated BEGIN line"))?;
        let label = &after_begin[..label_end];
        let end_marker = format!("-----END {label}-----");
        let end_pos = trimmed
            .find(&end_marker)
            .ok_or_else(|| block_err("missing END line"))?;
        let block_len = end_pos + end_marker.len();
        let block = &trimmed[..block_len];
        let (found, der) =
            pem::decode_vec(block.as_bytes()).map_err(|e| block_err(&e.to_string()))?;
        out.push((found.to_owned(), der));
        rest = &trimmed[block_len..];
    }
    Ok(out)
}

/// Decodes a file of `CERTIFICATE` blocks into DER certificates, in order.
pub fn decode_certificates(text: &str) -> Result<Vec<Vec<u8>>, PemError> {
    decode_all(text)?
        .into_iter()
        .enumerate()
        .map(|(index, (label, der))| {
            if label == CERTIFICATE {
                Ok(der)
            } else {
                Err(PemError::Label {
                    index,
                    found: label,
                    expected: CERTIFICATE,
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_several_blocks() {
        let ders = vec![vec![0x30, 0x00], vec![0x30, 0x03, 0x02, 0x01, 0x05]];
        let text = encode_all(CERTIFICATE, &ders).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"));
        assert_eq!(decode_certificates(&text).unwrap(), ders);
    }

    #[test]
    fn rejects_stray_text_and_wrong_labels() {
        assert_eq!(decode_all("junk"), Err(PemError::Stray));
        let key = encode(PRIVATE_KEY, &[0x30, 0x00]).unwrap();
        assert!(matches!(
            decode_certificates(&key),
            Err(PemError::Label { index: 0, .. })
        ));
        assert!(matches!(
            decode_all("-----BEGIN CERTIFICATE-----\nMAA=\n"),
            Err(PemError::Block { index: 0, .. })
        ));
        assert!(matches!(
            decode_all("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
            Err(PemError::Block { index: 0, .. })
        ));
        assert_eq!(decode_all(" \n").unwrap(), vec![]);
    }
}
