//! The Mock endpoint: a generated stream of `messageContent` every `messageInterval`, for demos
//! and tests. Each subscriber gets its own stream, starting one interval after it subscribes,
//! with ids 0, 1, 2, … (or continuing after a resume cursor), up to `messageCount` messages.
//! The payload `Bytes` and the header/metadata lists are built once and shared by every message.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use monoio::time::Instant;

use crate::config::MockOptions;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::message::{Fields, Message, MessageId};

/// A Mock endpoint's shared, immutable parts.
pub struct MockEndpoint {
    interval: Duration,
    content: Bytes,
    count: Option<u64>,
    headers: Fields,
    metadata: Fields,
}

impl MockEndpoint {
    /// Builds the endpoint from validated options.
    pub fn new(options: &MockOptions) -> MockEndpoint {
        MockEndpoint {
            interval: options.message_interval,
            content: options.message_content.clone(),
            count: options.message_count,
            headers: Arc::from(options.headers.clone()),
            metadata: Arc::from(options.metadata.clone()),
        }
    }

    /// Spawns this subscriber's generator on the current shard.
    pub fn subscribe(
        &self,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
        cancelled: Rc<Cell<bool>>,
    ) {
        let first = match after {
            Some(MessageId::Sequence(n)) => n.saturating_add(1),
            // Never parsed for a Mock API (its cursors are sequences).
            Some(_) | None => 0,
        };
        let generator = Generator {
            interval: self.interval,
            count: self.count,
            template: Message {
                id: MessageId::Sequence(first),
                payload: self.content.clone(),
                headers: self.headers.clone(),
                metadata: self.metadata.clone(),
                timestamp_ms: 0,
            },
        };
        monoio::spawn(generator.run(first, queue, cancelled));
    }
}

struct Generator {
    interval: Duration,
    count: Option<u64>,
    template: Message,
}

impl Generator {
    /// Emits message `first + k` at `start + (k + 1) * interval`: deadlines are absolute, so the
    /// schedule does not drift with timer latency.
    async fn run(self, first: u64, queue: Rc<OutboundQueue>, cancelled: Rc<Cell<bool>>) {
        let mut next = Instant::now();
        let mut sequence = first;
        loop {
            if self.count.is_some_and(|count| sequence >= count) {
                queue.end(QueueEnd::Finished);
                return;
            }
            next += self.interval;
            monoio::time::sleep_until(next).await;
            if cancelled.get() || queue.is_ended() {
                return;
            }
            let mut message = self.template.clone();
            message.id = MessageId::Sequence(sequence);
            message.timestamp_ms = now_ms();
            queue.push(message);
            sequence += 1;
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
