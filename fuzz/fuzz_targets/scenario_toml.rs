//! The simulator's scenario loader (`Scenario::parse`).
#![no_main]

use airtight_fuzz::{Bound, bounded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        airtight_fuzz::seeds::emit(airtight_fuzz::loaders::scenario_seeds());
    },
    |data: &[u8]| {
        bounded(data.len(), Bound::LOADER, || airtight_fuzz::loaders::scenario_toml(data));
    }
);
