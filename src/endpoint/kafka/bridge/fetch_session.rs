//! One fetch session (bridge thread only): a loop per topic-partition that fetches from the
//! session's head and appends the records to a buffer as fast as its readers make room
//! (`Session::push`). A feed runs one into its node buffer (`feed.rs`), a catch-up reader into
//! a buffer of its own (`catch_up.rs`), a group member into its group's (`group.rs`).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;

use crate::cross_shard::kafka_link::KafkaFeed;
use crate::cross_shard::read_floors::Waiting;
use crate::cross_shard::TopicLog;
use crate::delivery::retention_ring::TooLarge;
use crate::endpoint::kafka::offsets::{after_out_of_range, log_went_back};
use crate::endpoint::kafka::plan::FeedSpec;
use crate::message::kafka_cursor::{KafkaCursor, KafkaId, TopicPartition};
use crate::message::{Fields, Message, MessageId, PayloadKind};
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// Most bytes one fetch asks for.
const FETCH_MAX_BYTES: i32 = 4 * 1024 * 1024;
/// How long the broker may hold a fetch that has nothing new (shared feeds). Kafka answers as
/// soon as a record arrives, so this only sets the idle request rate (4/s per partition); tansu
/// answers after about half of it even when records are there, so it is also its latency.
pub(super) const FETCH_MAX_WAIT_MS: i32 = 250;
/// Smallest fetch asked for, whatever the buffer (a broker returns at least one batch anyway).
const MIN_FETCH_BYTES: usize = 16 * 1024;
/// What a record costs in a fetch besides its key and value (batch and record headers).
const RECORD_OVERHEAD: usize = 24;
/// A paced fetch looks at the readers' floor again after this long without a report.
const PACE_POLL: Duration = Duration::from_millis(5);
/// Pause after a failed fetch before trying again.
pub(super) const RETRY_DELAY: Duration = Duration::from_millis(200);

/// The position every new record of one fetch session advances (one per feed or catch-up).
pub(super) struct Head {
    pub(super) encoded: bool,
    pub(super) slots: Arc<[TopicPartition]>,
    pub(super) next: Vec<i64>,
}

impl Head {
    pub(super) fn cursor(&self) -> KafkaCursor {
        KafkaCursor::new(
            self.encoded,
            self.slots.clone(),
            self.next.clone().into_boxed_slice(),
        )
    }
}

/// The partition's offset at `at` (its log's start or end), retried until the broker answers.
pub(super) async fn offset_at(partition: &PartitionClient, at: OffsetAt) -> i64 {
    loop {
        if let Some(offset) = offset_until(partition, at, &|| false).await {
            return offset;
        }
    }
}

/// `offset_at`, given up (`None`) once `stop()` says so between tries.
async fn offset_until(
    partition: &PartitionClient,
    at: OffsetAt,
    stop: &dyn Fn() -> bool,
) -> Option<i64> {
    while !stop() {
        match partition.get_offset(at).await {
            Ok(offset) => return Some(offset),
            Err(error) => {
                tracing::warn!(%error, "cannot read a partition offset; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
    None
}

/// One fetch session's shared state: its position, where records go, and its counters.
pub(super) struct Session {
    pub(super) head: Rc<RefCell<Head>>,
    pub(super) log: Arc<TopicLog>,
    pub(super) metrics: Arc<KafkaMetrics>,
    pub(super) max_wait_ms: i32,
    /// Waits for the buffer's readers before evicting what they still need (`None`: never).
    pub(super) pacing: Option<Pacing>,
    /// The feed whose log ends each fetch response records (`cross_shard::log_ends`): the
    /// node's own feed; `None` for a catch-up reader or a group member.
    pub(super) ends: Option<Arc<KafkaFeed>>,
}

/// Whose readers a session waits for, and for how long at most (`consumer.paceWaitMs`).
pub(super) struct Pacing {
    pub(super) feed: Arc<KafkaFeed>,
    pub(super) wait: Duration,
}

impl Pacing {
    /// The pacing of `feed`'s fetches as configured (none with `paceWaitMs: 0`).
    pub(super) fn of(feed: &Arc<KafkaFeed>, spec: &FeedSpec) -> Option<Pacing> {
        let wait = spec.consumer.pace_wait;
        (!wait.is_zero()).then(|| Pacing {
            feed: feed.clone(),
            wait,
        })
    }
}

impl Session {
    /// Fetches slot `slot` from the head's position until `stop()` says so.
    /// The caller counted it in `fetch_loops_running`; it is uncounted when it ends.
    pub(super) async fn fetch_partition(
        &self,
        partition: &PartitionClient,
        slot: usize,
        stop: impl Fn() -> bool,
    ) {
        let (topic, partition_index) = {
            let head = self.head.borrow();
            (head.slots[slot].topic.clone(), head.slots[slot].partition)
        };
        let mut max_bytes = FETCH_MAX_BYTES;
        while !stop() {
            let offset = self.head.borrow().next[slot];
            let fetched = partition
                .fetch_records(offset, 1..max_bytes, self.max_wait_ms)
                .await;
            ShardMetrics::inc(&self.metrics.fetch_requests_total);
            match fetched {
                Ok((records, high_watermark))
                    if log_went_back(records.is_empty(), high_watermark, offset) =>
                {
                    // The partition's log went back (topic recreated, broker data lost); some
                    // brokers answer an empty fetch here instead of OFFSET_OUT_OF_RANGE. All of
                    // the new log is unseen: read it from its start.
                    let Some(moved) = offset_until(partition, OffsetAt::Earliest, &stop).await
                    else {
                        break;
                    };
                    tracing::warn!(topic = %topic, partition = partition_index, offset, moved, "the broker's log ends before the feed's position; reading the new log from its start");
                    self.head.borrow_mut().next[slot] = moved;
                    ShardMetrics::inc(&self.metrics.fetch_errors_total);
                }
                Ok((records, high_watermark)) => {
                    if let Some(feed) = &self.ends {
                        let slots = self.head.borrow().slots.len();
                        feed.ends.record(slot, slots, high_watermark);
                    }
                    if stop() {
                        break;
                    }
                    max_bytes = self.fetch_size(&records);
                    for record in records.into_iter().filter(|r| r.offset >= offset) {
                        if stop() {
                            break;
                        }
                        self.append(&topic, partition_index, slot, record).await;
                    }
                }
                Err(ClientError::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    ..
                }) => {
                    // The broker no longer has (or does not yet have) this offset.
                    let (Some(earliest), Some(latest)) = (
                        offset_until(partition, OffsetAt::Earliest, &stop).await,
                        offset_until(partition, OffsetAt::Latest, &stop).await,
                    ) else {
                        break;
                    };
                    let moved = after_out_of_range(offset, earliest, latest);
                    tracing::warn!(topic = %topic, partition = partition_index, offset, moved, "offset out of range at the broker");
                    self.head.borrow_mut().next[slot] = moved;
                    ShardMetrics::inc(&self.metrics.fetch_errors_total);
                }
                Err(error) => {
                    tracing::warn!(%error, topic = %topic, partition = partition_index, "fetch failed; retrying");
                    ShardMetrics::inc(&self.metrics.fetch_errors_total);
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
        ShardMetrics::sub(&self.metrics.fetch_loops_running, 1);
    }

    /// The next fetch's size: about what the buffer holds per partition, judged by the size
    /// of the records just fetched, so that one fetch does not bring far more than the readers
    /// can take before the buffer is full (the rest would wait in memory for room).
    fn fetch_size(&self, records: &[RecordAndOffset]) -> i32 {
        if records.is_empty() {
            return FETCH_MAX_BYTES;
        }
        let bytes: usize = records
            .iter()
            .map(|r| {
                RECORD_OVERHEAD
                    + r.record.value.as_ref().map_or(0, Vec::len)
                    + r.record.key.as_ref().map_or(0, Vec::len)
            })
            .sum();
        let average = bytes / records.len();
        let (messages, ring_bytes) = {
            let ring = self.log.lock();
            (ring.max_messages(), ring.max_bytes())
        };
        let partitions = self.head.borrow().slots.len().max(1);
        let fits = (average.saturating_mul(messages).min(ring_bytes) / partitions)
            .clamp(MIN_FETCH_BYTES, FETCH_MAX_BYTES as usize);
        fits as i32
    }

    /// Turns a record into a message and appends it once the buffer has room (see `push`),
    /// carrying the position after it.
    async fn append(&self, topic: &Arc<str>, partition: i32, slot: usize, record: RecordAndOffset) {
        let RecordAndOffset { record, offset } = record;
        let key = record
            .key
            .as_deref()
            .map(|key| String::from_utf8_lossy(key).into_owned());
        let mut metadata = Vec::with_capacity(4);
        if let Some(key) = key {
            metadata.push(("key".to_owned(), key));
        }
        metadata.push(("topic".to_owned(), topic.to_string()));
        metadata.push(("partition".to_owned(), partition.to_string()));
        metadata.push(("offset".to_owned(), offset.to_string()));
        let headers: Fields = record
            .headers
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect::<Vec<_>>()
            .into();
        let timestamp_ms =
            u64::try_from(record.timestamp.timestamp_millis()).unwrap_or_else(|_| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64)
            });
        let message = Message {
            // Set when it is appended (`push`).
            id: MessageId::Sequence(0),
            payload: record.value.map(Bytes::from).unwrap_or_default(),
            kind: PayloadKind::Unspecified,
            headers,
            metadata: metadata.into(),
            timestamp_ms,
        };
        if let Err(too_large) = self.push(message, slot, offset).await {
            tracing::warn!(topic = %topic, partition, offset, max_bytes = too_large.max_bytes, "record larger than the node buffer; skipped");
            return;
        }
        ShardMetrics::inc(&self.metrics.records_fetched_total);
    }

    /// Appends `message` (record `offset` of slot `slot`) without evicting what a reader still
    /// needs: waits until the readers made room, for at most the pacing's wait; after that the
    /// slowest readers are the slow ones and their slow-client policy applies (they stop
    /// counting as readers).
    ///
    /// The message's position (the session's head with this record read) is taken when it is
    /// appended, in the same step, and only then does the head move: the partitions' loops wait
    /// for room concurrently and append in any order, and a position taken earlier would claim
    /// records of other partitions that are still waiting, or miss ones appended meanwhile. So
    /// every position in the buffer covers exactly what precedes it there: a client resuming
    /// from one (on another node, or moved to the node buffer) neither skips nor repeats.
    async fn push(&self, mut message: Message, slot: usize, offset: i64) -> Result<u64, TooLarge> {
        let Some(pacing) = &self.pacing else {
            message.id = self.position_after(slot, offset);
            let appended = self.log.append(message);
            self.head.borrow_mut().next[slot] = offset + 1;
            return appended;
        };
        let reads = &pacing.feed.reads;
        let mut waited: Option<(tokio::time::Instant, Waiting<'_>)> = None;
        loop {
            let overrun = matches!(&waited, Some((since, _)) if since.elapsed() >= pacing.wait);
            if overrun {
                ShardMetrics::inc(&self.metrics.fetch_pace_overruns_total);
            }
            let keep = || (!overrun).then(|| reads.floor()).flatten();
            message.id = self.position_after(slot, offset);
            match self.log.append_keeping(message, keep) {
                Ok(pushed) => {
                    // Appended (or skipped as too large): the head moves past it.
                    self.head.borrow_mut().next[slot] = offset + 1;
                    return pushed;
                }
                Err(back) => message = back,
            }
            if waited.is_none() {
                ShardMetrics::inc(&self.metrics.fetch_paced_waits_total);
                waited = Some((tokio::time::Instant::now(), reads.waiting()));
                // The shards report on their next fan-out: make sure they run one.
                self.log.nudge();
            }
            let _ = tokio::time::timeout(PACE_POLL, reads.changed()).await;
        }
    }
}

impl Session {
    /// The id of record `offset` of slot `slot` appended now: the head with it read.
    fn position_after(&self, slot: usize, offset: i64) -> MessageId {
        let mut cursor = self.head.borrow().cursor();
        cursor.next[slot] = offset + 1;
        MessageId::Kafka(KafkaId {
            seq: 0,
            slot: slot as u32,
            cursor: Arc::new(cursor),
        })
    }
}

#[cfg(test)]
mod tests;
