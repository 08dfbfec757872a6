//! The in-memory endpoint: named topics living in the gateway, for broker-less pub/sub.
//!
//! Every shard has a `LocalTopic` per topic, holding its local subscribers as cursors into the
//! topic's shared retention ring (`cross_shard::TopicLog`). Subscribers *pull*: the local topic
//! copies into a client's bounded queue only what fits, and refills it when the client's writer
//! drains it. A slow client therefore costs one cursor and one bounded queue, and only when its
//! cursor falls out of the ring does the slow-client policy apply (jump ahead, counting the gap,
//! or disconnect with a resume position). Resuming is a cursor too: `?cursor=`, `Last-Event-ID`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use slab::Slab;

use crate::config::SlowClientPolicy;
use crate::cross_shard::TopicLog;
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::endpoint::{EndpointError, PublishError};
use crate::message::{Fields, Message, MessageId};
use crate::metrics::ShardMetrics;

/// Most messages read from the ring per lock.
const READ_BATCH: usize = 256;

/// One topic as seen from one shard.
pub struct LocalTopic {
    shard: usize,
    log: Arc<TopicLog>,
    metadata: Fields,
    subscribers: RefCell<Slab<Subscriber>>,
    policy: SlowClientPolicy,
    metrics: Arc<ShardMetrics>,
}

struct Subscriber {
    queue: Rc<OutboundQueue>,
    /// Position of the next message this client should get.
    next: u64,
}

impl LocalTopic {
    /// The shard-local side of `log`.
    pub fn new(
        shard: usize,
        log: Arc<TopicLog>,
        policy: SlowClientPolicy,
        metrics: Arc<ShardMetrics>,
    ) -> LocalTopic {
        let metadata: Fields = Arc::from(vec![("topic".to_owned(), log.name().to_owned())]);
        LocalTopic {
            shard,
            log,
            metadata,
            subscribers: RefCell::new(Slab::new()),
            policy,
            metrics,
        }
    }

    /// The shared log behind this topic.
    pub fn log(&self) -> &Arc<TopicLog> {
        &self.log
    }

    /// Publishes one message; returns its position.
    pub fn publish(&self, payload: Bytes, headers: Fields) -> Result<MessageId, PublishError> {
        let message = Message {
            id: MessageId::Sequence(0),
            payload,
            headers,
            metadata: self.metadata.clone(),
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let position = self
            .log
            .append(message)
            .map_err(|too_large| PublishError::TooLarge {
                max_bytes: too_large.max_bytes,
            })?;
        ShardMetrics::inc(&self.metrics.messages_published_total);
        Ok(MessageId::Sequence(position))
    }

    /// Adds a subscriber that gets every message after `after` (after the newest when `None`).
    /// Returns its key and the position it starts after (its cursor before any message).
    pub fn subscribe(
        self: &Rc<Self>,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(usize, MessageId), EndpointError> {
        let (first, next) = {
            let ring = self.log.lock();
            (ring.first_position(), ring.next_position())
        };
        let start = match after {
            None => next,
            Some(MessageId::Sequence(cursor)) if cursor >= next => {
                return Err(EndpointError::CursorAhead {
                    cursor: cursor.to_string(),
                    latest: (next - 1).to_string(),
                })
            }
            Some(MessageId::Sequence(cursor)) if cursor + 1 < first => {
                return Err(EndpointError::Gone {
                    cursor: cursor.to_string(),
                    oldest: first.to_string(),
                })
            }
            Some(MessageId::Sequence(cursor)) => cursor + 1,
        };
        let key = {
            let mut subscribers = self.subscribers.borrow_mut();
            if subscribers.is_empty() {
                self.log.set_interest(self.shard, true);
            }
            subscribers.insert(Subscriber {
                queue: queue.clone(),
                next: start,
            })
        };
        let weak: Weak<LocalTopic> = Rc::downgrade(self);
        queue.set_refill(Box::new(move || {
            if let Some(topic) = weak.upgrade() {
                topic.pump_one(key);
            }
        }));
        self.pump_one(key);
        Ok((key, MessageId::Sequence(start - 1)))
    }

    /// Removes a subscriber (its `Subscription` was dropped).
    pub fn unsubscribe(&self, key: usize) {
        let mut subscribers = self.subscribers.borrow_mut();
        if subscribers.try_remove(key).is_some() && subscribers.is_empty() {
            self.log.set_interest(self.shard, false);
        }
    }

    /// Delivers what is new to every local subscriber: one read of the ring per batch, shared by
    /// all of them.
    pub fn pump_all(&self) {
        let mut batch = Vec::with_capacity(READ_BATCH);
        loop {
            let from = match self.subscribers.borrow().iter().map(|(_, s)| s.next).min() {
                Some(from) => from,
                None => return,
            };
            batch.clear();
            let first = {
                let ring = self.log.lock();
                ring.read(from, READ_BATCH, &mut batch);
                ring.first_position()
            };
            let mut progressed = false;
            for (_, subscriber) in self.subscribers.borrow_mut().iter_mut() {
                progressed |= self.deliver(subscriber, first, &batch);
            }
            if batch.len() < READ_BATCH || !progressed {
                return;
            }
        }
    }

    /// Refills one subscriber's queue from the ring (after it drained, or when it subscribes).
    fn pump_one(&self, key: usize) {
        let mut batch = Vec::with_capacity(READ_BATCH);
        loop {
            let Some(from) = self.subscribers.borrow().get(key).map(|s| s.next) else {
                return;
            };
            batch.clear();
            let first = {
                let ring = self.log.lock();
                ring.read(from, READ_BATCH, &mut batch);
                ring.first_position()
            };
            let mut subscribers = self.subscribers.borrow_mut();
            let Some(subscriber) = subscribers.get_mut(key) else {
                return;
            };
            let progressed = self.deliver(subscriber, first, &batch);
            if batch.len() < READ_BATCH || !progressed {
                return;
            }
        }
    }

    /// Pushes the messages of `batch` this subscriber has not had yet, as far as its queue has
    /// room. `first` is the oldest position still retained. Returns whether it took everything.
    fn deliver(&self, subscriber: &mut Subscriber, first: u64, batch: &[Message]) -> bool {
        if subscriber.queue.is_ended() {
            return false;
        }
        if subscriber.next < first {
            let lost = first - subscriber.next;
            match self.policy {
                SlowClientPolicy::DropOldest => {
                    ShardMetrics::add(&self.metrics.messages_dropped_slow_client_total, lost);
                    subscriber.next = first;
                }
                SlowClientPolicy::Disconnect => {
                    ShardMetrics::inc(&self.metrics.clients_disconnected_slow_total);
                    subscriber.queue.end(QueueEnd::SlowClient);
                    return false;
                }
            }
        }
        for message in batch {
            let MessageId::Sequence(position) = message.id;
            if position < subscriber.next {
                continue;
            }
            if !subscriber.queue.has_room(message.payload.len()) {
                subscriber.queue.mark_starved();
                return false;
            }
            subscriber.queue.push(message.clone());
            subscriber.next = position + 1;
        }
        true
    }
}
