//! A fetched record as clients see it, without a broker: the message a fetch session appends.

use std::collections::BTreeMap;

use rskafka::chrono::{TimeZone, Utc};
use rskafka::record::Record;

use super::*;
use crate::cross_shard::Doorbell;

fn session(max_bytes: usize) -> Session {
    let slots: Arc<[TopicPartition]> = ["a", "b"]
        .iter()
        .map(|topic| TopicPartition {
            topic: Arc::from(*topic),
            partition: 0,
        })
        .collect();
    Session {
        head: Rc::new(RefCell::new(Head {
            encoded: false,
            slots,
            next: vec![5, 7],
        })),
        log: Arc::new(TopicLog::new("t", 16, max_bytes, &[Doorbell::new()])),
        metrics: Arc::new(KafkaMetrics::default()),
        max_wait_ms: FETCH_MAX_WAIT_MS,
        pacing: None,
        ends: None,
    }
}

fn record(offset: i64, key: Option<&[u8]>, value: &[u8]) -> RecordAndOffset {
    RecordAndOffset {
        record: Record {
            key: key.map(<[u8]>::to_vec),
            value: Some(value.to_vec()),
            headers: BTreeMap::from([("h".to_owned(), b"v\xff".to_vec())]),
            timestamp: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        },
        offset,
    }
}

/// `Session::append` run to completion (unpaced sessions never wait).
fn append(
    session: &Session,
    topic: &Arc<str>,
    partition: i32,
    slot: usize,
    record: RecordAndOffset,
) {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(session.append(topic, partition, slot, record));
}

fn appended(session: &Session) -> Vec<Message> {
    let ring = session.log.lock();
    let mut out = Vec::new();
    ring.read(ring.first_position(), 100, &mut out);
    out
}

#[test]
fn a_record_becomes_a_message_carrying_the_position_after_it() {
    let session = session(1 << 20);
    let topic: Arc<str> = Arc::from("b");
    append(&session, &topic, 0, 1, record(7, Some(b"k-1"), b"hello"));
    let messages = appended(&session);
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(&message.payload[..], b"hello");
    assert_eq!(message.timestamp_ms, 1_700_000_000_123);
    let metadata: Vec<(&str, &str)> = message
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        metadata,
        [
            ("key", "k-1"),
            ("topic", "b"),
            ("partition", "0"),
            ("offset", "7")
        ]
    );
    assert_eq!(message.headers[0], ("h".to_owned(), "v\u{fffd}".to_owned()));
    // The id is the position after the record: slot 1 moved to 8, slot 0 unchanged.
    let MessageId::Kafka(id) = &message.id else {
        panic!("not a Kafka id: {:?}", message.id);
    };
    assert_eq!(id.slot, 1);
    assert_eq!(&id.cursor.next[..], [5, 8]);
    assert_eq!(session.head.borrow().next, [5, 8], "the session moved on");
    assert_eq!(ShardMetrics::get(&session.metrics.records_fetched_total), 1);
}

#[test]
fn a_record_without_key_has_no_key_metadata() {
    let session = session(1 << 20);
    append(&session, &Arc::from("a"), 0, 0, record(5, None, b"x"));
    let message = &appended(&session)[0];
    assert!(message.metadata.iter().all(|(k, _)| k != "key"));
}

#[test]
fn a_record_larger_than_the_buffer_is_skipped_but_the_position_moves_past_it() {
    let session = session(16);
    append(
        &session,
        &Arc::from("a"),
        0,
        0,
        record(5, None, &[b'x'; 64]),
    );
    assert!(appended(&session).is_empty());
    assert_eq!(session.head.borrow().next, [6, 7], "not fetched again");
    assert_eq!(ShardMetrics::get(&session.metrics.records_fetched_total), 0);
}

fn plain(bytes: usize) -> Message {
    Message {
        id: MessageId::Sequence(0),
        payload: Bytes::from(vec![b'x'; bytes]),
        kind: PayloadKind::Unspecified,
        headers: Arc::from(Vec::new()),
        metadata: Arc::from(Vec::new()),
        timestamp_ms: 0,
    }
}

fn next_of(message: &Message) -> Vec<i64> {
    match &message.id {
        MessageId::Kafka(id) => id.cursor.next.to_vec(),
        other => panic!("not a Kafka id: {other:?}"),
    }
}

/// Partition loops wait for room concurrently, and a small record may fit where a large one
/// waits: records reach the buffer in another order than they were fetched. Each position must
/// cover exactly what precedes it in the buffer; a position taken at fetch time claimed the
/// waiting record of the other partition, and a client resuming from it (moved from a catch-up
/// reader to the node buffer, or reconnecting) skipped that record, or repeated records when
/// resuming from the waiting record's stale position.
#[test]
fn positions_follow_the_order_records_reach_the_buffer_in() {
    // Room for 12 bytes: 11 held, position 1 still needed by a reader.
    let feed = Arc::new(KafkaFeed::new("t", 100, 12, 1));
    let mut session = session(12);
    session.log = feed.log.clone();
    session.pacing = Some(Pacing {
        feed: feed.clone(),
        wait: Duration::from_secs(600),
    });
    feed.log.append(plain(1)).unwrap();
    feed.log.append(plain(10)).unwrap();
    feed.reads.report(0, Some(1));
    let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        // a@5 (10 bytes) waits for room; b@7 (1 byte) fits at once; then the reader moves on.
        let large = session.append(&a, 0, 0, record(5, None, &[b'a'; 10]));
        let small = async {
            tokio::task::yield_now().await;
            session.append(&b, 0, 1, record(7, None, b"b")).await;
            assert_eq!(feed.log.lock().next_position(), 4, "b@7 did not wait");
            feed.reads.report(0, None);
        };
        tokio::join!(large, small);
    });
    let messages = appended(&session);
    let ids: Vec<Vec<i64>> = messages
        .iter()
        .skip(messages.len() - 2)
        .map(next_of)
        .collect();
    assert_eq!(
        ids,
        [vec![5, 8], vec![6, 8]],
        "b@7 was appended first: its position must not claim a@5"
    );
    assert_eq!(session.head.borrow().next, [6, 8]);
}
