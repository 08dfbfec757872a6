//! The reading half of a WebSocket session: decodes the client's frames, publishes its messages
//! (each with the frame type it was sent as) and tells the writer what to answer.
//!
//! Everything the reader holds for the writer is bounded: at most `MAX_PENDING_PONGS` pongs
//! (a client that pings faster is not read until they are written, so every ping gets its pong, in
//! order), and the payload of one unfinished message, which also counts against the shard's
//! `wsMaxPartialBytesPerShard` budget (`PartialHold`).

use crate::observe::exchange::Exchange;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::{Bytes, BytesMut};
use monoio::time::Instant;

use super::session::close_code;
use super::token_renewal::TokenRenewal;
use crate::codec::ws::{FrameDecoder, WsEvent};
use crate::deployed::Api;
use crate::endpoint::echo::EchoLoop;
use crate::endpoint::PublishOptions;
use crate::error::{self, DataError, Kind};
use crate::message::{Fields, PayloadKind};
use crate::metrics::ShardMetrics;
use crate::rate_limit::Meter;
use crate::security::jwt::refresh_message::renewal_token;
use crate::server::duplex::InboundHandler;

/// Most pings waiting for their pong (each at most 125 bytes).
const MAX_PENDING_PONGS: usize = 16;

/// What the reader saw that the writer must act on.
pub(super) struct Inbound {
    /// Pings to answer, oldest first.
    pongs: RefCell<VecDeque<Bytes>>,
    /// The close to send: the client's, or the gateway's answer to what the client did.
    pub(super) close: RefCell<Option<(u16, String)>>,
    /// Whether `close` answers the gateway's own refusal (protocol error, limit), so the reason
    /// may carry a resume cursor; false when it echoes the client's close.
    pub(super) close_by_gateway: Cell<bool>,
    /// When the client last sent anything.
    pub(super) last_heard: Cell<Instant>,
    /// Reads that carried nothing but pongs: keep-alive, no activity for the quiet check.
    pub(super) keep_alive_reads: Cell<u64>,
    /// When the message now arriving began; `None` between messages. The writer closes the
    /// connection when it stays unfinished for `wsMessageReadMs`.
    pub(super) unfinished_since: Cell<Option<Instant>>,
    dirty: Cell<bool>,
    writer: RefCell<Option<Waker>>,
    /// The reader, waiting for room among the pongs.
    reader: RefCell<Option<Waker>>,
    /// The writer is closing (or gone) and sends no more pongs: pings are read and dropped.
    writer_gone: Cell<bool>,
    metrics: Arc<ShardMetrics>,
}

impl Inbound {
    pub(super) fn new(metrics: Arc<ShardMetrics>) -> Inbound {
        Inbound {
            pongs: RefCell::new(VecDeque::new()),
            close: RefCell::new(None),
            close_by_gateway: Cell::new(false),
            last_heard: Cell::new(Instant::now()),
            keep_alive_reads: Cell::new(0),
            unfinished_since: Cell::new(None),
            dirty: Cell::new(false),
            writer: RefCell::new(None),
            reader: RefCell::new(None),
            writer_gone: Cell::new(false),
            metrics,
        }
    }

    /// Lets go of what a hibernating session need not hold: the waker of its ending writer task
    /// and the room of answered pings.
    pub(super) fn hibernate(&self) {
        self.writer.borrow_mut().take();
        let mut pongs = self.pongs.borrow_mut();
        if pongs.is_empty() {
            *pongs = VecDeque::new();
        }
    }

    /// Records that the client sent a close.
    fn closed_by_client(&self, code: u16, reason: String) {
        self.record_close(code, reason, false);
    }

    /// Records that the gateway ends the session because of what the client sent.
    fn refused(&self, code: u16, reason: String) {
        self.record_close(code, reason, true);
    }

    fn record_close(&self, code: u16, reason: String, by_gateway: bool) {
        *self.close.borrow_mut() = Some((code, reason));
        self.close_by_gateway.set(by_gateway);
        self.notify();
    }

    /// Wakes the writer to look at what changed.
    fn notify(&self) {
        self.dirty.set(true);
        if let Some(waker) = self.writer.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once the reader recorded something new.
    pub(super) async fn changed(&self) {
        poll_fn(|cx| {
            if self.dirty.replace(false) {
                Poll::Ready(())
            } else {
                *self.writer.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Queues the pong for a ping, waiting while `MAX_PENDING_PONGS` are due. Once the writer is
    /// closing, the ping is dropped (nothing may follow a close frame) and reading goes on, to
    /// find the client's close.
    async fn queue_pong(&self, payload: Bytes) {
        let has_room = poll_fn(|cx| {
            if self.writer_gone.get() {
                return Poll::Ready(false);
            }
            if self.pongs.borrow().len() < MAX_PENDING_PONGS {
                return Poll::Ready(true);
            }
            *self.reader.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        if has_room {
            self.pongs.borrow_mut().push_back(payload);
            ShardMetrics::inc(&self.metrics.websocket_pongs_pending);
            self.notify();
        }
    }

    /// Hands every pong due to `each`, oldest first; true when there was any. A reader waiting
    /// for room goes on.
    pub(super) fn take_pongs(&self, mut each: impl FnMut(&[u8])) -> bool {
        let mut pongs = self.pongs.borrow_mut();
        if pongs.is_empty() {
            return false;
        }
        ShardMetrics::sub(&self.metrics.websocket_pongs_pending, pongs.len() as u64);
        pongs.drain(..).for_each(|payload| each(&payload));
        drop(pongs);
        if let Some(waker) = self.reader.borrow_mut().take() {
            waker.wake();
        }
        true
    }

    /// The writer is closing or gone: a reader waiting for pong room goes on without it.
    pub(super) fn writer_done(&self) {
        self.writer_gone.set(true);
        if let Some(waker) = self.reader.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Records whether a message is under way; the writer is told when one begins.
    fn set_unfinished(&self, unfinished: bool) {
        match (unfinished, self.unfinished_since.get()) {
            (true, None) => {
                self.unfinished_since.set(Some(Instant::now()));
                self.notify();
            }
            // The writer's deadline finds the message finished when it fires: no wake-up needed.
            (false, Some(_)) => self.unfinished_since.set(None),
            _ => {}
        }
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        let pending = self.pongs.get_mut().len();
        ShardMetrics::sub(&self.metrics.websocket_pongs_pending, pending as u64);
    }
}

/// A connection's share of its shard's budget for unfinished messages
/// (`wsMaxPartialBytesPerShard`). The shard's total is the `websocket_partial_bytes` gauge
/// itself: only this shard writes it, and no await falls between reading and updating it.
pub(super) struct PartialHold {
    metrics: Arc<ShardMetrics>,
    limit_bytes: usize,
    held_bytes: usize,
}

impl PartialHold {
    pub(super) fn new(metrics: Arc<ShardMetrics>, limit_bytes: usize) -> PartialHold {
        PartialHold {
            metrics,
            limit_bytes,
            held_bytes: 0,
        }
    }

    /// Holds `bytes` for this connection's unfinished message; the close reason when the shard
    /// cannot hold that much more.
    fn set(&mut self, bytes: usize) -> Result<(), String> {
        let gauge = &self.metrics.websocket_partial_bytes;
        if bytes > self.held_bytes {
            let more = bytes - self.held_bytes;
            let shard_bytes = ShardMetrics::get(gauge) as usize;
            if shard_bytes + more > self.limit_bytes {
                ShardMetrics::inc(&self.metrics.websocket_partial_budget_closes_total);
                return Err(
                    "the gateway is receiving too many large messages; send yours again later"
                        .to_owned(),
                );
            }
            ShardMetrics::add(gauge, more as u64);
        } else {
            ShardMetrics::sub(gauge, (self.held_bytes - bytes) as u64);
        }
        self.held_bytes = bytes;
        Ok(())
    }
}

impl Drop for PartialHold {
    fn drop(&mut self) {
        ShardMetrics::sub(
            &self.metrics.websocket_partial_bytes,
            self.held_bytes as u64,
        );
    }
}

/// The session's reader: decodes client frames, publishes data messages (in order, one at a
/// time: reading waits while a publish is in flight) and tells the writer about the rest.
pub(super) struct WsReader {
    pub(super) decoder: FrameDecoder,
    pub(super) inbound: Rc<Inbound>,
    /// Boxed: a subscribe-only session (most) holds no room for it.
    pub(super) publisher: Option<Box<Publisher>>,
    pub(super) hold: PartialHold,
    /// With `tokenRefresh`: renewal messages are taken out of the stream, never published.
    pub(super) renewal: Option<Box<TokenRenewal>>,
}

impl InboundHandler for WsReader {
    async fn on_bytes(&mut self, buf: &mut BytesMut) -> bool {
        self.inbound.last_heard.set(Instant::now());
        // Whether this read carried only whole pongs so far.
        let mut only_pongs = true;
        loop {
            let event = match self.decoder.decode(buf) {
                Ok(None) => {
                    if only_pongs && buf.is_empty() && self.decoder.held_bytes() == 0 {
                        let reads = &self.inbound.keep_alive_reads;
                        reads.set(reads.get() + 1);
                    }
                    return self.hold_unfinished(buf);
                }
                Ok(Some(event)) => event,
                Err(err) => {
                    self.inbound.refused(err.close_code(), err.to_string());
                    return false;
                }
            };
            only_pongs &= matches!(event, WsEvent::Pong(_));
            let (payload, kind) = match event {
                WsEvent::Ping(payload) => {
                    self.inbound.queue_pong(payload).await;
                    continue;
                }
                WsEvent::Pong(_) => continue,
                WsEvent::Close(frame) => {
                    let (code, reason) = frame.unwrap_or((close_code::NORMAL, String::new()));
                    self.inbound.closed_by_client(code, reason);
                    return false;
                }
                WsEvent::Text(payload) => (payload, PayloadKind::Text),
                WsEvent::Binary(payload) => (payload, PayloadKind::Binary),
            };
            if let Some((compressed, inflated)) = self.decoder.take_inflated() {
                let metrics = &self.inbound.metrics;
                ShardMetrics::add(&metrics.websocket_inflate_bytes_in_total, compressed as u64);
                ShardMetrics::add(&metrics.websocket_inflate_bytes_out_total, inflated as u64);
            }
            // The message is whole: from here on it is the publish's, not an unfinished one, and
            // time spent publishing it (a broker's acknowledgement) is not the client's to count.
            let _ = self.hold.set(0);
            self.inbound.set_unfinished(false);
            if let (Some(renewal), PayloadKind::Text) = (&self.renewal, kind) {
                if let Some(token) = renewal_token(&payload) {
                    if let Err(reason) = renewal.renew(&token).await {
                        self.refuse(DataError::new(Kind::AccessEnded, reason));
                        return false;
                    }
                    continue;
                }
            }
            let published = match &self.publisher {
                Some(publisher) => publisher.publish(payload, kind).await,
                None => Err(DataError::new(
                    Kind::NotSupported,
                    "publishing is disabled on this API's websocket entrypoint",
                )),
            };
            if let Err(error) = published {
                self.refuse(error);
                return false;
            }
        }
    }
}

impl WsReader {
    /// Ends the session for `error`: its close code is the error's (`crate::error`); counted and
    /// logged.
    fn refuse(&self, error: DataError) {
        error::record_ending(&self.inbound.metrics, &error);
        let code = error.answer().close_code;
        self.inbound.refused(code, error.reason().to_owned());
    }

    /// After the decoder needs more bytes: holds the unfinished message's bytes against the
    /// shard's budget (closing with 1013 when over it), only then makes room for the frame under
    /// way, and tells the writer when a message began.
    fn hold_unfinished(&mut self, buf: &mut BytesMut) -> bool {
        if let Err(reason) = self.hold.set(self.decoder.held_bytes()) {
            self.refuse(DataError::new(Kind::Busy, reason));
            return false;
        }
        buf.reserve(self.decoder.pending_frame_bytes().saturating_sub(buf.len()));
        self.inbound
            .set_unfinished(self.decoder.is_unfinished(buf.len()));
        true
    }
}

/// What a session needs to publish the client's messages (when `publisher.enabled`).
pub(super) struct Publisher {
    /// `publishPerSecond` of the client's plan: waited for before each publish, while the
    /// session is not read (back-pressure).
    pub(super) meter: Option<Rc<Meter>>,
    pub(super) api: Rc<Api>,
    /// The connection's own echo (an echo endpoint): messages go back to it alone.
    pub(super) echo: Option<Rc<EchoLoop>>,
    pub(super) no_headers: Fields,
    /// The topic chosen on the upgrade URL (`?topic=`), for endpoints that allow it.
    pub(super) topic: Option<String>,
    /// The upgrade request's `?key=`: the key of every message of the session (Kafka).
    pub(super) key: Option<Bytes>,
    /// The upgrade request's record: counts the messages published.
    pub(super) exchange: Rc<Exchange>,
}

impl Publisher {
    /// Hands a client message to the endpoint; the error ends the session (its close code is
    /// the error's, `crate::error`).
    async fn publish(&self, payload: Bytes, kind: PayloadKind) -> Result<(), DataError> {
        if let Some(meter) = &self.meter {
            meter.publish_slot().await;
        }
        let published = match &self.echo {
            Some(echo) => echo.publish(payload, kind, self.no_headers.clone()).await,
            None => {
                let options = PublishOptions {
                    topic: self.topic.as_deref(),
                    key: self.key.clone(),
                    kind,
                };
                let headers = self.no_headers.clone();
                self.api
                    .endpoint
                    .publish_with(payload, headers, options)
                    .await
            }
        };
        // The close reason is the client's short reason; the broker's details go to the log.
        published.map_err(DataError::from)?;
        self.exchange.published(1);
        Ok(())
    }
}
