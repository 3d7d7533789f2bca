//! The shim's line decoder and request handler (`shim::serve_shim`).
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::targets::shim_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::DECODER, || airtight_fuzz::protocols::shim_line(data));
    }
);
