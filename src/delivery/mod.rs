//! Delivery to one client: the bounded outbound queue between an endpoint's subscription and the
//! client's socket writer, the policy applied when a client falls behind, the shard's
//! budget of HTTP GET reply bytes in flight, and the framing a message gets on the wire, built once
//! per shard and shared by every subscriber (`frame_cache`); the retention ring a topic's, MQTT
//! feed's or Kafka feed's messages wait in for their readers (`retention_ring`, shared across
//! shards inside `cross_shard::TopicLog`).

pub mod fanout;
pub mod frame_cache;
mod outbound_queue;
pub mod pump;
mod reply_budget;
pub mod retention_ring;
#[cfg(test)]
mod test_fixtures;

pub use outbound_queue::{DirectSink, OutboundQueue, Parked, PushOutcome, QueueEnd};
pub use reply_budget::{ReplyBudget, ReplyPermit};
