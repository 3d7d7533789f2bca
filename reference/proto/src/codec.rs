//! The SKS serialization used inside every MAC, KDF and signature input, and Base64URL.
//!
//! Spec: `spec/crypto.md`, section "Serialization" ([CRY-SER-*]).

use thiserror::Error;

/// Builds the big-endian byte strings that enter MACs, KDFs and signatures.
///
/// Each writer method appends one item. Lists are written as consecutive items with no count
/// prefix; key modifiers are appended raw with [`Writer::raw`].
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

/// A value did not fit its length prefix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} is {len} bytes, more than the {max} its length prefix can carry")]
pub struct TooLong {
    /// What was being written.
    pub what: &'static str,
    /// Its length.
    pub len: usize,
    /// The largest length the prefix can carry.
    pub max: usize,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// One byte.
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.buf.push(b);
        self
    }

    /// A bool as 0x01 or 0x00 [CRY-SER-002].
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.buf.push(u8::from(b));
        self
    }

    /// A big-endian ushort [CRY-SER-003].
    pub fn ushort(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A big-endian uint [CRY-SER-004].
    pub fn uint(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// `L(x)`: ushort length then the bytes [CRY-SER-005]. Fails if `x` is over 65535 bytes.
    pub fn l(&mut self, x: &[u8]) -> Result<&mut Self, TooLong> {
        let len = u16::try_from(x.len()).map_err(|_| TooLong {
            what: "L() item",
            len: x.len(),
            max: u16::MAX as usize,
        })?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(x);
        Ok(self)
    }

    /// `L(s)` of a string's UTF-8 bytes [CRY-SER-005].
    pub fn l_str(&mut self, s: &str) -> Result<&mut Self, TooLong> {
        self.l(s.as_bytes())
    }

    /// `blob`: uint length then the bytes [CRY-SER-006].
    pub fn blob(&mut self, x: &[u8]) -> Result<&mut Self, TooLong> {
        let len = u32::try_from(x.len()).map_err(|_| TooLong {
            what: "blob",
            len: x.len(),
            max: u32::MAX as usize,
        })?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(x);
        Ok(self)
    }

    /// Bytes appended as they are, with no length (key modifiers) [CRY-SER-007].
    pub fn raw(&mut self, x: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(x);
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished byte string.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads what [`Writer`] writes; every read is bounds-checked and [`Reader::finish`] rejects
/// trailing bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A serialized value ended early or carried trailing bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadError {
    /// Fewer bytes remained than the item needs.
    #[error("truncated at offset {offset}: {what} needs {needed} bytes, {available} remain")]
    Truncated {
        /// Offset of the item.
        offset: usize,
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Bytes were left after the last item.
    #[error("{0} trailing bytes after the last item")]
    Trailing(usize),
    /// A bool byte was neither 0x00 nor 0x01.
    #[error("bool at offset {0} is neither 0x00 nor 0x01")]
    BadBool(usize),
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ReadError> {
        let available = self.buf.len() - self.pos;
        if n > available {
            return Err(ReadError::Truncated {
                offset: self.pos,
                what,
                needed: n,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1, "byte")?[0])
    }

    /// A strict bool (0x00 or 0x01).
    pub fn bool(&mut self) -> Result<bool, ReadError> {
        let at = self.pos;
        match self.take(1, "bool")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ReadError::BadBool(at)),
        }
    }

    /// A big-endian ushort.
    pub fn ushort(&mut self) -> Result<u16, ReadError> {
        let b = self.take(2, "ushort")?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian uint.
    pub fn uint(&mut self) -> Result<u32, ReadError> {
        let b = self.take(4, "uint")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An `L()` item.
    pub fn l(&mut self) -> Result<&'a [u8], ReadError> {
        let n = self.ushort()? as usize;
        self.take(n, "L() body")
    }

    /// A `blob` item.
    pub fn blob(&mut self) -> Result<&'a [u8], ReadError> {
        let n = self.uint()? as usize;
        self.take(n, "blob body")
    }

    /// `n` raw bytes.
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        self.take(n, "raw bytes")
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Fails if bytes remain.
    pub fn finish(self) -> Result<(), ReadError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ReadError::Trailing(self.buf.len() - self.pos))
        }
    }
}

/// Base64URL without padding, as KeyGen2 writes every `byte[]` [KG2-ENC-003].
pub mod b64url {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use thiserror::Error;

    /// The text was not canonical unpadded Base64URL.
    #[derive(Debug, Clone, PartialEq, Eq, Error)]
    #[error("not unpadded Base64URL")]
    pub struct Invalid;

    /// Encodes without padding.
    pub fn encode(bytes: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(bytes)
    }

    /// Decodes strictly: no padding, no whitespace, no standard-alphabet characters, and no
    /// non-zero trailing bits (so every byte string has exactly one accepted text form).
    pub fn decode(text: &str) -> Result<Vec<u8>, Invalid> {
        Base64UrlUnpadded::decode_vec(text).map_err(|_| Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_layout() {
        // [CRY-SER-002] [CRY-SER-003] [CRY-SER-004] [CRY-SER-005] [CRY-SER-006] [CRY-SER-007]
        let mut w = Writer::new();
        w.byte(7)
            .bool(true)
            .bool(false)
            .ushort(0x0102)
            .uint(0x0304_0506);
        w.l(b"ab").unwrap().blob(b"c").unwrap().raw(b"xy");
        assert_eq!(
            w.as_bytes(),
            &[
                7, 1, 0, 1, 2, 3, 4, 5, 6, 0, 2, b'a', b'b', 0, 0, 0, 1, b'c', b'x', b'y'
            ]
        );
    }

    #[test]
    fn l_rejects_over_65535() {
        let big = vec![0u8; 65536];
        assert!(Writer::new().l(&big).is_err());
        assert!(Writer::new().l(&big[..65535]).is_ok());
    }

    #[test]
    fn reader_round_trip_and_strictness() {
        let mut w = Writer::new();
        w.byte(9).bool(true).ushort(300).uint(70000);
        w.l(b"hello").unwrap().blob(b"world").unwrap();
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.byte().unwrap(), 9);
        assert!(r.bool().unwrap());
        assert_eq!(r.ushort().unwrap(), 300);
        assert_eq!(r.uint().unwrap(), 70000);
        assert_eq!(r.l().unwrap(), b"hello");
        assert_eq!(r.blob().unwrap(), b"world");
        r.finish().unwrap();

        let mut r = Reader::new(&bytes[..bytes.len() - 1]);
        r.raw(12).unwrap();
        assert!(matches!(r.blob(), Err(ReadError::Truncated { .. })));
        assert_eq!(Reader::new(&[2]).bool(), Err(ReadError::BadBool(0)));
        assert_eq!(Reader::new(&[0, 0]).finish(), Err(ReadError::Trailing(2)));
    }

    #[test]
    fn b64url_strict() {
        // [KG2-ENC-003]
        assert_eq!(b64url::encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url::decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(b64url::decode("-_8=").is_err(), "padding");
        assert!(b64url::decode("+/8").is_err(), "standard alphabet");
        assert!(b64url::decode("-_9").is_err(), "non-zero trailing bits");
        assert!(b64url::decode("-_ 8").is_err(), "whitespace");
        assert_eq!(b64url::decode("").unwrap(), Vec::<u8>::new());
    }
}
