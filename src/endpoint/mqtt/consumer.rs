//! One broker subscription on one shard: the topic filter's SUBSCRIBE state, the retention ring
//! its messages go into, and the fan-out that serves every local client from that ring.
//!
//! Positions in the ring carry the subscription's *epoch* in their high bits (13 bits of epoch,
//! 40 bits of sequence: a cursor stays below 2^53, exact in JavaScript). A new subscription gets a
//! new epoch, so a cursor from an earlier one (a restart, a renewed subscription, another shard)
//! is recognised and answered clearly instead of silently pointing into the wrong stream.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{MqttConsumerOptions, SlowClientPolicy};
use crate::cross_shard::retention_ring::RetentionRing;
use crate::delivery::fanout::{Fanout, RingSource};
use crate::message::{Fields, Message, MessageId, PayloadKind};
use crate::metrics::ShardMetrics;

use super::codec::InboundPublish;

/// Bits of a cursor that hold the sequence within one subscription.
pub const SEQUENCE_BITS: u32 = 40;
/// Epochs wrap at this many subscriptions.
pub const EPOCH_MASK: u64 = (1 << 13) - 1;

/// Where the filter stands with the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    /// To be sent on the next (re)connect.
    Wanted,
    /// SUBSCRIBE sent with this packet id, no SUBACK yet.
    Pending(u16),
    /// The broker granted it.
    Active,
    /// The broker refused it (the reason is logged and kept in `refused`).
    Refused,
}

/// A topic filter subscribed once for every client of the endpoint on this shard.
pub struct ConsumerSub {
    /// The epoch in the high bits of every position of this subscription.
    pub epoch: u64,
    /// What SUBSCRIBE sends (with the `$share/<group>/` prefix when grouped).
    pub filter: String,
    pub qos: u8,
    ring: Rc<RefCell<RetentionRing>>,
    /// This shard's clients of the subscription.
    pub fanout: Rc<Fanout>,
    pub state: Cell<SubState>,
    /// Why the broker refused the filter, once it did.
    pub refused: RefCell<Option<String>>,
    /// When the subscription may be released after its last client left (`unsubscribeDelayMs`),
    /// pushed back each time a client leaves; one timer task per subscription watches it.
    pub linger_until: Cell<Option<monoio::time::Instant>>,
    /// True while that timer task runs.
    pub lingering: Cell<bool>,
    /// `qos: at-least-once`: PUBACKs wait for delivery to the local clients.
    pub ack_after_delivery: bool,
    /// QoS 1 messages held for that: `(position, packet id)`, oldest first. Bounded by the broker's
    /// in-flight window (it sends no more until we acknowledge) and by `MAX_PENDING_ACKS`.
    pending_acks: RefCell<VecDeque<(u64, u16)>>,
    metrics: Arc<ShardMetrics>,
}

/// Most PUBACKs held back for delivery; past it the oldest is sent anyway (and counted), so a
/// broker with a huge in-flight window cannot grow this without bound.
pub const MAX_PENDING_ACKS: usize = 65_535;

impl ConsumerSub {
    /// A subscription that is not yet sent.
    pub fn new(
        options: &MqttConsumerOptions,
        epoch: u64,
        policy: SlowClientPolicy,
        metrics: Arc<ShardMetrics>,
    ) -> ConsumerSub {
        let epoch = epoch & EPOCH_MASK;
        let ring = RetentionRing::new(options.max_retained_messages, options.max_retained_bytes)
            .starting_at((epoch << SEQUENCE_BITS) | 1);
        let ring = Rc::new(RefCell::new(ring));
        let fanout = Fanout::new(RingSource::Local(ring.clone()), policy, metrics.clone());
        ConsumerSub {
            epoch,
            filter: options.subscribe_filter(),
            qos: options.qos,
            ring,
            fanout: Rc::new(fanout),
            state: Cell::new(SubState::Wanted),
            refused: RefCell::new(None),
            linger_until: Cell::new(None),
            lingering: Cell::new(false),
            ack_after_delivery: options.acknowledge_after_delivery,
            pending_acks: RefCell::new(VecDeque::new()),
            metrics,
        }
    }

    /// The epoch a cursor was issued in.
    pub fn epoch_of(cursor: u64) -> u64 {
        cursor >> SEQUENCE_BITS
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

    /// The packet ids whose messages every local client due them has now been written (all of
    /// them when no client is due anything), oldest first.
    pub fn released_acks(&self) -> Vec<u16> {
        let floor = self.fanout.delivered_floor().unwrap_or(u64::MAX);
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

    /// Puts a received message into the ring and hands it to the local clients. Returns its
    /// position, or `None` when it could not be kept (larger than the ring's byte bound; counted
    /// as dropped).
    pub fn accept(&self, publish: InboundPublish) -> Option<u64> {
        let metadata: Fields = Arc::from(vec![
            ("topic".to_owned(), publish.topic),
            ("qos".to_owned(), publish.qos.to_string()),
            ("retain".to_owned(), publish.retain.to_string()),
        ]);
        let message = Message {
            id: MessageId::Sequence(0),
            payload: publish.payload,
            kind: PayloadKind::Unspecified,
            headers: Arc::from(publish.user_properties),
            metadata,
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let position = self.ring.borrow_mut().push(message).ok();
        if position.is_some() {
            ShardMetrics::inc(&self.metrics.mqtt_messages_received_total);
            self.fanout.pump_all();
        } else {
            ShardMetrics::inc(&self.metrics.mqtt_messages_dropped_total);
        }
        position
    }
}
