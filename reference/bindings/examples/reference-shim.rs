//! The reference card (in memory, test device identity, fixed clock) served as a shim on
//! stdin/stdout (`spec/shim.md`):
//!
//! ```sh
//! cargo run -q -p airtight-bindings --example reference-shim -- [seed]
//! ```
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
        implementation: "airtight reference SKS (in memory, test device)".into(),
        ..ShimServerOptions::default()
    };
    if let Err(e) = serve_shim(
        BufReader::new(io::stdin().lock()),
        io::stdout().lock(),
        &mut card,
        &options,
    ) {
        eprintln!("reference-shim: {e}");
        std::process::exit(1);
    }
}
