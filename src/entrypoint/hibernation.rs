//! What WebSocket sessions (`websocket::hibernate`) and SSE streams (`sse::hibernate`) share to
//! hibernate: the check of whether a stream has been quiet, the step into sleep, and the count
//! of those asleep.

use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::time::Instant;

use crate::delivery::{OutboundQueue, Parked};
use crate::deployed::Drain;
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::security::live::StreamWatch;
use crate::server::duplex::{Duplex, InboundHandler};
use crate::server::stream_read::{ReadPause, ReaderParts};
use crate::server::write_batch::WriteBatch;
use crate::shard::{Alarm, Alarms, Shard};

/// When a stream looks at whether it has been quiet: armed at the start of a quiet spell, the
/// stream hibernates if its writer made no other pass and its reader read nothing since. On the
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
    /// Armed at the stream's start (its writer's first pass is 1).
    fn new(alarms: &'a Alarms, after: Duration, reads: u64) -> Quiet<'a> {
        Quiet {
            alarms,
            alarm: alarms.at(Instant::now() + after),
            after,
            passes: 0,
            reads,
        }
    }

    /// The check of a stream that may hibernate (`reads`: its reader's count, when it can be
    /// paused) after `after` (`None`: hibernation off); `None` for one that never will.
    pub(super) fn armed(
        alarms: &'a Alarms,
        after: Option<Duration>,
        reads: Option<u64>,
    ) -> Option<Quiet<'a>> {
        Some(Quiet::new(alarms, after?, reads?))
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

/// At a quiet check (`due`) of a stream whose writer is `parked`: when it has been quiet since
/// the last check, pauses its reader and returns the reader's parts, leaving the queue parked
/// (the fan-out goes on writing for it while it sleeps); otherwise arms the next check and
/// returns `None`. `passes`: the writer loop's passes so far; `reads`: the reads that count as
/// the client's activity so far.
pub(super) async fn settle<H>(
    quiet: &mut Option<Quiet<'_>>,
    pause: Option<&ReadPause<H>>,
    passes: u64,
    reads: u64,
    parked: &mut Option<Parked<'_>>,
) -> Option<Box<ReaderParts<H>>> {
    let check = quiet.as_mut().expect("armed");
    if check.was_quiet(passes, reads) {
        if let Some(parts) = pause.expect("armed with a pause").pause().await {
            if let Some(parked) = parked.take() {
                parked.stay();
            }
            return Some(parts);
        }
    }
    check.arm(passes, reads);
    None
}

/// A shard metric, picked from its `ShardMetrics`.
pub(super) type Pick = fn(&ShardMetrics) -> &AtomicU64;

/// One stream in a gauge for as long as this lives (also when its task is dropped or panics).
pub(super) struct InGauge {
    metrics: Arc<ShardMetrics>,
    gauge: Pick,
}

impl InGauge {
    /// Counts one more in `gauge`, until dropped.
    pub(super) fn enter(metrics: &Arc<ShardMetrics>, gauge: Pick) -> InGauge {
        ShardMetrics::inc(gauge(metrics));
        InGauge {
            metrics: metrics.clone(),
            gauge,
        }
    }
}

impl Drop for InGauge {
    fn drop(&mut self) {
        ShardMetrics::sub((self.gauge)(&self.metrics), 1);
    }
}

/// One hibernating stream, in its asleep gauge for as long as it sleeps.
pub(super) struct Asleep(InGauge);

impl Asleep {
    /// Counts a stream falling asleep in `total` and `gauge`.
    pub(super) fn count(metrics: &Arc<ShardMetrics>, total: Pick, gauge: Pick) -> Asleep {
        ShardMetrics::inc(total(metrics));
        Asleep(InGauge::enter(metrics, gauge))
    }

    /// Counts the stream's waking in `wakeups` (and leaves the gauge).
    pub(super) fn woke(self, wakeups: Pick) {
        ShardMetrics::inc(wakeups(&self.0.metrics));
    }
}

/// What ended one wait of a sleeping stream (`woken`).
pub(super) enum Woke {
    /// The socket is readable.
    Readable,
    /// The stream's alarm (its next ping or heartbeat) is due.
    AlarmDue,
    /// Anything else: shutdown, the credential or the API version ended, the queue needs its
    /// writer, the socket reported an error (which the woken reader meets).
    Other,
}

/// What a sleeping stream waits for: the first of shutdown, its socket readable, its
/// credential ended, its API version retired (for `kind`), its queue needing the writer, and its
/// `alarm`. Each of them is looked at again by the woken stream's loop.
pub(super) async fn woken<H>(
    shard: &Shard,
    reader: &ReaderParts<H>,
    watch: &StreamWatch,
    drain: &Drain,
    kind: EntrypointKind,
    queue: &OutboundQueue,
    alarm: Instant,
) -> Woke {
    monoio::select! {
        biased;
        _ = shard.shutdown.wait() => Woke::Other,
        // Before the others: a client heard from must not be taken for silent when its bytes
        // come with another event.
        readable = reader.readable() => match readable {
            Ok(()) => Woke::Readable,
            Err(_) => Woke::Other,
        },
        _ = watch.ended() => Woke::Other,
        _ = drain.retired(kind) => Woke::Other,
        _ = queue.ready() => Woke::Other,
        _ = shard.alarms.at(alarm) => Woke::AlarmDue,
    }
}

/// Readies a stream's writing side for sleep, its writer parked with nothing pending: the paused
/// reader has nothing to cancel, and the empty buffers and queue give back their room, not only
/// their bytes.
pub(super) fn prepare(duplex: &mut Duplex, queue: &OutboundQueue) {
    duplex.reading_paused();
    duplex.batch = WriteBatch::new();
    duplex.write_buf = BytesMut::new();
    queue.release_room();
}

/// Starts a woken stream's reading again (its writer task is started next): what the fan-out
/// pushes from now on queues for the writer.
pub(super) fn resume<H: InboundHandler + 'static>(
    duplex: &mut Duplex,
    pause: Option<&Rc<ReadPause<H>>>,
    reader: ReaderParts<H>,
    queue: &OutboundQueue,
) {
    queue.unpark();
    let pause = pause.expect("a hibernating stream has a pause").clone();
    duplex.resume_reading(reader, pause);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Asleep, InGauge};
    use crate::metrics::ShardMetrics;

    #[test]
    fn a_stream_leaves_its_gauges_however_it_is_dropped() {
        let metrics = Arc::new(ShardMetrics::default());
        let open = InGauge::enter(&metrics, |m| &m.sse_streams_open);
        let asleep = Asleep::count(
            &metrics,
            |m| &m.sse_hibernations_total,
            |m| &m.sse_streams_hibernating,
        );
        assert_eq!(ShardMetrics::get(&metrics.sse_streams_open), 1);
        assert_eq!(ShardMetrics::get(&metrics.sse_streams_hibernating), 1);
        // A sleeping stream's task dropped without waking (no `woke`, no `finish`).
        drop((open, asleep));
        assert_eq!(ShardMetrics::get(&metrics.sse_streams_open), 0);
        assert_eq!(ShardMetrics::get(&metrics.sse_streams_hibernating), 0);
        assert_eq!(ShardMetrics::get(&metrics.sse_hibernations_total), 1);
        assert_eq!(ShardMetrics::get(&metrics.sse_wakeups_total), 0);

        let asleep = Asleep::count(
            &metrics,
            |m| &m.sse_hibernations_total,
            |m| &m.sse_streams_hibernating,
        );
        asleep.woke(|m| &m.sse_wakeups_total);
        assert_eq!(ShardMetrics::get(&metrics.sse_streams_hibernating), 0);
        assert_eq!(ShardMetrics::get(&metrics.sse_wakeups_total), 1);
    }
}
