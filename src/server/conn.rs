//! A client connection's socket and buffers, with the few I/O operations every phase needs.
//! monoio's I/O takes buffers by value (io_uring owns them while the kernel works); these helpers
//! hide that dance.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;

use crate::codec::http_response::{
    encode_response_head, encode_text_response, BodyKind, ResponseHead,
};
use crate::metrics::ShardMetrics;

/// How much room a read asks the kernel to fill.
const READ_CHUNK_BYTES: usize = 4096;

/// A connection's stream and buffers.
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read but not consumed yet (pipelined requests, body, WebSocket frames).
    pub read_buf: BytesMut,
    /// Bytes encoded but not written yet.
    pub write_buf: BytesMut,
    gauge: BufferGauge,
}

impl Conn {
    /// Wraps an accepted socket.
    pub fn new(stream: TcpStream, metrics: Arc<ShardMetrics>) -> Conn {
        Conn {
            stream,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            gauge: BufferGauge { metrics, bytes: 0 },
        }
    }

    /// This shard's metrics.
    pub fn metrics(&self) -> &Arc<ShardMetrics> {
        &self.gauge.metrics
    }

    /// Reads once; returns the number of bytes added (0 = the peer closed).
    pub async fn read_more(&mut self) -> io::Result<usize> {
        self.read_buf.reserve(READ_CHUNK_BYTES);
        let buf = std::mem::take(&mut self.read_buf);
        // Into the spare capacity: monoio reads a plain BytesMut from its start, which would
        // overwrite unconsumed bytes (a pipelined request, the rest of a split head or body).
        let filled_bytes = buf.len();
        let (result, slice) = self.stream.read(buf.slice_mut(filled_bytes..)).await;
        self.read_buf = slice.into_inner();
        self.gauge.set(self.read_buf.capacity());
        result
    }

    /// Writes everything in `write_buf`.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.write_buf);
        let (result, mut buf) = self.stream.write_all(buf).await;
        buf.clear();
        self.write_buf = buf;
        result.map(|_| ())
    }

    /// Writes a complete plain-text response (errors, 404s).
    pub async fn respond_text(&mut self, status: u16, body: &str, close: bool) -> io::Result<()> {
        if (400..500).contains(&status) {
            ShardMetrics::inc(&self.gauge.metrics.http_client_errors_total);
        }
        encode_text_response(&mut self.write_buf, status, body, close);
        self.flush().await
    }

    /// Writes a 405 that lists the methods this API serves, in the body and in `Allow`.
    pub async fn respond_method_not_allowed(
        &mut self,
        method: &str,
        allow: &str,
        close: bool,
    ) -> io::Result<()> {
        ShardMetrics::inc(&self.gauge.metrics.http_client_errors_total);
        let body = format!("method {method} is not allowed on this API; use {allow}");
        encode_response_head(
            &mut self.write_buf,
            &ResponseHead {
                status: 405,
                headers: &[
                    ("Allow", allow),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                body: BodyKind::Length(body.len()),
                close,
            },
        );
        self.write_buf.extend_from_slice(body.as_bytes());
        self.flush().await
    }

    /// Splits off the socket for full-duplex streaming; the buffers go with it.
    pub fn into_parts(self) -> (TcpStream, BytesMut, BytesMut) {
        let Conn {
            stream,
            read_buf,
            write_buf,
            gauge,
        } = self;
        drop(gauge);
        (stream, read_buf, write_buf)
    }
}

/// Keeps the shard's read-buffer gauge in step with one connection's buffer capacity.
struct BufferGauge {
    metrics: Arc<ShardMetrics>,
    bytes: usize,
}

impl BufferGauge {
    fn set(&mut self, bytes: usize) {
        if bytes > self.bytes {
            ShardMetrics::add(&self.metrics.read_buffer_bytes, (bytes - self.bytes) as u64);
        } else {
            ShardMetrics::sub(&self.metrics.read_buffer_bytes, (self.bytes - bytes) as u64);
        }
        self.bytes = bytes;
    }
}

impl Drop for BufferGauge {
    fn drop(&mut self) {
        self.set(0);
    }
}
