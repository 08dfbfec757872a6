//! The bridge's answers to `BridgeCommand::CheckEnds` (see `cross_shard::log_ends`): is a
//! client's position past the end of the broker's log, and where does it resume then.
//!
//! The broker is asked through the feed's own partition connections (ListOffsets queues behind
//! a partition's long-polling fetch, for at most `FETCH_MAX_WAIT_MS`): a check opens no
//! connection. At most `MAX_END_CHECKS` run at once per node; beyond, and when the brokers do
//! not answer within `CHECK_TIMEOUT`, the answer is "cannot tell" and the client's position is
//! used as it is (it waits for the records after it, the behaviour before checks existed).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::{OffsetAt, PartitionClient};

use crate::cross_shard::kafka_link::{EndsCheck, KafkaFeed};
use crate::endpoint::kafka::offsets::resume_in_log;
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// Checks running at once on one node (all feeds).
pub(super) const MAX_END_CHECKS: usize = 64;
/// How long one check waits for the brokers.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// A feed's partition connections in slot order, set by its fetch loop once connected (empty
/// before, and for feeds read by a consumer group, whose clients' positions are not checked).
pub(super) type FeedPartitions = Rc<RefCell<Vec<Rc<PartitionClient>>>>;

/// Spawns the answer to `check` on the bridge; `running` counts the checks in flight.
pub(super) fn spawn(
    check: EndsCheck,
    feed: Arc<KafkaFeed>,
    partitions: &FeedPartitions,
    running: &Rc<Cell<usize>>,
    metrics: &Arc<KafkaMetrics>,
) {
    let connections = partitions.borrow().clone();
    if running.get() >= MAX_END_CHECKS || connections.len() != check.next.len() {
        let _ = check.reply.send(None);
        return;
    }
    running.set(running.get() + 1);
    ShardMetrics::inc(&metrics.cursor_end_checks_total);
    ShardMetrics::inc(&metrics.cursor_end_checks_running);
    let (running, metrics) = (running.clone(), metrics.clone());
    tokio::task::spawn_local(async move {
        let answer = tokio::time::timeout(
            CHECK_TIMEOUT,
            resume_positions(&check.next, &feed, &connections),
        )
        .await
        .ok()
        .flatten();
        if answer.as_ref().is_some_and(|next| *next != check.next) {
            ShardMetrics::inc(&metrics.cursors_past_end_total);
        }
        let _ = check.reply.send(answer);
        running.set(running.get() - 1);
        ShardMetrics::sub(&metrics.cursor_end_checks_running, 1);
    });
}

/// `next` with each partition past its log's end now moved to the log's start; `None` when a
/// broker did not answer. Only partitions beyond what the feed last fetched are asked, all at
/// once (each waits behind its own partition's long-poll fetch: asked in turn, a topic of a few
/// dozen partitions would pass `CHECK_TIMEOUT`).
async fn resume_positions(
    next: &[i64],
    feed: &KafkaFeed,
    connections: &[Rc<PartitionClient>],
) -> Option<Vec<i64>> {
    let mut asked = tokio::task::JoinSet::new();
    for slot in feed.ends.beyond(next) {
        let (partition, position) = (connections[slot].clone(), next[slot]);
        asked.spawn_local(async move {
            let latest = partition.get_offset(OffsetAt::Latest).await.ok()?;
            if position <= latest {
                return Some((slot, position));
            }
            let earliest = partition.get_offset(OffsetAt::Earliest).await.ok()?;
            tracing::info!(slot, position, latest, earliest, "a client's position lies past the end of the broker's log; it reads the log from its start");
            Some((slot, resume_in_log(position, earliest, latest)))
        });
    }
    let mut resumed = next.to_vec();
    while let Some(answer) = asked.join_next().await {
        let (slot, position) = answer.ok()??;
        resumed[slot] = position;
    }
    Some(resumed)
}
