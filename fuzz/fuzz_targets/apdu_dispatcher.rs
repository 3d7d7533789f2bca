//! The card side of the APDU binding: SELECT, chaining assembly, GET RESPONSE, dispatch.
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::targets::apdu_dispatcher_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::DECODER, || airtight_fuzz::protocols::apdu_dispatcher(data));
    }
);
