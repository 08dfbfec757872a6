//! The webhook entrypoint: push subscriptions delivered by the gateway to callback URLs.
//!
//! ```text
//! config: API `entrypoints: [{type: webhook}]` + `subscriptions: [{type: push, configuration}]`
//! each push subscription → one owner shard (hash of its id) → runner.rs:
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
pub mod dead_letter;
pub mod deliver;
pub mod http;
pub mod join;
pub mod metrics;
pub mod outcome;
pub mod pool;
pub mod retry;
pub mod runner;
pub mod signature;
pub mod ssrf;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::config::push_model::{DeadLetterTarget, PushTls};
use crate::config::{Config, MqttTlsOptions, SubscriptionConfig};
use crate::endpoint::{Endpoint, LocalTopics};
use crate::runtime::shard::Shard;
use crate::runtime::supervisor::spawn_shard_task;
use crate::runtime::LogThrottle;
use metrics::WebhookMetrics;
use outcome::{NoSink, OutcomeSink, SinkContext};

/// At most one failure line per subscription per this long (every failure is counted).
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What every shard shares about webhooks.
pub struct WebhookNode {
    pub metrics: Arc<WebhookMetrics>,
    pub shards: usize,
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

/// One shard's push subscriptions, before they start.
pub struct ShardWebhooks {
    pub owned: Vec<SubscriptionConfig>,
    pub node: Arc<WebhookNode>,
}

impl ShardWebhooks {
    /// The push subscriptions of `config` that shard `shard` owns.
    pub fn new(config: &Config, shard: usize, node: Arc<WebhookNode>) -> ShardWebhooks {
        let owned = config
            .subscriptions
            .iter()
            .filter(|s| s.push.is_some() && node.owner(&s.id) == shard)
            .cloned()
            .collect();
        ShardWebhooks { owned, node }
    }
}

/// The sink told each message's outcome: the at-least-once broker sources (Kafka group
/// offsets, MQTT PUBACK) plug in here; in-memory and Mock sources acknowledge through the
/// queue's `mark_delivered` alone.
pub fn outcome_sink(endpoint: &Endpoint, context: &SinkContext) -> Rc<dyn OutcomeSink> {
    let _ = (endpoint, context);
    Rc::new(NoSink)
}

/// Starts the delivery task of every push subscription this shard owns whose API runs here
/// with a webhook entrypoint, and the pool's idle sweep.
pub fn start(shard: &Rc<Shard>) {
    let webhooks = &shard.webhooks;
    if webhooks.owned.is_empty() {
        return;
    }
    let mut idle_timeout = Duration::from_secs(60);
    let mut max_idle = crate::config::webhook::MAX_IDLE_CONNECTIONS_PER_HOST;
    for subscription in &webhooks.owned {
        let Some(api) = shard
            .router()
            .apis()
            .find(|api| api.id == subscription.api)
            .cloned()
        else {
            continue;
        };
        if let Some(options) = &api.webhook {
            idle_timeout = idle_timeout.min(options.idle_timeout);
            max_idle = max_idle.max(options.max_idle_connections_per_host);
        }
    }
    let metrics = webhooks.node.metrics.clone();
    let pool = Rc::new(pool::Pool::new(max_idle, idle_timeout, metrics.clone()));
    for subscription in &webhooks.owned {
        let Some(push) = subscription.push.as_deref() else {
            continue;
        };
        let Some(api) = shard
            .router()
            .apis()
            .find(|api| api.id == subscription.api)
            .cloned()
        else {
            continue;
        };
        let Some(options) = api.webhook.clone() else {
            continue;
        };
        let Some(counters) = metrics.subscription(&subscription.id).cloned() else {
            continue;
        };
        let tls = if push.callback.https {
            match tls_config(&push.tls) {
                Ok(config) => Some(config),
                Err(error) => {
                    tracing::error!(subscription = %subscription.id, %error, "push subscription cannot start");
                    continue;
                }
            }
        } else {
            None
        };
        let dlq = push
            .dlq
            .as_ref()
            .and_then(|target| dead_letter_sink(target, &shard.topics.borrow(), &api.endpoint));
        let context = SinkContext {
            api: api.id.clone(),
            subscription: subscription.id.clone(),
            shard: shard.id,
        };
        let target = deliver::Target {
            subscription: subscription.id.clone(),
            push: push.clone(),
            options,
            allowed: shard.gateway.webhook.allowed_networks.clone(),
            tls,
            pool: pool.clone(),
            dlq,
            counters,
            metrics: metrics.clone(),
            jitter: retry::Jitter::new(
                shard.id as u64 ^ webhooks.node.owner(&subscription.id) as u64,
            ),
            log: LogThrottle::new(FAILURE_LOG_INTERVAL),
            auth: auth::AuthHeader::new(&push.auth),
        };
        let runner = Rc::new(runner::Runner::new(
            target,
            api.clone(),
            outcome_sink(&api.endpoint, &context),
            shard.security.clone(),
            shard.metrics.clone(),
            shard.gateway.outbound.max_queued_bytes,
            shard.shutdown.clone(),
        ));
        spawn_shard_task("webhook deliveries", runner.run());
    }
    let sweeper = shard.shutdown.clone();
    spawn_shard_task("webhook pool sweep", async move {
        loop {
            monoio::select! {
                _ = sweeper.wait() => return,
                _ = monoio::time::sleep(Duration::from_secs(1)) => pool.sweep(),
            }
        }
    });
}

fn dead_letter_sink(
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
fn tls_config(tls: &PushTls) -> Result<Arc<rustls::ClientConfig>, String> {
    let options = MqttTlsOptions {
        ca_file: tls.ca_file.clone(),
        insecure_skip_verify: tls.trust_all,
        client_identity: tls.client_identity.clone(),
    };
    crate::endpoint::mqtt::tls::client_config(&options)
}
