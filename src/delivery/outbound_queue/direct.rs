//! The direct path: while a stream's writer waits with nothing of its own pending (parked), the
//! fan-out writes what it pushed straight to the socket, in one non-blocking write per
//! subscriber and batch, instead of waking the writer task to do it. A message that arrives on
//! its own (a waiting publisher at a moderate rate) then costs its subscriber one system call and
//! no task wake-up, no pass of the writer's event loop.
//!
//! Exactness: the direct path takes the queue's oldest messages, so the order is the queue's;
//! it runs only while the writer is parked (no write of the writer's in flight), and a write the
//! socket does not take whole is handed back: the sink keeps its unsent rest, the writer is
//! woken (`ready` resolves) and writes that rest before anything else, with its stall deadline.
//! From then on the writer is unparked, so later messages queue for it as before.

use std::cell::RefCell;
use std::rc::Rc;

use super::{OutboundQueue, PushOutcome};
use crate::message::Message;
use crate::metrics::ShardMetrics;

/// Most messages one direct write carries (as many as one pass of a stream's writer).
const DIRECT_BATCH: usize = 256;

thread_local! {
    /// The messages of the direct write under way, reused by every subscriber of the shard.
    static TAKEN: RefCell<Vec<Message>> = const { RefCell::new(Vec::new()) };
}

/// A stream writer's direct path (`server::direct_write` for plain-TCP WebSocket and SSE).
pub trait DirectSink {
    /// Writes `messages` (the oldest the queue held, in order) to the socket without waiting.
    /// Returns true when the socket took all of it (the sink counted them delivered). Otherwise
    /// the sink keeps what was not written, for the writer to write first, and counts the
    /// messages once the writer has.
    fn write_now(&self, messages: &[Message]) -> bool;
}

/// A parked writer: the fan-out writes for it until this is dropped (the writer woke) or a
/// direct write is handed back.
pub struct Parked<'a> {
    queue: &'a OutboundQueue,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.queue.unpark();
    }
}

impl OutboundQueue {
    /// Installs (or removes) the writer's direct path.
    pub fn set_direct(&self, sink: Option<Rc<dyn DirectSink>>) {
        if sink.is_none() {
            self.unpark();
        }
        *self.direct.borrow_mut() = sink;
    }

    /// Parks the writer: until the guard is dropped, messages pushed by the fan-out are written
    /// by it directly. The writer must have nothing of its own pending or in flight; `None`
    /// when the queue has no direct path.
    pub fn park(&self) -> Option<Parked<'_>> {
        if self.parked.get() || self.direct.borrow().is_none() {
            return None;
        }
        self.parked.set(true);
        ShardMetrics::inc(&self.metrics.delivery_writers_parked);
        Some(Parked { queue: self })
    }

    pub(super) fn unpark(&self) {
        if self.parked.replace(false) {
            ShardMetrics::sub(&self.metrics.delivery_writers_parked, 1);
        }
    }

    /// `push` for a producer that calls `flush_direct` once it has pushed a batch: while the
    /// writer is parked it is not woken.
    pub fn push_deferred(&self, message: Message) -> PushOutcome {
        self.push_inner(message, true)
    }

    /// True when `push_deferred` left messages for `flush_direct`.
    pub fn owes_flush(&self) -> bool {
        self.deferred.get()
    }

    /// Delivers what `push_deferred` queued: written straight to the socket while the writer
    /// is parked, else by the writer, woken now. Call it outside any borrow of the producer's
    /// state: it may refill the queue (the producer's refill hook) and report delivery.
    pub fn flush_direct(&self) {
        if self.flushing.replace(true) {
            // A refill inside the loop below pushed more: the loop writes it.
            return;
        }
        while self.deferred.replace(false) {
            let sink = if self.parked.get() {
                self.direct.borrow().clone()
            } else {
                None
            };
            let Some(sink) = sink else {
                self.wake_writer();
                break;
            };
            let mut taken = TAKEN.with(|taken| std::mem::take(&mut *taken.borrow_mut()));
            let mut handed_back = false;
            while !handed_back && self.take_into(DIRECT_BATCH, &mut taken) > 0 {
                let last = taken.last().map(|message| message.id.clone());
                if sink.write_now(&taken) {
                    if let Some(last) = last {
                        self.mark_delivered(last);
                    }
                } else {
                    handed_back = true;
                }
                taken.clear();
            }
            TAKEN.with(|slot| *slot.borrow_mut() = taken);
            if handed_back {
                self.unpark();
                self.handoff.set(true);
                self.wake_writer();
            }
            // The producer stopped on a full queue: it may go on now (deferring again while
            // the writer is still parked, which this loop then writes).
            if self.starved.replace(false) {
                if let Some(refill) = self.refill.borrow().as_ref() {
                    refill();
                }
            }
        }
        self.flushing.set(false);
    }

    fn wake_writer(&self) {
        let waker = self.inner.borrow_mut().waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
