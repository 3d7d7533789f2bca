//! X.509 device-path validation (`airtight_pki::verify_path`).
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::protocols::x509_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::DECODER, || airtight_fuzz::protocols::x509_path(data));
    }
);
