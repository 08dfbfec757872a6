//! Plan policies: request rate limits, quotas and message rates, counted node-wide (all shards of
//! a process share one counter per subscription and policy) or across gateway processes in
//! Redis (`gateway.rateLimit.repository`).
//!
//! Counting is by fixed windows (aligned to the epoch, or to UTC days and months for quotas):
//! one addition per request, exact under any concurrency, and the same window on every node
//! without coordination. A client may burst up to twice the limit across a window boundary;
//! that is the price of a single counter per window (a sliding log would need one entry per
//! request).
//!
//! ```text
//! limiter.rs         RateLimiter: which store, verdicts, onUnavailable
//! window.rs          the window a moment falls in, and when it ends
//! local_counters.rs  this process's counters (striped map, bounded)
//! redis_counters.rs  Redis counters via a dedicated thread (bounded channel, pipelined)
//! meter.rs           one client's counters as entrypoints use them (admit, publish, pace)
//! pacer.rs          a stream writer's deliverPerSecond pauses
//! gate.rs            the 429 answer and the headers of an admitted request
//! metrics.rs         node-wide counters for /metrics
//! ```

mod gate;
mod limiter;
mod local_counters;
mod meter;
mod metrics;
mod pacer;
mod redis_counters;
mod window;

pub use gate::{count, refuse, subject_for};
pub use limiter::{PolicyKind, RateLimiter, Subject, Verdict};
pub use meter::{Meter, Pace};
pub use metrics::RateLimitMetrics;
pub use pacer::{until, Pacer};
pub use redis_counters::RedisStartError;
