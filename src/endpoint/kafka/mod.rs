//! The Kafka endpoint as one shard sees it.
//!
//! Kafka I/O happens on the bridge thread (`bridge/`, the only files that touch tokio; its module
//! doc says which way the dependencies go: the shard side reaches it only through
//! `cross_shard::kafka_link`). Each consumed feed (a set of topics) is fetched once per node, one
//! fetch loop per topic-partition, into a shared node buffer (`cross_shard::kafka_link::KafkaFeed`);
//! each shard's `delivery::Fanout` serves its clients from that buffer, and the fetches wait for
//! its readers to make room. A client is a position: where it resumes is matched to the buffer,
//! and a position older than the buffer is served by a catch-up reader shared with the clients
//! near it (`catch_up.rs`, `bridge/catch_up.rs`), never a silent jump. Publishing hands the record
//! to the bridge and waits for the broker's acknowledgement. A feed with `groupId` is fetched as a
//! consumer group member (`bridge/group*.rs`): this shard reports how far its clients were
//! written, and the bridge commits the group's offsets up to there. With `groupScope:
//! subscription` each subscription a client names has a feed and a group of its own, open while
//! it has clients (`subscription_feeds.rs`, `cross_shard::kafka_subscriptions`).

mod bridge;
mod catch_up;
mod cursor_end;
mod group_assign;
mod local_feed;
mod murmur2;
mod offsets;
mod plan;
mod produce_failure;
mod subscription_feeds;

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

pub use bridge::KafkaBridge;
pub use plan::KafkaPlan;

use crate::config::kafka::{AutoOffsetReset, KafkaOptions};
use crate::config::SlowClientPolicy;
use crate::cross_shard::kafka_link::{
    BridgeCommand, KafkaFeed, KafkaLink, ProduceFailure, ProduceRequest,
};
use crate::cross_shard::kafka_subscriptions::Lease;
use crate::delivery::fanout::FanoutSubscription;
use crate::delivery::OutboundQueue;
use crate::endpoint::{EndpointError, Fault, PublishError};
use crate::message::kafka_compact_id::DecodeError;
use crate::message::kafka_cursor::{KafkaCursor, KafkaId};
use crate::message::{Fields, MessageId};
use crate::metrics::ShardMetrics;
use catch_up::CatchUp;
use local_feed::LocalFeed;

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
                    LocalFeed::new(
                        index,
                        shard,
                        shared.clone(),
                        spec.consumer.clone(),
                        policy,
                        metrics.clone(),
                    )
                })
                .collect(),
        };
        KafkaLocals { link, plan, feeds }
    }

    /// True when this shard is linked to a Kafka bridge (one was started).
    pub fn is_linked(&self) -> bool {
        self.link.is_some()
    }

    /// The endpoint of an API configured with `options`.
    pub fn endpoint(&self, options: &KafkaOptions) -> KafkaEndpoint {
        let link = self
            .link
            .clone()
            .expect("the gateway starts the Kafka bridge when an API uses Kafka");
        KafkaEndpoint {
            plan: self.plan.clone(),
            options: Rc::new(options.clone()),
            feed: self
                .plan
                .feed_index(options)
                .and_then(|i| self.feeds.get(i).cloned()),
            producer: self.plan.producer_index(options),
            producer_topic: options
                .producer
                .as_ref()
                .map(|producer| Rc::from(producer.topic.as_str())),
            link,
        }
    }
}

/// An API's Kafka endpoint on one shard.
pub struct KafkaEndpoint {
    plan: Arc<KafkaPlan>,
    /// The API's Kafka options (the brokers dead letters go to).
    options: Rc<KafkaOptions>,
    feed: Option<Rc<LocalFeed>>,
    producer: Option<usize>,
    /// The topic the producer writes to (requests cannot choose another).
    producer_topic: Option<Rc<str>>,
    link: KafkaLink,
}

/// A live Kafka subscription; dropping it stops delivery (and, for a subscription's consumer
/// group, releases the client's lease on the group's feed, after the delivery stopped).
pub struct KafkaSubscription {
    _delivery: Delivery,
    _lease: Option<Lease>,
    /// The consumer-group feed it reads, when its feed commits offsets.
    group_feed: Option<Arc<KafkaFeed>>,
}

/// The answer to [`KafkaSubscription::commit_through`].
pub enum CommitWait {
    /// The feed has no consumer group: nothing is committed, nothing to wait for.
    NoGroup,
    /// Resolves to true once the broker accepted a commit past the message.
    Waiting(flume::Receiver<bool>),
    /// Too many commits wait on the feed already.
    Refused,
}

impl KafkaSubscription {
    /// Asks the consumer group to commit its offsets past `id` now (an OffsetCommit, not the
    /// next periodic one): a `qos: at-most-once` push subscription waits for it before its only
    /// delivery attempt.
    pub fn commit_through(&self, id: &MessageId) -> CommitWait {
        let Some(feed) = &self.group_feed else {
            return CommitWait::NoGroup;
        };
        let MessageId::Kafka(id) = id else {
            return CommitWait::Refused;
        };
        match feed.commit_now.request(id.slot as usize, id.cursor.clone()) {
            Some(answer) => CommitWait::Waiting(answer),
            None => CommitWait::Refused,
        }
    }
}

/// Where a client's records come from.
enum Delivery {
    /// The client in the node buffer's fan-out on this shard (dropping it unsubscribes).
    Shared(#[allow(dead_code)] FanoutSubscription),
    /// A fetch of its own (its `Drop` stops it).
    CatchUp(#[allow(dead_code)] CatchUp),
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
        let start = match feed.start() {
            Ok(start) => start,
            Err(unavailable) => {
                // Before the brokers first answered: a malformed cursor is still the client's
                // fault (400); a well-formed one waits for the feed (503).
                let topics: Vec<&str> = feed.consumer.topics.iter().map(String::as_str).collect();
                match KafkaCursor::parse(text, &topics) {
                    Err(why) if why != DecodeError::UnknownTopic.message() => {
                        return Err(invalid(why))
                    }
                    _ => return Err(unavailable),
                }
            }
        };
        // A compact id names topics by a hash: of those this node reads, or is configured to.
        let mut topics = start.topics();
        for topic in &feed.consumer.topics {
            if !topics.contains(&topic.as_str()) {
                topics.push(topic);
            }
        }
        let parsed = KafkaCursor::parse(text, &topics).map_err(invalid)?;
        start
            .check_parsed(&parsed)
            .map_err(EndpointError::BadRequest)?;
        Ok(MessageId::Kafka(KafkaId {
            seq: 0,
            slot: u32::MAX,
            cursor: Arc::new(start.from_parsed(&parsed, 0)),
        }))
    }

    /// Starts delivering into `queue` after `after` (a cursor from `parse_cursor`), or from the
    /// configured `autoOffsetReset` without one. `subscription` is the name the client gave,
    /// needed by `groupScope: subscription`.
    pub fn subscribe(
        &self,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
        subscription: Option<&str>,
    ) -> Result<(KafkaSubscription, Option<MessageId>), EndpointError> {
        let Some(configured) = &self.feed else {
            return Err(EndpointError::Unavailable(Fault::new(
                "this API's Kafka endpoint has no consumer (`consumer.enabled: false`)",
            )));
        };
        let (feed, lease) = match configured.consumer.subscription_groups {
            None => (configured.clone(), None),
            Some(_) => {
                let (feed, lease) =
                    configured
                        .subscriptions
                        .open(configured, &self.link, subscription)?;
                (feed, Some(lease))
            }
        };
        let (delivery, start) = self.deliver(&feed, after, queue)?;
        let group_feed = feed
            .consumer
            .group_id
            .is_some()
            .then(|| feed.shared.clone());
        Ok((
            KafkaSubscription {
                _delivery: delivery,
                _lease: lease,
                group_feed,
            },
            start,
        ))
    }

    fn deliver(
        &self,
        feed: &Rc<LocalFeed>,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(Delivery, Option<MessageId>), EndpointError> {
        // Only a client's own position may lie past the broker's log end (the feed's start
        // came from the broker).
        let given = after.is_some();
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
            // records fetched while no client was connected are not skipped. This needs no
            // start: a subscription's group may still be joining.
            None if feed.consumer.group_id.is_some() => {
                if feed.consumer.subscription_groups.is_none() {
                    // The API's group starts with the gateway: until it joined, say so.
                    feed.start()?;
                }
                feed.ensure_pumping();
                // Held until the client is subscribed (and reported): not evicted meanwhile.
                let (from, _hold) = {
                    let ring = feed.shared.log.lock();
                    let first = ring.first_position();
                    let from = feed.shared.delivered_floor().map_or(first, |floor| {
                        (floor + 1).clamp(first, ring.next_position().max(first))
                    });
                    (from, feed.shared.reads.hold(from))
                };
                let member = feed.fanout.subscribe_at(from, None, queue);
                return Ok((Delivery::Shared(member), feed.position_before(from)));
            }
            None => {
                let start = feed.start()?.clone();
                feed.ensure_pumping();
                if feed.consumer.auto_offset_reset == AutoOffsetReset::Latest {
                    let (member, position) = feed.subscribe_latest(&start, queue);
                    return Ok((Delivery::Shared(member), Some(position)));
                }
                Arc::new(start.from_parsed(&Vec::new(), 0))
            }
        };
        let position = MessageId::Kafka(KafkaId {
            seq: 0,
            slot: u32::MAX,
            cursor: floor.clone(),
        });
        let start = match feed.start() {
            Ok(start) => start.clone(),
            // A group member still joining (a subscription's group just opened): its records
            // start at the group's offsets, and the client's position skips what it had. The
            // API's own group has no start only while its feed is not running: 503.
            Err(_) if feed.consumer.subscription_groups.is_some() => {
                feed.ensure_pumping();
                let first = feed.shared.log.lock().first_position();
                let member = feed.fanout.subscribe_at(first, Some(floor), queue);
                return Ok((Delivery::Shared(member), Some(position)));
            }
            Err(error) => return Err(error),
        };
        feed.ensure_pumping();
        let matched = feed.match_and_hold(&start, &floor);
        // A position that is one of the buffer's entries is followed there by what the broker
        // had after it (also when its log went back since): only another is checked.
        if given && !matched.as_ref().is_some_and(|m| m.exact) && feed.needs_end_check(&floor) {
            drop(matched);
            let pending = feed.route_checking_end(&self.link, floor, queue)?;
            return Ok((Delivery::CatchUp(pending), Some(position)));
        }
        let delivery = match matched {
            Some(matched) => {
                let at = (!matched.exact).then_some(floor);
                Delivery::Shared(feed.fanout.subscribe_at(matched.position, at, queue))
            }
            None => Delivery::CatchUp(feed.catch_up(&self.link, floor, queue)?),
        };
        Ok((delivery, Some(position)))
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
        produce(&self.link, producer, payload, headers, key).await
    }

    /// The writer of webhook dead letters to `topic` on this API's brokers; `None` when the
    /// configuration did not declare that dead-letter topic (the plan has no producer for it).
    pub fn dead_letters(&self, topic: &str) -> Option<KafkaDeadLetters> {
        let producer = self.plan.dead_letter_producer(&self.options, topic)?;
        Some(KafkaDeadLetters {
            link: self.link.clone(),
            producer,
        })
    }

    /// The topic the producer writes to, when it produces.
    pub fn producer_topic(&self) -> Option<&str> {
        self.producer_topic.as_deref()
    }

    /// True when the endpoint produces.
    pub fn accepts_publish(&self) -> bool {
        self.producer.is_some()
    }
}

/// Writes webhook dead letters to one topic of an API's brokers (the headers, the failure's
/// included, as record headers): a write resolves once the brokers acknowledged it.
pub struct KafkaDeadLetters {
    link: KafkaLink,
    producer: usize,
}

impl KafkaDeadLetters {
    /// Produces one dead letter.
    pub async fn write(
        &self,
        payload: Bytes,
        headers: Fields,
        key: Option<Bytes>,
    ) -> Result<(), PublishError> {
        produce(&self.link, self.producer, payload, headers, key)
            .await
            .map(|_| ())
    }
}

/// Hands one record to producer `producer` on the bridge; resolves once the brokers answered.
async fn produce(
    link: &KafkaLink,
    producer: usize,
    payload: Bytes,
    headers: Fields,
    key: Option<Bytes>,
) -> Result<MessageId, PublishError> {
    let (reply, outcome) = flume::bounded(1);
    let request = ProduceRequest {
        producer,
        key,
        payload,
        headers,
        reply,
    };
    if link.send(BridgeCommand::Produce(request)).is_err() {
        return Err(PublishError::Unavailable(Fault::new(
            "the gateway's queue to Kafka is full; retry shortly",
        )));
    }
    match outcome.recv_async().await {
        Ok(Ok((partition, offset))) => Ok(MessageId::KafkaRecord { partition, offset }),
        Ok(Err(ProduceFailure::Unavailable(fault))) => Err(PublishError::Unavailable(fault)),
        Ok(Err(ProduceFailure::Refused(fault))) => Err(PublishError::Refused(fault)),
        Err(_) => Err(PublishError::Unavailable(Fault::new(
            "the gateway's Kafka bridge stopped",
        ))),
    }
}

#[cfg(test)]
mod tests;
