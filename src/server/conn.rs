//! A client connection's socket and buffers, with the few I/O operations every phase needs.
//! monoio's I/O takes buffers by value (io_uring owns them while the kernel works); these helpers
//! hide that dance.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::AsyncReadRent;
use monoio::net::TcpStream;

use crate::codec::http_head::head_terminated;
use crate::codec::http_response::{encode_response_head, BodyKind, ResponseHead};
use crate::config::Timeouts;
use crate::metrics::ShardMetrics;
use crate::observe::exchange::Exchange;
use crate::rate_limit::Meter;
use crate::server::cors::AnswerHeaders;
use crate::server::request_id::RequestId;
use crate::server::stall_write::{is_stall, StallWriter};
use crate::server::transport::Transport;
use crate::server::write_batch::WriteBatch;
use crate::shard::io_buf::spare_capacity;
use crate::tls::{Established, PeerCertificates, TlsSession};
use rustls::pki_types::CertificateDer;

/// How much room a read asks the kernel to fill.
pub const READ_CHUNK_BYTES: usize = 4096;
/// Most answer bytes held back while a pipelining client's next requests are answered.
const PIPELINED_ANSWER_BYTES: usize = 64 * 1024;
/// Longest an answer is held back for that (publishes to a broker may each wait for its ack).
const PIPELINED_ANSWER_DELAY: Duration = Duration::from_millis(1);

/// A connection's stream and buffers.
pub struct Conn {
    /// Plaintext or TLS; declared before `stream`, which must outlive it.
    transport: Transport,
    /// The socket.
    stream: TcpStream,
    /// Ciphertext read from the socket, before the TLS session turns it into `read_buf` bytes.
    tls_in: BytesMut,
    /// Bytes read but not consumed yet (pipelined requests, body, WebSocket frames).
    pub read_buf: BytesMut,
    /// Bytes encoded but not written yet.
    pub write_buf: BytesMut,
    /// Since when answers are held back in `write_buf` (`flush_unless_pipelined`).
    held_since: Option<Instant>,
    gauge: BufferGauge,
    writes: StallWriter,
    /// An answer whose write makes no progress for this long is abandoned (the client stopped
    /// reading) and the connection closed.
    reply_stall: Duration,
    /// The same for the WebSocket or SSE stream this connection may turn into.
    stream_stall: Duration,
    /// The current request's record (its id, status, counts); replaced per request.
    exchange: Rc<Exchange>,
    /// The client's address, for the access log.
    peer: Option<SocketAddr>,
    /// The current request is a HEAD: its answers carry no content (RFC 9110 §9.3.2), or a
    /// client reading the next answer on this connection would read our body as its start.
    head_request: bool,
    /// Who the current request runs as, once the plan check let it in (`crate::security`).
    pub access: Option<crate::security::Access>,
    /// Headers every answer to the current request carries, whatever it is (CORS: a page must
    /// be able to read an error too); reset per request.
    answer_headers: AnswerHeaders,
    /// The current request's rate-limit counters (`None`: its plan limits nothing); taken by a
    /// WebSocket or SSE stream to pace its messages. Reset per request.
    pub meter: Option<std::rc::Rc<Meter>>,
}

impl Conn {
    /// Wraps an accepted socket (with its TLS session, once the handshake is done); `timeouts`
    /// gives its write stall timeouts.
    pub fn new(
        stream: TcpStream,
        tls: Option<Established>,
        metrics: Arc<ShardMetrics>,
        timeouts: &Timeouts,
    ) -> Conn {
        let (transport, read_buf) = match tls {
            None => (Transport::Plain, BytesMut::new()),
            Some(tls) => (
                Transport::tls(tls.session, stream.as_raw_fd()),
                tls.early_plaintext,
            ),
        };
        Conn {
            peer: stream.peer_addr().ok(),
            writes: StallWriter::new(stream.as_raw_fd()),
            transport,
            stream,
            tls_in: BytesMut::new(),
            read_buf,
            write_buf: BytesMut::new(),
            held_since: None,
            gauge: BufferGauge { metrics, bytes: 0 },
            reply_stall: timeouts.reply_stall,
            stream_stall: timeouts.stream_stall,
            exchange: Rc::new(Exchange::new()),
            head_request: false,
            access: None,
            answer_headers: Vec::new(),
            meter: None,
        }
    }

    /// A new request starts on this connection: it gets its own id.
    pub fn begin_request(&mut self) {
        self.exchange = Rc::new(Exchange::new());
        self.head_request = false;
        self.access = None;
        self.answer_headers.clear();
        self.meter = None;
    }

    /// Adds headers every answer to the current request carries (`X-RateLimit-*`).
    pub fn add_answer_headers(&mut self, more: impl IntoIterator<Item = (&'static str, String)>) {
        self.answer_headers.extend(more);
    }

    /// Sets the headers every answer to the current request carries (see `encode_head`).
    pub fn set_answer_headers(&mut self, headers: AnswerHeaders) {
        self.answer_headers = headers;
    }

    /// The headers every answer to the current request carries.
    pub fn answer_headers(&self) -> &AnswerHeaders {
        &self.answer_headers
    }

    /// Encodes `head` into `write_buf`, followed by the current request's answer headers.
    pub fn encode_head(&mut self, head: &ResponseHead<'_>) {
        if self.answer_headers.is_empty() {
            encode_response_head(&mut self.write_buf, head);
            return;
        }
        let headers = with_answer_headers(head.headers, &self.answer_headers);
        encode_response_head(
            &mut self.write_buf,
            &ResponseHead {
                headers: &headers,
                ..*head
            },
        );
    }

    /// Marks the current request as a HEAD, whose answers are sent without their content.
    pub fn answer_head_request(&mut self, is_head: bool) {
        self.head_request = is_head;
    }

    /// The current request's id (`X-Request-Id` of every answer, and its log lines).
    pub fn request_id(&self) -> RequestId {
        self.exchange.request_id()
    }

    /// The current request's record.
    pub fn exchange(&self) -> &Rc<Exchange> {
        &self.exchange
    }

    /// The client's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The write stall timeout of the streams this connection turns into.
    pub fn stream_stall(&self) -> Duration {
        self.stream_stall
    }

    /// This shard's metrics.
    pub fn metrics(&self) -> &Arc<ShardMetrics> {
        &self.gauge.metrics
    }

    /// The client certificate of a TLS connection whose client presented one (verified against
    /// `gateway.tls.clientCaFile` in the handshake): the end-entity certificate (DER).
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.peer_certificates().map(PeerCertificates::end_entity)
    }

    /// The same with the rest of the chain the client sent and the SHA-256 fingerprint
    /// (`PeerCertificates::sha256_hex`), e.g. to match it to an application (mTLS plan).
    pub fn peer_certificates(&self) -> Option<&PeerCertificates> {
        self.transport.peer_certificates()
    }

    /// True for a connection accepted on the TLS listener.
    pub fn is_tls(&self) -> bool {
        self.transport.session().is_some()
    }

    /// Reads once; returns the number of bytes added (0 = the peer closed). Answers held back
    /// by `flush_unless_pipelined` go out first: the client is never waited for while our
    /// answers to it are unsent.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        self.flush().await?;
        if let Some(session) = self.transport.session() {
            let session = session.clone();
            return self.read_tls(&session).await;
        }
        let spare = spare_capacity(std::mem::take(&mut self.read_buf), READ_CHUNK_BYTES);
        let (result, spare) = self.stream.read(spare).await;
        self.read_buf = spare.into_inner();
        self.gauge.set(self.read_buf.capacity());
        if let Ok(read) = result {
            self.exchange.read(read);
        }
        result
    }

    /// `read_more` over TLS: reads records until they give plaintext (a record may span reads,
    /// and some carry none); 0 when the client closed (close_notify or end of stream).
    async fn read_tls(&mut self, session: &TlsSession) -> io::Result<usize> {
        loop {
            let spare = spare_capacity(std::mem::take(&mut self.tls_in), READ_CHUNK_BYTES);
            let (result, spare) = self.stream.read(spare).await;
            self.tls_in = spare.into_inner();
            if result? == 0 {
                return Ok(0);
            }
            let absorbed = session.absorb(&mut self.tls_in, &mut self.read_buf);
            let held = session.held_record_bytes();
            self.gauge
                .set(self.read_buf.capacity() + self.tls_in.capacity() + held);
            match absorbed {
                Err(error) => {
                    // The alert saying why, best effort.
                    let _ = self.flush_with(WriteBatch::new()).await;
                    return Err(error);
                }
                Ok(absorbed) if absorbed.plaintext > 0 => return Ok(absorbed.plaintext),
                Ok(absorbed) if absorbed.closed => return Ok(0),
                Ok(_) => {}
            }
        }
    }

    /// Writes everything in `write_buf`. A write that makes no progress for `replyStallMs`
    /// fails (the caller then closes the connection).
    pub async fn flush(&mut self) -> io::Result<()> {
        self.flush_with(WriteBatch::new()).await
    }

    /// Writes `write_buf`, then `body` (e.g. a GET batch whose parts reference shared payloads),
    /// in one gathered write, with the same no-progress deadline as `flush`.
    pub async fn flush_with(&mut self, mut body: WriteBatch) -> io::Result<()> {
        self.held_since = None;
        if !self.write_buf.is_empty() {
            body.prepend(self.write_buf.split().freeze());
        }
        if body.is_empty() && !self.is_tls() {
            return Ok(());
        }
        let total = body.len();
        let (result, unsent) = self
            .transport
            .write_all(&mut self.writes, &mut self.stream, body, self.reply_stall)
            .await;
        let unsent = if result.is_ok() { 0 } else { unsent.len() };
        self.exchange.wrote(total.saturating_sub(unsent));
        if result.as_ref().is_err_and(is_stall) {
            ShardMetrics::inc(&self.gauge.metrics.http_replies_stalled_total);
        }
        result
    }

    /// Like `flush`, unless the client already sent its next complete request head (HTTP
    /// pipelining): then the answer waits (up to `PIPELINED_ANSWER_BYTES` and
    /// `PIPELINED_ANSWER_DELAY`) to go out in one write with the next ones. Each write is a trip
    /// through the event loop (with io_uring, a completion), so a pipelining publisher would
    /// otherwise get one request served per trip. Only for answers that keep the connection
    /// open; `read_more` sends what is held back.
    pub async fn flush_unless_pipelined(&mut self) -> io::Result<()> {
        let next_request_waiting = !self.read_buf.is_empty() && head_terminated(&self.read_buf, 0);
        let now = Instant::now();
        let held_since = *self.held_since.get_or_insert(now);
        if next_request_waiting
            && self.write_buf.len() < PIPELINED_ANSWER_BYTES
            && now.duration_since(held_since) < PIPELINED_ANSWER_DELAY
        {
            return Ok(());
        }
        self.flush().await
    }

    /// Awaits `work` (a publish, a poll). If it does not finish at once, the answers held back
    /// by `flush_unless_pipelined` go out first: they never wait on a broker or a long poll.
    pub async fn flush_held_unless_ready<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        let first = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(output) => output,
            Poll::Pending => {
                // A failed write shows again when this request's answer is written.
                let _ = self.flush().await;
                work.await
            }
        }
    }

    /// Writes a complete plain-text error answer (`respond_error` without details).
    pub async fn respond_text(&mut self, status: u16, body: &str, close: bool) -> io::Result<()> {
        self.respond_error(status, body, None, close).await
    }

    /// Writes a plain-text error answer: `reason` (what the client may know) and the request id
    /// in `X-Request-Id`; a 5xx body ends with the id as well, since the client can only report
    /// those. `detail` (broker addresses, library errors) goes to the log alone, under that id.
    /// A HEAD request's answer has the same head and no content.
    pub async fn respond_error(
        &mut self,
        status: u16,
        reason: &str,
        detail: Option<&str>,
        close: bool,
    ) -> io::Result<()> {
        let id = self.request_id();
        match detail {
            Some(detail) => {
                tracing::warn!(request_id = %id, status, reason, detail, "request failed")
            }
            None => tracing::debug!(request_id = %id, status, reason, "answered with an error"),
        }
        let body = if status >= 500 {
            format!("{reason} (request id {id})")
        } else {
            reason.to_owned()
        };
        self.write_plain(status, &[], &id.to_string(), &body, close)
            .await
    }

    /// Writes a 405 that lists the methods this API serves, in the body and in `Allow`.
    pub async fn respond_method_not_allowed(
        &mut self,
        method: &str,
        allow: &str,
        close: bool,
    ) -> io::Result<()> {
        let body = format!("method {method} is not allowed on this API; use {allow}");
        self.respond_with(405, ("Allow", allow), &body, close).await
    }

    /// Writes a plain-text error with one extra header (`Allow`, `Retry-After`, …), then closes.
    pub async fn respond_with_header(
        &mut self,
        status: u16,
        header: (&str, &str),
        body: &str,
    ) -> io::Result<()> {
        self.respond_with(status, header, body, true).await
    }

    /// Writes a plain-text error with one extra header (`WWW-Authenticate`, …); `close` ends
    /// the connection after it.
    pub async fn respond_with(
        &mut self,
        status: u16,
        header: (&str, &str),
        body: &str,
        close: bool,
    ) -> io::Result<()> {
        self.respond_with_headers(status, &[header], body, close)
            .await
    }

    /// Writes a plain-text error with extra headers (a 429's `Retry-After`).
    pub async fn respond_with_headers(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
        close: bool,
    ) -> io::Result<()> {
        let id = self.request_id();
        tracing::debug!(request_id = %id, status, reason = body, "answered with an error");
        self.write_plain(status, headers, &id.to_string(), body, close)
            .await
    }

    /// Writes a plain-text error answer under request id `id`, with `header` first if there is
    /// one, and counts a 4xx. A HEAD request's answer has the same head and no content.
    pub(crate) async fn write_plain(
        &mut self,
        status: u16,
        header: &[(&str, &str)],
        id: &str,
        body: &str,
        close: bool,
    ) -> io::Result<()> {
        if (400..500).contains(&status) {
            ShardMetrics::inc(&self.gauge.metrics.http_client_errors_total);
        }
        self.exchange.answered(status);
        let mut headers = Vec::with_capacity(3 + header.len());
        headers.extend_from_slice(header);
        headers.extend([
            ("X-Request-Id", id),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]);
        self.encode_head(&ResponseHead {
            status,
            headers: &headers,
            body: BodyKind::Length(body.len()),
            close,
        });
        if !self.head_request {
            self.write_buf.extend_from_slice(body.as_bytes());
        }
        self.flush().await
    }

    /// Splits off the socket for full-duplex streaming; the transport, the buffers and the
    /// read-buffer gauge go with it.
    pub fn into_parts(self) -> (Transport, TcpStream, BytesMut, BytesMut, BufferGauge) {
        let Conn {
            transport,
            stream,
            tls_in: _,
            read_buf,
            write_buf,
            gauge,
            held_since: _,
            exchange: _,
            peer: _,
            writes: _,
            reply_stall: _,
            stream_stall: _,
            head_request: _,
            access: _,
            answer_headers: _,
            meter: _,
        } = self;
        (transport, stream, read_buf, write_buf, gauge)
    }
}

/// `headers`, then `answer` (a request's answer headers), as one list for `encode_response_head`.
pub fn with_answer_headers<'a>(
    headers: &[(&'a str, &'a str)],
    answer: &'a AnswerHeaders,
) -> Vec<(&'a str, &'a str)> {
    let mut all = Vec::with_capacity(headers.len() + answer.len());
    all.extend_from_slice(headers);
    all.extend(answer.iter().map(|(name, value)| (*name, value.as_str())));
    all
}

/// Keeps the shard's read-buffer gauge in step with one connection's buffer capacity.
pub struct BufferGauge {
    metrics: Arc<ShardMetrics>,
    bytes: usize,
}

impl BufferGauge {
    /// Records the buffer's current size.
    pub fn set(&mut self, bytes: usize) {
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
