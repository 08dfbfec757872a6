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
//! From then on the writer is unparked, so later messages queue for it as before. So does a
//! burst larger than one direct write: the writer takes it over (`flush_direct`).

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

impl Parked<'_> {
    /// Leaves the writer parked when the guard goes (a hibernating stream: the fan-out goes on
    /// writing for it); `OutboundQueue::unpark` ends it.
    pub fn stay(self) {
        std::mem::forget(self);
    }
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
        // A writer with messages queued drains them at once: parking it would only count it.
        if self.parked.get() || self.direct.borrow().is_none() || !self.is_empty() {
            return None;
        }
        self.parked.set(true);
        ShardMetrics::inc(&self.metrics.delivery_writers_parked);
        Some(Parked { queue: self })
    }

    /// Ends a park (`Parked` does it when dropped; a hibernating stream's waking does it after
    /// `Parked::stay`). Harmless when not parked.
    pub fn unpark(&self) {
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
    ///
    /// One direct write per call: when more is waiting (`more_follows`: the producer has read a
    /// full batch and goes on; or the queue still holds messages; or the producer stopped on a
    /// full queue) the writer is unparked and takes over, yielding between its writes, so that a
    /// burst or a replayed backlog never holds the shard's other work for its whole length.
    pub fn flush_direct(&self, more_follows: bool) {
        if self.flushing.replace(true) {
            // A refill below pushes for the writer, which this call has just unparked.
            return;
        }
        if self.deferred.replace(false) {
            self.write_direct(more_follows);
        }
        self.flushing.set(false);
    }

    fn write_direct(&self, more_follows: bool) {
        let sink = if self.parked.get() {
            self.direct.borrow().clone()
        } else {
            None
        };
        let Some(sink) = sink else {
            self.wake_writer();
            return;
        };
        let mut taken = TAKEN.with(|taken| std::mem::take(&mut *taken.borrow_mut()));
        let written = self.take_into(DIRECT_BATCH, &mut taken) == 0 || sink.write_now(&taken);
        let last = taken.last().map(|message| message.id.clone());
        taken.clear();
        TAKEN.with(|slot| *slot.borrow_mut() = taken);
        if !written {
            self.unpark();
            self.handoff.set(true);
            self.wake_writer();
            return;
        }
        if let Some(last) = last {
            self.mark_delivered(last);
        }
        if !(more_follows || !self.is_empty() || self.starved.get()) {
            return;
        }
        self.unpark();
        if self.is_empty() && self.starved.replace(false) {
            // The producer stopped on a full queue this write emptied: it goes on now, pushing
            // for the (unparked) writer, which its pushes wake.
            if let Some(refill) = self.refill.borrow().as_ref() {
                refill();
            }
        }
        self.wake_writer();
    }

    fn wake_writer(&self) {
        let waker = self.inner.borrow_mut().waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
