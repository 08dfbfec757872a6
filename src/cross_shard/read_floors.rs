//! How far the readers of a broker feed's buffer have read, so its fetches can wait for room.
//!
//! A fetch may bring more records than the buffer holds, and the bridge appends faster than any
//! client reads: without a bound on the writer, a client that is merely behind by one fetch
//! loses records it never had a chance to read. So each shard reports the lowest buffer
//! position its readers still need (`report`), and the bridge appends a record only when it
//! evicts nothing below the lowest of those (`floor`), waiting otherwise. Reporting costs the
//! shards a scan of their readers, so they report on every delivery only while the bridge waits
//! (`wanted`); they always report when readers come and go, so the floor is never above what a
//! reader needs: at worst it is lower than the truth, which costs a wait and a fresh report.
//!
//! A client joining a buffer matches its position to a buffer position and then subscribes:
//! between the two its shard has not reported it yet, so the writer could evict that position
//! and the client would silently start later. So the joiner `hold`s the position it matched
//! (taken under the buffer's lock, as the writer reads `floor` under that lock, see
//! `TopicLog::append_keeping`) until its subscription was reported.

#![allow(
    clippy::disallowed_types,
    reason = "shards report their readers' floors to the Kafka bridge thread; held for one update, never across an await"
)]
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A shard with no reader that needs anything.
const NONE: u64 = u64::MAX;

/// The per-shard lowest positions the readers of one buffer still need.
pub struct ReadFloors {
    floors: Box<[AtomicU64]>,
    /// Fetch loops waiting for room right now.
    waiters: AtomicUsize,
    /// Wakes the waiting fetch loops (on the bridge thread) when a shard reports.
    changed: tokio::sync::Notify,
    /// Positions held by clients between matching and subscribing (`hold`): at most one per
    /// shard at a time (a shard subscribes a client in one synchronous step).
    held: Mutex<Vec<u64>>,
}

impl ReadFloors {
    /// Floors for `shards` shards, none of which has a reader yet.
    pub fn new(shards: usize) -> ReadFloors {
        ReadFloors {
            floors: (0..shards).map(|_| AtomicU64::new(NONE)).collect(),
            waiters: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
            held: Mutex::new(Vec::new()),
        }
    }

    /// Shard `shard`'s readers need positions from `floor` on (`None`: nothing).
    pub fn report(&self, shard: usize, floor: Option<u64>) {
        if let Some(slot) = self.floors.get(shard) {
            slot.store(floor.unwrap_or(NONE), Ordering::Release);
        }
        if self.wanted() {
            self.changed.notify_waiters();
        }
    }

    /// The lowest position any reader needs or a joiner holds; `None` when none needs anything.
    pub fn floor(&self) -> Option<u64> {
        let held = self.lock_held().iter().copied().min();
        self.floors
            .iter()
            .map(|f| f.load(Ordering::Acquire))
            .filter(|&f| f != NONE)
            .chain(held)
            .min()
    }

    /// Keeps `position` in the floor until the returned guard is dropped. Call it under the
    /// buffer's lock, where the position was matched, and drop the guard once the client's
    /// subscription was reported.
    pub fn hold(self: &Arc<Self>, position: u64) -> Hold {
        self.lock_held().push(position);
        Hold {
            floors: self.clone(),
            position,
        }
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while a fetch waits for room: shards then report after every delivery.
    pub fn wanted(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }

    /// Counts a fetch loop as waiting until the guard is dropped.
    pub fn waiting(&self) -> Waiting<'_> {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        Waiting(self)
    }

    /// Resolves on the next report made while someone waits.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A fetch loop waiting for room (see `ReadFloors::waiting`).
pub struct Waiting<'a>(&'a ReadFloors);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A position held against eviction while a client joins (see `ReadFloors::hold`).
pub struct Hold {
    floors: Arc<ReadFloors>,
    position: u64,
}

impl Hold {
    /// The held position.
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut held = self.floors.lock_held();
        if let Some(index) = held.iter().position(|&p| p == self.position) {
            held.swap_remove(index);
        }
        drop(held);
        // A waiting writer may append now.
        self.floors.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::ReadFloors;

    #[test]
    fn the_floor_is_the_lowest_shard_with_readers() {
        let floors = ReadFloors::new(3);
        assert_eq!(floors.floor(), None);
        floors.report(0, Some(9));
        floors.report(2, Some(4));
        assert_eq!(floors.floor(), Some(4));
        floors.report(2, None);
        assert_eq!(floors.floor(), Some(9));
        assert!(!floors.wanted());
        let waiting = floors.waiting();
        assert!(floors.wanted());
        drop(waiting);
        assert!(!floors.wanted());
    }

    #[test]
    fn a_held_position_is_in_the_floor_until_released() {
        let floors = Arc::new(ReadFloors::new(2));
        floors.report(0, Some(9));
        let low = floors.hold(4);
        let high = floors.hold(12);
        assert_eq!(floors.floor(), Some(4));
        drop(low);
        assert_eq!(floors.floor(), Some(9));
        floors.report(0, None);
        assert_eq!(floors.floor(), Some(12));
        drop(high);
        assert_eq!(floors.floor(), None);
    }
}
