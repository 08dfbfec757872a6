//! Offset commits a shard waits for: a `qos: at-most-once` push subscription over a Kafka
//! consumer group must have the group's offset committed past a message (an OffsetCommit the
//! broker accepted) BEFORE its only delivery attempt, or a gateway `kill -9` between the attempt
//! and the group's next periodic commit would deliver it again after the restart.
//!
//! The shard asks (`request`: the taken message's slot and the feed position after it) and
//! awaits the answer; the bridge's group member wakes at once (`wanted`), commits the requested
//! positions with its regular commit, and answers each request: `true` once the broker accepted
//! a commit at or past it, `false` when it could not (commit refused or failed, partition not
//! assigned to this node, member stopping). Requests are bounded per feed.

#![allow(
    clippy::disallowed_types,
    reason = "commit requests shared by a shard and the Kafka bridge thread; held to add or answer one, never across an await"
)]

use std::sync::{Arc, Mutex, MutexGuard};

use crate::message::kafka_cursor::KafkaCursor;

/// Most commit requests waiting on one feed (one per at-most-once subscription using it at a
/// time); past it a request is refused at once (the message is then not delivered).
pub const MAX_COMMIT_WAITERS: usize = 1024;

/// The commit requests of one group feed.
#[derive(Default)]
pub struct CommitNow {
    /// Wakes the group member's beat loop (a permit is kept when it is not waiting).
    wanted: tokio::sync::Notify,
    waiters: Mutex<Vec<CommitWaiter>>,
}

/// One request: commit through `cursor` (at least slot `slot`'s offset in it).
pub struct CommitWaiter {
    /// The slot of the record the request is for: it must be committed.
    pub slot: usize,
    /// The feed position after the record (every slot's offset in it may be committed).
    pub cursor: Arc<KafkaCursor>,
    reply: flume::Sender<bool>,
}

impl CommitWaiter {
    /// Tells the shard whether the commit covers the request (a gone shard is ignored).
    pub fn answer(self, committed: bool) {
        let _ = self.reply.try_send(committed);
    }
}

impl CommitNow {
    /// Asks for a commit through `cursor`; the receiver gets the answer. `None` when too many
    /// requests wait already.
    pub fn request(&self, slot: usize, cursor: Arc<KafkaCursor>) -> Option<flume::Receiver<bool>> {
        let (reply, answer) = flume::bounded(1);
        {
            let mut waiters = self.lock();
            if waiters.len() >= MAX_COMMIT_WAITERS {
                return None;
            }
            waiters.push(CommitWaiter {
                slot,
                cursor,
                reply,
            });
        }
        self.wanted.notify_one();
        Some(answer)
    }

    /// Resolves once a request came (bridge thread).
    pub async fn wanted(&self) {
        self.wanted.notified().await;
    }

    /// The requests waiting now, handed to the bridge to commit and answer.
    pub fn take(&self) -> Vec<CommitWaiter> {
        std::mem::take(&mut *self.lock())
    }

    /// Requests waiting now (for tests).
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<CommitWaiter>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Per slot, the furthest position among `waiters` (`None` when there are none).
pub fn furthest(waiters: &[CommitWaiter]) -> Option<Box<[i64]>> {
    let mut merged: Option<Box<[i64]>> = None;
    for waiter in waiters {
        match &mut merged {
            None => merged = Some(waiter.cursor.next.clone()),
            Some(next) => {
                for (slot, offset) in next.iter_mut().zip(waiter.cursor.next.iter()) {
                    *slot = (*slot).max(*offset);
                }
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::kafka_cursor::TopicPartition;

    fn cursor(next: &[i64]) -> Arc<KafkaCursor> {
        let slots: Arc<[TopicPartition]> = (0..next.len())
            .map(|p| TopicPartition {
                topic: "t".into(),
                partition: p as i32,
            })
            .collect();
        Arc::new(KafkaCursor::new(false, slots, next.into()))
    }

    #[test]
    fn requests_are_merged_per_slot_and_answered_once() {
        let now = CommitNow::default();
        let first = now.request(0, cursor(&[3, 1])).unwrap();
        let second = now.request(1, cursor(&[2, 5])).unwrap();
        let waiters = now.take();
        assert_eq!(now.waiting(), 0);
        assert_eq!(furthest(&waiters).as_deref(), Some(&[3, 5][..]));
        for waiter in waiters {
            let slot = waiter.slot;
            waiter.answer(slot == 0);
        }
        assert_eq!(first.try_recv(), Ok(true));
        assert_eq!(second.try_recv(), Ok(false));
    }

    #[test]
    fn requests_are_bounded() {
        let now = CommitNow::default();
        let kept: Vec<_> = (0..MAX_COMMIT_WAITERS)
            .map(|_| now.request(0, cursor(&[1])).unwrap())
            .collect();
        assert!(now.request(0, cursor(&[1])).is_none());
        assert_eq!(kept.len(), MAX_COMMIT_WAITERS);
    }
}
