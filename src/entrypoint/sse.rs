//! Server-Sent Events entrypoint: a `text/event-stream` of `id:`/`event: message`/`data:` events.
//!
//! The stream opens with `retry:`; a heartbeat comment goes out only when nothing was written for
//! `heartbeatIntervalInMs`; `Last-Event-ID` (or `?cursor=`, for clients that cannot set headers)
//! resumes right after that message. Over HTTP/1.1 the body is chunked, one chunk per write,
//! each carrying every event pending at that moment. Payloads that are not UTF-8 are sent as
//! base64 in an event named `message-base64` (so are payloads with a CR, which SSE parsing would
//! turn into a line break). On shutdown the client gets `event: goaway`, and so does a stream whose
//! API key or subscription stopped being valid (`crate::security::live`).

use std::rc::Rc;

use bytes::BytesMut;
use monoio::time::Instant;

use crate::codec::http_head::RequestHead;
use crate::codec::http_response::{BodyKind, ResponseHead};
use crate::codec::sse::{encode_event, encode_heartbeat, encode_retry, SseEvent};
use crate::config::SseOptions;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::deployed::Api;
use crate::endpoint::EndpointError;
use crate::endpoint::Subscription;
use crate::entrypoint::hibernation::{self, Quiet};
use crate::error::{self, DataError, Kind};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::rate_limit::{self, Pacer};
use crate::security::live::StreamWatch;
use crate::server::conn::Conn;
use crate::server::duplex::{DiscardInbound, Duplex};
use crate::server::stall_write::is_stall;
use crate::server::stream_read::{ReadPause, ReaderParts};
use crate::server::write_batch::WriteBatch;
use crate::shard::{Lifeline, Shard};

mod event;
mod hibernate;

use event::encode_message;

/// Reconnection delay advertised to clients in the first frame.
const RETRY_MS: u64 = 3000;
/// Most messages encoded into one write.
const MAX_BATCH: usize = 256;

/// Streams events until the client leaves, the stream ends, or the gateway shuts down. The
/// request head is dropped once the stream starts.
pub async fn serve(
    mut conn: Conn,
    head: RequestHead,
    api: &Rc<Api>,
    options: &SseOptions,
    shard: &Rc<Shard>,
    lifeline: Lifeline,
) {
    let cursor = match resume_position(&head, api) {
        Ok(cursor) => cursor,
        Err(err) => {
            let _ = error::answer(&mut conn, &err.into(), true).await;
            return;
        }
    };
    if api.endpoint.is_exhausted_after(cursor.clone()) {
        // 204 tells EventSource to stop reconnecting: this finite stream has nothing more.
        conn.exchange().answered(204);
        let request_id = conn.request_id();
        conn.encode_head(&ResponseHead {
            status: 204,
            headers: &[("X-Request-Id", request_id.as_str())],
            body: BodyKind::None,
            close: true,
        });
        let _ = conn.flush().await;
        return;
    }
    let queue = Rc::new(OutboundQueue::new(
        &shard.gateway.outbound,
        shard.metrics.clone(),
    ));
    let (subscription, start) = match api.endpoint.subscribe(
        cursor.clone(),
        queue.clone(),
        super::subscription_name(&head).as_deref(),
    ) {
        Ok(subscribed) => subscribed,
        Err(err) => {
            let _ = error::answer(&mut conn, &err.into(), true).await;
            return;
        }
    };
    let chunked = head.version_minor() >= 1;
    drop(head);
    conn.exchange().answered(200);
    let request_id = conn.request_id();
    conn.encode_head(&ResponseHead {
        status: 200,
        headers: &[
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
            ("X-Request-Id", request_id.as_str()),
        ],
        body: if chunked {
            BodyKind::Chunked
        } else {
            BodyKind::None
        },
        close: !chunked,
    });
    // Ends the stream when its key or subscription stops being valid (revoked, expired, closed).
    let watch = Rc::new(shard.security.live.watch(conn.access.as_ref()));
    let pacer = Pacer::new(conn.meter.take());
    // Unpaced: while the writer waits, the fan-out writes the events itself, and a quiet stream
    // can hibernate.
    let direct = !pacer.paces();
    let hibernates = direct && !conn.is_tls() && shard.gateway.timeouts.sse_hibernate.is_some();
    let (duplex, pause) = if hibernates {
        let (duplex, pause) = Duplex::start_pausable(conn, DiscardInbound);
        (duplex, Some(pause))
    } else {
        (Duplex::start(conn, DiscardInbound), None)
    };
    let mut stream = SseStream {
        duplex,
        pause,
        chunked,
        scratch: BytesMut::new(),
        resume: start.or(cursor),
        last_write: Instant::now(),
        pacer,
        options: options.clone(),
    };
    if direct {
        let (options, metrics) = (options.clone(), shard.metrics.clone());
        let frame = move |batch: &mut WriteBatch, message: &Message| {
            let mut scratch = BytesMut::new();
            encode_message(
                batch,
                &mut scratch,
                message,
                &options,
                chunked,
                &metrics,
                true,
            );
        };
        stream.duplex.write_directly(&queue, Box::new(frame));
    }
    stream.frame(|dst| encode_retry(dst, RETRY_MS));
    if stream.duplex.flush().await.is_err() {
        return;
    }
    ShardMetrics::inc(&shard.metrics.sse_streams_open);
    stream.duplex.exchange().stream_opened();
    let live = Live {
        queue,
        subscription: Some(subscription),
        watch,
        api: api.clone(),
        shard: shard.clone(),
        lifeline,
    };
    go_on(stream, live).await;
}

/// Runs `stream` until it ends (with its `goaway`) or hibernates (its tasks end; `hibernate`
/// wakes it).
async fn go_on(mut stream: SseStream, live: Live) {
    match stream.pump(&live).await {
        Exit::Hibernate(reader) => hibernate::fall_asleep(stream, *reader, live),
        Exit::End(end) => finish(stream, live, end).await,
    }
}

/// Ends the stream: unsubscribed, then the `goaway` (`None`: the client is gone) with the id to
/// resume from and the end of the chunked body; what the connection held (`Live::lifeline`)
/// goes last.
async fn finish(mut stream: SseStream, mut live: Live, end: Option<&'static str>) {
    if let Some(id) = stream.duplex.take_direct_last() {
        stream.resume = Some(id);
    }
    tracing::debug!(api = %live.api.id, goaway = ?end, "sse stream ended");
    drop(live.subscription.take());
    ShardMetrics::sub(&live.shard.metrics.sse_streams_open, 1);
    if let Some(goodbye) = end {
        // The id is where to resume: EventSource sends it back as `Last-Event-ID`.
        let resume = stream.resume.as_ref().map(MessageId::to_string);
        let data = match &resume {
            Some(id) => format!("{goodbye}; reconnect with Last-Event-ID: {id}"),
            None => format!("{goodbye}; reconnect"),
        };
        stream.frame(|dst| {
            encode_event(
                dst,
                &SseEvent {
                    id: resume.as_deref(),
                    event: Some("goaway"),
                    data: data.as_bytes(),
                    comments: &[],
                },
            )
        });
        if stream.chunked {
            stream.duplex.write_buf.extend_from_slice(b"0\r\n\r\n");
        }
        let _ = stream.duplex.flush().await;
    }
    // The socket closes first, then what the connection held: its slot and access-log record.
    drop(stream);
    drop(live);
}

/// What a stream holds besides `SseStream`, awake or hibernating. Dropped in this order: the
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

/// How `SseStream::pump` ended.
enum Exit {
    /// The stream ends: the `goaway` to send, or `None` when the client is gone.
    End(Option<&'static str>),
    /// The stream was quiet: its reader paused and gave back what it holds.
    Hibernate(Box<ReaderParts<DiscardInbound>>),
}

/// `Last-Event-ID` wins over `?cursor=`; both absent means "from now".
fn resume_position(head: &RequestHead, api: &Api) -> Result<Option<MessageId>, EndpointError> {
    // A resume position that cannot be read must not silently become "from now".
    let last_event_id = match head.header("last-event-id") {
        Some(raw) => Some(
            std::str::from_utf8(raw).map_err(|_| EndpointError::InvalidCursor {
                cursor: "Last-Event-ID".to_owned(),
                expected:
                    "Last-Event-ID must be UTF-8 text: send the id of the last event received",
            })?,
        ),
        None => None,
    };
    let given = last_event_id
        .map(str::to_owned)
        .or_else(|| head.query_param("cursor"));
    match given.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => api.endpoint.parse_cursor(text).map(Some),
    }
}

struct SseStream {
    duplex: Duplex,
    /// The reader's pause, when the stream may hibernate (plain TCP, direct writes).
    pause: Option<Rc<ReadPause<DiscardInbound>>>,
    chunked: bool,
    /// Reused for each event's head.
    scratch: BytesMut,
    /// The id of the last message encoded (else the position the stream started after): what
    /// the `goaway` tells the client to resume from.
    resume: Option<MessageId>,
    /// When the writer last wrote (the fan-out's direct writes: `Duplex::direct_wrote_at`).
    last_write: Instant,
    /// `deliverPerSecond` of the client's plan.
    pacer: Pacer,
    options: SseOptions,
}

impl SseStream {
    /// Appends one write's worth of events, framed as one HTTP chunk when chunked. The chunk size
    /// is written as fixed-width hex (leading zeros are valid) so events are encoded in place.
    fn frame(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        frame_into(&mut self.duplex.write_buf, self.chunked, encode);
    }

    /// When a heartbeat is due: an interval after the last write, the writer's or the
    /// fan-out's.
    fn heartbeat_due(&self) -> Instant {
        let wrote = self
            .duplex
            .direct_wrote_at()
            .map_or(self.last_write, |at| at.max(self.last_write));
        wrote + self.options.heartbeat_interval
    }

    /// Writes events as they arrive and heartbeats when idle, until the stream ends (the
    /// `goaway` text to send, or `None` when the client is gone) or hibernates. A client that
    /// stopped reading (no byte accepted for `streamStallMs`) gets a `goaway` too, written after
    /// what it had not read yet: best effort, within a short grace (`Duplex::flush`).
    async fn pump(&mut self, live: &Live) -> Exit {
        let (queue, shard, watch, drain) =
            (&*live.queue, &*live.shard, &*live.watch, &live.api.drain);
        let interval = self.options.heartbeat_interval;
        // Grown by the first messages, not up front: an idle client holds no batch room.
        let mut batch = Vec::new();
        let mut written: Option<MessageId> = None;
        // One timer for the stream: when it fires after a recent write it is only moved to
        // `last_write + interval`, so writing a message never touches the timer wheel.
        let mut heartbeat = std::pin::pin!(monoio::time::sleep_until(self.last_write + interval));
        // When hibernation is looked at next (armed only for a stream that may hibernate).
        let mut quiet = self.pause.as_ref().and_then(|pause| {
            let after = shard.gateway.timeouts.sse_hibernate?;
            Some(Quiet::new(&shard.alarms, after, pause.reads()))
        });
        // The waits for the stream's end events live as long as the loop: re-created on every
        // pass they would take and give back a waiter slot of each signal per message.
        let peer_closed = self.duplex.peer_closed.clone();
        let mut peer_gone = std::pin::pin!(peer_closed.wait());
        let mut shutdown = std::pin::pin!(shard.shutdown.wait());
        let mut revoked = std::pin::pin!(watch.ended());
        let mut retired = std::pin::pin!(drain.retired(EntrypointKind::Sse));
        // Passes of this loop: a quiet stream is one whose only pass in a while was the check.
        let mut passes: u64 = 0;
        loop {
            passes += 1;
            let paused = self.pacer.paused_until();
            // While it waits with nothing pending, the fan-out writes for it (any exit unparks).
            let mut parked = self.duplex.park(queue);
            let may_sleep = parked.is_some();
            monoio::select! {
                biased;
                _ = &mut peer_gone => return Exit::End(None),
                _ = &mut shutdown => return Exit::End(ended(shard, Kind::ShuttingDown, "gateway shutting down")),
                _ = &mut revoked => return Exit::End(ended(shard, Kind::AccessEnded, watch.reason())),
                _ = &mut retired => return Exit::End(ended(shard, Kind::Retired, drain.reason())),
                _ = rate_limit::until(paused), if paused.is_some() => {
                    self.pacer.resume();
                    continue;
                }
                ready = queue.ready(), if paused.is_none() => match ready {
                    Ok(()) => {
                        // What the fan-out wrote meanwhile is older than what comes now.
                        if let Some(id) = self.duplex.take_direct_last() {
                            self.resume = Some(id);
                        }
                        self.pacer.drain(queue, MAX_BATCH, &mut batch);
                        let count = batch.len() as u64;
                        written = batch.last().map(|message| message.id.clone());
                        if written.is_some() {
                            self.resume.clone_from(&written);
                        }
                        for message in batch.drain(..) {
                            let out = &mut self.duplex.batch;
                            encode_message(out, &mut self.scratch, &message, &self.options, self.chunked, &shard.metrics, false);
                        }
                        ShardMetrics::add(&shard.metrics.messages_delivered_total, count);
                        self.duplex.exchange().delivered(count);
                    }
                    Err(QueueEnd::SlowClient) => return Exit::End(ended(shard, Kind::SlowClient, "client too slow")),
                    Err(QueueEnd::Unavailable) => return Exit::End(ended(shard, Kind::BrokerUnavailable, QueueEnd::UNAVAILABLE_REASON)),
                    Err(QueueEnd::Finished) => return Exit::End(Some("end of stream")),
                    Err(QueueEnd::Closed) => return Exit::End(None),
                },
                _ = &mut heartbeat => {
                    // Keep-alive is no activity: a stream that only sends heartbeats is quiet
                    // (else an `sseHibernateMs` as long as the interval would never be reached).
                    passes -= 1;
                    let due = self.heartbeat_due();
                    if Instant::now() < due {
                        heartbeat.as_mut().reset(due);
                        continue;
                    }
                    self.frame(encode_heartbeat);
                    heartbeat.as_mut().reset(Instant::now() + interval);
                }
                _ = hibernation::due(&mut quiet), if may_sleep => {
                    let pause = self.pause.as_deref();
                    if let Some(parts) = hibernation::settle(&mut quiet, pause, passes, pause.map_or(0, ReadPause::reads), &mut parked).await {
                        return Exit::Hibernate(parts);
                    }
                    continue;
                }
            }
            drop(parked);
            if let Err(err) = self.duplex.flush().await {
                return Exit::End(SseStream::flush_failed(&err, shard));
            }
            if let Some(id) = written.take() {
                queue.mark_delivered(id);
            }
            self.last_write = Instant::now();
        }
    }

    /// The `goaway` after a failed write: none when the client is gone; "client stopped
    /// reading" after a stall.
    fn flush_failed(err: &std::io::Error, shard: &Shard) -> Option<&'static str> {
        if !is_stall(err) {
            return None;
        }
        ended(shard, Kind::ClientStalled, "client stopped reading")
    }
}

/// Appends what `encode` writes to `dst`, framed as one HTTP chunk when `chunked`. The chunk
/// size is written as fixed-width hex (leading zeros are valid) so events are encoded in place.
fn frame_into(dst: &mut BytesMut, chunked: bool, encode: impl FnOnce(&mut BytesMut)) {
    if !chunked {
        encode(dst);
        return;
    }
    let start = dst.len();
    dst.extend_from_slice(b"00000000\r\n");
    encode(dst);
    let size = dst.len() - start - 10;
    dst[start..start + 8].copy_from_slice(format!("{size:08x}").as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// The `goaway` for `kind` ending the stream (`crate::error`), counted and logged.
fn ended(shard: &Shard, kind: Kind, why: &'static str) -> Option<&'static str> {
    error::record_ending(&shard.metrics, &DataError::new(kind, why));
    Some(why)
}

#[cfg(test)]
#[path = "sse/tests.rs"]
mod tests;

#[cfg(test)]
#[path = "sse/frame_tests.rs"]
mod frame_tests;
