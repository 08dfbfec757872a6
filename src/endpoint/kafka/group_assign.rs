//! The consumer protocol's "range" assignor and the subscription/assignment payloads the
//! group leader exchanges (sans-IO: bytes in, bytes out).
//!
//! Range is Kafka's default assignor: for each topic, the members subscribed to it (sorted by
//! member id) get consecutive partition ranges, the first `partitions % members` one extra.
//! Using the standard payloads lets other consumers (Java, librdkafka) share a group with the
//! gateway.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedPartitions,
};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The payload versions written (read: any the crate knows).
const PAYLOAD_VERSION: i16 = 0;

/// `topic → partitions` for one member.
pub(super) type Assignment = BTreeMap<String, Vec<i32>>;

/// The JoinGroup metadata subscribing to `topics`.
pub(super) fn subscription(topics: &[String]) -> Bytes {
    let payload = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    encode(&payload)
}

/// The topics a member's JoinGroup metadata subscribes to (empty when unreadable).
pub(super) fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    decode::<ConsumerProtocolSubscription>(metadata)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// The SyncGroup payload handing `assignment` to a member.
pub(super) fn assignment_payload(assignment: &Assignment) -> Bytes {
    let payload = ConsumerProtocolAssignment::default().with_assigned_partitions(
        assignment
            .iter()
            .map(|(topic, partitions)| {
                AssignedPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(partitions.clone())
            })
            .collect(),
    );
    encode(&payload)
}

/// This member's partitions from its SyncGroup answer (empty payload: none).
pub(super) fn read_assignment(payload: &Bytes) -> Result<Assignment, String> {
    if payload.is_empty() {
        return Ok(Assignment::new());
    }
    let decoded = decode::<ConsumerProtocolAssignment>(payload)?;
    let mut out = Assignment::new();
    for entry in decoded.assigned_partitions {
        out.entry(entry.topic.0.to_string())
            .or_default()
            .extend(entry.partitions);
    }
    Ok(out)
}

/// Range assignment of `partitions` (`topic → partition count`) to `members`
/// (`member id → subscribed topics`).
pub(super) fn range(
    members: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .keys()
        .map(|member| (member.clone(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(member, _)| member)
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let per_member = count / subscribers.len() as i32;
        let extra = count % subscribers.len() as i32;
        let mut next = 0;
        for (index, member) in subscribers.into_iter().enumerate() {
            let take = per_member + i32::from((index as i32) < extra);
            if take > 0 {
                if let Some(assignment) = out.get_mut(member) {
                    assignment.insert(topic.clone(), (next..next + take).collect());
                }
            }
            next += take;
        }
    }
    out
}

fn encode<T: Encodable>(payload: &T) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(PAYLOAD_VERSION);
    // Encoding an in-memory message at a version it supports cannot fail.
    if let Err(error) = payload.encode(&mut buf, PAYLOAD_VERSION) {
        tracing::error!(%error, "cannot encode a consumer protocol payload");
    }
    buf.freeze()
}

fn decode<T: Decodable>(payload: &Bytes) -> Result<T, String> {
    let mut buf = payload.clone();
    if buf.remaining() < 2 {
        return Err("a consumer protocol payload shorter than its version".to_owned());
    }
    // Newer versions only add fields at the end; read with the newest this crate knows.
    let version = buf.get_i16().clamp(0, 3);
    T::decode(&mut buf, version).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(m, t)| (m.to_string(), t.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn range_gives_consecutive_ranges_and_the_first_members_the_extra_partitions() {
        let members = members(&[("b", &["t"]), ("a", &["t"]), ("c", &["t", "u"])]);
        let partitions = BTreeMap::from([("t".to_owned(), 7), ("u".to_owned(), 2)]);
        let out = range(&members, &partitions);
        assert_eq!(out["a"]["t"], vec![0, 1, 2]);
        assert_eq!(out["b"]["t"], vec![3, 4]);
        assert_eq!(out["c"]["t"], vec![5, 6]);
        assert_eq!(out["c"]["u"], vec![0, 1]);
        assert!(!out["a"].contains_key("u"));
    }

    #[test]
    fn payloads_round_trip() {
        let topics = vec!["orders".to_owned(), "refunds".to_owned()];
        assert_eq!(subscribed_topics(&subscription(&topics)), topics);
        let assignment = Assignment::from([("orders".to_owned(), vec![0, 2])]);
        assert_eq!(
            read_assignment(&assignment_payload(&assignment)).unwrap(),
            assignment
        );
        assert!(read_assignment(&Bytes::from_static(&[0])).is_err());
    }
}
