//! WebSocket entrypoint: RFC 6455 upgrade, then every message as a text (or, when not UTF-8,
//! binary) frame.
//!
//! The reader task decodes client frames and records what the writer must act on (a ping to
//! answer, a close, a protocol error, a publish attempt); the writer sends messages, pongs and
//! keep-alive pings. A peer that stays silent for a whole ping interval after a ping is dropped.
//! `?cursor=` on the upgrade URL resumes after that message id (the reference cannot resume).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use monoio::time::Instant;

use crate::codec::http_head::RequestHead;
use crate::codec::http_response::{encode_response_head, BodyKind, ResponseHead};
use crate::codec::ws::{
    accept_key, encode_close, encode_frame_header, encode_ping, encode_pong, FrameDecoder, Opcode,
    WsEvent, WsLimits,
};
use crate::config::WebSocketOptions;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::endpoint::{PublishError, PublishOptions};
use crate::message::{Fields, MessageId};
use crate::metrics::ShardMetrics;
use crate::runtime::shard::Shard;
use crate::server::conn::Conn;
use crate::server::duplex::{Duplex, InboundHandler};
use crate::server::Api;

/// Most messages encoded into one write.
const MAX_BATCH: usize = 256;
/// How long to wait for the client's close frame after sending ours.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Close codes (RFC 6455 §7.4.1).
mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Performs the upgrade and runs the session until either side closes.
pub async fn serve(
    mut conn: Conn,
    head: &RequestHead,
    api: &Rc<Api>,
    options: &WebSocketOptions,
    shard: &Rc<Shard>,
) {
    let accept = match handshake(head) {
        Ok(accept) => accept,
        Err((426, message)) => {
            // RFC 6455 §4.4: name the version we speak.
            let answer = conn.respond_with_header(426, ("Sec-WebSocket-Version", "13"), message);
            let _ = answer.await;
            return;
        }
        Err((status, message)) => {
            let _ = conn.respond_text(status, message, true).await;
            return;
        }
    };
    let cursor = match head.query_param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => match api.endpoint.parse_cursor(&text) {
            Ok(id) => Some(id),
            Err(err) => {
                let _ = conn
                    .respond_text(err.status(), &err.to_string(), true)
                    .await;
                return;
            }
        },
    };
    // A publisher naming a topic its endpoint cannot take would be closed at its first message;
    // refusing the upgrade says why at once.
    let topic = head.query_param("topic").filter(|topic| !topic.is_empty());
    if options.publisher_enabled {
        if let Some(problem) = api.endpoint.request_topic_problem(topic.as_deref()) {
            let _ = conn
                .respond_text(problem.status(), &problem.to_string(), true)
                .await;
            return;
        }
    }
    let queue = Rc::new(OutboundQueue::new(
        &shard.gateway.outbound,
        shard.metrics.clone(),
    ));
    let subscription = if options.subscriber_enabled {
        match api.endpoint.subscribe(
            cursor.clone(),
            queue.clone(),
            super::subscription_name(head).as_deref(),
        ) {
            Ok((subscription, _start)) => Some(subscription),
            Err(err) => {
                let _ = conn
                    .respond_text(err.status(), &err.to_string(), true)
                    .await;
                return;
            }
        }
    } else {
        None
    };
    encode_response_head(
        &mut conn.write_buf,
        &ResponseHead {
            status: 101,
            headers: &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", &accept),
            ],
            body: BodyKind::None,
            close: false,
        },
    );
    let publisher = options.publisher_enabled.then(|| Publisher {
        api: api.clone(),
        no_headers: Arc::from(Vec::new()),
        topic,
        key: head.query_param("key").map(Bytes::from),
    });
    let inbound = Rc::new(Inbound::new());
    let limits = WsLimits {
        max_frame_bytes: shard.gateway.limits.ws_max_frame_bytes,
        max_message_bytes: shard.gateway.limits.ws_max_message_bytes,
    };
    let reader = WsReader {
        decoder: FrameDecoder::new(limits),
        inbound: inbound.clone(),
        publisher,
    };
    let duplex = Duplex::start(conn, reader);
    let mut session = Session {
        duplex,
        inbound,
        last_delivered: cursor,
    };
    if session.duplex.flush().await.is_err() {
        return;
    }
    ShardMetrics::inc(&shard.metrics.websocket_sessions_open);
    let (code, reason) = session.run(&queue, shard).await;
    tracing::debug!(api = %api.id, code, %reason, "websocket session ended");
    drop(subscription);
    ShardMetrics::sub(&shard.metrics.websocket_sessions_open, 1);
    session.close(code, &reason).await;
}

/// Checks the upgrade request; returns the `Sec-WebSocket-Accept` value.
fn handshake(head: &RequestHead) -> Result<String, (u16, &'static str)> {
    if head.version_minor() < 1 {
        return Err((400, "WebSocket upgrade needs HTTP/1.1"));
    }
    if head.header_str("sec-websocket-version").map(str::trim) != Some("13") {
        return Err((426, "WebSocket upgrade needs 'Sec-WebSocket-Version: 13'"));
    }
    let key = head
        .header("sec-websocket-key")
        .ok_or((400, "WebSocket upgrade needs a 'Sec-WebSocket-Key' header"))?;
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key.trim_ascii());
    if !matches!(decoded, Ok(bytes) if bytes.len() == 16) {
        return Err((400, "'Sec-WebSocket-Key' must be 16 random bytes in base64"));
    }
    Ok(accept_key(key.trim_ascii()))
}

/// What the reader saw that the writer must act on. Bounded: only the latest ping is kept
/// (RFC 6455 allows answering just the most recent one).
struct Inbound {
    ping: RefCell<Option<Bytes>>,
    close: RefCell<Option<(u16, String)>>,
    last_heard: Cell<Instant>,
    dirty: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Inbound {
    fn new() -> Inbound {
        Inbound {
            ping: RefCell::new(None),
            close: RefCell::new(None),
            last_heard: Cell::new(Instant::now()),
            dirty: Cell::new(false),
            waker: RefCell::new(None),
        }
    }

    /// Records that the client sent a close (or broke the protocol, or was refused).
    fn closed(&self, code: u16, reason: String) {
        *self.close.borrow_mut() = Some((code, reason));
        self.notify();
    }

    /// Wakes the writer to look at what changed.
    fn notify(&self) {
        self.dirty.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once the reader recorded something new.
    async fn changed(&self) {
        poll_fn(|cx| {
            if self.dirty.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// The session's reader: decodes client frames, publishes data messages (in order, one at a
/// time: reading waits while a publish is in flight) and tells the writer about the rest.
struct WsReader {
    decoder: FrameDecoder,
    inbound: Rc<Inbound>,
    publisher: Option<Publisher>,
}

impl InboundHandler for WsReader {
    async fn on_bytes(&mut self, buf: &mut BytesMut) -> bool {
        self.inbound.last_heard.set(Instant::now());
        loop {
            match self.decoder.decode(buf) {
                Ok(None) => return true,
                Ok(Some(WsEvent::Ping(payload))) => {
                    *self.inbound.ping.borrow_mut() = Some(payload);
                    self.inbound.notify();
                }
                Ok(Some(WsEvent::Pong(_))) => {}
                Ok(Some(WsEvent::Text(payload) | WsEvent::Binary(payload))) => {
                    let Some(publisher) = &self.publisher else {
                        let reason = "publishing is disabled on this API's websocket entrypoint";
                        self.inbound
                            .closed(close_code::POLICY_VIOLATION, reason.to_owned());
                        return false;
                    };
                    if let Err((code, reason)) = publisher.publish(payload).await {
                        self.inbound.closed(code, reason);
                        return false;
                    }
                }
                Ok(Some(WsEvent::Close(frame))) => {
                    let (code, reason) = frame.unwrap_or((close_code::NORMAL, String::new()));
                    self.inbound.closed(code, reason);
                    return false;
                }
                Err(err) => {
                    self.inbound.closed(err.close_code(), err.to_string());
                    return false;
                }
            }
        }
    }
}

/// What a session needs to publish the client's messages (when `publisher.enabled`).
struct Publisher {
    api: Rc<Api>,
    no_headers: Fields,
    /// The topic chosen on the upgrade URL (`?topic=`), for endpoints that allow it.
    topic: Option<String>,
    /// The upgrade request's `?key=`: the key of every message of the session (Kafka).
    key: Option<Bytes>,
}

impl Publisher {
    /// Hands a client message to the endpoint; the error is the close code and reason to send.
    async fn publish(&self, payload: Bytes) -> Result<(), (u16, String)> {
        let published = self.api.endpoint.publish_with(
            payload,
            self.no_headers.clone(),
            PublishOptions {
                topic: self.topic.as_deref(),
                key: self.key.clone(),
            },
        );
        match published.await {
            Ok(_id) => Ok(()),
            Err(err @ PublishError::NotSupported(_)) => {
                Err((close_code::POLICY_VIOLATION, err.to_string()))
            }
            Err(err @ PublishError::TooLarge { .. }) => {
                Err((close_code::MESSAGE_TOO_BIG, err.to_string()))
            }
            Err(err @ PublishError::Unavailable(_)) => {
                Err((close_code::TRY_AGAIN_LATER, err.to_string()))
            }
            Err(err @ (PublishError::Refused(_) | PublishError::BadTopic(_))) => {
                Err((close_code::POLICY_VIOLATION, err.to_string()))
            }
        }
    }
}

struct Session {
    duplex: Duplex,
    inbound: Rc<Inbound>,
    last_delivered: Option<MessageId>,
}

impl Session {
    /// Runs until the session must end; returns the close code and reason to send.
    async fn run(&mut self, queue: &OutboundQueue, shard: &Shard) -> (u16, String) {
        let ping_interval = shard.gateway.timeouts.ws_ping_interval;
        // One timer for the whole session, reset when it fires: creating one per pass of the
        // loop would cost a timer-wheel insert and removal per message.
        let mut ping_timer = std::pin::pin!(monoio::time::sleep(ping_interval));
        let mut ping_sent_at: Option<Instant> = None;
        // Grown by the first messages, not up front: an idle client holds no batch room.
        let mut batch = Vec::new();
        loop {
            if let Some((code, reason)) = self.inbound.close.borrow().clone() {
                return (code, reason);
            }
            // Answer a ping at once, not with the next message (RFC 6455: "as soon as practical").
            let pong = self.inbound.ping.borrow_mut().take();
            if let Some(payload) = pong {
                encode_pong(&mut self.duplex.write_buf, &payload);
                if self.duplex.flush().await.is_err() {
                    return (0, String::new());
                }
            }
            let mut delivered = 0;
            monoio::select! {
                biased;
                _ = self.inbound.changed() => {}
                _ = shard.shutdown.wait() => return (close_code::GOING_AWAY, "gateway shutting down".to_owned()),
                _ = self.duplex.peer_closed.wait(), if self.inbound.close.borrow().is_none() => {
                    return (0, String::new());
                }
                ready = queue.ready() => match ready {
                    Ok(()) => {
                        queue.drain_into(MAX_BATCH, &mut batch);
                        delivered = batch.len() as u64;
                        for message in batch.drain(..) {
                            if std::str::from_utf8(&message.payload).is_ok() {
                                let batch = &mut self.duplex.batch;
                                encode_frame_header(batch.tail_mut(), Opcode::Text, message.payload.len());
                                batch.put_shared(&message.payload);
                            } else {
                                let batch = &mut self.duplex.batch;
                                encode_frame_header(batch.tail_mut(), Opcode::Binary, message.payload.len());
                                batch.put_shared(&message.payload);
                            }
                            self.last_delivered = Some(message.id);
                        }
                    }
                    Err(QueueEnd::Finished) => return (close_code::NORMAL, "end of stream".to_owned()),
                    Err(QueueEnd::SlowClient) => return (close_code::TRY_AGAIN_LATER, self.resume_hint("client too slow")),
                    Err(QueueEnd::Closed) => return (0, String::new()),
                },
                _ = &mut ping_timer => {
                    if ping_sent_at.is_some_and(|sent| self.inbound.last_heard.get() < sent) {
                        return (0, String::new());
                    }
                    let now = Instant::now();
                    encode_ping(&mut self.duplex.write_buf, b"tidegate");
                    ping_sent_at = Some(now);
                    ping_timer.as_mut().reset(now + ping_interval);
                }
            }
            if self.duplex.flush().await.is_err() {
                return (0, String::new());
            }
            ShardMetrics::add(&shard.metrics.messages_delivered_total, delivered);
            if let (true, Some(id)) = (delivered > 0, self.last_delivered.clone()) {
                queue.mark_delivered(id);
            }
        }
    }

    fn resume_hint(&self, why: &str) -> String {
        match &self.last_delivered {
            Some(id) => format!("{why}; reconnect with ?cursor={id}"),
            None => why.to_owned(),
        }
    }

    /// Sends our close frame (code 0 = the peer is gone, just drop) and waits briefly for the
    /// client's, completing the close handshake.
    async fn close(mut self, code: u16, reason: &str) {
        if code == 0 {
            return;
        }
        encode_close(&mut self.duplex.write_buf, code, reason);
        if self.duplex.flush().await.is_err() {
            return;
        }
        if self.inbound.close.borrow().is_none() {
            let _ = monoio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.duplex.peer_closed.wait())
                .await;
        }
    }
}

#[cfg(test)]
#[path = "websocket/tests.rs"]
mod tests;
