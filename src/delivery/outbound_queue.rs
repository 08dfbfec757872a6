//! A bounded, single-consumer queue of messages waiting to be written to one client.
//!
//! Producers (an endpoint subscription) push without ever waiting, so one slow client can never
//! stall a producer shared with other clients. When the queue is over its message or byte bound,
//! the slow-client policy decides: `drop-oldest` discards from the front (the client sees a gap,
//! counted in metrics) or `disconnect` ends the client, which can resume from its last position.
//! The consumer is the connection's writer, which drains everything pending in one go so that one
//! socket write carries many messages. While a plain-TCP stream's writer waits with nothing of its
//! own pending, the fan-out writes for it instead of waking it (`direct`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use crate::config::{OutboundConfig, SlowClientPolicy};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;

mod direct;
pub use direct::{DirectSink, Parked};

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued for the client.
    Queued,
    /// Queued, after dropping this many older messages to stay within bounds.
    DroppedOldest(usize),
    /// Not queued: the client was over its bound and is being disconnected, or already gone.
    Rejected,
}

/// Why the queue will yield no more messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEnd {
    /// The stream ended normally (e.g. the Mock endpoint's `messageCount` was reached).
    Finished,
    /// The client fell behind under the `disconnect` policy.
    SlowClient,
    /// The consumer went away; producers should stop.
    Closed,
    /// The endpoint cannot go on serving the client now (a Kafka client moved to a position no
    /// reader is free for: `consumer.maxCatchUps`): it comes back later from its position.
    /// Answered as `Kind::BrokerUnavailable`, as the same refusal is before a stream opens.
    Unavailable,
}

impl QueueEnd {
    /// What a client whose stream ended `Unavailable` is told (short: a WebSocket close reason
    /// adds the resume cursor within 123 bytes).
    pub const UNAVAILABLE_REASON: &'static str =
        "no Kafka reader free for this position now (maxCatchUps); retry shortly";
}

struct Inner {
    items: VecDeque<Message>,
    bytes: usize,
    end: Option<QueueEnd>,
    waker: Option<Waker>,
}

/// Bounded outbound queue of one client. Owned by one shard (`Rc`), never shared across threads.
pub struct OutboundQueue {
    inner: RefCell<Inner>,
    max_messages: usize,
    max_bytes: usize,
    policy: SlowClientPolicy,
    metrics: Arc<ShardMetrics>,
    /// Set by a pulling producer that stopped because the queue was full.
    starved: Cell<bool>,
    /// Called after a drain that found the queue starved, so the producer can refill it.
    refill: RefCell<Option<Box<dyn Fn()>>>,
    /// A producer task waiting in `room` for the writer to drain.
    producer: RefCell<Option<Waker>>,
    /// The last message the writer has written to the client's socket.
    delivered: RefCell<Option<MessageId>>,
    /// Called when `delivered` moves (at-least-once acknowledgement, see `delivery::Fanout`).
    on_delivered: RefCell<Option<Box<dyn Fn()>>>,
    /// The writer's direct path, when its stream has one (`direct`).
    direct: RefCell<Option<Rc<dyn DirectSink>>>,
    /// The writer waits with nothing of its own pending: the fan-out may write for it.
    parked: Cell<bool>,
    /// Messages were pushed for the direct path without waking the writer (`push_deferred`).
    deferred: Cell<bool>,
    /// A direct write left bytes for the writer to finish: `ready` resolves for it.
    handoff: Cell<bool>,
    /// `flush_direct` is under way (a refill it caused pushes for its loop to write).
    flushing: Cell<bool>,
}

impl OutboundQueue {
    /// A queue bounded by `config`'s limits.
    pub fn new(config: &OutboundConfig, metrics: Arc<ShardMetrics>) -> OutboundQueue {
        Self::with_capacity(config, config.max_queued_messages, metrics)
    }

    /// A queue whose message bound is `max_messages` (e.g. an HTTP GET batch limit) and whose
    /// byte bound and policy come from `config`.
    pub fn with_capacity(
        config: &OutboundConfig,
        max_messages: usize,
        metrics: Arc<ShardMetrics>,
    ) -> OutboundQueue {
        OutboundQueue {
            inner: RefCell::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                end: None,
                waker: None,
            }),
            max_messages: max_messages.max(1),
            max_bytes: config.max_queued_bytes.max(1),
            policy: config.slow_client_policy,
            metrics,
            starved: Cell::new(false),
            refill: RefCell::new(None),
            producer: RefCell::new(None),
            delivered: RefCell::new(None),
            on_delivered: RefCell::new(None),
            direct: RefCell::new(None),
            parked: Cell::new(false),
            deferred: Cell::new(false),
            handoff: Cell::new(false),
            flushing: Cell::new(false),
        }
    }

    /// Queues a message for the client, applying the slow-client policy when over bounds.
    pub fn push(&self, message: Message) -> PushOutcome {
        self.push_inner(message, false)
    }

    fn push_inner(&self, message: Message, defer: bool) -> PushOutcome {
        let mut inner = self.inner.borrow_mut();
        if inner.end.is_some() {
            return PushOutcome::Rejected;
        }
        let size = message.payload.len();
        let mut dropped = 0;
        while !inner.items.is_empty()
            && (inner.items.len() >= self.max_messages || inner.bytes + size > self.max_bytes)
        {
            if self.policy == SlowClientPolicy::Disconnect {
                drop(inner);
                ShardMetrics::inc(&self.metrics.clients_disconnected_slow_total);
                self.end(QueueEnd::SlowClient);
                return PushOutcome::Rejected;
            }
            let old = inner.items.pop_front().expect("checked non-empty");
            inner.bytes -= old.payload.len();
            self.account_removed(1, old.payload.len());
            dropped += 1;
        }
        inner.bytes += size;
        inner.items.push_back(message);
        ShardMetrics::inc(&self.metrics.outbound_queued_messages);
        ShardMetrics::add(&self.metrics.outbound_queued_bytes, size as u64);
        if defer && self.parked.get() {
            self.deferred.set(true);
        } else if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
        if dropped > 0 {
            ShardMetrics::add(
                &self.metrics.messages_dropped_slow_client_total,
                dropped as u64,
            );
            PushOutcome::DroppedOldest(dropped)
        } else {
            PushOutcome::Queued
        }
    }

    /// True when a message of `size` bytes fits without dropping anything. Producers that can
    /// read again later (a retention ring) check this and call `mark_starved` instead of pushing
    /// into a full queue, so their clients get back-pressure rather than drops.
    pub fn has_room(&self, size: usize) -> bool {
        let inner = self.inner.borrow();
        inner.items.is_empty()
            || (inner.items.len() < self.max_messages && inner.bytes + size <= self.max_bytes)
    }

    /// Waits until a message of `size` bytes fits (or the stream has ended): for producer tasks
    /// that can simply pause, such as the Mock generator, so nothing is dropped.
    pub async fn room(&self, size: usize) {
        poll_fn(|cx| {
            if self.is_ended() || self.has_room(size) {
                return Poll::Ready(());
            }
            *self.producer.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Records that the writer has written everything up to `id` to the client's socket.
    pub fn mark_delivered(&self, id: MessageId) {
        *self.delivered.borrow_mut() = Some(id);
        if let Some(hook) = self.on_delivered.borrow().as_ref() {
            hook();
        }
    }

    /// Forgets the last message written (the queue moves to another ring, whose positions the
    /// old message's would be mistaken for).
    pub fn forget_delivered(&self) {
        *self.delivered.borrow_mut() = None;
    }

    /// The last message written to the client, if any.
    pub fn delivered(&self) -> Option<MessageId> {
        self.delivered.borrow().clone()
    }

    /// Installs the hook `mark_delivered` calls.
    pub fn set_on_delivered(&self, hook: Box<dyn Fn()>) {
        *self.on_delivered.borrow_mut() = Some(hook);
    }

    /// Resolves once the stream has ended (e.g. the client left): lets a producer task sleeping
    /// between messages stop at once instead of at its next tick. Shares the producer wake-up
    /// slot with `room`, so a producer waits on one or the other.
    pub async fn ended(&self) {
        poll_fn(|cx| {
            if self.is_ended() {
                return Poll::Ready(());
            }
            *self.producer.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Records that the producer stopped on a full queue; the next drain calls the refill hook.
    pub fn mark_starved(&self) {
        self.starved.set(true);
    }

    /// True while a pulling producer waits for a drain to refill the queue (`mark_starved`).
    pub fn is_starved(&self) -> bool {
        self.starved.get()
    }

    /// Installs the hook a drain calls when the queue was starved.
    pub fn set_refill(&self, refill: Box<dyn Fn()>) {
        *self.refill.borrow_mut() = Some(refill);
    }

    /// Ends the stream: queued messages are still drained, then `wait` reports `end`.
    /// The first end wins.
    pub fn end(&self, end: QueueEnd) {
        let mut inner = self.inner.borrow_mut();
        if inner.end.is_none() {
            inner.end = Some(end);
        }
        if end == QueueEnd::SlowClient {
            let removed = inner.items.len();
            let bytes = inner.bytes;
            inner.items.clear();
            inner.bytes = 0;
            self.account_removed(removed, bytes);
        }
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
        drop(inner);
        if let Some(producer) = self.producer.borrow_mut().take() {
            producer.wake();
        }
    }

    /// True once the stream has ended (producers check this to stop early).
    pub fn is_ended(&self) -> bool {
        self.inner.borrow().end.is_some()
    }

    /// Waits until at least one message is queued, or a direct write left the writer bytes to
    /// finish (`Ok`), or the stream has ended and is drained (`Err(end)`). Cancel-safe: dropping
    /// the future loses nothing.
    pub async fn ready(&self) -> Result<(), QueueEnd> {
        poll_fn(|cx| {
            let mut inner = self.inner.borrow_mut();
            // A direct write's rest is the writer's to finish, before the end too.
            if !inner.items.is_empty() || self.handoff.replace(false) {
                return Poll::Ready(Ok(()));
            }
            if let Some(end) = inner.end {
                return Poll::Ready(Err(end));
            }
            // Polled on every pass of the writer's loop: keep the waker it already gave.
            if !inner
                .waker
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
            {
                inner.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Moves up to `max` queued messages into `out`, oldest first. The writer is draining, so
    /// it is no longer parked: what the refill below pushes must wait behind what it took.
    pub fn drain_into(&self, max: usize, out: &mut Vec<Message>) {
        self.unpark();
        let n = self.take_into(max, out);
        if n > 0 && self.starved.replace(false) {
            if let Some(refill) = self.refill.borrow().as_ref() {
                refill();
            }
        }
    }

    /// `drain_into` without the refill (the caller refills once it is done writing); returns
    /// how many messages it moved.
    fn take_into(&self, max: usize, out: &mut Vec<Message>) -> usize {
        let mut inner = self.inner.borrow_mut();
        let n = max.min(inner.items.len());
        let mut bytes = 0;
        for message in inner.items.drain(..n) {
            bytes += message.payload.len();
            out.push(message);
        }
        inner.bytes -= bytes;
        self.account_removed(n, bytes);
        drop(inner);
        if n > 0 {
            if let Some(producer) = self.producer.borrow_mut().take() {
                producer.wake();
            }
        }
        n
    }

    /// Messages currently queued.
    pub fn len(&self) -> usize {
        self.inner.borrow().items.len()
    }

    /// Gives back the room of an empty queue (a hibernating stream's: the messages it got
    /// before left their capacity behind).
    pub fn release_room(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.items.is_empty() {
            inner.items = Default::default();
        }
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn account_removed(&self, messages: usize, bytes: usize) {
        ShardMetrics::sub(&self.metrics.outbound_queued_messages, messages as u64);
        ShardMetrics::sub(&self.metrics.outbound_queued_bytes, bytes as u64);
    }
}

impl Drop for OutboundQueue {
    fn drop(&mut self) {
        // A hibernating stream's queue stays parked (`Parked::stay`); one dropped asleep (its
        // task dropped at teardown) leaves the gauge as it found it.
        self.unpark();
        let inner = self.inner.get_mut();
        let (n, bytes) = (inner.items.len(), inner.bytes);
        self.account_removed(n, bytes);
    }
}

#[cfg(test)]
mod tests;
