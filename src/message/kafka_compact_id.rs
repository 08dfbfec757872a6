//! The compact form of a Kafka message id / cursor (`encodeMessageId: true`, the default).
//!
//! The text form (`topic:partition:nextOffset` per partition) grows with the topic name times
//! the partitions: with a 23-character topic and 3 partitions an SSE event was a third larger
//! than its payload needed, which showed in latency at millions of deliveries per second. The
//! compact form is bytes, in URL-safe base64 without padding:
//!
//! ```text
//! 0x01                                   version
//! per run of partitions of one topic:
//!   4 bytes   FNV-1a 32 of the topic name (big-endian): the topic, without its name
//!   varint    entries in the run (≥ 1)
//!   per entry:
//!     varint         partition (first entry) / partitions skipped since the previous one
//!     zigzag varint  next offset − the previous entry's next offset (0 before the first)
//! ```
//!
//! It stays valid on any node: a topic is named by a hash of its name, not by this node's slot
//! order or configuration order (a reordered `topics` list or a new topic matching a
//! `topicPattern` changes neither), and a partition by its number. Partitions whose next offset
//! is 0 are left out: a cursor that does not name a partition resumes it from 0 anyway. Sizes:
//! 5 bytes per topic, and per partition with records 1 byte plus the offset delta (1–3 bytes
//! when partitions hold similar counts), so 3 busy partitions of one topic take about 20
//! characters, 100 about 400–600, 1,000 about 4–6 KB (see docs/entrypoints.md for the bound).
//! The decoder refuses ids of more than [`MAX_ENTRIES`] partitions and allocates in proportion
//! to its input.

use super::kafka_cursor::TopicPartition;

/// The first byte of every compact id. Old ids decode to text, whose first byte is a topic
/// character (`[a-zA-Z0-9._-]`), never a control byte, so the forms cannot be confused.
pub const VERSION: u8 = 1;

/// The most partitions one id may name.
pub const MAX_ENTRIES: usize = 65_536;

/// Why compact bytes are not an id (the 400's text says what to do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The first byte is a version this gateway does not know.
    Version,
    /// The bytes end inside a field.
    Truncated,
    /// A varint longer than 10 bytes, or over 64 bits.
    Varint,
    /// A partition over 2³¹ − 1 or an offset outside 0..2⁶³.
    Range,
    /// More than [`MAX_ENTRIES`] partitions.
    TooMany,
    /// A topic hash that names none of the API's topics (or two of them).
    UnknownTopic,
}

impl DecodeError {
    /// The message a client gets.
    pub fn message(self) -> &'static str {
        match self {
            DecodeError::Version => "this id is in a format this gateway does not know (made by a newer version?); resume with an id this gateway handed out, or without one",
            DecodeError::Truncated | DecodeError::Varint => "this compact Kafka id is cut short or damaged; send the id exactly as it was received",
            DecodeError::Range => "this compact Kafka id holds a partition or offset out of range; send the id exactly as it was received",
            DecodeError::TooMany => "a Kafka id names at most 65536 partitions",
            DecodeError::UnknownTopic => "this id names a topic this API does not read; resume with an id this API handed out",
        }
    }
}

/// FNV-1a, 32 bits: how a compact id names a topic.
pub fn topic_tag(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |hash: u32, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The compact bytes of the position `next[i]` of `slots[i]` (slots with `next == 0` left out).
pub fn encode(slots: &[TopicPartition], next: &[i64]) -> Vec<u8> {
    // Runs of increasing partitions of one topic: (topic, entries of (step, zigzag delta)).
    let mut runs: Vec<(&str, Vec<(u64, u64)>)> = Vec::new();
    let mut last_partition = 0i32;
    let mut previous_offset = 0i64;
    for (slot, &offset) in slots.iter().zip(next) {
        if offset == 0 {
            continue;
        }
        let continues = runs
            .last()
            .is_some_and(|(topic, _)| *topic == &*slot.topic && slot.partition > last_partition);
        let step = if continues {
            (slot.partition - last_partition - 1) as u64
        } else {
            runs.push((&slot.topic, Vec::new()));
            slot.partition.max(0) as u64
        };
        let delta = zigzag(offset.wrapping_sub(previous_offset));
        runs.last_mut()
            .expect("a run was pushed")
            .1
            .push((step, delta));
        last_partition = slot.partition;
        previous_offset = offset;
    }
    let mut out = Vec::with_capacity(1 + 8 * runs.len() + 4 * slots.len());
    out.push(VERSION);
    for (topic, entries) in runs {
        out.extend_from_slice(&topic_tag(topic).to_be_bytes());
        put_varint(&mut out, entries.len() as u64);
        for (step, delta) in entries {
            put_varint(&mut out, step);
            put_varint(&mut out, delta);
        }
    }
    out
}

/// Decodes compact bytes into `(topic, partition, nextOffset)` entries; `topics` are the names
/// the API reads, which the topic hashes are matched against.
pub fn decode(bytes: &[u8], topics: &[&str]) -> Result<Vec<(String, i32, i64)>, DecodeError> {
    let (&version, mut rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    if version != VERSION {
        return Err(DecodeError::Version);
    }
    let mut out = Vec::new();
    let mut previous_offset = 0i64;
    while !rest.is_empty() {
        let (tag, after) = rest
            .split_first_chunk::<4>()
            .ok_or(DecodeError::Truncated)?;
        rest = after;
        let tag = u32::from_be_bytes(*tag);
        let mut matching = topics.iter().filter(|t| topic_tag(t) == tag);
        let topic = match (matching.next(), matching.next()) {
            (Some(topic), None) => *topic,
            _ => return Err(DecodeError::UnknownTopic),
        };
        let count = take_varint(&mut rest)?;
        if count == 0 || count > (MAX_ENTRIES - out.len()) as u64 {
            return Err(if count == 0 {
                DecodeError::Range
            } else {
                DecodeError::TooMany
            });
        }
        let mut partition: i64 = -1;
        for index in 0..count {
            let step = take_varint(&mut rest)?;
            partition = if index == 0 {
                i64::try_from(step).map_err(|_| DecodeError::Range)?
            } else {
                i64::try_from(step)
                    .ok()
                    .and_then(|step| partition.checked_add(step)?.checked_add(1))
                    .ok_or(DecodeError::Range)?
            };
            let partition = i32::try_from(partition).map_err(|_| DecodeError::Range)?;
            let delta = unzigzag(take_varint(&mut rest)?);
            let offset = previous_offset
                .checked_add(delta)
                .filter(|offset| *offset >= 0)
                .ok_or(DecodeError::Range)?;
            previous_offset = offset;
            out.push((topic.to_owned(), partition, offset));
        }
    }
    Ok(out)
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(input: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for shift in 0..10 {
        let (&byte, rest) = input.split_first().ok_or(DecodeError::Truncated)?;
        *input = rest;
        let bits = u64::from(byte & 0x7f);
        if shift == 9 && bits > 1 {
            return Err(DecodeError::Varint);
        }
        value |= bits << (7 * shift);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::Varint)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn slots(topic: &str, partitions: std::ops::Range<i32>) -> Vec<TopicPartition> {
        partitions
            .map(|partition| TopicPartition {
                topic: Arc::from(topic),
                partition,
            })
            .collect()
    }

    #[test]
    fn round_trips_runs_gaps_and_large_offsets() {
        let mut layout = slots("orders.eu-west.v2", 0..3);
        layout.extend(slots("payments", 5..8));
        let next = [66_601, 0, 66_598, i64::MAX, 1, 70_000];
        let bytes = encode(&layout, &next);
        let decoded = decode(&bytes, &["payments", "orders.eu-west.v2"]).unwrap();
        let expected: Vec<_> = layout
            .iter()
            .zip(next)
            .filter(|(_, next)| *next != 0)
            .map(|(slot, next)| (slot.topic.to_string(), slot.partition, next))
            .collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn three_busy_partitions_take_a_few_bytes_each() {
        let layout = slots("a-23-character-topic-xy", 0..3);
        let bytes = encode(&layout, &[66_601, 66_590, 66_612]);
        // version + tag + count + (1 + 3) + (1 + 1) + (1 + 1)
        assert_eq!(bytes.len(), 1 + 4 + 1 + 4 + 2 + 2, "{bytes:?}");
    }

    #[test]
    fn a_position_at_zero_everywhere_is_the_version_alone() {
        let layout = slots("orders", 0..4);
        assert_eq!(encode(&layout, &[0; 4]), vec![VERSION]);
        assert_eq!(decode(&[VERSION], &["orders"]), Ok(Vec::new()));
    }

    #[test]
    fn malformed_bytes_are_refused_with_their_reason() {
        let layout = slots("orders", 0..2);
        let bytes = encode(&layout, &[300, 400]);
        assert_eq!(decode(&[], &["orders"]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[2], &["orders"]), Err(DecodeError::Version));
        for cut in 2..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut], &["orders"]),
                Err(DecodeError::Truncated),
                "cut at {cut}"
            );
        }
        assert_eq!(decode(&bytes, &["other"]), Err(DecodeError::UnknownTopic));
        let mut overlong = vec![VERSION];
        overlong.extend_from_slice(&topic_tag("orders").to_be_bytes());
        overlong.extend_from_slice(&[0xff; 11]);
        assert_eq!(decode(&overlong, &["orders"]), Err(DecodeError::Varint));
        let mut huge = vec![VERSION];
        huge.extend_from_slice(&topic_tag("orders").to_be_bytes());
        put_varint(&mut huge, MAX_ENTRIES as u64 + 1);
        assert_eq!(decode(&huge, &["orders"]), Err(DecodeError::TooMany));
        let mut negative = vec![VERSION];
        negative.extend_from_slice(&topic_tag("orders").to_be_bytes());
        negative.extend_from_slice(&[1, 0, 1]); // one entry, partition 0, offset delta −1
        assert_eq!(decode(&negative, &["orders"]), Err(DecodeError::Range));
    }

    #[test]
    fn partitions_out_of_order_start_a_new_run() {
        let layout = vec![
            TopicPartition {
                topic: Arc::from("t"),
                partition: 4,
            },
            TopicPartition {
                topic: Arc::from("t"),
                partition: 1,
            },
        ];
        let decoded = decode(&encode(&layout, &[9, 8]), &["t"]).unwrap();
        assert_eq!(decoded, vec![("t".into(), 4, 9), ("t".into(), 1, 8)]);
    }
}
