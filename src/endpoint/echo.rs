//! The echo endpoint: what a WebSocket client publishes comes back to that client, and to no
//! other (config rules allow only a websocket entrypoint that both publishes and subscribes).
//!
//! Each connection's subscription is an [`EchoLoop`] around its own outbound queue; publishing
//! puts the message, with its frame type, in that queue. Publishing waits while the queue is full,
//! so a client that sends faster than it reads is slowed down (its reads pause) rather than
//! losing echoes: nothing is dropped and the slow-client policy never applies. Ids are a
//! sequence per connection (0, 1, 2, …); nothing is retained, so there is no cursor to resume.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::delivery::OutboundQueue;
use crate::endpoint::{Fault, PublishError};
use crate::message::{Fields, Message, MessageId, PayloadKind};
use crate::metrics::ShardMetrics;

/// One connection's echo: its outbound queue and the id of its next message.
pub struct EchoLoop {
    queue: Rc<OutboundQueue>,
    next_sequence: Cell<u64>,
    no_fields: Fields,
    metrics: Arc<ShardMetrics>,
}

impl EchoLoop {
    /// Echoes into `queue` (the subscribing connection's own).
    pub fn new(queue: Rc<OutboundQueue>, metrics: Arc<ShardMetrics>) -> EchoLoop {
        EchoLoop {
            queue,
            next_sequence: Cell::new(0),
            no_fields: Arc::from(Vec::new()),
            metrics,
        }
    }

    /// Queues `payload` for the connection that sent it, once it fits; returns its id.
    pub async fn publish(
        &self,
        payload: Bytes,
        kind: PayloadKind,
        headers: Fields,
    ) -> Result<MessageId, PublishError> {
        self.queue.room(payload.len()).await;
        if self.queue.is_ended() {
            return Err(PublishError::Unavailable(Fault::new(
                "the connection is closing",
            )));
        }
        let id = MessageId::Sequence(self.next_sequence.get());
        self.next_sequence.set(self.next_sequence.get() + 1);
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.queue.push(Message {
            id: id.clone(),
            payload,
            kind,
            headers,
            metadata: self.no_fields.clone(),
            timestamp_ms,
        });
        ShardMetrics::inc(&self.metrics.messages_published_total);
        Ok(id)
    }

    /// The queue echoes go to.
    pub fn queue(&self) -> &Rc<OutboundQueue> {
        &self.queue
    }
}
