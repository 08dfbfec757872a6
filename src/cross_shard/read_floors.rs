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

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A shard with no reader that needs anything.
const NONE: u64 = u64::MAX;

/// The per-shard lowest positions the readers of one buffer still need.
pub struct ReadFloors {
    floors: Box<[AtomicU64]>,
    /// Fetch loops waiting for room right now.
    waiters: AtomicUsize,
    /// Wakes the waiting fetch loops (on the bridge thread) when a shard reports.
    changed: tokio::sync::Notify,
}

impl ReadFloors {
    /// Floors for `shards` shards, none of which has a reader yet.
    pub fn new(shards: usize) -> ReadFloors {
        ReadFloors {
            floors: (0..shards).map(|_| AtomicU64::new(NONE)).collect(),
            waiters: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
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

    /// The lowest position any reader needs; `None` when no reader needs anything.
    pub fn floor(&self) -> Option<u64> {
        self.floors
            .iter()
            .map(|f| f.load(Ordering::Acquire))
            .filter(|&f| f != NONE)
            .min()
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

#[cfg(test)]
mod tests {
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
}
