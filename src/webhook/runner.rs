//! One push subscription on its owner shard: consumes its API's endpoint like a subscriber
//! (a bounded `OutboundQueue`: when the callback is slow the subscription falls behind in its
//! cursor, nothing piles up), delivers up to its concurrency at a time, settles outcomes in
//! order, and follows its status (paused, closed) within `CHECK_INTERVAL`.
//!
//! Pausing, closing or retiring it (`live.rs`: its subscription was removed or changed) drains
//! it: the tries in progress finish, nothing more is taken or retried. Only the shard's shutdown
//! abandons a try in progress. A runner that replaces another (a changed subscription) starts
//! once that one has ended, from its resume position when the source is the same one.
//!
//! `qos: at-most-once`: each message is acknowledged (resume position, queue mark, sink
//! `taken`, and over a Kafka group an offset commit the broker accepted: `commit_first.rs`)
//! before its only try, so a failed delivery is dropped, never retried nor re-delivered.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::commit_first::{self, Committed};
use super::deliver::Target;
use super::join::join_all;
use super::metrics::{State, SubscriptionCounters};
use super::outcome::{Outcome, OutcomeSink};
use crate::config::push_model::Ordering;
use crate::config::webhook::WebhookQos;
use crate::config::{OutboundConfig, SlowClientPolicy, SubscriptionStatus};
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::endpoint::{Endpoint, EndpointError};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;
use crate::security::ShardSecurity;
use crate::shard::LocalSignal;

/// How often the subscription's status is checked (a closed one stops within a second).
pub const CHECK_INTERVAL: Duration = crate::security::live::CHECK_INTERVAL;
/// Wait before subscribing again after the endpoint refused.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// A subscription owned by this shard.
pub struct Runner {
    /// What every delivery of the subscription shares.
    target: Target,
    /// The API whose endpoint it consumes (as routed when the runner was built).
    api: Rc<crate::deployed::Api>,
    /// Told each message's outcome (the source's acknowledgement).
    sink: Rc<dyn OutcomeSink>,
    /// The shard's registry view, where the subscription's status is read.
    security: Rc<ShardSecurity>,
    /// The shard's counters its outbound queue reports to.
    shard_metrics: Arc<ShardMetrics>,
    /// The bound in payload bytes of its queue (`gateway.outbound.maxQueuedBytes`).
    max_queued_bytes: usize,
    /// The shard's shutdown: abandons the tries in progress.
    shutdown: Rc<LocalSignal>,
    /// The last message acknowledged: where consumption resumes.
    resume: RefCell<Option<MessageId>>,
    /// Fired to drain and end it (its subscription was removed or changed).
    retire: LocalSignal,
    /// Fired once `run` has returned (or its task was dropped).
    ended: LocalSignal,
    /// The runner it replaces: `run` starts once that one ended; with `true`, from its resume
    /// position (same source).
    predecessor: RefCell<Option<(Rc<Runner>, bool)>>,
    /// How the last run ended.
    stopped: Cell<bool>,
}

/// How an active period is asked to end.
#[derive(Default)]
pub struct Stop {
    /// Shutdown: tries in progress are abandoned (their messages are not acknowledged).
    pub abort: LocalSignal,
    /// Paused, closed, retired: tries in progress finish; nothing more is taken or retried.
    pub drain: LocalSignal,
}

impl Stop {
    /// Resolves once either fired.
    pub async fn wait(&self) {
        monoio::select! {
            _ = self.abort.wait() => {}
            _ = self.drain.wait() => {}
        }
    }

    /// Whether either was fired (no new try or retry starts).
    pub fn is_fired(&self) -> bool {
        self.abort.is_fired() || self.drain.is_fired()
    }
}

/// Fires `ended` when the run's future completes or is dropped.
struct EndGuard(Rc<Runner>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.ended.fire();
    }
}

/// How an active period ended.
enum Ended {
    /// Paused or closed (the status watch fired), or shutdown.
    Interrupted,
    /// The queue ended (slow, or the source closed it): subscribe again from `resume`.
    Resubscribe,
    /// A message could not be delivered nor dead-lettered: consumption stops.
    Stopped,
}

impl Runner {
    /// A runner (not started: spawn [`Runner::run`]) delivering to `target` what `api`'s
    /// endpoint publishes, through a queue bounded by the API's `maxQueuedMessages` and
    /// `max_queued_bytes`; outcomes go to `sink`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: Target,
        api: Rc<crate::deployed::Api>,
        sink: Rc<dyn OutcomeSink>,
        security: Rc<ShardSecurity>,
        shard_metrics: Arc<ShardMetrics>,
        max_queued_bytes: usize,
        shutdown: Rc<LocalSignal>,
    ) -> Runner {
        Runner {
            target,
            api,
            sink,
            security,
            shard_metrics,
            max_queued_bytes,
            shutdown,
            resume: RefCell::new(None),
            retire: LocalSignal::new(),
            ended: LocalSignal::new(),
            predecessor: RefCell::new(None),
            stopped: Cell::new(false),
        }
    }

    /// This runner starts after `previous` ended; from its resume position when `same_source`.
    pub fn replacing(self, previous: Rc<Runner>, same_source: bool) -> Runner {
        *self.predecessor.borrow_mut() = Some((previous, same_source));
        self
    }

    /// Drains and ends the runner (its subscription was removed or changed).
    pub fn retire(&self) {
        self.retire.fire();
    }

    /// True once `run` returned.
    pub fn has_ended(&self) -> bool {
        self.ended.is_fired()
    }

    /// True when it ended on a message it could not deliver (no DLQ): a new deployment starts it
    /// again from that message.
    pub fn stopped_on_a_message(&self) -> bool {
        self.stopped.get()
    }

    fn status(&self) -> SubscriptionStatus {
        let id = &self.target.subscription;
        self.security
            .view
            .with(|snapshot| snapshot.push_status(id, SystemTime::now()))
    }

    fn concurrency(&self) -> usize {
        match (self.target.options.qos, self.target.push.ordering) {
            (WebhookQos::AtLeastOnce | WebhookQos::AtMostOnce, _) => 1,
            (_, Ordering::Strict) => 1,
            (_, Ordering::Concurrent(n)) => n,
        }
    }

    /// Runs until the subscription is closed, retired or stops, or the shard shuts down.
    pub async fn run(self: Rc<Self>) {
        let _ended = EndGuard(self.clone());
        let predecessor = self.predecessor.borrow_mut().take();
        if let Some((previous, same_source)) = predecessor {
            monoio::select! {
                _ = self.shutdown.wait() => return,
                _ = previous.ended.wait() => {}
            }
            if same_source {
                *self.resume.borrow_mut() = previous.resume.borrow().clone();
            }
        }
        let counters = self.target.counters.clone();
        loop {
            if self.shutdown.is_fired() || self.retire.is_fired() {
                return;
            }
            match self.status() {
                SubscriptionStatus::Accepted => {}
                SubscriptionStatus::Closed | SubscriptionStatus::Rejected => {
                    if counters.state() != State::Closed as u64 {
                        tracing::info!(subscription = %self.target.subscription, "push subscription closed; deliveries stop");
                    }
                    counters.set_state(State::Closed);
                    return;
                }
                SubscriptionStatus::Paused | SubscriptionStatus::Pending => {
                    counters.set_state(State::Paused);
                    monoio::select! {
                        _ = self.shutdown.wait() => return,
                        _ = self.retire.wait() => return,
                        _ = monoio::time::sleep(CHECK_INTERVAL) => continue,
                    }
                }
            }
            let stop = Stop::default();
            let ended = monoio::select! {
                ended = self.active(&stop) => ended,
                _ = self.watch(&stop) => Ended::Interrupted,
            };
            match ended {
                Ended::Interrupted | Ended::Resubscribe => {}
                Ended::Stopped => {
                    self.stopped.set(true);
                    counters.set_state(State::Stopped);
                    tracing::error!(
                        subscription = %self.target.subscription,
                        "push subscription stopped on a message it could not deliver (no DLQ); it resumes from that message after a restart or reload"
                    );
                    return;
                }
            }
        }
    }

    /// Fires `stop` once the subscription is no longer active (drain) or the shard stops
    /// (abort); then waits for `active` to wind down (it never resolves itself).
    async fn watch(&self, stop: &Stop) {
        loop {
            monoio::select! {
                _ = self.shutdown.wait() => {
                    stop.abort.fire();
                    break;
                }
                _ = self.retire.wait() => {
                    stop.drain.fire();
                    break;
                }
                _ = monoio::time::sleep(CHECK_INTERVAL) => {
                    if self.status() != SubscriptionStatus::Accepted {
                        stop.drain.fire();
                        break;
                    }
                }
            }
        }
        // A shutdown during a drain still abandons the tries in progress.
        if !stop.abort.is_fired() {
            self.shutdown.wait().await;
            stop.abort.fire();
        }
        std::future::pending::<()>().await
    }

    fn at_most_once(&self) -> bool {
        self.target.options.qos == WebhookQos::AtMostOnce
    }

    async fn active(&self, stop: &Stop) -> Ended {
        let outbound = OutboundConfig {
            max_queued_messages: self.target.options.max_queued_messages,
            max_queued_bytes: self.max_queued_bytes,
            slow_client_policy: SlowClientPolicy::Disconnect,
        };
        let queue = Rc::new(OutboundQueue::new(&outbound, self.shard_metrics.clone()));
        let after = self.resume.borrow().clone();
        let subscribed =
            self.api
                .endpoint
                .subscribe(after, queue.clone(), Some(&self.target.subscription));
        let subscription = match subscribed {
            Ok((subscription, _)) => subscription,
            Err(EndpointError::Gone { oldest, .. }) => {
                tracing::warn!(subscription = %self.target.subscription, oldest, "the subscription fell out of its topic's retention; it resumes from the oldest retained message (a gap)");
                *self.resume.borrow_mut() = None;
                return Ended::Resubscribe;
            }
            Err(error) => {
                tracing::warn!(subscription = %self.target.subscription, %error, detail = error.detail().unwrap_or(""), "cannot consume the API's endpoint; trying again");
                monoio::select! {
                    _ = stop.wait() => return Ended::Interrupted,
                    _ = monoio::time::sleep(RESUBSCRIBE_DELAY) => return Ended::Resubscribe,
                }
            }
        };
        self.target.counters.set_state(State::Active);
        let mut batch: Vec<Message> = Vec::new();
        loop {
            monoio::select! {
                _ = stop.wait() => return Ended::Interrupted,
                ready = queue.ready() => match ready {
                    Ok(()) => {}
                    // A finite source (Mock messageCount) ended: nothing more will come.
                    Err(QueueEnd::Finished) => {
                        stop.wait().await;
                        return Ended::Interrupted;
                    }
                    Err(QueueEnd::SlowClient | QueueEnd::Closed) => return Ended::Resubscribe,
                    Err(QueueEnd::Unavailable) => {
                        // No reader free for its position now: again after a pause.
                        monoio::select! {
                            _ = stop.wait() => return Ended::Interrupted,
                            _ = monoio::time::sleep(RESUBSCRIBE_DELAY) => return Ended::Resubscribe,
                        }
                    }
                }
            }
            batch.clear();
            queue.drain_into(self.concurrency(), &mut batch);
            for message in &batch {
                self.sink.taken(message);
                if self.at_most_once() {
                    // Acknowledged before its only try: never delivered twice.
                    *self.resume.borrow_mut() = Some(message.id.clone());
                    queue.mark_delivered(message.id.clone());
                }
            }
            // Only a batch with something to attempt waits for a commit: skipped messages are
            // committed with the group's next periodic commit (a narrow channel on a busy API
            // would otherwise pay a broker round trip per message it never delivers).
            let attempts = batch.iter().any(|m| self.admits(m));
            if let (true, true, Some(last)) = (self.at_most_once(), attempts, batch.last()) {
                match commit_first::before_attempt(&subscription, &last.id, stop).await {
                    Committed::Yes => {}
                    Committed::Interrupted => {
                        self.commit_abandoned(&batch);
                        return Ended::Interrupted;
                    }
                    Committed::No(why) => {
                        self.not_committed(&batch, why);
                        continue;
                    }
                }
            }
            let deliveries = batch.iter().map(|m| self.in_channel(m, stop)).collect();
            let outcomes = join_all(deliveries).await;
            let settled = self.settle(&queue, &batch, outcomes);
            self.update_lag();
            if stop.is_fired() {
                return Ended::Interrupted;
            }
            if !settled {
                return Ended::Stopped;
            }
        }
    }

    /// Delivers `message`, or skips it (acknowledged, no attempt) when it is outside the
    /// subscription's `channel`.
    async fn in_channel(&self, message: &Message, stop: &Stop) -> Outcome {
        if !self.admits(message) {
            SubscriptionCounters::add(&self.target.counters.skipped, 1);
            return Outcome::Skipped;
        }
        self.target.deliver(message, stop).await
    }

    /// Whether `message` lies in the subscription's channel (every message without one).
    fn admits(&self, message: &Message) -> bool {
        self.target.push.channel.as_ref().is_none_or(|channel| {
            let topic = message
                .metadata
                .iter()
                .find(|(name, _)| name == "topic")
                .map(|(_, topic)| topic.as_str());
            channel.admits(topic)
        })
    }

    /// At-most-once messages whose offset commit failed: not delivered (skipped, never
    /// repeated), counted and logged.
    fn not_committed(&self, batch: &[Message], why: &str) {
        let counters = &self.target.counters;
        SubscriptionCounters::add(&counters.commit_failures, batch.len() as u64);
        SubscriptionCounters::add(&counters.dropped, batch.len() as u64);
        if let Some(suppressed) = self.target.log.admit(std::time::Instant::now()) {
            tracing::warn!(subscription = %self.target.subscription, messages = batch.len(), why, suppressed, "at-most-once: the offset commit before the attempt failed; the messages are not delivered");
        }
        for message in batch {
            self.sink.settled(message, &Outcome::Dropped);
        }
    }

    /// At-most-once messages whose offset commit was still unanswered when the subscription
    /// stopped (paused, closed, changed, or the gateway shutting down): they were acknowledged
    /// when taken (the resume position is past them), so no runner delivers them. Counted as
    /// dropped and logged once, like a failed commit (the commit itself may still land, so it is
    /// not counted as failed).
    fn commit_abandoned(&self, batch: &[Message]) {
        SubscriptionCounters::add(&self.target.counters.dropped, batch.len() as u64);
        tracing::warn!(subscription = %self.target.subscription, messages = batch.len(), "at-most-once: the subscription stopped while the offset commit before the attempt was unanswered; the messages are not delivered");
        for message in batch {
            self.sink.settled(message, &Outcome::Dropped);
        }
    }

    /// Tells the outcomes in order; stops at the first that does not acknowledge (what follows
    /// is re-delivered from the resume point). False when consumption must stop.
    fn settle(&self, queue: &OutboundQueue, batch: &[Message], outcomes: Vec<Outcome>) -> bool {
        let mut acknowledged = true;
        for (message, outcome) in batch.iter().zip(outcomes) {
            if acknowledged && outcome.acknowledges() {
                self.sink.settled(message, &outcome);
                if !self.at_most_once() {
                    *self.resume.borrow_mut() = Some(message.id.clone());
                    queue.mark_delivered(message.id.clone());
                }
            } else if acknowledged {
                acknowledged = false;
                self.sink.settled(message, &outcome);
            } else {
                let interrupted = Outcome::Stopped(super::outcome::StopReason::Interrupted);
                self.sink.settled(message, &interrupted);
            }
        }
        acknowledged
    }

    fn update_lag(&self) {
        if let Endpoint::InMemory(topic) = &*self.api.endpoint {
            let newest = topic.log().lock().next_position().saturating_sub(1);
            let acked = self
                .resume
                .borrow()
                .as_ref()
                .map_or(newest, MessageId::sequence);
            let lag = newest.saturating_sub(acked);
            self.target
                .counters
                .lag
                .store(lag, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
