//! The `ProvisioningFinalizationResponse` decoder of airtight-proto.
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::seeds::keygen2(Some("ProvisioningFinalizationResponse")));
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::DECODER, || airtight_fuzz::decoders::keygen2::<airtight_proto::messages::ProvisioningFinalizationResponse>(data));
    }
);
