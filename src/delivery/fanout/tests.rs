use super::*;
use crate::config::OutboundConfig;
use crate::delivery::test_fixtures::{drain, message, queue_of as queue};
use bytes::Bytes;

/// A topic read by one shard.
fn log(max_messages: usize, max_bytes: usize) -> Arc<TopicLog> {
    let doorbells = [crate::cross_shard::Doorbell::new()];
    Arc::new(TopicLog::new("t", max_messages, max_bytes, &doorbells))
}

/// A full subscriber far behind and a live one: `pump_all` must return (it once looped
/// forever, freezing the shard), serve the live one, and the slow one must catch up as it
/// drains.
#[test]
fn pump_all_terminates_with_a_starved_subscriber_far_behind() {
    let ring = log(10_000, 1 << 30);
    for _ in 0..1000 {
        ring.append(message()).unwrap();
    }
    let metrics = Arc::new(ShardMetrics::default());
    let fanout = Rc::new(Fanout::new(
        RingSource {
            log: ring.clone(),
            shard: 0,
        },
        SlowClientPolicy::DropOldest,
        metrics,
    ));
    let slow = queue(4);
    let live = queue(1024);
    let _slow = fanout
        .subscribe(Some(MessageId::Sequence(0)), slow.clone())
        .unwrap();
    let _live = fanout.subscribe(None, live.clone()).unwrap();
    assert_eq!(drain(&slow), vec![1, 2, 3, 4]);
    for _ in 0..600 {
        ring.append(message()).unwrap();
    }
    fanout.pump_all();
    assert_eq!(drain(&live), (1001..=1600).collect::<Vec<_>>());
    // Draining refilled the slow one through its hook, four at a time, in order.
    assert_eq!(drain(&slow), vec![5, 6, 7, 8]);
    assert_eq!(drain(&slow), vec![9, 10, 11, 12]);
}

#[test]
fn resume_positions_outside_the_ring_are_refused() {
    let ring = log(5, 1 << 30);
    for _ in 0..10 {
        ring.append(message()).unwrap();
    }
    let fanout = Rc::new(Fanout::new(
        RingSource {
            log: ring,
            shard: 0,
        },
        SlowClientPolicy::DropOldest,
        Arc::new(ShardMetrics::default()),
    ));
    assert_eq!(
        fanout
            .subscribe(Some(MessageId::Sequence(2)), queue(8))
            .err(),
        Some(CursorError::Gone {
            cursor: 2,
            oldest: 6
        })
    );
    assert_eq!(
        fanout
            .subscribe(Some(MessageId::Sequence(11)), queue(8))
            .err(),
        Some(CursorError::Ahead {
            cursor: 11,
            latest: 10
        })
    );
    let q = queue(8);
    let (_member, start) = fanout
        .subscribe(Some(MessageId::Sequence(5)), q.clone())
        .unwrap();
    assert_eq!(start, MessageId::Sequence(5));
    assert_eq!(drain(&q), vec![6, 7, 8, 9, 10]);
}

fn sized(size: usize) -> Message {
    Message {
        payload: Bytes::from(vec![b'x'; size]),
        ..message()
    }
}

fn byte_bounded_queue(max_bytes: usize) -> Rc<OutboundQueue> {
    let config = OutboundConfig {
        max_queued_messages: 1024,
        max_queued_bytes: max_bytes,
        slow_client_policy: SlowClientPolicy::DropOldest,
    };
    Rc::new(OutboundQueue::new(
        &config,
        Arc::new(ShardMetrics::default()),
    ))
}

/// A queue full by bytes (not by count) once pinned the shared read position: nobody behind it
/// in the slab progressed and nobody was marked starved.
#[test]
fn a_subscriber_full_by_bytes_does_not_hold_back_the_others() {
    let ring = log(10_000, 1 << 30);
    let fanout = Rc::new(Fanout::new(
        RingSource {
            log: ring.clone(),
            shard: 0,
        },
        SlowClientPolicy::DropOldest,
        Arc::new(ShardMetrics::default()),
    ));
    let stalled = byte_bounded_queue(4 * 100);
    let live = byte_bounded_queue(1 << 20);
    let _stalled = fanout.subscribe(None, stalled.clone()).unwrap();
    let _live = fanout.subscribe(None, live.clone()).unwrap();
    let mut live_got = Vec::new();
    for round in 0..10u64 {
        for _ in 0..300 {
            ring.append(sized(100)).unwrap();
        }
        fanout.pump_all();
        live_got.extend(drain(&live));
        let want = (round + 1) * 300;
        assert!(
            live_got.len() as u64 == want,
            "round {round}: {} of {want}",
            live_got.len()
        );
    }
    assert_eq!(live_got, (1..=3000).collect::<Vec<_>>());
    assert_eq!(stalled.len(), 4, "the stalled one holds its bound, no more");
    // When it drains, it resumes where it stopped, in order.
    assert_eq!(drain(&stalled), vec![1, 2, 3, 4]);
    assert_eq!(drain(&stalled), vec![5, 6, 7, 8]);
}

/// A message larger than `maxQueuedBytes` goes alone into an empty queue; it never wedges the
/// subscriber (nor anyone else).
#[test]
fn messages_larger_than_the_byte_bound_are_delivered_one_at_a_time() {
    let ring = log(10_000, 1 << 30);
    let fanout = Rc::new(Fanout::new(
        RingSource {
            log: ring.clone(),
            shard: 0,
        },
        SlowClientPolicy::DropOldest,
        Arc::new(ShardMetrics::default()),
    ));
    let small = byte_bounded_queue(50);
    let live = byte_bounded_queue(1 << 20);
    let _small = fanout.subscribe(None, small.clone()).unwrap();
    let _live = fanout.subscribe(None, live.clone()).unwrap();
    for _ in 0..5 {
        ring.append(sized(100)).unwrap();
    }
    fanout.pump_all();
    assert_eq!(drain(&live), vec![1, 2, 3, 4, 5]);
    for expected in 1..=5 {
        assert_eq!(drain(&small), vec![expected]);
    }
    assert!(small.is_empty());
}

/// The ring's writer waits for the lowest position a subscriber still needs; a subscriber the
/// policy already skipped ahead (a slow one) stops counting until it caught up with the end,
/// and one that has been given everything can be moved to another ring.
#[test]
fn the_read_floor_leaves_out_slow_subscribers_until_they_caught_up() {
    let ring = log(4, 1 << 20);
    let fanout = Rc::new(Fanout::new(
        RingSource {
            log: ring.clone(),
            shard: 0,
        },
        SlowClientPolicy::DropOldest,
        Arc::new(ShardMetrics::default()),
    ));
    assert_eq!(fanout.read_floor(), None, "no subscriber");
    let slow = queue(2);
    let fast = queue(100);
    let slow_member = fanout.subscribe_at(1, None, slow.clone());
    let _fast = fanout.subscribe_at(1, None, fast.clone());
    assert!(fanout.take_members_changed());
    for _ in 0..3 {
        ring.append(message()).unwrap();
    }
    fanout.pump_all();
    assert_eq!(fanout.read_floor(), Some(3), "the slow one took 2 of 3");
    for _ in 0..4 {
        ring.append(message()).unwrap();
    }
    fanout.pump_all();
    assert_eq!(
        fanout.read_floor(),
        Some(8),
        "the slow one fell out of the ring and was skipped ahead: it no longer counts"
    );
    let Err(slow_member) = slow_member.detach_at(8, false) else {
        panic!("not given everything");
    };
    let mut got = Vec::new();
    loop {
        let batch = drain(&slow);
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    assert_eq!(
        got,
        vec![1, 2, 4, 5, 6, 7],
        "3 was evicted before it had room"
    );
    assert_eq!(fanout.read_floor(), Some(8));
    for _ in 0..3 {
        ring.append(message()).unwrap();
    }
    fanout.pump_all();
    assert_eq!(
        fanout.read_floor(),
        Some(10),
        "it caught up with the end, so it counts again (it took 2 of 3)"
    );
    drain(&slow);
    drain(&slow);
    let Ok((queue, floor)) = slow_member.detach_at(11, true) else {
        panic!("given everything");
    };
    assert!(Rc::ptr_eq(&queue, &slow) && floor.is_none());
    assert_eq!(fanout.subscriber_count(), 1);
}
