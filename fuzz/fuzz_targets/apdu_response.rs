//! Response APDU decoding: status words, SKS error text, SELECT data.
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::targets::apdu_response_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::DECODER, || airtight_fuzz::decoders::apdu_response(data));
    }
);
