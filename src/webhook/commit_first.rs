//! `qos: at-most-once` over a Kafka consumer group: the group's offset is committed past the
//! messages taken (an OffsetCommit the broker accepted) BEFORE their only delivery attempt, so no
//! crash, not even `kill -9` right after the attempt, can make a restarted gateway deliver them
//! again. The periodic commit (every second) would leave that window open.
//!
//! A commit that fails (refused, broker unreachable, partition no longer assigned to this node,
//! no answer within `COMMIT_WAIT`) means the messages are not delivered: at-most-once may skip a
//! message, never repeat one. They are counted (`tidegate_webhook_commit_failures_total`, and
//! `tidegate_webhook_dropped_total`) and logged. Other sources (in-memory, Mock: the resume
//! position is in the gateway; MQTT: the PUBACK is sent when the message enters the node buffer)
//! have nothing to wait for.

use std::time::Duration;

use super::runner::Stop;
use crate::endpoint::kafka::CommitWait;
use crate::endpoint::Subscription;
use crate::message::MessageId;

/// Longest wait for the broker to accept the commit (a rejoining group answers once it has
/// its partitions again).
pub const COMMIT_WAIT: Duration = Duration::from_secs(30);

/// Whether the attempt may go ahead.
pub enum Committed {
    /// Committed past the messages (or their source commits nothing): deliver them.
    Yes,
    /// Not committed: do not deliver; the reason is for the log.
    No(&'static str),
    /// The subscription was stopped (paused, closed, retired, shutdown) while waiting.
    Interrupted,
}

/// Commits the source's offsets through `last` (the newest message taken) when the source is a
/// Kafka consumer group, and waits for the broker's answer.
pub async fn before_attempt(
    subscription: &Subscription,
    last: &MessageId,
    stop: &Stop,
) -> Committed {
    let Some(kafka) = subscription.kafka() else {
        return Committed::Yes;
    };
    let answer = match kafka.commit_through(last) {
        CommitWait::NoGroup => return Committed::Yes,
        CommitWait::Refused => return Committed::No("too many offset commits wait on the feed"),
        CommitWait::Waiting(answer) => answer,
    };
    monoio::select! {
        _ = stop.wait() => Committed::Interrupted,
        _ = monoio::time::sleep(COMMIT_WAIT) => Committed::No("the broker did not answer the offset commit in time"),
        committed = answer.recv_async() => match committed {
            Ok(true) => Committed::Yes,
            Ok(false) => Committed::No("the broker did not accept the offset commit (or the partition is no longer this node's)"),
            Err(_) => Committed::No("the consumer group stopped"),
        },
    }
}
