//! Kafka resume cursors (`message::kafka_cursor`) as text: `topic:partition:nextOffset`
//! entries joined by `,`, plain or in URL-safe base64 (the form earlier versions handed out), or
//! the compact form, from `?cursor=` or `Last-Event-ID`. The compact decoder's bytes have a
//! target of their own (`kafka_compact_id`).
//!
//! Properties: a parsed cursor has only valid entries (a topic, offsets and partitions ≥ 0); the
//! cursor the gateway would render for those entries (compact and, when the text allows it,
//! plain) parses back to the same entries (compact leaves out partitions at offset 0, which
//! resume from 0 anyway); matching against a feed's layout either names the partition it does
//! not read or maps every slot; allocation stays proportional to the text.

use std::sync::Arc;

use tidegate::message::kafka_cursor::{KafkaCursor, TopicPartition};

use crate::alloc_guard;

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let bound = 16 * text.len() + 4096;
    let Ok(parsed) = alloc_guard::bounded("KafkaCursor::parse", bound, || {
        KafkaCursor::parse(&text, &["orders", "payments"])
    }) else {
        return;
    };
    if parsed.is_empty() {
        // Only a compact id at offset 0 everywhere names no partition.
        return;
    }
    for (topic, partition, next) in &parsed {
        assert!(!topic.is_empty() && !topic.contains(','));
        assert!(*partition >= 0 && *next >= 0);
    }

    // The cursor the gateway renders for these entries reads back as them.
    let slots: Arc<[TopicPartition]> = parsed
        .iter()
        .map(|(topic, partition, _)| TopicPartition {
            topic: Arc::from(topic.as_str()),
            partition: *partition,
        })
        .collect();
    let next: Box<[i64]> = parsed.iter().map(|(_, _, next)| *next).collect();
    let mut topics: Vec<&str> = Vec::new();
    for (topic, _, _) in &parsed {
        if !topics.contains(&topic.as_str()) {
            topics.push(topic);
        }
    }
    for encoded in [true, false] {
        let rendered = KafkaCursor::new(encoded, slots.clone(), next.clone()).render();
        // Plain text is trimmed before parsing, so it cannot carry a topic that starts with
        // whitespace (only base64 can; Kafka topic names never do).
        if !encoded && parsed[0].0.starts_with(char::is_whitespace) {
            continue;
        }
        let expected: Vec<_> = parsed
            .iter()
            .filter(|(_, _, next)| !encoded || *next != 0)
            .cloned()
            .collect();
        assert_eq!(
            KafkaCursor::parse(&rendered, &topics),
            Ok(expected),
            "rendered as {rendered:?} (encoded: {encoded})"
        );
    }

    // Matched against a feed reading orders:0..2 and the input's first entry.
    let mut layout_slots: Vec<TopicPartition> = (0..3)
        .map(|partition| TopicPartition {
            topic: Arc::from("orders"),
            partition,
        })
        .collect();
    layout_slots.push(slots[0].clone());
    let layout = KafkaCursor::new(true, Arc::from(layout_slots), vec![0; 4].into_boxed_slice());
    match layout.check_parsed(&parsed) {
        Ok(()) => {
            let resumed = layout.from_parsed(&parsed, 0);
            assert_eq!(resumed.next.len(), layout.slots.len());
            assert!(resumed.covers(&layout));
            assert_eq!(resumed.further(&layout), resumed);
        }
        Err(why) => assert!(why.contains("does not read"), "{why}"),
    }
}
