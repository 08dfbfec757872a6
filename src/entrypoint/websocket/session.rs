//! A WebSocket session after the upgrade: its writer's loop (messages, pongs, keep-alive pings,
//! the end events), its close with the resume cursor, and what it holds while awake or
//! hibernating (`hibernate`).

use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::time::{sleep_until, Instant, Sleep};

use super::deflate_out::DeflateOut;
use super::frames::frame_plain;
use super::hibernate;
use super::inbound::{Inbound, WsReader};
use super::negotiate::Envelope;
use crate::codec::ws::{encode_close, encode_ping, encode_pong};
use crate::codec::ws_envelope::encode_envelope_frame;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::deployed::Drain;
use crate::entrypoint::hibernation::{self, Quiet};
use crate::entrypoint::live_stream::{ended_by, Live};
use crate::error::{self, DataError, Kind};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::rate_limit::{self, Pacer};
use crate::security::live::StreamWatch;
use crate::server::duplex::Duplex;
use crate::server::stall_write::is_stall;
use crate::server::stream_read::{ReadPause, ReaderParts};
use crate::shard::Shard;

/// Most messages encoded into one write.
const MAX_BATCH: usize = 256;

/// The payload of the gateway's keep-alive pings.
pub(super) const PING_PAYLOAD: &[u8] = b"tidegate";

/// How long to wait for the client's close frame after sending ours.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest close reason (a control frame's 125 bytes less the code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Close codes (RFC 6455 §7.4.1) that are no error: an error's code is its kind's
/// (`crate::error`); a protocol error's is the codec's.
pub(super) mod close_code {
    pub(crate) const NORMAL: u16 = 1000;
}

/// Runs `session` until it ends (closing it) or hibernates (its tasks end; `hibernate` wakes it).
pub(super) async fn go_on(mut session: Session, live: Live, ping: Ping) {
    let exit = session
        .run(&live.queue, &live.shard, &live.watch, &live.api.drain, ping)
        .await;
    match exit {
        Exit::Hibernate(reader, ping) => hibernate::fall_asleep(session, reader, live, ping),
        Exit::Close(code, reason) => finish(session, live, code, &reason).await,
    }
}

/// Ends the session: unsubscribed, then the close sent (code 0: none) and the handshake awaited;
/// what the connection held (`Live`'s lifeline) goes last.
pub(super) async fn finish(session: Session, mut live: Live, code: u16, reason: &str) {
    tracing::debug!(api = %live.api.id, code, %reason, "websocket session ended");
    live.closing();
    session.close(code, reason).await;
}

/// The session's keep-alive pings.
#[derive(Clone, Copy)]
pub(super) struct Ping {
    /// When the next ping is due.
    pub(super) next: Instant,
    /// When the last one went out (the client must be heard from before the next).
    pub(super) sent_at: Option<Instant>,
}

impl Ping {
    pub(super) fn starting(interval: Duration) -> Ping {
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

pub(super) struct Session {
    pub(super) duplex: Duplex,
    /// The reader's pause, when the session may hibernate (plain TCP, direct writes).
    pub(super) pause: Option<Rc<ReadPause<WsReader>>>,
    pub(super) inbound: Rc<Inbound>,
    /// The cursor a reconnecting client resumes from.
    pub(super) last_delivered: Option<MessageId>,
    /// Whether `last_delivered` is a cursor the endpoint takes back (not for an echo).
    pub(super) resumable: bool,
    /// Whether the subscription is the connection's own echo.
    pub(super) echoes: bool,
    pub(super) envelope: Envelope,
    /// `deliverPerSecond` of the client's plan.
    pub(super) pacer: Pacer,
    /// permessage-deflate, when negotiated.
    /// Boxed, as the rarer options are: every session, hibernating ones too, holds the room.
    pub(super) deflate: Option<Box<DeflateOut>>,
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
        let reads = self.pause.as_ref().map(|_| self.client_reads());
        let mut quiet = Quiet::armed(&shard.alarms, shard.gateway.timeouts.ws_hibernate, reads);
        // When the message the client is sending must be finished: armed for the start time
        // `unfinished` of that message, off between messages. Created by the first message that
        // spans reads, so an idle session holds no second timer.
        let message_read = shard.gateway.timeouts.ws_message_read;
        let mut deadline: Option<Pin<Box<Sleep>>> = None;
        let mut unfinished: Option<Instant> = None;
        // Grown by the first messages, not up front: an idle client holds no batch room.
        let mut batch = Vec::new();
        let peer_closed = self.duplex.peer_closed.clone();
        let kind = EntrypointKind::WebSocket;
        let mut ends = std::pin::pin!(ended_by(&peer_closed, shard, watch, drain, kind));
        // Passes of this loop: a quiet session is one whose only pass in a while was the check.
        let mut passes: u64 = 0;
        loop {
            passes += 1;
            // Answer pings at once, not with the next message (RFC 6455: "as soon as practical"),
            // each with its own pong, in order; and before a close read after them.
            let write_buf = &mut self.duplex.write_buf;
            if self
                .inbound
                .take_pongs(|payload| encode_pong(write_buf, payload))
            {
                if let Err(err) = self.duplex.flush().await {
                    return Exit::from(self.write_failed(&err, &shard.metrics));
                }
            }
            let close = self.inbound.close.borrow().clone();
            if let Some((code, reason)) = close {
                // The client's own close is echoed as it came, after the echoes of what the
                // client sent before it; a refusal says how to resume.
                if !self.inbound.close_by_gateway.get() {
                    if let Err(err) = self.write_echoes(queue, &shard.metrics).await {
                        return Exit::from(self.write_failed(&err, &shard.metrics));
                    }
                    return Exit::Close(code, reason);
                }
                return Exit::Close(code, self.resume_hint(&reason));
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
                // A close read from the client is taken first (`changed`, at the loop's top).
                end = &mut ends => return match end.error(watch, drain) {
                    Some((kind, why)) => Exit::from(self.ended(&shard.metrics, kind, why)),
                    None => Exit::Close(0, String::new()),
                },
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
                    // Keep-alive is no activity: a session that only pings is quiet (else a
                    // `wsHibernateMs` as long as the interval would never be reached).
                    passes -= 1;
                    if ping_sent_at.is_some_and(|sent| self.inbound.last_heard.get() < sent) {
                        return Exit::Close(0, String::new());
                    }
                    let now = Instant::now();
                    encode_ping(&mut self.duplex.write_buf, PING_PAYLOAD);
                    ping_sent_at = Some(now);
                    next_ping = now + ping_interval;
                    ping_timer.as_mut().reset(next_ping);
                }
                _ = hibernation::due(&mut quiet), if may_sleep => {
                    let pause = self.pause.as_deref();
                    if let Some(parts) = hibernation::settle(&mut quiet, pause, passes, self.client_reads(), &mut parked).await {
                        let ping = Ping { next: next_ping, sent_at: ping_sent_at };
                        return Exit::Hibernate(parts, ping);
                    }
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

    /// For an echo session whose client closed: writes the echoes still queued (of what the
    /// client sent before its close), unless its plan paces deliveries. A subscription's queued
    /// broker messages are not written: the client that closed resumes from what it received.
    async fn write_echoes(
        &mut self,
        queue: &OutboundQueue,
        metrics: &Arc<ShardMetrics>,
    ) -> std::io::Result<()> {
        if !self.echoes || self.pacer.paces() {
            return Ok(());
        }
        let mut batch = Vec::new();
        loop {
            queue.drain_into(MAX_BATCH, &mut batch);
            if batch.is_empty() {
                return Ok(());
            }
            let delivered = batch.len() as u64;
            for message in batch.drain(..) {
                self.frame(&message, metrics);
            }
            self.duplex.flush().await?;
            ShardMetrics::add(&metrics.messages_delivered_total, delivered);
            self.duplex.exchange().delivered(delivered);
        }
    }

    /// The reads that carried more than pongs: the client's activity, for the quiet check (a
    /// client answering keep-alive pings is still quiet).
    fn client_reads(&self) -> u64 {
        let reads = self.pause.as_deref().map_or(0, ReadPause::reads);
        reads.saturating_sub(self.inbound.keep_alive_reads.get())
    }

    /// The close to send after a failed write: none when the client is gone; 1013 with the
    /// resume cursor when it stopped reading (`streamStallMs` without progress). The close frame
    /// then goes after the bytes it had not read yet, best effort (`Duplex::flush`).
    pub(super) fn write_failed(
        &self,
        err: &std::io::Error,
        metrics: &ShardMetrics,
    ) -> (u16, String) {
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
