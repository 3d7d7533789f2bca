//! The SKS serialization reader (`airtight_proto::codec::Reader`).
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::seeds::sks_serialization());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::DECODER, || airtight_fuzz::decoders::sks_serialization(data));
    }
);
