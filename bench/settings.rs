//! Shared criterion settings: short runs so the whole suite fits in about two minutes on the
//! shared 2-core VM. The numbers are for spotting regressions, not for publishing.

use std::time::Duration;

use criterion::Criterion;

/// 500 ms warm-up, 2 s measurement, 20 samples per benchmark.
pub fn short_runs() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}
