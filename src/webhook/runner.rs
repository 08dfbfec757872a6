//! One push subscription on its owner shard: consumes its API's endpoint like a subscriber
//! (a bounded `OutboundQueue`: when the callback is slow the subscription falls behind in its
//! cursor, nothing piles up), delivers up to its concurrency at a time, settles outcomes in
//! order, and follows its status (paused, closed) within `CHECK_INTERVAL`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::deliver::Target;
use super::join::join_all;
use super::metrics::State;
use super::outcome::{Outcome, OutcomeSink};
use crate::config::push_model::Ordering;
use crate::config::webhook::WebhookQos;
use crate::config::{OutboundConfig, SlowClientPolicy, SubscriptionStatus};
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::endpoint::{Endpoint, EndpointError};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;
use crate::runtime::LocalSignal;
use crate::security::ShardSecurity;

/// How often the subscription's status is checked (a closed one stops within a second).
pub const CHECK_INTERVAL: Duration = crate::security::live::CHECK_INTERVAL;
/// Wait before subscribing again after the endpoint refused.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// A subscription owned by this shard.
pub struct Runner {
    pub target: Target,
    pub api: Rc<crate::server::Api>,
    pub sink: Rc<dyn OutcomeSink>,
    pub security: Rc<ShardSecurity>,
    pub shard_metrics: Arc<ShardMetrics>,
    pub max_queued_bytes: usize,
    pub shutdown: Rc<LocalSignal>,
    /// The last message acknowledged: where consumption resumes.
    resume: RefCell<Option<MessageId>>,
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: Target,
        api: Rc<crate::server::Api>,
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
        }
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

    /// Runs until the subscription is closed or stops, or the shard shuts down.
    pub async fn run(self: Rc<Self>) {
        let counters = self.target.counters.clone();
        loop {
            if self.shutdown.is_fired() {
                return;
            }
            match self.status() {
                SubscriptionStatus::Accepted => {}
                SubscriptionStatus::Closed | SubscriptionStatus::Rejected => {
                    counters.set_state(State::Closed);
                    tracing::info!(subscription = %self.target.subscription, "push subscription closed; deliveries stop");
                    return;
                }
                SubscriptionStatus::Paused | SubscriptionStatus::Pending => {
                    counters.set_state(State::Paused);
                    monoio::select! {
                        _ = self.shutdown.wait() => return,
                        _ = monoio::time::sleep(CHECK_INTERVAL) => continue,
                    }
                }
            }
            let interrupt = Rc::new(LocalSignal::new());
            let ended = monoio::select! {
                ended = self.active(&interrupt) => ended,
                _ = self.watch(&interrupt) => Ended::Interrupted,
            };
            match ended {
                Ended::Interrupted | Ended::Resubscribe => {}
                Ended::Stopped => {
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

    /// Fires `interrupt` once the subscription is no longer active or the shard stops; then
    /// waits for `active` to wind down (it never resolves itself).
    async fn watch(&self, interrupt: &LocalSignal) {
        loop {
            monoio::select! {
                _ = self.shutdown.wait() => break,
                _ = monoio::time::sleep(CHECK_INTERVAL) => {
                    if self.status() != SubscriptionStatus::Accepted {
                        break;
                    }
                }
            }
        }
        interrupt.fire();
        std::future::pending::<()>().await
    }

    async fn active(&self, interrupt: &LocalSignal) -> Ended {
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
        let _subscription = match subscribed {
            Ok((subscription, _)) => subscription,
            Err(EndpointError::Gone { oldest, .. }) => {
                tracing::warn!(subscription = %self.target.subscription, oldest, "the subscription fell out of its topic's retention; it resumes from the oldest retained message (a gap)");
                *self.resume.borrow_mut() = None;
                return Ended::Resubscribe;
            }
            Err(error) => {
                tracing::warn!(subscription = %self.target.subscription, %error, detail = error.detail().unwrap_or(""), "cannot consume the API's endpoint; trying again");
                monoio::select! {
                    _ = interrupt.wait() => return Ended::Interrupted,
                    _ = monoio::time::sleep(RESUBSCRIBE_DELAY) => return Ended::Resubscribe,
                }
            }
        };
        self.target.counters.set_state(State::Active);
        let mut batch: Vec<Message> = Vec::new();
        loop {
            monoio::select! {
                _ = interrupt.wait() => return Ended::Interrupted,
                ready = queue.ready() => match ready {
                    Ok(()) => {}
                    // A finite source (Mock messageCount) ended: nothing more will come.
                    Err(QueueEnd::Finished) => {
                        interrupt.wait().await;
                        return Ended::Interrupted;
                    }
                    Err(QueueEnd::SlowClient | QueueEnd::Closed) => return Ended::Resubscribe,
                }
            }
            batch.clear();
            queue.drain_into(self.concurrency(), &mut batch);
            for message in &batch {
                self.sink.taken(message);
            }
            let deliveries = batch
                .iter()
                .map(|m| self.target.deliver(m, interrupt))
                .collect();
            let outcomes = join_all(deliveries).await;
            if !self.settle(&queue, &batch, outcomes) {
                return if interrupt.is_fired() {
                    Ended::Interrupted
                } else {
                    Ended::Stopped
                };
            }
            self.update_lag();
        }
    }

    /// Tells the outcomes in order; stops at the first that does not acknowledge (what follows
    /// is re-delivered from the resume point). False when consumption must stop.
    fn settle(&self, queue: &OutboundQueue, batch: &[Message], outcomes: Vec<Outcome>) -> bool {
        let mut acknowledged = true;
        for (message, outcome) in batch.iter().zip(outcomes) {
            if acknowledged && outcome.acknowledges() {
                self.sink.settled(message, &outcome);
                *self.resume.borrow_mut() = Some(message.id.clone());
                queue.mark_delivered(message.id.clone());
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
