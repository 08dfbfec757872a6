//! The owner shard's side of the node's broker subscription (`cross_shard::MqttFeed`): the
//! topic filter's SUBSCRIBE state, the PUBACKs held for delivery, and the append of each
//! received message to the node ring that every shard's clients read.
//!
//! Positions in the ring carry the subscription's *epoch* in their high bits (13 bits of epoch,
//! 40 bits of sequence: a cursor stays below 2^53, exact in JavaScript). A new subscription gets a
//! new epoch, so a cursor from an earlier one (a restart, a renewed subscription, another node)
//! is recognised and answered clearly instead of silently pointing into the wrong stream.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::MqttConsumerOptions;
use crate::cross_shard::mqtt_feed::MqttFeed;
use crate::message::{Fields, Message, MessageId, PayloadKind};
use crate::metrics::ShardMetrics;

use super::codec::InboundPublish;

/// Where the filter stands with the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    /// To be sent on the next (re)connect.
    Wanted,
    /// SUBSCRIBE sent with this packet id, no SUBACK yet.
    Pending(u16),
    /// The broker granted it.
    Active,
    /// The broker refused it (the reason is logged and kept in the feed).
    Refused,
}

/// A topic filter subscribed once for every client of the endpoint on this node.
pub struct ConsumerSub {
    /// The epoch in the high bits of every position of this subscription.
    pub epoch: u64,
    /// What SUBSCRIBE sends (with the `$share/<group>/` prefix when grouped).
    pub filter: String,
    /// The QoS asked for in SUBSCRIBE (`consumer.qos`): the most the broker sends with.
    pub qos: u8,
    /// The node's ring and lifecycle.
    feed: Arc<MqttFeed>,
    /// Where the filter stands with the broker; the connection resubscribes what is `Wanted`.
    pub state: Cell<SubState>,
    /// `qos: at-least-once`: PUBACKs wait for delivery to the node's clients.
    pub ack_after_delivery: bool,
    /// QoS 1 messages held for that: `(position, packet id)`, oldest first. Bounded by the broker's
    /// in-flight window (it sends no more until we acknowledge) and by `MAX_PENDING_ACKS`.
    pending_acks: RefCell<VecDeque<(u64, u16)>>,
    metrics: Arc<ShardMetrics>,
}

/// Most PUBACKs held back for delivery; past it the oldest is sent anyway (and counted), so a
/// broker with a huge in-flight window cannot grow this without bound.
pub(super) const MAX_PENDING_ACKS: usize = 65_535;

impl ConsumerSub {
    /// The subscription of `epoch` (opened in `feed` by a joining client), not yet sent.
    pub fn new(
        options: &MqttConsumerOptions,
        epoch: u64,
        feed: Arc<MqttFeed>,
        metrics: Arc<ShardMetrics>,
    ) -> ConsumerSub {
        ConsumerSub {
            epoch,
            filter: options.subscribe_filter(),
            qos: options.qos,
            ack_after_delivery: feed.ack_after_delivery,
            feed,
            state: Cell::new(SubState::Wanted),
            pending_acks: RefCell::new(VecDeque::new()),
            metrics,
        }
    }

    /// The broker refused the filter: clients joining are told `why` until it is released.
    pub fn refuse(&self, why: &str) {
        self.state.set(SubState::Refused);
        self.feed.set_refused(self.epoch, why);
    }

    /// Holds the PUBACK of the QoS 1 message at `position` until `released_acks` lets it go.
    pub fn defer_ack(&self, position: u64, pkid: u16) {
        let mut pending = self.pending_acks.borrow_mut();
        pending.push_back((position, pkid));
        if pending.len() > MAX_PENDING_ACKS {
            pending.pop_front();
            ShardMetrics::inc(&self.metrics.mqtt_acks_forced_total);
        }
    }

    /// The packet ids whose messages every client of the node due them has now been written
    /// (all of them when no client is due anything), oldest first.
    pub fn released_acks(&self) -> Vec<u16> {
        if self.pending_acks.borrow().is_empty() {
            return Vec::new();
        }
        let floor = self.feed.delivered_floor().unwrap_or(u64::MAX);
        let mut pending = self.pending_acks.borrow_mut();
        let mut released = Vec::new();
        while let Some(&(position, pkid)) = pending.front() {
            if position > floor {
                break;
            }
            released.push(pkid);
            pending.pop_front();
        }
        released
    }

    /// Forgets held PUBACKs: their packet ids belonged to a connection that is gone (the broker
    /// sends those messages again on the next one, when the session persists).
    pub fn forget_pending_acks(&self) {
        self.pending_acks.borrow_mut().clear();
    }

    /// Puts the messages of one broker read into the node ring together (which wakes every
    /// shard with clients once). Returns each one's position, or `None` where it could not be
    /// kept (larger than the ring's byte bound; counted as dropped).
    pub fn accept_all(&self, publishes: Vec<InboundPublish>) -> Vec<Option<u64>> {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let messages = publishes
            .into_iter()
            .map(|publish| Message {
                id: MessageId::Sequence(0),
                payload: publish.payload,
                kind: PayloadKind::Unspecified,
                headers: Arc::from(publish.user_properties),
                metadata: Fields::from(vec![
                    ("topic".to_owned(), publish.topic),
                    ("qos".to_owned(), publish.qos.to_string()),
                    ("retain".to_owned(), publish.retain.to_string()),
                ]),
                timestamp_ms,
            })
            .collect();
        let positions: Vec<Option<u64>> = self
            .feed
            .log
            .append_all(messages)
            .into_iter()
            .map(Result::ok)
            .collect();
        let kept = positions.iter().flatten().count() as u64;
        ShardMetrics::add(&self.metrics.mqtt_messages_received_total, kept);
        ShardMetrics::add(
            &self.metrics.mqtt_messages_dropped_total,
            positions.len() as u64 - kept,
        );
        ShardMetrics::inc(&self.metrics.mqtt_receive_batches_total);
        positions
    }
}
