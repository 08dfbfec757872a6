//! The seam between a push subscription's deliveries and its source's acknowledgement.
//!
//! Every message a subscription takes from its endpoint ends in exactly one final
//! [`Outcome`], told to the subscription's [`OutcomeSink`] once, in the order the messages
//! were taken (deliveries may run concurrently; outcomes are released in order, so a source
//! that commits "everything up to here" can commit on each one):
//!
//! - `Delivered`: the callback answered 2xx.
//! - `DeadLettered`: the dead-letter write succeeded (4xx, or retries exhausted, with a DLQ).
//! - `Dropped`: given up without a DLQ under `qos: none` / `at-most-once` (the loss those modes
//!   accept); nothing is re-delivered.
//! - `Skipped`: outside the subscription's `channel`; acknowledged without an attempt.
//! - `Stopped`: the subscription stopped on this message (4xx or retries exhausted without a
//!   DLQ, or it was closed / the gateway shut down mid-delivery): it is NOT acknowledged, so an
//!   at-least-once source delivers it again after a restart.
//!
//! Acknowledged = `Delivered | DeadLettered | Dropped | Skipped` ([`Outcome::acknowledges`]). Besides the
//! sink, the subscription marks each acknowledged message delivered on its `OutboundQueue`
//! (`mark_delivered`), which is how ring-backed endpoints (in-memory, Kafka and MQTT feeds) hold
//! their own acknowledgement until a slow subscription has caught up.
//!
//! `qos: at-most-once` tells the sink [`OutcomeSink::taken`] before the first try: the source
//! commits then. The Kafka / MQTT at-least-once sources (group offsets committed, PUBACK sent
//! only on acknowledgement) plug in here through [`SinkFactory`].

use std::rc::Rc;

use crate::message::Message;

/// How one message's delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The callback answered 2xx.
    Delivered,
    /// Written to the dead-letter endpoint.
    DeadLettered,
    /// Given up without a DLQ where the QoS allows losing it.
    Dropped,
    /// Outside the subscription's `channel`: acknowledged without an attempt.
    Skipped,
    /// The subscription stopped on it; not acknowledged.
    Stopped(StopReason),
}

impl Outcome {
    /// True when the source may forget the message (commit its offset, PUBACK it).
    pub fn acknowledges(&self) -> bool {
        !matches!(self, Outcome::Stopped(_))
    }
}

/// Why a subscription stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The callback refused the message (4xx) and there is no DLQ.
    Refused(u16),
    /// Retries ran out (attempts or maxElapsed) and there is no DLQ.
    RetriesExhausted,
    /// The dead-letter write failed.
    DeadLetterFailed,
    /// The subscription was paused or closed, or the gateway is stopping.
    Interrupted,
}

/// What a subscription's source is told about each message.
pub trait OutcomeSink {
    /// The message was taken for delivery (before the first try). `at-most-once` commits here.
    fn taken(&self, message: &Message) {
        let _ = message;
    }

    /// The message's final outcome, in the order the messages were taken.
    fn settled(&self, message: &Message, outcome: &Outcome);
}

/// A sink that does nothing (in-memory and Mock sources: the queue's `mark_delivered` is
/// their acknowledgement).
pub struct NoSink;

impl OutcomeSink for NoSink {
    fn settled(&self, _message: &Message, _outcome: &Outcome) {}
}

/// Which subscription a sink is for (what a broker source needs to find its group or session).
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The id of the API whose endpoint the subscription consumes.
    pub api: String,
    /// The push subscription's id.
    pub subscription: String,
    /// The index of the shard that delivers the subscription (its owner).
    pub shard: usize,
}

/// Builds the sink of a subscription; `None` = [`NoSink`]. Installed per shard, so a broker
/// module can add its at-least-once acknowledgement without the delivery engine knowing it.
pub type SinkFactory = Rc<dyn Fn(&SinkContext) -> Option<Rc<dyn OutcomeSink>>>;

#[cfg(test)]
mod tests {
    use super::{Outcome, StopReason};

    #[test]
    fn only_a_stop_leaves_the_message_unacknowledged() {
        assert!(Outcome::Delivered.acknowledges());
        assert!(Outcome::DeadLettered.acknowledges());
        assert!(Outcome::Dropped.acknowledges());
        assert!(Outcome::Skipped.acknowledges());
        assert!(!Outcome::Stopped(StopReason::Refused(400)).acknowledges());
    }
}
