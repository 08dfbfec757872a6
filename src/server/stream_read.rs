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

use std::future::{poll_fn, Future};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

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
pub(super) struct StreamReader {
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
    async fn readable(&self) -> io::Result<()> {
        // SAFETY: the halves of a split stream share it through an `Rc<UnsafeCell>`, which keeps
        // it in place for as long as either half lives; monoio's own `peer_addr` on a half reads
        // it the same way. `readable` takes `&self` and only clones the descriptor's handle for
        // its poll operation; nothing replaces or moves the stream meanwhile. monoio has no
        // readiness wait on a half, and a pending read instead would need a buffer all along.
        let stream: &TcpStream = unsafe { &*self.reader.0.get() };
        stream.readable(false).await
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

/// Reads until the peer closes, a read fails, `handler` says stop, or `ended` fires (the writer
/// stopped reading); fires `ended` itself when it stops for any other reason. `first` holds the
/// bytes that came with the request head (e.g. a first WebSocket frame).
pub(super) async fn read_loop(
    mut reader: StreamReader,
    first: BytesMut,
    mut gauge: BufferGauge,
    mut handler: impl InboundHandler,
    cancel: CancelHandle,
    ended: Rc<LocalSignal>,
    exchange: Rc<Exchange>,
) {
    let metrics = reader.metrics.clone();
    // The buffer that holds the start of a frame between reads; `None` between frames.
    let mut held = None;
    if first.is_empty() {
        // The request phase's buffer: freed now, not kept for the stream's life.
        drop(first);
    } else {
        let mut first = LentBuffer::adopt(first, &metrics);
        if !handler.on_bytes(&mut first).await {
            ended.fire();
            return;
        }
        held = (!first.is_empty()).then_some(first);
    }
    // Every read without a partial message first waits for readability, also after a read
    // that filled its buffer: guessing "more is waiting" left a 4 KiB buffer in a pending read
    // for the whole idle time whenever a burst ended exactly at the buffer's end (and a ready
    // socket answers the poll at once). A TLS read always waits: its ciphertext buffer is lent
    // only for a read that completes at once.
    let tls = reader.tls.is_some();
    loop {
        let held_bytes = held.as_ref().map_or(0, |buf: &LentBuffer| buf.capacity());
        gauge.set(held_bytes + reader.held_bytes());
        if held.is_none() || tls {
            let mut readable = std::pin::pin!(reader.readable());
            let mut stopped = std::pin::pin!(ended.wait());
            let woken = poll_fn(|cx| match stopped.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => readable.as_mut().poll(cx).map(Some),
            });
            match woken.await {
                None => return,
                Some(Err(_)) => break,
                Some(Ok(())) => {}
            }
        }
        let mut buf = held.take().unwrap_or_else(|| LentBuffer::lend(&metrics));
        let (result, read_into) = reader
            .read(std::mem::take(&mut *buf), READ_CHUNK_BYTES, &cancel)
            .await;
        *buf = read_into;
        gauge.set(buf.capacity() + reader.held_bytes());
        match result {
            Ok(ReadOutcome::Bytes(n)) => {
                exchange.read(n);
                fault::trip(Site::ReadLoop, &buf);
                if !handler.on_bytes(&mut buf).await {
                    break;
                }
                held = (!buf.is_empty()).then_some(buf);
            }
            // The start of a TLS record: it waits in the session; an empty buffer goes back.
            Ok(ReadOutcome::Nothing) => held = (!buf.is_empty()).then_some(buf),
            Ok(ReadOutcome::Closed) | Err(_) => break,
        }
    }
    ended.fire();
}
