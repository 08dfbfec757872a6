//! The node's counters: one map shared by every shard of this process.
//!
//! A counter is a fixed window's count, keyed by "policy × subscription (or client address)".
//! The map is split into stripes, each behind its own `Mutex`, held only for one lookup and one
//! addition: shards rarely wait on each other, and every count is exact however many shards
//! count at once (what a node-wide limit needs; per-shard counters would let `limit × shards`
//! through). The map is bounded (`gateway.rateLimit.maxCounters`): counters of ended windows are
//! swept when a stripe is full, and a new counter that still finds no room is refused (the
//! caller applies `onUnavailable`).

#![allow(
    clippy::disallowed_types,
    reason = "a node-wide count is shared by every shard; striped, held for one lookup and one addition, never across an await"
)]
use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::window::Window;

/// Number of independently locked parts of the map.
const STRIPES: usize = 16;

struct Slot {
    window: u64,
    end_ms: u64,
    count: u64,
}

/// Node-wide fixed-window counters.
pub(super) struct LocalCounters {
    stripes: Vec<Mutex<HashMap<String, Slot>>>,
    hasher: RandomState,
    max_per_stripe: usize,
    live: AtomicU64,
}

impl LocalCounters {
    /// Room for about `max_counters` live counters (at least one per stripe).
    pub(super) fn new(max_counters: usize) -> LocalCounters {
        LocalCounters {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            max_per_stripe: max_counters.div_ceil(STRIPES).max(1),
            live: AtomicU64::new(0),
        }
    }

    /// Counters held now (a gauge).
    pub(super) fn live(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// Adds `n` to `key`'s count in `window` and returns the new count; `None` when the map is
    /// full.
    pub(super) fn add(&self, key: &str, window: Window, n: u64, now_ms: u64) -> Option<u64> {
        self.update(key, window, now_ms, |count| {
            *count += n;
            *count
        })
    }

    /// Takes up to `want` of what is left of `limit` in `window` and returns how much it got
    /// (0 when the window is used up); `None` when the map is full.
    pub(super) fn take(
        &self,
        key: &str,
        window: Window,
        want: u64,
        limit: u64,
        now_ms: u64,
    ) -> Option<u64> {
        self.update(key, window, now_ms, |count| {
            let granted = want.min(limit.saturating_sub(*count));
            *count += granted;
            granted
        })
    }

    fn update(
        &self,
        key: &str,
        window: Window,
        now_ms: u64,
        change: impl FnOnce(&mut u64) -> u64,
    ) -> Option<u64> {
        let stripe = self.hasher.hash_one(key) as usize % STRIPES;
        // A panic elsewhere while holding the lock leaves counts that are still valid numbers.
        let mut map = self.stripes[stripe]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= self.max_per_stripe && !map.contains_key(key) {
            let before = map.len();
            map.retain(|_, slot| slot.end_ms > now_ms);
            self.live
                .fetch_sub((before - map.len()) as u64, Ordering::Relaxed);
            if map.len() >= self.max_per_stripe {
                return None;
            }
        }
        let slot = match map.entry(key.to_owned()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                self.live.fetch_add(1, Ordering::Relaxed);
                entry.insert(Slot {
                    window: window.index,
                    end_ms: window.end_ms,
                    count: 0,
                })
            }
        };
        if slot.window != window.index {
            *slot = Slot {
                window: window.index,
                end_ms: window.end_ms,
                count: 0,
            };
        }
        Some(change(&mut slot.count))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn window(index: u64) -> Window {
        Window {
            index,
            end_ms: (index + 1) * 1000,
        }
    }

    #[test]
    fn counts_restart_in_a_new_window() {
        // Room for two keys in every stripe: "k" and "other" may hash to the same one.
        let counters = LocalCounters::new(2 * STRIPES);
        assert_eq!(counters.add("k", window(1), 1, 1000), Some(1));
        assert_eq!(counters.add("k", window(1), 1, 1000), Some(2));
        assert_eq!(counters.add("k", window(2), 1, 2000), Some(1));
        assert_eq!(counters.add("other", window(2), 1, 2000), Some(1));
    }

    #[test]
    fn take_never_grants_past_the_limit() {
        let counters = LocalCounters::new(STRIPES);
        assert_eq!(counters.take("k", window(1), 3, 5, 1000), Some(3));
        assert_eq!(counters.take("k", window(1), 3, 5, 1000), Some(2));
        assert_eq!(counters.take("k", window(1), 3, 5, 1000), Some(0));
    }

    #[test]
    fn a_full_map_sweeps_ended_windows_then_refuses() {
        let counters = LocalCounters::new(STRIPES);
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        let added = keys
            .iter()
            .filter(|key| counters.add(key, window(1), 1, 1000).is_some())
            .count();
        assert!((STRIPES..200).contains(&added), "{added}");
        assert_eq!(counters.live(), added as u64);
        // The windows have ended: every key finds room again.
        for key in &keys[..STRIPES] {
            let _ = counters.add(key, window(5), 1, 5000);
        }
        assert!(counters.live() <= added as u64);
    }

    #[test]
    fn exact_under_concurrency() {
        let counters = Arc::new(LocalCounters::new(100));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| counters.take("k", window(1), 1, 2500, 1000) == Some(1))
                        .count()
                })
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 2500);
    }
}
