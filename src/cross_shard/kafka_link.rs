//! Traffic between the shards and the Kafka bridge thread.
//!
//! Records flow bridge → shards through a `KafkaFeed`: a `TopicLog` (the same shared retention
//! ring the in-memory topics use) that the bridge appends to and every interested shard reads
//! once per batch, woken through the feed's own per-shard doorbells. Requests flow shards →
//! bridge through one bounded queue (`KafkaLink`); a shard never blocks on it (`try_send`: a
//! full queue is answered 503), and a reply comes back on a one-slot channel the shard awaits.

#![allow(
    clippy::disallowed_types,
    reason = "a feed's start is set by the bridge thread and read by the shards, one clone under the lock"
)]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use super::catch_up_streams::{CatchUpStream, CatchUpStreams};
use super::kafka_commit_now::CommitNow;
use super::kafka_subscriptions::{FeedUse, SubscriptionGroups};
use super::log_ends::LogEnds;
use super::read_floors::ReadFloors;
use super::{Doorbell, TopicLog};
use crate::endpoint::Fault;
use crate::message::kafka_cursor::{KafkaCursor, TopicPartition};
use crate::message::Fields;

/// Requests a shard may have waiting for the bridge at once (all shards together).
pub const COMMAND_QUEUE_CAPACITY: usize = 4096;

/// One consumed feed (a set of topics read once per node), shared by the bridge and the shards.
pub struct KafkaFeed {
    /// The node buffer every shard's clients of this feed read from.
    pub log: Arc<TopicLog>,
    /// `doorbells[shard]` wakes that shard's pump task for this feed.
    pub doorbells: Vec<Arc<Doorbell>>,
    /// The position the feed's run started fetching from: set by the bridge when the brokers
    /// answered the run, cleared when the feed stops (`clear_start`). While unset, clients are
    /// answered 503.
    start: Mutex<Option<Arc<KafkaCursor>>>,
    /// The feed's slots, as its first run learned them: every later run and every client's
    /// cursor keeps them.
    layout: OnceLock<Arc<[TopicPartition]>>,
    /// `delivered[shard]`: that shard's last `Fanout::delivered_floor` while it had clients
    /// (`NEVER`: it never had one), and `connected[shard]`: whether it has clients now.
    /// Reported by the shards of a consumer-group feed, read by the bridge to commit offsets.
    delivered: Vec<AtomicU64>,
    connected: Vec<AtomicBool>,
    /// How many clients use it, for a subscription's feed (`kafka_subscriptions`).
    pub usage: FeedUse,
    /// How far each shard's clients have read its buffer: the fetches wait for room.
    pub reads: Arc<ReadFloors>,
    /// The catch-up readers of clients resuming before its buffer.
    pub catch_ups: CatchUpStreams,
    /// The broker's log end per partition, as the feed's fetches last saw it.
    pub ends: LogEnds,
    /// Commits shards wait for (at-most-once push subscriptions), for a consumer-group feed.
    pub commit_now: CommitNow,
}

/// A shard's delivered report before it ever had a client.
const NEVER: u64 = u64::MAX;

impl KafkaFeed {
    /// A feed whose buffer is bounded by `max_messages` / `max_bytes`, for `shards` shards.
    pub fn new(name: &str, max_messages: usize, max_bytes: usize, shards: usize) -> KafkaFeed {
        let doorbells: Vec<Arc<Doorbell>> = (0..shards).map(|_| Doorbell::new()).collect();
        KafkaFeed {
            log: Arc::new(TopicLog::new(name, max_messages, max_bytes, &doorbells)),
            doorbells,
            start: Mutex::new(None),
            layout: OnceLock::new(),
            delivered: (0..shards).map(|_| AtomicU64::new(NEVER)).collect(),
            connected: (0..shards).map(|_| AtomicBool::new(false)).collect(),
            usage: FeedUse::default(),
            reads: Arc::new(ReadFloors::new(shards)),
            catch_ups: CatchUpStreams::default(),
            ends: LogEnds::default(),
            commit_now: CommitNow::default(),
        }
    }

    /// Records where the feed's run started (the run's first call wins).
    pub fn set_start(&self, start: Arc<KafkaCursor>) {
        let _ = self.layout.set(start.slots.clone());
        self.lock_start().get_or_insert(start);
    }

    /// A feed that stops (or is about to run again): until a new run has started, clients wait
    /// (503), and then its start is the new run's.
    pub fn clear_start(&self) {
        *self.lock_start() = None;
    }

    /// The feed's slots, once a run learned them.
    pub fn layout(&self) -> Option<Arc<[TopicPartition]>> {
        self.layout.get().cloned()
    }

    fn lock_start(&self) -> std::sync::MutexGuard<'_, Option<Arc<KafkaCursor>>> {
        // One assignment or clone under it: a poisoned lock still holds a whole value.
        self.start
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A shard reports the ring position every one of its clients has been written (`None`:
    /// it has no client due anything; what its last clients had stays delivered).
    pub fn report_delivered(&self, shard: usize, floor: Option<u64>) {
        let (Some(delivered), Some(connected)) =
            (self.delivered.get(shard), self.connected.get(shard))
        else {
            return;
        };
        if let Some(floor) = floor {
            delivered.store(floor, Ordering::Release);
        }
        connected.store(floor.is_some(), Ordering::Release);
    }

    /// The ring position every client has been written: the lowest among the shards that have
    /// clients; with none connected, the furthest any shard's clients reached before leaving.
    /// `None` when no client ever had a record.
    pub fn delivered_floor(&self) -> Option<u64> {
        let reports = || {
            self.delivered
                .iter()
                .zip(self.connected.iter())
                .map(|(d, c)| (d.load(Ordering::Acquire), c.load(Ordering::Acquire)))
                .filter(|&(floor, _)| floor != NEVER)
        };
        reports()
            .filter(|&(_, connected)| connected)
            .map(|(floor, _)| floor)
            .min()
            .or_else(|| reports().map(|(floor, _)| floor).max())
    }

    /// Where the feed's run started, once the brokers answered it.
    pub fn start(&self) -> Option<Arc<KafkaCursor>> {
        self.lock_start().clone()
    }
}

/// A request to the bridge.
pub enum BridgeCommand {
    /// Produce one record.
    Produce(ProduceRequest),
    /// Fetch a feed from an older position than the node buffer holds, for the clients there.
    CatchUp(CatchUpRequest),
    /// Join the consumer group of a subscription whose feed a shard just opened.
    JoinSubscription(SubscriptionJoin),
    /// Ask the brokers whether a client's position lies past the end of their log.
    CheckEnds(EndsCheck),
    /// Which feeds fetch and which producers are connected: those no started API uses stop,
    /// and start again when one does (`KafkaPlan::in_use`, sent at start and with every apply).
    InUse(KafkaInUse),
    /// Stop the bridge (sent by the gateway at shutdown).
    Shutdown,
}

/// What the bridge runs: by feed index, the feeds that fetch; by producer index, the producers
/// that connect. What is not marked holds no broker connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaInUse {
    /// By feed index: whether a started API reads the feed.
    pub feeds: Vec<bool>,
    /// By producer index: whether a started API (or a webhook subscription to one, for its
    /// dead letters) writes through the producer.
    pub producers: Vec<bool>,
}

impl KafkaInUse {
    /// What either `self` or `other` marks.
    pub fn union(mut self, other: &KafkaInUse) -> KafkaInUse {
        for (mine, theirs) in [
            (&mut self.feeds, &other.feeds),
            (&mut self.producers, &other.producers),
        ] {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), false);
            }
            for (used, also) in mine.iter_mut().zip(theirs) {
                *used |= *also;
            }
        }
        self
    }
}

/// One record to produce, and where to send the outcome.
pub struct ProduceRequest {
    /// Index of the producer (its configuration) in the bridge's list.
    pub producer: usize,
    /// The record key (partitioning is by its hash); `None` spreads records round-robin.
    pub key: Option<Bytes>,
    /// The record value.
    pub payload: Bytes,
    /// Carried as Kafka record headers.
    pub headers: Fields,
    /// Receives `(partition, offset)` after the broker acknowledged, or why not.
    pub reply: flume::Sender<Result<(i32, i64), ProduceFailure>>,
}

/// Why a record was not produced: what the publishing client is told, and (in the fault's
/// detail) what only the log gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProduceFailure {
    /// The brokers did not acknowledge in time, or cannot be reached.
    #[error("{0}")]
    Unavailable(Fault),
    /// The brokers refused the record.
    #[error("{0}")]
    Refused(Fault),
}

/// A client's position beyond the log ends a feed last fetched (`log_ends`): the bridge asks
/// the brokers for the partitions' ends now and answers the position to read from, each
/// partition past its log's end moved to the log's start (`None`: the brokers could not tell).
pub struct EndsCheck {
    /// Index of the feed (its configuration) in the bridge's list.
    pub feed: usize,
    /// The client's position: the next offset of each slot of the feed's layout.
    pub next: Vec<i64>,
    /// Receives the position to read from.
    pub reply: flume::Sender<Option<Vec<i64>>>,
}

/// A catch-up reader to fetch (`cross_shard::catch_up_streams`).
pub struct CatchUpRequest {
    /// Index of the feed (its configuration) in the bridge's list.
    pub feed: usize,
    /// The reader: where it starts (`stream.feed.start()`) and its buffer.
    pub stream: Arc<CatchUpStream>,
    /// The node buffer it catches up with (the configured feed's or a subscription's).
    pub shared: Arc<KafkaFeed>,
}

/// A subscription's feed to fetch as a member of its own consumer group.
pub struct SubscriptionJoin {
    /// The registry it was opened in (which also names the configured feed).
    pub groups: Arc<SubscriptionGroups>,
    /// The subscription's name (its group is `{groupId}.{name}`).
    pub subscription: String,
    /// Its feed.
    pub feed: Arc<KafkaFeed>,
}

/// The shards' handle on the bridge.
#[derive(Clone)]
pub struct KafkaLink {
    commands: flume::Sender<BridgeCommand>,
    /// The feeds, by index.
    pub feeds: Arc<[Arc<KafkaFeed>]>,
    /// By feed index: the registry of its subscriptions' feeds, for `groupScope: subscription`.
    pub subscription_groups: Arc<[Option<Arc<SubscriptionGroups>>]>,
}

/// The bridge's queue is full or the bridge is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeBusy;

impl KafkaLink {
    /// A link and the receiving end for the bridge.
    pub fn new(
        feeds: Vec<Arc<KafkaFeed>>,
        subscription_groups: Vec<Option<Arc<SubscriptionGroups>>>,
    ) -> (KafkaLink, flume::Receiver<BridgeCommand>) {
        let (commands, receiver) = flume::bounded(COMMAND_QUEUE_CAPACITY);
        (
            KafkaLink {
                commands,
                feeds: feeds.into(),
                subscription_groups: subscription_groups.into(),
            },
            receiver,
        )
    }

    /// Hands a request to the bridge without waiting.
    pub fn send(&self, command: BridgeCommand) -> Result<(), BridgeBusy> {
        self.commands.try_send(command).map_err(|_| BridgeBusy)
    }

    /// Requests waiting for the bridge (for the queue-depth metric).
    pub fn queued(&self) -> usize {
        self.commands.len()
    }

    /// Tells the bridge which feeds and producers to run; waits for room in the queue (called
    /// off the shards).
    pub fn in_use(&self, used: KafkaInUse) {
        let _ = self.commands.send(BridgeCommand::InUse(used));
    }

    /// Tells the bridge to stop; waits for room in the queue (called off the shards).
    pub fn shutdown(&self) {
        let _ = self.commands.send(BridgeCommand::Shutdown);
    }
}

#[cfg(test)]
mod tests {
    use super::KafkaFeed;

    #[test]
    fn the_delivered_floor_is_held_back_by_connected_clients_only() {
        let feed = KafkaFeed::new("t", 10, 1 << 20, 3);
        assert_eq!(feed.delivered_floor(), None, "no client ever had a record");
        feed.report_delivered(0, Some(7));
        feed.report_delivered(1, Some(4));
        assert_eq!(
            feed.delivered_floor(),
            Some(4),
            "the slowest connected shard"
        );
        feed.report_delivered(1, None);
        assert_eq!(
            feed.delivered_floor(),
            Some(7),
            "a shard whose clients left"
        );
        feed.report_delivered(0, None);
        assert_eq!(
            feed.delivered_floor(),
            Some(7),
            "with nobody connected, what the last clients had stays delivered"
        );
        feed.report_delivered(2, Some(5));
        assert_eq!(feed.delivered_floor(), Some(5));
    }
}
