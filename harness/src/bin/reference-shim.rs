//! The reference card (in memory, P-256 test device, fixed clock) served as a JSON-lines shim
//! on stdin/stdout, so the harness can test itself through the shim transport:
//! `airtight-harness-reference-shim [seed]`.
#![forbid(unsafe_code)]

use std::io::{self, BufReader};

use airtight_bindings::shim::{ShimServerOptions, serve_shim};
use airtight_card::ReferenceSks;

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut card = ReferenceSks::in_memory_for_tests(seed);
    let options = ShimServerOptions {
        implementation: "airtight reference SKS (in memory, test device) for the harness".into(),
        ..ShimServerOptions::default()
    };
    if let Err(e) = serve_shim(
        BufReader::new(io::stdin().lock()),
        io::stdout().lock(),
        &mut card,
        &options,
    ) {
        eprintln!("airtight-harness-reference-shim: {e}");
        std::process::exit(1);
    }
}
