//! SKS call and result payloads of every method (APDU data and shim JSON).
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::targets::sks_payload_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::DECODER, || airtight_fuzz::decoders::sks_payload(data));
    }
);
