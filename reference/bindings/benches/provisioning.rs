//! One full provisioning session (E2ES: PUK, PIN, a P-256 and an RSA-1024 key, certificates,
//! close, a signature) of the reference card, in-process and through each binding: the APDU
//! loop (extended and short APDUs), the shim over pipes, and (with `--features pcsc` and
//! `AIRTIGHT_PCSC=1`, under `scripts/pcsc-stack.sh`) real pcscd + vpcd. Before measuring, it
//! prints the APDUs and bytes of one session and, through PC/SC, the median and p99 latency
//! per SKS call.
//!
//! ```sh
//! cargo bench -p airtight-bindings --bench provisioning
//! bash scripts/pcsc-stack.sh cargo bench -p airtight-bindings --features pcsc --bench provisioning
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::BufReader;
use std::thread;
use std::time::Duration;

use airtight_bindings::shim::{ShimOptions, ShimServerOptions, ShimSks, serve_shim};
use airtight_bindings::{ApduLimits, ApduSks, LoopbackTransport};
use airtight_card::ReferenceSks;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const SEED: u64 = 0x5eed;

fn card() -> ReferenceSks {
    airtight_testkit::card(SEED)
}

fn loopback(limits: ApduLimits) -> ApduSks<LoopbackTransport<ReferenceSks>> {
    let mut t = LoopbackTransport::new(card());
    t.limits = limits;
    ApduSks::new(t)
}

fn report(name: &str, m: &airtight_bindings::LinkMetrics) {
    let (med, p99) = m.latency_median_p99().unwrap_or_default();
    eprintln!(
        "{name}: {} SKS calls, {} APDUs ({} chained, {} GET RESPONSE), {} bytes to card, {} bytes from card; per call median {med:?} p99 {p99:?}",
        m.calls, m.apdus, m.chained, m.get_responses, m.bytes_to_card, m.bytes_from_card
    );
}

fn shim() -> ShimSks {
    let (req_r, req_w) = std::io::pipe().unwrap();
    let (resp_r, resp_w) = std::io::pipe().unwrap();
    thread::spawn(move || {
        let mut c = card();
        let _ = serve_shim(
            BufReader::new(req_r),
            resp_w,
            &mut c,
            &ShimServerOptions::default(),
        );
    });
    ShimSks::connect(resp_r, req_w, ShimOptions::default()).unwrap()
}

fn bench(c: &mut Criterion) {
    for (name, limits) in [
        ("apdu-extended", ApduLimits::EXTENDED),
        ("apdu-short", ApduLimits::SHORT),
    ] {
        let mut s = loopback(limits);
        common::provision(&mut s, SEED, false);
        report(name, s.metrics());
    }
    let mut g = c.benchmark_group("provisioning");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("in-process", |b| {
        b.iter_batched(
            card,
            |mut s| common::provision(&mut s, SEED, false),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("apdu-loop-extended", |b| {
        b.iter_batched(
            || loopback(ApduLimits::EXTENDED),
            |mut s| common::provision(&mut s, SEED, false),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("apdu-loop-short", |b| {
        b.iter_batched(
            || loopback(ApduLimits::SHORT),
            |mut s| common::provision(&mut s, SEED, false),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("shim-pipes", |b| {
        b.iter_batched(
            shim,
            |mut s| common::provision(&mut s, SEED, false),
            BatchSize::PerIteration,
        )
    });
    #[cfg(feature = "pcsc")]
    pcsc::bench(&mut g);
    g.finish();
}

#[cfg(feature = "pcsc")]
mod pcsc {
    use super::*;
    use airtight_bindings::ApduDispatcher;
    use airtight_bindings::pcsc::{PcscTransport, ReaderSelector};
    use airtight_bindings::vpcd::{VPCD_PORT, VpcdOptions, serve_vpcd};
    use criterion::BenchmarkGroup;
    use criterion::measurement::WallTime;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::atomic::Ordering;

    /// One card in `Virtual PCD 00 00`, one session per iteration (fresh issuer seeds).
    pub fn bench(g: &mut BenchmarkGroup<'_, WallTime>) {
        if std::env::var("AIRTIGHT_PCSC").as_deref() != Ok("1") {
            eprintln!("pcsc: skipped (set AIRTIGHT_PCSC=1 with pcscd running)");
            return;
        }
        let options = VpcdOptions::default();
        let stop = options.stop.clone();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, VPCD_PORT));
        let handle = thread::spawn(move || {
            let mut d = ApduDispatcher::new(card());
            serve_vpcd(addr, &mut d, &options).unwrap();
        });
        let transport = PcscTransport::connect_within(
            &ReaderSelector::Name("Virtual PCD 00 00".into()),
            Duration::from_secs(10),
        )
        .unwrap();
        let mut sks = ApduSks::new(transport);
        sks.select().unwrap();
        // One session for the figures; later sessions on the same card are new sessions too.
        sks.reset_metrics();
        let mut round = 0u64;
        common::provision(&mut sks, SEED, false);
        report("pcsc (pcscd + vpcd)", sks.metrics());
        g.bench_function("pcsc-vpcd", |b| {
            b.iter(|| {
                // A fresh issuer seed per session; the card keeps its keys (a growing store).
                round += 1;
                common::provision(&mut sks, SEED + round, false)
            })
        });
        drop(sks);
        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
