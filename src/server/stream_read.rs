//! The reading half of a full-duplex stream (`duplex`): its own task, which waits until the
//! client sends something, reads it into a buffer borrowed from the shard's pool (`read_pool`)
//! and hands it to the stream's `InboundHandler`.
//!
//! An idle stream holds no read buffer: it waits for readability (an io_uring poll, or the epoll
//! readiness), and only a socket with bytes waiting gets a buffer, given back as soon as the
//! handler consumed them. Reads are never dropped mid-flight (with io_uring that would lose
//! bytes): a read is stopped through monoio's cancellation handle, the wait for readability by
//! the stream's end signal, which the writer fires when it stops reading.

use std::future::{poll_fn, Future};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
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
    /// Ciphertext read, not yet absorbed (TLS only: the start of a record); lent like the
    /// plaintext buffer, and given back when a read leaves no partial record.
    pub(super) tls_in: Option<LentBuffer>,
    pub(super) metrics: Arc<ShardMetrics>,
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

    /// Bytes this reader holds (a partial TLS record).
    fn held_bytes(&self) -> usize {
        self.tls_in.as_ref().map_or(0, |buf| buf.capacity())
    }

    /// Reads once into the free space of `buf` (at least `chunk` bytes). Returns the bytes
    /// added to `buf` (0: the peer closed) and how many the read asked for; over TLS, reads
    /// until a record gives plaintext.
    async fn read(
        &mut self,
        buf: BytesMut,
        chunk: usize,
        cancel: &CancelHandle,
    ) -> (io::Result<(usize, usize)>, BytesMut) {
        let Some(session) = &self.tls else {
            let mut spare = spare_capacity(buf, chunk);
            let asked = spare.bytes_total();
            let (result, spare) = self.reader.cancelable_read(spare, cancel.clone()).await;
            return (result.map(|n| (n, asked)), spare.into_inner());
        };
        let mut buf = buf;
        loop {
            let mut tls_in = match self.tls_in.take() {
                Some(held) => held,
                None => LentBuffer::lend(&self.metrics),
            };
            let mut spare = spare_capacity(std::mem::take(&mut *tls_in), chunk);
            let asked = spare.bytes_total();
            let (result, spare) = self.reader.cancelable_read(spare, cancel.clone()).await;
            *tls_in = spare.into_inner();
            match result {
                Ok(0) => return (Ok((0, asked)), buf),
                Ok(_) => {}
                Err(error) => return (Err(error), buf),
            }
            let absorbed = session.absorb(&mut tls_in, &mut buf);
            if !tls_in.is_empty() {
                self.tls_in = Some(tls_in);
            }
            match absorbed {
                Ok(absorbed) if absorbed.plaintext > 0 => {
                    return (Ok((absorbed.plaintext, asked)), buf)
                }
                Ok(absorbed) if absorbed.closed => return (Ok((0, asked)), buf),
                Ok(_) => {}
                Err(error) => return (Err(error), buf),
            }
        }
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
    // socket answers the poll at once).
    loop {
        let held_bytes = held.as_ref().map_or(0, |buf: &LentBuffer| buf.capacity());
        gauge.set(held_bytes + reader.held_bytes());
        if held.is_none() {
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
            Ok((n, _)) if n > 0 => {
                exchange.read(n);
                fault::trip(Site::ReadLoop, &buf);
                if !handler.on_bytes(&mut buf).await {
                    break;
                }
                held = (!buf.is_empty()).then_some(buf);
            }
            _ => break,
        }
    }
    ended.fire();
}
