//! The middleware engine (on a reference card) fed arbitrary issuer messages.
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::sessions::middleware_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::STATEFUL, || airtight_fuzz::sessions::middleware_session(data));
    }
);
