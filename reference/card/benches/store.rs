//! Commit latency of the store on the real file system (a temporary directory).
//!
//! - `counter_update`: one small mutation (a PIN error counter) on a card holding 50 keys:
//!   one journal append and one fsync (plus, amortized, the occasional compaction).
//! - `replace_50_keys`: a whole 50-key state committed as one record.
//! - `compact_50_keys`: a snapshot rewrite (temp file, fsync, rename, directory fsync, twice).
//!
//! Figures depend on the disk's fsync cost; nothing here is asserted anywhere.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use airtight_card::store::{RealFs, Store, StoreOptions, StoreState};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Key {
    alias: String,
    #[serde(with = "airtight_card::store::b64")]
    public_key: Vec<u8>,
    #[serde(with = "airtight_card::store::b64")]
    private_key: Vec<u8>,
    #[serde(with = "airtight_card::store::b64")]
    certificate: Vec<u8>,
    pin_errors: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Card {
    keys: BTreeMap<u16, Key>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Mutation {
    PinErrors(u16, u32),
}

impl StoreState for Card {
    type Mutation = Mutation;
    const SCHEMA: u32 = 1;
    fn apply(&mut self, m: &Mutation) {
        let Mutation::PinErrors(id, n) = m;
        if let Some(k) = self.keys.get_mut(id) {
            k.pin_errors = *n;
        }
    }
}

fn fifty_keys() -> Card {
    let keys = (0..50u16)
        .map(|i| {
            let key = Key {
                alias: format!("key-{i}"),
                public_key: vec![i as u8; 91],
                private_key: vec![i as u8; 138],
                certificate: vec![i as u8; 600],
                pin_errors: 0,
            };
            (i, key)
        })
        .collect();
    Card { keys }
}

fn store_bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let fs = RealFs::open(tmp.path()).unwrap();
    let mut store = Store::create(fs, fifty_keys(), StoreOptions::default()).unwrap();
    let state = fifty_keys();
    let mut g = c.benchmark_group("store");
    let mut n = 0u32;
    g.bench_function("counter_update", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(store.commit(&[Mutation::PinErrors(7, n % 16)]).unwrap())
        })
    });
    g.bench_function("replace_50_keys", |b| {
        b.iter(|| black_box(store.replace(state.clone()).unwrap()))
    });
    g.bench_function("compact_50_keys", |b| b.iter(|| store.compact().unwrap()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = store_bench
}
criterion_main!(benches);
