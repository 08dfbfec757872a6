//! Loss, duplicate and reorder accounting from per-publisher sequence numbers.
//!
//! One [`SeqTracker`] per (subscriber, publisher). A message is *new* the first time its
//! sequence number is seen; seeing it again is a *duplicate*; a new number below the highest seen
//! so far arrived *reordered*. Losses are what the publisher had acknowledged but the subscriber
//! never saw: `expected − unique`, computed once the run has drained.

/// How far below the highest sequence number arrivals are still told apart exactly. An arrival
/// further behind than this is counted as a duplicate (the harness cannot know better without
/// unbounded memory; on an in-order transport it does not happen).
pub const REORDER_WINDOW: u64 = 128;

/// What one subscriber has seen of one publisher's sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqTracker {
    highest: Option<u64>,
    /// Bit `i` set: sequence number `highest − i` was seen.
    seen_below_highest: u128,
    unique: u64,
    duplicates: u64,
    reordered: u64,
    /// `Some`: one bit per sequence number below its length, so arrivals are told apart
    /// exactly however far behind (replay, where partitions interleave in long runs).
    exact: Option<Vec<u64>>,
}

/// The verdict on one arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    New,
    Duplicate,
}

impl SeqTracker {
    /// A tracker that tells every sequence number below `count` apart exactly (8 bytes per 64).
    pub fn exact(count: u64) -> SeqTracker {
        SeqTracker {
            exact: Some(vec![0; count.div_ceil(64) as usize]),
            ..SeqTracker::default()
        }
    }

    pub fn observe(&mut self, seq: u64) -> Arrival {
        if let Some(bits) = &mut self.exact {
            if let Some(word) = bits.get_mut((seq / 64) as usize) {
                let bit = 1u64 << (seq % 64);
                if *word & bit != 0 {
                    self.duplicates += 1;
                    return Arrival::Duplicate;
                }
                *word |= bit;
                self.unique += 1;
                if self.highest.is_some_and(|highest| seq < highest) {
                    self.reordered += 1;
                } else {
                    self.highest = Some(seq);
                }
                return Arrival::New;
            }
        }
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.seen_below_highest = 1;
            self.unique = 1;
            return Arrival::New;
        };
        if seq > highest {
            let shift = seq - highest;
            self.seen_below_highest = if shift >= REORDER_WINDOW {
                1
            } else {
                (self.seen_below_highest << shift) | 1
            };
            self.highest = Some(seq);
            self.unique += 1;
            return Arrival::New;
        }
        let behind = highest - seq;
        if behind >= REORDER_WINDOW || self.seen_below_highest & (1u128 << behind) != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen_below_highest |= 1u128 << behind;
        self.unique += 1;
        self.reordered += 1;
        Arrival::New
    }

    /// Distinct sequence numbers seen.
    pub fn unique(&self) -> u64 {
        self.unique
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Messages of the `expected` the publisher had acknowledged that never arrived.
    pub fn lost(&self, expected: u64) -> u64 {
        expected.saturating_sub(self.unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: &[u64]) -> SeqTracker {
        let mut tracker = SeqTracker::default();
        for &seq in seqs {
            tracker.observe(seq);
        }
        tracker
    }

    #[test]
    fn in_order_stream_has_no_loss() {
        let tracker = feed(&(0..1000).collect::<Vec<_>>());
        assert_eq!(tracker.unique(), 1000);
        assert_eq!(tracker.lost(1000), 0);
        assert_eq!((tracker.duplicates(), tracker.reordered()), (0, 0));
    }

    #[test]
    fn gaps_are_losses() {
        // 0..100 without 10, 11, 50 and the last two (98, 99).
        let seqs: Vec<u64> = (0..98).filter(|s| ![10, 11, 50].contains(s)).collect();
        let tracker = feed(&seqs);
        assert_eq!(tracker.lost(100), 5);
        assert_eq!(tracker.duplicates(), 0);
    }

    #[test]
    fn repeats_are_duplicates_not_news() {
        let tracker = feed(&[0, 1, 1, 2, 2, 2, 3, 0]);
        assert_eq!(tracker.unique(), 4);
        assert_eq!(tracker.duplicates(), 4);
        assert_eq!(tracker.lost(4), 0);
    }

    #[test]
    fn late_arrivals_fill_gaps_once() {
        let mut tracker = feed(&[0, 1, 3, 4]);
        assert_eq!(tracker.observe(2), Arrival::New);
        assert_eq!(tracker.observe(2), Arrival::Duplicate);
        assert_eq!(tracker.unique(), 5);
        assert_eq!(tracker.reordered(), 1);
        assert_eq!(tracker.lost(5), 0);
    }

    #[test]
    fn an_exact_tracker_tells_far_arrivals_apart() {
        let mut tracker = SeqTracker::exact(10_000);
        for seq in (5_000..10_000).chain(0..5_000) {
            assert_eq!(tracker.observe(seq), Arrival::New);
        }
        assert_eq!(tracker.observe(3), Arrival::Duplicate);
        assert_eq!(tracker.unique(), 10_000);
        assert_eq!(tracker.lost(10_000), 0);
        assert_eq!(tracker.reordered(), 5_000);
    }

    #[test]
    fn a_jump_past_the_window_forgets_the_older_bits() {
        let mut tracker = feed(&[0, 1000]);
        assert_eq!(tracker.observe(999), Arrival::New);
        // Older than the window: counted as a duplicate by design.
        assert_eq!(tracker.observe(0), Arrival::Duplicate);
        assert_eq!(tracker.unique(), 3);
    }
}
