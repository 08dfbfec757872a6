//! Hibernation: a plain-TCP WebSocket session that has been quiet for `wsHibernateMs` (nothing
//! of its own to write, the fan-out writing its messages directly, the client silent) gives up
//! its two tasks and waits as plain state: its `Session`, the reader's parts (frame decoder,
//! publisher) and what the connection holds, in one allocation, with one small task waiting for
//! whatever needs the session again. That is what brings an idle connection's memory down to a
//! few KiB: a task's future is laid out for its largest state (the request phase, a flush under
//! way), and an idle connection used to hold two.
//!
//! While it sleeps, the fan-out keeps writing its messages straight to the socket (the queue stays
//! parked), so a subscriber that only receives never wakes. It wakes, and runs its tasks again
//! from where it stopped, when: the client sends anything (the socket is readable: a frame, a
//! ping, a close, or the end of the connection), the queue needs its writer (a direct write the
//! socket did not take whole, a burst, the end of the stream), the next keep-alive ping is due,
//! the gateway shuts down, the API version retires, or the client's credential ends.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::time::Instant;

use super::inbound::WsReader;
use super::session::{finish, go_on, Live, Ping, Session};
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::server::stream_read::ReaderParts;
use crate::server::write_batch::WriteBatch;
use crate::shard::supervisor::spawn_connection_task;
use crate::shard::{Alarm, Alarms};

/// When a session looks at whether it has been quiet: armed at the start of a quiet spell, the
/// session hibernates if its writer made no other pass and its reader read nothing since. On the
/// shard's `Alarms` (a monoio timer would add 640 bytes to every awake session).
pub(super) struct Quiet<'a> {
    alarms: &'a Alarms,
    alarm: Alarm<'a>,
    after: Duration,
    /// The writer's pass count and the reader's read count when armed.
    passes: u64,
    reads: u64,
}

impl<'a> Quiet<'a> {
    /// Armed at the session's start (its writer's first pass is 1).
    pub(super) fn new(alarms: &'a Alarms, after: Duration, reads: u64) -> Quiet<'a> {
        Quiet {
            alarms,
            alarm: alarms.at(Instant::now() + after),
            after,
            passes: 0,
            reads,
        }
    }

    /// True when, since it was armed, the writer's only pass is the one the check woke, and
    /// the client sent nothing.
    pub(super) fn was_quiet(&self, passes: u64, reads: u64) -> bool {
        passes == self.passes + 1 && reads == self.reads
    }

    /// Arms the next check.
    pub(super) fn arm(&mut self, passes: u64, reads: u64) {
        self.passes = passes;
        self.reads = reads;
        self.alarm = self.alarms.at(Instant::now() + self.after);
    }
}

/// Resolves when the quiet check is due; never when there is none.
pub(super) async fn due(quiet: &mut Option<Quiet<'_>>) {
    match quiet {
        Some(quiet) => (&mut quiet.alarm).await,
        None => std::future::pending().await,
    }
}

/// A session between tasks.
struct Sleeping {
    session: Session,
    reader: ReaderParts<WsReader>,
    live: Live,
    ping: Ping,
    /// Counted in `websocket_sessions_hibernating` for as long as it sleeps (also when its task
    /// is dropped or panics).
    _asleep: Asleep,
}

/// One hibernating session in `websocket_sessions_hibernating`.
struct Asleep(Arc<ShardMetrics>);

impl Asleep {
    fn count(metrics: &Arc<ShardMetrics>) -> Asleep {
        ShardMetrics::inc(&metrics.websocket_hibernations_total);
        ShardMetrics::inc(&metrics.websocket_sessions_hibernating);
        Asleep(metrics.clone())
    }
}

impl Drop for Asleep {
    fn drop(&mut self) {
        ShardMetrics::sub(&self.0.websocket_sessions_hibernating, 1);
    }
}

/// Puts `session` to sleep: its writer task is ending (this is its last step) and its reader has
/// handed back `reader`; one small task waits for what wakes it.
pub(super) fn fall_asleep(
    mut session: Session,
    reader: Box<ReaderParts<WsReader>>,
    live: Live,
    ping: Ping,
) {
    session.duplex.reading_paused();
    // Empty here (the writer parked with nothing pending): their room goes, not only their bytes.
    session.duplex.batch = WriteBatch::new();
    session.duplex.write_buf = BytesMut::new();
    session.inbound.hibernate();
    live.queue.release_room();
    let asleep = Asleep::count(&live.shard.metrics);
    let sleeping = Box::new(Sleeping {
        session,
        reader: *reader,
        live,
        ping,
        _asleep: asleep,
    });
    spawn_connection_task("websocket hibernation", wait(sleeping), || {});
}

/// Waits for whatever needs the session, then starts its tasks again.
async fn wait(sleeping: Box<Sleeping>) {
    let heard = {
        let Sleeping {
            reader, live, ping, ..
        } = &*sleeping;
        // Whichever comes first: each of them is looked at again by the woken session's loop.
        monoio::select! {
            biased;
            _ = live.shard.shutdown.wait() => false,
            // Before the others: a client heard from must not be taken for silent when its
            // bytes come with another event.
            _ = reader.readable() => true,
            _ = live.watch.ended() => false,
            _ = live.api.drain.retired(EntrypointKind::WebSocket) => false,
            _ = live.queue.ready() => false,
            _ = live.shard.alarms.at(ping.next) => false,
        }
    };
    let Sleeping {
        mut session,
        reader,
        live,
        ping,
        _asleep,
    } = *sleeping;
    drop(_asleep);
    ShardMetrics::inc(&live.shard.metrics.websocket_wakeups_total);
    if heard {
        // The client sent something, which its restarted reader is about to read: a ping due
        // at once must not take it for silent.
        session.inbound.last_heard.set(Instant::now());
    }
    // The writer runs again: what the fan-out pushes from now on queues for it.
    live.queue.unpark();
    let pause = session
        .pause
        .clone()
        .expect("a hibernating session has a pause");
    session.duplex.resume_reading(reader, pause);
    spawn_connection_task("websocket session", awake(session, live, ping), || {});
}

/// The woken session: first the rest of a direct write the socket did not take whole (the wait
/// above took the queue's readiness for it), then its loop as before.
async fn awake(mut session: Session, live: Live, ping: Ping) {
    if let Err(err) = session.duplex.flush().await {
        let (code, reason) = session.write_failed(&err, &live.shard.metrics);
        finish(session, live, code, &reason).await;
        return;
    }
    go_on(session, live, ping).await;
}
