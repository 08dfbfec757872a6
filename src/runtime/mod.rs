//! The thread-per-core runtime: one shard per core, each a pinned thread with its own monoio
//! runtime and SO_REUSEPORT listener, started and stopped as one `Gateway`.

mod apply;
mod deployment;
mod listener;
pub mod shard;
mod shard_apply;
mod shard_seed;
mod topic_pump;

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use apply::ApplyReport;

use crate::admin::{Admin, AdminState, MetricsSources};
use crate::config::{Config, ConfigError};
use crate::cross_shard::{Doorbell, GatewayHealth, Signal};
use crate::endpoint::kafka::{KafkaBridge, KafkaPlan};
use crate::metrics::{KafkaMetrics, ShardMetrics};
use crate::observe::api_metrics::{api_totals, ApiMetrics, ApiTotals};
use crate::observe::log_writer::{self, AccessLogWriter};
use crate::rate_limit::{RateLimitMetrics, RateLimiter, RedisStartError};
use crate::security::reload::ReloadReport;
use crate::security::Registry;
use crate::shard::{Driver, ShardHandles};
use crate::tls::reload::Watcher;
use crate::tls::{TlsMetrics, TlsStore};
use deployment::Deployments;
use shard::ShardListeners;
use shard_seed::ShardSeed;

/// How long a stopping gateway waits for the access log's last lines to be written.
const ACCESS_LOG_FINISH: Duration = Duration::from_secs(1);

/// A running gateway: its shards and how to stop them.
pub struct Gateway {
    local_addr: SocketAddr,
    /// The TLS listener's address, its certificates and their reload watcher (`gateway.tls`).
    tls: Option<(SocketAddr, Arc<TlsStore>, Watcher)>,
    drivers: Vec<Driver>,
    metrics: Vec<Arc<ShardMetrics>>,
    /// Every shard's per-API metrics.
    api_metrics: Vec<Arc<ApiMetrics>>,
    /// The access log's writer thread, when enabled; given a moment to finish after the shards.
    access_log: Option<AccessLogWriter>,
    stops: Vec<Arc<Signal>>,
    threads: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
    /// Which shards are alive; shared with the shards' supervisors and the admin endpoint.
    health: Arc<GatewayHealth>,
    admin: Option<Admin>,
    /// Metrics of services started after the gateway, rendered by the admin endpoint.
    more_metrics: MetricsSources,
    /// The Kafka bridge thread, when an API uses Kafka; stopped after the shards.
    kafka: Option<KafkaBridge>,
    /// Plans, subscriptions and API keys; replaced by `apply` and `reload_security`.
    security: Arc<Registry>,
    /// The deployed APIs, replaced by `apply`.
    deployments: Arc<Deployments>,
    /// The Kafka feeds and producers the bridge was started with (a live apply can deploy only
    /// Kafka endpoints among them).
    kafka_plan: Arc<KafkaPlan>,
    /// The Kafka bridge a live apply started when the gateway had none (its first Kafka APIs);
    /// stopped after the shards.
    late_kafka: std::sync::OnceLock<(KafkaBridge, Arc<KafkaPlan>)>,
    /// The configuration in force (the last one applied).
    #[allow(
        clippy::disallowed_types,
        reason = "the configuration in force, read and replaced by apply and reload on the caller's thread (main, management), never by a shard"
    )]
    applied: std::sync::Mutex<Config>,
    /// The node's rate limiter (dropped last, with the shards: that ends the Redis thread).
    rate_limiter: Option<Arc<RateLimiter>>,
    /// Push subscriptions' delivery counters.
    webhook_metrics: Option<Arc<crate::webhook::metrics::WebhookMetrics>>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("{0}")]
    Listen(io::Error),
    /// The TLS listener's configuration could not be built, or its watcher not started.
    #[error("the TLS listener could not start: {0}")]
    Tls(String),
    /// The access log's writer thread could not start.
    #[error("the access log writer could not start: {0}")]
    AccessLog(io::Error),
    /// The Kafka bridge thread could not start.
    #[error("the Kafka bridge could not start: {0}")]
    Kafka(io::Error),
    /// The rate limiter's Redis thread could not start.
    #[error("{0}")]
    RateLimit(#[from] RedisStartError),
    /// A shard's runtime or thread could not start.
    #[error("shard {shard} could not start: {source}")]
    Shard {
        /// Which shard.
        shard: usize,
        /// What failed.
        source: io::Error,
    },
}

impl Gateway {
    /// Binds the listeners and starts every shard; returns once all are accepting.
    pub fn start(config: Config) -> Result<Gateway, StartError> {
        let shard_count = config
            .gateway
            .shards
            .map(|n| n.get())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let listeners = listener::bind_reuseport(config.gateway.listen, shard_count)
            .map_err(StartError::Listen)?;
        let local_addr = listeners[0].local_addr().map_err(StartError::Listen)?;
        let (tls, mut tls_listeners) = match &config.gateway.tls {
            None => (None, Vec::new()),
            Some(tls) => {
                let bound = listener::bind_reuseport(tls.listen, shard_count)
                    .map_err(StartError::Listen)?;
                let addr = bound[0].local_addr().map_err(StartError::Listen)?;
                let store = TlsStore::new(tls).map_err(|err| StartError::Tls(err.to_string()))?;
                let watcher = Watcher::start(store.clone())
                    .map_err(|err| StartError::Tls(err.to_string()))?;
                (Some((addr, store, watcher)), bound)
            }
        };
        let cores = core_affinity::get_core_ids().unwrap_or_default();

        let tls_store = tls.as_ref().map(|(_, store, _)| store.clone());
        let topic_doorbells: Vec<Arc<Doorbell>> =
            (0..shard_count).map(|_| Doorbell::new()).collect();
        let kafka_plan = Arc::new(KafkaPlan::new(&config));
        let mut gateway = Gateway {
            local_addr,
            tls,
            drivers: Vec::new(),
            metrics: Vec::new(),
            api_metrics: Vec::new(),
            access_log: None,
            stops: Vec::new(),
            threads: Vec::new(),
            shutdown_timeout: config.gateway.timeouts.shutdown,
            health: GatewayHealth::new(),
            admin: None,
            more_metrics: MetricsSources::default(),
            kafka: None,
            security: Registry::new(&config),
            deployments: Deployments::new(&config, topic_doorbells.clone()),
            kafka_plan: kafka_plan.clone(),
            late_kafka: std::sync::OnceLock::new(),
            #[allow(
                clippy::disallowed_types,
                reason = "the configuration in force, read and replaced by apply and reload on the caller's thread (main, management), never by a shard"
            )]
            applied: std::sync::Mutex::new(config.clone()),
            rate_limiter: None,
            webhook_metrics: None,
        };
        if !kafka_plan.is_empty() {
            let used = kafka_plan.in_use(&config);
            let bridge = KafkaBridge::start(kafka_plan.clone(), shard_count, used)
                .map_err(StartError::Kafka)?;
            gateway.kafka = Some(bridge);
        }
        let kafka_link = gateway.kafka.as_ref().map(|bridge| bridge.link().clone());
        let rate_limiter = Arc::new(RateLimiter::start(&config.gateway.rate_limit)?);
        gateway.rate_limiter = Some(rate_limiter.clone());
        let access_log = &config.gateway.access_log;
        let sink = if access_log.enabled {
            let (sink, writer) = log_writer::start(access_log.path.clone(), access_log.queue_lines)
                .map_err(StartError::AccessLog)?;
            gateway.access_log = Some(writer);
            Some(sink)
        } else {
            None
        };
        let webhooks = crate::webhook::WebhookNode::new(&config, shard_count);
        gateway.webhook_metrics = Some(webhooks.metrics.clone());
        let (started_tx, started_rx) = mpsc::channel();
        let mut tls_listeners = tls_listeners.drain(..);
        for (id, listener) in listeners.into_iter().enumerate() {
            let metrics = Arc::new(ShardMetrics::default());
            let api_metrics = Arc::new(ApiMetrics::new(&config.apis));
            let stop = Signal::new();
            let tls = tls_listeners
                .next()
                .and_then(|bound| Some((bound, tls_store.clone()?)));
            let seed = ShardSeed {
                handles: ShardHandles {
                    id,
                    metrics: metrics.clone(),
                    doorbell: topic_doorbells[id].clone(),
                    rate_limiter: rate_limiter.clone(),
                    registry: gateway.security.clone(),
                    webhook_node: webhooks.clone(),
                },
                config: config.clone(),
                listeners: ShardListeners {
                    plain: listener,
                    tls,
                },
                api_metrics: api_metrics.clone(),
                access_log: sink.clone(),
                stop: stop.clone(),
                health: gateway.health.clone(),
                deployments: gateway.deployments.clone(),
                kafka_link: kafka_link.clone(),
                kafka_plan: kafka_plan.clone(),
                core: config
                    .gateway
                    .pin_shards
                    .then(|| cores.get(id % cores.len().max(1)).copied())
                    .flatten(),
            };
            let started = started_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("tidegate-shard-{id}"))
                .spawn(move || seed.run(started))
                .map_err(|source| StartError::Shard { shard: id, source })?;
            gateway.metrics.push(metrics);
            gateway.api_metrics.push(api_metrics);
            gateway.stops.push(stop);
            gateway.threads.push(thread);
        }
        drop(started_tx);
        // The shards hold the only senders: the writer stops once they are gone.
        drop(sink);
        gateway.drivers = vec![Driver::Epoll; shard_count];
        for _ in 0..shard_count {
            let (id, result) = started_rx.recv().map_err(|_| StartError::Shard {
                shard: usize::MAX,
                source: io::Error::other("a shard thread exited before starting"),
            })?;
            match result {
                Ok(driver) => {
                    tracing::info!(shard = id, %driver, pinned = config.gateway.pin_shards, "shard started");
                    gateway.drivers[id] = driver;
                }
                Err(source) => {
                    gateway.stop();
                    return Err(StartError::Shard { shard: id, source });
                }
            }
        }
        if let Some(addr) = config.gateway.admin_listen {
            let state = AdminState {
                metrics: gateway.metrics.clone(),
                api_metrics: gateway.api_metrics.clone(),
                access_log: gateway
                    .access_log
                    .as_ref()
                    .map(|writer| writer.counters.clone()),
                drivers: gateway.drivers.clone(),
                health: gateway.health.clone(),
                kafka: gateway
                    .kafka
                    .as_ref()
                    .map(|bridge| (bridge.metrics().clone(), bridge.link().clone())),
                security: gateway.security.metrics().clone(),
                rate_limiter: rate_limiter.clone(),
                tls: gateway.tls_metrics().cloned(),
                more: gateway.more_metrics.clone(),
                webhook: webhooks.metrics.clone(),
            };
            match Admin::start(addr, state) {
                Ok(admin) => gateway.admin = Some(admin),
                Err(source) => {
                    gateway.stop();
                    return Err(StartError::Listen(source));
                }
            }
        }
        Ok(gateway)
    }

    /// Every shard's per-API metrics (the management API's per-API `stats`).
    pub fn api_metrics(&self) -> &[Arc<ApiMetrics>] {
        &self.api_metrics
    }

    /// Where services started later (the management API) add their metrics to the admin
    /// endpoint's.
    pub fn more_metrics(&self) -> &MetricsSources {
        &self.more_metrics
    }

    /// Where the admin endpoint listens, when enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(Admin::local_addr)
    }

    /// The address the shards listen on (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The TLS listener's address (with the real port when configured with port 0).
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(addr, _, _)| *addr)
    }

    /// Reads the TLS certificate files again now (SIGHUP), instead of at the next poll.
    pub fn reload_tls(&self) {
        if let Some((_, _, watcher)) = &self.tls {
            watcher.reload_now();
        }
    }

    /// The TLS certificate reload counters, when `gateway.tls` is set.
    pub fn tls_metrics(&self) -> Option<&Arc<TlsMetrics>> {
        self.tls.as_ref().map(|(_, store, _)| store.metrics())
    }

    /// The I/O driver each shard runs on, by shard index.
    pub fn drivers(&self) -> &[Driver] {
        &self.drivers
    }

    /// Every shard's metrics, by shard index.
    pub fn metrics(&self) -> &[Arc<ShardMetrics>] {
        &self.metrics
    }

    /// `id`'s per-API totals on this node (open streams, messages, answers); `None` when it was
    /// never deployed since the start.
    pub fn api_stats(&self, id: &str) -> Option<ApiTotals> {
        api_totals(&self.api_metrics, id)
    }

    /// Push subscriptions' delivery counters (`tidegate_webhook_*`).
    pub fn webhook_metrics(&self) -> Option<&Arc<crate::webhook::metrics::WebhookMetrics>> {
        self.webhook_metrics.as_ref()
    }

    /// The security registry (plans, subscriptions, API keys) the shards read.
    pub fn security(&self) -> &Arc<Registry> {
        &self.security
    }

    /// Re-reads `path` and replaces the plans, applications, subscriptions and API keys (live
    /// streams whose credential is no longer valid end within a second). An invalid file
    /// changes nothing; the error lists its problems.
    pub fn reload_security(&self, path: &std::path::Path) -> Result<ReloadReport, ConfigError> {
        crate::security::reload::reload_file(&self.security, path)
    }

    /// Which shards are alive: the binary waits on it to exit when one dies.
    pub fn health(&self) -> &Arc<GatewayHealth> {
        &self.health
    }

    /// The rate limiter's metrics (429s, Redis errors, requests in flight).
    pub fn rate_limit_metrics(&self) -> Option<&Arc<RateLimitMetrics>> {
        self.rate_limiter.as_ref().map(|limiter| limiter.metrics())
    }

    /// The Kafka bridge's counters, when an API uses Kafka (the bridge started with the
    /// gateway, or by the live apply that deployed its first Kafka API).
    pub fn kafka_metrics(&self) -> Option<&Arc<KafkaMetrics>> {
        let late = self.late_kafka.get().map(|(bridge, _)| bridge);
        self.kafka.as_ref().or(late).map(|bridge| bridge.metrics())
    }

    /// Graceful shutdown: every shard stops accepting, tells its clients (WebSocket close 1001,
    /// SSE end of stream, pending GETs answered), and waits for them up to `timeouts.shutdown`.
    /// Returns once every shard thread has exited (or the deadline passed). The admin endpoint
    /// answers meanwhile (`/health`: 503 stopping) and is stopped last, without waiting for its
    /// clients.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.health.report_stopping();
        for stop in &self.stops {
            stop.raise();
        }
        // Shards enforce the deadline themselves; the margin covers their final close writes.
        let hard_deadline = Instant::now() + self.shutdown_timeout + Duration::from_secs(2);
        for thread in self.threads.drain(..) {
            while !thread.is_finished() && Instant::now() < hard_deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::error!("a shard did not stop within the shutdown deadline");
            }
        }
        // The shards are gone: the writer writes what they queued, unless its destination is
        // stuck (then it is left behind, bounded by its queue).
        if let Some(writer) = self.access_log.take() {
            writer.finish(ACCESS_LOG_FINISH);
        }
        // Bounded: the admin server cuts its clients instead of waiting for them.
        self.admin = None;
        // After the shards: their clients may still have been waiting on Kafka.
        self.kafka = None;
        self.late_kafka.take();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
        }
    }
}
