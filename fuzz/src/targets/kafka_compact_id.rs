//! The compact Kafka id decoder (`message::kafka_compact_id`), on raw bytes (what the base64
//! of an id decodes to), for an API reading the topics `orders`, `payments` and `a`.
//!
//! Properties: decoding either fails with a message or gives valid entries (a known topic,
//! partition and offset ≥ 0, at most `MAX_ENTRIES`); encoding those entries decodes back to
//! them, less those at offset 0 (a cursor that does not name a partition resumes it from 0);
//! the same bytes in URL-safe base64 parse through `KafkaCursor::parse` to the same result; the
//! largest allocation stays proportional to the input.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tidegate::message::kafka_compact_id::{decode, encode, MAX_ENTRIES, VERSION};
use tidegate::message::kafka_cursor::{KafkaCursor, TopicPartition};

use crate::alloc_guard;

const TOPICS: [&str; 3] = ["orders", "payments", "a"];

pub fn run(data: &[u8]) {
    // Most inputs should reach past the version byte.
    let mut bytes = Vec::with_capacity(data.len() + 1);
    if data.first() != Some(&VERSION) && data.first().is_some_and(|b| b & 1 == 0) {
        bytes.push(VERSION);
    }
    bytes.extend_from_slice(data);
    let bound = 48 * bytes.len() + 4096;
    let decoded = alloc_guard::bounded("compact_id::decode", bound, || decode(&bytes, &TOPICS));
    let text = URL_SAFE_NO_PAD.encode(&bytes);
    let parsed = KafkaCursor::parse(&text, &TOPICS);
    let entries = match decoded {
        Err(error) => {
            assert!(!error.message().is_empty());
            if bytes.first().is_some_and(|b| *b < 0x20) {
                assert_eq!(parsed, Err(error.message()), "{text}");
            }
            return;
        }
        Ok(entries) => entries,
    };
    assert_eq!(parsed.as_ref(), Ok(&entries), "{text}");
    assert!(entries.len() <= MAX_ENTRIES);
    for (topic, partition, next) in &entries {
        assert!(TOPICS.contains(&topic.as_str()));
        assert!(*partition >= 0 && *next >= 0);
    }
    let slots: Vec<TopicPartition> = entries
        .iter()
        .map(|(topic, partition, _)| TopicPartition {
            topic: Arc::from(topic.as_str()),
            partition: *partition,
        })
        .collect();
    let next: Vec<i64> = entries.iter().map(|(_, _, next)| *next).collect();
    let again = decode(&encode(&slots, &next), &TOPICS).expect("what we encode decodes");
    let expected: Vec<_> = entries.into_iter().filter(|e| e.2 != 0).collect();
    assert_eq!(again, expected);
}
