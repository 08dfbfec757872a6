//! Which of the bridge's feeds run: those a started API reads (`BridgeCommand::InUse`, sent at
//! start and with every apply). A feed no API reads any more stops: its fetch loops end after
//! the fetch under way, its partition connections close, a group member commits and leaves its
//! group (its partitions go to the group's other members); the connections its catch-up readers
//! share close too (`catch_up::close_unused`), as do unused producers (`produce.rs`). A
//! feed used again starts afresh, as at the gateway's start (from `autoOffsetReset`, or the
//! group's committed offsets), in the layout its clients' cursors were given in, once its
//! previous run has ended: two runs never append to its buffer at once, and its buffer is emptied
//! first, so that a client resuming from before the stop is served by the brokers (a catch-up),
//! nothing skipped or repeated.
//!
//! Feeds read through per-subscription groups (`groupScope: subscription`) fetch nothing of
//! their own: their members come and go with their clients (`group.rs`), so they are not here.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ends::FeedPartitions;
use super::feed::run_feed;
use super::group::run_group_feed;
use crate::cross_shard::kafka_link::KafkaFeed;
use crate::endpoint::kafka::plan::KafkaPlan;
use crate::metrics::KafkaMetrics;

/// The runs of a bridge's feeds, by feed index.
pub(super) struct FeedRuns {
    plan: Arc<KafkaPlan>,
    feeds: Vec<Arc<KafkaFeed>>,
    metrics: Arc<KafkaMetrics>,
    connections: Vec<FeedPartitions>,
    runs: Vec<Option<Run>>,
}

/// One run of a feed, running until told to stop.
struct Run {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Run {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

impl FeedRuns {
    /// No feed running yet; `connections`: per feed, where its run puts its partition
    /// connections (the brokers are asked through them where their logs end).
    pub(super) fn new(
        plan: Arc<KafkaPlan>,
        feeds: Vec<Arc<KafkaFeed>>,
        metrics: Arc<KafkaMetrics>,
        connections: Vec<FeedPartitions>,
    ) -> FeedRuns {
        let runs = plan.feeds.iter().map(|_| None).collect();
        FeedRuns {
            plan,
            feeds,
            metrics,
            connections,
            runs,
        }
    }

    /// Starts the feeds `used` marks that are not running and stops the running ones it does
    /// not mark.
    pub(super) fn set(&mut self, used: &[bool]) {
        for index in 0..self.runs.len() {
            if self.plan.feeds[index].consumer.per_subscription_groups() {
                continue;
            }
            let wanted = used.get(index).copied().unwrap_or(false);
            let running = self.runs[index].as_ref().is_some_and(|run| !run.stopping());
            if wanted && !running {
                self.start(index);
            } else if !wanted && running {
                if let Some(run) = &self.runs[index] {
                    let _ = run.stop.send(true);
                    // From now on its clients (of an API started again before it runs) wait:
                    // neither its old start nor its old buffer serves anyone.
                    self.feeds[index].clear_start();
                    tracing::info!(feed = index, "Kafka feed stopped: no started API reads it");
                }
            }
        }
        let running = self
            .runs
            .iter()
            .flatten()
            .filter(|run| !run.stopping())
            .count();
        self.metrics
            .feeds_running
            .store(running as u64, Ordering::Relaxed);
    }

    /// Starts feed `index` once its previous run, if any, has ended.
    fn start(&mut self, index: usize) {
        let spec = self.plan.feeds[index].clone();
        let feed = self.feeds[index].clone();
        let metrics = self.metrics.clone();
        let connections = self.connections[index].clone();
        let (stop, stopped) = watch::channel(false);
        let previous = self.runs[index].take().map(|run| run.task);
        let group = spec.consumer.group_id.clone();
        let task = tokio::task::spawn_local(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
                // What the buffer held ends where the previous run stopped, and the new run
                // starts elsewhere: a client resuming from a position in it (or at its end) is
                // fetched from the brokers (catch-up), not served what follows here. Its start
                // was cleared at the stop: until the new run has started, clients wait (503).
                feed.log.lock().clear();
            }
            match group {
                None => run_feed(spec, feed, metrics, connections, stopped).await,
                Some(group) => run_group_feed(spec, group, feed, metrics, stopped, None).await,
            }
        });
        self.runs[index] = Some(Run { stop, task });
    }

    /// Stops every feed; returns the group members' runs, which commit and leave their groups
    /// (the others end with the bridge).
    pub(super) fn stop_all(self) -> Vec<JoinHandle<()>> {
        let mut members = Vec::new();
        for (spec, run) in self.plan.feeds.iter().zip(self.runs) {
            let Some(run) = run else {
                continue;
            };
            let _ = run.stop.send(true);
            if spec.consumer.group_id.is_some() {
                members.push(run.task);
            }
        }
        self.metrics.feeds_running.store(0, Ordering::Relaxed);
        members
    }
}
