//! Latency recording: an HdrHistogram of microseconds (3 significant digits, up to an hour).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest recordable latency; larger values are clamped to it (and still counted).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Latencies of one thread or of a whole run (threads' histograms are merged).
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
}

/// The percentiles a report shows, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// One point of the percentile spectrum: `percentile` in 0..=100, `latency_us` at it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SpectrumPoint {
    pub percentile: f64,
    pub latency_us: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        // The bounds are constants that HdrHistogram accepts (1 ≤ low, high ≥ 2·low, sigfig ≤ 5).
        let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .expect("constant histogram bounds are valid");
        Latency { histogram }
    }

    /// Records one latency; 0 counts as 1 µs (the histogram's floor), beyond an hour as an hour.
    pub fn record_us(&mut self, latency_us: u64) {
        self.histogram
            .saturating_record(latency_us.clamp(1, MAX_LATENCY_US));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn summary(&self) -> LatencySummary {
        let h = &self.histogram;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }

    /// The percentile spectrum for plotting: dense near the tail, as HdrHistogram plots are.
    pub fn spectrum(&self) -> Vec<SpectrumPoint> {
        if self.histogram.is_empty() {
            return Vec::new();
        }
        self.histogram
            .iter_quantiles(4)
            .map(|step| SpectrumPoint {
                percentile: step.quantile_iterated_to() * 100.0,
                latency_us: self.histogram.highest_equivalent(step.value_iterated_to()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within HdrHistogram's resolution of 3 significant digits.
    fn close(actual: u64, expected: u64) -> bool {
        actual.abs_diff(expected) <= expected / 1000 + 1
    }

    #[test]
    fn percentiles_of_a_uniform_sequence() {
        let mut latency = Latency::new();
        for us in 1..=10_000 {
            latency.record_us(us);
        }
        let s = latency.summary();
        assert_eq!(s.count, 10_000);
        assert_eq!(s.min_us, 1);
        assert!(close(s.p50_us, 5_000), "{s:?}");
        assert!(close(s.p90_us, 9_000), "{s:?}");
        assert!(close(s.p99_us, 9_900), "{s:?}");
        assert!(close(s.p999_us, 9_990), "{s:?}");
        assert!(close(s.max_us, 10_000), "{s:?}");
        assert!((s.mean_us - 5_000.5).abs() < 5.0, "{s:?}");
    }

    #[test]
    fn merging_equals_recording_together() {
        let (mut a, mut b, mut both) = (Latency::new(), Latency::new(), Latency::new());
        for us in 1..=500 {
            a.record_us(us);
            both.record_us(us);
        }
        for us in 10_000..=10_499 {
            b.record_us(us);
            both.record_us(us);
        }
        a.merge(&b);
        assert_eq!(a.summary(), both.summary());
        assert!(close(a.summary().p50_us, 500));
    }

    #[test]
    fn a_single_outlier_shows_only_in_the_tail() {
        let mut latency = Latency::new();
        for _ in 0..999 {
            latency.record_us(100);
        }
        latency.record_us(1_000_000);
        let s = latency.summary();
        assert!(close(s.p99_us, 100));
        assert!(close(s.max_us, 1_000_000));
        assert!(
            close(s.p999_us, 100),
            "the 1000th value is the max, above p99.9"
        );
    }

    #[test]
    fn zero_and_huge_values_are_clamped_not_lost() {
        let mut latency = Latency::new();
        latency.record_us(0);
        latency.record_us(u64::MAX);
        assert_eq!(latency.count(), 2);
        assert_eq!(latency.summary().min_us, 1);
    }

    #[test]
    fn spectrum_is_monotonic_and_ends_at_the_max() {
        let mut latency = Latency::new();
        for us in 1..=1000 {
            latency.record_us(us * 7);
        }
        let points = latency.spectrum();
        assert!(points.len() > 10);
        assert!(points
            .windows(2)
            .all(|w| w[0].latency_us <= w[1].latency_us && w[0].percentile <= w[1].percentile));
        let last = points.last().unwrap();
        assert!(close(last.latency_us, 7000));
        assert!((last.percentile - 100.0).abs() < 1e-9);
    }
}
