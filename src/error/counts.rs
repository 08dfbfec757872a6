//! `tidegate_errors_total{fault, kind}`: each shard's count of every kind of data-path error. The
//! label set is bounded by [`Kind::ALL`]; the shard is the only writer of its counts.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Kind;
use crate::metrics::ShardMetrics;

/// One shard's error counts, one per kind.
#[derive(Debug)]
pub struct ErrorCounts([AtomicU64; Kind::ALL.len()]);

impl Default for ErrorCounts {
    fn default() -> Self {
        ErrorCounts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl ErrorCounts {
    /// Counts one occurrence of `kind`.
    pub fn inc(&self, kind: Kind) {
        self.0[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// How many times `kind` happened on this shard.
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind.index()].load(Ordering::Relaxed)
    }
}

/// Appends `tidegate_errors_total`, one series per shard and kind, to `out`.
pub fn render_prometheus(shards: &[Arc<ShardMetrics>], out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP tidegate_errors_total Data-path errors answered or ending a stream, by whose fault they are and their kind (docs/errors.md)."
    );
    let _ = writeln!(out, "# TYPE tidegate_errors_total counter");
    for kind in Kind::ALL {
        let answer = kind.answer();
        for (shard, metrics) in shards.iter().enumerate() {
            let _ = writeln!(
                out,
                "tidegate_errors_total{{shard=\"{shard}\",fault=\"{}\",kind=\"{}\"}} {}",
                answer.fault.label(),
                answer.label,
                metrics.errors.get(kind)
            );
        }
    }
}
