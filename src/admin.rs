//! The admin endpoint: `GET /metrics` (Prometheus text) and `GET /health` (JSON), on a thread of
//! its own, bound to loopback by default (`gateway.adminListen`). Off the data path: plain blocking
//! sockets, one request per connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;

use crate::codec::http_head::{parse_request_head, HeadLimits, Method};
use crate::codec::http_response::{encode_response_head, BodyKind, ResponseHead};
use crate::cross_shard::kafka_link::KafkaLink;
use crate::cross_shard::GatewayHealth;
use crate::metrics::{render_prometheus, KafkaMetrics, ShardMetrics};
use crate::runtime::Driver;

/// How often the accept loop checks for shutdown.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// A request must arrive within this long.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Admin requests are tiny.
const MAX_HEAD_BYTES: usize = 8192;

/// The running admin endpoint.
pub struct Admin {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the admin endpoint reports.
pub struct AdminState {
    /// Every shard's metrics.
    pub metrics: Vec<Arc<ShardMetrics>>,
    /// Every shard's I/O driver.
    pub drivers: Vec<Driver>,
    /// Which shards are alive.
    pub health: Arc<GatewayHealth>,
    /// The Kafka bridge's metrics and queue, when an API uses Kafka.
    pub kafka: Option<(Arc<KafkaMetrics>, KafkaLink)>,
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
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tidegate-admin".to_owned())
            .spawn(move || serve(listener, state, thread_stop))?;
        Ok(Admin {
            local_addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: TcpListener, state: AdminState, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(err) = answer(stream, &state) {
                    tracing::debug!(error = %err, "admin request failed");
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(POLL_INTERVAL)
            }
            Err(err) => {
                tracing::warn!(error = %err, "admin accept failed");
                std::thread::sleep(POLL_INTERVAL);
            }
        }
    }
}

fn answer(mut stream: TcpStream, state: &AdminState) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let limits = HeadLimits {
        max_header_bytes: MAX_HEAD_BYTES,
        max_header_count: 64,
    };
    let mut buf = BytesMut::with_capacity(1024);
    let head = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_request_head(&mut buf, &limits) {
            Ok(Some(head)) => break head,
            Ok(None) => continue,
            Err(err) => {
                return respond(
                    &mut stream,
                    err.status(),
                    "text/plain; charset=utf-8",
                    &err.to_string(),
                )
            }
        }
    };
    if *head.method() != Method::Get {
        return respond(
            &mut stream,
            405,
            "text/plain; charset=utf-8",
            "use GET /metrics or GET /health",
        );
    }
    match head.path() {
        "/metrics" => respond(
            &mut stream,
            200,
            "text/plain; version=0.0.4",
            &render_all(state),
        ),
        "/health" => {
            let (status, body) = health(state);
            respond(&mut stream, status, "application/json", &body)
        }
        _ => respond(
            &mut stream,
            404,
            "text/plain; charset=utf-8",
            "admin endpoints: GET /metrics, GET /health",
        ),
    }
}

/// 200 `up` while every shard is alive; 503 `down` naming the dead shards (and the kind of task
/// that took each down) once one died, or 503 `stopping` while the gateway drains.
fn health(state: &AdminState) -> (u16, String) {
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
    (code, body.to_string())
}

/// The shards' metrics, then the Kafka bridge's.
fn render_all(state: &AdminState) -> String {
    let mut text = render_prometheus(&state.metrics);
    if let Some((kafka, link)) = &state.kafka {
        let started = link
            .feeds
            .iter()
            .filter(|feed| feed.start().is_some())
            .count();
        text.push_str(&kafka.render_prometheus(&[
            ("bridge_queue_depth", link.queued(), "Requests waiting for the Kafka bridge (produce, catch-up, group joins)."),
            ("feeds", link.feeds.len(), "Kafka feeds configured (one per distinct consumer configuration)."),
            ("feeds_started", started, "Kafka feeds whose brokers answered (their clients are served; the others get 503)."),
        ]));
    }
    text
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) -> io::Result<()> {
    let mut out = BytesMut::new();
    encode_response_head(
        &mut out,
        &ResponseHead {
            status,
            headers: &[("Content-Type", content_type)],
            body: BodyKind::Length(body.len()),
            close: true,
        },
    );
    out.extend_from_slice(body.as_bytes());
    stream.write_all(&out)
}
