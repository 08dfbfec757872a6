//! The consumer-group requests of a group feed (bridge thread only): find the coordinator,
//! join and sync (the leader assigns partitions with the range assignor), heartbeat, read and
//! commit offsets, leave. Each is one request/response on the member's `GroupConnection`.

use std::collections::BTreeMap;

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use kafka_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestTopic};
use kafka_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::group_wire::{GroupConnection, WireError};
use crate::endpoint::kafka::group_assign::{self, Assignment};
use crate::endpoint::kafka::offsets::offsets_to_commit;
use crate::endpoint::kafka::plan::FeedSpec;
use crate::message::kafka_cursor::TopicPartition;
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// How long the coordinator waits for every member to rejoin during a rebalance.
const REBALANCE_TIMEOUT_MS: i32 = 10_000;

// Request versions (all non-flexible, understood by Kafka 2.3 and later and by tansu).
const FIND_COORDINATOR_VERSION: i16 = 2;
const JOIN_GROUP_VERSION: i16 = 5;
const SYNC_GROUP_VERSION: i16 = 3;
const HEARTBEAT_VERSION: i16 = 3;
const LEAVE_GROUP_VERSION: i16 = 3;
const OFFSET_FETCH_VERSION: i16 = 5;
const OFFSET_COMMIT_VERSION: i16 = 7;

// Kafka error codes the member acts on.
const MEMBER_ID_REQUIRED: i16 = 79;
pub(super) const UNKNOWN_MEMBER_ID: i16 = 25;
/// Another process joined under this member's `group.instance.id` since (it replaced us).
pub(super) const FENCED_INSTANCE_ID: i16 = 82;

/// True when `code` means the member id is no longer the group's: join again without one.
pub(super) fn member_id_lost(code: i16) -> bool {
    code == UNKNOWN_MEMBER_ID || code == FENCED_INSTANCE_ID
}

/// One generation's membership.
pub(super) struct Membership {
    pub(super) generation: i32,
    pub(super) member_id: String,
    /// The static membership (`group.instance.id`), sent with every request of the member.
    pub(super) instance: Option<String>,
    pub(super) assignment: Assignment,
}

/// Who joins a group, and on what terms.
pub(super) struct Joiner<'a> {
    pub(super) group: &'a str,
    /// `group.instance.id` (KIP-345): a member that comes back under it after a crash gets its
    /// own partitions at once, where a new member would wait for the old one's session timeout.
    pub(super) instance: Option<&'a str>,
    pub(super) session_timeout_ms: i32,
}

fn optional_text(value: Option<&str>) -> Option<StrBytes> {
    value.map(text)
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

fn group_id(group: &str) -> GroupId {
    GroupId(text(group))
}

/// Asks a bootstrap server which broker coordinates `group`, and connects to it.
pub(super) async fn find_coordinator(
    spec: &FeedSpec,
    group: &str,
) -> Result<GroupConnection, WireError> {
    let mut last = WireError::Codec("no bootstrap server".to_owned());
    for server in &spec.brokers.servers {
        let attempt = async {
            let mut bootstrap = GroupConnection::connect(server, &spec.brokers.security).await?;
            let request = FindCoordinatorRequest::default()
                .with_key(text(group))
                .with_key_type(0);
            let answer = bootstrap.call(&request, FIND_COORDINATOR_VERSION).await?;
            if answer.error_code != 0 {
                return Err(WireError::Broker(answer.error_code));
            }
            let coordinator = format!("{}:{}", answer.host, answer.port);
            GroupConnection::connect(&coordinator, &spec.brokers.security).await
        };
        match attempt.await {
            Ok(connection) => return Ok(connection),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// JoinGroup (again with the id the coordinator hands out, when it asks for one), then
/// SyncGroup; the leader computes everyone's range assignment. The member subscribes to the
/// topics of `slots`: the configured ones, or those a `topicPattern` matched when the feed started.
/// `member_id` is the id to join with, and is updated with the one the coordinator handed out
/// even when a later step fails, so the retry joins as the same member: a fresh id at every
/// retry would leave a member behind each time, and the group would only settle once each of
/// them timed out.
pub(super) async fn join(
    coordinator: &mut GroupConnection,
    joiner: &Joiner<'_>,
    member_id: &mut String,
    slots: &[TopicPartition],
) -> Result<Membership, WireError> {
    let group = joiner.group;
    let mut topics: Vec<String> = slots.iter().map(|slot| slot.topic.to_string()).collect();
    topics.dedup();
    let joined = loop {
        let request = JoinGroupRequest::default()
            .with_group_id(group_id(group))
            .with_session_timeout_ms(joiner.session_timeout_ms)
            .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
            .with_member_id(text(member_id))
            .with_group_instance_id(optional_text(joiner.instance))
            .with_protocol_type(text("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(group_assign::subscription(&topics))]);
        let answer = coordinator.call(&request, JOIN_GROUP_VERSION).await?;
        match answer.error_code {
            0 => break answer,
            MEMBER_ID_REQUIRED if member_id.is_empty() => {
                *member_id = answer.member_id.to_string();
            }
            code => return Err(WireError::Broker(code)),
        }
    };
    *member_id = joined.member_id.to_string();
    let member_id = member_id.clone();
    let mut assignments = Vec::new();
    if joined.leader == joined.member_id {
        let members: BTreeMap<String, Vec<String>> = joined
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    group_assign::subscribed_topics(&m.metadata),
                )
            })
            .collect();
        let mut partitions: BTreeMap<String, i32> = BTreeMap::new();
        for slot in slots {
            *partitions.entry(slot.topic.to_string()).or_default() += 1;
        }
        for (member, assignment) in group_assign::range(&members, &partitions) {
            assignments.push(
                SyncGroupRequestAssignment::default()
                    .with_member_id(text(&member))
                    .with_assignment(group_assign::assignment_payload(&assignment)),
            );
        }
    }
    let request = SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(joined.generation_id)
        .with_member_id(text(&member_id))
        .with_group_instance_id(optional_text(joiner.instance))
        .with_protocol_type(Some(text("consumer")))
        .with_protocol_name(Some(text("range")))
        .with_assignments(assignments);
    let synced = coordinator.call(&request, SYNC_GROUP_VERSION).await?;
    if synced.error_code != 0 {
        return Err(WireError::Broker(synced.error_code));
    }
    let assignment = group_assign::read_assignment(&synced.assignment).map_err(WireError::Codec)?;
    Ok(Membership {
        generation: joined.generation_id,
        member_id,
        instance: joiner.instance.map(str::to_owned),
        assignment,
    })
}

/// The group's committed offsets of the `assigned` slots (a slot without one is left out).
pub(super) async fn fetch_offsets(
    coordinator: &mut GroupConnection,
    group: &str,
    slots: &[TopicPartition],
    assigned: &[usize],
) -> Result<BTreeMap<usize, i64>, WireError> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for &slot in assigned {
        topics
            .entry(&slots[slot].topic)
            .or_default()
            .push(slots[slot].partition);
    }
    let request = OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(Some(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(text(topic)))
                        .with_partition_indexes(partitions)
                })
                .collect(),
        ));
    let answer = coordinator.call(&request, OFFSET_FETCH_VERSION).await?;
    if answer.error_code != 0 {
        return Err(WireError::Broker(answer.error_code));
    }
    let mut out = BTreeMap::new();
    for topic in &answer.topics {
        for partition in &topic.partitions {
            if partition.error_code != 0 || partition.committed_offset < 0 {
                continue;
            }
            if let Some(slot) = assigned.iter().copied().find(|&i| {
                *slots[i].topic == *topic.name.0 && slots[i].partition == partition.partition_index
            }) {
                out.insert(slot, partition.committed_offset);
            }
        }
    }
    Ok(out)
}

/// Tells the coordinator this member is alive; a broker error means a rebalance (rejoin).
pub(super) async fn heartbeat(
    coordinator: &mut GroupConnection,
    group: &str,
    membership: &Membership,
) -> Result<(), WireError> {
    let beat = HeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(membership.generation)
        .with_member_id(text(&membership.member_id))
        .with_group_instance_id(optional_text(membership.instance.as_deref()));
    match coordinator.call(&beat, HEARTBEAT_VERSION).await?.error_code {
        0 => Ok(()),
        code => Err(WireError::Broker(code)),
    }
}

/// Leaves the group so the others get this node's partitions at once.
pub(super) async fn leave(
    coordinator: &mut GroupConnection,
    group: &str,
    member_id: &str,
    instance: Option<&str>,
) {
    let request = LeaveGroupRequest::default()
        .with_group_id(group_id(group))
        .with_members(vec![MemberIdentity::default()
            .with_member_id(text(member_id))
            .with_group_instance_id(optional_text(instance))]);
    match coordinator.call(&request, LEAVE_GROUP_VERSION).await {
        Ok(answer) if answer.error_code == 0 => tracing::info!(%group, "left the consumer group"),
        Ok(answer) => tracing::warn!(code = answer.error_code, %group, "leaving the group failed"),
        Err(error) => tracing::warn!(%error, %group, "leaving the group failed"),
    }
}

/// What one generation has committed, and how to commit more.
pub(super) struct Commits<'a> {
    pub(super) group: &'a str,
    pub(super) membership: &'a Membership,
    pub(super) slots: &'a [TopicPartition],
    pub(super) assigned: &'a [usize],
    /// `last[slot]`: the offset committed (or started from) in this generation.
    pub(super) last: Vec<i64>,
    /// Counts accepted and failed commits.
    pub(super) metrics: &'a KafkaMetrics,
}

impl Commits<'_> {
    /// Commits the assigned partitions' offsets up to `next` (per slot: the position every local
    /// client has been written past, or further where a shard asked for a commit).
    pub(super) async fn commit(&mut self, coordinator: &mut GroupConnection, next: Option<&[i64]>) {
        let Some(next) = next else {
            return;
        };
        let topics = offsets_to_commit(self.slots, self.assigned, next, &self.last);
        if topics.is_empty() {
            return;
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(group_id(self.group))
            .with_generation_id_or_member_epoch(self.membership.generation)
            .with_member_id(text(&self.membership.member_id))
            .with_group_instance_id(optional_text(self.membership.instance.as_deref()))
            .with_topics(
                topics
                    .iter()
                    .map(|(topic, offsets)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(text(topic)))
                            .with_partitions(
                                offsets
                                    .iter()
                                    .map(|&(slot, offset)| {
                                        OffsetCommitRequestPartition::default()
                                            .with_partition_index(self.slots[slot].partition)
                                            .with_committed_offset(offset)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        match coordinator.call(&request, OFFSET_COMMIT_VERSION).await {
            Ok(answer) => {
                let failed = answer
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.error_code != 0);
                if let Some(failed) = failed {
                    tracing::warn!(code = failed.error_code, group = %self.group, "the broker refused an offset commit");
                    ShardMetrics::inc(&self.metrics.group_errors_total);
                    return;
                }
                ShardMetrics::inc(&self.metrics.group_commits_total);
                for offsets in topics.values() {
                    for &(slot, offset) in offsets {
                        self.last[slot] = offset;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, group = %self.group, "offset commit failed");
                ShardMetrics::inc(&self.metrics.group_errors_total);
            }
        }
    }
}
