//! The state one shard keeps for one MQTT endpoint: its connection's health, the bytes waiting
//! to be written, the publishes awaiting PUBACK, and the broker subscription shared by the
//! shard's clients. The connection task (`connection.rs`) does the I/O; this file holds what the
//! task and the endpoint's callers share, all `Rc`/`Cell`, all on one shard.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;

use crate::config::{MqttOptions, SlowClientPolicy};
use crate::metrics::ShardMetrics;
use crate::runtime::LocalSignal;

use super::codec::{self, Incoming};
use super::consumer::{ConsumerSub, SubState};
use super::inbound::OversizedPublish;
use super::wake::{AckSlot, Notify};
use super::PublishAnswer;

/// Where an endpoint's connection to its broker stands (kept per endpoint per shard; the
/// readiness check reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Nothing has used the endpoint yet: no connection is wanted.
    Idle,
    /// Connecting, or waiting to reconnect after a failure.
    Reconnecting,
    /// CONNACK received; packets flow.
    Connected,
    /// `reconnectAttempts` ran out; the next use starts connecting again.
    Down,
}

/// What a shard gives an MQTT endpoint.
pub struct ClientParts {
    pub api_id: String,
    pub shard: usize,
    pub metrics: Arc<ShardMetrics>,
    pub policy: SlowClientPolicy,
    pub shutdown: Rc<LocalSignal>,
}

/// One endpoint's client on one shard.
pub struct MqttClient {
    pub options: MqttOptions,
    /// Unique per shard: the broker allows one connection per client id.
    pub client_id: String,
    pub shard: usize,
    pub metrics: Arc<ShardMetrics>,
    pub policy: SlowClientPolicy,
    /// The shard's shutdown: the connection sends DISCONNECT and stops.
    pub shutdown: Rc<LocalSignal>,
    health: Cell<Health>,
    /// Why the last connection attempt or connection failed (for 503 answers and logs).
    pub last_error: RefCell<String>,
    /// True while the connection task runs.
    pub running: Cell<bool>,
    /// Bytes encoded for the current connection, written by the connection task.
    pub out: RefCell<BytesMut>,
    /// Wakes the connection task when `out` has something or the state changed.
    pub wake: Notify,
    next_pkid: Cell<u16>,
    /// QoS 1 publishes waiting for PUBACK, by packet id (bounded by `producer.maxInFlight`).
    pub in_flight: RefCell<HashMap<u16, Rc<AckSlot<PublishAnswer>>>>,
    /// The broker subscription of this shard, while any local client (or the linger delay)
    /// holds it.
    pub consumer: RefCell<Option<Rc<ConsumerSub>>>,
    /// Filters released while disconnected: unsubscribed on the next connect (a persistent
    /// session would otherwise keep them).
    pub stale_filters: RefCell<Vec<String>>,
    next_epoch: Cell<u64>,
    /// Messages published through this client (the id a publisher is told).
    pub published: Cell<u64>,
    /// When the broker last sent anything (keep-alive: a PINGREQ unanswered for a whole
    /// interval ends the connection).
    pub last_heard: Cell<monoio::time::Instant>,
    /// The CONNACK of the connection being set up: `Some(Ok(session_present))` or the refusal.
    pub connack: RefCell<Option<Result<bool, String>>>,
}

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

    /// An idle client; nothing connects until the endpoint is first used.
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
            policy: parts.policy,
            shutdown: parts.shutdown,
            health: Cell::new(Health::Idle),
            last_error: RefCell::new(String::new()),
            running: Cell::new(false),
            out: RefCell::new(BytesMut::new()),
            wake: Notify::default(),
            next_pkid: Cell::new(1),
            in_flight: RefCell::new(HashMap::new()),
            consumer: RefCell::new(None),
            stale_filters: RefCell::new(Vec::new()),
            next_epoch: Cell::new(random >> 32),
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

    /// The epoch for a new broker subscription.
    pub fn new_epoch(&self) -> u64 {
        let epoch = self.next_epoch.get();
        self.next_epoch.set(epoch.wrapping_add(1));
        epoch
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
                sub.state.set(SubState::Refused);
                *sub.refused.borrow_mut() = Some(error.to_string());
            }
        }
        self.wake.notify();
    }

    /// Drops the shard's broker subscription (its last client left) and queues UNSUBSCRIBE.
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

    /// Acts on one packet from the broker; an `Err` ends the connection with that reason.
    pub fn on_packet(&self, packet: Incoming) -> Result<(), String> {
        match packet {
            Incoming::ConnAck {
                session_present,
                refused,
            } => {
                *self.connack.borrow_mut() = Some(match refused {
                    None => Ok(session_present),
                    Some(reason) => Err(format!("the broker refused the connection: {reason}")),
                });
                self.wake.notify();
            }
            Incoming::Publish(publish) => {
                let (qos, pkid) = (publish.qos, publish.pkid);
                let consumer = self.consumer.borrow().clone();
                let kept = match &consumer {
                    Some(sub) => sub.accept(publish),
                    None => {
                        ShardMetrics::inc(&self.metrics.mqtt_messages_dropped_total);
                        None
                    }
                };
                match (qos, kept, consumer) {
                    (0, _, _) => {}
                    // At-least-once: PUBACK once every local client due it has been written it.
                    (_, Some(position), Some(sub)) if sub.ack_after_delivery => {
                        sub.defer_ack(position, pkid);
                        self.send_released_acks(&sub);
                    }
                    // Otherwise once it is in the ring: from there every local client reads it
                    // (or resumes to it).
                    _ => {
                        codec::encode_puback(
                            self.options.protocol,
                            pkid,
                            &mut self.out.borrow_mut(),
                        );
                        self.wake.notify();
                    }
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
                                sub.state.set(SubState::Refused);
                                *sub.refused.borrow_mut() = Some(reason);
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
