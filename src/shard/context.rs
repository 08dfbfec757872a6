//! The state one shard hands to every task that serves its clients. Nothing here is `Send`;
//! other threads reach a shard only through `cross_shard`.

use std::cell::RefCell;
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
use crate::security::ShardSecurity;
use crate::webhook::ShardWebhooks;

use super::LocalSignal;

/// State shared by every task on one shard. Built in one place (`runtime::shard_seed`, on the
/// shard's own thread), so a new field is declared here and filled there.
pub struct Shard {
    /// Index of this shard (0-based), used in logs and metric labels.
    pub id: usize,
    /// Gateway-wide settings (limits, timeouts, queue bounds).
    pub gateway: GatewayConfig,
    /// This shard's routing table; its own copy, so lookups take no lock. Replaced as a whole by
    /// a live apply (`runtime::shard_apply`); read it with [`Shard::router`].
    pub router: RefCell<Rc<Router>>,
    /// This shard's side of every in-memory topic the deployed APIs name.
    pub topics: RefCell<LocalTopics>,
    /// Rung by other shards when a topic this shard reads has new messages.
    pub doorbell: Arc<Doorbell>,
    /// This shard's counters; read by other threads.
    pub metrics: Arc<ShardMetrics>,
    /// Fired when the gateway shuts down: stop accepting, let connections finish.
    pub shutdown: Rc<LocalSignal>,
    /// HTTP GET reply bytes being written (`maxGetReplyBytesPerShard`).
    pub reply_budget: ReplyBudget,
    /// The node's rate limiter, shared by every shard (node-wide counters).
    pub rate_limiter: Arc<RateLimiter>,
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
