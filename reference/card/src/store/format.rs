//! The on-disk formats. All integers are little-endian.
//!
//! Format version 2 (written by this code) adds the commit number and the seal mode to the
//! snapshot, seals payloads ([`super::seal`]) and adds the commit counter files. Format
//! version 1 (plaintext payloads, no commit counter) is still read, so an existing card can be
//! opened; the next write rewrites it as version 2 (see [`super::Store`]).
//!
//! Snapshot file (`state.snap`), written whole to a temporary name, fsynced, renamed:
//!
//! ```text
//! magic       8   "ATSNAP\r\n"
//! format      u32 2 (1: no commit and seal fields)
//! schema      u32 the application's StoreState::SCHEMA
//! generation  u64
//! commit      u64 the commit number of this state (format 2)
//! seal        u8  SealMode byte: 0 plaintext, 1 device key, 2 device key + passphrase (format 2)
//! length      u32 payload length
//! payload     JSON of the state; sealed: nonce 24 | XChaCha20-Poly1305 ciphertext | tag 16
//! sha256      32  over every preceding byte
//! ```
//!
//! Journal file (`journal.log`): a header created like a snapshot, then appended records:
//!
//! ```text
//! header:  magic 8 "ATJRNL\r\n" | format u32 | schema u32 | generation u64 | sha256 32 (over the header)
//! record:  length u32 (payload, >= 1) | seq u64 | payload (JSON, sealed like the snapshot's) | sha256 32
//!          sha256 over: generation u64 | length | seq | payload
//! ```
//!
//! Records of one journal carry `seq` 1, 2, 3, ... Binding the generation into each record's
//! checksum means a record can never be replayed against another snapshot. Record `seq` of a
//! journal of the snapshot's generation is commit number `snapshot commit + seq`.
//!
//! Commit counter files (`counter.a`, `counter.b`, format 2 only), each rewritten whole:
//!
//! ```text
//! magic 8 "ATCOUNT\n" | format u32 | commit u64 | tag 32
//! tag: HMAC-SHA256 (the seal key's counter subkey) over the preceding bytes; SHA-256 when the
//!      store is not sealed
//! ```
//!
//! The checksums make a torn or damaged write recognisable without any key; the seal's AEAD
//! makes the content unreadable and unforgeable without the key.

use sha2::{Digest, Sha256};

use super::StoreError;

/// The file-format version this code writes.
pub const FORMAT_VERSION: u32 = 2;
/// The older format version this code still reads (plaintext, no commit counter).
pub const LEGACY_FORMAT_VERSION: u32 = 1;
/// Magic of a commit counter file.
pub const COUNTER_MAGIC: &[u8; 8] = b"ATCOUNT\n";
/// Length of a commit counter file.
pub const COUNTER_LEN: usize = 8 + 4 + 8 + 32;
/// Magic of the snapshot file.
pub const SNAP_MAGIC: &[u8; 8] = b"ATSNAP\r\n";
/// Magic of the journal file.
pub const JOURNAL_MAGIC: &[u8; 8] = b"ATJRNL\r\n";
/// Header length of a journal (magic, format, schema, generation, checksum).
pub const JOURNAL_HEADER_LEN: usize = 8 + 4 + 4 + 8 + 32;
/// Fixed bytes of a record around its payload (length, seq, checksum).
pub const RECORD_OVERHEAD: usize = 4 + 8 + 32;
/// Largest payload accepted (a card state is a few hundred KiB at most).
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

const HASH_LEN: usize = 32;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

fn payload_len(payload: &[u8], file: &'static str) -> Result<u32, StoreError> {
    match u32::try_from(payload.len()) {
        Ok(n) if payload.len() <= MAX_PAYLOAD => Ok(n),
        _ => Err(StoreError::TooLarge {
            file,
            len: payload.len(),
            max: MAX_PAYLOAD,
        }),
    }
}

/// Check magic, format version and schema (in that order) of a file's prefix.
fn check_prefix(
    b: &[u8],
    file: &'static str,
    magic: &[u8; 8],
    schema: u32,
) -> Result<u32, StoreError> {
    if b.len() < 8 || &b[..8] != magic {
        return Err(StoreError::BadMagic { file });
    }
    let version = u32_at(b, 8).ok_or(StoreError::Corrupt {
        file,
        offset: 8,
        reason: "truncated header",
    })?;
    if version != FORMAT_VERSION && version != LEGACY_FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            file,
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let found = u32_at(b, 12).ok_or(StoreError::Corrupt {
        file,
        offset: 12,
        reason: "truncated header",
    })?;
    if found != schema {
        return Err(StoreError::SchemaMismatch {
            file,
            found,
            expected: schema,
        });
    }
    Ok(version)
}

/// A decoded snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot<'a> {
    /// The format version (1 or 2).
    pub version: u32,
    /// The generation.
    pub generation: u64,
    /// The commit number of the state (0 for format 1).
    pub commit: u64,
    /// The seal mode byte (0 for format 1).
    pub seal: u8,
    /// The (sealed or plaintext) payload.
    pub payload: &'a [u8],
}

/// Encode a snapshot file (format 2).
pub fn encode_snapshot(
    schema: u32,
    generation: u64,
    commit: u64,
    seal: u8,
    payload: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let len = payload_len(payload, "state.snap")?;
    let mut out = Vec::with_capacity(SNAP_HEADER_LEN + payload.len() + HASH_LEN);
    out.extend_from_slice(SNAP_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&schema.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&commit.to_le_bytes());
    out.push(seal);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    let digest = sha256(&[&out]);
    out.extend_from_slice(&digest);
    Ok(out)
}

/// Encode a snapshot file of format 1 (plaintext; for migration tests).
pub fn encode_snapshot_v1(
    schema: u32,
    generation: u64,
    payload: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let len = payload_len(payload, "state.snap")?;
    let mut out = Vec::with_capacity(28 + payload.len() + HASH_LEN);
    out.extend_from_slice(SNAP_MAGIC);
    out.extend_from_slice(&LEGACY_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&schema.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    let digest = sha256(&[&out]);
    out.extend_from_slice(&digest);
    Ok(out)
}

/// Header length of a format-2 snapshot (up to the payload).
const SNAP_HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8 + 1 + 4;

/// Decode a snapshot file of format 1 or 2.
pub fn decode_snapshot(b: &[u8], schema: u32) -> Result<Snapshot<'_>, StoreError> {
    const FILE: &str = "state.snap";
    let version = check_prefix(b, FILE, SNAP_MAGIC, schema)?;
    let corrupt = |offset, reason| StoreError::Corrupt {
        file: FILE,
        offset,
        reason,
    };
    let generation = u64_at(b, 16).ok_or(corrupt(16, "truncated header"))?;
    let (commit, seal, len_at) = if version == LEGACY_FORMAT_VERSION {
        (0, 0, 24)
    } else {
        let commit = u64_at(b, 24).ok_or(corrupt(24, "truncated header"))?;
        let seal = *b.get(32).ok_or(corrupt(32, "truncated header"))?;
        (commit, seal, 33)
    };
    let len = u32_at(b, len_at).ok_or(corrupt(len_at, "truncated header"))? as usize;
    let start = len_at + 4;
    let end = start
        .checked_add(len)
        .ok_or(corrupt(len_at, "payload length overflows"))?;
    if b.len() != end + HASH_LEN {
        return Err(corrupt(
            len_at,
            "file length does not match the payload length",
        ));
    }
    if sha256(&[&b[..end]])[..] != b[end..] {
        return Err(corrupt(end, "checksum mismatch"));
    }
    Ok(Snapshot {
        version,
        generation,
        commit,
        seal,
        payload: &b[start..end],
    })
}

/// Encode a journal header (format 2).
pub fn encode_journal_header(schema: u32, generation: u64) -> Vec<u8> {
    encode_journal_header_version(FORMAT_VERSION, schema, generation)
}

/// Encode a journal header of the given format version (1 only for migration tests).
pub fn encode_journal_header_version(version: u32, schema: u32, generation: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(JOURNAL_HEADER_LEN);
    out.extend_from_slice(JOURNAL_MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&schema.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    let digest = sha256(&[&out]);
    out.extend_from_slice(&digest);
    out
}

/// Encode one journal record.
pub fn encode_record(generation: u64, seq: u64, payload: &[u8]) -> Result<Vec<u8>, StoreError> {
    let len = payload_len(payload, "journal.log")?;
    let len_b = len.to_le_bytes();
    let seq_b = seq.to_le_bytes();
    let digest = sha256(&[&generation.to_le_bytes(), &len_b, &seq_b, payload]);
    let mut out = Vec::with_capacity(RECORD_OVERHEAD + payload.len());
    out.extend_from_slice(&len_b);
    out.extend_from_slice(&seq_b);
    out.extend_from_slice(payload);
    out.extend_from_slice(&digest);
    Ok(out)
}

/// A decoded journal.
#[derive(Debug)]
pub struct JournalScan<'a> {
    /// The journal's format version.
    pub version: u32,
    /// The journal's generation.
    pub generation: u64,
    /// The valid records' payloads, in order (seq 1, 2, ...).
    pub records: Vec<&'a [u8]>,
    /// Byte length of the valid part (header and valid records).
    pub valid_len: usize,
    /// Whether bytes after the valid part were discarded as a torn tail.
    pub torn: bool,
}

/// Decode a journal header only: its format version and generation.
pub fn decode_journal_header(b: &[u8], schema: u32) -> Result<(u32, u64), StoreError> {
    const FILE: &str = "journal.log";
    let version = check_prefix(b, FILE, JOURNAL_MAGIC, schema)?;
    if b.len() < JOURNAL_HEADER_LEN {
        return Err(StoreError::Corrupt {
            file: FILE,
            offset: 0,
            reason: "truncated header",
        });
    }
    let digest = sha256(&[&b[..JOURNAL_HEADER_LEN - HASH_LEN]]);
    if digest[..] != b[JOURNAL_HEADER_LEN - HASH_LEN..JOURNAL_HEADER_LEN] {
        return Err(StoreError::Corrupt {
            file: FILE,
            offset: JOURNAL_HEADER_LEN - HASH_LEN,
            reason: "header checksum mismatch",
        });
    }
    let generation = u64_at(b, 16).ok_or(StoreError::Corrupt {
        file: FILE,
        offset: 16,
        reason: "truncated header",
    })?;
    Ok((version, generation))
}

/// Try to read a valid record with sequence number `seq` at `at`: its payload and end.
fn record_at(b: &[u8], at: usize, generation: u64, seq: u64) -> Option<(&[u8], usize)> {
    let len = u32_at(b, at)? as usize;
    if len == 0 || len > MAX_PAYLOAD || u64_at(b, at + 4)? != seq {
        return None;
    }
    let p0 = at + 12;
    let p1 = p0.checked_add(len)?;
    let end = p1.checked_add(HASH_LEN)?;
    let stored = b.get(p1..end)?;
    let payload = &b[p0..p1];
    let digest = sha256(&[
        &generation.to_le_bytes(),
        &b[at..at + 4],
        &b[at + 4..p0],
        payload,
    ]);
    (digest[..] == *stored).then_some((payload, end))
}

/// Decode a whole journal. A record that fails to parse is a *torn tail* (the interrupted
/// last append) when no valid record with the same or the next sequence number starts
/// anywhere after it; otherwise the journal is corrupt in the middle, which is an error:
/// committed records are never dropped silently.
pub fn scan_journal(b: &[u8], schema: u32) -> Result<JournalScan<'_>, StoreError> {
    let (version, generation) = decode_journal_header(b, schema)?;
    let mut records = Vec::new();
    let mut at = JOURNAL_HEADER_LEN;
    let mut seq = 1u64;
    while at < b.len() {
        if let Some((payload, end)) = record_at(b, at, generation, seq) {
            records.push(payload);
            at = end;
            seq += 1;
            continue;
        }
        // Anything valid further on proves this is not a torn tail.
        let later = (at + 1..b.len()).any(|o| {
            record_at(b, o, generation, seq).is_some()
                || record_at(b, o, generation, seq + 1).is_some()
        });
        if later {
            return Err(StoreError::Corrupt {
                file: "journal.log",
                offset: at,
                reason: "invalid record followed by valid records",
            });
        }
        return Ok(JournalScan {
            version,
            generation,
            records,
            valid_len: at,
            torn: true,
        });
    }
    Ok(JournalScan {
        version,
        generation,
        records,
        valid_len: at,
        torn: false,
    })
}

/// Encode a commit counter file; `tag` computes the tag over the preceding bytes.
pub fn encode_counter(commit: u64, tag: impl FnOnce(&[u8]) -> [u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(COUNTER_LEN);
    out.extend_from_slice(COUNTER_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&commit.to_le_bytes());
    let t = tag(&out);
    out.extend_from_slice(&t);
    out
}

/// The commit number of a counter file whose tag `verify` accepts; `None` for anything else
/// (absent, torn, damaged, forged).
pub fn decode_counter(b: &[u8], verify: impl Fn(&[u8], &[u8]) -> bool) -> Option<u64> {
    if b.len() != COUNTER_LEN || &b[..8] != COUNTER_MAGIC || u32_at(b, 8)? != FORMAT_VERSION {
        return None;
    }
    let (body, tag) = b.split_at(COUNTER_LEN - HASH_LEN);
    verify(body, tag).then(|| u64_at(b, 12)).flatten()
}

/// The plain SHA-256 tag of a counter file of a store that is not sealed.
pub fn plain_counter_tag(body: &[u8]) -> [u8; 32] {
    sha256(&[body])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn snapshot_round_trip_and_rejections() {
        let snap = encode_snapshot(7, 3, 9, 1, b"{\"a\":1}").unwrap();
        let d = decode_snapshot(&snap, 7).unwrap();
        assert_eq!(
            (d.version, d.generation, d.commit, d.seal, d.payload),
            (2, 3, 9, 1, &b"{\"a\":1}"[..])
        );
        let v1 = encode_snapshot_v1(7, 3, b"{}").unwrap();
        let d = decode_snapshot(&v1, 7).unwrap();
        assert_eq!((d.version, d.commit, d.payload), (1, 0, &b"{}"[..]));
        assert!(matches!(
            decode_snapshot(&snap, 8),
            Err(StoreError::SchemaMismatch {
                found: 7,
                expected: 8,
                ..
            })
        ));
        let mut v3 = snap.clone();
        v3[8] = 3;
        assert!(matches!(
            decode_snapshot(&v3, 7),
            Err(StoreError::UnsupportedVersion {
                found: 3,
                supported: 2,
                ..
            })
        ));
        let mut magic = snap.clone();
        magic[0] ^= 1;
        assert!(matches!(
            decode_snapshot(&magic, 7),
            Err(StoreError::BadMagic { .. })
        ));
        // Every single-byte flip after the magic/version/schema is caught.
        for i in 16..snap.len() {
            let mut c = snap.clone();
            c[i] ^= 0x40;
            assert!(
                matches!(decode_snapshot(&c, 7), Err(StoreError::Corrupt { .. })),
                "byte {i}"
            );
        }
        for n in 0..snap.len() {
            assert!(decode_snapshot(&snap[..n], 7).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn journal_torn_tail_versus_middle_corruption() {
        let mut j = encode_journal_header(1, 5);
        let r1 = encode_record(5, 1, b"one").unwrap();
        let r2 = encode_record(5, 2, b"two").unwrap();
        j.extend_from_slice(&r1);
        j.extend_from_slice(&r2);
        let scan = scan_journal(&j, 1).unwrap();
        assert_eq!(scan.records, vec![&b"one"[..], &b"two"[..]]);
        assert!(!scan.torn);
        // Every strict prefix of the second record is a torn tail keeping the first one.
        for cut in 1..r2.len() {
            let s = scan_journal(&j[..j.len() - cut], 1).unwrap();
            assert_eq!(s.records, vec![&b"one"[..]]);
            assert!(s.torn);
            assert_eq!(s.valid_len, JOURNAL_HEADER_LEN + r1.len());
        }
        // A flipped byte in the first record, followed by a valid one: corruption.
        let mut bad = j.clone();
        bad[JOURNAL_HEADER_LEN + 14] ^= 1;
        assert!(matches!(
            scan_journal(&bad, 1),
            Err(StoreError::Corrupt { .. })
        ));
        // A record of another generation is not accepted.
        let mut other = encode_journal_header(1, 6);
        other.extend_from_slice(&r1);
        let s = scan_journal(&other, 1).unwrap();
        assert!(s.records.is_empty() && s.torn);
    }
}
