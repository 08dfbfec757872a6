//! A Kafka consumer position: the next offset to read in every topic-partition of a feed.
//!
//! Every record a feed delivers carries the position *after* it (one `Arc` per record per node,
//! shared by every client), so a message id is a cursor a client can hand back on any node:
//! `?cursor=`, `Last-Event-ID`, WebSocket `?cursor=`. With `encodeMessageId: true` (the default)
//! it is the compact form of `kafka_compact_id.rs` (a few bytes per partition, in URL-safe base64);
//! with `false`, the readable `topic:partition:nextOffset` joined by `,` (topic names cannot
//! contain `:` or `,`). Parsing accepts both, and the form earlier versions handed out (that
//! text in URL-safe base64). The text is rendered once per cursor, so once per record per node,
//! whatever the number of clients it reaches.

use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::kafka_compact_id as compact_id;
use crate::message::{Message, MessageId};

/// One topic-partition of a feed, in the feed's fixed order (its "slot").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

/// The next offset to read per topic-partition, in a feed's slot order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KafkaCursor {
    /// Render in the compact form (`encodeMessageId`), else as readable text.
    pub encoded: bool,
    /// The feed's slots; shared by every cursor of the feed.
    pub slots: Arc<[TopicPartition]>,
    /// `next[i]`: the next offset to deliver from `slots[i]`.
    pub next: Box<[i64]>,
    /// The text, rendered on first use (`Default::default()` when building a cursor).
    pub rendered: RenderedText,
}

/// A cursor's text once rendered. It takes no part in comparisons: it follows from the rest.
#[derive(Debug, Clone, Default)]
pub struct RenderedText(OnceLock<Box<str>>);

impl PartialEq for RenderedText {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RenderedText {}

impl PartialOrd for RenderedText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RenderedText {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl std::hash::Hash for RenderedText {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// A message id of a Kafka feed: the record's place in this node's ring (`seq`, which only
/// this node understands) and the feed position after it (which every node understands).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KafkaId {
    /// Position in this node's retention ring (0 for a cursor parsed from a client).
    pub seq: u64,
    /// The slot of the record this id belongs to (unused for a parsed cursor).
    pub slot: u32,
    /// The feed position after this record.
    pub cursor: Arc<KafkaCursor>,
}

/// A cursor a client sent, before it is matched to a feed's slots.
pub type ParsedCursor = Vec<(String, i32, i64)>;

impl KafkaCursor {
    /// A cursor of `slots` at `next`.
    pub fn new(encoded: bool, slots: Arc<[TopicPartition]>, next: Box<[i64]>) -> KafkaCursor {
        KafkaCursor {
            encoded,
            slots,
            next,
            rendered: RenderedText::default(),
        }
    }

    /// The text of this cursor (compact when `encoded`), rendered once.
    pub fn text(&self) -> &str {
        self.rendered.0.get_or_init(|| {
            if self.encoded && !self.topic_tags_collide() {
                URL_SAFE_NO_PAD
                    .encode(compact_id::encode(&self.slots, &self.next))
                    .into()
            } else if self.encoded {
                // Two topics of the feed share a hash (about one feed in 10⁹ with 3 topics):
                // the earlier form names them in full.
                URL_SAFE_NO_PAD.encode(self.plain_text()).into()
            } else {
                self.plain_text().into()
            }
        })
    }

    /// The text of this cursor, owned.
    pub fn render(&self) -> String {
        self.text().to_owned()
    }

    /// `topic:partition:nextOffset` joined by `,`: the readable form, and the one earlier
    /// versions sent in base64.
    pub fn plain_text(&self) -> String {
        let mut text = String::new();
        for (slot, next) in self.slots.iter().zip(self.next.iter()) {
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(&format!("{}:{}:{}", slot.topic, slot.partition, next));
        }
        text
    }

    /// True when two of the layout's topics have the same compact-id hash.
    fn topic_tags_collide(&self) -> bool {
        let topics = self.topics();
        let mut tags: Vec<u32> = topics.iter().map(|t| compact_id::topic_tag(t)).collect();
        tags.sort_unstable();
        tags.dedup();
        tags.len() != topics.len()
    }

    /// The names of the topics this layout reads, each once.
    pub fn topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = Vec::new();
        for slot in self.slots.iter() {
            if !topics.contains(&&*slot.topic) {
                topics.push(&slot.topic);
            }
        }
        topics
    }

    /// Parses a client's cursor: compact (its topics matched against `topics`, the names the
    /// API reads), plain text, or plain text in base64 (what earlier versions handed out).
    pub fn parse(text: &str, topics: &[&str]) -> Result<ParsedCursor, &'static str> {
        let text = text.trim();
        let plain = if text.contains(':') {
            text.to_owned()
        } else {
            let bytes = URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| EXPECTED)?;
            // Text starts with a topic character; a compact id with its version byte.
            if bytes.first().is_some_and(|first| *first < 0x20) {
                return compact_id::decode(&bytes, topics).map_err(|e| e.message());
            }
            String::from_utf8(bytes).map_err(|_| EXPECTED)?
        };
        let mut out = Vec::new();
        for entry in plain.split(',') {
            let mut parts = entry.rsplitn(3, ':');
            let (Some(next), Some(partition), Some(topic)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(EXPECTED);
            };
            let next: i64 = next.parse().map_err(|_| EXPECTED)?;
            let partition: i32 = partition.parse().map_err(|_| EXPECTED)?;
            if topic.is_empty() || next < 0 || partition < 0 {
                return Err(EXPECTED);
            }
            out.push((topic.to_owned(), partition, next));
        }
        Ok(out)
    }

    /// Checks that `parsed` names only partitions of this layout; otherwise says which one it
    /// names that is not read here, and which are (at most 8 of them), for a 400.
    pub fn check_parsed(&self, parsed: &ParsedCursor) -> Result<(), String> {
        let Some((topic, partition, _)) = parsed.iter().find(|(topic, partition, _)| {
            !self
                .slots
                .iter()
                .any(|slot| *slot.topic == **topic && slot.partition == *partition)
        }) else {
            return Ok(());
        };
        let read: Vec<String> = self
            .slots
            .iter()
            .take(8)
            .map(|slot| format!("{}:{}", slot.topic, slot.partition))
            .collect();
        let more = if self.slots.len() > 8 { ", …" } else { "" };
        Err(format!(
            "the cursor names topic '{topic}' partition {partition}, which this API does not read (it reads {}{more}); resume with a cursor this API handed out",
            read.join(", ")
        ))
    }

    /// The same slots with `parsed`'s offsets; a slot the client did not name reads from
    /// `missing` (what a client that never saw that partition should get).
    pub fn from_parsed(&self, parsed: &ParsedCursor, missing: i64) -> KafkaCursor {
        let next = self
            .slots
            .iter()
            .map(|slot| {
                parsed
                    .iter()
                    .find(|(topic, partition, _)| {
                        **topic == *slot.topic && *partition == slot.partition
                    })
                    .map_or(missing, |(_, _, next)| *next)
            })
            .collect();
        KafkaCursor::new(self.encoded, self.slots.clone(), next)
    }

    /// True when this position has read everything `other` has read (slot by slot).
    pub fn covers(&self, other: &KafkaCursor) -> bool {
        self.next.iter().zip(other.next.iter()).all(|(a, b)| a >= b)
    }

    /// Slot by slot, the further of the two positions.
    pub fn further(&self, other: &KafkaCursor) -> KafkaCursor {
        KafkaCursor::new(
            self.encoded,
            self.slots.clone(),
            self.next
                .iter()
                .zip(other.next.iter())
                .map(|(a, b)| *a.max(b))
                .collect(),
        )
    }
}

const EXPECTED: &str = "a Kafka cursor is the id of the last message received, exactly as received (or `topic:partition:nextOffset` entries joined by `,`)";

impl fmt::Display for KafkaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cursor.text())
    }
}

/// What a catching-up subscriber (one that resumed from a position that is not exactly a ring
/// entry's) does with the next ring message.
pub enum FloorStep {
    /// The client already had this record.
    Skip,
    /// Deliver this message (its id merged with the floor); the floor stays.
    Deliver(Message),
    /// The ring has passed the floor: deliver the message as is and drop the floor.
    Caught,
}

/// Decides `message` for a subscriber whose position is at least `floor` in every slot.
pub fn through_floor(floor: &KafkaCursor, message: &Message) -> FloorStep {
    let MessageId::Kafka(id) = &message.id else {
        return FloorStep::Caught;
    };
    let slot = id.slot as usize;
    let offset = id.cursor.next.get(slot).copied().unwrap_or(0) - 1;
    if floor.next.get(slot).is_some_and(|next| offset < *next) {
        return FloorStep::Skip;
    }
    if id.cursor.covers(floor) {
        return FloorStep::Caught;
    }
    let mut merged = message.clone();
    merged.id = MessageId::Kafka(KafkaId {
        seq: id.seq,
        slot: id.slot,
        cursor: Arc::new(id.cursor.further(floor)),
    });
    FloorStep::Deliver(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Arc<[TopicPartition]> {
        Arc::from(vec![
            TopicPartition {
                topic: Arc::from("orders"),
                partition: 0,
            },
            TopicPartition {
                topic: Arc::from("orders"),
                partition: 1,
            },
        ])
    }

    fn cursor(next: &[i64], encoded: bool) -> KafkaCursor {
        KafkaCursor::new(encoded, slots(), next.into())
    }

    #[test]
    fn a_cursor_naming_a_partition_not_read_here_is_refused() {
        let layout = cursor(&[0, 0], false);
        let known = KafkaCursor::parse("orders:1:4", &[]).unwrap();
        assert_eq!(layout.check_parsed(&known), Ok(()));
        let unknown_topic = KafkaCursor::parse("orders:0:1,payments:0:3", &[]).unwrap();
        let why = layout.check_parsed(&unknown_topic).unwrap_err();
        assert!(why.contains("topic 'payments' partition 0"), "{why}");
        assert!(why.contains("orders:0, orders:1"), "{why}");
        let unknown_partition = KafkaCursor::parse("orders:7:1", &[]).unwrap();
        assert!(layout.check_parsed(&unknown_partition).is_err());
    }

    #[test]
    fn renders_and_parses_both_forms() {
        let plain = cursor(&[5, 7], false);
        assert_eq!(plain.render(), "orders:0:5,orders:1:7");
        let encoded = cursor(&[5, 7], true).render();
        assert!(!encoded.contains(':'));
        // What earlier versions handed out with `encodeMessageId: true`: the text in base64.
        let old = URL_SAFE_NO_PAD.encode("orders:0:5,orders:1:7");
        assert!(encoded.len() < old.len(), "{encoded} vs {old}");
        for text in [plain.render(), encoded, old] {
            let parsed = KafkaCursor::parse(&text, &["orders"]).unwrap();
            assert_eq!(
                parsed,
                vec![("orders".into(), 0, 5), ("orders".into(), 1, 7)]
            );
        }
        assert!(KafkaCursor::parse("nonsense", &[]).is_err());
        assert!(KafkaCursor::parse("a:b:c", &[]).is_err());
        assert!(KafkaCursor::parse("orders:0:-1", &[]).is_err());
    }

    #[test]
    fn from_parsed_maps_slots_and_fills_missing() {
        let layout = cursor(&[0, 0], true);
        let parsed = vec![("orders".to_owned(), 1, 9), ("other".to_owned(), 0, 3)];
        let mapped = layout.from_parsed(&parsed, 0);
        assert_eq!(&*mapped.next, &[0, 9]);
    }

    #[test]
    fn floor_skips_seen_records_and_merges_ids_until_caught_up() {
        let floor = cursor(&[10, 3], true);
        let message = |slot: u32, next: &[i64]| Message {
            id: MessageId::Kafka(KafkaId {
                seq: 1,
                slot,
                cursor: Arc::new(cursor(next, true)),
            }),
            payload: bytes::Bytes::new(),
            kind: crate::message::PayloadKind::Unspecified,
            headers: Arc::from(Vec::new()),
            metadata: Arc::from(Vec::new()),
            timestamp_ms: 0,
        };
        // partition 1 offset 3 (next 4): new to the client, but the ring is behind on slot 0.
        match through_floor(&floor, &message(1, &[8, 4])) {
            FloorStep::Deliver(m) => assert_eq!(m.id.to_string(), cursor(&[10, 4], true).render()),
            _ => panic!("expected a merged delivery"),
        }
        // partition 0 offset 9: already seen.
        assert!(matches!(
            through_floor(&floor, &message(0, &[10, 4])),
            FloorStep::Skip
        ));
        // partition 0 offset 10: the ring now covers the floor.
        assert!(matches!(
            through_floor(&floor, &message(0, &[11, 4])),
            FloorStep::Caught
        ));
    }
}
