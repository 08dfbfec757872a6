//! Hibernation of an SSE stream, as a WebSocket session hibernates (`websocket::hibernate`): a
//! plain-TCP stream that had nothing to write for `sseHibernateMs` (the fan-out writing its
//! events directly) gives up its reader and writer tasks and waits as plain state, with one
//! small task waiting for whatever needs it again.
//!
//! While it sleeps the fan-out keeps writing its events straight to the socket (the queue stays
//! parked), and its heartbeats go out directly too, so a subscriber that only receives never
//! wakes. Whatever its client sends is read and dropped as the reader would (an SSE client has
//! nothing to say after its request). It wakes, and runs its tasks again from where it stopped,
//! when: the client leaves (or sends more than a short peek shows), the queue needs its writer (a
//! direct write the socket did not take whole, a burst, the end of the stream), a heartbeat the
//! socket does not take whole, the gateway shuts down, the API version retires, or the client's
//! credential ends.

use bytes::BytesMut;
use monoio::time::Instant;

use super::{finish, frame_into, go_on, Live, SseStream};
use crate::codec::sse::encode_heartbeat;
use crate::entrypoint::hibernation::{self, woken, Asleep, Woke};
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::server::duplex::{DiscardInbound, WroteNow};
use crate::server::stream_peek::Discarded;
use crate::server::stream_read::ReaderParts;
use crate::shard::supervisor::spawn_connection_task;

/// A stream between tasks.
struct Sleeping {
    stream: SseStream,
    reader: ReaderParts<DiscardInbound>,
    live: Live,
    /// Counted in `sse_streams_hibernating` for as long as it sleeps (also when its task is
    /// dropped or panics).
    _asleep: Asleep,
}

impl Sleeping {
    /// Writes the heartbeat due at `armed_for` without waking (none when a direct write since
    /// has moved it); false when the stream must wake: the socket did not take the heartbeat
    /// whole (the woken writer writes it, or the rest of it, first).
    fn heartbeat_asleep(&mut self, armed_for: Instant) -> bool {
        if self.stream.heartbeat_due() > armed_for {
            return true;
        }
        let mut frame = BytesMut::with_capacity(16);
        frame_into(&mut frame, self.stream.chunked, encode_heartbeat);
        let wrote = self.stream.duplex.write_now(&frame);
        if wrote != WroteNow::Nothing {
            self.stream.last_write = Instant::now();
        }
        if wrote == WroteNow::All {
            ShardMetrics::inc(&self.live.shard.metrics.sse_heartbeats_asleep_total);
        }
        wrote == WroteNow::All
    }
}

/// Puts `stream` to sleep: its writer task is ending (this is its last step) and its reader has
/// handed back `reader`; one small task waits for what wakes it.
pub(super) fn fall_asleep(mut stream: SseStream, reader: ReaderParts<DiscardInbound>, live: Live) {
    hibernation::prepare(&mut stream.duplex, &live.queue);
    stream.scratch = BytesMut::new();
    let asleep = Asleep::count(
        &live.shard.metrics,
        |m| &m.sse_hibernations_total,
        |m| &m.sse_streams_hibernating,
    );
    let sleeping = Box::new(Sleeping {
        stream,
        reader,
        live,
        _asleep: asleep,
    });
    spawn_connection_task("sse hibernation", wait(sleeping), || {});
}

/// Waits for whatever needs the stream, then starts its tasks again.
async fn wait(mut sleeping: Box<Sleeping>) {
    loop {
        let heartbeat = sleeping.stream.heartbeat_due();
        let Sleeping { reader, live, .. } = &*sleeping;
        let (watch, drain) = (&*live.watch, &live.api.drain);
        let woke = woken(
            &live.shard,
            reader,
            watch,
            drain,
            EntrypointKind::Sse,
            &live.queue,
            heartbeat,
        );
        let woke = woke.await;
        match woke {
            // What an SSE client sends is dropped, awake or asleep; its leaving wakes the reader.
            Woke::Readable => {
                if sleeping.reader.discard_if(|_| true) == Discarded::Wake {
                    break;
                }
            }
            Woke::AlarmDue => {
                if !sleeping.heartbeat_asleep(heartbeat) {
                    break;
                }
            }
            Woke::Other => break,
        }
    }
    let Sleeping {
        mut stream,
        reader,
        live,
        _asleep,
    } = *sleeping;
    _asleep.woke(|m| &m.sse_wakeups_total);
    let pause = stream.pause.as_ref();
    hibernation::resume(&mut stream.duplex, pause, reader, &live.queue);
    spawn_connection_task("sse stream", awake(stream, live), || {});
}

/// The woken stream: first the rest of a direct write or heartbeat the socket did not take
/// whole (the wait above took the queue's readiness for it), then its loop as before.
async fn awake(mut stream: SseStream, live: Live) {
    if let Err(err) = stream.duplex.flush().await {
        let goaway = SseStream::flush_failed(&err, &live.shard);
        finish(stream, live, goaway).await;
        return;
    }
    go_on(stream, live).await;
}
