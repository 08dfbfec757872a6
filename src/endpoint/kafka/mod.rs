//! The Kafka endpoint as one shard sees it.
//!
//! Kafka I/O happens on the bridge thread (`bridge*.rs`, the only files that touch tokio). Each
//! consumed feed (a set of topics) is fetched once per node, one fetch loop per topic-partition,
//! into a shared node buffer (`cross_shard::kafka_link::KafkaFeed`); each shard's
//! `delivery::Fanout` serves its clients from that buffer. A client is a position: where it
//! resumes is matched to the buffer, and a position older than the buffer gets a fetch of its own
//! (a catch-up), never a silent jump. Publishing hands the record to the bridge and waits for the
//! broker's acknowledgement. A feed with `groupId` is fetched as a consumer group member
//! (`bridge_group*.rs`): this shard reports how far its clients were written, and the bridge
//! commits the group's offsets up to there.

pub mod bridge;
mod bridge_feed;
mod bridge_group;
mod bridge_group_requests;
mod bridge_group_sasl;
mod bridge_group_wire;
mod bridge_produce;
pub mod cursor;
mod group_assign;
mod murmur2;
mod plan;

use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

pub use plan::KafkaPlan;

use crate::config::kafka::{AutoOffsetReset, KafkaConsumer, KafkaOptions};
use crate::config::SlowClientPolicy;
use crate::cross_shard::kafka_link::{
    BridgeCommand, CatchUpRequest, KafkaFeed, KafkaLink, ProduceFailure, ProduceRequest,
};
use crate::cross_shard::{Doorbell, TopicLog};
use crate::delivery::fanout::{Fanout, RingSource};
use crate::delivery::OutboundQueue;
use crate::endpoint::{EndpointError, PublishError};
use crate::message::{Fields, MessageId};
use crate::metrics::ShardMetrics;
use cursor::{KafkaCursor, KafkaId};

/// This shard's side of every Kafka feed and producer.
pub struct KafkaLocals {
    link: Option<KafkaLink>,
    plan: Arc<KafkaPlan>,
    feeds: Vec<Rc<LocalFeed>>,
}

impl KafkaLocals {
    /// The shard-local sides; `link` is `None` when no API uses Kafka.
    pub fn new(
        shard: usize,
        link: Option<KafkaLink>,
        plan: Arc<KafkaPlan>,
        policy: SlowClientPolicy,
        metrics: Arc<ShardMetrics>,
    ) -> KafkaLocals {
        let feeds = match &link {
            None => Vec::new(),
            Some(link) => link
                .feeds
                .iter()
                .zip(plan.feeds.iter())
                .enumerate()
                .map(|(index, (shared, spec))| {
                    let source = RingSource::Shared {
                        log: shared.log.clone(),
                        shard,
                    };
                    let fanout = Rc::new(Fanout::new(source, policy, metrics.clone()));
                    if spec.consumer.group_id.is_some() {
                        // The bridge commits the group's offsets up to what clients were written.
                        let (weak, feed) = (Rc::downgrade(&fanout), shared.clone());
                        fanout.set_on_progress(Box::new(move || {
                            if let Some(fanout) = weak.upgrade() {
                                feed.report_delivered(shard, fanout.delivered_floor());
                            }
                        }));
                    }
                    Rc::new(LocalFeed {
                        index,
                        shard,
                        shared: shared.clone(),
                        consumer: spec.consumer.clone(),
                        fanout,
                        pumping: Cell::new(false),
                        policy,
                        metrics: metrics.clone(),
                    })
                })
                .collect(),
        };
        KafkaLocals { link, plan, feeds }
    }

    /// The endpoint of an API configured with `options`.
    pub fn endpoint(&self, options: &KafkaOptions) -> KafkaEndpoint {
        let link = self
            .link
            .clone()
            .expect("the gateway starts the Kafka bridge when an API uses Kafka");
        KafkaEndpoint {
            feed: self
                .plan
                .feed_index(options)
                .and_then(|i| self.feeds.get(i).cloned()),
            producer: self.plan.producer_index(options),
            link,
        }
    }
}

/// One feed on one shard.
struct LocalFeed {
    index: usize,
    shard: usize,
    shared: Arc<KafkaFeed>,
    consumer: KafkaConsumer,
    fanout: Rc<Fanout>,
    /// The pump task is started by the first subscriber (tasks cannot start before the runtime).
    pumping: Cell<bool>,
    policy: SlowClientPolicy,
    metrics: Arc<ShardMetrics>,
}

/// An API's Kafka endpoint on one shard.
pub struct KafkaEndpoint {
    feed: Option<Rc<LocalFeed>>,
    producer: Option<usize>,
    link: KafkaLink,
}

/// A Kafka subscription that owns more than a fan-out key: a catch-up fetch of its own.
pub struct CatchUp {
    fanout: Rc<Fanout>,
    key: usize,
    cancelled: Arc<AtomicBool>,
    doorbell: Arc<Doorbell>,
}

impl Drop for CatchUp {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Release);
        self.fanout.unsubscribe(self.key);
        // Wakes the pump task so it sees the fan-out is gone and ends.
        self.doorbell.ring();
    }
}

/// What a Kafka subscribe returns to `Endpoint::subscribe`.
pub enum Subscribed {
    /// Served from the node buffer.
    Shared(Rc<Fanout>, usize),
    /// Served by a fetch of its own.
    CatchUp(CatchUp),
}

impl KafkaEndpoint {
    /// Parses a client's cursor into a position in the feed's layout.
    pub fn parse_cursor(&self, text: &str) -> Result<MessageId, EndpointError> {
        let invalid = |expected| EndpointError::InvalidCursor {
            cursor: text.chars().take(64).collect(),
            expected,
        };
        let Some(feed) = &self.feed else {
            return Err(invalid("this API does not consume from Kafka"));
        };
        let parsed = KafkaCursor::parse(text).map_err(invalid)?;
        let start = feed.start()?;
        Ok(MessageId::Kafka(KafkaId {
            seq: 0,
            slot: u32::MAX,
            cursor: Arc::new(start.from_parsed(&parsed, 0)),
        }))
    }

    /// Starts delivering into `queue` after `after` (a cursor from `parse_cursor`), or from the
    /// configured `autoOffsetReset` without one.
    pub fn subscribe(
        &self,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(Subscribed, Option<MessageId>), EndpointError> {
        let Some(feed) = &self.feed else {
            return Err(EndpointError::Unavailable(
                "this API's Kafka endpoint has no consumer (`consumer.enabled: false`)".to_owned(),
            ));
        };
        let start = feed.start()?.clone();
        feed.ensure_pumping();
        let floor = match after {
            Some(MessageId::Kafka(id)) => id.cursor,
            Some(_) => {
                return Err(EndpointError::InvalidCursor {
                    cursor: String::new(),
                    expected: "a Kafka cursor",
                })
            }
            // A group member hands out what it fetched from the group's offsets: from the
            // oldest record no client was written yet (the oldest it holds when none was), so
            // records fetched while no client was connected are not skipped.
            None if feed.consumer.group_id.is_some() => {
                let from = {
                    let ring = feed.shared.log.lock();
                    let first = ring.first_position();
                    feed.shared.delivered_floor().map_or(first, |floor| {
                        (floor + 1).clamp(first, ring.next_position().max(first))
                    })
                };
                let key = feed.fanout.subscribe_at(from, None, queue);
                return Ok((Subscribed::Shared(feed.fanout.clone(), key), None));
            }
            None if feed.consumer.auto_offset_reset == AutoOffsetReset::Earliest => {
                Arc::new(start.from_parsed(&Vec::new(), 0))
            }
            None => {
                let (key, position) = feed.subscribe_latest(&start, queue);
                return Ok((Subscribed::Shared(feed.fanout.clone(), key), Some(position)));
            }
        };
        let position = MessageId::Kafka(KafkaId {
            seq: 0,
            slot: u32::MAX,
            cursor: floor.clone(),
        });
        let subscribed = match feed.match_position(&start, &floor) {
            Some((ring_start, exact)) => {
                let floor = (!exact).then_some(floor);
                let key = feed.fanout.subscribe_at(ring_start, floor, queue);
                Subscribed::Shared(feed.fanout.clone(), key)
            }
            None => Subscribed::CatchUp(feed.catch_up(&self.link, floor, queue)?),
        };
        Ok((subscribed, Some(position)))
    }

    /// Produces one record; resolves once the broker acknowledged it.
    pub async fn publish(
        &self,
        payload: Bytes,
        headers: Fields,
        key: Option<Bytes>,
    ) -> Result<MessageId, PublishError> {
        let Some(producer) = self.producer else {
            return Err(PublishError::NotSupported(
                "kafka without `producer.enabled`",
            ));
        };
        let (reply, outcome) = flume::bounded(1);
        let request = ProduceRequest {
            producer,
            key,
            payload,
            headers,
            reply,
        };
        if self.link.send(BridgeCommand::Produce(request)).is_err() {
            return Err(PublishError::Unavailable(
                "the gateway's queue to Kafka is full; retry shortly".to_owned(),
            ));
        }
        match outcome.recv_async().await {
            Ok(Ok((partition, offset))) => Ok(MessageId::KafkaRecord { partition, offset }),
            Ok(Err(failure @ ProduceFailure::Unavailable(_))) => {
                Err(PublishError::Unavailable(failure.to_string()))
            }
            Ok(Err(failure @ ProduceFailure::Refused(_))) => {
                Err(PublishError::Refused(failure.to_string()))
            }
            Err(_) => Err(PublishError::Unavailable(
                "the gateway's Kafka bridge stopped".to_owned(),
            )),
        }
    }

    /// True when the endpoint produces.
    pub fn accepts_publish(&self) -> bool {
        self.producer.is_some()
    }
}

impl LocalFeed {
    fn start(&self) -> Result<&Arc<KafkaCursor>, EndpointError> {
        self.shared.start().ok_or_else(|| {
            EndpointError::Unavailable(
                "the Kafka brokers have not answered the gateway yet; retry shortly".to_owned(),
            )
        })
    }

    /// Starts this shard's task that fans out new records whenever the bridge appends some.
    fn ensure_pumping(&self) {
        if self.pumping.replace(true) {
            return;
        }
        let fanout = Rc::downgrade(&self.fanout);
        let log = self.shared.log.clone();
        let doorbell = self.shared.doorbells[self.shard].clone();
        monoio::spawn(pump(fanout, log, doorbell, self.shard));
    }

    /// A client without a cursor under `latest`: from the end of the buffer. Returns its key
    /// and its position (what an empty poll hands back as the next cursor).
    fn subscribe_latest(
        &self,
        start: &Arc<KafkaCursor>,
        queue: Rc<OutboundQueue>,
    ) -> (usize, MessageId) {
        let (next, head) = {
            let ring = self.shared.log.lock();
            let head = ring
                .iter()
                .last()
                .and_then(|m| match &m.id {
                    MessageId::Kafka(id) => Some(id.cursor.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| start.clone());
            (ring.next_position(), head)
        };
        let key = self.fanout.subscribe_at(next, None, queue);
        let position = MessageId::Kafka(KafkaId {
            seq: 0,
            slot: u32::MAX,
            cursor: head,
        });
        (key, position)
    }

    /// Where in the buffer a client at `floor` resumes: `(ring position, whether the position
    /// is exactly a buffer entry's)`, or `None` when the client needs records the buffer no
    /// longer (or never) held.
    fn match_position(&self, start: &KafkaCursor, floor: &KafkaCursor) -> Option<(u64, bool)> {
        let ring = self.shared.log.lock();
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
            if offset >= floor.next[slot] {
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

    /// Serves a client from a fetch of its own, starting at `floor`.
    fn catch_up(
        &self,
        link: &KafkaLink,
        floor: Arc<KafkaCursor>,
        queue: Rc<OutboundQueue>,
    ) -> Result<CatchUp, EndpointError> {
        let doorbells: Vec<Arc<Doorbell>> = (0..=self.shard).map(|_| Doorbell::new()).collect();
        let log = Arc::new(TopicLog::new(
            "kafka-catch-up",
            self.consumer.max_retained_messages,
            self.consumer.max_retained_bytes,
            &doorbells,
        ));
        let cancelled = Arc::new(AtomicBool::new(false));
        let request = CatchUpRequest {
            feed: self.index,
            from: floor,
            log: log.clone(),
            cancelled: cancelled.clone(),
        };
        if link.send(BridgeCommand::CatchUp(request)).is_err() {
            return Err(EndpointError::Unavailable(
                "the gateway's queue to Kafka is full; retry shortly".to_owned(),
            ));
        }
        let source = RingSource::Shared {
            log: log.clone(),
            shard: self.shard,
        };
        let fanout = Rc::new(Fanout::new(source, self.policy, self.metrics.clone()));
        let key = fanout.subscribe_at(1, None, queue);
        let doorbell = doorbells[self.shard].clone();
        monoio::spawn(pump(
            Rc::downgrade(&fanout),
            log,
            doorbell.clone(),
            self.shard,
        ));
        Ok(CatchUp {
            fanout,
            key,
            cancelled,
            doorbell,
        })
    }
}

/// Fans out what the bridge appended, each time it rings; ends when the fan-out is dropped.
async fn pump(fanout: Weak<Fanout>, log: Arc<TopicLog>, doorbell: Arc<Doorbell>, shard: usize) {
    loop {
        doorbell.rung().await;
        let Some(fanout) = fanout.upgrade() else {
            return;
        };
        if log.take_dirty(shard) {
            fanout.pump_all();
        }
    }
}

#[cfg(test)]
mod tests;
