//! Unit-test fixtures of the delivery module: a message, a client queue and what it holds.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{OutboundConfig, SlowClientPolicy};
use crate::delivery::OutboundQueue;
use crate::message::{Message, MessageId, PayloadKind};
use crate::metrics::ShardMetrics;

/// A one-byte message (its id is given by the ring that takes it).
pub(crate) fn message() -> Message {
    Message {
        id: MessageId::Sequence(0),
        payload: Bytes::from_static(b"m"),
        kind: PayloadKind::Unspecified,
        headers: Arc::from(Vec::new()),
        metadata: Arc::from(Vec::new()),
        timestamp_ms: 0,
    }
}

/// A client queue of `max_messages` (1 MiB), dropping the oldest when full.
pub(crate) fn queue_of(max_messages: usize) -> Rc<OutboundQueue> {
    let config = OutboundConfig {
        max_queued_messages: max_messages,
        max_queued_bytes: 1 << 20,
        slow_client_policy: SlowClientPolicy::DropOldest,
    };
    Rc::new(OutboundQueue::new(
        &config,
        Arc::new(ShardMetrics::default()),
    ))
}

/// Takes everything `queue` holds, as sequence numbers.
pub(crate) fn drain(queue: &OutboundQueue) -> Vec<u64> {
    let mut out = Vec::new();
    queue.drain_into(usize::MAX, &mut out);
    out.iter().map(|m| m.id.sequence()).collect()
}
