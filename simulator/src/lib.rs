//! airtight-sim: the deterministic scenario simulator (issue 13). See `simulator/README.md`.
//!
//! - [`engine`]: the discrete-event loop (virtual clock, event queue, seeded streams);
//! - [`backend`]: the seam to what computes a session ([`backend::Backend`]);
//! - [`model`]: model mode (outcomes predicted by rule);
//! - [`scenario`] and [`models`]: scenario files and the compiled models;
//! - [`dist`]: distributions; [`rng`]: seeded streams;
//! - [`oracle`]: the properties checked after every session;
//! - [`metrics`], [`output`], [`report`]: `metrics.json`, `run.json`, `report.html`;
//! - [`explore`]: swarm testing, shrinking, shards and merging;
//! - [`output::replay`]: re-running a transcript and comparing it line by line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod calibrate;
pub mod dist;
pub mod engine;
// Full mode lives in `simulator/src/full/` (the real engines behind `Backend`); it adds
// `pub mod full;` here and returns its backend from `output::full_backend`.
pub mod explore;
pub mod full;
pub mod metrics;
pub mod model;
pub mod models;
pub mod oracle;
pub mod output;
pub mod report;
pub mod rng;
pub mod scenario;
