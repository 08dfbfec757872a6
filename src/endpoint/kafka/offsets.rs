//! The bridge's offset arithmetic, sans-IO (the fetch loops and group members in `bridge/`
//! do the I/O and act on it): where a fetch goes after the broker's log moved, which partitions a
//! group generation reads and from where, and which offsets a commit moves forward.

use std::collections::BTreeMap;

use super::group_assign::Assignment;
use crate::message::kafka_cursor::TopicPartition;

/// Where a fetch goes after the broker answered OFFSET_OUT_OF_RANGE for `offset`, given the
/// partition's `earliest` and `latest` offsets now. Behind the log's start (retention deleted
/// it): from the start. Past its end: the log went back (topic recreated, broker data lost) and
/// all of it is unseen: from the start too. Inside (a transient answer): the same offset.
pub(super) fn after_out_of_range(offset: i64, earliest: i64, latest: i64) -> i64 {
    if offset < earliest || offset > latest {
        earliest
    } else {
        offset
    }
}

/// True when an empty fetch at `offset` means that the partition's log went back: its high
/// watermark is below the position (some brokers answer so instead of OFFSET_OUT_OF_RANGE).
pub(super) fn log_went_back(fetched_nothing: bool, high_watermark: i64, offset: i64) -> bool {
    fetched_nothing && high_watermark < offset
}

/// Where a client's position `next` on a partition resumes, given the partition's log now
/// (`earliest`..`latest`, its end): past the end (the topic was recreated, or the position
/// comes from another cluster) the broker no longer has the position, so it starts at the
/// log's start, as one before the start does (the log's records are all unseen). A position
/// at or before the end stays: it is in the log, or older than the log's start, where the
/// fetch itself moves it to the start.
pub(super) fn resume_in_log(next: i64, earliest: i64, latest: i64) -> i64 {
    if next > latest {
        earliest
    } else {
        next
    }
}

/// The slots (indexes into `slots`) a member was assigned, in slot order.
pub(super) fn assigned_slots(slots: &[TopicPartition], assignment: &Assignment) -> Vec<usize> {
    (0..slots.len())
        .filter(|&i| {
            assignment
                .get(&*slots[i].topic)
                .is_some_and(|partitions| partitions.contains(&slots[i].partition))
        })
        .collect()
}

/// Where an assigned partition starts in a new generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GenerationStart {
    At(i64),
    /// Nothing committed and not fetched before: `autoOffsetReset` decides.
    Reset,
}

/// `committed`: the group's offset for the partition; `fetched_to`: where this node's fetch had
/// got in the previous generation, if it read the partition then. A partition kept across a
/// rebalance continues from what this node already fetched (its records are in the buffer),
/// unless the group committed further (another member read on).
pub(super) fn generation_start(committed: Option<i64>, fetched_to: Option<i64>) -> GenerationStart {
    match (committed, fetched_to) {
        (Some(committed), Some(fetched)) => GenerationStart::At(fetched.max(committed)),
        (None, Some(fetched)) => GenerationStart::At(fetched),
        (Some(committed), None) => GenerationStart::At(committed),
        (None, None) => GenerationStart::Reset,
    }
}

/// The offsets to commit, by topic: for each assigned slot, the delivered position `next[slot]`
/// when it is past what was committed (or started from) in this generation, `last[slot]`.
/// Records from before the generation may carry older offsets: commits only move forward.
pub(super) fn offsets_to_commit<'a>(
    slots: &'a [TopicPartition],
    assigned: &[usize],
    next: &[i64],
    last: &[i64],
) -> BTreeMap<&'a str, Vec<(usize, i64)>> {
    let mut topics: BTreeMap<&str, Vec<(usize, i64)>> = BTreeMap::new();
    for &slot in assigned {
        if next[slot] > last[slot] {
            topics
                .entry(&slots[slot].topic)
                .or_default()
                .push((slot, next[slot]));
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn slots() -> Vec<TopicPartition> {
        [("a", 0), ("a", 1), ("b", 0)]
            .into_iter()
            .map(|(topic, partition)| TopicPartition {
                topic: Arc::from(topic),
                partition,
            })
            .collect()
    }

    #[test]
    fn a_client_position_past_the_log_end_resumes_at_its_start() {
        // Cursor 3 on a log recreated with one record (0..1): all of the new log is unseen.
        assert_eq!(resume_in_log(3, 0, 1), 0);
        assert_eq!(resume_in_log(300, 40, 100), 40);
        // At the end (caught up) or inside: stays.
        assert_eq!(resume_in_log(1, 0, 1), 1);
        assert_eq!(resume_in_log(50, 40, 100), 50);
        // Before the start: the fetch moves it (OFFSET_OUT_OF_RANGE), not this.
        assert_eq!(resume_in_log(5, 40, 100), 5);
    }

    #[test]
    fn out_of_range_positions_restart_from_the_log_start_unless_inside_it() {
        // Retention removed the position: from the oldest record kept.
        assert_eq!(after_out_of_range(5, 100, 200), 100);
        // Past the end: the log went back, all of it is unseen.
        assert_eq!(after_out_of_range(500, 0, 20), 0);
        // Inside the log (an answer that no longer holds): stay.
        assert_eq!(after_out_of_range(150, 100, 200), 150);
        assert_eq!(after_out_of_range(100, 100, 200), 100);
        assert_eq!(
            after_out_of_range(200, 100, 200),
            200,
            "the end is a valid position"
        );
    }

    #[test]
    fn an_empty_fetch_below_the_position_means_the_log_went_back() {
        assert!(log_went_back(true, 3, 10));
        assert!(!log_went_back(true, 10, 10), "caught up, nothing new");
        assert!(!log_went_back(false, 3, 10), "records came");
    }

    #[test]
    fn assigned_slots_follow_the_slot_order() {
        let assignment =
            Assignment::from([("b".to_owned(), vec![0]), ("a".to_owned(), vec![1, 7])]);
        assert_eq!(assigned_slots(&slots(), &assignment), [1, 2]);
        assert!(assigned_slots(&slots(), &Assignment::new()).is_empty());
    }

    #[test]
    fn a_kept_partition_continues_from_what_was_fetched_or_a_further_commit() {
        use GenerationStart::*;
        assert_eq!(generation_start(Some(10), Some(15)), At(15));
        assert_eq!(generation_start(Some(20), Some(15)), At(20));
        assert_eq!(generation_start(None, Some(15)), At(15));
        assert_eq!(generation_start(Some(10), None), At(10));
        assert_eq!(generation_start(None, None), Reset);
    }

    #[test]
    fn commits_move_assigned_partitions_forward_only_grouped_by_topic() {
        let slots = slots();
        let next = [5, 9, 3];
        // Slot 0 is not assigned; slot 1 moved on; slot 2 is behind what was committed.
        let topics = offsets_to_commit(&slots, &[1, 2], &next, &[0, 4, 7]);
        assert_eq!(topics, BTreeMap::from([("a", vec![(1, 9)])]));
        let topics = offsets_to_commit(&slots, &[0, 1, 2], &next, &[0, 0, 0]);
        assert_eq!(
            topics,
            BTreeMap::from([("a", vec![(0, 5), (1, 9)]), ("b", vec![(2, 3)])])
        );
        assert!(offsets_to_commit(&slots, &[0, 1, 2], &next, &next).is_empty());
    }
}
