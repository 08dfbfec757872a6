//! A topic's retained messages: a bounded ring that gives every message a position.
//!
//! Positions start at 1 and grow by one per message, so a client's cursor is simply the last
//! position it received (0 = before the first message). The oldest messages are evicted when the
//! ring is over `max_messages` or `max_bytes`; a message is never evicted by itself alone.

use std::collections::VecDeque;

use crate::message::Message;

/// A bounded sequence of the most recent messages of one topic.
pub struct RetentionRing {
    items: VecDeque<Message>,
    /// Position of `items[0]` (or of the next message when empty).
    first: u64,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
}

/// A message that can never fit in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The ring's byte bound.
    pub max_bytes: usize,
}

impl RetentionRing {
    /// An empty ring; the first message gets position 1.
    pub fn new(max_messages: usize, max_bytes: usize) -> RetentionRing {
        RetentionRing {
            items: VecDeque::new(),
            first: 1,
            bytes: 0,
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// Appends `message` with the next position (written into its id) and evicts what no
    /// longer fits. Returns the position.
    pub fn push(&mut self, mut message: Message) -> Result<u64, TooLarge> {
        let size = message.payload.len();
        if size > self.max_bytes {
            return Err(TooLarge {
                max_bytes: self.max_bytes,
            });
        }
        let position = self.next_position();
        message.id.set_sequence(position);
        self.items.push_back(message);
        self.bytes += size;
        while self.items.len() > self.max_messages || self.bytes > self.max_bytes {
            let evicted = self
                .items
                .pop_front()
                .expect("over bound implies non-empty");
            self.bytes -= evicted.payload.len();
            self.first += 1;
        }
        Ok(position)
    }

    /// The oldest position that would remain after pushing a message of `size` payload bytes:
    /// everything before it would be evicted (lets a writer wait instead of evicting what a
    /// reader still needs).
    pub fn first_after_push(&self, size: usize) -> u64 {
        let (mut count, mut bytes, mut first) =
            (self.items.len() + 1, self.bytes + size, self.first);
        for item in &self.items {
            if count <= self.max_messages && bytes <= self.max_bytes {
                break;
            }
            count -= 1;
            bytes -= item.payload.len();
            first += 1;
        }
        first
    }

    /// Drops every retained message; the next one gets position `first` (a renewed broker
    /// subscription starts a new epoch, see `cross_shard::mqtt_feed`).
    pub fn restart_at(&mut self, first: u64) {
        self.items.clear();
        self.bytes = 0;
        self.first = first;
    }

    /// Drops every retained message (positions go on from where they were).
    pub fn clear(&mut self) {
        self.first = self.next_position();
        self.items.clear();
        self.bytes = 0;
    }

    /// Position of the oldest retained message (equals `next_position()` when empty).
    pub fn first_position(&self) -> u64 {
        self.first
    }

    /// Position the next message will get; the last assigned one is this minus one.
    pub fn next_position(&self) -> u64 {
        self.first + self.items.len() as u64
    }

    /// Clones up to `max` messages starting at position `from` (clamped to what is retained)
    /// into `out`. Payloads are `Bytes`: cloning shares them.
    pub fn read(&self, from: u64, max: usize, out: &mut Vec<Message>) {
        let start = from.max(self.first) - self.first;
        let Ok(start) = usize::try_from(start) else {
            return;
        };
        out.extend(self.items.iter().skip(start).take(max).cloned());
    }

    /// The retained messages, oldest first (e.g. to match a resume position).
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.items.iter()
    }

    /// Messages currently retained.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The most messages it retains.
    pub fn max_messages(&self) -> usize {
        self.max_messages
    }

    /// The most payload bytes it retains.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Payload bytes currently retained.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageId, PayloadKind};
    use bytes::Bytes;
    use std::sync::Arc;

    fn msg(size: usize) -> Message {
        Message {
            id: MessageId::Sequence(0),
            payload: Bytes::from(vec![b'a'; size]),
            kind: PayloadKind::Unspecified,
            headers: Arc::from(Vec::new()),
            metadata: Arc::from(Vec::new()),
            timestamp_ms: 0,
        }
    }

    fn positions(ring: &RetentionRing, from: u64) -> Vec<u64> {
        let mut out = Vec::new();
        ring.read(from, usize::MAX, &mut out);
        out.iter().map(|m| m.id.sequence()).collect()
    }

    #[test]
    fn positions_start_at_one_and_evict_by_count() {
        let mut ring = RetentionRing::new(3, 1000);
        for expected in 1..=5 {
            assert_eq!(ring.push(msg(1)), Ok(expected));
        }
        assert_eq!(ring.first_position(), 3);
        assert_eq!(ring.next_position(), 6);
        assert_eq!(positions(&ring, 0), vec![3, 4, 5]);
        assert_eq!(positions(&ring, 4), vec![4, 5]);
        assert_eq!(positions(&ring, 6), Vec::<u64>::new());
    }

    #[test]
    fn evicts_by_bytes_but_keeps_the_newest() {
        let mut ring = RetentionRing::new(100, 10);
        ring.push(msg(4)).unwrap();
        ring.push(msg(4)).unwrap();
        ring.push(msg(4)).unwrap();
        assert_eq!(positions(&ring, 1), vec![2, 3]);
        assert_eq!(ring.bytes(), 8);
        ring.push(msg(10)).unwrap();
        assert_eq!(positions(&ring, 1), vec![4]);
        assert_eq!(ring.push(msg(11)), Err(TooLarge { max_bytes: 10 }));
        assert_eq!(
            ring.next_position(),
            5,
            "a refused message takes no position"
        );
    }

    #[test]
    fn first_after_push_predicts_eviction() {
        let mut ring = RetentionRing::new(3, 10);
        assert_eq!(ring.first_after_push(4), 1, "room in an empty ring");
        for _ in 0..3 {
            ring.push(msg(2)).unwrap();
        }
        assert_eq!(ring.first_after_push(1), 2, "one over the count bound");
        assert_eq!(
            ring.first_after_push(8),
            3,
            "over the byte bound: two of three go"
        );
        let predicted = ring.first_after_push(6);
        ring.push(msg(6)).unwrap();
        assert_eq!(ring.first_position(), predicted);
    }

    #[test]
    fn read_is_bounded_by_max() {
        let mut ring = RetentionRing::new(100, 1000);
        for _ in 0..10 {
            ring.push(msg(1)).unwrap();
        }
        let mut out = Vec::new();
        ring.read(3, 4, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].id, MessageId::Sequence(3));
    }
}
