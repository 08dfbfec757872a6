//! The end of the broker's log (its high watermark) for each partition of a Kafka feed, as the
//! feed's fetches last saw it: written by the bridge's fetch loops from every fetch response,
//! read by the shards to tell a client's position past the end of the broker's log (a cursor
//! from before the topic was recreated, or from another cluster) from one merely ahead of what
//! this node fetched.
//!
//! A position at or below what the fetches saw is in the log. One above it is either ahead of
//! this node's last fetch response (another node fetched since) or past the log's end, which
//! only the broker can tell: the shard then asks the bridge (`BridgeCommand::CheckEnds`), which
//! asks the broker for the log's end at that moment.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

/// An end not seen yet.
const UNKNOWN: i64 = -1;

/// Per partition slot: the log's end as last fetched.
#[derive(Default)]
pub struct LogEnds {
    ends: OnceLock<Box<[AtomicI64]>>,
}

impl LogEnds {
    /// The bridge: a fetch of slot `slot` (of `slots`) answered with log end `end`.
    pub fn record(&self, slot: usize, slots: usize, end: i64) {
        let ends = self
            .ends
            .get_or_init(|| (0..slots).map(|_| AtomicI64::new(UNKNOWN)).collect());
        if let Some(known) = ends.get(slot) {
            known.store(end, Ordering::Release);
        }
    }

    /// The slots whose position in `next` lies beyond the log's end as last fetched (every slot
    /// before any fetch answered).
    pub fn beyond(&self, next: &[i64]) -> Vec<usize> {
        let known = |slot: usize| {
            self.ends
                .get()
                .and_then(|ends| ends.get(slot))
                .map_or(UNKNOWN, |end| end.load(Ordering::Acquire))
        };
        (0..next.len())
            .filter(|&slot| next[slot] > known(slot))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::LogEnds;

    #[test]
    fn a_position_beyond_the_last_fetched_end_or_before_any_fetch_is_beyond() {
        let ends = LogEnds::default();
        assert_eq!(ends.beyond(&[0, 5]), [0, 1], "nothing fetched yet");
        ends.record(0, 2, 3);
        ends.record(1, 2, 5);
        assert_eq!(
            ends.beyond(&[3, 5]),
            Vec::<usize>::new(),
            "at the end: in the log"
        );
        assert_eq!(ends.beyond(&[4, 2]), [0]);
        // The log went back: the last answer is what counts.
        ends.record(1, 2, 1);
        assert_eq!(ends.beyond(&[0, 2]), [1]);
    }
}
