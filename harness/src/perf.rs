//! Latency statistics: percentiles with distribution-free (order-statistic) 95% confidence
//! intervals, per SKS method and per whole session.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::wire::WireEntry;

/// A percentile estimate with its 95% confidence interval (order statistics of the sorted
/// sample: the ranks that bracket the quantile with binomial probability about 0.95).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantile {
    /// The estimate (microseconds).
    pub value: f64,
    /// Lower bound of the 95% interval.
    pub lo: f64,
    /// Upper bound of the 95% interval.
    pub hi: f64,
}

/// Summary statistics of a latency sample (microseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Sample size.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Median.
    pub p50: Quantile,
    /// 95th percentile.
    pub p95: Quantile,
    /// 99th percentile.
    pub p99: Quantile,
    /// Up to 200 samples in collection order (for the charts).
    pub samples: Vec<f64>,
}

/// The quantile `q` of a sorted, non-empty sample with its order-statistic interval.
pub fn quantile(sorted: &[f64], q: f64) -> Quantile {
    let n = sorted.len();
    if n == 0 {
        return Quantile {
            value: 0.0,
            lo: 0.0,
            hi: 0.0,
        };
    }
    let nf = n as f64;
    let idx = |r: f64| -> usize { (r.max(0.0) as usize).min(n - 1) };
    // Nearest-rank estimate.
    let value = sorted[idx((q * nf).ceil() - 1.0)];
    // Normal approximation of Binomial(n, q) for the bracketing ranks.
    let sd = (nf * q * (1.0 - q)).sqrt();
    let lo = sorted[idx((nf * q - 1.96 * sd).floor() - 1.0)];
    let hi = sorted[idx((nf * q + 1.96 * sd).ceil())];
    Quantile { value, lo, hi }
}

impl LatencyStats {
    /// Statistics of a sample; `None` if empty.
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        Some(Self {
            n,
            mean: sorted.iter().sum::<f64>() / n as f64,
            min: sorted[0],
            max: sorted[n - 1],
            p50: quantile(&sorted, 0.50),
            p95: quantile(&sorted, 0.95),
            p99: quantile(&sorted, 0.99),
            samples: samples.iter().take(200).copied().collect(),
        })
    }
}

/// Per-method statistics of a wire log (successful calls only).
pub fn per_method(log: &[WireEntry]) -> BTreeMap<String, LatencyStats> {
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for e in log.iter().filter(|e| e.result == "ok") {
        by.entry(e.method.to_owned())
            .or_default()
            .push(e.micros as f64);
    }
    by.into_iter()
        .filter_map(|(m, s)| LatencyStats::of(&s).map(|st| (m, st)))
        .collect()
}

/// The performance section of a card report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Performance {
    /// Honest provisioning sessions run.
    pub sessions: usize,
    /// Sessions that failed.
    pub errors: usize,
    /// Per SKS method (successful calls).
    pub methods: BTreeMap<String, LatencyStats>,
    /// Whole-session latency (create session to close, plus one signature).
    pub session: Option<LatencyStats>,
    /// The transport's own round trip, calibrated with `getDeviceInfo`.
    pub calibration: Option<LatencyStats>,
    /// Total SKS calls made.
    pub calls: usize,
    /// APDU traffic per honest session, for APDU transports.
    pub link: Option<LinkPerSession>,
}

/// APDU traffic per honest session (means over the sessions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkPerSession {
    /// Command APDUs.
    pub apdus: f64,
    /// Bytes of command APDUs.
    pub bytes_to_card: f64,
    /// Bytes of response APDUs.
    pub bytes_from_card: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_sample() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        let st = LatencyStats::of(&s).expect("non-empty");
        assert_eq!(st.p50.value, 50.0);
        assert_eq!(st.p95.value, 95.0);
        assert_eq!(st.p99.value, 99.0);
        assert!(st.p50.lo < 50.0 && st.p50.hi > 50.0);
        assert!(st.p50.lo >= 39.0 && st.p50.hi <= 62.0, "{:?}", st.p50);
        assert_eq!(st.min, 1.0);
        assert_eq!(st.max, 100.0);
        assert!((st.mean - 50.5).abs() < 1e-9);
        let one = LatencyStats::of(&[7.0]).expect("one");
        assert_eq!((one.p99.lo, one.p99.value, one.p99.hi), (7.0, 7.0, 7.0));
        assert!(LatencyStats::of(&[]).is_none());
    }
}
