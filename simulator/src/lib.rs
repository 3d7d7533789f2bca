//! airtight-sim: the deterministic scenario simulator (issue 13). See `simulator/README.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod rng;
