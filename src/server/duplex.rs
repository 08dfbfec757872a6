//! Full-duplex streaming over one connection (WebSocket, SSE): the socket is split, a reader task
//! feeds inbound bytes to a callback, and the entrypoint's own task writes.
//!
//! Reads are never dropped mid-flight (with io_uring that would lose bytes): the reader is a task
//! of its own and is stopped through monoio's cancellation handle when the stream ends.

use std::io;
use std::rc::Rc;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{
    AsyncWriteRentExt, CancelableAsyncReadRent, Canceller, OwnedReadHalf, OwnedWriteHalf, Splitable,
};
use monoio::net::TcpStream;

use crate::runtime::LocalSignal;
use crate::server::conn::Conn;

/// How much room each read asks the kernel to fill.
const READ_CHUNK_BYTES: usize = 4096;

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

/// The writing side of a split connection.
pub struct Duplex {
    writer: OwnedWriteHalf<TcpStream>,
    canceller: Option<Canceller>,
    /// Fired when the peer closed or the read failed.
    pub peer_closed: Rc<LocalSignal>,
    /// Bytes encoded but not yet written.
    pub write_buf: BytesMut,
}

impl Duplex {
    /// Splits `conn`; `handler` gets the read buffer after every read.
    pub fn start(conn: Conn, handler: impl InboundHandler + 'static) -> Duplex {
        let (stream, read_buf, write_buf) = conn.into_parts();
        let (reader, writer) = stream.into_split();
        let canceller = Canceller::new();
        let peer_closed = Rc::new(LocalSignal::new());
        monoio::spawn(read_loop(
            reader,
            read_buf,
            handler,
            canceller.handle(),
            peer_closed.clone(),
        ));
        Duplex {
            writer,
            canceller: Some(canceller),
            peer_closed,
            write_buf,
        }
    }

    /// Writes everything in `write_buf`.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.write_buf);
        let (result, mut buf) = self.writer.write_all(buf).await;
        buf.clear();
        self.write_buf = buf;
        result.map(|_| ())
    }

    /// Stops the reader task; the socket closes once both halves are gone.
    pub fn stop_reading(&mut self) {
        if let Some(canceller) = self.canceller.take() {
            canceller.cancel();
        }
    }
}

impl Drop for Duplex {
    fn drop(&mut self) {
        self.stop_reading();
    }
}

async fn read_loop(
    mut reader: OwnedReadHalf<TcpStream>,
    mut buf: BytesMut,
    mut handler: impl InboundHandler,
    cancel: monoio::io::CancelHandle,
    peer_closed: Rc<LocalSignal>,
) {
    // Bytes that arrived together with the request head (e.g. a first WebSocket frame).
    if !buf.is_empty() && !handler.on_bytes(&mut buf).await {
        peer_closed.fire();
        return;
    }
    loop {
        buf.reserve(READ_CHUNK_BYTES);
        // Into the spare capacity, after any partial frame (see `Conn::read_more`).
        let filled_bytes = buf.len();
        let into_spare = buf.slice_mut(filled_bytes..);
        let (result, returned) = reader.cancelable_read(into_spare, cancel.clone()).await;
        buf = returned.into_inner();
        match result {
            Ok(n) if n > 0 => {
                if !handler.on_bytes(&mut buf).await {
                    break;
                }
            }
            _ => break,
        }
    }
    peer_closed.fire();
}
