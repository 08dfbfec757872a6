//! An in-memory topic shared by every shard: one retention ring behind a mutex, and a doorbell
//! per shard.
//!
//! Publishing on any shard appends under the lock (so positions are total and per-publisher order
//! is kept) and rings the doorbell of every shard that has subscribers. A shard then reads the new
//! range once, under the lock, and fans it out to its local clients: payloads cross shards once
//! per shard, as shared `Bytes`, never once per subscriber. Nothing is queued between shards: a
//! shard that lags simply reads further back in the ring, so the ring's bounds are the only
//! bounds, and a shard that lags past them sees the gap (and applies the slow-client policy).

#![allow(
    clippy::disallowed_types,
    reason = "an in-memory topic is appended and read by every shard (one total order of positions); held for one append or one range read, never across an await"
)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::doorbell::Doorbell;
use crate::delivery::retention_ring::{RetentionRing, TooLarge};
use crate::message::Message;

/// One in-memory topic, shared by all shards.
pub struct TopicLog {
    name: String,
    ring: Mutex<RetentionRing>,
    /// Per shard: does it have subscribers (should it be told about new messages)?
    interested: Box<[AtomicBool]>,
    /// Per shard: has something been appended since it last looked?
    dirty: Box<[AtomicBool]>,
    doorbells: Box<[Arc<Doorbell>]>,
}

impl TopicLog {
    /// A topic whose ring holds at most `max_messages` / `max_bytes`; `doorbells[i]` wakes shard i.
    pub fn new(
        name: &str,
        max_messages: usize,
        max_bytes: usize,
        doorbells: &[Arc<Doorbell>],
    ) -> TopicLog {
        TopicLog {
            name: name.to_owned(),
            ring: Mutex::new(RetentionRing::new(max_messages, max_bytes)),
            interested: doorbells.iter().map(|_| AtomicBool::new(false)).collect(),
            dirty: doorbells.iter().map(|_| AtomicBool::new(false)).collect(),
            doorbells: doorbells.to_vec().into_boxed_slice(),
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends a message (its id is set to its position) and notifies interested shards.
    pub fn append(&self, message: Message) -> Result<u64, TooLarge> {
        let position = self.lock().push(message)?;
        self.nudge();
        Ok(position)
    }

    /// `append`, unless it would evict a position at or after `keep()` (a reader still needs
    /// it): then the message comes back untouched. `None` keeps nothing. `keep` is asked under
    /// the ring's lock, so a reader that holds a position it matched under that lock
    /// (`ReadFloors::hold`) is never evicted in between.
    pub fn append_keeping(
        &self,
        message: Message,
        keep: impl FnOnce() -> Option<u64>,
    ) -> Result<Result<u64, TooLarge>, Message> {
        let pushed = {
            let mut ring = self.lock();
            if keep().is_some_and(|keep| ring.first_after_push(message.payload.len()) > keep) {
                return Err(message);
            }
            ring.push(message)
        };
        if pushed.is_ok() {
            self.nudge();
        }
        Ok(pushed)
    }

    /// Appends `messages` in order under one lock and notifies interested shards once, so what
    /// arrived together (one broker read) reaches every shard's fan-out as one batch: one wake
    /// and one gathered write per subscriber instead of one per message.
    pub fn append_all(&self, messages: Vec<Message>) -> Vec<Result<u64, TooLarge>> {
        let positions: Vec<_> = {
            let mut ring = self.lock();
            messages.into_iter().map(|m| ring.push(m)).collect()
        };
        if positions.iter().any(Result::is_ok) {
            self.nudge();
        }
        positions
    }

    /// Tells every interested shard to look at the ring (it runs its fan-out once more).
    pub fn nudge(&self) {
        for (shard, interested) in self.interested.iter().enumerate() {
            if interested.load(Ordering::Acquire) {
                self.dirty[shard].store(true, Ordering::Release);
                self.doorbells[shard].ring();
            }
        }
    }

    /// Locks the ring for reading. Keep the guard short: publishers on every shard wait on it.
    pub fn lock(&self) -> MutexGuard<'_, RetentionRing> {
        // A panic while holding the lock cannot leave the ring half-updated (every mutation is
        // completed before anything that can panic), so a poisoned lock is still consistent.
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts or stops telling `shard` about new messages.
    pub fn set_interest(&self, shard: usize, interested: bool) {
        self.interested[shard].store(interested, Ordering::Release);
    }

    /// True (once) if messages were appended since `shard` last asked.
    pub fn take_dirty(&self, shard: usize) -> bool {
        self.dirty[shard].swap(false, Ordering::AcqRel)
    }
}
