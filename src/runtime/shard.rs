//! A shard running: one thread, one monoio runtime, one listener; the accept loop, draining and
//! the shard-wide tasks around the context (`crate::shard::Shard`) its connections use.

use std::cell::Cell;
use std::net::TcpListener as StdTcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::{TcpListener, TcpStream};
use monoio::time::Instant;

use crate::cross_shard::Signal;
use crate::delivery::pump;
use crate::dispatch::connection;
use crate::metrics::ShardMetrics;
use crate::runtime::shard_apply::{self, ShardDeployer};
use crate::runtime::topic_pump::TopicPump;
use crate::security;
use crate::shard::supervisor::{spawn_connection_task, spawn_shard_task};
use crate::shard::{Lifeline, LogThrottle, Shard, ACCEPT_ERROR_LOG_INTERVAL};
use crate::tls::{self, Established, HandshakeFailure, TlsStore};

/// Pause after an accept error (e.g. out of file descriptors) before accepting again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// How often draining checks whether the last connection has gone.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// Longest a shard waits at shutdown for its broker connections to say goodbye (an MQTT
/// DISCONNECT is given 1 s to leave).
const ENDPOINT_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the runtime keeps beside a shard's context: the shard's side of the deployment set and
/// what its accept loop counts. Only the runtime reads it; connections get the [`Shard`].
pub struct RunningShard {
    /// The context every task on the shard reads.
    pub shard: Rc<Shard>,
    /// This shard's side of the deployment set.
    pub deployer: ShardDeployer,
    connections: Cell<usize>,
    /// One log line per interval for failing TLS handshakes (every one is counted).
    tls_failures_log: LogThrottle,
}

impl RunningShard {
    /// A running shard with no connections yet.
    pub fn new(shard: Rc<Shard>, deployer: ShardDeployer) -> RunningShard {
        RunningShard {
            shard,
            deployer,
            connections: Cell::new(0),
            tls_failures_log: LogThrottle::new(ACCEPT_ERROR_LOG_INTERVAL),
        }
    }

    /// Open connections on this shard.
    pub fn connection_count(&self) -> usize {
        self.connections.get()
    }
}

/// A shard's listening sockets: the plaintext one, and the TLS one when `gateway.tls` is set.
pub struct ShardListeners {
    /// The plaintext listener (`gateway.listen`).
    pub plain: StdTcpListener,
    /// The TLS listener (`gateway.tls.listen`) with the certificates it serves.
    pub tls: Option<(StdTcpListener, Arc<TlsStore>)>,
}

/// Runs a shard until `stop` is raised and its connections have drained (or the shutdown
/// deadline passed).
pub async fn run(running: Rc<RunningShard>, listeners: ShardListeners, stop: Arc<Signal>) {
    let shard = running.shard.clone();
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
    let alarms = shard.alarms.clone();
    spawn_shard_task("alarms", async move { alarms.run().await });
    let watch = security::live::watch_streams(shard.security.clone(), shard.shutdown.clone());
    spawn_shard_task("credential watch", watch);
    crate::webhook::start(&shard);
    for api in shard.router().apis() {
        api.endpoint.start();
    }
    spawn_shard_task("deployment follower", shard_apply::follow(running.clone()));
    let tls_accepts = async {
        if let Some((listener, store)) = &tls {
            accept_until_shutdown(&running, listener, Some(store)).await;
        }
    };
    monoio::join!(
        accept_until_shutdown(&running, &listener, None),
        tls_accepts
    );
    drop(listener);
    drop(tls);
    drain(&running).await;
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
    running: &Rc<RunningShard>,
    listener: &TcpListener,
    tls: Option<&Arc<TlsStore>>,
) {
    let shard = &running.shard;
    let throttle = LogThrottle::new(ACCEPT_ERROR_LOG_INTERVAL);
    loop {
        monoio::select! {
            _ = shard.shutdown.wait() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => admit(running, stream, tls),
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
fn admit(running: &Rc<RunningShard>, mut stream: TcpStream, tls: Option<&Arc<TlsStore>>) {
    let shard = &running.shard;
    ShardMetrics::inc(&shard.metrics.connections_accepted_total);
    if running.connections.get() >= shard.gateway.limits.max_connections_per_shard {
        ShardMetrics::inc(&shard.metrics.connections_rejected_total);
        return;
    }
    let _ = stream.set_nodelay(true);
    set_cloexec(&stream);
    // Dropped with the task's future, whether the connection ends or its task panics.
    let guard = ConnectionGuard::new(running.clone());
    // The certificates in use when the connection arrived (a reload affects later ones).
    let tls = tls.map(|store| store.current());
    let serve = async move {
        let established = match tls {
            None => None,
            Some(config) => match handshake(&mut stream, config, &guard.running).await {
                Some(established) => Some(established),
                None => return,
            },
        };
        let shard = guard.running.shard.clone();
        let mut lifeline = Lifeline::new();
        lifeline.hold(guard);
        connection::serve(stream, established, shard, lifeline).await;
    };
    spawn_connection_task("connection", serve, || {});
}

/// The TLS handshake of a new connection within `headerReadMs`; `None` (counted, and logged
/// throttled) when it failed.
async fn handshake(
    stream: &mut TcpStream,
    config: Arc<rustls::ServerConfig>,
    running: &RunningShard,
) -> Option<Established> {
    let shard = &running.shard;
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
            if let Some(suppressed) = running.tls_failures_log.admit(std::time::Instant::now()) {
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

async fn drain(running: &RunningShard) {
    let shard = &running.shard;
    let deadline = Instant::now() + shard.gateway.timeouts.shutdown;
    while running.connections.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(DRAIN_POLL).await;
    }
    let left = running.connections.get();
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
    running: Rc<RunningShard>,
}

impl ConnectionGuard {
    fn new(running: Rc<RunningShard>) -> ConnectionGuard {
        running.connections.set(running.connections.get() + 1);
        ShardMetrics::inc(&running.shard.metrics.connections_open);
        ConnectionGuard { running }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let running = &self.running;
        running.connections.set(running.connections.get() - 1);
        ShardMetrics::sub(&running.shard.metrics.connections_open, 1);
    }
}
