//! WebSocket entrypoint: RFC 6455 upgrade, then every message as a frame of the type it was
//! published with (text or binary; a source that does not say gets text when UTF-8), or, with
//! `?envelope=json`, as a text frame `{"id":…,"content":…}` that tells the client its cursor.
//!
//! The reader task (`inbound`) decodes client frames and records what the writer must act on
//! (pings to answer, a close, a protocol error, a message under way); the writer sends messages,
//! pongs and keep-alive pings. A peer that stays silent for a whole ping interval after a ping is
//! dropped; a message not finished within `wsMessageReadMs` closes the session with 1008.
//! `?cursor=` on the upgrade URL resumes after that message id (the reference cannot resume), and
//! a close the gateway starts carries the cursor to resume from in its reason.

mod deflate_out;
mod frames;
mod hibernate;
mod inbound;
mod negotiate;
mod token_renewal;

use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::time::{sleep_until, Instant, Sleep};

use crate::codec::http_head::RequestHead;
use crate::codec::http_response::{BodyKind, ResponseHead};
use crate::codec::ws::deflate::Inflater;
use crate::codec::ws::{encode_close, encode_ping, encode_pong, FrameDecoder, WsLimits};
use crate::codec::ws_envelope::encode_envelope_frame;
use crate::config::WebSocketOptions;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::deployed::Api;
use crate::deployed::Drain;
use crate::endpoint::Subscription;
use crate::error::{self, DataError, Kind};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::rate_limit::{self, Pacer};
use crate::security::live::StreamWatch;
use crate::server::conn::Conn;
use crate::server::duplex::Duplex;
use crate::server::stall_write::is_stall;
use crate::server::stream_read::{ReadPause, ReaderParts};
use crate::server::write_batch::WriteBatch;
use crate::shard::{Lifeline, Shard};
use deflate_out::DeflateOut;
use frames::frame_plain;
use hibernate::Quiet;
use inbound::{Inbound, PartialHold, Publisher, WsReader};
use negotiate::{handshake, Envelope};

/// Most messages encoded into one write.
const MAX_BATCH: usize = 256;

/// How long to wait for the client's close frame after sending ours.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest close reason (a control frame's 125 bytes less the code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Close codes (RFC 6455 §7.4.1) that are no error: an error's code is its kind's
/// (`crate::error`); a protocol error's is the codec's.
mod close_code {
    pub(super) const NORMAL: u16 = 1000;
}

/// Performs the upgrade and runs the session until either side closes. The request head is
/// dropped once the session starts: an idle session keeps only what it took from it. A session
/// that hibernates (`hibernate`) goes on in tasks of its own, holding `lifeline`.
pub async fn serve(
    mut conn: Conn,
    head: RequestHead,
    api: &Rc<Api>,
    options: &WebSocketOptions,
    shard: &Rc<Shard>,
    lifeline: Lifeline,
) {
    let accept = match handshake(&head) {
        Ok(accept) => accept,
        Err((426, message)) => {
            // RFC 6455 §4.4: name the version we speak.
            let answer = conn.respond_with_header(426, ("Sec-WebSocket-Version", "13"), message);
            let _ = answer.await;
            return;
        }
        Err((_, message)) => {
            let _ =
                error::answer(&mut conn, &DataError::new(Kind::BadRequest, message), true).await;
            return;
        }
    };
    let negotiated = match negotiate::negotiate(&head, options) {
        Ok(negotiated) => negotiated,
        Err(message) => {
            let _ =
                error::answer(&mut conn, &DataError::new(Kind::BadRequest, message), true).await;
            return;
        }
    };
    if negotiated.subprotocol_unmatched {
        ShardMetrics::inc(&shard.metrics.websocket_subprotocol_unmatched_total);
        tracing::debug!(api = %api.id, "websocket upgrade asked only for subprotocols not configured; answered without one");
    }
    let cursor = match head.query_param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => match api.endpoint.parse_cursor(&text) {
            Ok(id) => Some(id),
            Err(err) => {
                let _ = error::answer(&mut conn, &err.into(), true).await;
                return;
            }
        },
    };
    // A publisher naming a topic its endpoint cannot take would be closed at its first message;
    // refusing the upgrade says why at once.
    let topic = head.query_param("topic").filter(|topic| !topic.is_empty());
    if options.publisher_enabled {
        if let Some(problem) = api.endpoint.request_topic_problem(topic.as_deref()) {
            let _ = error::answer(&mut conn, &problem.into(), true).await;
            return;
        }
    }
    let envelope = match Envelope::requested(&head) {
        Ok(envelope) => envelope,
        Err(message) => {
            let _ =
                error::answer(&mut conn, &DataError::new(Kind::BadRequest, message), true).await;
            return;
        }
    };
    let queue = Rc::new(OutboundQueue::new(
        &shard.gateway.outbound,
        shard.metrics.clone(),
    ));
    let (subscription, start) = if options.subscriber_enabled {
        match api.endpoint.subscribe(
            cursor.clone(),
            queue.clone(),
            super::subscription_name(&head).as_deref(),
        ) {
            Ok((subscription, start)) => (Some(subscription), start),
            Err(err) => {
                let _ = error::answer(&mut conn, &err.into(), true).await;
                return;
            }
        }
    } else {
        (None, None)
    };
    conn.exchange().answered(101);
    let request_id = conn.request_id();
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept.as_str()),
        ("X-Request-Id", request_id.as_str()),
    ];
    if let Some(protocol) = &negotiated.subprotocol {
        headers.push(("Sec-WebSocket-Protocol", protocol));
    }
    if let Some(agreed) = &negotiated.deflate {
        headers.push(("Sec-WebSocket-Extensions", &agreed.response));
    }
    // With the request's answer headers (`X-RateLimit-*`).
    conn.encode_head(&ResponseHead {
        status: 101,
        headers: &headers,
        body: BodyKind::None,
        close: false,
    });
    let echo = subscription.as_ref().and_then(|s| s.echo());
    let meter = conn.meter.take();
    let publisher = options.publisher_enabled.then(|| {
        Box::new(Publisher {
            meter: meter.clone(),
            api: api.clone(),
            echo: echo.clone(),
            no_headers: Arc::from(Vec::new()),
            topic,
            key: head.query_param("key").map(bytes::Bytes::from),
            exchange: conn.exchange().clone(),
        })
    });
    let inbound = Rc::new(Inbound::new(shard.metrics.clone()));
    let limits = &shard.gateway.limits;
    let ws_limits = WsLimits {
        max_frame_bytes: limits.ws_max_frame_bytes,
        max_message_bytes: limits.ws_max_message_bytes,
    };
    let decoder = match &negotiated.deflate {
        Some(agreed) => FrameDecoder::with_deflate(
            ws_limits,
            Inflater::new(agreed.client_window_bits, agreed.client_no_context_takeover),
        ),
        None => FrameDecoder::new(ws_limits),
    };
    let deflate = negotiated.deflate.as_ref().map(|agreed| {
        let min_bytes = options
            .per_message_deflate
            .map_or(0, |d| d.min_message_bytes);
        Box::new(DeflateOut::new(
            agreed.server_window_bits,
            min_bytes,
            shard.metrics.clone(),
        ))
    });
    // Ends the session when its credential stops being valid (revoked, expired, closed).
    let watch = Rc::new(shard.security.live.watch(conn.access.as_ref()));
    let renewal = options.token_refresh.then(|| {
        Box::new(token_renewal::TokenRenewal {
            api: api.clone(),
            shard: shard.clone(),
            watch: watch.clone(),
        })
    });
    let reader = WsReader {
        decoder,
        inbound: inbound.clone(),
        publisher,
        hold: PartialHold::new(shard.metrics.clone(), limits.ws_max_partial_bytes_per_shard),
        renewal,
    };
    drop(head);
    let pacer = Pacer::new(meter);
    // Plain frames, unpaced: while the writer waits, the fan-out writes them itself, and a
    // quiet session can hibernate.
    let direct = deflate.is_none() && envelope == Envelope::None && !pacer.paces();
    let hibernates = direct && !conn.is_tls() && shard.gateway.timeouts.ws_hibernate.is_some();
    let (mut duplex, pause) = if hibernates {
        let (duplex, pause) = Duplex::start_pausable(conn, reader);
        (duplex, Some(pause))
    } else {
        (Duplex::start(conn, reader), None)
    };
    if direct {
        let metrics = shard.metrics.clone();
        duplex.write_directly(
            &queue,
            Box::new(move |batch: &mut WriteBatch, message: &Message| {
                frame_plain(batch, message, &metrics, true)
            }),
        );
    }
    let mut session = Session {
        duplex,
        pause,
        inbound,
        // Without a cursor, the position the subscription started after: resuming from it
        // loses nothing even before the first message.
        last_delivered: cursor.or(start),
        // An echo's ids are the connection's own: nothing to resume with.
        resumable: subscription.is_some() && echo.is_none(),
        envelope,
        pacer,
        deflate,
    };
    if session.duplex.flush().await.is_err() {
        return;
    }
    // What is left of the answer head's allocation: messages go out through the batch, this
    // buffer only carries pings, pongs and the close, so an idle session need not keep it.
    session.duplex.write_buf = BytesMut::new();
    ShardMetrics::inc(&shard.metrics.websocket_sessions_open);
    session.duplex.exchange().stream_opened();
    let live = Live {
        queue,
        subscription,
        watch,
        api: api.clone(),
        shard: shard.clone(),
        lifeline,
    };
    let ping = Ping::starting(shard.gateway.timeouts.ws_ping_interval);
    go_on(session, live, ping).await;
}

/// Runs `session` until it ends (closing it) or hibernates (its tasks end; `hibernate` wakes it).
async fn go_on(mut session: Session, live: Live, ping: Ping) {
    let exit = session
        .run(&live.queue, &live.shard, &live.watch, &live.api.drain, ping)
        .await;
    match exit {
        Exit::Hibernate(reader, ping) => hibernate::fall_asleep(session, reader, live, ping),
        Exit::Close(code, reason) => finish(session, live, code, &reason).await,
    }
}

/// Ends the session: unsubscribed, then the close sent (code 0: none) and the handshake awaited;
/// what the connection held (`Live::lifeline`) goes last.
async fn finish(session: Session, mut live: Live, code: u16, reason: &str) {
    tracing::debug!(api = %live.api.id, code, %reason, "websocket session ended");
    drop(live.subscription.take());
    ShardMetrics::sub(&live.shard.metrics.websocket_sessions_open, 1);
    session.close(code, reason).await;
}

/// What a session holds besides `Session`, awake or hibernating. Dropped in this order: the
/// lifeline (the connection's slot and record) last.
struct Live {
    queue: Rc<OutboundQueue>,
    subscription: Option<Subscription>,
    watch: Rc<StreamWatch>,
    api: Rc<Api>,
    shard: Rc<Shard>,
    #[expect(
        dead_code,
        reason = "held, never read: what the connection keeps alive"
    )]
    lifeline: Lifeline,
}

/// The session's keep-alive pings.
#[derive(Clone, Copy)]
struct Ping {
    /// When the next ping is due.
    next: Instant,
    /// When the last one went out (the client must be heard from before the next).
    sent_at: Option<Instant>,
}

impl Ping {
    fn starting(interval: Duration) -> Ping {
        Ping {
            next: Instant::now() + interval,
            sent_at: None,
        }
    }
}

/// How `Session::run` ended.
enum Exit {
    /// Close with this code and reason (code 0: the peer is gone, nothing to send).
    Close(u16, String),
    /// The session was quiet: its reader paused and gave back what it holds.
    Hibernate(Box<ReaderParts<WsReader>>, Ping),
}

impl From<(u16, String)> for Exit {
    fn from((code, reason): (u16, String)) -> Exit {
        Exit::Close(code, reason)
    }
}

struct Session {
    duplex: Duplex,
    /// The reader's pause, when the session may hibernate (plain TCP, direct writes).
    pause: Option<Rc<ReadPause<WsReader>>>,
    inbound: Rc<Inbound>,
    /// The cursor a reconnecting client resumes from.
    last_delivered: Option<MessageId>,
    /// Whether `last_delivered` is a cursor the endpoint takes back (not for an echo).
    resumable: bool,
    envelope: Envelope,
    /// `deliverPerSecond` of the client's plan.
    pacer: Pacer,
    /// permessage-deflate, when negotiated.
    /// Boxed, as the rarer options are: every session, hibernating ones too, holds the room.
    deflate: Option<Box<DeflateOut>>,
}

impl Session {
    /// Runs until the session must end (the close code and reason to send) or hibernates.
    async fn run(
        &mut self,
        queue: &OutboundQueue,
        shard: &Shard,
        watch: &StreamWatch,
        drain: &Drain,
        ping: Ping,
    ) -> Exit {
        let ping_interval = shard.gateway.timeouts.ws_ping_interval;
        // One timer for the whole session, reset when it fires: creating one per pass of the
        // loop would cost a timer-wheel insert and removal per message.
        let mut ping_timer = std::pin::pin!(sleep_until(ping.next));
        let mut next_ping = ping.next;
        let mut ping_sent_at = ping.sent_at;
        // When hibernation is looked at next (armed only for a session that may hibernate).
        let mut quiet = self.pause.as_ref().and_then(|pause| {
            let after = shard.gateway.timeouts.ws_hibernate?;
            Some(Quiet::new(&shard.alarms, after, pause.reads()))
        });
        // When the message the client is sending must be finished: armed for the start time
        // `unfinished` of that message, off between messages. Created by the first message that
        // spans reads, so an idle session holds no second timer.
        let message_read = shard.gateway.timeouts.ws_message_read;
        let mut deadline: Option<Pin<Box<Sleep>>> = None;
        let mut unfinished: Option<Instant> = None;
        // Grown by the first messages, not up front: an idle client holds no batch room.
        let mut batch = Vec::new();
        // The waits for the session's end events live as long as the loop: re-created on every
        // pass they would take and give back a waiter slot of each signal per message.
        let peer_closed = self.duplex.peer_closed.clone();
        let mut peer_gone = std::pin::pin!(peer_closed.wait());
        let mut shutdown = std::pin::pin!(shard.shutdown.wait());
        let mut revoked = std::pin::pin!(watch.ended());
        let mut retired = std::pin::pin!(drain.retired(EntrypointKind::WebSocket));
        // Passes of this loop: a quiet session is one whose only pass in a while was the check.
        let mut passes: u64 = 0;
        loop {
            passes += 1;
            if let Some((code, reason)) = self.inbound.close.borrow().clone() {
                // The client's own close is echoed as it came; a refusal says how to resume.
                if !self.inbound.close_by_gateway.get() {
                    return Exit::Close(code, reason);
                }
                return Exit::Close(code, self.resume_hint(&reason));
            }
            // Answer pings at once, not with the next message (RFC 6455: "as soon as practical"),
            // each with its own pong, in order.
            let write_buf = &mut self.duplex.write_buf;
            if self
                .inbound
                .take_pongs(|payload| encode_pong(write_buf, payload))
            {
                if let Err(err) = self.duplex.flush().await {
                    return Exit::from(self.write_failed(&err, &shard.metrics));
                }
            }
            if self.inbound.unfinished_since.get() != unfinished {
                unfinished = self.inbound.unfinished_since.get();
                if let Some(since) = unfinished {
                    match deadline.as_mut() {
                        Some(timer) => timer.as_mut().reset(since + message_read),
                        None => deadline = Some(Box::pin(sleep_until(since + message_read))),
                    }
                }
            }
            let mut delivered = 0;
            let paused = self.pacer.paused_until();
            // While it waits with nothing pending, the fan-out writes for it (any exit unparks).
            let mut parked = self.duplex.park(queue);
            let may_sleep = parked.is_some() && unfinished.is_none();
            monoio::select! {
                biased;
                _ = self.inbound.changed() => {}
                _ = &mut shutdown => return Exit::from(self.ended(&shard.metrics, Kind::ShuttingDown, "gateway shutting down")),
                _ = &mut revoked => return Exit::from(self.ended(&shard.metrics, Kind::AccessEnded, watch.reason())),
                _ = &mut retired => return Exit::from(self.ended(&shard.metrics, Kind::Retired, drain.reason())),
                _ = &mut peer_gone, if self.inbound.close.borrow().is_none() => {
                    return Exit::Close(0, String::new());
                }
                _ = rate_limit::until(paused), if paused.is_some() => self.pacer.resume(),
                ready = queue.ready(), if paused.is_none() => match ready {
                    Ok(()) => {
                        // What the fan-out wrote meanwhile is older than what comes now.
                        if let Some(id) = self.duplex.take_direct_last() {
                            self.last_delivered = Some(id);
                        }
                        self.pacer.drain(queue, MAX_BATCH, &mut batch);
                        delivered = batch.len() as u64;
                        for message in batch.drain(..) {
                            self.frame(&message, &shard.metrics);
                            self.last_delivered = Some(message.id);
                        }
                    }
                    Err(QueueEnd::Finished) => return Exit::Close(close_code::NORMAL, "end of stream".to_owned()),
                    Err(QueueEnd::SlowClient) => return Exit::from(self.ended(&shard.metrics, Kind::SlowClient, "client too slow")),
                    Err(QueueEnd::Unavailable) => return Exit::from(self.ended(&shard.metrics, Kind::BrokerUnavailable, QueueEnd::UNAVAILABLE_REASON)),
                    Err(QueueEnd::Closed) => return Exit::Close(0, String::new()),
                },
                _ = &mut ping_timer => {
                    if ping_sent_at.is_some_and(|sent| self.inbound.last_heard.get() < sent) {
                        return Exit::Close(0, String::new());
                    }
                    let now = Instant::now();
                    encode_ping(&mut self.duplex.write_buf, b"tidegate");
                    ping_sent_at = Some(now);
                    next_ping = now + ping_interval;
                    ping_timer.as_mut().reset(next_ping);
                }
                _ = hibernate::due(&mut quiet), if may_sleep => {
                    let pause = self.pause.as_deref();
                    let reads = pause.map_or(0, ReadPause::reads);
                    let check = quiet.as_mut().expect("armed");
                    if check.was_quiet(passes, reads) {
                        if let Some(parts) = pause.expect("armed with a pause").pause().await {
                            // The fan-out goes on writing for it while it sleeps.
                            if let Some(parked) = parked.take() {
                                parked.stay();
                            }
                            let ping = Ping { next: next_ping, sent_at: ping_sent_at };
                            return Exit::Hibernate(parts, ping);
                        }
                    }
                    check.arm(passes, reads);
                }
                _ = expiry(&mut deadline), if unfinished.is_some() => {
                    // Still the same message (else the next pass re-arms for the new one).
                    if self.inbound.unfinished_since.get() == unfinished {
                        ShardMetrics::inc(&shard.metrics.websocket_message_deadline_closes_total);
                        let why = format!("message not finished within {} ms", message_read.as_millis());
                        return Exit::from(self.ended(&shard.metrics, Kind::MessageDeadline, &why));
                    }
                }
            }
            drop(parked);
            if let Err(err) = self.duplex.flush().await {
                return Exit::from(self.write_failed(&err, &shard.metrics));
            }
            ShardMetrics::add(&shard.metrics.messages_delivered_total, delivered);
            self.duplex.exchange().delivered(delivered);
            if let (true, Some(id)) = (delivered > 0, self.last_delivered.clone()) {
                queue.mark_delivered(id);
            }
        }
    }

    /// The close to send after a failed write: none when the client is gone; 1013 with the
    /// resume cursor when it stopped reading (`streamStallMs` without progress). The close frame
    /// then goes after the bytes it had not read yet, best effort (`Duplex::flush`).
    fn write_failed(&self, err: &std::io::Error, metrics: &ShardMetrics) -> (u16, String) {
        if is_stall(err) {
            self.ended(metrics, Kind::ClientStalled, "client stopped reading")
        } else {
            (0, String::new())
        }
    }

    /// The close for `kind` ending the session (its code is the error's, `crate::error`), with
    /// the cursor to resume from; counted and logged.
    fn ended(&self, metrics: &ShardMetrics, kind: Kind, why: &str) -> (u16, String) {
        error::record_ending(metrics, &DataError::new(kind, why.to_owned()));
        (kind.answer().close_code, self.resume_hint(why))
    }

    /// Appends one message to the write batch, framed for the client.
    fn frame(&mut self, message: &Message, metrics: &Arc<ShardMetrics>) {
        let batch = &mut self.duplex.batch;
        let envelope = self.envelope == Envelope::Json;
        if let Some(deflate) = &self.deflate {
            if deflate.frame(batch, message, envelope) {
                return;
            }
        }
        if envelope {
            encode_envelope_frame(batch.tail_mut(), message);
            return;
        }
        frame_plain(batch, message, metrics, false);
    }

    /// The close reason `why`, with the cursor to resume from (`; reconnect with ?cursor=ID`)
    /// when the session has one and it fits the 123 bytes of a close reason; when it does not (a
    /// long Kafka cursor) the reason says where to find it instead.
    fn resume_hint(&self, why: &str) -> String {
        // What the fan-out wrote directly since the writer last framed is the newer.
        let last = self
            .duplex
            .direct_last()
            .or_else(|| self.last_delivered.clone());
        let Some(id) = last.as_ref().filter(|_| self.resumable) else {
            return why.to_owned();
        };
        let hint = format!("{why}; reconnect with ?cursor={id}");
        if hint.len() <= MAX_CLOSE_REASON_BYTES {
            return hint;
        }
        let fallback = format!("{why}; resume from the last id received (?envelope=json)");
        if fallback.len() <= MAX_CLOSE_REASON_BYTES {
            fallback
        } else {
            why.to_owned()
        }
    }

    /// Sends our close frame (code 0 = the peer is gone, just drop) and waits briefly for the
    /// client's, completing the close handshake.
    async fn close(mut self, code: u16, reason: &str) {
        self.inbound.writer_done();
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

/// Resolves when `timer` fires; never when there is none.
async fn expiry(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(timer) => timer.await,
        None => std::future::pending().await,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // However the session ended, a reader waiting for pong room must not wait forever.
        self.inbound.writer_done();
    }
}

#[cfg(test)]
#[path = "websocket/tests.rs"]
mod tests;
