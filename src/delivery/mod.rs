//! Delivery to one client: the bounded outbound queue between an endpoint's subscription and the
//! client's socket writer, the policy applied when a client falls behind, and the shard's
//! budget of HTTP GET reply bytes in flight.

pub mod fanout;
mod outbound_queue;
mod reply_budget;

pub use outbound_queue::{OutboundQueue, PushOutcome, QueueEnd};
pub use reply_budget::{ReplyBudget, ReplyPermit};
