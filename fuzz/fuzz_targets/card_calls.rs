//! The reference card under arbitrary SKS call sequences, with power cuts (SimFs).
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::targets::card_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::STATEFUL, || airtight_fuzz::cardkit::card_calls(data, &airtight_fuzz::sessions::honest().provisioned));
    }
);
