//! A feed consumed as a member of a Kafka consumer group (bridge thread only).
//!
//! The node joins the group (FindCoordinator, JoinGroup with the consumer protocol's "range"
//! assignor, SyncGroup), fetches only the partitions assigned to it, from the group's committed
//! offsets (OffsetFetch) or `autoOffsetReset`, and heartbeats every second. Every second and at
//! shutdown it commits (OffsetCommit) the position of the newest record that every local client
//! has had written: each shard reports its `Fanout::delivered_floor` into the feed, and the
//! record at that ring position carries the feed position after it. With no client connected
//! nothing is delivered, so nothing new is committed. A rebalance stops the fetch loops,
//! commits, and joins again; shutdown commits and leaves the group.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use kafka_protocol::messages::leave_group_request::LeaveGroupRequest;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestTopic};
use kafka_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;
use rskafka::client::partition::OffsetAt;
use tokio::sync::watch;

use super::bridge::connect;
use super::bridge_feed::{layout, offset_at, partition_client, Head, Session, FETCH_MAX_WAIT_MS};
use super::bridge_group_wire::{GroupConnection, WireError};
use super::cursor::KafkaCursor;
use super::group_assign::{self, Assignment};
use super::plan::FeedSpec;
use crate::config::kafka::AutoOffsetReset;
use crate::cross_shard::kafka_link::KafkaFeed;
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// How often the member heartbeats and commits.
const BEAT: Duration = Duration::from_secs(1);
/// The coordinator drops a member it has not heard from for this long.
const SESSION_TIMEOUT_MS: i32 = 10_000;
/// How long the coordinator waits for every member to rejoin during a rebalance.
const REBALANCE_TIMEOUT_MS: i32 = 10_000;
/// Pause before retrying after the coordinator could not be reached.
const RETRY_DELAY: Duration = Duration::from_secs(1);

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
const UNKNOWN_MEMBER_ID: i16 = 25;

/// One generation's membership.
struct Membership {
    generation: i32,
    member_id: String,
    assignment: Assignment,
}

/// Runs a group feed until `stop` turns true, then commits and leaves the group.
pub(super) async fn run_group_feed(
    spec: FeedSpec,
    group: String,
    feed: Arc<KafkaFeed>,
    metrics: Arc<KafkaMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let client = connect(&spec.brokers, &metrics).await;
    let slots = loop {
        match layout(&client, &spec).await {
            Ok(slots) => break slots,
            Err(why) => {
                tracing::warn!(%why, "cannot read the Kafka topics' partitions; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    };
    let head = Rc::new(RefCell::new(Head {
        encoded: spec.consumer.encode_message_id,
        slots: slots.clone(),
        next: vec![0; slots.len()],
    }));
    let mut member_id = String::new();
    while !*stop.borrow() {
        let mut coordinator = match find_coordinator(&spec, &group).await {
            Ok(coordinator) => coordinator,
            Err(error) => {
                tracing::warn!(%error, %group, "cannot reach the group coordinator; retrying");
                ShardMetrics::inc(&metrics.fetch_errors_total);
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        };
        let membership = match join(&mut coordinator, &group, &member_id, &spec, &slots).await {
            Ok(membership) => membership,
            Err(error) => {
                tracing::warn!(%error, %group, "cannot join the consumer group; retrying");
                if matches!(error, WireError::Broker(UNKNOWN_MEMBER_ID)) {
                    member_id.clear();
                }
                ShardMetrics::inc(&metrics.fetch_errors_total);
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        };
        member_id = membership.member_id.clone();
        // Which slots this node reads in this generation, and where each starts.
        let assigned: Vec<usize> = (0..slots.len())
            .filter(|&i| {
                membership
                    .assignment
                    .get(&*slots[i].topic)
                    .is_some_and(|p| p.contains(&slots[i].partition))
            })
            .collect();
        let committed = match fetch_offsets(&mut coordinator, &group, &slots, &assigned).await {
            Ok(committed) => committed,
            Err(error) => {
                tracing::warn!(%error, %group, "cannot read the group's committed offsets; rejoining");
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        };
        let halt = Rc::new(Cell::new(false));
        let mut loops = Vec::new();
        let mut last_committed = vec![i64::MAX; slots.len()];
        for &slot in &assigned {
            let own = connect(&spec.brokers, &metrics).await;
            let partition = partition_client(&own, &slots[slot]).await;
            let start = match committed.get(&slot) {
                Some(&offset) => offset,
                None => offset_at(&partition, reset(&spec)).await,
            };
            head.borrow_mut().next[slot] = start;
            last_committed[slot] = start;
            let session = Session {
                head: head.clone(),
                log: feed.log.clone(),
                metrics: metrics.clone(),
                max_wait_ms: FETCH_MAX_WAIT_MS,
            };
            let halt = halt.clone();
            ShardMetrics::inc(&metrics.fetch_loops_running);
            loops.push(tokio::task::spawn_local(async move {
                let _connection = own;
                session
                    .fetch_partition(&partition, slot, || halt.get())
                    .await;
            }));
        }
        feed.set_start(Arc::new(head.borrow().cursor()));
        tracing::info!(%group, generation = membership.generation, partitions = assigned.len(), "joined the Kafka consumer group");
        let mut commits = Commits {
            group: &group,
            membership: &membership,
            slots: &slots,
            assigned: &assigned,
            last: last_committed,
        };
        // Beats until a rebalance, an error or shutdown.
        loop {
            let stopping = tokio::time::timeout(BEAT, stop.changed()).await.is_ok();
            commits.commit(&mut coordinator, &feed).await;
            if stopping || *stop.borrow() {
                leave(&mut coordinator, &group, &member_id).await;
                break;
            }
            let beat = HeartbeatRequest::default()
                .with_group_id(group_id(&group))
                .with_generation_id(membership.generation)
                .with_member_id(text(&member_id));
            match coordinator.call(&beat, HEARTBEAT_VERSION).await {
                Ok(answer) if answer.error_code == 0 => {}
                Ok(answer) => {
                    tracing::info!(code = answer.error_code, %group, "the consumer group rebalances; rejoining");
                    if answer.error_code == UNKNOWN_MEMBER_ID {
                        member_id.clear();
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, %group, "heartbeat failed; rejoining");
                    break;
                }
            }
        }
        halt.set(true);
        for task in loops {
            let _ = task.await;
        }
    }
    drop(client);
}

fn reset(spec: &FeedSpec) -> OffsetAt {
    match spec.consumer.auto_offset_reset {
        AutoOffsetReset::Latest => OffsetAt::Latest,
        AutoOffsetReset::Earliest => OffsetAt::Earliest,
    }
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

fn group_id(group: &str) -> GroupId {
    GroupId(text(group))
}

/// Asks a bootstrap server which broker coordinates `group`, and connects to it.
async fn find_coordinator(spec: &FeedSpec, group: &str) -> Result<GroupConnection, WireError> {
    let mut last = WireError::Codec("no bootstrap server".to_owned());
    for server in &spec.brokers.servers {
        let attempt = async {
            let mut bootstrap = GroupConnection::connect(server).await?;
            let request = FindCoordinatorRequest::default()
                .with_key(text(group))
                .with_key_type(0);
            let answer = bootstrap.call(&request, FIND_COORDINATOR_VERSION).await?;
            if answer.error_code != 0 {
                return Err(WireError::Broker(answer.error_code));
            }
            GroupConnection::connect(&format!("{}:{}", answer.host, answer.port)).await
        };
        match attempt.await {
            Ok(connection) => return Ok(connection),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// JoinGroup (again with the id the coordinator hands out, when it asks for one), then
/// SyncGroup; the leader computes everyone's range assignment.
async fn join(
    coordinator: &mut GroupConnection,
    group: &str,
    member_id: &str,
    spec: &FeedSpec,
    slots: &[super::cursor::TopicPartition],
) -> Result<Membership, WireError> {
    let mut member_id = member_id.to_owned();
    let joined = loop {
        let request = JoinGroupRequest::default()
            .with_group_id(group_id(group))
            .with_session_timeout_ms(SESSION_TIMEOUT_MS)
            .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
            .with_member_id(text(&member_id))
            .with_protocol_type(text("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(group_assign::subscription(&spec.consumer.topics))]);
        let answer = coordinator.call(&request, JOIN_GROUP_VERSION).await?;
        match answer.error_code {
            0 => break answer,
            MEMBER_ID_REQUIRED if member_id.is_empty() => {
                member_id = answer.member_id.to_string();
            }
            code => return Err(WireError::Broker(code)),
        }
    };
    let member_id = joined.member_id.to_string();
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
        assignment,
    })
}

/// The group's committed offsets of the `assigned` slots (a slot without one is left out).
async fn fetch_offsets(
    coordinator: &mut GroupConnection,
    group: &str,
    slots: &[super::cursor::TopicPartition],
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

/// Leaves the group so the others get this node's partitions at once.
async fn leave(coordinator: &mut GroupConnection, group: &str, member_id: &str) {
    let request = LeaveGroupRequest::default()
        .with_group_id(group_id(group))
        .with_members(vec![
            kafka_protocol::messages::leave_group_request::MemberIdentity::default()
                .with_member_id(text(member_id)),
        ]);
    match coordinator.call(&request, LEAVE_GROUP_VERSION).await {
        Ok(answer) if answer.error_code == 0 => tracing::info!(%group, "left the consumer group"),
        Ok(answer) => tracing::warn!(code = answer.error_code, %group, "leaving the group failed"),
        Err(error) => tracing::warn!(%error, %group, "leaving the group failed"),
    }
}

/// What one generation has committed, and how to commit more.
struct Commits<'a> {
    group: &'a str,
    membership: &'a Membership,
    slots: &'a [super::cursor::TopicPartition],
    assigned: &'a [usize],
    /// `last[slot]`: the offset committed (or started from) in this generation.
    last: Vec<i64>,
}

impl Commits<'_> {
    /// Commits the assigned partitions' offsets that every local client has been written past.
    async fn commit(&mut self, coordinator: &mut GroupConnection, feed: &KafkaFeed) {
        let Some(delivered) = delivered_position(feed) else {
            return;
        };
        let mut topics: BTreeMap<&str, Vec<(usize, i64)>> = BTreeMap::new();
        for &slot in self.assigned {
            let offset = delivered.next[slot];
            // Records from before this generation may carry older offsets: only move forward.
            if offset > self.last[slot] {
                topics
                    .entry(&self.slots[slot].topic)
                    .or_default()
                    .push((slot, offset));
            }
        }
        if topics.is_empty() {
            return;
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(group_id(self.group))
            .with_generation_id_or_member_epoch(self.membership.generation)
            .with_member_id(text(&self.membership.member_id))
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
                    return;
                }
                for offsets in topics.values() {
                    for &(slot, offset) in offsets {
                        self.last[slot] = offset;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, group = %self.group, "offset commit failed"),
        }
    }
}

/// The feed position after the newest record every local client has been written, if any.
fn delivered_position(feed: &KafkaFeed) -> Option<Arc<KafkaCursor>> {
    let floor = feed.delivered_floor()?;
    let ring = feed.log.lock();
    if floor < ring.first_position() || floor >= ring.next_position() {
        // Older than the buffer (a client still behind what was evicted) or nothing yet.
        return None;
    }
    let mut out = Vec::with_capacity(1);
    ring.read(floor, 1, &mut out);
    out.pop().and_then(|message| match message.id {
        crate::message::MessageId::Kafka(id) => Some(id.cursor),
        _ => None,
    })
}
