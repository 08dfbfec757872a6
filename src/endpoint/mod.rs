//! Endpoints: where an API's messages come from and go to. A client subscribes with an optional
//! resume position and its outbound queue; the endpoint fills that queue until the returned
//! `Subscription` is dropped. Publishing hands one message to the endpoint and returns its id.

pub mod in_memory;
pub mod kafka;
pub mod mock;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;

use crate::config::EndpointConfig;
use crate::delivery::fanout::{CursorError, Fanout};
use crate::delivery::OutboundQueue;
use crate::message::{Fields, MessageId};

pub use in_memory::LocalTopic;

/// This shard's in-memory topics, by name.
pub type LocalTopics = HashMap<String, Rc<LocalTopic>>;

/// An API's endpoint on one shard.
pub enum Endpoint {
    /// The Mock generator.
    Mock(mock::MockEndpoint),
    /// An in-memory topic.
    InMemory(Rc<LocalTopic>),
    /// A Kafka feed and/or producer.
    Kafka(kafka::KafkaEndpoint),
}

/// A problem with what the client asked of the endpoint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    /// The resume cursor is not a position of this endpoint.
    #[error("invalid cursor '{cursor}': {expected}")]
    InvalidCursor {
        /// What the client sent (truncated).
        cursor: String,
        /// What a valid cursor looks like.
        expected: &'static str,
    },
    /// The cursor's next message is no longer retained.
    #[error("cursor {cursor} is too old: the oldest retained message is {oldest}; resume without a cursor, or from cursor {oldest} minus one to read everything retained")]
    Gone {
        /// The cursor sent.
        cursor: String,
        /// The oldest position still retained.
        oldest: String,
    },
    /// The cursor is past the newest message.
    #[error("cursor {cursor} is ahead of the topic: the newest message is {latest}")]
    CursorAhead {
        /// The cursor sent.
        cursor: String,
        /// The newest position.
        latest: String,
    },
    /// The endpoint cannot serve right now (e.g. its brokers have not answered yet).
    #[error("{0}")]
    Unavailable(String),
}

impl From<CursorError> for EndpointError {
    fn from(error: CursorError) -> Self {
        match error {
            CursorError::Gone { cursor, oldest } => EndpointError::Gone {
                cursor: cursor.to_string(),
                oldest: oldest.to_string(),
            },
            CursorError::Ahead { cursor, latest } => EndpointError::CursorAhead {
                cursor: cursor.to_string(),
                latest: latest.to_string(),
            },
        }
    }
}

impl EndpointError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            EndpointError::InvalidCursor { .. } | EndpointError::CursorAhead { .. } => 400,
            EndpointError::Gone { .. } => 410,
            EndpointError::Unavailable(_) => 503,
        }
    }
}

/// Why a message was not published.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    /// The endpoint only produces messages (e.g. Mock).
    #[error("this API's endpoint ({0}) does not accept published messages")]
    NotSupported(&'static str),
    /// The message can never fit the topic's retention.
    #[error("message is larger than the topic's maxRetainedBytes ({max_bytes} bytes)")]
    TooLarge {
        /// The bound.
        max_bytes: usize,
    },
    /// The broker did not take the message (down, or no acknowledgement in time).
    #[error("{0}")]
    Unavailable(String),
    /// The broker refused the message.
    #[error("{0}")]
    Refused(String),
}

impl PublishError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            PublishError::NotSupported(_) => 405,
            PublishError::TooLarge { .. } => 413,
            PublishError::Unavailable(_) => 503,
            PublishError::Refused(_) => 502,
        }
    }
}

impl Endpoint {
    /// The shard-local endpoint for a validated configuration; in-memory topics come from the
    /// shard's `topics` (created for every topic the configuration names).
    pub fn new(
        config: &EndpointConfig,
        topics: &LocalTopics,
        kafka: &kafka::KafkaLocals,
    ) -> Endpoint {
        match config {
            EndpointConfig::Mock(options) => Endpoint::Mock(mock::MockEndpoint::new(options)),
            EndpointConfig::InMemory(options) => Endpoint::InMemory(
                topics
                    .get(&options.topic)
                    .expect("the gateway creates every configured topic on every shard")
                    .clone(),
            ),
            EndpointConfig::Kafka(options) => Endpoint::Kafka(kafka.endpoint(options)),
        }
    }

    /// Parses a client's resume cursor (`?cursor=`, `Last-Event-ID`).
    pub fn parse_cursor(&self, cursor: &str) -> Result<MessageId, EndpointError> {
        if let Endpoint::Kafka(kafka) = self {
            return kafka.parse_cursor(cursor);
        }
        cursor.trim().parse::<u64>().map(MessageId::Sequence).map_err(|_| EndpointError::InvalidCursor {
            cursor: cursor.chars().take(64).collect(),
            expected: match self {
                Endpoint::Mock(_) => "a Mock cursor is the decimal id of the last message received, e.g. 3",
                Endpoint::InMemory(_) => "an in-memory cursor is the decimal position of the last message received, e.g. 42",
                Endpoint::Kafka(_) => "a Kafka cursor",
            },
        })
    }

    /// Starts delivering messages after `after` into `queue`. Returns the subscription and the
    /// cursor that stands for "nothing received yet" (what a poll that got no message hands back).
    pub fn subscribe(
        &self,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(Subscription, Option<MessageId>), EndpointError> {
        match self {
            Endpoint::Mock(mock) => {
                let cancelled = Rc::new(Cell::new(false));
                mock.subscribe(after.clone(), queue, cancelled.clone());
                Ok((Subscription::Mock(cancelled), after))
            }
            Endpoint::InMemory(topic) => {
                let fanout = topic.fanout();
                let (key, start) = fanout.subscribe(after, queue)?;
                Ok((Subscription::Fanout(fanout.clone(), key), Some(start)))
            }
            Endpoint::Kafka(kafka) => {
                let (subscribed, start) = kafka.subscribe(after, queue)?;
                let subscription = match subscribed {
                    kafka::Subscribed::Shared(fanout, key) => Subscription::Fanout(fanout, key),
                    kafka::Subscribed::CatchUp(catch_up) => Subscription::KafkaCatchUp(catch_up),
                };
                Ok((subscription, start))
            }
        }
    }

    /// Publishes one message; returns its id once the endpoint has taken it.
    pub async fn publish(
        &self,
        payload: Bytes,
        headers: Fields,
    ) -> Result<MessageId, PublishError> {
        self.publish_keyed(payload, headers, None).await
    }

    /// Publishes one message with a key (Kafka partitions by it; other endpoints ignore it).
    pub async fn publish_keyed(
        &self,
        payload: Bytes,
        headers: Fields,
        key: Option<Bytes>,
    ) -> Result<MessageId, PublishError> {
        match self {
            Endpoint::Mock(_) => Err(PublishError::NotSupported("mock")),
            Endpoint::InMemory(topic) => topic.publish(payload, headers),
            Endpoint::Kafka(kafka) => kafka.publish(payload, headers, key).await,
        }
    }

    /// True when `publish` can ever succeed.
    pub fn accepts_publish(&self) -> bool {
        match self {
            Endpoint::Mock(_) => false,
            Endpoint::InMemory(_) => true,
            Endpoint::Kafka(kafka) => kafka.accepts_publish(),
        }
    }
}

/// A live subscription; dropping it stops delivery into the client's queue.
pub enum Subscription {
    /// Stops the subscriber's Mock generator.
    Mock(Rc<Cell<bool>>),
    /// Removes the subscriber from its ring's fan-out.
    Fanout(Rc<Fanout>, usize),
    /// Stops a Kafka client's own catch-up fetch (its `Drop` does the work).
    KafkaCatchUp(kafka::CatchUp),
}

impl Drop for Subscription {
    fn drop(&mut self) {
        match self {
            Subscription::Mock(cancelled) => cancelled.set(true),
            Subscription::Fanout(fanout, key) => fanout.unsubscribe(*key),
            Subscription::KafkaCatchUp(_) => {}
        }
    }
}
