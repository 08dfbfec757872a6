//! A run's report: the human summary, the JSON document, and rows of the markdown tables.

use serde::Serialize;

use crate::latency::{LatencySummary, SpectrumPoint};
use crate::run::{Counts, Outcome, Workload};
use crate::servers::ServerKind;

/// The JSON report of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub server: Option<ServerKind>,
    pub workload: Workload,
    pub counts: Counts,
    /// First arrivals per second from the end of warm-up to the end of the drain.
    pub delivered_per_s: f64,
    pub measured_s: f64,
    /// Receive − intended send, for messages due in the measured window.
    pub latency: LatencySummary,
    /// How late the harness wrote messages (the floor under `latency`).
    pub send_lag: LatencySummary,
    pub server_usage: Option<Usage>,
    pub errors: Vec<(String, u64)>,
    pub publisher_errors: Vec<String>,
    pub spectrum: Vec<SpectrumPoint>,
}

/// The server's cost over the measured part of the run.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Usage {
    pub pid: u32,
    pub cpu_s: f64,
    /// CPU seconds per million deliveries (one message to one subscriber).
    pub cpu_s_per_million: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
}

impl Report {
    pub fn new(
        label: &str,
        server: Option<ServerKind>,
        workload: &Workload,
        outcome: &Outcome,
    ) -> Report {
        let measured = outcome.counts.delivered_after_warmup;
        Report {
            label: label.to_owned(),
            server,
            workload: workload.clone(),
            counts: outcome.counts.clone(),
            delivered_per_s: if outcome.measured_s > 0.0 {
                measured as f64 / outcome.measured_s
            } else {
                0.0
            },
            measured_s: outcome.measured_s,
            latency: outcome.latency.summary(),
            send_lag: outcome.send_lag.summary(),
            server_usage: outcome.server.map(|s| Usage {
                pid: s.pid,
                cpu_s: s.cpu_s,
                cpu_s_per_million: if measured > 0 {
                    s.cpu_s / (measured as f64 / 1e6)
                } else {
                    f64::NAN
                },
                rss_mib: s.rss_kib as f64 / 1024.0,
                peak_rss_mib: s.hwm_kib as f64 / 1024.0,
            }),
            errors: outcome.errors.clone(),
            publisher_errors: outcome.publisher_errors.clone(),
            spectrum: outcome.latency.spectrum(),
        }
    }

    /// The summary printed at the end of a run.
    pub fn human(&self) -> String {
        let (w, c, l) = (&self.workload, &self.counts, &self.latency);
        let mut text = format!(
            "{label}: {pub_:?} x{p} -> {sub:?} x{n}, {rate} msg/s of {size} B, {warm:?} warm-up + {dur:?}\n\
             published {published} (answered 2xx {ack}, refused {refused}); subscribers ready {ready}\n\
             delivered {delivered} of {expected} expected: lost {lost}, duplicates {dup}, reordered {reo}, foreign {foreign}\n\
             throughput {tput:.0} deliveries/s over {secs:.2} s\n\
             latency (receive - intended send, {count} samples): p50 {p50} p90 {p90} p99 {p99} p99.9 {p999} max {max}\n\
             harness send lag: p50 {lag50} p99 {lag99}\n",
            label = self.label, pub_ = w.publish, p = w.publishers, sub = w.sub, n = w.subscribers,
            rate = w.rate_per_s, size = w.size_bytes, warm = w.warmup, dur = w.duration,
            published = c.published, ack = c.acknowledged, refused = c.refused, ready = c.subscribers_ready,
            delivered = c.delivered, expected = c.deliveries_expected, lost = c.lost, dup = c.duplicates,
            reo = c.reordered, foreign = c.foreign, tput = self.delivered_per_s, secs = self.measured_s,
            count = l.count, p50 = ms(l.p50_us), p90 = ms(l.p90_us), p99 = ms(l.p99_us),
            p999 = ms(l.p999_us), max = ms(l.max_us),
            lag50 = ms(self.send_lag.p50_us), lag99 = ms(self.send_lag.p99_us),
        );
        if let Some(u) = &self.server_usage {
            text.push_str(&format!(
                "server pid {}: {:.2} CPU s ({:.2} per million deliveries), RSS {:.1} MiB (peak {:.1})\n",
                u.pid, u.cpu_s, u.cpu_s_per_million, u.rss_mib, u.peak_rss_mib
            ));
        }
        for (reason, n) in &self.errors {
            text.push_str(&format!("connections ended: {n} x {reason}\n"));
        }
        for error in &self.publisher_errors {
            text.push_str(&format!("publisher: {error}\n"));
        }
        text
    }
}

/// Microseconds as milliseconds with three decimals.
pub fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}
