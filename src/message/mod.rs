//! The one message type that flows from every endpoint to every entrypoint.
//!
//! Payloads are `Bytes`: a message fanned out to many clients shares one allocation, and header
//! and metadata lists are behind `Arc` so cloning a `Message` never copies its contents. A message
//! is `Send` so it can cross shards through `cross_shard` (issue 3) unchanged.
//!
//! Kafka positions live beside `MessageId` (`kafka_cursor.rs`, its compact form
//! `kafka_compact_id.rs`): every layer that delivers a Kafka record reads them, not only the
//! Kafka endpoint.

pub mod kafka_compact_id;
pub mod kafka_cursor;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

pub use kafka_cursor::KafkaId;

/// Name/value pairs attached to a message (protocol headers or endpoint metadata).
pub type Fields = Arc<[(String, String)]>;

/// A message's position in its stream. Rendered as the message id; handed back by a client as a
/// cursor (`?cursor=`, `Last-Event-ID`) to resume right after it.
///
/// Not `Copy` (a Kafka id holds an `Arc`), but cloning one never copies more than a pointer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageId {
    /// A sequence number: 0, 1, 2, … (Mock endpoint).
    Sequence(u64),
    /// A record of a Kafka feed: its ring position on this node and the feed position after it.
    Kafka(KafkaId),
    /// A record just produced to Kafka (what a publish answers).
    KafkaRecord {
        /// The partition it went to.
        partition: i32,
        /// Its offset there.
        offset: i64,
    },
}

impl MessageId {
    /// The message's position in the retention ring it was read from.
    pub fn sequence(&self) -> u64 {
        match self {
            MessageId::Sequence(n) => *n,
            MessageId::Kafka(id) => id.seq,
            MessageId::KafkaRecord { .. } => 0,
        }
    }

    /// Sets the ring position (called by the ring when the message is appended).
    pub fn set_sequence(&mut self, position: u64) {
        match self {
            MessageId::Kafka(id) => id.seq = position,
            other => *other = MessageId::Sequence(position),
        }
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageId::Sequence(n) => write!(f, "{n}"),
            MessageId::Kafka(id) => id.fmt(f),
            MessageId::KafkaRecord { partition, offset } => write!(f, "{partition}:{offset}"),
        }
    }
}

/// Whether a payload is text or binary, as its publisher said: the frame type of a WebSocket
/// message, the `Content-Type` of an HTTP POST. A WebSocket subscriber receives a message in a
/// frame of the type it was published with, so binary bytes that happen to be UTF-8 stay binary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// Published as text. Invariant: the payload is valid UTF-8 (a WebSocket text frame is
    /// checked by the codec; other sources go through [`PayloadKind::text_if_utf8`]).
    Text,
    /// Published as binary.
    Binary,
    /// The source does not say (Mock, MQTT, Kafka, an HTTP POST without a telling
    /// `Content-Type`): entrypoints treat a UTF-8 payload as text, any other as binary.
    #[default]
    Unspecified,
}

impl PayloadKind {
    /// `Text` when `payload` is valid UTF-8, else `Binary`: for a source that declares text but
    /// whose bytes may not be (a text frame must carry UTF-8).
    pub fn text_if_utf8(payload: &[u8]) -> PayloadKind {
        if std::str::from_utf8(payload).is_ok() {
            PayloadKind::Text
        } else {
            PayloadKind::Binary
        }
    }

    /// True when `payload`, of this kind, is to be sent as text.
    pub fn is_text(self, payload: &[u8]) -> bool {
        match self {
            PayloadKind::Text => true,
            PayloadKind::Binary => false,
            PayloadKind::Unspecified => std::str::from_utf8(payload).is_ok(),
        }
    }
}

/// One message, as delivered to clients.
#[derive(Clone, Debug)]
pub struct Message {
    /// Position in the stream; also the resume cursor.
    pub id: MessageId,
    /// The content, shared by every receiver.
    pub payload: Bytes,
    /// Text or binary, as published.
    pub kind: PayloadKind,
    /// Message headers (e.g. the Mock endpoint's `headers`).
    pub headers: Fields,
    /// Endpoint metadata (e.g. the Mock endpoint's `metadata`; topic/partition for brokers).
    pub metadata: Fields,
    /// When the message was produced, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}
