//! The issuer engine fed arbitrary middleware messages for one session.
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::sessions::issuer_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::STATEFUL, || airtight_fuzz::sessions::issuer_session(data));
    }
);
