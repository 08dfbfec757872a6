//! Matching a client's position to the node buffer (no broker needed: records are appended to
//! the feed's ring by hand, as the bridge would).

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::config::kafka::KafkaConsumer;
use crate::cross_shard::kafka_link::KafkaFeed;
use crate::delivery::OutboundQueue;
use crate::message::kafka_cursor::{KafkaCursor, KafkaId, TopicPartition};
use crate::message::{Message, PayloadKind};

fn slots() -> Arc<[TopicPartition]> {
    (0..2)
        .map(|partition| TopicPartition {
            topic: Arc::from("t"),
            partition,
        })
        .collect::<Vec<_>>()
        .into()
}

pub(super) fn cursor(next: [i64; 2]) -> KafkaCursor {
    KafkaCursor::new(false, slots(), next.into())
}

/// A feed that started at `start` and then fetched `records` (slot, offset), in that order.
pub(super) fn feed(
    start: [i64; 2],
    records: &[(usize, i64)],
    max_messages: usize,
) -> Rc<LocalFeed> {
    let shared = Arc::new(KafkaFeed::new("t", max_messages, 1 << 20, 1));
    shared.set_start(Arc::new(cursor(start)));
    let mut head = start;
    for &(slot, offset) in records {
        head[slot] = offset + 1;
        shared.log.append(record(slot, offset, head)).unwrap();
    }
    let consumer = KafkaConsumer {
        topics: vec!["t".to_owned()],
        topic_pattern: None,
        auto_offset_reset: AutoOffsetReset::Latest,
        encode_message_id: false,
        group_id: None,
        subscription_groups: None,
        session_timeout: std::time::Duration::from_secs(10),
        group_instance_id: None,
        max_retained_messages: max_messages,
        max_retained_bytes: 1 << 20,
        max_catch_ups: 4,
        pace_wait: std::time::Duration::from_secs(1),
    };
    let metrics = Arc::new(ShardMetrics::default());
    LocalFeed::new(
        0,
        0,
        shared,
        consumer,
        SlowClientPolicy::DropOldest,
        metrics,
    )
}

/// Record `offset` of slot `slot`, carrying the feed's position `head` after it.
fn record(slot: usize, offset: i64, head: [i64; 2]) -> Message {
    Message {
        id: MessageId::Kafka(KafkaId {
            seq: 0,
            slot: slot as u32,
            cursor: Arc::new(cursor(head)),
        }),
        payload: Bytes::from(format!("{slot}-{offset}")),
        kind: PayloadKind::Unspecified,
        headers: Arc::from(Vec::new()),
        metadata: Arc::from(Vec::new()),
        timestamp_ms: 0,
    }
}

// Ring positions 1..=4 hold: p0@5, p1@7, p0@6, p1@8 (the feed started at [5, 7]).
pub(super) const RECORDS: &[(usize, i64)] = &[(0, 5), (1, 7), (0, 6), (1, 8)];

#[test]
fn a_position_that_is_a_ring_entry_resumes_exactly_after_it() {
    let feed = feed([5, 7], RECORDS, 100);
    let start = cursor([5, 7]);
    assert_eq!(
        feed.match_position(&start, &cursor([5, 7])),
        Some((1, true))
    );
    assert_eq!(
        feed.match_position(&start, &cursor([6, 8])),
        Some((3, true))
    );
    assert_eq!(
        feed.match_position(&start, &cursor([7, 9])),
        Some((5, true))
    );
}

#[test]
fn a_position_between_entries_resumes_at_the_first_unseen_record_with_a_floor() {
    let feed = feed([5, 7], RECORDS, 100);
    // Seen p0 up to 6 but p1 only up to 6 (another node interleaved differently).
    assert_eq!(
        feed.match_position(&cursor([5, 7]), &cursor([7, 7])),
        Some((2, false))
    );
}

#[test]
fn a_position_older_than_the_buffer_needs_a_fetch_of_its_own() {
    let feed = feed([5, 7], RECORDS, 100);
    assert_eq!(feed.match_position(&cursor([5, 7]), &cursor([4, 7])), None);
    // Once the ring evicted p0@5, a client that had not read it cannot be served from the ring.
    let evicted = self::feed([5, 7], RECORDS, 3);
    assert_eq!(
        evicted.match_position(&cursor([5, 7]), &cursor([5, 7])),
        None
    );
    assert_eq!(
        evicted.match_position(&cursor([5, 7]), &cursor([6, 7])),
        Some((2, true))
    );
}

#[test]
fn an_empty_buffer_serves_positions_at_or_after_the_start() {
    let feed = feed([5, 7], &[], 100);
    assert_eq!(
        feed.match_position(&cursor([5, 7]), &cursor([5, 7])),
        Some((1, false))
    );
    assert_eq!(feed.match_position(&cursor([5, 7]), &cursor([3, 7])), None);
}

#[test]
fn a_floor_skips_what_the_client_had_and_its_ids_never_go_back() {
    let feed = feed([5, 7], RECORDS, 100);
    let floor = Arc::new(cursor([7, 7]));
    let (start, exact) = feed.match_position(&cursor([5, 7]), &floor).unwrap();
    assert!(!exact);
    let queue = Rc::new(OutboundQueue::new(
        &crate::config::OutboundConfig::default(),
        feed.metrics.clone(),
    ));
    let _member = feed.fanout.subscribe_at(start, Some(floor), queue.clone());
    let mut delivered = Vec::new();
    queue.drain_into(usize::MAX, &mut delivered);
    let got: Vec<(String, String)> = delivered
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(&m.payload).into_owned(),
                m.id.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("1-7".to_owned(), "t:0:7,t:1:8".to_owned()),
            ("1-8".to_owned(), "t:0:7,t:1:9".to_owned()),
        ]
    );
}

/// The race behind clients of a replay silently skipping a range: a client matched its
/// position to the buffer, and before it subscribed (and its shard reported it) the bridge's
/// paced writer, seeing no reader there, evicted that position; the client then started past
/// the ring's first entry and drop-oldest skipped what it never had a chance to read. The
/// matched position is held until the client subscribed.
#[test]
fn a_matched_position_is_not_evicted_before_the_client_subscribed() {
    // A full buffer of 4: p0@5, p1@7, p0@6, p1@8.
    let feed = feed([5, 7], RECORDS, 4);
    let shared = feed.shared.clone();
    // The bridge's paced append (`Session::push`): evict nothing a reader needs.
    let append = |slot, offset, head| {
        shared
            .log
            .append_keeping(record(slot, offset, head), || shared.reads.floor())
            .is_ok()
    };
    // A client that read p0@5 resumes at ring position 2 (p1@7).
    let matched = feed
        .match_and_hold(&cursor([5, 7]), &cursor([6, 7]))
        .expect("the buffer holds it");
    assert_eq!((matched.position, matched.exact), (2, true));
    // The bridge appends meanwhile: evicting position 1 is fine, position 2 is not.
    assert!(append(0, 7, [8, 9]), "position 1 is not needed");
    assert!(
        !append(1, 9, [8, 10]),
        "the writer evicted the position a joining client had matched"
    );
    let queue = Rc::new(OutboundQueue::new(
        &crate::config::OutboundConfig::default(),
        feed.metrics.clone(),
    ));
    let _member = feed
        .fanout
        .subscribe_at(matched.position, None, queue.clone());
    drop(matched);
    let mut delivered = Vec::new();
    queue.drain_into(usize::MAX, &mut delivered);
    let got: Vec<String> = delivered
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(got, ["1-7", "0-6", "1-8", "0-7"], "nothing skipped");
    // Once subscribed the client's own read floor (the ring's end) lets the writer go on.
    assert!(append(1, 9, [8, 10]));
}
