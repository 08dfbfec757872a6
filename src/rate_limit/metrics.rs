//! The rate limiter's counters, node-wide (every shard and the Redis thread write them; the
//! admin endpoint reads them).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! rate_limit_metrics {
    ($( $(#[doc = $doc:literal])* $kind:ident $name:ident ),* $(,)?) => {
        /// Rate-limit counters (monotonic, `_total`) and gauges.
        #[derive(Debug, Default)]
        pub struct RateLimitMetrics {
            $( $(#[doc = $doc])* pub $name: AtomicU64, )*
        }

        impl RateLimitMetrics {
            /// Prometheus text of every metric, named `tidegate_rate_limit_…`.
            pub fn render_prometheus(&self, local_counters: u64) -> String {
                let mut out = String::new();
                $(
                    let help = concat!($($doc),*);
                    let name = stringify!($name);
                    let _ = writeln!(out, "# HELP tidegate_rate_limit_{name} {}", help.trim());
                    let _ = writeln!(out, "# TYPE tidegate_rate_limit_{name} {}", stringify!($kind));
                    let _ = writeln!(out, "tidegate_rate_limit_{name} {}", self.$name.load(Ordering::Relaxed));
                )*
                let _ = writeln!(out, "# HELP tidegate_rate_limit_local_counters Live counters in this node's map (bounded by gateway.rateLimit.maxCounters).");
                let _ = writeln!(out, "# TYPE tidegate_rate_limit_local_counters gauge");
                let _ = writeln!(out, "tidegate_rate_limit_local_counters {local_counters}");
                out
            }
        }
    };
}

rate_limit_metrics! {
    /// Requests answered 429 because of a plan's `rateLimit`.
    counter requests_refused_total,
    /// Requests answered 429 because of a plan's `quota`.
    counter quota_refused_total,
    /// HTTP POST publishes answered 429 because of `messageRate.publishPerSecond`.
    counter publishes_refused_total,
    /// Times a WebSocket publisher was not read until the next second (`publishPerSecond`).
    counter publishers_paused_total,
    /// Times delivery to a stream waited for the next second (`deliverPerSecond`).
    counter deliveries_paced_total,
    /// Messages not delivered because of `deliverPerSecond` with `overflow: drop`.
    counter deliveries_dropped_total,
    /// Decisions taken by `onUnavailable` because a counter could not be read (Redis down, slow
    /// or saturated, or the local map full).
    counter counter_unavailable_total,
    /// Redis commands that failed (connection lost, timeout, error reply).
    counter redis_errors_total,
    /// Counter requests waiting for Redis (bounded by `repository.maxInFlight`).
    gauge redis_in_flight,
    /// 1 while the Redis connection is up.
    gauge redis_connected,
}

impl RateLimitMetrics {
    /// Adds one.
    pub fn inc(value: &AtomicU64) {
        value.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a value.
    pub fn get(value: &AtomicU64) -> u64 {
        value.load(Ordering::Relaxed)
    }
}
