//! Delivery to one client: the bounded outbound queue between an endpoint's subscription and the
//! client's socket writer, the policy applied when a client falls behind, the shard's
//! budget of HTTP GET reply bytes in flight, and the framing a message gets on the wire, built once
//! per shard and shared by every subscriber (`frame_cache`).

pub mod fanout;
pub mod frame_cache;
mod outbound_queue;
pub mod pump;
mod reply_budget;

pub use outbound_queue::{OutboundQueue, PushOutcome, QueueEnd};
pub use reply_budget::{ReplyBudget, ReplyPermit};
