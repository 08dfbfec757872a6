//! Per-subscription delivery counters, node-wide (each subscription is delivered by one shard,
//! which alone writes its counters). Labels are the configured subscription and API ids, so the
//! number of series is bounded by the configuration: a live apply adds the series of new push
//! subscriptions and removes those of subscriptions no longer configured (`follow`).

#![allow(
    clippy::disallowed_types,
    reason = "the list of series is replaced by a live apply and read by /metrics, never on a delivery: shards write their counters' atomics"
)]
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::Config;

/// A subscription's state, as the `tidegate_webhook_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum State {
    /// Configured, not delivering yet (its runner has not subscribed to the source so far).
    Starting = 0,
    /// Subscribed to its source and delivering.
    Active = 1,
    /// `status: paused` (or not yet accepted): delivers nothing, keeps its position.
    Paused = 2,
    /// Consumption stopped on a refused or undeliverable message (no DLQ).
    Stopped = 3,
    /// `status: closed` (or rejected): deliveries have ended.
    Closed = 4,
}

/// One subscription's counters.
#[derive(Default)]
pub struct SubscriptionCounters {
    /// The push subscription's id (the `subscription` label).
    pub subscription: String,
    /// The id of the API it delivers (the `api` label).
    pub api: String,
    /// Messages the callback acknowledged (2xx).
    pub delivered: AtomicU64,
    /// Tries after the first.
    pub retried: AtomicU64,
    /// Tries that failed (non-2xx, timeout, connection error).
    pub failed: AtomicU64,
    /// Messages written to the DLQ.
    pub dead_lettered: AtomicU64,
    /// Messages given up without a DLQ where the QoS accepts the loss (`at-most-once`).
    pub dropped: AtomicU64,
    /// At-most-once messages not delivered because the offset commit before the try failed.
    pub commit_failures: AtomicU64,
    /// Messages outside the subscription's `channel`, acknowledged without an attempt.
    pub skipped: AtomicU64,
    /// Messages retained by the source after the last one acknowledged (in-memory topics).
    pub lag: AtomicU64,
    /// Deliveries running now.
    pub in_flight: AtomicU64,
    /// The [`State`] as a number (`tidegate_webhook_state`); read it with
    /// [`SubscriptionCounters::state`].
    pub state: AtomicU64,
}

impl SubscriptionCounters {
    /// The current [`State`] as its gauge value (compare with `State::X as u64`).
    pub fn state(&self) -> u64 {
        self.state.load(Ordering::Relaxed)
    }

    /// Records `state` (written by the owner shard's runner only).
    pub fn set_state(&self, state: State) {
        self.state.store(state as u64, Ordering::Relaxed);
    }

    /// Adds `n` to `counter`, one of these counters or the node's (relaxed: counters are
    /// only read by scrapes and tests).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A per-subscription family: name, type, help, reader.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SubscriptionCounters) -> u64,
);

/// Every push subscription's counters, and the shards' connection counters.
#[derive(Default)]
pub struct WebhookMetrics {
    /// One per configured push subscription (replaced by a live apply: `follow`).
    subscriptions: RwLock<Vec<Arc<SubscriptionCounters>>>,
    /// Idle pooled connections, all shards.
    pub idle_connections: AtomicU64,
    /// Connections opened to callbacks.
    pub connections_opened: AtomicU64,
    /// Pooled connections closed after `idleTimeout`.
    pub connections_closed_idle: AtomicU64,
    /// Connections refused by the SSRF guard.
    pub ssrf_refusals: AtomicU64,
}

impl WebhookMetrics {
    /// Counters for every push subscription of `config`.
    pub fn new(config: &Config) -> Arc<WebhookMetrics> {
        let metrics = WebhookMetrics::default();
        metrics.follow(config);
        Arc::new(metrics)
    }

    /// Counters for the push subscriptions of `config`: the existing ones kept (same id and
    /// API), new ones at zero, those of subscriptions `config` no longer has dropped (a runner
    /// still draining keeps its own handle until it ends).
    pub fn follow(&self, config: &Config) {
        let mut subscriptions = self
            .subscriptions
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let next = config
            .subscriptions
            .iter()
            .filter(|s| s.push.is_some())
            .map(|s| {
                let kept = subscriptions
                    .iter()
                    .find(|c| c.subscription == s.id && c.api == s.api);
                kept.cloned().unwrap_or_else(|| {
                    Arc::new(SubscriptionCounters {
                        subscription: s.id.clone(),
                        api: s.api.clone(),
                        ..Default::default()
                    })
                })
            })
            .collect();
        *subscriptions = next;
    }

    /// The counters of `subscription`.
    pub fn subscription(&self, subscription: &str) -> Option<Arc<SubscriptionCounters>> {
        self.all()
            .into_iter()
            .find(|c| c.subscription == subscription)
    }

    /// Every configured push subscription's counters.
    pub fn all(&self) -> Vec<Arc<SubscriptionCounters>> {
        self.subscriptions
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Prometheus text.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let subscriptions = self.all();
        let families: [Family; 10] = [
            ("webhook_delivered_total", "counter", "Messages the callback acknowledged with a 2xx.", |c| c.delivered.load(Ordering::Relaxed)),
            ("webhook_retried_total", "counter", "Delivery tries after the first.", |c| c.retried.load(Ordering::Relaxed)),
            ("webhook_failed_total", "counter", "Delivery tries that failed (non-2xx, timeout, connection error, refused address).", |c| c.failed.load(Ordering::Relaxed)),
            ("webhook_dead_lettered_total", "counter", "Messages written to the subscription's DLQ.", |c| c.dead_lettered.load(Ordering::Relaxed)),
            ("webhook_dropped_total", "counter", "Messages given up without a DLQ under qos at-most-once (never retried, never delivered again).", |c| c.dropped.load(Ordering::Relaxed)),
            ("webhook_commit_failures_total", "counter", "Messages not delivered under qos at-most-once because the Kafka offset commit before the attempt failed.", |c| c.commit_failures.load(Ordering::Relaxed)),
            ("webhook_skipped_total", "counter", "Messages outside the subscription's channel, acknowledged without an attempt.", |c| c.skipped.load(Ordering::Relaxed)),
            ("webhook_lag_messages", "gauge", "Messages retained after the last acknowledged one (in-memory sources).", |c| c.lag.load(Ordering::Relaxed)),
            ("webhook_in_flight", "gauge", "Deliveries running now.", |c| c.in_flight.load(Ordering::Relaxed)),
            ("webhook_state", "gauge", "0 starting, 1 active, 2 paused, 3 stopped (undeliverable message, no DLQ), 4 closed.", SubscriptionCounters::state),
        ];
        for (name, kind, help, read) in families {
            let _ = writeln!(
                out,
                "# HELP tidegate_{name} {help}\n# TYPE tidegate_{name} {kind}"
            );
            for c in &subscriptions {
                let _ = writeln!(
                    out,
                    "tidegate_{name}{{api=\"{}\",subscription=\"{}\"}} {}",
                    c.api,
                    c.subscription,
                    read(c)
                );
            }
        }
        let node = [
            (
                "webhook_idle_connections",
                "gauge",
                "Idle keep-alive connections to callbacks.",
                &self.idle_connections,
            ),
            (
                "webhook_connections_opened_total",
                "counter",
                "Connections opened to callbacks.",
                &self.connections_opened,
            ),
            (
                "webhook_connections_closed_idle_total",
                "counter",
                "Pooled connections closed after idleTimeout.",
                &self.connections_closed_idle,
            ),
            (
                "webhook_ssrf_refusals_total",
                "counter",
                "Callback addresses refused by the SSRF guard.",
                &self.ssrf_refusals,
            ),
        ];
        for (name, kind, help, value) in node {
            let _ = writeln!(
                out,
                "# HELP tidegate_{name} {help}\n# TYPE tidegate_{name} {kind}\ntidegate_{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}
