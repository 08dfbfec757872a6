//! The Mock endpoint: a generated stream of `messageContent` every `messageInterval`, for demos
//! and tests. Each subscriber gets its own stream, starting one interval after it subscribes,
//! with ids 0, 1, 2, … (or continuing after a resume cursor), up to `messageCount` messages.
//! The payload `Bytes` and the header/metadata lists are built once and shared by every message.
//! A subscriber that does not drain its queue pauses its own stream (the slow-client policy never
//! applies): the Mock endpoint can produce any message later, so it never drops one.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use monoio::time::Instant;

use crate::config::MockOptions;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::message::{Fields, Message, MessageId, PayloadKind};
use crate::shard::fault::{self, Site};
use crate::shard::supervisor::spawn_connection_task;

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

    /// True when a stream resumed after `after` would hold no message (`messageCount` reached).
    pub fn is_exhausted_after(&self, after: Option<MessageId>) -> bool {
        let first = after.map_or(0, |id| id.sequence().saturating_add(1));
        self.count.is_some_and(|count| first >= count)
    }

    /// Spawns this subscriber's generator on the current shard.
    pub fn subscribe(&self, after: Option<MessageId>, queue: Rc<OutboundQueue>) {
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
                kind: PayloadKind::Unspecified,
                headers: self.headers.clone(),
                metadata: self.metadata.clone(),
                timestamp_ms: 0,
            },
        };
        // A panicking generator ends its subscriber's stream (that connection closes).
        let ended = queue.clone();
        spawn_connection_task("Mock generator", generator.run(first, queue), move || {
            ended.end(QueueEnd::Closed)
        });
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
    async fn run(self, first: u64, queue: Rc<OutboundQueue>) {
        let mut next = Instant::now();
        let mut sequence = first;
        loop {
            if self.count.is_some_and(|count| sequence >= count) {
                queue.end(QueueEnd::Finished);
                return;
            }
            next += self.interval;
            // The client may leave mid-interval (a poll answered, a socket closed): stop then.
            monoio::select! {
                _ = monoio::time::sleep_until(next) => {}
                _ = queue.ended() => return,
            }
            // A client that has not drained its queue pauses its own stream: the Mock endpoint
            // can always produce the same message later, so it never drops one.
            queue.room(self.template.payload.len()).await;
            if queue.is_ended() {
                return;
            }
            fault::trip(Site::MockGenerator, &self.template.payload);
            let mut message = self.template.clone();
            message.id = MessageId::Sequence(sequence);
            message.timestamp_ms = now_ms();
            // Written straight to an idle subscriber's socket (the direct path), so that its
            // session can hibernate between messages instead of waking for each.
            queue.push_deferred(message);
            queue.flush_direct(false);
            let Some(next_sequence) = sequence.checked_add(1) else {
                queue.end(QueueEnd::Finished);
                return;
            };
            sequence = next_sequence;
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
