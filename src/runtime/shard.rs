//! A shard: one thread, one monoio runtime, one listener, and everything its connections use.
//! Nothing here is `Send`; other threads reach a shard only through `cross_shard`.

use std::cell::{Cell, RefCell};
use std::net::TcpListener as StdTcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::{TcpListener, TcpStream};
use monoio::time::Instant;

use crate::config::GatewayConfig;
use crate::cross_shard::{Doorbell, Signal};
use crate::delivery::{pump, ReplyBudget};
use crate::endpoint::LocalTopics;
use crate::metrics::ShardMetrics;
use crate::observe::ShardObserver;
use crate::rate_limit::RateLimiter;
use crate::runtime::shard_apply::{self, ShardDeployer};
use crate::runtime::supervisor::{spawn_connection_task, spawn_shard_task};
use crate::runtime::topic_pump::TopicPump;
use crate::runtime::{LocalSignal, LogThrottle};
use crate::security::{self, ShardSecurity};
use crate::server::{connection, Router};
use crate::tls::{self, Established, HandshakeFailure, TlsStore};

/// Pause after an accept error (e.g. out of file descriptors) before accepting again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// At most one log line per this long for failing accepts (every one is counted).
pub const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How often draining checks whether the last connection has gone.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// Longest a shard waits at shutdown for its broker connections to say goodbye (an MQTT
/// DISCONNECT is given 1 s to leave).
const ENDPOINT_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// State shared by every task on one shard.
pub struct Shard {
    /// Index of this shard (0-based), used in logs and metric labels.
    pub id: usize,
    /// Gateway-wide settings (limits, timeouts, queue bounds).
    pub gateway: GatewayConfig,
    /// This shard's routing table; its own copy, so lookups take no lock. Replaced as a whole by
    /// a live apply (`shard_apply`); read it with [`Shard::router`].
    pub router: RefCell<Rc<Router>>,
    /// This shard's side of every in-memory topic the deployed APIs name.
    pub topics: RefCell<LocalTopics>,
    /// This shard's side of the deployment set.
    pub deployer: ShardDeployer,
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
    pub webhooks: crate::webhook::ShardWebhooks,
    connections: Cell<usize>,
    /// One log line per interval for failing TLS handshakes (every one is counted).
    tls_failures_log: LogThrottle,
}

impl Shard {
    /// A shard with no connections yet.
    pub fn new(parts: ShardParts) -> Shard {
        let ShardParts {
            id,
            gateway,
            deployer,
            topics,
            doorbell,
            metrics,
            shutdown,
            rate_limiter,
            observer,
            security,
            webhooks,
        } = parts;
        let reply_budget = ReplyBudget::new(
            gateway.limits.max_get_reply_bytes_per_shard,
            metrics.clone(),
        );
        Shard {
            id,
            gateway,
            router: RefCell::new(Rc::new(Router::new(&[]))),
            topics: RefCell::new(topics),
            deployer,
            doorbell,
            metrics,
            shutdown,
            reply_budget,
            rate_limiter,
            observer,
            security,
            webhooks,
            connections: Cell::new(0),
            tls_failures_log: LogThrottle::new(ACCEPT_ERROR_LOG_INTERVAL),
        }
    }

    /// The routing table in force (a request keeps the one it was routed with).
    pub fn router(&self) -> Rc<Router> {
        self.router.borrow().clone()
    }

    /// Open connections on this shard.
    pub fn connection_count(&self) -> usize {
        self.connections.get()
    }
}

/// What a shard is built from (on its own thread, since most of it is `!Send`).
pub struct ShardParts {
    /// Shard index.
    pub id: usize,
    /// Gateway settings.
    pub gateway: GatewayConfig,
    /// The shard's side of the deployment set (the routing table is built from it).
    pub deployer: ShardDeployer,
    /// Local sides of the in-memory topics.
    pub topics: LocalTopics,
    /// This shard's doorbell.
    pub doorbell: Arc<Doorbell>,
    /// This shard's metrics.
    pub metrics: Arc<ShardMetrics>,
    /// The shard's shutdown signal (shared with the endpoints built before the shard).
    pub shutdown: Rc<LocalSignal>,
    /// The node's rate limiter.
    pub rate_limiter: Arc<RateLimiter>,
    /// Per-API metrics and the access log.
    pub observer: ShardObserver,
    /// The shard's view of the security registry.
    pub security: Rc<ShardSecurity>,
    /// The push subscriptions this shard delivers.
    pub webhooks: crate::webhook::ShardWebhooks,
}

/// A shard's listening sockets: the plaintext one, and the TLS one when `gateway.tls` is set.
pub struct ShardListeners {
    pub plain: StdTcpListener,
    pub tls: Option<(StdTcpListener, Arc<TlsStore>)>,
}

/// Runs a shard until `stop` is raised and its connections have drained (or the shutdown
/// deadline passed).
pub async fn run(shard: Rc<Shard>, listeners: ShardListeners, stop: Arc<Signal>) {
    let register = |listener| match TcpListener::from_std(listener) {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::error!(shard = shard.id, error = %err, "cannot register the listener");
            None
        }
    };
    let Some(listener) = register(listeners.plain) else {
        return;
    };
    let tls = match listeners.tls {
        None => None,
        Some((listener, store)) => match register(listener) {
            Some(listener) => Some((listener, store)),
            None => return,
        },
    };
    let watcher = shard.clone();
    spawn_shard_task("shutdown watcher", async move {
        stop.raised().await;
        watcher.shutdown.fire();
        shard_apply::close_endpoints(&watcher);
    });
    spawn_shard_task("topic delivery", pump::run(TopicPump(shard.clone())));
    let watch = security::live::watch_streams(shard.security.clone(), shard.shutdown.clone());
    spawn_shard_task("credential watch", watch);
    crate::webhook::start(&shard);
    for api in shard.router().apis() {
        api.endpoint.start();
    }
    spawn_shard_task("deployment follower", shard_apply::follow(shard.clone()));
    let tls_accepts = async {
        if let Some((listener, store)) = &tls {
            accept_until_shutdown(&shard, listener, Some(store)).await;
        }
    };
    monoio::join!(accept_until_shutdown(&shard, &listener, None), tls_accepts);
    drop(listener);
    drop(tls);
    drain(&shard).await;
    let endpoints_closed = async {
        for api in shard.router().apis() {
            api.endpoint.closed().await;
        }
    };
    if monoio::time::timeout(ENDPOINT_CLOSE_WAIT, endpoints_closed)
        .await
        .is_err()
    {
        tracing::warn!(
            shard = shard.id,
            "broker connections did not close within 2 s of the shutdown; cutting them"
        );
    }
}

/// Accepts on `listener` (the TLS listener when `tls` is given) until shutdown.
async fn accept_until_shutdown(
    shard: &Rc<Shard>,
    listener: &TcpListener,
    tls: Option<&Arc<TlsStore>>,
) {
    let throttle = LogThrottle::new(ACCEPT_ERROR_LOG_INTERVAL);
    loop {
        monoio::select! {
            _ = shard.shutdown.wait() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => admit(shard, stream, tls),
                Err(err) => {
                    ShardMetrics::inc(&shard.metrics.accept_errors_total);
                    if let Some(suppressed) = throttle.admit(std::time::Instant::now()) {
                        tracing::warn!(
                            shard = shard.id,
                            error = %err,
                            suppressed,
                            "accept failed (out of file descriptors? raise `ulimit -n` or lower \
                             gateway.limits.maxConnectionsPerShard); retrying, logged at most every 10 s"
                        );
                    }
                    monoio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            }
        }
    }
}

/// Starts serving a connection (a TLS one after its handshake, which counts against the bound
/// too), or closes it at once when the shard is at its connection bound.
fn admit(shard: &Rc<Shard>, mut stream: TcpStream, tls: Option<&Arc<TlsStore>>) {
    ShardMetrics::inc(&shard.metrics.connections_accepted_total);
    if shard.connections.get() >= shard.gateway.limits.max_connections_per_shard {
        ShardMetrics::inc(&shard.metrics.connections_rejected_total);
        return;
    }
    let _ = stream.set_nodelay(true);
    set_cloexec(&stream);
    // Dropped with the task's future, whether the connection ends or its task panics.
    let guard = ConnectionGuard::new(shard.clone());
    // The certificates in use when the connection arrived (a reload affects later ones).
    let tls = tls.map(|store| store.current());
    let serve = async move {
        let established = match tls {
            None => None,
            Some(config) => match handshake(&mut stream, config, &guard.shard).await {
                Some(established) => Some(established),
                None => return,
            },
        };
        connection::serve(stream, established, guard.shard.clone()).await;
        drop(guard);
    };
    spawn_connection_task("connection", serve, || {});
}

/// The TLS handshake of a new connection within `headerReadMs`; `None` (counted, and logged
/// throttled) when it failed.
async fn handshake(
    stream: &mut TcpStream,
    config: Arc<rustls::ServerConfig>,
    shard: &Shard,
) -> Option<Established> {
    let deadline = Instant::now() + shard.gateway.timeouts.header_read;
    let failure = match tls::accept(stream, config, deadline).await {
        Ok(established) => {
            ShardMetrics::inc(&shard.metrics.tls_handshakes_total);
            if let Some(peer) = established.session.peer_certificates() {
                tracing::debug!(
                    shard = shard.id,
                    client_certificate_sha256 = %peer.sha256_hex(),
                    "TLS client certificate verified"
                );
            }
            return Some(established);
        }
        Err(failure) => failure,
    };
    match failure {
        HandshakeFailure::TimedOut => {
            ShardMetrics::inc(&shard.metrics.tls_handshake_timeouts_total);
        }
        HandshakeFailure::Closed => {
            ShardMetrics::inc(&shard.metrics.tls_handshake_failures_total);
        }
        HandshakeFailure::Failed(error) => {
            ShardMetrics::inc(&shard.metrics.tls_handshake_failures_total);
            if let Some(suppressed) = shard.tls_failures_log.admit(std::time::Instant::now()) {
                let peer = stream.peer_addr().ok();
                tracing::info!(
                    shard = shard.id,
                    ?peer,
                    error = %error,
                    suppressed,
                    "TLS handshake failed (logged at most every 10 s per shard; all are counted in tls_handshake_failures_total)"
                );
            }
        }
    }
    None
}

/// monoio's io_uring accept does not pass SOCK_CLOEXEC, so a process the gateway (or a test
/// harness around it) spawns would inherit client sockets and keep them open.
fn set_cloexec(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor we own; F_SETFD with FD_CLOEXEC touches only its flags.
    unsafe {
        libc::fcntl(stream.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

async fn drain(shard: &Shard) {
    let deadline = Instant::now() + shard.gateway.timeouts.shutdown;
    while shard.connections.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(DRAIN_POLL).await;
    }
    let left = shard.connections.get();
    if left > 0 {
        tracing::warn!(
            shard = shard.id,
            connections = left,
            "shutdown deadline passed; closing the rest"
        );
    }
}

/// Counts a connection for as long as it lives.
struct ConnectionGuard {
    shard: Rc<Shard>,
}

impl ConnectionGuard {
    fn new(shard: Rc<Shard>) -> ConnectionGuard {
        shard.connections.set(shard.connections.get() + 1);
        ShardMetrics::inc(&shard.metrics.connections_open);
        ConnectionGuard { shard }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.shard.connections.set(self.shard.connections.get() - 1);
        ShardMetrics::sub(&self.shard.metrics.connections_open, 1);
    }
}
