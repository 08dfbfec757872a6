//! Catch-up readers on the bridge thread (see `cross_shard::catch_up_streams`).
//!
//! Every catch-up reader of a feed fetches through one set of connections: one for metadata
//! and one per topic-partition, opened with the feed's first catch-up and kept while an API that
//! reads the feed is started, whatever the number of readers or clients (they close when the
//! last such API stops or goes, once the readers still on them have ended). Readers of one
//! partition share its connection (the broker answers their fetches in turn): a reader fetches
//! history that is there, so it rarely waits at the broker. A reader stops once its position
//! reaches what the node buffer holds, and its clients move over to the node buffer's fan-out.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use rskafka::client::partition::PartitionClient;
use rskafka::client::Client;
use tokio::sync::OnceCell;

use super::connect::connect;
use super::feed::partition_client;
use super::fetch_session::{Head, Pacing, Session};
use crate::cross_shard::kafka_link::{CatchUpRequest, KafkaFeed};
use crate::endpoint::kafka::plan::FeedSpec;
use crate::message::kafka_cursor::{KafkaCursor, TopicPartition};
use crate::message::MessageId;
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// Catch-up fetches wait less at the broker than the node's feed: they share a connection.
const CATCH_UP_MAX_WAIT_MS: i32 = 100;

/// The connections every catch-up reader of one feed fetches through.
pub(super) struct CatchUpConnections {
    client: Client,
    slots: Arc<[TopicPartition]>,
    partitions: Vec<Rc<PartitionClient>>,
    /// Counts them in `catch_up_connections` while they are open.
    metrics: Arc<KafkaMetrics>,
}

/// Per feed: its catch-up connections, opened by its first catch-up.
pub(super) type SharedConnections = Rc<OnceCell<CatchUpConnections>>;

impl CatchUpConnections {
    async fn open(
        spec: &FeedSpec,
        slots: &Arc<[TopicPartition]>,
        metrics: &Arc<KafkaMetrics>,
    ) -> CatchUpConnections {
        let client = connect(&spec.brokers, metrics).await;
        let mut partitions = Vec::with_capacity(slots.len());
        for slot in slots.iter() {
            partitions.push(Rc::new(partition_client(&client, slot).await));
        }
        ShardMetrics::add(&metrics.catch_up_connections, 1 + slots.len() as u64);
        CatchUpConnections {
            client,
            slots: slots.clone(),
            partitions,
            metrics: metrics.clone(),
        }
    }

    /// The connection of `slot` (a layout other than the feed's gets one of its own).
    async fn partition(&self, slot: &TopicPartition) -> Rc<PartitionClient> {
        match self.slots.iter().position(|s| s == slot) {
            Some(index) => self.partitions[index].clone(),
            None => Rc::new(partition_client(&self.client, slot).await),
        }
    }
}

impl Drop for CatchUpConnections {
    fn drop(&mut self) {
        ShardMetrics::sub(
            &self.metrics.catch_up_connections,
            1 + self.partitions.len() as u64,
        );
    }
}

/// Lets go of the catch-up connections of the feeds `used` does not mark (no started API reads
/// them): they close once the readers still fetching through them have ended, and a later
/// catch-up of the feed opens new ones.
pub(super) fn close_unused(connections: &mut [SharedConnections], used: &[bool]) {
    for (index, shared) in connections.iter_mut().enumerate() {
        // Replaced even when not open yet: one being opened belongs to the readers that asked.
        if !used.get(index).copied().unwrap_or(false) {
            *shared = SharedConnections::default();
        }
    }
}

/// Runs one catch-up reader until it reached the node buffer or has no client left.
pub(super) async fn run_catch_up(
    spec: FeedSpec,
    request: CatchUpRequest,
    connections: SharedConnections,
    metrics: Arc<KafkaMetrics>,
) {
    let CatchUpRequest { stream, shared, .. } = request;
    let Some(from) = stream.feed.start() else {
        shared.catch_ups.ended(&stream);
        return;
    };
    ShardMetrics::inc(&metrics.catch_up_fetches_running);
    let connections = connections
        .get_or_init(|| CatchUpConnections::open(&spec, &from.slots, &metrics))
        .await;
    let head = Rc::new(RefCell::new(Head {
        encoded: from.encoded,
        slots: from.slots.clone(),
        next: from.next.to_vec(),
    }));
    let reached = Rc::new(Cell::new(false));
    loop {
        let mut loops = Vec::new();
        for (index, slot) in from.slots.iter().enumerate() {
            let partition = connections.partition(slot).await;
            let session = Session {
                head: head.clone(),
                log: stream.feed.log.clone(),
                metrics: metrics.clone(),
                max_wait_ms: CATCH_UP_MAX_WAIT_MS,
                pacing: Pacing::of(&stream.feed, &spec),
                ends: None,
            };
            let (stream, shared, head, reached) = (
                stream.clone(),
                shared.clone(),
                head.clone(),
                reached.clone(),
            );
            ShardMetrics::inc(&metrics.fetch_loops_running);
            loops.push(tokio::task::spawn_local(async move {
                let stop = || {
                    if !reached.get() && holds(&shared, &head.borrow().cursor()) {
                        shared.catch_ups.caught_up(&stream);
                        reached.set(true);
                    }
                    reached.get() || stream.clients() == 0
                };
                session.fetch_partition(&partition, index, stop).await;
            }));
        }
        for task in loops {
            let _ = task.await;
        }
        if reached.get() || shared.catch_ups.close_if_unused(&stream) {
            break;
        }
        // A client joined as the last one left: go on from where the reader is.
    }
    shared.catch_ups.ended(&stream);
    // Wakes the shards reading it: its clients move to the node buffer, or it is dropped.
    stream.feed.log.nudge();
    ShardMetrics::sub(&metrics.catch_up_fetches_running, 1);
}

/// True when the node buffer holds what follows `position`: its oldest record is at or before
/// it on every partition (or it is empty and started at or before it).
fn holds(shared: &KafkaFeed, position: &KafkaCursor) -> bool {
    let oldest = {
        let ring = shared.log.lock();
        let oldest = ring.iter().next().map(|message| message.id.clone());
        oldest
    };
    match oldest {
        Some(MessageId::Kafka(id)) => {
            let slot = id.slot as usize;
            let mut base = (*id.cursor).clone();
            if let Some(next) = base.next.get_mut(slot) {
                *next -= 1;
            }
            base.slots == position.slots && position.covers(&base)
        }
        Some(_) => false,
        None => shared
            .start()
            .is_some_and(|start| start.slots == position.slots && position.covers(&start)),
    }
}

/// Spawns the reader of `request` on the bridge (called for each `BridgeCommand::CatchUp`).
pub(super) fn spawn(
    spec: FeedSpec,
    request: CatchUpRequest,
    connections: &SharedConnections,
    metrics: &Arc<KafkaMetrics>,
) {
    tokio::task::spawn_local(run_catch_up(
        spec,
        request,
        connections.clone(),
        metrics.clone(),
    ));
}
