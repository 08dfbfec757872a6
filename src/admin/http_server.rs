//! A small blocking HTTP/1.1 server for the gateway's own endpoints (the admin endpoint now, the
//! management API later, each on a listener of its own). Off the data path, so plain threads and
//! blocking sockets, one request per connection, a thread per connection.
//!
//! Every resource a client can hold is bounded, so no client can starve another or the gateway:
//! - connections: at most `max_connections` are served at once; the next is answered 503 and
//!   closed at once (`connections_rejected_total`); and at most `max_connections_per_address`
//!   from one client address, so that one client cannot take every slot: its next connection is
//!   answered 429 (`connections_rejected_per_address_total`);
//! - time: the request must arrive, and the response leave, within `request_deadline` of the
//!   accept — a deadline for the whole exchange, not per read, so a client trickling a byte at a
//!   time is cut off like a silent one (408, `requests_timed_out_total`);
//! - memory: the request head is at most `max_head_bytes` (431), the body at most
//!   `max_body_bytes`, declared by `Content-Length` (413; a chunked body: 411).
//!
//! Stopping never waits for a client: the accept thread stops within `POLL_INTERVAL`, and every
//! open connection is shut down under its thread, which then ends on its own.

#![allow(
    clippy::disallowed_types,
    reason = "the admin endpoint's own threads (blocking sockets, off the shards) share the set of open connections"
)]
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::open_conns::{OpenConns, Refusal};
use super::reply::Reply;
use super::request_body::{read_body, BodyFailure};
use crate::codec::http_head::{parse_request_head, HeadLimits, Method, RequestHead};
use crate::codec::http_response::{encode_response_head, BodyKind, ResponseHead};
use crate::metrics::{AdminMetrics, ShardMetrics};
use crate::shard::LogThrottle;
use crate::shard::ACCEPT_ERROR_LOG_INTERVAL;

/// How often the accept loop checks for shutdown.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a refusal or a timeout answer may take to write before the socket is dropped.
const FAREWELL_DEADLINE: Duration = Duration::from_secs(1);
/// Each connection thread's stack: std's default for spawned threads. The management API's
/// handlers (also behind the console) validate a whole candidate configuration with the file
/// loader, which recurses and overflowed 256 KiB in debug builds (a POST of the quickstart API
/// from the console's wizard). Reserved address space; pages are only touched as used.
const THREAD_STACK_BYTES: usize = 2 * 1024 * 1024;

/// The bounds a server enforces on its clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections served at once from one client address (at most `max_connections`).
    pub max_connections_per_address: usize,
    /// From accept to the last byte of the response.
    pub request_deadline: Duration,
    /// Largest request head.
    pub max_head_bytes: usize,
    /// Largest request body (`Content-Length`).
    pub max_body_bytes: usize,
}

/// One request: its head, its whole body (empty when it has none), and who sent it.
pub struct Request {
    /// The request line and header fields.
    pub head: RequestHead,
    /// The whole body (at most the server's body bound).
    pub body: Bytes,
    /// The client's address (per-client limits key on its IP), when the socket still knows it.
    pub peer: Option<SocketAddr>,
}

/// Answers one request; runs on the connection's thread.
pub type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// Gives the server's own refusals (a malformed or oversized request, a timeout, no free
/// connection, a handler that panicked: plain text) the form of the handler's answers.
pub type RefusalForm = fn(Reply) -> Reply;

/// Keeps the server's refusals in plain text.
pub fn plain_refusals(reply: Reply) -> Reply {
    reply
}

/// A running server; dropping it stops it.
pub struct HttpServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

struct Shared {
    /// Names the threads and the log lines.
    name: &'static str,
    limits: ServerLimits,
    handler: Box<Handler>,
    refusal: RefusalForm,
    metrics: Arc<AdminMetrics>,
    stop: AtomicBool,
    /// A handle on every open connection, to shut them down when the server stops.
    open: Mutex<OpenConns>,
}

impl HttpServer {
    /// Serves `listener` on threads named after `name` until dropped; its own refusals take
    /// `refusal`'s form.
    pub fn start(
        name: &'static str,
        listener: TcpListener,
        limits: ServerLimits,
        metrics: Arc<AdminMetrics>,
        handler: Box<Handler>,
        refusal: RefusalForm,
    ) -> io::Result<HttpServer> {
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name,
            limits,
            handler,
            refusal,
            metrics,
            stop: AtomicBool::new(false),
            open: Mutex::new(OpenConns::default()),
        });
        let accepting = shared.clone();
        let accept_thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(HttpServer {
            local_addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// Where it listens (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for HttpServer {
    /// Stops accepting and cuts every open connection; waits for the accept thread only (at most
    /// `POLL_INTERVAL`), never for a client.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let throttle = LogThrottle::new(ACCEPT_ERROR_LOG_INTERVAL);
    while !shared.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, peer)) => admit(shared, stream, peer.ip()),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(POLL_INTERVAL)
            }
            Err(err) => {
                ShardMetrics::inc(&shared.metrics.accept_errors_total);
                if let Some(suppressed) = throttle.admit(Instant::now()) {
                    tracing::warn!(server = shared.name, error = %err, suppressed, "accept failed; retrying, logged at most every 10 s");
                }
                std::thread::sleep(POLL_INTERVAL);
            }
        }
    }
    for stream in shared.lock_open().streams() {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// Serves `stream` (from `peer`) on a thread of its own, or refuses it when a bound is reached.
fn admit(shared: &Arc<Shared>, stream: TcpStream, peer: IpAddr) {
    let admitted = shared
        .lock_open()
        .admit(|| stream.try_clone(), peer, &shared.limits);
    let key = match admitted {
        Ok(key) => key,
        Err(why) => return refuse(shared, stream, why),
    };
    ShardMetrics::inc(&shared.metrics.connections_open);
    let serving = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("{}-conn", shared.name))
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || {
            // Released however `serve` ends, a panicking handler included: a slot that leaked
            // on each panic would leave the endpoint refusing everyone once all had leaked.
            let _slot = Slot {
                shared: &serving,
                key,
            };
            serve(&serving, stream);
        });
    if let Err(err) = spawned {
        tracing::warn!(server = shared.name, error = %err, "cannot start a connection thread");
        if let Some(stream) = shared.release(key) {
            refuse(shared, stream, Refusal::Full);
        }
    }
}

fn refuse(shared: &Shared, mut stream: TcpStream, why: Refusal) {
    // Written without blocking: a fresh socket's send buffer takes a short reply whole.
    let _ = stream.set_nonblocking(true);
    let reply = (shared.refusal)(why.answer(&shared.limits, &shared.metrics));
    let _ = write_reply(
        &mut stream,
        &reply,
        true,
        Instant::now() + FAREWELL_DEADLINE,
    );
}

impl Shared {
    fn lock_open(&self) -> MutexGuard<'_, OpenConns> {
        // Every update is one insert or remove and its count, which cannot panic in between: a
        // poisoned lock still holds a consistent set.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets a connection; returns its handle.
    fn release(&self, key: usize) -> Option<TcpStream> {
        let handle = self.lock_open().release(key)?;
        ShardMetrics::sub(&self.metrics.connections_open, 1);
        Some(handle)
    }
}

/// A connection's place in `Shared::open`, given back when dropped.
struct Slot<'a> {
    shared: &'a Shared,
    key: usize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.shared.release(self.key);
    }
}

/// Why no request could be read.
enum ReadFailure {
    /// The whole-request deadline passed.
    TimedOut,
    /// The peer closed, or the socket failed: nobody to answer.
    Gone,
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let deadline = Instant::now() + shared.limits.request_deadline;
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let mut is_head = false;
    let peer = stream.peer_addr().ok();
    let reply = match read_request(&mut stream, &shared.limits, deadline, peer) {
        Ok(Ok(request)) => {
            ShardMetrics::inc(&shared.metrics.requests_total);
            is_head = *request.head.method() == Method::Head;
            handle(shared, &request)
        }
        Ok(Err(reply)) => (shared.refusal)(reply),
        Err(ReadFailure::Gone) => return,
        Err(ReadFailure::TimedOut) => {
            ShardMetrics::inc(&shared.metrics.requests_timed_out_total);
            let reply = (shared.refusal)(Reply::text(
                408,
                format!(
                    "the request was not received within {} ms; send it whole, at once",
                    shared.limits.request_deadline.as_millis()
                ),
            ));
            let _ = write_reply(
                &mut stream,
                &reply,
                true,
                Instant::now() + FAREWELL_DEADLINE,
            );
            return;
        }
    };
    // A HEAD answer is the head alone (RFC 9110 §9.3.2).
    if let Err(err) = write_reply(&mut stream, &reply, !is_head, deadline) {
        tracing::debug!(server = shared.name, error = %err, "response not delivered");
    }
}

/// Runs the handler; a panic in it is answered 500 with nothing of the panic in the body (its
/// message can name files and values), and logged.
fn handle(shared: &Shared, request: &Request) -> Reply {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (shared.handler)(request))) {
        Ok(reply) => reply,
        Err(_) => {
            ShardMetrics::inc(&shared.metrics.handler_panics_total);
            tracing::error!(
                server = shared.name,
                path = request.head.path(),
                "a request handler panicked (a bug; the panic message is above); answered 500"
            );
            (shared.refusal)(Reply::text(
                500,
                "the server failed on this request; it is logged; retry, or report it if it repeats",
            ))
        }
    }
}

/// Reads one request, head and body, by `deadline`; `Ok(Err(reply))` when it is malformed or too
/// large.
fn read_request(
    stream: &mut TcpStream,
    limits: &ServerLimits,
    deadline: Instant,
    peer: Option<SocketAddr>,
) -> Result<Result<Request, Reply>, ReadFailure> {
    let (head, rest) = match read_head(stream, limits, deadline)? {
        Ok(parsed) => parsed,
        Err(reply) => return Ok(Err(reply)),
    };
    match read_body(stream, &head, rest, limits.max_body_bytes, deadline) {
        Ok(body) => Ok(Ok(Request { head, body, peer })),
        Err(BodyFailure::Refused(reply)) => Ok(Err(reply)),
        Err(BodyFailure::TimedOut) => Err(ReadFailure::TimedOut),
        Err(BodyFailure::Gone) => Err(ReadFailure::Gone),
    }
}

/// Reads one request head by `deadline`, with the bytes read past it; `Ok(Err(reply))` when it
/// is malformed or too large.
fn read_head(
    stream: &mut TcpStream,
    limits: &ServerLimits,
    deadline: Instant,
) -> Result<Result<(RequestHead, BytesMut), Reply>, ReadFailure> {
    let head_limits = HeadLimits {
        max_header_bytes: limits.max_head_bytes,
        max_header_count: 64,
    };
    let mut buf = BytesMut::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = time_left(deadline).ok_or(ReadFailure::TimedOut)?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| ReadFailure::Gone)?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err(ReadFailure::Gone),
            Ok(n) => n,
            Err(err) if is_timeout(&err) => return Err(ReadFailure::TimedOut),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadFailure::Gone),
        };
        buf.extend_from_slice(&chunk[..n]);
        match parse_request_head(&mut buf, &head_limits) {
            Ok(Some(head)) => return Ok(Ok((head, buf))),
            Ok(None) => continue,
            Err(err) => return Ok(Err(Reply::text(err.status(), err.to_string()))),
        }
    }
}

/// Writes `reply` (and closes: one request per connection) by `deadline`; its body only when
/// `with_content` (not for a HEAD request, whose answer still says the body's length).
fn write_reply(
    stream: &mut TcpStream,
    reply: &Reply,
    with_content: bool,
    deadline: Instant,
) -> io::Result<()> {
    let mut out = BytesMut::new();
    // A 204 has neither content nor its framing (RFC 9110 §15.3.5, §8.6).
    let no_content = reply.status == 204;
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(2 + reply.headers.len());
    if !no_content {
        headers.push(("Content-Type", reply.content_type));
    }
    if let Some(allow) = reply.allow {
        headers.push(("Allow", allow));
    }
    headers.extend(
        reply
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str())),
    );
    encode_response_head(
        &mut out,
        &ResponseHead {
            status: reply.status,
            headers: &headers,
            body: if no_content {
                BodyKind::None
            } else {
                BodyKind::Length(reply.body.len())
            },
            close: true,
        },
    );
    if with_content {
        out.extend_from_slice(reply.body.as_bytes());
    }
    let mut written = 0;
    while written < out.len() {
        let left = time_left(deadline).ok_or(io::ErrorKind::TimedOut)?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(&out[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// What is left until `deadline`; `None` once it passed (a zero timeout would mean "none").
pub(super) fn time_left(deadline: Instant) -> Option<Duration> {
    Some(deadline.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
}

pub(super) fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
