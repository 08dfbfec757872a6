//! One Kafka feed on one shard: the shard's fan-out of a buffer (the node buffer of a configured
//! feed or of a subscription's feed, or a catch-up reader's), and the matching of a client's
//! position to that buffer (a position older than it is served by a catch-up reader,
//! `catch_up.rs`). The other role a configured feed has, opening this shard's side of each
//! subscription's own feed (`groupScope: subscription`), is `subscription_feeds.rs`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::catch_up::StreamLocal;
use super::subscription_feeds::SubscriptionFeeds;
use crate::config::kafka::KafkaConsumer;
use crate::config::SlowClientPolicy;
use crate::cross_shard::kafka_link::KafkaFeed;
use crate::cross_shard::read_floors::Hold;
use crate::cross_shard::Doorbell;
use crate::delivery::fanout::{Fanout, FanoutSubscription, RingSource};
use crate::delivery::pump::{self, Pumped};
use crate::delivery::retention_ring::RetentionRing;
use crate::delivery::OutboundQueue;
use crate::endpoint::{EndpointError, Fault};
use crate::message::kafka_cursor::{KafkaCursor, KafkaId};
use crate::message::MessageId;
use crate::metrics::ShardMetrics;
use crate::shard::supervisor::spawn_shard_task;

/// One feed on one shard.
pub(super) struct LocalFeed {
    /// The configured feed's index (a subscription's feed keeps its configured feed's).
    pub(super) index: usize,
    pub(super) shard: usize,
    pub(super) shared: Arc<KafkaFeed>,
    pub(super) consumer: KafkaConsumer,
    pub(super) fanout: Rc<Fanout>,
    /// The pump task is started by the first subscriber (tasks cannot start before the runtime).
    pumping: Cell<bool>,
    pub(super) policy: SlowClientPolicy,
    pub(super) metrics: Arc<ShardMetrics>,
    /// With `groupScope: subscription`: this shard's side of each open subscription's feed.
    pub(super) subscriptions: SubscriptionFeeds,
    /// This shard's side of each catch-up reader of the feed its clients read (by id).
    pub(super) streams: RefCell<HashMap<u64, Rc<StreamLocal>>>,
}

impl LocalFeed {
    /// This shard's side of `shared`, the feed of configured feed `index`.
    pub(super) fn new(
        index: usize,
        shard: usize,
        shared: Arc<KafkaFeed>,
        consumer: KafkaConsumer,
        policy: SlowClientPolicy,
        metrics: Arc<ShardMetrics>,
    ) -> Rc<LocalFeed> {
        let source = RingSource {
            log: shared.log.clone(),
            shard,
        };
        let fanout = Rc::new(Fanout::new(source, policy, metrics.clone()));
        let (weak, feed, group) = (
            Rc::downgrade(&fanout),
            shared.clone(),
            consumer.group_id.is_some(),
        );
        fanout.set_on_progress(Box::new(move || {
            let Some(fanout) = weak.upgrade() else {
                return;
            };
            if group {
                // The bridge commits the group's offsets up to what clients were written.
                feed.report_delivered(shard, fanout.delivered_floor());
            }
            report_reads(&feed, &fanout, shard);
        }));
        Rc::new(LocalFeed {
            index,
            shard,
            shared,
            consumer,
            fanout,
            pumping: Cell::new(false),
            policy,
            metrics,
            subscriptions: SubscriptionFeeds::default(),
            streams: RefCell::new(HashMap::new()),
        })
    }

    pub(super) fn start(&self) -> Result<Arc<KafkaCursor>, EndpointError> {
        self.shared.start().ok_or_else(|| {
            EndpointError::Unavailable(Fault::new(
                "the Kafka feed is not running yet (its brokers have not answered the gateway); retry shortly",
            ))
        })
    }

    /// Starts this shard's task that fans out new records whenever the bridge appends some.
    pub(super) fn ensure_pumping(&self) {
        if self.pumping.replace(true) {
            return;
        }
        let pumped = FeedPump {
            fanout: Rc::downgrade(&self.fanout),
            feed: self.shared.clone(),
            doorbell: self.shared.doorbells[self.shard].clone(),
            shard: self.shard,
            closable: self.consumer.subscription_groups.is_some(),
        };
        spawn_shard_task("Kafka pump", pump::run(pumped));
    }

    /// A client without a cursor under `latest`: from the end of the buffer. Returns its
    /// subscription and its position (what an empty poll hands back as the next cursor).
    pub(super) fn subscribe_latest(
        &self,
        start: &Arc<KafkaCursor>,
        queue: Rc<OutboundQueue>,
    ) -> (FanoutSubscription, MessageId) {
        // The end is held until the client is subscribed (and reported): not evicted meanwhile.
        let (next, head, _hold) = {
            let ring = self.shared.log.lock();
            let head = ring
                .iter()
                .last()
                .and_then(|m| match &m.id {
                    MessageId::Kafka(id) => Some(id.cursor.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| start.clone());
            let next = ring.next_position();
            (next, head, self.shared.reads.hold(next))
        };
        let member = self.fanout.subscribe_at(next, None, queue);
        let position = MessageId::Kafka(KafkaId {
            seq: 0,
            slot: u32::MAX,
            cursor: head,
        });
        (member, position)
    }

    /// The position of a client that starts at ring position `from` (what a poll that got
    /// nothing hands back as its cursor): the record before `from` while the buffer holds it,
    /// else where the feed started; `None` before the feed started.
    pub(super) fn position_before(&self, from: u64) -> Option<MessageId> {
        let before = {
            let ring = self.shared.log.lock();
            let mut out = Vec::with_capacity(1);
            if from > ring.first_position() {
                ring.read(from - 1, 1, &mut out);
            }
            out.pop().and_then(|message| match message.id {
                MessageId::Kafka(id) => Some(id.cursor),
                _ => None,
            })
        };
        let cursor = before.or_else(|| self.shared.start())?;
        Some(MessageId::Kafka(KafkaId {
            seq: 0,
            slot: u32::MAX,
            cursor,
        }))
    }

    /// Where in the buffer a client at `floor` resumes: `(ring position, whether the position
    /// is exactly a buffer entry's)`, or `None` when the client needs records the buffer no
    /// longer (or never) held.
    #[cfg(test)]
    pub(super) fn match_position(
        &self,
        start: &KafkaCursor,
        floor: &KafkaCursor,
    ) -> Option<(u64, bool)> {
        match_in(&self.shared.log, start, floor)
    }

    /// `match_position`, holding the matched position against eviction until the client has
    /// subscribed (drop the hold after `Fanout::subscribe_at`, which reports it).
    pub(super) fn match_and_hold(
        &self,
        start: &KafkaCursor,
        floor: &KafkaCursor,
    ) -> Option<Matched> {
        let ring = self.shared.log.lock();
        matched_in(&ring, start, floor).map(|(position, exact)| Matched {
            position,
            exact,
            _hold: self.shared.reads.hold(position),
        })
    }
}

/// A client's position matched in a buffer, held there until the client subscribed.
pub(super) struct Matched {
    /// The ring position it resumes at.
    pub(super) position: u64,
    /// Whether its position is exactly a buffer entry's (else it resumes between entries).
    pub(super) exact: bool,
    _hold: Hold,
}

impl Matched {
    /// `position`, just matched in `feed`'s buffer, held there: call it with the buffer still
    /// locked from the match (see `match_and_hold`).
    pub(super) fn held(feed: &KafkaFeed, position: u64, exact: bool) -> Matched {
        Matched {
            position,
            exact,
            _hold: feed.reads.hold(position),
        }
    }
}

/// This shard's pump of a Kafka node buffer (`delivery::pump`): fans out what the bridge
/// appended, each time it rings; ends when the fan-out is dropped. A subscription's feed
/// (`closable`) also ends it once closed (the bridge rings when it closes one).
struct FeedPump {
    fanout: Weak<Fanout>,
    feed: Arc<KafkaFeed>,
    doorbell: Arc<Doorbell>,
    shard: usize,
    closable: bool,
}

impl Pumped for FeedPump {
    async fn woken(&self) -> bool {
        self.doorbell.rung().await;
        self.fanout.strong_count() > 0 && !(self.closable && self.feed.usage.is_closed())
    }

    fn each_fanout(&self, visit: &mut dyn FnMut(&Fanout)) {
        if let Some(fanout) = self.fanout.upgrade() {
            visit(&fanout);
        }
    }

    fn after_pass(&self, fanout: &Fanout) {
        report_reads(&self.feed, fanout, self.shard);
    }
}

/// Tells the bridge how far this shard's clients have read the feed's buffer, when it waits
/// for room or the clients changed (see `cross_shard::read_floors`).
pub(super) fn report_reads(feed: &KafkaFeed, fanout: &Fanout, shard: usize) {
    if fanout.take_members_changed() || feed.reads.wanted() {
        feed.reads.report(shard, fanout.read_floor());
    }
}

/// `LocalFeed::match_position` in the buffer `log` (a node buffer or a catch-up reader's).
#[cfg(test)]
pub(super) fn match_in(
    log: &crate::cross_shard::TopicLog,
    start: &KafkaCursor,
    floor: &KafkaCursor,
) -> Option<(u64, bool)> {
    matched_in(&log.lock(), start, floor)
}

/// `match_in` on a locked buffer.
pub(super) fn matched_in(
    ring: &RetentionRing,
    start: &KafkaCursor,
    floor: &KafkaCursor,
) -> Option<(u64, bool)> {
    let mut before_first = None;
    for message in ring.iter() {
        let MessageId::Kafka(id) = &message.id else {
            continue;
        };
        let slot = id.slot as usize;
        let offset = id.cursor.next[slot] - 1;
        if before_first.is_none() {
            let mut base = (*id.cursor).clone();
            base.next[slot] = offset;
            if !floor.covers(&base) {
                return None;
            }
            if base.next == floor.next {
                return Some((id.seq, true));
            }
            before_first = Some(());
        }
        // Same layout by construction; a position of another layout cannot be matched.
        if offset >= *floor.next.get(slot)? {
            return Some((id.seq, false));
        }
        if id.cursor.next == floor.next {
            return Some((id.seq + 1, true));
        }
    }
    if before_first.is_none() && !floor.covers(start) {
        return None;
    }
    Some((ring.next_position(), false))
}
