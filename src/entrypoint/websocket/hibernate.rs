//! Hibernation: a plain-TCP WebSocket session that has been quiet for `wsHibernateMs` (nothing
//! of its own to write, the fan-out writing its messages directly, the client silent) gives up
//! its two tasks and waits as plain state: its `Session`, the reader's parts (frame decoder,
//! publisher) and what the connection holds, in one allocation, with one small task waiting for
//! whatever needs the session again. That is what brings an idle connection's memory down to a
//! few KiB: a task's future is laid out for its largest state (the request phase, a flush under
//! way), and an idle connection used to hold two.
//!
//! While it sleeps, the fan-out keeps writing its messages straight to the socket (the queue stays
//! parked), so a subscriber that only receives never wakes; nor does keep-alive: the sleeper
//! writes its ping directly and takes the client's pongs off the socket (`codec::ws::pongs`). It
//! wakes, and runs its tasks again from where it stopped, when: the client sends anything else
//! (a data frame, a ping, a close, or the end of the connection), the queue needs its writer (a
//! direct write the socket did not take whole, a burst, the end of the stream), a ping is due
//! whose predecessor went unanswered or the socket does not take whole, the gateway shuts down,
//! the API version retires, or the client's credential ends.

use bytes::BytesMut;
use monoio::time::Instant;

use super::inbound::WsReader;
use super::session::{finish, go_on, Ping, Session, PING_PAYLOAD};
use crate::codec::ws::encode_ping;
use crate::codec::ws::pongs::only_pongs;
use crate::entrypoint::hibernation::{self, woken, Asleep, Woke};
use crate::entrypoint::live_stream::Live;
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::server::duplex::WroteNow;
use crate::server::stream_peek::Discarded;
use crate::server::stream_read::ReaderParts;
use crate::shard::supervisor::spawn_connection_task;

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

impl Sleeping {
    /// Sends the keep-alive ping that is due without waking; false when the session must wake:
    /// its client did not answer the last one (the woken loop closes it), or the socket did not
    /// take the ping whole (the woken writer sends it, or the rest of it, first).
    fn ping_asleep(&mut self) -> bool {
        let inbound = &self.session.inbound;
        if self
            .ping
            .sent_at
            .is_some_and(|sent| inbound.last_heard.get() < sent)
        {
            return false;
        }
        let mut frame = BytesMut::with_capacity(16);
        encode_ping(&mut frame, PING_PAYLOAD);
        let wrote = self.session.duplex.write_now(&frame);
        if wrote != WroteNow::Nothing {
            let now = Instant::now();
            self.ping = Ping {
                next: now + self.live.shard.gateway.timeouts.ws_ping_interval,
                sent_at: Some(now),
            };
        }
        if wrote == WroteNow::All {
            ShardMetrics::inc(&self.live.shard.metrics.websocket_pings_asleep_total);
        }
        wrote == WroteNow::All
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
    hibernation::prepare(&mut session.duplex, &live.queue);
    session.inbound.hibernate();
    let asleep = Asleep::count(
        &live.shard.metrics,
        |m| &m.websocket_hibernations_total,
        |m| &m.websocket_sessions_hibernating,
    );
    let sleeping = Box::new(Sleeping {
        session,
        reader: *reader,
        live,
        ping,
        _asleep: asleep,
    });
    spawn_connection_task("websocket hibernation", wait(sleeping), || {});
}

/// Waits for whatever needs the session, then starts its tasks again. Keep-alive is handled
/// asleep: the ping goes out directly and the client's pongs are taken off the socket, so an
/// idle session with a live client never wakes.
async fn wait(mut sleeping: Box<Sleeping>) {
    let heard = loop {
        let Sleeping {
            reader, live, ping, ..
        } = &*sleeping;
        let (watch, drain, kind) = (&*live.watch, &live.api.drain, EntrypointKind::WebSocket);
        let woke = woken(
            &live.shard,
            reader,
            watch,
            drain,
            kind,
            &live.queue,
            ping.next,
        )
        .await;
        match woke {
            Woke::Readable => match sleeping.reader.discard_if(only_pongs) {
                Discarded::Taken => sleeping.session.inbound.last_heard.set(Instant::now()),
                Discarded::Nothing => {}
                Discarded::Wake => break true,
            },
            Woke::AlarmDue => {
                if !sleeping.ping_asleep() {
                    break false;
                }
            }
            Woke::Other => break false,
        }
    };
    let Sleeping {
        mut session,
        reader,
        live,
        ping,
        _asleep,
    } = *sleeping;
    _asleep.woke(|m| &m.websocket_wakeups_total);
    if heard {
        // The client sent something, which its restarted reader is about to read: a ping due
        // at once must not take it for silent.
        session.inbound.last_heard.set(Instant::now());
    }
    let pause = session.pause.as_ref();
    hibernation::resume(&mut session.duplex, pause, reader, &live.queue);
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
