//! The state one shard hands to every task that serves its clients. Nothing in [`Shard`] beyond
//! its [`ShardHandles`] is `Send`; other threads reach a shard only through `cross_shard`.

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::GatewayConfig;
use crate::cross_shard::Doorbell;
use crate::delivery::ReplyBudget;
use crate::deployed::Router;
use crate::endpoint::LocalTopics;
use crate::metrics::ShardMetrics;
use crate::observe::ShardObserver;
use crate::rate_limit::RateLimiter;
use crate::security::{Registry, ShardSecurity};
use crate::webhook::{ShardWebhooks, WebhookNode};

use super::{Alarms, LocalSignal};

/// The handles to node-wide state one shard holds: made for each shard on the main thread
/// (`runtime`), moved into the shard's thread inside its seed, and kept as they are in its
/// [`Shard`], which reads as them (`shard.metrics`, `shard.id`: [`Shard`] dereferences to its
/// handles). So a new node-wide handle is declared here, once, and filled where the seeds are
/// made. All of it is `Send`: it crosses into the shard's thread.
pub struct ShardHandles {
    /// Index of this shard (0-based), used in logs and metric labels.
    pub id: usize,
    /// This shard's counters; read by other threads.
    pub metrics: Arc<ShardMetrics>,
    /// Rung by other shards when a topic this shard reads has new messages.
    pub doorbell: Arc<Doorbell>,
    /// The node's rate limiter, shared by every shard (node-wide counters).
    pub rate_limiter: Arc<RateLimiter>,
    /// Plans, subscriptions and API keys, node-wide. The shard reads them through its own
    /// lock-free view, [`Shard::security`], made from this.
    pub registry: Arc<Registry>,
    /// Webhook state shared by the shards (push subscriptions' counters, ownership). The shard's
    /// own side (its runners, its callback connections) is [`Shard::webhooks`], made from this.
    pub webhook_node: Arc<WebhookNode>,
}

/// State shared by every task on one shard: its node-wide [`ShardHandles`] and the state that
/// lives on the shard alone. Built in one place (`runtime::shard_seed`, on the shard's own
/// thread), so a new field is declared here and filled there.
pub struct Shard {
    /// What the shard holds of the node (read through `Deref`: `shard.metrics`).
    pub handles: ShardHandles,
    /// Gateway-wide settings (limits, timeouts, queue bounds).
    pub gateway: GatewayConfig,
    /// This shard's routing table; its own copy, so lookups take no lock. Replaced as a whole by
    /// a live apply (`runtime::shard_apply`); read it with [`Shard::router`].
    pub router: RefCell<Rc<Router>>,
    /// This shard's side of every in-memory topic the deployed APIs name.
    pub topics: RefCell<LocalTopics>,
    /// Fired when the gateway shuts down: stop accepting, let connections finish.
    pub shutdown: Rc<LocalSignal>,
    /// Deadlines of the shard's hibernating streams, on one timer (a shard task runs it).
    pub alarms: Rc<Alarms>,
    /// HTTP GET reply bytes being written (`maxGetReplyBytesPerShard`).
    pub reply_budget: ReplyBudget,
    /// Per-API metrics and the access log.
    pub observer: ShardObserver,
    /// Plans, subscriptions and keys as this shard sees them; its live streams' credentials.
    pub security: Rc<ShardSecurity>,
    /// The push subscriptions this shard delivers (`crate::webhook`).
    pub webhooks: ShardWebhooks,
}

impl Shard {
    /// The routing table in force (a request keeps the one it was routed with).
    pub fn router(&self) -> Rc<Router> {
        self.router.borrow().clone()
    }
}

/// A shard's handles read as the shard's own fields (`shard.metrics`, `shard.id`): they are part
/// of its context, gathered in one struct only so that each is declared once.
impl Deref for Shard {
    type Target = ShardHandles;

    fn deref(&self) -> &ShardHandles {
        &self.handles
    }
}
