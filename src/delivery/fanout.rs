//! Fan-out of one retention ring to this shard's clients.
//!
//! Subscribers are cursors into the ring and *pull*: the fan-out copies into a client's bounded
//! queue only what fits, and refills it when the client's writer drains it (the queue's refill
//! hook). A slow client therefore costs one cursor and one bounded queue; only when its cursor
//! falls out of the ring does the slow-client policy apply (jump ahead to the oldest retained
//! message, counting the gap, or disconnect with a resume position). Resuming is a cursor too.
//! One read of the ring per batch is shared by every local subscriber, and one pass over them
//! delivers it: to the queue of a busy writer, or straight to the socket of an idle one
//! (`OutboundQueue::flush_direct`), so an idle subscriber's writer task is not woken at all.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use slab::Slab;

use crate::config::SlowClientPolicy;
use crate::cross_shard::TopicLog;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::message::kafka_cursor::{through_floor, FloorStep, KafkaCursor};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;

mod guard;
pub use guard::FanoutSubscription;

/// Most messages read from the ring per lock.
const READ_BATCH: usize = 256;

/// Where a fan-out reads from: a topic log shared by every shard (in-memory topics, the node's
/// MQTT and Kafka feeds), read by shard `shard`.
pub struct RingSource {
    /// The topic.
    pub log: Arc<TopicLog>,
    /// This shard's index.
    pub shard: usize,
}

impl RingSource {
    /// `(oldest retained position, next position)`.
    fn bounds(&self) -> (u64, u64) {
        let ring = self.log.lock();
        (ring.first_position(), ring.next_position())
    }

    /// Reads up to `max` messages from `from` into `out`; returns the oldest retained position.
    fn read(&self, from: u64, max: usize, out: &mut Vec<Message>) -> u64 {
        let ring = self.log.lock();
        ring.read(from, max, out);
        ring.first_position()
    }

    fn set_interest(&self, interested: bool) {
        self.log.set_interest(self.shard, interested);
    }
}

/// A resume cursor outside what the ring can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// The cursor's next message has been evicted.
    Gone {
        /// The cursor sent.
        cursor: u64,
        /// The oldest retained position.
        oldest: u64,
    },
    /// The cursor is past the newest message.
    Ahead {
        /// The cursor sent.
        cursor: u64,
        /// The newest position.
        latest: u64,
    },
}

/// One ring's subscribers on one shard.
pub struct Fanout {
    source: RingSource,
    subscribers: RefCell<Slab<Subscriber>>,
    policy: SlowClientPolicy,
    metrics: Arc<ShardMetrics>,
    /// Told when delivery progresses (see `set_on_progress`).
    on_progress: RefCell<Option<Box<dyn Fn()>>>,
    /// A subscriber came or left since `take_members_changed` was last asked.
    members_changed: std::cell::Cell<bool>,
    /// The queues a pass pushed to without waking their writer (`flush_direct` after the pass).
    to_flush: RefCell<Vec<Rc<OutboundQueue>>>,
}

struct Subscriber {
    queue: Rc<OutboundQueue>,
    /// Position of the next message this client should get.
    next: u64,
    /// Position of the first message this client was due (it owes nothing before it).
    start: u64,
    /// A Kafka client that resumed between ring entries: what it has already read. Cleared
    /// once the ring's positions cover it (see `message::kafka_cursor::through_floor`).
    floor: Option<Arc<KafkaCursor>>,
    /// The slow-client policy skipped messages for it (it is the slow one): it does not hold
    /// back the ring's writer (`read_floor`) until it has caught up with the ring's end.
    lagging: bool,
}

impl Fanout {
    /// A fan-out with no subscribers yet.
    pub fn new(source: RingSource, policy: SlowClientPolicy, metrics: Arc<ShardMetrics>) -> Fanout {
        Fanout {
            source,
            subscribers: RefCell::new(Slab::new()),
            policy,
            metrics,
            on_progress: RefCell::new(None),
            members_changed: std::cell::Cell::new(false),
            to_flush: RefCell::new(Vec::new()),
        }
    }

    /// Number of local subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.borrow().len()
    }

    /// Adds a subscriber that gets every message after `after` (after the newest when `None`).
    /// Returns the subscription (dropping it unsubscribes) and the position it starts after
    /// (its cursor before any message).
    pub fn subscribe(
        self: &Rc<Self>,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(FanoutSubscription, MessageId), CursorError> {
        let (first, next) = self.source.bounds();
        let start = match after {
            None => next,
            Some(MessageId::Sequence(cursor)) if cursor >= next => {
                return Err(CursorError::Ahead {
                    cursor,
                    latest: next - 1,
                })
            }
            Some(MessageId::Sequence(cursor)) if cursor + 1 < first => {
                return Err(CursorError::Gone {
                    cursor,
                    oldest: first,
                })
            }
            Some(MessageId::Sequence(cursor)) => cursor + 1,
            Some(other) => {
                return Err(CursorError::Ahead {
                    cursor: other.sequence(),
                    latest: next - 1,
                })
            }
        };
        let key = self.add(start, None, queue);
        let subscription = FanoutSubscription::new(self.clone(), key);
        Ok((subscription, MessageId::Sequence(start - 1)))
    }

    /// Adds a subscriber whose next message is ring position `start` (clamped by the ring as
    /// for any subscriber); with a `floor`, ring records the client already read are skipped.
    /// The caller (the Kafka endpoint) has matched the client's position to the ring.
    pub fn subscribe_at(
        self: &Rc<Self>,
        start: u64,
        floor: Option<Arc<KafkaCursor>>,
        queue: Rc<OutboundQueue>,
    ) -> FanoutSubscription {
        FanoutSubscription::new(self.clone(), self.add(start, floor, queue))
    }

    /// The ring this fan-out reads.
    pub fn source(&self) -> &RingSource {
        &self.source
    }

    fn add(
        self: &Rc<Self>,
        start: u64,
        floor: Option<Arc<KafkaCursor>>,
        queue: Rc<OutboundQueue>,
    ) -> usize {
        let key = {
            let mut subscribers = self.subscribers.borrow_mut();
            if subscribers.is_empty() {
                self.source.set_interest(true);
            }
            subscribers.insert(Subscriber {
                queue: queue.clone(),
                next: start,
                start,
                floor,
                lagging: false,
            })
        };
        self.members_changed.set(true);
        let weak_progress: Weak<Fanout> = Rc::downgrade(self);
        queue.set_on_delivered(Box::new(move || {
            if let Some(fanout) = weak_progress.upgrade() {
                fanout.report_progress();
            }
        }));
        let weak: Weak<Fanout> = Rc::downgrade(self);
        queue.set_refill(Box::new(move || {
            if let Some(fanout) = weak.upgrade() {
                fanout.pump_one(key);
            }
        }));
        self.pump_one(key);
        self.report_progress();
        key
    }

    /// Removes a subscriber (its `FanoutSubscription` was dropped).
    fn unsubscribe(&self, key: usize) {
        {
            let mut subscribers = self.subscribers.borrow_mut();
            if subscribers.try_remove(key).is_some() && subscribers.is_empty() {
                self.source.set_interest(false);
            }
        }
        self.members_changed.set(true);
        // A client that leaves no longer holds back acknowledgements.
        self.report_progress();
    }

    /// Removes subscriber `key` once it has been given everything before ring position `end`
    /// (to serve it from another ring); returns its queue and what it had read past its last
    /// message (a Kafka floor). The caller re-subscribes the queue elsewhere at once, which
    /// replaces the queue's hooks into this fan-out.
    /// With `drained`, only once its queue is empty too. Through `FanoutSubscription::detach_at`.
    fn detach_at(
        &self,
        key: usize,
        end: u64,
        drained: bool,
    ) -> Option<(Rc<OutboundQueue>, Option<Arc<KafkaCursor>>)> {
        let detached = {
            let mut subscribers = self.subscribers.borrow_mut();
            let subscriber = subscribers.get(key)?;
            if subscriber.next < end
                || subscriber.queue.is_ended()
                || (drained && !subscriber.queue.is_empty())
            {
                return None;
            }
            let subscriber = subscribers.remove(key);
            if subscribers.is_empty() {
                self.source.set_interest(false);
            }
            subscriber
        };
        self.members_changed.set(true);
        self.report_progress();
        Some((detached.queue, detached.floor))
    }

    /// Installs the hook told when delivery progresses (a client wrote more, or left): the
    /// owner of the ring acknowledges upstream what `delivered_floor` allows.
    pub fn set_on_progress(&self, hook: Box<dyn Fn()>) {
        *self.on_progress.borrow_mut() = Some(hook);
    }

    /// Every position up to this one has been written to each local client that was due it
    /// (`None`: no client is due anything). Clients that ended are not waited for.
    pub fn delivered_floor(&self) -> Option<u64> {
        self.subscribers
            .borrow()
            .iter()
            .filter(|(_, s)| !s.queue.is_ended())
            .map(|(_, s)| match s.queue.delivered() {
                Some(id) => id.sequence().max(s.start - 1),
                None => s.start - 1,
            })
            .min()
    }

    /// The lowest ring position a local subscriber still needs, for pacing the ring's writer
    /// (`cross_shard::read_floors`); `None` when none needs anything. Subscribers that ended,
    /// fell out of the ring or are `lagging` (the policy already treats them as slow) do not
    /// count: a writer never waits for a client that is not keeping up.
    pub fn read_floor(&self) -> Option<u64> {
        let (first, _) = self.source.bounds();
        self.subscribers
            .borrow()
            .iter()
            .filter(|(_, s)| !s.queue.is_ended() && !s.lagging && s.next >= first)
            .map(|(_, s)| s.next)
            .min()
    }

    /// True (once) when a subscriber came or left since the last call.
    pub fn take_members_changed(&self) -> bool {
        self.members_changed.replace(false)
    }

    fn report_progress(&self) {
        if let Some(hook) = self.on_progress.borrow().as_ref() {
            hook();
        }
    }

    /// Delivers what is new to every local subscriber: one read of the ring per batch, shared by
    /// all of them.
    ///
    /// A subscriber whose queue cannot take its next message (full by count *or* by bytes) is
    /// starved: it is left out of the read position from then on, and draining its queue pumps
    /// it again through the refill hook (`pump_one`). Only the slow-client policy still applies
    /// to it here, once its cursor falls out of the ring. So one stalled client never pins the
    /// read position of the others.
    ///
    /// Terminates: each pass either moves the lowest cursor forward (the subscriber at the read
    /// position takes at least one message, or skips one) or starves a subscriber, which leaves
    /// it out of every later pass; cursors cannot pass the ring's end.
    pub fn pump_all(&self) {
        let mut batch = Vec::with_capacity(READ_BATCH);
        loop {
            let (first, _) = self.source.bounds();
            let from = {
                let mut subscribers = self.subscribers.borrow_mut();
                let mut from = None;
                for (_, subscriber) in subscribers.iter_mut() {
                    // Starved subscribers too: the policy applies once they fall out of the ring.
                    if !self.catch_up(subscriber, first) || subscriber.queue.is_starved() {
                        continue;
                    }
                    if !subscriber.queue.has_room(0) {
                        subscriber.queue.mark_starved();
                        continue;
                    }
                    from = Some(from.map_or(subscriber.next, |f: u64| f.min(subscriber.next)));
                }
                from
            };
            let Some(from) = from else {
                return;
            };
            batch.clear();
            let first = self.source.read(from, READ_BATCH, &mut batch);
            let at_end = batch.len() < READ_BATCH;
            let mut to_flush = self.to_flush.take();
            for (_, subscriber) in self.subscribers.borrow_mut().iter_mut() {
                if !subscriber.queue.is_starved() && self.deliver(subscriber, first, &batch) {
                    subscriber.lagging &= !at_end;
                }
                if subscriber.queue.owes_flush() {
                    to_flush.push(subscriber.queue.clone());
                }
            }
            // Outside the borrow: a direct write reports delivery, and may refill its queue.
            for queue in to_flush.drain(..) {
                queue.flush_direct(!at_end);
            }
            *self.to_flush.borrow_mut() = to_flush;
            if batch.len() < READ_BATCH {
                return;
            }
        }
    }

    /// Refills one subscriber's queue from the ring (after it drained, or when it subscribes).
    fn pump_one(&self, key: usize) {
        let queue = self.subscribers.borrow().get(key).map(|s| s.queue.clone());
        self.pump_one_into(key);
        if let Some(queue) = queue {
            queue.flush_direct(false);
        }
    }

    fn pump_one_into(&self, key: usize) {
        let mut batch = Vec::with_capacity(READ_BATCH);
        loop {
            let Some(from) = self.subscribers.borrow().get(key).map(|s| s.next) else {
                return;
            };
            batch.clear();
            let first = self.source.read(from, READ_BATCH, &mut batch);
            let mut subscribers = self.subscribers.borrow_mut();
            let Some(subscriber) = subscribers.get_mut(key) else {
                return;
            };
            let progressed = self.deliver(subscriber, first, &batch);
            if batch.len() < READ_BATCH || !progressed {
                subscriber.lagging &= !(progressed && batch.len() < READ_BATCH);
                return;
            }
        }
    }

    /// Applies the slow-client policy to a subscriber whose cursor fell out of the ring (`first`
    /// is the oldest position retained). Returns false when the subscriber's stream has ended.
    fn catch_up(&self, subscriber: &mut Subscriber, first: u64) -> bool {
        if subscriber.queue.is_ended() {
            return false;
        }
        if subscriber.next < first {
            let lost = first - subscriber.next;
            match self.policy {
                SlowClientPolicy::DropOldest => {
                    ShardMetrics::add(&self.metrics.messages_dropped_slow_client_total, lost);
                    subscriber.next = first;
                    subscriber.lagging = true;
                }
                SlowClientPolicy::Disconnect => {
                    ShardMetrics::inc(&self.metrics.clients_disconnected_slow_total);
                    subscriber.queue.end(QueueEnd::SlowClient);
                    return false;
                }
            }
        }
        true
    }

    /// Pushes the messages of `batch` this subscriber has not had yet, as far as its queue has
    /// room. `first` is the oldest position still retained. Returns whether it took everything.
    fn deliver(&self, subscriber: &mut Subscriber, first: u64, batch: &[Message]) -> bool {
        if !self.catch_up(subscriber, first) {
            return false;
        }
        for message in batch {
            let position = message.id.sequence();
            if position < subscriber.next {
                continue;
            }
            if !subscriber.queue.has_room(message.payload.len()) {
                subscriber.queue.mark_starved();
                return false;
            }
            let out = match &subscriber.floor {
                None => message.clone(),
                Some(floor) => match through_floor(floor, message) {
                    FloorStep::Skip => {
                        subscriber.next = position + 1;
                        continue;
                    }
                    FloorStep::Deliver(merged) => merged,
                    FloorStep::Caught => {
                        subscriber.floor = None;
                        message.clone()
                    }
                },
            };
            subscriber.queue.push_deferred(out);
            subscriber.next = position + 1;
        }
        true
    }
}

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod tests;
