//! The reference card (in memory, test device identity, fixed clock) as a virtual card in
//! pcscd's `Virtual PCD 00 00` reader (vsmartcard's vpcd on 127.0.0.1:35963), until killed.
//! A dropped connection is a power loss: open provisioning sessions are discarded.
//!
//! ```sh
//! cargo run -q -p airtight-bindings --example reference-vpcd -- [seed] [127.0.0.1:35963]
//! ```
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use airtight_bindings::vpcd::{VpcdOptions, serve_vpcd};
use airtight_bindings::{ApduDispatcher, abort_open_sessions};
use airtight_card::ReferenceSks;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let addr: SocketAddr = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 35963)));
    let mut d = ApduDispatcher::new(ReferenceSks::in_memory_for_tests(seed));
    d.set_power_loss_hook(Box::new(|c: &mut ReferenceSks| abort_open_sessions(c)));
    eprintln!("reference-vpcd: serving the reference card to vpcd at {addr}");
    match serve_vpcd(addr, &mut d, &VpcdOptions::default()) {
        Ok(stats) => eprintln!("reference-vpcd: done: {stats:?}"),
        Err(e) => {
            eprintln!("reference-vpcd: {e}");
            std::process::exit(1);
        }
    }
}
