//! The MQTT endpoint: web clients consume from and produce to an MQTT broker (3.1.1 or 5).
//!
//! Per API and per shard there is one [`MqttClient`] with one broker connection, opened on first
//! use and shared by all of that shard's clients of the API, consumers and producers alike. A
//! consumer topic filter is subscribed once per shard, when the first local client arrives, and
//! unsubscribed `unsubscribeDelayMs` after the last one leaves; its messages go into a shard-local
//! retention ring served by `delivery::Fanout`, so HTTP GET cursors, SSE `Last-Event-ID` and
//! WebSocket `?cursor=` work as with in-memory topics (per shard: see `consumer.rs`).
//!
//! ```text
//! codec.rs       MQTT packets ⇄ bytes (the only user of mqttbytes)
//! client.rs      the shard's state for one endpoint: health, write queue, in-flight publishes
//! connection.rs  the connection task: connect, keep-alive, reconnect with backoff, resubscribe
//! inbound.rs     the broker's bytes → packets, skipping PUBLISHes over maxPacketBytes
//! upkeep.rs      when to reconnect or give up, when to ping or count the broker gone (sans-IO)
//! consumer.rs    one broker subscription: epoch, ring, fan-out
//! ```

mod client;
pub mod codec;
mod connection;
mod consumer;
mod inbound;
mod tls;
mod upkeep;
mod wake;

use std::rc::Rc;

use bytes::Bytes;

use crate::config::{topic_name_problem, MqttOptions};
use crate::delivery::OutboundQueue;
use crate::endpoint::{EndpointError, PublishError};
use crate::message::{Fields, MessageId};
use crate::metrics::ShardMetrics;

pub use client::{ClientParts, Health, MqttClient};
use consumer::ConsumerSub;
use wake::AckSlot;

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
}

/// A client's place in the shard's broker subscription; dropping it releases the subscription
/// (UNSUBSCRIBE after the last one, once `unsubscribeDelayMs` has passed).
pub struct MqttSubscription {
    client: Rc<MqttClient>,
    sub: Rc<ConsumerSub>,
    key: usize,
}

impl MqttEndpoint {
    /// The endpoint for validated `options`; nothing connects until first use.
    pub fn new(options: &MqttOptions, parts: ClientParts) -> MqttEndpoint {
        MqttEndpoint {
            client: Rc::new(MqttClient::new(options.clone(), parts)),
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

    /// Adds a local client to the shard's broker subscription (subscribing on the first).
    pub fn subscribe(
        &self,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(MqttSubscription, MessageId), EndpointError> {
        let client = &self.client;
        let Some(options) = &client.options.consumer else {
            return Err(EndpointError::NotSupported(
                "this API's mqtt5 endpoint has no consumer: it only takes messages",
            ));
        };
        connection::ensure_running(client);
        let existing = client.consumer.borrow().clone();
        let sub = match existing {
            Some(sub) if sub.state.get() == consumer::SubState::Refused => {
                let why = sub.refused.borrow().clone().unwrap_or_default();
                if sub.fanout.subscriber_count() == 0 {
                    client.unsubscribe(&sub);
                }
                return Err(EndpointError::Unavailable(format!(
                    "the broker refused the subscription to '{}': {why}",
                    sub.filter
                )));
            }
            Some(sub) => {
                check_epoch(after.as_ref(), Some(sub.epoch))?;
                sub
            }
            None => {
                check_epoch(after.as_ref(), None)?;
                let sub = Rc::new(ConsumerSub::new(
                    options,
                    client.new_epoch(),
                    client.policy,
                    client.metrics.clone(),
                ));
                if sub.ack_after_delivery {
                    let (weak_client, weak_sub) = (Rc::downgrade(client), Rc::downgrade(&sub));
                    sub.fanout.set_on_progress(Box::new(move || {
                        if let (Some(client), Some(sub)) =
                            (weak_client.upgrade(), weak_sub.upgrade())
                        {
                            client.send_released_acks(&sub);
                        }
                    }));
                }
                *client.consumer.borrow_mut() = Some(sub.clone());
                ShardMetrics::inc(&client.metrics.mqtt_subscriptions_active);
                client.send_subscribe(&sub);
                sub
            }
        };
        let (key, start) = sub.fanout.subscribe(after, queue)?;
        let subscription = MqttSubscription {
            client: client.clone(),
            sub,
            key,
        };
        Ok((subscription, start))
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
        connection::ensure_running(client);
        if client.health() != Health::Connected {
            ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
            let last = client.last_error.borrow();
            let why = if last.is_empty() {
                "connecting".to_owned()
            } else {
                last.clone()
            };
            return Err(PublishError::Unavailable(format!(
                "the MQTT broker {}:{} is not connected ({why}); retry later",
                client.options.server_host, client.options.server_port
            )));
        }
        if producer.qos > 0 && client.in_flight.borrow().len() >= producer.max_in_flight {
            ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
            return Err(PublishError::Unavailable(format!(
                "{} messages are already waiting for the broker's PUBACK (producer.maxInFlight); retry later",
                producer.max_in_flight
            )));
        }
        // The bytes waiting for the socket are bounded too (QoS 0 publishes answer at once, so
        // without this a broker that stops reading would grow the buffer with every request).
        let max_pending = MAX_PENDING_PACKETS * client.options.max_packet_bytes;
        if client.out.borrow().len() >= max_pending {
            ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
            return Err(PublishError::Unavailable(format!(
                "{max_pending} bytes are already waiting to be written to the broker; retry later"
            )));
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
        .map_err(|error| PublishError::BadTopic(error.to_string()))?;
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
            Ok(PublishAnswer::Refused(reason)) => Err(PublishError::Refused(reason)),
            Ok(PublishAnswer::Lost(why)) => {
                ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
                Err(PublishError::Unavailable(format!(
                    "the connection to the broker was lost before its PUBACK ({why}); the message may or may not have been published"
                )))
            }
            Err(_) => {
                if client.in_flight.borrow_mut().remove(&pkid).is_some() {
                    ShardMetrics::sub(&client.metrics.mqtt_publishes_in_flight, 1);
                }
                ShardMetrics::inc(&client.metrics.mqtt_publishes_rejected_total);
                Err(PublishError::Unavailable(
                    "no PUBACK from the broker within producer.ackTimeoutMs; the message may or may not have been published".to_owned(),
                ))
            }
        }
    }
}

/// A cursor must come from the shard's current subscription (`epoch`; `None` = there is none
/// yet, so any cursor is from an earlier one).
fn check_epoch(after: Option<&MessageId>, epoch: Option<u64>) -> Result<(), EndpointError> {
    let Some(&MessageId::Sequence(cursor)) = after else {
        return Ok(());
    };
    if Some(ConsumerSub::epoch_of(cursor)) == epoch {
        return Ok(());
    }
    Err(EndpointError::StaleCursor {
        cursor: cursor.to_string(),
        why: "it belongs to an earlier MQTT subscription (MQTT cursors are kept per gateway shard \
              and process: the subscription was renewed, the gateway restarted, or this request \
              reached another shard); resume without a cursor",
    })
}

impl Drop for MqttSubscription {
    fn drop(&mut self) {
        self.sub.fanout.unsubscribe(self.key);
        if self.sub.fanout.subscriber_count() > 0 {
            return;
        }
        let delay = self
            .client
            .options
            .consumer
            .as_ref()
            .map(|c| c.unsubscribe_delay)
            .unwrap_or_default();
        if delay.is_zero() || self.client.shutdown.is_fired() {
            self.client.unsubscribe(&self.sub);
            return;
        }
        // One timer per subscription, however many clients come and go (an HTTP GET poller
        // leaves after every poll): leaving only pushes the deadline back.
        self.sub
            .linger_until
            .set(Some(monoio::time::Instant::now() + delay));
        if self.sub.lingering.replace(true) {
            return;
        }
        let (client, sub) = (self.client.clone(), self.sub.clone());
        monoio::spawn(async move {
            while let Some(deadline) = sub.linger_until.get() {
                monoio::select! {
                    _ = client.shutdown.wait() => break,
                    _ = monoio::time::sleep_until(deadline) => {}
                }
                if sub.fanout.subscriber_count() > 0 {
                    break;
                }
                if sub.linger_until.get() == Some(deadline) {
                    client.unsubscribe(&sub);
                    break;
                }
            }
            sub.linger_until.set(None);
            sub.lingering.set(false);
            if client.shutdown.is_fired() && sub.fanout.subscriber_count() == 0 {
                client.unsubscribe(&sub);
            }
        });
    }
}
