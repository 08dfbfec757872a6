//! The webhook entrypoint: push subscriptions delivered by the gateway to callback URLs.
//!
//! ```text
//! config: API `entrypoints: [{type: webhook}]` + `subscriptions: [{type: push, configuration}]`
//! the deployment set's push subscriptions → each on one owner shard (hash of its id), kept in
//! step with every live apply (live.rs: new ones start, removed ones drain, changed ones restart
//! from where they were, unchanged ones are untouched) → runner.rs:
//!   endpoint.subscribe(resume, bounded OutboundQueue)      (falls behind in its cursor when slow)
//!   → up to `ordering.maxConcurrent` deliveries at once (1 for strict, at-least/at-most-once)
//!   → deliver.rs: POST with Standard Webhooks signature (signature.rs), auth (auth.rs),
//!     on a pooled keep-alive connection (pool.rs, client.rs: SSRF guard ssrf.rs, TLS, timeouts)
//!     retries by policy (retry.rs); 4xx/3xx or retries exhausted → DLQ (dead_letter.rs) or stop
//!   → outcomes settled in order (outcome.rs: the seam broker sources acknowledge through)
//! ```
//! Counters per subscription: metrics.rs (`tidegate_webhook_*`).

pub mod auth;
pub mod broker_dead_letters;
pub mod client;
pub mod commit_first;
pub mod dead_letter;
pub mod deliver;
pub mod http;
pub mod join;
pub mod live;
pub mod metrics;
pub mod outcome;
pub mod pool;
pub mod retry;
pub mod runner;
pub mod signature;
pub mod ssrf;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::config::push_model::{DeadLetterTarget, PushTls};
use crate::config::{Config, MqttTlsOptions, SubscriptionConfig};
use crate::endpoint::{Endpoint, LocalTopics};
use metrics::WebhookMetrics;
use outcome::{NoSink, OutcomeSink, SinkContext};

pub use live::{follow, start};

/// At most one failure line per subscription per this long (every failure is counted).
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What every shard shares about webhooks.
pub struct WebhookNode {
    /// Every push subscription's counters and the callback connection counters (served on
    /// /metrics; followed by each live apply).
    pub metrics: Arc<WebhookMetrics>,
    /// How many shards deliver (at least 1): the modulus of [`WebhookNode::owner`].
    shards: usize,
}

impl WebhookNode {
    /// The node's webhook state for `config` over `shards` shards.
    pub fn new(config: &Config, shards: usize) -> Arc<WebhookNode> {
        Arc::new(WebhookNode {
            metrics: WebhookMetrics::new(config),
            shards: shards.max(1),
        })
    }

    /// The shard that delivers `subscription` (FNV-1a of its id: stable across restarts).
    pub fn owner(&self, subscription: &str) -> usize {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in subscription.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % self.shards as u64) as usize
    }
}

/// One shard's push subscriptions: those of the deployment it serves that it owns, and their
/// runners (`live.rs` keeps them in step with the deployment set).
pub struct ShardWebhooks {
    /// The node-wide part: counters and which shard owns which subscription.
    pub node: Arc<WebhookNode>,
    /// The push subscriptions of the deployment this shard serves (all, owned or not).
    desired: RefCell<Vec<SubscriptionConfig>>,
    /// The runner of each subscription this shard delivers, by subscription id.
    running: RefCell<HashMap<String, live::Running>>,
    /// Keep-alive connections to callbacks, made with the first runner.
    pool: RefCell<Option<Rc<pool::Pool>>>,
}

impl ShardWebhooks {
    /// A shard's side of the node's webhooks; no runner yet.
    pub fn new(node: Arc<WebhookNode>) -> ShardWebhooks {
        ShardWebhooks {
            node,
            desired: RefCell::new(Vec::new()),
            running: RefCell::new(HashMap::new()),
            pool: RefCell::new(None),
        }
    }

    /// Push subscriptions this shard runs now (ended runners included until the next apply).
    pub fn running(&self) -> usize {
        self.running.borrow().len()
    }
}

/// The sink told each message's outcome: the at-least-once broker sources (Kafka group
/// offsets, MQTT PUBACK) plug in here; in-memory and Mock sources acknowledge through the
/// queue's `mark_delivered` alone.
pub fn outcome_sink(endpoint: &Endpoint, context: &SinkContext) -> Rc<dyn OutcomeSink> {
    let _ = (endpoint, context);
    Rc::new(NoSink)
}

pub(crate) fn dead_letter_sink(
    target: &DeadLetterTarget,
    topics: &LocalTopics,
    endpoint: &Endpoint,
) -> Option<Rc<dyn dead_letter::DeadLetterSink>> {
    dead_letter::sink(
        target,
        topics,
        endpoint,
        Some(&broker_dead_letters::factory()),
    )
}

/// The rustls settings of an https callback.
pub(crate) fn tls_config(tls: &PushTls) -> Result<Arc<rustls::ClientConfig>, String> {
    let options = MqttTlsOptions {
        ca_file: tls.ca_file.clone(),
        insecure_skip_verify: tls.trust_all,
        client_identity: tls.client_identity.clone(),
    };
    crate::endpoint::mqtt::tls::client_config(&options)
}
