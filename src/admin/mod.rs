//! The admin endpoint: `GET /metrics` (Prometheus text) and `GET /health` (JSON), bound to
//! loopback by default (`gateway.adminListen`). Off the data path: `http_server` serves it on
//! threads of its own, with bounded connections, a whole-request deadline and a bounded head, so
//! a slow client can hold neither the endpoint nor the gateway's shutdown.

mod http_server;
mod open_conns;
mod reply;
mod request_body;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
#[allow(
    clippy::disallowed_types,
    reason = "services join the list from their own threads; only the admin thread renders it, off the shards"
)]
use std::sync::Mutex;
use std::time::Duration;

pub use http_server::{plain_refusals, Handler, HttpServer, RefusalForm, Request, ServerLimits};
pub(crate) use open_conns::client_key;
pub use reply::Reply;

use crate::codec::http_head::{Method, RequestHead};
use crate::cross_shard::kafka_link::KafkaLink;
use crate::cross_shard::GatewayHealth;
use crate::metrics::{render_prometheus, AdminMetrics, KafkaMetrics, ShardMetrics};
use crate::observe::api_metrics::{render_api_metrics, ApiMetrics};
use crate::observe::log_writer::AccessLogCounters;
use crate::rate_limit::RateLimiter;
use crate::shard::Driver;
use crate::tls::TlsMetrics;

/// The admin endpoint's bounds: a scrape or a health probe is one small request.
pub const ADMIN_LIMITS: ServerLimits = ServerLimits {
    max_connections: 16,
    // Scrapes and probes come from a few fixed addresses (often one): no bound of its own.
    max_connections_per_address: 16,
    request_deadline: Duration::from_secs(5),
    max_head_bytes: 8192,
    max_body_bytes: 0,
};

/// Renders one service's metrics in the Prometheus text format.
pub type MetricsSource = Box<dyn Fn() -> String + Send + Sync>;

/// The metrics of services started after the gateway (the management API), rendered after the
/// gateway's own: the admin endpoint holds this list from the start, the services join it later.
#[derive(Clone, Default)]
#[allow(
    clippy::disallowed_types,
    reason = "services join the list from their own threads; only the admin thread renders it, off the shards"
)]
pub struct MetricsSources(Arc<Mutex<Vec<MetricsSource>>>);

impl MetricsSources {
    /// Adds a source, rendered at every scrape from now on.
    pub fn add(&self, source: MetricsSource) {
        self.lock().push(source);
    }

    fn render(&self) -> String {
        self.lock().iter().map(|source| source()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MetricsSource>> {
        // Each update is one push: a poisoned lock still holds a consistent list.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running admin endpoint; dropping it stops it (without waiting for its clients).
pub struct Admin {
    server: HttpServer,
}

/// What the admin endpoint reports.
pub struct AdminState {
    /// Every shard's metrics.
    pub metrics: Vec<Arc<ShardMetrics>>,
    /// Every shard's I/O driver.
    pub drivers: Vec<Driver>,
    /// Which shards are alive.
    pub health: Arc<GatewayHealth>,
    /// Every shard's per-API metrics.
    pub api_metrics: Vec<Arc<ApiMetrics>>,
    /// The access log's counters, when it is enabled.
    pub access_log: Option<Arc<AccessLogCounters>>,
    /// The Kafka bridge's metrics and queue, when an API uses Kafka.
    pub kafka: Option<(Arc<KafkaMetrics>, KafkaLink)>,
    /// The plan check's counters.
    pub security: Arc<crate::security::metrics::SecurityMetrics>,
    /// The node's rate limiter (its counters and Redis link).
    pub rate_limiter: Arc<RateLimiter>,
    /// The TLS certificate reload counters, when `gateway.tls` is set.
    pub tls: Option<Arc<TlsMetrics>>,
    /// Services started later (the management API).
    pub more: MetricsSources,
    /// Push subscriptions' delivery counters.
    pub webhook: Arc<crate::webhook::metrics::WebhookMetrics>,
}

impl Admin {
    /// Binds `addr` and serves until dropped.
    pub fn start(addr: SocketAddr, state: AdminState) -> io::Result<Admin> {
        let listener = TcpListener::bind(addr).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot listen on {addr} (gateway.adminListen): {err}"),
            )
        })?;
        let metrics = Arc::new(AdminMetrics::default());
        let state = Arc::new((state, metrics.clone()));
        let handler = move |request: &Request| route(&state.0, &state.1, &request.head);
        let server = HttpServer::start(
            "tidegate-admin",
            listener,
            ADMIN_LIMITS,
            metrics,
            Box::new(handler),
            plain_refusals,
        )?;
        Ok(Admin { server })
    }

    /// Where it listens (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

fn route(state: &AdminState, admin: &AdminMetrics, head: &RequestHead) -> Reply {
    if *head.method() != Method::Get {
        return Reply::method_not_allowed("GET", "use GET /metrics or GET /health");
    }
    match head.path() {
        "/metrics" => Reply::new(200, "text/plain; version=0.0.4", render_all(state, admin)),
        "/health" => health(state),
        _ => Reply::text(404, "admin endpoints: GET /metrics, GET /health"),
    }
}

/// 200 `up` while every shard is alive; 503 `down` naming the dead shards (and the kind of task
/// that took each down) once one died, or 503 `stopping` while the gateway drains.
fn health(state: &AdminState) -> Reply {
    let snapshot = state.health.snapshot();
    let (code, status) = match (snapshot.dead.is_empty(), snapshot.stopping) {
        (false, _) => (503, "down"),
        (true, true) => (503, "stopping"),
        (true, false) => (200, "up"),
    };
    let drivers: Vec<String> = state.drivers.iter().map(ToString::to_string).collect();
    let dead: Vec<serde_json::Value> = snapshot
        .dead
        .iter()
        .map(|fault| serde_json::json!({ "shard": fault.shard, "task": fault.task }))
        .collect();
    let body = serde_json::json!({
        "status": status,
        "shards": drivers.len(),
        "drivers": drivers,
        "deadShards": dead,
    });
    Reply::json(code, &body)
}

/// The shards' metrics, the admin endpoint's own, the plan check's, then the Kafka bridge's.
fn render_all(state: &AdminState, admin: &AdminMetrics) -> String {
    let mut text = render_prometheus(&state.metrics);
    text.push_str(&render_api_metrics(&state.api_metrics));
    if let Some(counters) = &state.access_log {
        text.push_str(&counters.render_prometheus());
    }
    text.push_str(&admin.render_prometheus("admin"));
    text.push_str(&state.security.render_prometheus());
    text.push_str(&state.rate_limiter.render_prometheus());
    if let Some(tls) = &state.tls {
        text.push_str(&tls.render_prometheus());
    }
    text.push_str(&state.webhook.render_prometheus());
    if let Some((kafka, link)) = &state.kafka {
        text.push_str(&render_kafka(kafka, link));
    }
    text.push_str(&state.more.render());
    text
}

/// The Kafka bridge's metrics: its counters, its queue and its feeds.
pub fn render_kafka(kafka: &KafkaMetrics, link: &KafkaLink) -> String {
    let started = link
        .feeds
        .iter()
        .filter(|feed| feed.start().is_some())
        .count();
    kafka.render_prometheus(&[
        (
            "bridge_queue_depth",
            link.queued(),
            "Requests waiting for the Kafka bridge (produce, catch-up, group joins).",
        ),
        (
            "feeds",
            link.feeds.len(),
            "Kafka feeds configured (one per distinct consumer configuration).",
        ),
        (
            "feeds_started",
            started,
            "Kafka feeds whose brokers answered (their clients are served; the others get 503).",
        ),
    ])
}
