//! Endpoints: where an API's messages come from and go to. A client subscribes with an optional
//! resume position and its outbound queue; the endpoint fills that queue until the returned
//! `Subscription` is dropped. Publishing hands one message to the endpoint and returns its id.

pub mod echo;
pub mod fault;
pub mod in_memory;
pub mod kafka;
pub mod mock;
pub mod mqtt;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{EndpointConfig, SlowClientPolicy};
use crate::cross_shard::mqtt_feed::MqttFeed;
use crate::delivery::fanout::{CursorError, Fanout};
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::message::{Fields, MessageId, PayloadKind};
use crate::metrics::ShardMetrics;
use crate::shard::LocalSignal;

pub use fault::{BrokerFailure, BrokerProblem, Fault};
pub use in_memory::LocalTopic;

/// This shard's in-memory topics, by name.
pub type LocalTopics = HashMap<String, Rc<LocalTopic>>;

/// What a shard lends the endpoints it builds (broker clients need to know whose they are).
pub struct EndpointContext {
    /// The shard's index.
    pub shard: usize,
    /// The shard's metrics.
    pub metrics: Arc<ShardMetrics>,
    /// `gateway.outbound.slowClientPolicy`, for shard-local rings.
    pub policy: SlowClientPolicy,
    /// The shard's shutdown signal.
    pub shutdown: Rc<LocalSignal>,
    /// The shard's side of the Kafka bridge.
    pub kafka: kafka::KafkaLocals,
    /// The node feed of every MQTT consumer, by API id.
    pub mqtt_feeds: HashMap<String, Arc<MqttFeed>>,
}

/// What a publishing request chose, for the endpoints that use it.
#[derive(Default)]
pub struct PublishOptions<'a> {
    /// The topic (`?topic=`, `X-Topic`), for mqtt5 with `allowTopicFromRequest`; the other
    /// endpoints that publish answer a request that names one with `400` (`BadTopic`).
    pub topic: Option<&'a str>,
    /// The record key (`X-Message-Key`, `?key=`), for Kafka.
    pub key: Option<Bytes>,
    /// Text or binary, as the client said (WebSocket frame type, HTTP `Content-Type`). Kept by
    /// the in-memory endpoint, so its WebSocket subscribers get the frame type that was sent;
    /// MQTT and Kafka records carry no such flag, so their messages arrive `Unspecified`.
    pub kind: PayloadKind,
}

/// An API's endpoint on one shard.
pub enum Endpoint {
    /// The Mock generator.
    Mock(mock::MockEndpoint),
    /// An in-memory topic.
    InMemory(Rc<LocalTopic>),
    /// Each WebSocket connection's messages, back to it (the shard's metrics count them).
    Echo(Arc<ShardMetrics>),
    /// An MQTT broker.
    Mqtt(mqtt::MqttEndpoint),
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
    /// The cursor belongs to an earlier stream of this endpoint (e.g. a renewed broker
    /// subscription).
    #[error("cursor {cursor} cannot be resumed: {why}")]
    StaleCursor {
        /// The cursor sent.
        cursor: String,
        /// Why, and what to do.
        why: &'static str,
    },
    /// The endpoint has no consumer side.
    #[error("{0}")]
    NotSupported(&'static str),
    /// The broker cannot serve the subscription now (the client sees the fault's reason only).
    #[error("{0}")]
    Unavailable(Fault),
    /// The request lacks something the endpoint needs (e.g. a subscription name).
    #[error("{0}")]
    BadRequest(String),
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
            EndpointError::InvalidCursor { .. }
            | EndpointError::CursorAhead { .. }
            | EndpointError::BadRequest(_) => 400,
            EndpointError::Gone { .. } | EndpointError::StaleCursor { .. } => 410,
            EndpointError::NotSupported(_) => 405,
            EndpointError::Unavailable(_) => 503,
        }
    }

    /// What only the log gets (broker addresses, library errors).
    pub fn detail(&self) -> Option<&str> {
        match self {
            EndpointError::Unavailable(fault) => fault.detail(),
            _ => None,
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
    /// The broker is not reachable now, or did not confirm the message in time.
    #[error("{0}")]
    Unavailable(Fault),
    /// The broker refused the message (MQTT 5 PUBACK reason, Kafka error; in the detail).
    #[error("{0}")]
    Refused(Fault),
    /// The topic the request chose cannot be used.
    #[error("{0}")]
    BadTopic(String),
}

impl PublishError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            PublishError::NotSupported(_) => 405,
            PublishError::TooLarge { .. } => 413,
            PublishError::Unavailable(_) => 503,
            PublishError::Refused(_) => 502,
            PublishError::BadTopic(_) => 400,
        }
    }

    /// What only the log gets (broker addresses, library errors, broker reason codes).
    pub fn detail(&self) -> Option<&str> {
        match self {
            PublishError::Unavailable(fault) | PublishError::Refused(fault) => fault.detail(),
            _ => None,
        }
    }
}

impl Endpoint {
    /// The shard-local endpoint for a validated configuration; in-memory topics come from the
    /// shard's `topics` (created for every topic the configuration names). `close` ends its
    /// broker connections (fired when no deployed API uses it any more, or at shutdown).
    pub fn new(
        config: &EndpointConfig,
        api_id: &str,
        topics: &LocalTopics,
        context: &EndpointContext,
        close: &Rc<LocalSignal>,
    ) -> Endpoint {
        match config {
            EndpointConfig::Mock(options) => Endpoint::Mock(mock::MockEndpoint::new(options)),
            EndpointConfig::InMemory(options) => Endpoint::InMemory(
                topics
                    .get(&options.topic)
                    .expect("the gateway creates every configured topic on every shard")
                    .clone(),
            ),
            EndpointConfig::Mqtt(options) => {
                let parts = mqtt::ClientParts {
                    api_id: api_id.to_owned(),
                    shard: context.shard,
                    metrics: context.metrics.clone(),
                    shutdown: close.clone(),
                };
                let feed = context.mqtt_feeds.get(api_id).cloned();
                Endpoint::Mqtt(mqtt::MqttEndpoint::new(
                    options,
                    parts,
                    feed,
                    context.policy,
                ))
            }
            EndpointConfig::Kafka(options) => Endpoint::Kafka(context.kafka.endpoint(options)),
            EndpointConfig::Echo => Endpoint::Echo(context.metrics.clone()),
        }
    }

    /// Called on the shard's runtime when it starts serving: broker endpoints connect now, so
    /// that the first request does not wait for (or fail on) a connection it opened.
    pub fn start(&self) {
        if let Endpoint::Mqtt(mqtt) = self {
            mqtt.start();
        }
    }

    /// Resolves once the endpoint's broker connections on this shard have closed after the
    /// shard's shutdown signal (MQTT: DISCONNECT sent). The shard awaits it before its runtime,
    /// and every task on it, is dropped: a task dropped mid-way never says goodbye, and with
    /// io_uring its socket may stay open until the process exits.
    pub async fn closed(&self) {
        if let Endpoint::Mqtt(mqtt) = self {
            mqtt.closed().await;
        }
    }

    /// Parses a client's resume cursor (`?cursor=`, `Last-Event-ID`).
    pub fn parse_cursor(&self, cursor: &str) -> Result<MessageId, EndpointError> {
        if let Endpoint::Kafka(kafka) = self {
            return kafka.parse_cursor(cursor);
        }
        // The largest id has no successor, so it cannot be a resume point.
        let parsed = cursor
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|id| *id < u64::MAX && !matches!(self, Endpoint::Echo(_)));
        parsed.map(MessageId::Sequence).ok_or_else(|| EndpointError::InvalidCursor {
            cursor: cursor.chars().take(64).collect(),
            expected: match self {
                Endpoint::Mock(_) => "a Mock cursor is the decimal id of the last message received, e.g. 3",
                Endpoint::InMemory(_) => "an in-memory cursor is the decimal position of the last message received, e.g. 42",
                Endpoint::Mqtt(_) => "an MQTT cursor is the decimal id of the last message received, e.g. 4123168604161",
                Endpoint::Kafka(_) => "a Kafka cursor",
                Endpoint::Echo(_) => "an echo API keeps no messages, so there is nothing to resume: connect without a cursor",
            },
        })
    }

    /// Starts delivering messages after `after` into `queue`. Returns the subscription and the
    /// cursor that stands for "nothing received yet" (what a poll that got no message hands back).
    /// `subscription` is the subscription the client named (`X-Subscription`,
    /// `?subscription=`); only Kafka with `groupScope: subscription` uses it.
    pub fn subscribe(
        &self,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
        subscription: Option<&str>,
    ) -> Result<(Subscription, Option<MessageId>), EndpointError> {
        match self {
            Endpoint::Mock(mock) => {
                mock.subscribe(after.clone(), queue.clone());
                Ok((Subscription::Mock(queue), after))
            }
            Endpoint::InMemory(topic) => {
                let fanout = topic.fanout();
                let (key, start) = fanout.subscribe(after, queue)?;
                Ok((Subscription::Fanout(fanout.clone(), key), Some(start)))
            }
            Endpoint::Mqtt(mqtt) => {
                let (subscription, start) = mqtt.subscribe(after, queue)?;
                Ok((Subscription::Mqtt(subscription), Some(start)))
            }
            Endpoint::Kafka(kafka) => {
                let (subscribed, start) = kafka.subscribe(after, queue, subscription)?;
                Ok((Subscription::Kafka(subscribed), start))
            }
            Endpoint::Echo(metrics) => {
                let echo = echo::EchoLoop::new(queue, metrics.clone());
                Ok((Subscription::Echo(Rc::new(echo)), None))
            }
        }
    }

    /// True when a finite stream has nothing after `after`, ever (a Mock `messageCount` reached).
    pub fn is_exhausted_after(&self, after: Option<MessageId>) -> bool {
        match self {
            Endpoint::Mock(mock) => mock.is_exhausted_after(after),
            Endpoint::InMemory(_) | Endpoint::Echo(_) | Endpoint::Mqtt(_) | Endpoint::Kafka(_) => {
                false
            }
        }
    }

    /// Publishes one message; returns its id once the endpoint has taken it.
    pub async fn publish(
        &self,
        payload: Bytes,
        headers: Fields,
    ) -> Result<MessageId, PublishError> {
        self.publish_with(payload, headers, PublishOptions::default())
            .await
    }

    /// Like `publish`, with what the request chose: the topic (`?topic=`, `X-Topic`; mqtt5 with
    /// `allowTopicFromRequest`) and the key (Kafka partitions by it; the others ignore it). A topic
    /// chosen where it cannot be is `BadTopic` (see `request_topic_problem`).
    pub async fn publish_with(
        &self,
        payload: Bytes,
        headers: Fields,
        options: PublishOptions<'_>,
    ) -> Result<MessageId, PublishError> {
        if let Some(problem) = self.request_topic_problem(options.topic) {
            return Err(problem);
        }
        match self {
            Endpoint::Mock(_) => Err(PublishError::NotSupported("mock")),
            Endpoint::InMemory(topic) => topic.publish(payload, options.kind, headers),
            Endpoint::Mqtt(mqtt) => mqtt.publish(payload, headers, options.topic).await,
            Endpoint::Kafka(kafka) => kafka.publish(payload, headers, options.key).await,
            // Only the connection's own `EchoLoop` (its subscription) publishes.
            Endpoint::Echo(_) => Err(PublishError::NotSupported("echo")),
        }
    }

    /// True when `publish` can ever succeed.
    pub fn accepts_publish(&self) -> bool {
        match self {
            Endpoint::Mock(_) => false,
            Endpoint::InMemory(_) | Endpoint::Echo(_) => true,
            Endpoint::Mqtt(mqtt) => mqtt.has_producer(),
            Endpoint::Kafka(kafka) => kafka.accepts_publish(),
        }
    }

    /// Why a publish naming `topic` (`?topic=`, `X-Topic`) is refused before any broker I/O:
    /// in-memory and Kafka endpoints write to their configured topic only. `None` when no topic
    /// is named, and for mqtt5 (its `allowTopicFromRequest` decides when publishing) and the
    /// endpoints that cannot publish at all (their own error says so).
    pub fn request_topic_problem(&self, topic: Option<&str>) -> Option<PublishError> {
        topic?;
        let (what, configured) = match self {
            Endpoint::InMemory(topic) => ("in-memory endpoint", topic.log().name()),
            Endpoint::Kafka(kafka) => ("Kafka producer", kafka.producer_topic()?),
            Endpoint::Echo(_) => {
                return Some(PublishError::BadTopic(
                    "this API's echo endpoint sends each message back to its sender; remove `topic` (`?topic=`) from the request".to_owned(),
                ))
            }
            Endpoint::Mock(_) | Endpoint::Mqtt(_) => return None,
        };
        Some(PublishError::BadTopic(format!(
            "this API's {what} writes to its configured topic `{configured}`; remove `topic` (`?topic=`, `X-Topic`) from the request"
        )))
    }
}

/// A live subscription; dropping it stops delivery into the client's queue.
pub enum Subscription {
    /// Ends the subscriber's queue, which stops its Mock generator.
    Mock(Rc<OutboundQueue>),
    /// Removes the subscriber from its ring's fan-out.
    Fanout(Rc<Fanout>, usize),
    /// Leaves the node's MQTT feed (the owner unsubscribes after the node's last client).
    Mqtt(mqtt::MqttSubscription),
    /// Leaves a Kafka feed's fan-out or stops the client's own catch-up fetch (its `Drop` does
    /// the work).
    Kafka(kafka::KafkaSubscription),
    /// Ends the connection's echo queue, which stops a publish waiting for room in it.
    Echo(Rc<echo::EchoLoop>),
}

impl Subscription {
    /// The Kafka subscription, for a Kafka endpoint (its group commits on request).
    pub fn kafka(&self) -> Option<&kafka::KafkaSubscription> {
        match self {
            Subscription::Kafka(kafka) => Some(kafka),
            _ => None,
        }
    }

    /// The connection's own echo, for an echo endpoint: its publisher sends there.
    pub fn echo(&self) -> Option<Rc<echo::EchoLoop>> {
        match self {
            Subscription::Echo(echo) => Some(echo.clone()),
            _ => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        match self {
            Subscription::Mock(queue) => queue.end(QueueEnd::Closed),
            Subscription::Echo(echo) => echo.queue().end(QueueEnd::Closed),
            Subscription::Fanout(fanout, key) => fanout.unsubscribe(*key),
            // Its own `Drop` leaves the subscription.
            Subscription::Mqtt(_) => {}
            Subscription::Kafka(_) => {}
        }
    }
}
