//! An SSE stream's writer: its events as they arrive, heartbeats when idle, the quiet check
//! that lets it hibernate (`hibernate`), and how it ends.

use std::rc::Rc;

use bytes::BytesMut;
use monoio::time::Instant;

use super::event::encode_message;
use super::{Exit, Live};
use crate::codec::sse::encode_heartbeat;
use crate::config::SseOptions;
use crate::delivery::QueueEnd;
use crate::entrypoint::hibernation::{self, Quiet};
use crate::entrypoint::live_stream::ended_by;
use crate::error::{self, DataError, Kind};
use crate::message::MessageId;
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::rate_limit::{self, Pacer};
use crate::server::duplex::{DiscardInbound, Duplex};
use crate::server::stall_write::is_stall;
use crate::server::stream_read::ReadPause;
use crate::shard::Shard;

/// Most messages encoded into one write.
const MAX_BATCH: usize = 256;

pub(super) struct SseStream {
    pub(super) duplex: Duplex,
    /// The reader's pause, when the stream may hibernate (plain TCP, direct writes).
    pub(super) pause: Option<Rc<ReadPause<DiscardInbound>>>,
    pub(super) chunked: bool,
    /// Reused for each event's head.
    pub(super) scratch: BytesMut,
    /// The id of the last message encoded (else the position the stream started after): what
    /// the `goaway` tells the client to resume from.
    pub(super) resume: Option<MessageId>,
    /// When the writer last wrote (the fan-out's direct writes: `Duplex::direct_wrote_at`).
    pub(super) last_write: Instant,
    /// `deliverPerSecond` of the client's plan.
    pub(super) pacer: Pacer,
    pub(super) options: SseOptions,
}

impl SseStream {
    /// Appends one write's worth of events, framed as one HTTP chunk when chunked. The chunk size
    /// is written as fixed-width hex (leading zeros are valid) so events are encoded in place.
    pub(super) fn frame(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        frame_into(&mut self.duplex.write_buf, self.chunked, encode);
    }

    /// When a heartbeat is due: an interval after the last write, the writer's or the
    /// fan-out's.
    pub(super) fn heartbeat_due(&self) -> Instant {
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
    pub(super) async fn pump(&mut self, live: &Live) -> Exit {
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
        let reads = self.pause.as_deref().map(ReadPause::reads);
        let mut quiet = Quiet::armed(&shard.alarms, shard.gateway.timeouts.sse_hibernate, reads);
        let peer_closed = self.duplex.peer_closed.clone();
        let mut ends = std::pin::pin!(ended_by(
            &peer_closed,
            shard,
            watch,
            drain,
            EntrypointKind::Sse
        ));
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
                end = &mut ends => return Exit::End(end.error(watch, drain).and_then(|(kind, why)| ended(shard, kind, why))),
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
    pub(super) fn flush_failed(err: &std::io::Error, shard: &Shard) -> Option<&'static str> {
        if !is_stall(err) {
            return None;
        }
        ended(shard, Kind::ClientStalled, "client stopped reading")
    }
}

/// Appends what `encode` writes to `dst`, framed as one HTTP chunk when `chunked`. The chunk
/// size is written as fixed-width hex (leading zeros are valid) so events are encoded in place.
pub(super) fn frame_into(dst: &mut BytesMut, chunked: bool, encode: impl FnOnce(&mut BytesMut)) {
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
