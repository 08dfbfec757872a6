//! The reading half of a full-duplex stream (`duplex`): its own task, which waits until the
//! client sends something, reads it into a buffer borrowed from the shard's pool (`read_pool`)
//! and hands it to the stream's `InboundHandler`.
//!
//! An idle stream holds no read buffer: it waits for readability (an io_uring poll, or the epoll
//! readiness), and only a socket with bytes waiting gets a buffer, given back as soon as the
//! handler consumed them. Reads are never dropped mid-flight (with io_uring that would lose
//! bytes): a read is stopped through monoio's cancellation handle, the wait for readability by
//! the stream's end signal, which the writer fires when it stops reading.
//!
//! Over TLS the ciphertext is read into a buffer lent for that read only, and the start of a
//! record still incomplete waits in the TLS session (rustls's receive buffer, which a TLS
//! connection has all its life, idle or not): an idle TLS stream and one whose client sent half
//! a record and stopped hold no pool buffer, and `read_buffer_bytes` counts the record's bytes.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::BytesMut;
use monoio::io::{CancelHandle, CancelableAsyncReadRent, OwnedReadHalf};
use monoio::net::TcpStream;

use crate::metrics::ShardMetrics;
use crate::observe::exchange::Exchange;
use crate::server::conn::{BufferGauge, READ_CHUNK_BYTES};
use crate::server::duplex::InboundHandler;
use crate::server::read_pool::LentBuffer;
use crate::shard::fault::{self, Site};
use crate::shard::io_buf::spare_capacity;
use crate::shard::LocalSignal;
use crate::tls::TlsSession;

/// The reading half, with the TLS session that decrypts what it reads on a TLS connection.
pub(crate) struct StreamReader {
    pub(super) reader: OwnedReadHalf<TcpStream>,
    pub(super) tls: Option<TlsSession>,
    pub(super) metrics: Arc<ShardMetrics>,
}

/// What one read gave.
enum ReadOutcome {
    /// Bytes added to the buffer.
    Bytes(usize),
    /// Nothing for the handler yet (TLS: the start of a record, which waits in the session, or a
    /// record without plaintext).
    Nothing,
    /// The peer closed (end of stream, or TLS close_notify).
    Closed,
}

impl StreamReader {
    /// Waits until the socket has bytes to read, or an end or error to report, holding no buffer.
    /// (Not an `async fn`: a wrapper future would add its own state to every wait.)
    fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        // monoio has no readiness wait on a half, and a pending read instead would need a
        // buffer all along.
        self.stream().readable(false)
    }

    /// The stream this half reads.
    pub(super) fn stream(&self) -> &TcpStream {
        // SAFETY: the halves of a split stream share it through an `Rc<UnsafeCell>`, which keeps
        // it in place for as long as either half lives; monoio's own `peer_addr` on a half reads
        // it the same way. Callers only read the descriptor or clone its handle for a poll
        // operation; nothing replaces or moves the stream meanwhile.
        unsafe { &*self.reader.0.get() }
    }

    /// Bytes this reader holds besides the handler's buffer: the start of a TLS record, which
    /// the TLS session keeps until the rest arrives.
    fn held_bytes(&self) -> usize {
        self.tls.as_ref().map_or(0, TlsSession::held_record_bytes)
    }

    /// Reads once into the free space of `buf` (at least `chunk` bytes). Over TLS the socket's
    /// bytes go to a buffer lent for this read only (the caller waited for readability, so the
    /// read completes at once) and then to the session, which keeps the start of a record that
    /// is not complete: between reads a TLS stream holds no pool buffer for its ciphertext.
    async fn read(
        &mut self,
        buf: BytesMut,
        chunk: usize,
        cancel: &CancelHandle,
    ) -> (io::Result<ReadOutcome>, BytesMut) {
        let Some(session) = &self.tls else {
            let spare = spare_capacity(buf, chunk);
            let (result, spare) = self.reader.cancelable_read(spare, cancel.clone()).await;
            let outcome = result.map(|n| match n {
                0 => ReadOutcome::Closed,
                n => ReadOutcome::Bytes(n),
            });
            return (outcome, spare.into_inner());
        };
        let mut cipher = LentBuffer::lend(&self.metrics);
        let spare = spare_capacity(std::mem::take(&mut *cipher), chunk);
        let (result, spare) = self.reader.cancelable_read(spare, cancel.clone()).await;
        *cipher = spare.into_inner();
        match result {
            Ok(0) => return (Ok(ReadOutcome::Closed), buf),
            Ok(_) => {}
            Err(error) => return (Err(error), buf),
        }
        let mut buf = buf;
        // Every byte goes to the session (or fails it): `cipher` goes back to the pool empty.
        let outcome = match session.absorb(&mut cipher, &mut buf) {
            Ok(absorbed) if absorbed.plaintext > 0 => Ok(ReadOutcome::Bytes(absorbed.plaintext)),
            Ok(absorbed) if absorbed.closed => Ok(ReadOutcome::Closed),
            Ok(_) => Ok(ReadOutcome::Nothing),
            Err(error) => Err(error),
        };
        (outcome, buf)
    }
}

/// What a stream's reader holds between reads, with nothing of the client's pending: enough to
/// start its read loop again (`Duplex::resume_reading`).
pub struct ReaderParts<H> {
    pub(super) reader: StreamReader,
    pub(super) gauge: BufferGauge,
    pub(super) handler: H,
    /// The stream's end signal (`Duplex::peer_closed`).
    pub(super) ended: Rc<LocalSignal>,
    pub(super) exchange: Rc<Exchange>,
}

impl<H> ReaderParts<H> {
    /// Waits until the socket has bytes to read (or an end or error to report), holding no
    /// buffer and no task of its own: a hibernating stream's wait.
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        self.reader.readable()
    }

    /// The stream's handler (a hibernating WebSocket's frame decoder and publisher).
    pub fn handler(&self) -> &H {
        &self.handler
    }
}

/// The writer's hold on its reader task: while the reader waits for the socket holding nothing
/// (plain TCP, no partial frame), `pause` ends the task and gives back its `ReaderParts`.
pub struct ReadPause<H> {
    /// True while the reader waits for readability holding nothing.
    waiting: Cell<bool>,
    /// The writer asked the reader to stop and hand its parts back.
    requested: Cell<bool>,
    reader: RefCell<Option<Waker>>,
    writer: RefCell<Option<Waker>>,
    /// The parts on their way to the writer (boxed: a running stream holds no room for them).
    parts: RefCell<Option<Box<ReaderParts<H>>>>,
    /// Reads the loop made (the writer's measure of a quiet client).
    reads: Cell<u64>,
}

impl<H> ReadPause<H> {
    pub(super) fn new() -> ReadPause<H> {
        ReadPause {
            waiting: Cell::new(false),
            requested: Cell::new(false),
            reader: RefCell::new(None),
            writer: RefCell::new(None),
            parts: RefCell::new(None),
            reads: Cell::new(0),
        }
    }

    /// True while the reader waits for the socket holding nothing, so `pause` would succeed.
    pub fn is_waiting(&self) -> bool {
        self.waiting.get()
    }

    /// Reads so far.
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }

    /// Ends the reader task and takes what it holds; `None` when it was not waiting (it reads,
    /// holds part of a frame, or has ended).
    pub async fn pause(&self) -> Option<Box<ReaderParts<H>>> {
        if !self.waiting.get() {
            return None;
        }
        self.requested.set(true);
        if let Some(waker) = self.reader.borrow_mut().take() {
            waker.wake();
        }
        poll_fn(|cx| {
            if let Some(parts) = self.parts.borrow_mut().take() {
                return Poll::Ready(Some(parts));
            }
            if !self.requested.get() {
                return Poll::Ready(None);
            }
            *self.writer.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// The reader's answer: its parts (paused), or none (it ended some other way).
    fn answer(&self, parts: Option<ReaderParts<H>>) {
        self.waiting.set(false);
        self.requested.set(false);
        *self.parts.borrow_mut() = parts.map(Box::new);
        if let Some(waker) = self.writer.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// How a read loop's wait for the socket ended.
enum Woken {
    /// The writer paused the reader.
    Paused,
    /// The stream ended.
    Stopped,
    /// The socket is readable, or reported an error.
    Readable(io::Result<()>),
}

/// Reads until the peer closes, a read fails, `handler` says stop, or `ended` fires (the writer
/// stopped reading); fires `ended` itself when it stops for any other reason. `first` holds the
/// bytes that came with the request head (e.g. a first WebSocket frame).
pub(super) async fn read_loop<H: InboundHandler>(
    mut parts: ReaderParts<H>,
    first: BytesMut,
    cancel: CancelHandle,
    pause: Option<Rc<ReadPause<H>>>,
) {
    // Answers a pause request even when this task is dropped or panics mid-way: a writer
    // waiting for the answer must not wait forever.
    let answer = AnswerOnDrop(pause);
    let paused = read_until_paused(&mut parts, first, &cancel, answer.0.as_deref()).await;
    if !paused {
        parts.ended.fire();
    }
    if let Some(pause) = &answer.0 {
        pause.answer(paused.then_some(parts));
    }
}

/// Answers "not paused" if the read loop ends without answering (dropped or panicked, maybe in
/// its wait), and says it no longer waits: a later `pause` returns `None` at once.
struct AnswerOnDrop<H>(Option<Rc<ReadPause<H>>>);

impl<H> Drop for AnswerOnDrop<H> {
    fn drop(&mut self) {
        if let Some(pause) = &self.0 {
            pause.waiting.set(false);
            if pause.requested.get() {
                pause.answer(None);
            }
        }
    }
}

/// The loop of `read_loop`: true when the writer paused it (its parts go back), false when the
/// stream ended.
async fn read_until_paused<H: InboundHandler>(
    parts: &mut ReaderParts<H>,
    first: BytesMut,
    cancel: &CancelHandle,
    pause: Option<&ReadPause<H>>,
) -> bool {
    let metrics = parts.reader.metrics.clone();
    // The buffer that holds the start of a frame between reads; `None` between frames.
    let mut held = None;
    if first.is_empty() {
        // The request phase's buffer: freed now, not kept for the stream's life.
        drop(first);
    } else {
        // A read as any other (a handler's own count of reads must not run ahead of it).
        if let Some(pause) = pause {
            pause.reads.set(pause.reads.get() + 1);
        }
        let mut first = LentBuffer::adopt(first, &metrics);
        if !parts.handler.on_bytes(&mut first).await {
            return false;
        }
        held = (!first.is_empty()).then_some(first);
    }
    // Every read without a partial message first waits for readability, also after a read
    // that filled its buffer: guessing "more is waiting" left a 4 KiB buffer in a pending read
    // for the whole idle time whenever a burst ended exactly at the buffer's end (and a ready
    // socket answers the poll at once). A TLS read always waits: its ciphertext buffer is lent
    // only for a read that completes at once.
    let tls = parts.reader.tls.is_some();
    loop {
        let held_bytes = held.as_ref().map_or(0, |buf: &LentBuffer| buf.capacity());
        parts.gauge.set(held_bytes + parts.reader.held_bytes());
        if held.is_none() || tls {
            // Only a plain stream holding nothing can be paused.
            let pausable = pause.filter(|_| held.is_none() && !tls);
            let mut readable = std::pin::pin!(parts.reader.readable());
            let mut stopped = std::pin::pin!(parts.ended.wait());
            let woken = poll_fn(|cx| {
                if let Some(pause) = pausable {
                    if pause.requested.get() {
                        return Poll::Ready(Woken::Paused);
                    }
                    let mut waker = pause.reader.borrow_mut();
                    if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *waker = Some(cx.waker().clone());
                    }
                    pause.waiting.set(true);
                }
                if stopped.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Woken::Stopped);
                }
                readable.as_mut().poll(cx).map(Woken::Readable)
            });
            let woken = woken.await;
            if let Some(pause) = pausable {
                pause.waiting.set(false);
            }
            match woken {
                Woken::Paused => return true,
                Woken::Stopped => return false,
                Woken::Readable(Err(_)) => break,
                Woken::Readable(Ok(())) => {}
            }
        }
        if let Some(pause) = pause {
            pause.reads.set(pause.reads.get() + 1);
        }
        let mut buf = held.take().unwrap_or_else(|| LentBuffer::lend(&metrics));
        let (result, read_into) = parts
            .reader
            .read(std::mem::take(&mut *buf), READ_CHUNK_BYTES, cancel)
            .await;
        *buf = read_into;
        parts.gauge.set(buf.capacity() + parts.reader.held_bytes());
        match result {
            Ok(ReadOutcome::Bytes(n)) => {
                parts.exchange.read(n);
                fault::trip(Site::ReadLoop, &buf);
                if !parts.handler.on_bytes(&mut buf).await {
                    break;
                }
                held = (!buf.is_empty()).then_some(buf);
            }
            // The start of a TLS record: it waits in the session; an empty buffer goes back.
            Ok(ReadOutcome::Nothing) => held = (!buf.is_empty()).then_some(buf),
            Ok(ReadOutcome::Closed) | Err(_) => break,
        }
    }
    false
}
