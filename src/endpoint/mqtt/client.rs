//! The state one shard keeps for one MQTT endpoint: its connection's health, the bytes waiting
//! to be written, the publishes awaiting PUBACK, and (on the owner shard) the node's broker
//! subscription. The connection task (`connection.rs`) does the I/O; this file holds what the
//! task and the endpoint's callers share, all `Rc`/`Cell`, all on one shard.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;

use crate::config::MqttOptions;
use crate::endpoint::{BrokerFailure, BrokerProblem};
use crate::metrics::ShardMetrics;
use crate::shard::LocalSignal;

use super::codec::{self, InboundPublish, Incoming};
use super::consumer::{ConsumerSub, SubState};
use super::inbound::OversizedPublish;
use super::wake::{AckSlot, Notify};
use super::PublishAnswer;

/// Most PUBLISHes put in the node ring as one batch (one read of 16 KiB holds at most a few
/// hundred small ones).
pub(super) const MAX_RECEIVE_BATCH: usize = 1024;

/// Where an endpoint's connection to its broker stands (kept per endpoint per shard; the
/// readiness check reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No connection is wanted (a consumer-only endpoint on a shard that does not hold the
    /// node's subscription), or the connection task has stopped.
    Idle,
    /// Connecting, or waiting to reconnect after a failure.
    Reconnecting,
    /// CONNACK received; packets flow.
    Connected,
    /// `reconnectAttempts` ran out; the next publish or subscription starts connecting again.
    Down,
}

/// What a shard gives an MQTT endpoint.
pub struct ClientParts {
    /// The API whose endpoint it is: part of the client id generated without `clientId`.
    pub api_id: String,
    /// The shard it runs on: part of the client id, so that each shard has a session of its own.
    pub shard: usize,
    /// The shard's counters, which the client's connection and queues report to.
    pub metrics: Arc<ShardMetrics>,
    /// The shard's shutdown, on which the connection says DISCONNECT and ends.
    pub shutdown: Rc<LocalSignal>,
}

/// One endpoint's client on one shard.
pub struct MqttClient {
    /// The API's validated `endpoint.mqtt` options (broker, protocol, producer, consumer).
    pub options: MqttOptions,
    /// Unique per shard: the broker allows one connection per client id.
    pub client_id: String,
    /// The shard it runs on (for log lines).
    pub shard: usize,
    /// The shard's counters, which the connection and its queues report to.
    pub metrics: Arc<ShardMetrics>,
    /// The shard's shutdown: the connection sends DISCONNECT and stops.
    pub shutdown: Rc<LocalSignal>,
    health: Cell<Health>,
    /// Why the last connection attempt or connection failed (its category for 503 answers,
    /// its details for the log); `None` before the first failure.
    pub last_error: RefCell<Option<BrokerFailure>>,
    /// True while the connection task runs.
    pub running: Cell<bool>,
    /// Fired when the connection attempt under way ends (CONNACK, or failure): publishers that
    /// arrive while connecting wait on it. `None` while connected or backing off.
    attempt: RefCell<Option<Rc<LocalSignal>>>,
    /// Bytes encoded for the current connection, written by the connection task.
    pub out: RefCell<BytesMut>,
    /// Wakes the connection task when `out` has something or the state changed.
    pub wake: Notify,
    next_pkid: Cell<u16>,
    /// QoS 1 publishes waiting for PUBACK, by packet id (bounded by `producer.maxInFlight`).
    pub in_flight: RefCell<HashMap<u16, Rc<AckSlot<PublishAnswer>>>>,
    /// On the owner shard: the node's broker subscription, while any client of the node (or the
    /// linger delay) holds it.
    pub consumer: RefCell<Option<Rc<ConsumerSub>>>,
    /// PUBLISHes of the broker read being handled (at most `MAX_RECEIVE_BATCH`), put in the
    /// node ring together by `flush_received`.
    received: RefCell<Vec<InboundPublish>>,
    /// Filters released while disconnected: unsubscribed on the next connect (a persistent
    /// session would otherwise keep them).
    pub stale_filters: RefCell<Vec<String>>,
    /// At-least-once only: QoS 1 messages the broker sent before the node's subscription was
    /// opened here (a persistent session resumed after a restart hands over its queue right after
    /// CONNACK, before any client joined). Held without PUBACK until the subscription opens
    /// (`take_early`); bounded by `MAX_EARLY_PUBLISHES`.
    early: RefCell<VecDeque<InboundPublish>>,
    /// Messages published through this client (the id a publisher is told).
    pub published: Cell<u64>,
    /// When the broker last sent anything (keep-alive: a PINGREQ unanswered for a whole
    /// interval ends the connection).
    pub last_heard: Cell<monoio::time::Instant>,
    /// The CONNACK of the connection being set up: `Some(Ok(session_present))` or the refusal.
    pub connack: RefCell<Option<Result<bool, BrokerFailure>>>,
}

/// Most QoS 1 messages held while the subscription is not opened yet (`MqttClient::early`).
pub(super) const MAX_EARLY_PUBLISHES: usize = 4096;

/// A random 64-bit value (std's per-process hash seed; enough for ids, not for secrets).
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x7469_6465_6761_7465);
    hasher.finish()
}

impl MqttClient {
    /// Sends the PUBACKs that delivery has released.
    pub fn send_released_acks(&self, sub: &ConsumerSub) {
        let released = sub.released_acks();
        if released.is_empty() {
            return;
        }
        for pkid in released {
            codec::encode_puback(self.options.protocol, pkid, &mut self.out.borrow_mut());
        }
        self.wake.notify();
    }

    /// True when PUBACKs wait for delivery (`qos: at-least-once` on an entrypoint).
    fn acknowledges_after_delivery(&self) -> bool {
        self.options
            .consumer
            .as_ref()
            .is_some_and(|consumer| consumer.acknowledge_after_delivery)
    }

    /// Holds a QoS 1 message that came before the subscription was opened here: not PUBACKed,
    /// so over the bound it is dropped and the broker sends it again on the next connection.
    fn hold_early(&self, publish: InboundPublish) {
        let mut early = self.early.borrow_mut();
        if early.len() >= MAX_EARLY_PUBLISHES {
            ShardMetrics::inc(&self.metrics.mqtt_messages_dropped_total);
            return;
        }
        early.push_back(publish);
        ShardMetrics::inc(&self.metrics.mqtt_messages_held_early);
    }

    /// Hands the held early messages to the subscription just opened: each goes into the node
    /// ring with its PUBACK deferred until delivery, as if it came now.
    pub fn take_early(&self, sub: &ConsumerSub) {
        let early: Vec<InboundPublish> = self.early.borrow_mut().drain(..).collect();
        ShardMetrics::sub(&self.metrics.mqtt_messages_held_early, early.len() as u64);
        let pkids: Vec<u16> = early.iter().map(|publish| publish.pkid).collect();
        for (pkid, kept) in pkids.into_iter().zip(sub.accept_all(early)) {
            match kept {
                Some(position) => sub.defer_ack(position, pkid),
                // Larger than the ring can hold (counted): acknowledged as any such message.
                None => {
                    codec::encode_puback(self.options.protocol, pkid, &mut self.out.borrow_mut())
                }
            }
        }
        self.send_released_acks(sub);
        self.wake.notify();
    }

    /// Forgets the held early messages: their packet ids belonged to a connection that is gone
    /// (the broker sends them again on the next one).
    pub fn forget_early(&self) {
        let mut early = self.early.borrow_mut();
        ShardMetrics::sub(&self.metrics.mqtt_messages_held_early, early.len() as u64);
        early.clear();
    }

    /// An idle client; the endpoint's `start` connects it.
    pub fn new(options: MqttOptions, parts: ClientParts) -> MqttClient {
        let random = random_u64();
        let client_id = match &options.client_id {
            Some(base) => format!("{base}-{}", parts.shard),
            None => format!(
                "tidegate-{}-{}-{:08x}",
                parts.api_id, parts.shard, random as u32
            ),
        };
        MqttClient {
            options,
            client_id,
            shard: parts.shard,
            metrics: parts.metrics,
            shutdown: parts.shutdown,
            health: Cell::new(Health::Idle),
            last_error: RefCell::new(None),
            running: Cell::new(false),
            attempt: RefCell::new(None),
            out: RefCell::new(BytesMut::new()),
            wake: Notify::default(),
            next_pkid: Cell::new(1),
            in_flight: RefCell::new(HashMap::new()),
            consumer: RefCell::new(None),
            received: RefCell::new(Vec::new()),
            stale_filters: RefCell::new(Vec::new()),
            early: RefCell::new(VecDeque::new()),
            published: Cell::new(0),
            last_heard: Cell::new(monoio::time::Instant::now()),
            connack: RefCell::new(None),
        }
    }

    /// The connection's state.
    pub fn health(&self) -> Health {
        self.health.get()
    }

    /// Moves to `health`, keeping the shard's per-state gauges in step.
    pub fn set_health(&self, health: Health) {
        let old = self.health.replace(health);
        if old == health {
            return;
        }
        if let Some(gauge) = self.gauge(old) {
            ShardMetrics::sub(gauge, 1);
        }
        if let Some(gauge) = self.gauge(health) {
            ShardMetrics::inc(gauge);
        }
    }

    fn gauge(&self, health: Health) -> Option<&std::sync::atomic::AtomicU64> {
        match health {
            Health::Idle => None,
            Health::Reconnecting => Some(&self.metrics.mqtt_connections_reconnecting),
            Health::Connected => Some(&self.metrics.mqtt_connections_connected),
            Health::Down => Some(&self.metrics.mqtt_connections_down),
        }
    }

    /// A packet id not used by any pending publish or subscribe.
    pub fn allocate_pkid(&self) -> u16 {
        let in_flight = self.in_flight.borrow();
        loop {
            let pkid = self.next_pkid.get();
            self.next_pkid.set(pkid.checked_add(1).unwrap_or(1));
            let pending_sub = self
                .consumer
                .borrow()
                .as_ref()
                .is_some_and(|sub| sub.state.get() == SubState::Pending(pkid));
            if pkid != 0 && !in_flight.contains_key(&pkid) && !pending_sub {
                return pkid;
            }
        }
    }

    /// A connection attempt starts (publishers arriving now wait for its outcome).
    pub fn begin_attempt(&self) {
        self.attempt
            .borrow_mut()
            .get_or_insert_with(|| Rc::new(LocalSignal::new()));
    }

    /// The attempt under way ended (connected, or failed: `last_error` says why).
    pub fn end_attempt(&self) {
        if let Some(attempt) = self.attempt.borrow_mut().take() {
            attempt.fire();
        }
    }

    /// The attempt under way, if any.
    pub fn attempt(&self) -> Option<Rc<LocalSignal>> {
        self.attempt.borrow().clone()
    }

    /// Queues SUBSCRIBE for `sub` (when connected; otherwise it goes out on connect).
    pub fn send_subscribe(&self, sub: &ConsumerSub) {
        if self.health() != Health::Connected {
            sub.state.set(SubState::Wanted);
            return;
        }
        let pkid = self.allocate_pkid();
        let encoded = codec::encode_subscribe(
            self.options.protocol,
            pkid,
            &sub.filter,
            sub.qos,
            &mut self.out.borrow_mut(),
        );
        match encoded {
            Ok(()) => sub.state.set(SubState::Pending(pkid)),
            Err(error) => {
                tracing::error!(shard = self.shard, filter = %sub.filter, %error, "cannot subscribe");
                sub.refuse(&error.to_string());
            }
        }
        self.wake.notify();
    }

    /// Drops the node's broker subscription (its last client left) and queues UNSUBSCRIBE.
    pub fn unsubscribe(&self, sub: &Rc<ConsumerSub>) {
        let mut slot = self.consumer.borrow_mut();
        if !slot
            .as_ref()
            .is_some_and(|current| Rc::ptr_eq(current, sub))
        {
            return;
        }
        *slot = None;
        drop(slot);
        ShardMetrics::sub(&self.metrics.mqtt_subscriptions_active, 1);
        if self.health() == Health::Connected {
            let pkid = self.allocate_pkid();
            let encoded = codec::encode_unsubscribe(
                self.options.protocol,
                pkid,
                &sub.filter,
                &mut self.out.borrow_mut(),
            );
            if encoded.is_ok() {
                self.wake.notify();
                return;
            }
        }
        self.stale_filters.borrow_mut().push(sub.filter.clone());
    }

    /// Answers every publish still waiting for a PUBACK (the connection is gone).
    pub fn fail_in_flight(&self, why: &str) {
        let slots: Vec<_> = self
            .in_flight
            .borrow_mut()
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        ShardMetrics::sub(&self.metrics.mqtt_publishes_in_flight, slots.len() as u64);
        for slot in slots {
            slot.complete(PublishAnswer::Lost(why.to_owned()));
        }
    }

    /// A PUBLISH over `maxPacketBytes` was skipped: it is acknowledged (QoS 1), so that the
    /// broker does not send it again on every connection, and counted as dropped.
    pub fn on_oversized_publish(&self, publish: OversizedPublish) {
        ShardMetrics::inc(&self.metrics.mqtt_messages_dropped_total);
        tracing::warn!(
            shard = self.shard,
            size = publish.size,
            max = self.options.max_packet_bytes,
            "dropped a message from the broker larger than maxPacketBytes"
        );
        if publish.qos > 0 {
            codec::encode_puback(
                self.options.protocol,
                publish.pkid,
                &mut self.out.borrow_mut(),
            );
            self.wake.notify();
        }
    }

    /// Puts the PUBLISHes received since the last call into the node ring as one batch, then
    /// acknowledges them as their QoS and the consumer's delivery mode say. The connection task
    /// calls it once the packets of a read are handled (and before any other packet, so packets
    /// keep their order).
    pub fn flush_received(&self) {
        let publishes = std::mem::take(&mut *self.received.borrow_mut());
        if publishes.is_empty() {
            return;
        }
        let consumer = self.consumer.borrow().clone();
        // At-least-once, before the subscription opened here (a resumed session's queue): held.
        let publishes = if consumer.is_none() && self.acknowledges_after_delivery() {
            let (held, unacked): (Vec<_>, Vec<_>) = publishes.into_iter().partition(|p| p.qos > 0);
            for publish in held {
                self.hold_early(publish);
            }
            unacked
        } else {
            publishes
        };
        let acks: Vec<(u8, u16)> = publishes.iter().map(|p| (p.qos, p.pkid)).collect();
        let kept = match &consumer {
            Some(sub) => sub.accept_all(publishes),
            None => {
                ShardMetrics::add(&self.metrics.mqtt_messages_dropped_total, acks.len() as u64);
                vec![None; acks.len()]
            }
        };
        for ((qos, pkid), kept) in acks.into_iter().zip(kept) {
            match (qos, kept, &consumer) {
                (0, _, _) => {}
                // At-least-once: PUBACK once every client of the node due it has been written it.
                (_, Some(position), Some(sub)) if sub.ack_after_delivery => {
                    sub.defer_ack(position, pkid)
                }
                // Otherwise once it is in the node ring: from there every client reads it (or
                // resumes to it).
                _ => codec::encode_puback(self.options.protocol, pkid, &mut self.out.borrow_mut()),
            }
        }
        if let Some(sub) = consumer.filter(|sub| sub.ack_after_delivery) {
            self.send_released_acks(&sub);
        }
        self.wake.notify();
    }

    /// Acts on one packet from the broker; an `Err` ends the connection with that reason.
    /// PUBLISHes are kept for `flush_received`; any other packet first flushes them.
    pub fn on_packet(&self, packet: Incoming) -> Result<(), String> {
        if !matches!(packet, Incoming::Publish(_)) {
            self.flush_received();
        }
        match packet {
            Incoming::ConnAck {
                session_present,
                refused,
            } => {
                *self.connack.borrow_mut() = Some(match refused {
                    None => Ok(session_present),
                    Some(refusal) => Err(BrokerFailure::new(
                        if refusal.credentials {
                            BrokerProblem::CredentialsRefused
                        } else {
                            BrokerProblem::ConnectionRefused
                        },
                        format!("the broker refused the connection: {}", refusal.reason),
                    )),
                });
                self.wake.notify();
            }
            Incoming::Publish(publish) => {
                // Kept until the read's packets are all handled (`flush_received`), so that
                // what arrived together reaches the fan-out as one batch.
                let mut received = self.received.borrow_mut();
                received.push(publish);
                if received.len() >= MAX_RECEIVE_BATCH {
                    drop(received);
                    self.flush_received();
                }
            }
            Incoming::PubAck { pkid, refused } => {
                if let Some(slot) = self.in_flight.borrow_mut().remove(&pkid) {
                    ShardMetrics::sub(&self.metrics.mqtt_publishes_in_flight, 1);
                    slot.complete(match refused {
                        None => PublishAnswer::Acked,
                        Some(reason) => PublishAnswer::Refused(reason),
                    });
                }
            }
            Incoming::SubAck { pkid, refused } => {
                if let Some(sub) = self.consumer.borrow().as_ref() {
                    if sub.state.get() == SubState::Pending(pkid) {
                        match refused {
                            None => sub.state.set(SubState::Active),
                            Some(reason) => {
                                tracing::error!(shard = self.shard, filter = %sub.filter, %reason, "the broker refused the subscription");
                                sub.refuse(&reason);
                            }
                        }
                    }
                }
            }
            Incoming::UnsubAck { .. } | Incoming::PingResp => {}
            Incoming::Disconnect { reason } => {
                return Err(format!("the broker disconnected us: {reason}"))
            }
            Incoming::Unexpected(what) => {
                return Err(format!(
                    "the broker sent {what}, which a client never expects"
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "client/tests.rs"]
mod tests;
