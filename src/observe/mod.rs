//! Observability of client traffic: the access log (one line per request, and per stream when
//! it ends) and per-API metrics.
//!
//! - `exchange`: one request's running record, shared by the connection, the entrypoint and
//!   the stream halves (shard-local cells);
//! - `request_record`: the guard the connection holds per request; when it drops (the answer is
//!   written, the stream ended, the connection closed) it counts the request in the per-API
//!   metrics and hands its line to the access log;
//! - `access_line`: the line's fields and its JSON / text rendering;
//! - `log_writer`: the bounded queue and the thread that writes lines (never blocks a shard);
//! - `api_metrics`: per-shard, per-API series, summed at scrape time.

pub mod access_line;
pub mod api_metrics;
pub mod exchange;
pub mod log_writer;
pub mod request_record;

use std::cell::Cell;
use std::sync::Arc;

use crate::config::{AccessLogConfig, AccessLogFormat};
use api_metrics::ApiMetrics;
use log_writer::AccessLogSink;

/// A shard's side of observability.
pub struct ShardObserver {
    /// This shard's per-API series.
    pub api_metrics: Arc<ApiMetrics>,
    /// The access log, when enabled.
    pub access_log: Option<ShardAccessLog>,
}

/// A shard's handle to the access log, with its sampler.
pub struct ShardAccessLog {
    sink: AccessLogSink,
    format: AccessLogFormat,
    sample_per_million: u32,
    /// Sampling credit in millionths: each successful request adds the rate, a line is written
    /// whenever a whole one is there. Deterministic: exactly `rate` of the successes, evenly
    /// spread, with no random number per request.
    credit: Cell<u32>,
}

impl ShardAccessLog {
    /// The shard's handle on `sink` with `config`'s format and sampling.
    pub fn new(sink: AccessLogSink, config: &AccessLogConfig) -> ShardAccessLog {
        ShardAccessLog {
            sink,
            format: config.format,
            sample_per_million: config.sample_per_million,
            credit: Cell::new(0),
        }
    }

    /// Whether a request answered with `status` is logged: errors (≥ 400) always, the others
    /// by the sampling rate.
    pub fn samples(&self, status: u16) -> bool {
        if status >= 400 || self.sample_per_million >= 1_000_000 {
            return true;
        }
        let credit = self.credit.get() + self.sample_per_million;
        if credit >= 1_000_000 {
            self.credit.set(credit - 1_000_000);
            true
        } else {
            self.credit.set(credit);
            false
        }
    }

    /// The format lines are rendered in.
    pub fn format(&self) -> AccessLogFormat {
        self.format
    }

    /// Queues a rendered line (dropped and counted when the writer is behind).
    pub fn send(&self, line: String) {
        self.sink.send(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_the_rate_and_every_error() {
        let (sink, _writer) = log_writer::start(Some("/dev/null".into()), 16).unwrap();
        let config = AccessLogConfig {
            sample_per_million: 250_000,
            ..AccessLogConfig::default()
        };
        let log = ShardAccessLog::new(sink, &config);
        let kept = (0..1000).filter(|_| log.samples(200)).count();
        assert_eq!(kept, 250);
        assert!((0..100).all(|_| log.samples(404) && log.samples(503)));
        let none = ShardAccessLog::new(
            log.sink.clone(),
            &AccessLogConfig {
                sample_per_million: 0,
                ..config
            },
        );
        assert!((0..100).all(|_| !none.samples(200)));
    }
}
