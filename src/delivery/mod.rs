//! Delivery to one client: the bounded outbound queue between an endpoint's subscription and the
//! client's socket writer, and the policy applied when a client falls behind.

pub mod fanout;
mod outbound_queue;

pub use outbound_queue::{OutboundQueue, PushOutcome, QueueEnd};
