//! A feed consumed as a member of a Kafka consumer group (bridge thread only).
//!
//! The node joins the group (FindCoordinator, JoinGroup with the consumer protocol's "range"
//! assignor, SyncGroup), fetches only the partitions assigned to it, from the group's committed
//! offsets (OffsetFetch) or `autoOffsetReset`, and heartbeats every second. Every second and at
//! shutdown it commits (OffsetCommit) the position of the newest record that every local client
//! has had written: each shard reports its `Fanout::delivered_floor` into the feed, and the
//! record at that ring position carries the feed position after it. With no client connected
//! nothing is delivered, so nothing new is committed. A rebalance stops the fetch loops,
//! commits, and joins again; shutdown commits and leaves the group. The member subscribes to the
//! feed's topics: those listed, or those a `topicPattern` matched when the feed started. A
//! subscription's group (`groupScope: subscription`) also commits and leaves once its feed had
//! no client for the idle timeout (`SubscriptionMember`). A commit a shard waits for
//! (`cross_shard::kafka_commit_now`: an at-most-once push subscription, before its attempt)
//! wakes the beat loop at once and is committed with the delivered position.

use std::cell::{Cell, RefCell};
use std::future::Future as _;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use rskafka::client::partition::OffsetAt;
use tokio::sync::watch;

use super::connect::connect;
use super::feed::{layout_retrying, partition_client};
use super::fetch_session::{offset_at, Head, Pacing, Session, FETCH_MAX_WAIT_MS};
use super::group_requests::{
    fetch_offsets, find_coordinator, heartbeat, join, leave, member_id_lost, Commits, Joiner,
};
use super::group_wire::WireError;
use crate::config::kafka::AutoOffsetReset;
use crate::cross_shard::kafka_commit_now::furthest;
use crate::cross_shard::kafka_link::KafkaFeed;
use crate::cross_shard::kafka_subscriptions::SubscriptionGroups;
use crate::endpoint::kafka::offsets::{assigned_slots, generation_start, GenerationStart};
use crate::endpoint::kafka::plan::FeedSpec;
use crate::message::kafka_cursor::{KafkaCursor, TopicPartition};
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// How often the member heartbeats and commits.
const BEAT: Duration = Duration::from_secs(1);
/// How often a subscription's member looks whether the configured feed learnt its layout.
const LAYOUT_POLL: Duration = Duration::from_millis(100);
/// Pause before retrying after the coordinator could not be reached.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How long a stopped member tries to leave the group on a connection of its own.
const LEAVE_DEADLINE: Duration = Duration::from_secs(5);

/// Runs a group feed until `stop` turns true (or, for a subscription's group, until its feed
/// had no client for the idle timeout), then commits and leaves the group.
pub(super) async fn run_group_feed(
    spec: FeedSpec,
    group: String,
    feed: Arc<KafkaFeed>,
    metrics: Arc<KafkaMetrics>,
    mut stop: watch::Receiver<bool>,
    mut subscription: Option<SubscriptionMember>,
) {
    let client = if subscription.is_some() {
        connect(&spec.brokers, &metrics).await
    } else {
        // Told to stop before the brokers answered (its API removed meanwhile): it just ends.
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            client = connect(&spec.brokers, &metrics) => client,
        }
    };
    let slots = match &subscription {
        // Clients' cursors are read in the configured feed's layout: the member uses it too.
        Some(member) => match member.layout(&mut stop).await {
            Some(slots) => slots,
            None => return,
        },
        // A run after a stop keeps the layout clients' cursors were given in.
        None => match feed.layout() {
            Some(slots) => slots,
            None => tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => return,
                slots = layout_retrying(&client, &spec, RETRY_DELAY) => slots,
            },
        },
    };
    let head = Rc::new(RefCell::new(Head {
        encoded: spec.consumer.encode_message_id,
        slots: slots.clone(),
        next: vec![0; slots.len()],
    }));
    let joiner = Joiner {
        group: &group,
        instance: spec.consumer.group_instance_id.as_deref(),
        session_timeout_ms: i32::try_from(spec.consumer.session_timeout.as_millis())
            .unwrap_or(i32::MAX),
    };
    let mut member_id = String::new();
    // The slots fetched in the previous generation: one kept across a rebalance continues from
    // what this node already fetched (its records are in the ring), not from the last commit.
    let mut fetching: Vec<usize> = Vec::new();
    let mut unused = false;
    while !*stop.borrow() && !unused {
        if subscription
            .as_mut()
            .is_some_and(|member| member.expired(&feed))
        {
            break;
        }
        // Each request to the coordinator is raced with the stop: a JoinGroup may wait for the
        // whole rebalance. A member stopped mid-request leaves on a connection of its own (the
        // request's answer is never read).
        let mut coordinator = match until_stopped(&mut stop, find_coordinator(&spec, &group)).await
        {
            None => break,
            Some(Ok(coordinator)) => coordinator,
            Some(Err(error)) => {
                tracing::warn!(%error, %group, "cannot reach the group coordinator; retrying");
                ShardMetrics::inc(&metrics.group_errors_total);
                if matches!(error, WireError::Sasl(_)) {
                    ShardMetrics::inc(&metrics.sasl_failures_total);
                }
                until_stopped(&mut stop, tokio::time::sleep(RETRY_DELAY)).await;
                continue;
            }
        };
        let joining = join(&mut coordinator, &joiner, &mut member_id, &slots);
        let membership = match until_stopped(&mut stop, joining).await {
            None => {
                leave_anew(&spec, &group, &member_id, joiner.instance).await;
                break;
            }
            Some(Ok(membership)) => membership,
            Some(Err(error)) => {
                tracing::warn!(%error, %group, "cannot join the consumer group; retrying");
                if matches!(error, WireError::Broker(code) if member_id_lost(code)) {
                    member_id.clear();
                }
                ShardMetrics::inc(&metrics.group_errors_total);
                until_stopped(&mut stop, tokio::time::sleep(RETRY_DELAY)).await;
                continue;
            }
        };
        // Which slots this node reads in this generation, and where each starts.
        let assigned = assigned_slots(&slots, &membership.assignment);
        let fetching_offsets = fetch_offsets(&mut coordinator, &group, &slots, &assigned);
        let committed = match until_stopped(&mut stop, fetching_offsets).await {
            // Nothing was delivered in this generation: nothing to commit before leaving.
            None => {
                leave_anew(&spec, &group, &member_id, joiner.instance).await;
                break;
            }
            Some(Ok(committed)) => committed,
            Some(Err(error)) => {
                tracing::warn!(%error, %group, "cannot read the group's committed offsets; rejoining");
                ShardMetrics::inc(&metrics.group_errors_total);
                until_stopped(&mut stop, tokio::time::sleep(RETRY_DELAY)).await;
                continue;
            }
        };
        let halt = Rc::new(Cell::new(false));
        let mut loops = Vec::new();
        let mut last_committed = vec![i64::MAX; slots.len()];
        // Each assigned partition's own connection to the leader (see `feed`; `client` serves
        // metadata) and where it starts; a member told to stop meanwhile leaves at once.
        let setup = async {
            let mut prepared = Vec::with_capacity(assigned.len());
            for &slot in &assigned {
                let partition = partition_client(&client, &slots[slot]).await;
                let fetched_to = fetching.contains(&slot).then(|| head.borrow().next[slot]);
                let start = match generation_start(committed.get(&slot).copied(), fetched_to) {
                    GenerationStart::At(offset) => offset,
                    GenerationStart::Reset => offset_at(&partition, reset(&spec)).await,
                };
                prepared.push((slot, partition, start));
            }
            prepared
        };
        let Some(prepared) = until_stopped(&mut stop, setup).await else {
            // What clients were written since the last commit is committed before leaving, as
            // on any stop (where the group has an offset: a partition without one keeps
            // `autoOffsetReset` for the next member).
            let last = (0..slots.len())
                .map(|slot| committed.get(&slot).copied().unwrap_or(i64::MAX))
                .collect();
            let mut commits = Commits {
                group: &group,
                membership: &membership,
                slots: &slots,
                assigned: &assigned,
                last,
                metrics: &metrics,
            };
            let next = delivered_position(&feed).map(|cursor| cursor.next.clone());
            commits.commit(&mut coordinator, next.as_deref()).await;
            leave(&mut coordinator, &group, &member_id, joiner.instance).await;
            break;
        };
        for (slot, partition, start) in prepared {
            head.borrow_mut().next[slot] = start;
            last_committed[slot] = committed.get(&slot).copied().unwrap_or(start);
            let session = Session {
                head: head.clone(),
                log: feed.log.clone(),
                metrics: metrics.clone(),
                max_wait_ms: FETCH_MAX_WAIT_MS,
                pacing: Pacing::of(&feed, &spec),
                ends: None,
            };
            let halt = halt.clone();
            ShardMetrics::inc(&metrics.fetch_loops_running);
            loops.push(tokio::task::spawn_local(async move {
                session
                    .fetch_partition(&partition, slot, || halt.get())
                    .await;
            }));
        }
        // A member told to stop meanwhile sets no start: its feed answers 503 until it runs again.
        if !*stop.borrow() {
            feed.set_start(Arc::new(head.borrow().cursor()));
        }
        ShardMetrics::inc(&metrics.group_joins_total);
        tracing::info!(%group, generation = membership.generation, partitions = assigned.len(), "joined the Kafka consumer group");
        let mut commits = Commits {
            group: &group,
            membership: &membership,
            slots: &slots,
            assigned: &assigned,
            last: last_committed,
            metrics: &metrics,
        };
        // Beats until a rebalance, an error or shutdown; a commit a shard waits for wakes it.
        let mut last_beat = Instant::now();
        loop {
            let stopping = beat_or_wake(&mut stop, &feed).await;
            let waiters = feed.commit_now.take();
            let next = furthest_of(delivered_position(&feed), furthest(&waiters));
            commits.commit(&mut coordinator, next.as_deref()).await;
            for waiter in waiters {
                let committed = assigned.contains(&waiter.slot)
                    && commits.last[waiter.slot] >= waiter.cursor.next[waiter.slot];
                waiter.answer(committed);
            }
            unused = subscription
                .as_mut()
                .is_some_and(|member| member.expired(&feed));
            if stopping || *stop.borrow() || unused {
                leave(&mut coordinator, &group, &member_id, joiner.instance).await;
                if unused {
                    tracing::info!(%group, "no client used the subscription; left its consumer group");
                }
                break;
            }
            if last_beat.elapsed() < BEAT {
                continue;
            }
            last_beat = Instant::now();
            match heartbeat(&mut coordinator, &group, &membership).await {
                Ok(()) => ShardMetrics::inc(&metrics.group_heartbeats_total),
                Err(WireError::Broker(code)) => {
                    tracing::info!(code, %group, "the consumer group rebalances; rejoining");
                    if member_id_lost(code) {
                        member_id.clear();
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, %group, "heartbeat failed; rejoining");
                    ShardMetrics::inc(&metrics.group_errors_total);
                    break;
                }
            }
        }
        halt.set(true);
        fetching = assigned;
        for task in loops {
            let _ = task.await;
        }
    }
    // Requests no generation will answer any more.
    for waiter in feed.commit_now.take() {
        waiter.answer(false);
    }
    drop(client);
}

/// `work`'s output, unless `stop` turns true (or its sender is gone) first: then `None`, and
/// `work` is dropped where it was.
async fn until_stopped<T>(
    stop: &mut watch::Receiver<bool>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        _ = stop.wait_for(|stop| *stop) => None,
        out = work => Some(out),
    }
}

/// Leaves the group on a connection of its own, within `LEAVE_DEADLINE`: for a member stopped
/// while a request to the coordinator was in flight. Without a member id (the coordinator never
/// named one) there is nothing to leave: the coordinator drops the unfinished join itself.
async fn leave_anew(spec: &FeedSpec, group: &str, member_id: &str, instance: Option<&str>) {
    if member_id.is_empty() {
        return;
    }
    let leaving = async {
        match find_coordinator(spec, group).await {
            Ok(mut coordinator) => leave(&mut coordinator, group, member_id, instance).await,
            Err(error) => {
                tracing::warn!(%error, %group, "cannot reach the group coordinator to leave the group")
            }
        }
    };
    if tokio::time::timeout(LEAVE_DEADLINE, leaving).await.is_err() {
        tracing::warn!(%group, "leaving the group took too long; the coordinator drops the member at its session timeout");
    }
}

/// Waits for the next beat, a commit request, or the stop; true when stopping.
async fn beat_or_wake(stop: &mut watch::Receiver<bool>, feed: &KafkaFeed) -> bool {
    let mut changed = std::pin::pin!(stop.changed());
    let mut wanted = std::pin::pin!(feed.commit_now.wanted());
    let woke = std::future::poll_fn(|cx| {
        if changed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        if wanted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        Poll::Pending
    });
    tokio::time::timeout(BEAT, woke).await == Ok(true)
}

/// Per slot, the further of the delivered position and the requested one.
fn furthest_of(
    delivered: Option<Arc<KafkaCursor>>,
    requested: Option<Box<[i64]>>,
) -> Option<Box<[i64]>> {
    match (delivered, requested) {
        (None, requested) => requested,
        (Some(delivered), None) => Some(delivered.next.clone()),
        (Some(delivered), Some(mut requested)) => {
            for (slot, offset) in requested.iter_mut().zip(delivered.next.iter()) {
                *slot = (*slot).max(*offset);
            }
            Some(requested)
        }
    }
}

/// What a subscription's group member has beyond a per-API one: the configured feed (whose
/// partition layout it uses) and when to end (once its feed had no client for the idle
/// timeout).
pub(super) struct SubscriptionMember {
    groups: Arc<SubscriptionGroups>,
    configured: Arc<KafkaFeed>,
    subscription: String,
    timeout: Duration,
    /// Leases taken when last seen, and since when that count has not moved with none held.
    seen: u64,
    since: Instant,
}

impl SubscriptionMember {
    /// What the member of `subscription`'s `feed` (a subscription of `configured`) needs;
    /// `None` when `spec` has no subscription groups.
    pub(super) fn new(
        spec: &FeedSpec,
        groups: Arc<SubscriptionGroups>,
        configured: Arc<KafkaFeed>,
        subscription: String,
        feed: &KafkaFeed,
    ) -> Option<SubscriptionMember> {
        let timeout = spec.consumer.subscription_groups?.idle_timeout;
        Some(SubscriptionMember {
            groups,
            configured,
            subscription,
            timeout,
            seen: feed.usage.taken(),
            since: Instant::now(),
        })
    }

    /// The configured feed's partitions, once it learnt them; `None` if the bridge stops first.
    async fn layout(&self, stop: &mut watch::Receiver<bool>) -> Option<Arc<[TopicPartition]>> {
        loop {
            if let Some(start) = self.configured.start() {
                return Some(start.slots.clone());
            }
            if *stop.borrow() {
                return None;
            }
            let _ = tokio::time::timeout(LAYOUT_POLL, stop.changed()).await;
        }
    }

    /// True once the feed had no client for the timeout; it is then closed (no client can
    /// lease it any more, a new one opens a new feed).
    fn expired(&mut self, feed: &Arc<KafkaFeed>) -> bool {
        let taken = feed.usage.taken();
        if feed.usage.leases() > 0 || taken != self.seen {
            self.seen = taken;
            self.since = Instant::now();
            return false;
        }
        self.since.elapsed() >= self.timeout
            && self.groups.close_if_unused(&self.subscription, feed, taken)
    }
}

fn reset(spec: &FeedSpec) -> OffsetAt {
    match spec.consumer.auto_offset_reset {
        AutoOffsetReset::Latest => OffsetAt::Latest,
        AutoOffsetReset::Earliest => OffsetAt::Earliest,
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
