//! Shared parts of airtight's fuzz targets: the counting allocator and its per-input bound,
//! input splitting, seed corpora, and the oracles the targets share.
//!
//! Every target fails (panics, which libFuzzer reports as a crash) on a panic of the code under
//! test, on a broken oracle, and on an input whose peak live heap exceeds its bound
//! ([`Bound`]).

pub mod alloc;
#[cfg(feature = "full")]
pub mod cardkit;
pub mod decoders;
#[cfg(feature = "full")]
pub mod loaders;
pub mod native;
pub mod protocols;
pub mod seeds;
#[cfg(feature = "full")]
pub mod sessions;
pub mod targets;

pub use alloc::{Bound, bounded};

/// Splits `data` into length-prefixed records: a big-endian `u16` length, then that many bytes
/// (a short last record takes what is left). At most `max` records.
pub fn records(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && out.len() < max {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let n = n.min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// The inverse of [`records`] (for seeds).
pub fn join_records<B: AsRef<[u8]>>(parts: &[B]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let p = p.as_ref();
        let n = u16::try_from(p.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&p[..usize::from(n)]);
    }
    out
}

/// Panics with a message naming the broken oracle (libFuzzer records the input as a crash).
#[macro_export]
macro_rules! oracle {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            panic!("oracle violated: {}", format!($($arg)+));
        }
    };
}
