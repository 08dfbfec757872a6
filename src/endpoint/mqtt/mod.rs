//! The MQTT endpoint: web clients consume from and produce to an MQTT broker (3.1.1 or 5).
//!
//! Per API and per shard there is one [`MqttClient`] with one broker connection, opened when the
//! shard starts, for the shard's publishers. A consumer's topic filter is subscribed once per
//! *node*, on the connection of one shard (the feed's owner), when the node's first client
//! arrives, and unsubscribed `unsubscribeDelayMs` after the last one left; its messages go into
//! one node-wide retention ring (`cross_shard::MqttFeed`) that every shard's `delivery::Fanout`
//! serves, so HTTP GET cursors, SSE `Last-Event-ID` and WebSocket `?cursor=` resume on any shard
//! of the node, as with in-memory topics.
//!
//! ```text
//! codec.rs       MQTT packets ⇄ bytes (the only user of mqttbytes)
//! client.rs      the shard's state for one endpoint: health, write queue, in-flight publishes
//! connection.rs  the connection task: connect, keep-alive, reconnect with backoff, resubscribe
//! inbound.rs     the broker's bytes → packets, skipping PUBLISHes over maxPacketBytes
//! upkeep.rs      when to reconnect or give up, when to ping or count the broker gone (sans-IO)
//! consumer.rs    the owner's broker subscription: SUBSCRIBE state, held PUBACKs, ring appends
//! feed.rs        a shard's side of the node feed: fan-out, join/leave, the owner's bookkeeping
//! ```

mod client;
pub mod codec;
mod connection;
mod consumer;
mod feed;
mod inbound;
pub mod tls;
mod upkeep;
mod wake;

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{topic_name_problem, MqttOptions, MqttProducerOptions, SlowClientPolicy};
use crate::cross_shard::mqtt_feed::MqttFeed;
use crate::delivery::OutboundQueue;
use crate::endpoint::{BrokerFailure, BrokerProblem, EndpointError, Fault, PublishError};
use crate::message::{Fields, MessageId};
use crate::metrics::ShardMetrics;
use crate::shard::supervisor::spawn_shard_task;

pub use client::{ClientParts, Health, MqttClient};
pub use feed::MqttSubscription;
use feed::ShardFeed;
use wake::AckSlot;

/// Dead letters on an API without a producer: how long one waits for its PUBACK (as the
/// producer's `ackTimeoutMs` default), and how many may wait at once per connection.
const DEAD_LETTER_ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const DEAD_LETTER_MAX_IN_FLIGHT: usize = 1_000;

/// Bound on the bytes queued for one broker connection, in packets of `maxPacketBytes`.
const MAX_PENDING_PACKETS: usize = 8;

/// How a QoS 1 publish ended.
pub enum PublishAnswer {
    /// PUBACK with success.
    Acked,
    /// MQTT 5: PUBACK with a failure reason.
    Refused(String),
    /// The connection went away first.
    Lost(String),
}

/// An API's MQTT endpoint on one shard.
pub struct MqttEndpoint {
    client: Rc<MqttClient>,
    /// This shard's side of the node's subscription, when the endpoint has a consumer.
    feed: Option<Rc<ShardFeed>>,
}

impl MqttEndpoint {
    /// The endpoint for validated `options`; `feed` is the node's consumer feed (with a
    /// consumer). Nothing connects until `start`.
    pub fn new(
        options: &MqttOptions,
        parts: ClientParts,
        feed: Option<Arc<MqttFeed>>,
        policy: SlowClientPolicy,
    ) -> MqttEndpoint {
        let feed = match (feed, &options.consumer) {
            (Some(feed), Some(consumer)) => Some(ShardFeed::new(
                parts.shard,
                feed,
                consumer.clone(),
                policy,
                parts.metrics.clone(),
            )),
            _ => None,
        };
        MqttEndpoint {
            client: Rc::new(MqttClient::new(options.clone(), parts)),
            feed,
        }
    }

    /// Called on the shard's runtime when it starts: connects when this shard publishes (a
    /// producer) or holds the node's subscription, so the first request finds the connection
    /// up (or being set up), and starts this shard's side of the consumer feed.
    pub fn start(&self) {
        let owner = self.feed.as_ref().is_some_and(|feed| feed.is_owner());
        if self.has_producer() || owner {
            connection::ensure_running(&self.client);
        }
        if let Some(feed) = &self.feed {
            spawn_shard_task("MQTT node feed", feed.clone().run(self.client.clone()));
        }
    }

    /// Resolves once this shard's broker connection task has ended (after shutdown: its
    /// DISCONNECT sent). Polled: it runs once, at shutdown.
    pub async fn closed(&self) {
        while self.client.running.get() {
            monoio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// The state of this shard's connection to the broker.
    pub fn health(&self) -> Health {
        self.client.health()
    }

    /// True when clients may publish through this endpoint.
    pub fn has_producer(&self) -> bool {
        self.client.options.producer.is_some()
    }

    /// Adds a client to the node's broker subscription (subscribing for the node's first).
    pub fn subscribe(
        &self,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(MqttSubscription, MessageId), EndpointError> {
        let Some(feed) = &self.feed else {
            return Err(EndpointError::NotSupported(
                "this API's mqtt5 endpoint has no consumer: it only takes messages",
            ));
        };
        feed.subscribe(after, queue)
    }

    /// Publishes one message to the producer topic (or to `topic`, when the API lets requests
    /// choose it). With QoS 1 this resolves once the broker's PUBACK came.
    pub async fn publish(
        &self,
        payload: Bytes,
        headers: Fields,
        topic: Option<&str>,
    ) -> Result<MessageId, PublishError> {
        let client = &self.client;
        let Some(producer) = &client.options.producer else {
            return Err(PublishError::NotSupported("mqtt5 without a producer"));
        };
        let topic = match topic {
            None => producer.topic.as_str(),
            Some(topic) if producer.allow_topic_from_request => {
                if let Some(why) = topic_name_problem(topic) {
                    return Err(PublishError::BadTopic(format!("topic '{topic}': {why}")));
                }
                topic
            }
            Some(_) => {
                return Err(PublishError::BadTopic(
                    "this API does not let a request choose the topic (producer.allowTopicFromRequest is false)".to_owned(),
                ))
            }
        };
        send(&self.client, producer, topic, payload, headers).await
    }

    /// The writer of webhook dead letters to `topic` on this API's broker; `Err` says what is
    /// wrong with the topic name.
    pub fn dead_letters(&self, topic: &str) -> Result<MqttDeadLetters, String> {
        if let Some(why) = topic_name_problem(topic) {
            return Err(format!("topic '{topic}': {why}"));
        }
        Ok(MqttDeadLetters {
            client: self.client.clone(),
            producer: dead_letter_producer(&self.client.options),
            topic: Rc::from(topic),
        })
    }
}

/// Writes webhook dead letters to one topic of an API's broker, QoS 1 (the headers, the
/// failure's included, as MQTT 5 user properties): a write resolves once the broker's PUBACK
/// came. The API needs no producer for it: the topic is the subscription's choice.
pub struct MqttDeadLetters {
    client: Rc<MqttClient>,
    producer: MqttProducerOptions,
    topic: Rc<str>,
}

impl MqttDeadLetters {
    /// Publishes one dead letter.
    pub async fn write(&self, payload: Bytes, headers: Fields) -> Result<(), PublishError> {
        send(&self.client, &self.producer, &self.topic, payload, headers)
            .await
            .map(|_| ())
    }
}

/// Sends one publish to `topic` with `producer`'s QoS and bounds.
async fn send(
    client: &Rc<MqttClient>,
    producer: &MqttProducerOptions,
    topic: &str,
    payload: Bytes,
    headers: Fields,
) -> Result<MessageId, PublishError> {
    if client.health() != Health::Connected {
        wait_for_connection(client).await;
    }
    if client.health() != Health::Connected {
        ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
        let connecting = BrokerFailure::new(
            BrokerProblem::Connecting,
            format!(
                "{}:{}: no CONNACK within connectTimeoutMs",
                client.options.server_host, client.options.server_port
            ),
        );
        let last = client.last_error.borrow();
        let why = last.as_ref().unwrap_or(&connecting);
        return Err(PublishError::Unavailable(Fault::not_connected(
            "MQTT broker",
            why,
        )));
    }
    if producer.qos > 0 && client.in_flight.borrow().len() >= producer.max_in_flight {
        ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
        return Err(PublishError::Unavailable(Fault::new(format!(
                "{} messages are already waiting for the broker's PUBACK (producer.maxInFlight); retry later",
                producer.max_in_flight
            ))));
    }
    // The bytes waiting for the socket are bounded too (QoS 0 publishes answer at once, so
    // without this a broker that stops reading would grow the buffer with every request).
    let max_pending = MAX_PENDING_PACKETS * client.options.max_packet_bytes;
    if client.out.borrow().len() >= max_pending {
        ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
        return Err(PublishError::Unavailable(Fault::new(format!(
            "{max_pending} bytes are already waiting to be written to the broker; retry later"
        ))));
    }
    let pkid = if producer.qos > 0 {
        client.allocate_pkid()
    } else {
        0
    };
    let packet = codec::OutboundPublish {
        topic,
        qos: producer.qos,
        retain: producer.retained,
        pkid,
        payload,
        message_expiry_interval_s: producer.message_expiry_interval_s,
        user_properties: &headers,
    };
    codec::encode_publish(
        client.options.protocol,
        &packet,
        &mut client.out.borrow_mut(),
    )
    .map_err(|error| {
        // The codec's own text names library internals; the client learns what to change.
        tracing::debug!(%error, "a message could not be encoded for MQTT");
        PublishError::BadTopic(
            "the message cannot be sent as one MQTT packet: its topic or payload is too large"
                .to_owned(),
        )
    })?;
    client.published.set(client.published.get() + 1);
    let id = MessageId::Sequence(client.published.get());
    ShardMetrics::inc(&client.metrics.messages_published_total);
    if producer.qos == 0 {
        client.wake.notify();
        return Ok(id);
    }
    let slot = Rc::new(AckSlot::default());
    client.in_flight.borrow_mut().insert(pkid, slot.clone());
    ShardMetrics::inc(&client.metrics.mqtt_publishes_in_flight);
    client.wake.notify();
    match monoio::time::timeout(producer.ack_timeout, slot.wait()).await {
        Ok(PublishAnswer::Acked) => Ok(id),
        Ok(PublishAnswer::Refused(reason)) => Err(PublishError::Refused(
            Fault::new("the MQTT broker refused the message").with_detail(reason),
        )),
        Ok(PublishAnswer::Lost(why)) => {
            ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
            Err(PublishError::Unavailable(Fault::new(
                    "the connection to the broker was lost before its PUBACK; the message may or may not have been published",
                ).with_detail(why)))
        }
        Err(_) => {
            if client.in_flight.borrow_mut().remove(&pkid).is_some() {
                ShardMetrics::sub(&client.metrics.mqtt_publishes_in_flight, 1);
            }
            ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
            Err(PublishError::Unavailable(Fault::new(
                    "no PUBACK from the broker within producer.ackTimeoutMs; the message may or may not have been published",
                )))
        }
    }
}

/// How dead letters are published: QoS 1 (acknowledged only once the broker has it), not
/// retained, never expiring; the API's producer bounds when it has one, else the defaults.
fn dead_letter_producer(options: &MqttOptions) -> MqttProducerOptions {
    let (ack_timeout, max_in_flight) = match &options.producer {
        Some(producer) => (producer.ack_timeout, producer.max_in_flight),
        None => (DEAD_LETTER_ACK_TIMEOUT, DEAD_LETTER_MAX_IN_FLIGHT),
    };
    MqttProducerOptions {
        topic: String::new(),
        qos: 1,
        retained: false,
        message_expiry_interval_s: None,
        allow_topic_from_request: false,
        ack_timeout,
        max_in_flight,
    }
}

/// A publish that finds the connection down: while an attempt is under way (at start, or a
/// reconnect) it waits for its outcome, at most `connectTimeoutMs` (the attempt's own deadline,
/// counted from its start: a timer of the publisher's own could fire first and answer "still
/// connecting" for an attempt about to fail with a reason); after a failed attempt (backing off)
/// it does not wait, so the client hears the reason at once. After `reconnectAttempts` ran out,
/// this starts connecting again.
async fn wait_for_connection(client: &Rc<MqttClient>) {
    connection::ensure_running(client);
    if let Some(attempt) = client.attempt() {
        attempt.wait().await;
    }
}
