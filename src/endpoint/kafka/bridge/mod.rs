//! The Kafka bridge: one thread running a current-thread tokio runtime, because rskafka needs
//! tokio (its sockets, timers and tasks). tokio never leaves `bridge/`: the shards talk to
//! the bridge only through `cross_shard::kafka_link`.
//!
//! The bridge runs every feed (fetch loops that append to node buffers), the catch-up fetches
//! clients ask for, the consumer group members and the producers. Everything on it is
//! single-threaded (`LocalSet`), so its state is `Rc`/`RefCell` like a shard's.
//!
//! # Which way the dependencies go
//! ```text
//! runtime ──KafkaBridge──▶ bridge/ ──▶ plan.rs (what to run), and the sans-IO helpers it acts on:
//!                             │        offsets.rs, group_assign.rs, murmur2.rs, produce_failure.rs
//!                             ▼
//!                 cross_shard::kafka_link ◀── shard side (mod.rs, local_feed.rs, catch_up.rs,
//!                                             cursor_end.rs, subscription_feeds.rs)
//! ```
//! The bridge's surface is [`KafkaBridge`] alone (re-exported as `endpoint::kafka::KafkaBridge`,
//! for the runtime that starts it); everything else here is private to `bridge/`. The shard side
//! never names `bridge/`: it sends `BridgeCommand`s and reads the node buffers through
//! `cross_shard::kafka_link`. The bridge names, of the rest of `endpoint::kafka`, only the plan and
//! the sans-IO helpers above, which name nothing back. `tests/module_layers.rs` checks both.
//!
//! Files: `connect.rs` connects to the brokers (TLS, SASL, bounded retries), `feed.rs` starts a
//! feed (layout, partition connections), `feed_runs.rs` starts and stops feeds with their APIs,
//! `fetch_session.rs` is the fetch loop every reader runs, `catch_up.rs` the shared catch-up
//! readers, `ends.rs` the past-the-log-end checks, `group*.rs` the consumer group protocol
//! (rskafka has none: members, requests, wire, SASL), `produce.rs` the producers.

mod catch_up;
mod connect;
mod ends;
mod feed;
mod feed_runs;
mod fetch_session;
mod group;
mod group_requests;
mod group_sasl;
mod group_wire;
mod produce;

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use feed::learn_layout;
use feed_runs::FeedRuns;
use group::{run_group_feed, SubscriptionMember};
use produce::Producers;

use crate::cross_shard::kafka_link::{BridgeCommand, KafkaFeed, KafkaInUse, KafkaLink};
use crate::cross_shard::kafka_subscriptions::SubscriptionGroups;
use crate::endpoint::kafka::plan::KafkaPlan;
use crate::metrics::KafkaMetrics;

/// A running bridge; dropping it stops the thread.
pub struct KafkaBridge {
    link: KafkaLink,
    metrics: Arc<KafkaMetrics>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaBridge {
    /// Starts the bridge for `plan` (not empty), with buffers for `shards` shards, running the
    /// feeds and producers `used` marks (`KafkaPlan::in_use`).
    pub fn start(plan: Arc<KafkaPlan>, shards: usize, used: KafkaInUse) -> io::Result<KafkaBridge> {
        let feeds: Vec<Arc<KafkaFeed>> = plan
            .feeds
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                Arc::new(KafkaFeed::new(
                    &format!("kafka-feed-{index}"),
                    spec.consumer.max_retained_messages,
                    spec.consumer.max_retained_bytes,
                    shards,
                ))
            })
            .collect();
        let metrics = Arc::new(KafkaMetrics::default());
        let subscription_groups = plan
            .feeds
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let options = spec.consumer.subscription_groups?;
                Some(Arc::new(SubscriptionGroups::new(
                    index,
                    options.max,
                    shards,
                    spec.consumer.max_retained_messages,
                    spec.consumer.max_retained_bytes,
                    metrics.clone(),
                )))
            })
            .collect();
        let (link, commands) = KafkaLink::new(feeds.clone(), subscription_groups);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread_metrics = metrics.clone();
        let thread = std::thread::Builder::new()
            .name("tidegate-kafka".to_owned())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, serve(plan, feeds, used, commands, thread_metrics));
            })?;
        Ok(KafkaBridge {
            link,
            metrics,
            thread: Some(thread),
        })
    }

    /// The shards' handle.
    pub fn link(&self) -> &KafkaLink {
        &self.link
    }

    /// Runs the feeds and producers `used` marks and stops the others (`KafkaPlan::in_use` of
    /// the configuration being applied).
    pub fn in_use(&self, used: KafkaInUse) {
        self.link.in_use(used);
    }

    /// The bridge's counters.
    pub fn metrics(&self) -> &Arc<KafkaMetrics> {
        &self.metrics
    }
}

impl Drop for KafkaBridge {
    fn drop(&mut self) {
        self.link.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The bridge's main task: starts the feeds and producers `used` marks, then serves requests
/// until told to stop.
async fn serve(
    plan: Arc<KafkaPlan>,
    feeds: Vec<Arc<KafkaFeed>>,
    used: KafkaInUse,
    commands: flume::Receiver<BridgeCommand>,
    metrics: Arc<KafkaMetrics>,
) {
    // Subscription group members commit and leave their groups at shutdown: they are told,
    // then awaited.
    let (stop_groups, stopping) = tokio::sync::watch::channel(false);
    let mut members: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    // Per feed: its partition connections, through which clients' positions are checked.
    let connections: Vec<ends::FeedPartitions> =
        plan.feeds.iter().map(|_| Default::default()).collect();
    let end_checks = Rc::new(Cell::new(0));
    for (spec, feed) in plan.feeds.iter().zip(feeds.iter()) {
        // Its subscriptions' groups are joined when their first client comes; the feed itself
        // only learns the layout clients' cursors are read in.
        if spec.consumer.per_subscription_groups() {
            tokio::task::spawn_local(learn_layout(spec.clone(), feed.clone(), metrics.clone()));
        }
    }
    let mut runs = FeedRuns::new(
        plan.clone(),
        feeds.clone(),
        metrics.clone(),
        connections.clone(),
    );
    runs.set(&used.feeds);
    let producers = Producers::new(&plan.producers, plan.producer_linger, metrics.clone());
    producers.set(&used.producers);
    // Per feed: the connections all its catch-up readers share (opened by the first).
    let mut catch_up_connections: Vec<catch_up::SharedConnections> =
        plan.feeds.iter().map(|_| Default::default()).collect();
    while let Ok(command) = commands.recv_async().await {
        match command {
            BridgeCommand::Produce(request) => {
                let producers = producers.clone();
                tokio::task::spawn_local(async move { producers.produce(request).await });
            }
            BridgeCommand::CatchUp(request) => {
                let (Some(spec), Some(connections)) = (
                    plan.feeds.get(request.feed).cloned(),
                    catch_up_connections.get(request.feed),
                ) else {
                    continue;
                };
                catch_up::spawn(spec, request, connections, &metrics);
            }
            BridgeCommand::CheckEnds(check) => {
                let (Some(feed), Some(partitions)) =
                    (feeds.get(check.feed).cloned(), connections.get(check.feed))
                else {
                    let _ = check.reply.send(None);
                    continue;
                };
                ends::spawn(check, feed, partitions, &end_checks, &metrics);
            }
            BridgeCommand::JoinSubscription(join) => {
                let Some(spec) = plan.feeds.get(join.groups.feed).cloned() else {
                    continue;
                };
                // Finished members are dropped so the list stays as long as the open groups.
                members.retain(|member| !member.is_finished());
                let base = spec.consumer.group_id.clone().unwrap_or_default();
                let group = format!("{base}.{}", join.subscription);
                let Some(configured) = feeds.get(join.groups.feed).cloned() else {
                    continue;
                };
                let member = SubscriptionMember::new(
                    &spec,
                    join.groups,
                    configured,
                    join.subscription,
                    &join.feed,
                );
                members.push(tokio::task::spawn_local(run_group_feed(
                    spec,
                    group,
                    join.feed,
                    metrics.clone(),
                    stopping.clone(),
                    member,
                )));
            }
            BridgeCommand::InUse(used) => {
                runs.set(&used.feeds);
                producers.set(&used.producers);
                catch_up::close_unused(&mut catch_up_connections, &used.feeds);
            }
            BridgeCommand::Shutdown => break,
        }
    }
    let _ = stop_groups.send(true);
    members.extend(runs.stop_all());
    // One deadline for all of them: they commit and leave concurrently.
    let deadline = tokio::time::Instant::now() + GROUP_LEAVE_TIMEOUT;
    for member in members {
        if tokio::time::timeout_at(deadline, member).await.is_err() {
            tracing::warn!("consumer group members did not all commit and leave in time");
            break;
        }
    }
    // Returning ends `block_on`; dropping the LocalSet cancels every fetch and produce task.
}

/// How long shutdown waits for the group members' last commits and LeaveGroups (all together).
const GROUP_LEAVE_TIMEOUT: Duration = Duration::from_secs(5);
