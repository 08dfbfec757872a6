//! Full-duplex streaming over one connection (WebSocket, SSE): the socket is split, a reader task
//! (`stream_read`) feeds inbound bytes to a callback, and the entrypoint's own task writes.
//!
//! The reader is a task of its own, stopped when the stream ends (`Duplex::stop_reading`).
//! A plain-TCP stream can also let the fan-out write for it while its writer waits with nothing
//! pending (`write_directly`, `park`; see `server::direct_write`).

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::{Canceller, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;

use crate::delivery::{OutboundQueue, Parked};
use crate::message::MessageId;
use crate::metrics::ShardMetrics;
use crate::observe::exchange::Exchange;
use crate::server::conn::Conn;
use crate::server::direct_write::{send_now, DirectWrite, Framing};
use crate::server::stall_write::{is_stall, StallWriter};
use crate::server::stream_read::{read_loop, ReadPause, ReaderParts, StreamReader};
use crate::server::transport::Transport;
use crate::server::write_batch::WriteBatch;
use crate::shard::supervisor::spawn_connection_task;
use crate::shard::LocalSignal;

/// What a streaming entrypoint does with the bytes its client sends.
///
/// Our futures are `!Send` on purpose (everything stays on its shard), so the missing `Send`
/// bound on this trait's future is what we want.
#[allow(async_fn_in_trait)]
pub trait InboundHandler {
    /// Consumes what it understands from `buf` (awaiting, e.g., a publish: the next read waits,
    /// which is the back-pressure on a publishing client). Returns false to stop reading.
    async fn on_bytes(&mut self, buf: &mut BytesMut) -> bool;
}

/// For streams whose clients send nothing after the request (SSE): whatever arrives is dropped so
/// it cannot pile up.
pub struct DiscardInbound;

impl InboundHandler for DiscardInbound {
    async fn on_bytes(&mut self, buf: &mut BytesMut) -> bool {
        buf.clear();
        true
    }
}

/// How `Duplex::write_now` went.
#[derive(Debug, PartialEq, Eq)]
pub enum WroteNow {
    /// The socket took all of it.
    All,
    /// The socket took part of it; the rest waits in the writer's batch, and the writer must run
    /// and write it before anything else is written.
    Part,
    /// Nothing was written (the socket is full or failed, or the stream has bytes pending):
    /// the writer must write it itself.
    Nothing,
}

/// Longest the last words after a stall (WebSocket close 1013, SSE `goaway`) are tried for, when
/// the stall timeout is longer: the client has already shown it is not reading.
const LAST_WORDS_GRACE: Duration = Duration::from_secs(5);

/// The writing side of a split connection.
pub struct Duplex {
    /// Plaintext or TLS; declared before `writer`, which must outlive it.
    transport: Transport,
    writer: OwnedWriteHalf<TcpStream>,
    canceller: Option<Canceller>,
    /// Fired when the peer closed or the read failed; also when this writer stops reading (it
    /// no longer waits for it then), which ends the reader's wait for the socket.
    pub peer_closed: Rc<LocalSignal>,
    /// Bytes encoded but not yet written (written before `batch`).
    pub write_buf: BytesMut,
    /// Framed messages waiting for one gathered write.
    pub batch: WriteBatch,
    writes: StallWriter,
    /// A write that makes no progress for this long means the client stopped reading.
    stall_timeout: Duration,
    /// Set once a write stalled: `batch` then holds exactly its unsent rest, and whatever is
    /// encoded next (last words) goes after it, tried within `LAST_WORDS_GRACE`.
    stalled: bool,
    metrics: Arc<ShardMetrics>,
    /// The request this stream answers: its bytes and messages are counted there.
    exchange: Rc<Exchange>,
    /// The fan-out's direct path to this socket, when installed (`write_directly`).
    direct: Option<Rc<DirectWrite>>,
}

impl Duplex {
    /// Splits `conn`; `handler` gets the read buffer after every read. A write that makes no
    /// progress for the connection's stream stall timeout (the client stopped reading) fails
    /// with a stall error (`stall_write::is_stall`), after which the stream should say its last
    /// words and end.
    pub fn start(conn: Conn, handler: impl InboundHandler + 'static) -> Duplex {
        Duplex::start_with(conn, handler, None)
    }

    /// `start`, with a reader the writer can pause while it waits for the socket holding
    /// nothing (`ReadPause`): a hibernating stream's reader is plain state, not a task.
    pub fn start_pausable<H: InboundHandler + 'static>(
        conn: Conn,
        handler: H,
    ) -> (Duplex, Rc<ReadPause<H>>) {
        let pause = Rc::new(ReadPause::new());
        let duplex = Duplex::start_with(conn, handler, Some(pause.clone()));
        (duplex, pause)
    }

    fn start_with<H: InboundHandler + 'static>(
        conn: Conn,
        handler: H,
        pause: Option<Rc<ReadPause<H>>>,
    ) -> Duplex {
        let stall_timeout = conn.stream_stall();
        let metrics = conn.metrics().clone();
        let exchange = conn.exchange().clone();
        let (transport, stream, read_buf, write_buf, gauge) = conn.into_parts();
        let writes = StallWriter::new(stream.as_raw_fd());
        let (reader, writer) = stream.into_split();
        let peer_closed = Rc::new(LocalSignal::new());
        let parts = ReaderParts {
            reader: StreamReader {
                reader,
                tls: transport.session().cloned(),
                metrics: metrics.clone(),
            },
            gauge,
            handler,
            ended: peer_closed.clone(),
            exchange: exchange.clone(),
        };
        let mut duplex = Duplex {
            transport,
            writer,
            canceller: None,
            peer_closed,
            write_buf,
            batch: WriteBatch::new(),
            writes,
            stall_timeout,
            stalled: false,
            metrics,
            exchange,
            direct: None,
        };
        duplex.spawn_reader(parts, read_buf, pause);
        duplex
    }

    /// Starts the reader task again from what a paused reader gave back (`ReadPause::pause`).
    pub fn resume_reading<H: InboundHandler + 'static>(
        &mut self,
        parts: ReaderParts<H>,
        pause: Rc<ReadPause<H>>,
    ) {
        self.spawn_reader(parts, BytesMut::new(), Some(pause));
    }

    /// The reader task was paused: it no longer reads, so there is nothing to cancel.
    pub fn reading_paused(&mut self) {
        self.canceller = None;
    }

    fn spawn_reader<H: InboundHandler + 'static>(
        &mut self,
        parts: ReaderParts<H>,
        first: BytesMut,
        pause: Option<Rc<ReadPause<H>>>,
    ) {
        let canceller = Canceller::new();
        let reader = read_loop(parts, first, canceller.handle(), pause);
        self.canceller = Some(canceller);
        // A panicking reader ends the stream as a closed peer would.
        let closed = self.peer_closed.clone();
        spawn_connection_task("stream read loop", reader, move || closed.fire());
    }

    /// Lets the fan-out write `queue`'s messages straight to the socket, framed by `frame`,
    /// while the writer is parked (`park`). Plain TCP only: a TLS stream keeps its writer's path.
    pub fn write_directly(&mut self, queue: &Rc<OutboundQueue>, frame: Framing) {
        if !matches!(self.transport, Transport::Plain) || self.direct.is_some() {
            return;
        }
        let direct = DirectWrite::install(
            self.writes.fd(),
            frame,
            self.metrics.clone(),
            self.exchange.clone(),
            queue,
        );
        self.direct = Some(direct);
    }

    /// Parks the writer on `queue` for as long as the guard lives (around its wait for work):
    /// the fan-out writes for it meanwhile. Only when it has nothing pending, no stall and no
    /// handed-back rest: none of its own bytes may go after the fan-out's.
    pub fn park<'q>(&self, queue: &'q OutboundQueue) -> Option<Parked<'q>> {
        if self.direct.is_none() || self.has_pending() {
            return None;
        }
        queue.park()
    }

    /// Whether something of the writer's own waits to be written: buffered bytes, a stalled
    /// write's rest, or the rest of a direct write handed back.
    fn has_pending(&self) -> bool {
        !self.batch.is_empty()
            || !self.write_buf.is_empty()
            || self.stalled
            || self
                .direct
                .as_ref()
                .is_some_and(|direct| direct.has_handoff())
    }

    /// Writes `frame` (one of the writer's own control frames: a keep-alive ping or heartbeat)
    /// at once, without waiting, for a hibernating stream whose writer task is not running: the
    /// direct path's non-blocking write. Only on plain TCP with nothing else pending.
    pub fn write_now(&mut self, frame: &[u8]) -> WroteNow {
        if !matches!(self.transport, Transport::Plain) || self.has_pending() {
            return WroteNow::Nothing;
        }
        let mut batch = WriteBatch::new();
        batch.put_slice(frame);
        batch.seal();
        let sent = send_now(self.writes.fd(), &mut batch);
        if sent == 0 {
            return WroteNow::Nothing;
        }
        self.exchange.wrote(sent);
        if sent == frame.len() {
            return WroteNow::All;
        }
        // Exactly the rest, sealed: `flush` writes it before anything else.
        self.batch = batch;
        WroteNow::Part
    }

    /// The newest message the fan-out wrote directly since `take_direct_last`: newer than any
    /// the writer framed before.
    pub fn direct_last(&self) -> Option<MessageId> {
        self.direct.as_ref().and_then(|direct| direct.last())
    }

    /// Takes `direct_last` (the writer is about to frame newer messages).
    pub fn take_direct_last(&self) -> Option<MessageId> {
        self.direct.as_ref().and_then(|direct| direct.take_last())
    }

    /// When the fan-out last wrote directly.
    pub fn direct_wrote_at(&self) -> Option<monoio::time::Instant> {
        self.direct.as_ref().and_then(|direct| direct.wrote_at())
    }

    /// Writes everything pending: `write_buf`, then `batch`, with one gathered write (after a
    /// stall: the unsent rest first, then `write_buf`). The rest of a direct write the socket
    /// did not take whole goes before all of it, and its messages are counted once written.
    /// Fails when the peer is gone, or with a stall error once no byte was accepted for the
    /// stall timeout.
    pub async fn flush(&mut self) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.batch);
        if !self.write_buf.is_empty() {
            let encoded = self.write_buf.split().freeze();
            if self.stalled {
                out.push_part(encoded);
            } else {
                out.prepend(encoded);
            }
        }
        let mut handoff = self
            .direct
            .as_ref()
            .and_then(|direct| direct.take_handoff());
        if let Some(handoff) = handoff.as_mut() {
            out.prepend_batch(std::mem::take(&mut handoff.rest));
        }
        if out.is_empty() {
            self.batch = out;
            return Ok(());
        }
        let stall = if self.stalled {
            self.stall_timeout.min(LAST_WORDS_GRACE)
        } else {
            self.stall_timeout
        };
        let total = out.len();
        let (result, mut rest) = self
            .transport
            .write_all(&mut self.writes, &mut self.writer, out, stall)
            .await;
        if let (Ok(()), Some(handoff), Some(direct)) = (&result, handoff, &self.direct) {
            direct.settle(*handoff);
        }
        match &result {
            Ok(()) => rest.clear(),
            Err(err) if is_stall(err) && !self.stalled => {
                self.stalled = true;
                ShardMetrics::inc(&self.metrics.streams_stalled_total);
            }
            Err(_) => {}
        }
        self.exchange.wrote(total.saturating_sub(rest.len()));
        self.batch = rest;
        result
    }

    /// The request this stream answers.
    pub fn exchange(&self) -> &Rc<Exchange> {
        &self.exchange
    }

    /// Stops the reader task (its read, or its wait for the socket); the socket closes once
    /// both halves are gone.
    pub fn stop_reading(&mut self) {
        if let Some(canceller) = self.canceller.take() {
            canceller.cancel();
        }
        self.peer_closed.fire();
    }
}

impl Drop for Duplex {
    fn drop(&mut self) {
        // The socket closes with this: the fan-out must not write to its descriptor any more.
        if let Some(direct) = &self.direct {
            direct.uninstall();
        }
        self.stop_reading();
    }
}
