//! Push subscriptions follow the deployment set: every version a shard applies (`shard_apply`)
//! carries the node's push subscriptions, and the shard makes its runners match the ones it owns
//! whose API it routes with a webhook entrypoint:
//!
//! - a new subscription gets a runner;
//! - an unchanged one (same subscription settings, same webhook options, same endpoint) keeps
//!   its runner untouched: no second runner, no restart, its position kept. Its status (paused,
//!   closed) is followed by the runner itself;
//! - a changed one gets a new runner that starts once the old one has drained (the try in
//!   progress finishes, nothing more is taken), from the old one's resume position when the
//!   endpoint is the same;
//! - a removed one (or one whose API is gone, stopped or lost its webhook entrypoint) is drained
//!   and ends;
//! - one that ended (closed, or stopped on an undeliverable message) is started again: it ends
//!   at once while it stays closed, and retries the message it stopped on.

use std::rc::Rc;
use std::time::Duration;

use super::metrics::WebhookMetrics;
use super::outcome::SinkContext;
use super::runner::Runner;
use super::FAILURE_LOG_INTERVAL;
use super::{auth, dead_letter_sink, deliver, outcome_sink, pool, retry, tls_config};
use crate::config::webhook::{WebhookOptions, IDLE_TIMEOUT_MS, MAX_IDLE_CONNECTIONS_PER_HOST};
use crate::config::{EndpointConfig, SubscriptionConfig, SubscriptionStatus};
use crate::deployed::Api;
use crate::shard::supervisor::spawn_shard_task;
use crate::shard::LogThrottle;
use crate::shard::Shard;

/// How often idle pooled connections are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A subscription's runner and what it was built from.
pub struct Running {
    spec: Spec,
    runner: Rc<Runner>,
}

/// What a runner depends on: a change in any of it restarts the runner.
#[derive(PartialEq)]
struct Spec {
    /// The subscription without what the runner follows itself (status, validity window) and
    /// what deliveries do not use (API keys).
    subscription: SubscriptionConfig,
    options: WebhookOptions,
    endpoint: EndpointConfig,
}

impl Spec {
    fn new(subscription: &SubscriptionConfig, api: &Api) -> Option<Spec> {
        Some(Spec {
            subscription: SubscriptionConfig {
                status: SubscriptionStatus::Accepted,
                starting_at: None,
                ending_at: None,
                api_keys: Vec::new(),
                ..subscription.clone()
            },
            options: api.webhook.clone()?,
            endpoint: api.config.endpoint.clone(),
        })
    }
}

/// At shard start: the runners of the deployment the shard serves.
pub fn start(shard: &Shard) {
    reconcile(shard);
}

/// A deployment version was applied: `push` is its push subscriptions. `live`: the shard is
/// running (at build time `start` starts them).
pub fn follow(shard: &Shard, push: &[SubscriptionConfig], live: bool) {
    *shard.webhooks.desired.borrow_mut() = push.to_vec();
    if live {
        reconcile(shard);
    }
}

/// Makes the shard's runners match its owned, routed push subscriptions.
fn reconcile(shard: &Shard) {
    let webhooks = &shard.webhooks;
    let router = shard.router();
    let desired = webhooks.desired.borrow();
    let owned = desired
        .iter()
        .filter(|s| webhooks.node.owner(&s.id) == shard.id)
        .filter_map(|s| {
            let api = router.apis().find(|api| api.id == s.api)?;
            Some((s, api.clone(), Spec::new(s, api)?))
        })
        .collect::<Vec<_>>();
    if !owned.is_empty() {
        set_pool_limits(shard, owned.iter().map(|(_, api, _)| api));
    }
    let mut running = webhooks.running.borrow_mut();
    let mut next = std::collections::HashMap::new();
    for (subscription, api, spec) in owned {
        let previous = running.remove(&subscription.id);
        let runner = match previous {
            Some(kept) if kept.spec == spec && !kept.runner.has_ended() => {
                next.insert(subscription.id.clone(), kept);
                continue;
            }
            Some(old) => {
                old.runner.retire();
                let same_source = old.spec.endpoint == spec.endpoint
                    && old.spec.subscription.api == spec.subscription.api;
                tracing::info!(subscription = %subscription.id, "push subscription redeployed; its deliveries restart");
                build(shard, subscription, api)
                    .map(|runner| runner.replacing(old.runner.clone(), same_source))
            }
            None => build(shard, subscription, api),
        };
        let Some(runner) = runner else {
            continue;
        };
        let runner = Rc::new(runner);
        spawn_shard_task("webhook deliveries", runner.clone().run());
        next.insert(subscription.id.clone(), Running { spec, runner });
    }
    for (id, gone) in running.drain() {
        if !gone.runner.has_ended() {
            tracing::info!(subscription = %id, "push subscription no longer deployed; its deliveries stop");
        }
        gone.runner.retire();
    }
    *running = next;
}

/// The shard's pool (made with its first runner) bounded by the routed webhook APIs: the
/// shortest idle timeout, the largest idle bound.
fn set_pool_limits<'a>(shard: &Shard, apis: impl Iterator<Item = &'a Rc<Api>>) {
    let mut idle_timeout = Duration::from_millis(IDLE_TIMEOUT_MS);
    let mut max_idle = MAX_IDLE_CONNECTIONS_PER_HOST;
    for options in apis.filter_map(|api| api.webhook.as_ref()) {
        idle_timeout = idle_timeout.min(options.idle_timeout);
        max_idle = max_idle.max(options.max_idle_connections_per_host);
    }
    let mut slot = shard.webhooks.pool.borrow_mut();
    if let Some(pool) = slot.as_ref() {
        pool.set_limits(max_idle, idle_timeout);
        return;
    }
    let metrics: &std::sync::Arc<WebhookMetrics> = &shard.webhooks.node.metrics;
    let pool = Rc::new(pool::Pool::new(max_idle, idle_timeout, metrics.clone()));
    *slot = Some(pool.clone());
    let shutdown = shard.shutdown.clone();
    spawn_shard_task("webhook pool sweep", async move {
        loop {
            monoio::select! {
                _ = shutdown.wait() => return,
                _ = monoio::time::sleep(SWEEP_INTERVAL) => pool.sweep(),
            }
        }
    });
}

/// A runner for `subscription` over `api` (not started); `None` when it cannot run (logged).
fn build(shard: &Shard, subscription: &SubscriptionConfig, api: Rc<Api>) -> Option<Runner> {
    let webhooks = &shard.webhooks;
    let push = subscription.push.as_deref()?;
    let options = api.webhook.clone()?;
    let metrics = webhooks.node.metrics.clone();
    let counters = metrics.subscription(&subscription.id)?;
    let pool = webhooks.pool.borrow().clone()?;
    let tls = if push.callback.https {
        match tls_config(&push.tls) {
            Ok(config) => Some(config),
            Err(error) => {
                tracing::error!(subscription = %subscription.id, %error, "push subscription cannot start");
                return None;
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
        pool,
        dlq,
        counters,
        metrics,
        jitter: retry::Jitter::new(shard.id as u64 ^ webhooks.node.owner(&subscription.id) as u64),
        log: LogThrottle::new(FAILURE_LOG_INTERVAL),
        auth: auth::AuthHeader::new(&push.auth),
    };
    let sink = outcome_sink(&api.endpoint, &context);
    Some(Runner::new(
        target,
        api,
        sink,
        shard.security.clone(),
        shard.metrics.clone(),
        shard.gateway.outbound.max_queued_bytes,
        shard.shutdown.clone(),
    ))
}
