//! The one message type that flows from every endpoint to every entrypoint.
//!
//! Payloads are `Bytes`: a message fanned out to many clients shares one allocation, and header
//! and metadata lists are behind `Arc` so cloning a `Message` never copies its contents. A message
//! is `Send` so it can cross shards through `cross_shard` (issue 3) unchanged.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Name/value pairs attached to a message (protocol headers or endpoint metadata).
pub type Fields = Arc<[(String, String)]>;

/// A message's position in its stream. Rendered as the message id; handed back by a client as a
/// cursor (`?cursor=`, `Last-Event-ID`) to resume right after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageId {
    /// A sequence number: 0, 1, 2, … (Mock endpoint).
    Sequence(u64),
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageId::Sequence(n) => write!(f, "{n}"),
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
    /// Message headers (e.g. the Mock endpoint's `headers`).
    pub headers: Fields,
    /// Endpoint metadata (e.g. the Mock endpoint's `metadata`; topic/partition for brokers).
    pub metadata: Fields,
    /// When the message was produced, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}
