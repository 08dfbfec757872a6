//! Keep-alive connections to callbacks, pooled per shard by (host, port, TLS settings): a
//! delivery takes an idle connection or opens one, and gives it back after an answer that
//! allows reuse. Idle connections are bounded per key (`maxIdleConnectionsPerHost`; beyond it
//! they are closed) and closed once idle for `idleTimeout`. Connections in use are bounded by
//! each subscription's in-flight bound.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use monoio::time::Instant;

use super::client::Connection;
use super::metrics::WebhookMetrics;

/// What connections are pooled by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// The callback's host as written in its URL (a name or an address, before resolution).
    pub host: String,
    /// The callback's TCP port.
    pub port: u16,
    /// The TLS settings' identity (address of the subscription's rustls config); `None` = plain.
    pub tls: Option<usize>,
}

/// A shard's idle callback connections.
pub struct Pool {
    idle: RefCell<HashMap<PoolKey, Vec<Connection>>>,
    max_idle_per_key: Cell<usize>,
    idle_timeout: Cell<Duration>,
    metrics: Arc<WebhookMetrics>,
}

impl Pool {
    /// An empty pool.
    pub fn new(
        max_idle_per_key: usize,
        idle_timeout: Duration,
        metrics: Arc<WebhookMetrics>,
    ) -> Pool {
        Pool {
            idle: RefCell::new(HashMap::new()),
            max_idle_per_key: Cell::new(max_idle_per_key.max(1)),
            idle_timeout: Cell::new(idle_timeout),
            metrics,
        }
    }

    /// New bounds (a live apply changed the webhook APIs); idle connections over them go at
    /// the next sweep or take.
    pub fn set_limits(&self, max_idle_per_key: usize, idle_timeout: Duration) {
        self.max_idle_per_key.set(max_idle_per_key.max(1));
        self.idle_timeout.set(idle_timeout);
    }

    /// An idle connection for `key` that has not been idle too long, if any (newest first).
    pub fn take(&self, key: &PoolKey) -> Option<Connection> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(key)?;
        let now = Instant::now();
        while let Some(connection) = list.pop() {
            self.metrics
                .idle_connections
                .fetch_sub(1, Ordering::Relaxed);
            if now.saturating_duration_since(connection.idle_since) < self.idle_timeout.get() {
                return Some(connection);
            }
            self.metrics
                .connections_closed_idle
                .fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    /// Returns a connection whose answer allowed reuse; closes it when the key is full.
    pub fn give_back(&self, key: PoolKey, mut connection: Connection) {
        if !connection.is_clean() {
            return;
        }
        connection.idle_since = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(key).or_default();
        if list.len() >= self.max_idle_per_key.get() {
            return;
        }
        list.push(connection);
        self.metrics
            .idle_connections
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Closes connections idle past the timeout (called now and then by the shard's task).
    pub fn sweep(&self) {
        let now = Instant::now();
        let (timeout, max) = (self.idle_timeout.get(), self.max_idle_per_key.get());
        let mut idle = self.idle.borrow_mut();
        for list in idle.values_mut() {
            let before = list.len();
            list.retain(|c| now.saturating_duration_since(c.idle_since) < timeout);
            // Oldest first: the newest idle connections are kept.
            let excess = list.len().saturating_sub(max);
            list.drain(..excess);
            let closed = (before - list.len()) as u64;
            self.metrics
                .idle_connections
                .fetch_sub(closed, Ordering::Relaxed);
            self.metrics
                .connections_closed_idle
                .fetch_add(closed, Ordering::Relaxed);
        }
        idle.retain(|_, list| !list.is_empty());
    }
}
