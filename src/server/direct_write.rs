//! The direct path of a plain-TCP stream (WebSocket, SSE): while its writer task waits with
//! nothing pending, the shard's fan-out frames the messages it delivers (the shared framing of
//! `delivery::frame_cache`) and writes them to the socket itself, with one non-blocking
//! `sendmsg` (`delivery::DirectSink`). The writer task is not woken for them: per message and
//! subscriber that saves a task wake-up, a pass of the writer's event loop and a submission.
//!
//! A write the socket does not take whole (its buffer is full, or the client is gone) is handed
//! back: what was not sent stays here (`Handoff`) and the writer, woken through its queue,
//! writes it before anything else (`Duplex::flush`), with its stall deadline, and only then counts
//! those messages delivered. So the bytes on the wire are exactly the writer's, in the same
//! order, and every count (messages and bytes delivered, the request's access-log counts, the
//! at-least-once `mark_delivered`) is made once, when the bytes were written.
//!
//! The write is a plain system call next to the reader's pending read or readiness wait, on both
//! drivers: no other write is in flight on the socket while the writer is parked. TLS streams
//! (records are sealed by the writer's session), permessage-deflate and `?envelope=json`
//! WebSocket frames, and paced clients (`deliverPerSecond`) keep the writer task's path.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use monoio::time::Instant;

use crate::delivery::{DirectSink, OutboundQueue};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;
use crate::observe::exchange::Exchange;
use crate::server::write_batch::WriteBatch;

/// Appends one message, framed for the client, to a write.
pub type Framing = Box<dyn Fn(&mut WriteBatch, &Message)>;

thread_local! {
    /// The direct write under way, reused by every subscriber of the shard.
    static SCRATCH: RefCell<WriteBatch> = RefCell::new(WriteBatch::new());
}

/// What a direct write the socket did not take whole leaves for the writer.
pub struct Handoff {
    /// The bytes not sent (sealed), which go out before anything else.
    pub rest: WriteBatch,
    /// Messages the write carried: counted delivered once `rest` is written.
    messages: u64,
    /// The newest of them.
    last: MessageId,
}

/// One stream's direct path, shared by its writer (through `Duplex`) and its queue.
pub struct DirectWrite {
    /// The socket; open for as long as the queue holds this (the `Duplex` removes it when it
    /// drops, and the queue only calls it while the writer is parked).
    fd: RawFd,
    frame: Framing,
    metrics: Arc<ShardMetrics>,
    exchange: Rc<Exchange>,
    queue: Weak<OutboundQueue>,
    /// The newest message written directly since the writer last took it (its resume cursor).
    last: RefCell<Option<MessageId>>,
    /// When the direct path last wrote (an SSE heartbeat is due only after a silence).
    wrote_at: Cell<Option<Instant>>,
    handoff: RefCell<Option<Box<Handoff>>>,
}

impl DirectWrite {
    /// The direct path of socket `fd`, installed on `queue`.
    pub fn install(
        fd: RawFd,
        frame: Framing,
        metrics: Arc<ShardMetrics>,
        exchange: Rc<Exchange>,
        queue: &Rc<OutboundQueue>,
    ) -> Rc<DirectWrite> {
        let direct = Rc::new(DirectWrite {
            fd,
            frame,
            metrics,
            exchange,
            queue: Rc::downgrade(queue),
            last: RefCell::new(None),
            wrote_at: Cell::new(None),
            handoff: RefCell::new(None),
        });
        queue.set_direct(Some(direct.clone()));
        direct
    }

    /// Removes it from its queue (the socket is about to close).
    pub fn uninstall(&self) {
        if let Some(queue) = self.queue.upgrade() {
            queue.set_direct(None);
        }
    }

    /// The newest message written directly since the last `take_last`, if any.
    pub fn last(&self) -> Option<MessageId> {
        self.last.borrow().clone()
    }

    /// Takes the newest message written directly (the writer is about to frame newer ones).
    pub fn take_last(&self) -> Option<MessageId> {
        self.last.borrow_mut().take()
    }

    /// When the direct path last wrote.
    pub fn wrote_at(&self) -> Option<Instant> {
        self.wrote_at.get()
    }

    /// True while a handed-back rest waits for the writer.
    pub fn has_handoff(&self) -> bool {
        self.handoff.borrow().is_some()
    }

    /// The handed-back rest, for the writer to write first.
    pub fn take_handoff(&self) -> Option<Box<Handoff>> {
        self.handoff.borrow_mut().take()
    }

    /// Counts a handed-back write's messages delivered: the writer has written its rest.
    pub fn settle(&self, handoff: Handoff) {
        ShardMetrics::add(&self.metrics.messages_delivered_total, handoff.messages);
        self.exchange.delivered(handoff.messages);
        if let Some(queue) = self.queue.upgrade() {
            queue.mark_delivered(handoff.last);
        }
    }
}

impl DirectSink for DirectWrite {
    fn write_now(&self, messages: &[Message]) -> bool {
        let Some(last) = messages.last().map(|message| message.id.clone()) else {
            return true;
        };
        let mut batch = SCRATCH.with(|scratch| std::mem::take(&mut *scratch.borrow_mut()));
        for message in messages {
            (self.frame)(&mut batch, message);
        }
        batch.seal();
        let total = batch.len();
        let written = send_now(self.fd, &mut batch);
        ShardMetrics::inc(&self.metrics.delivery_direct_writes_total);
        self.exchange.wrote(written);
        if written > 0 {
            self.wrote_at.set(Some(Instant::now()));
        }
        *self.last.borrow_mut() = Some(last.clone());
        let count = messages.len() as u64;
        if written == total {
            ShardMetrics::add(&self.metrics.messages_delivered_total, count);
            self.exchange.delivered(count);
            batch.clear();
            SCRATCH.with(|scratch| *scratch.borrow_mut() = batch);
            return true;
        }
        ShardMetrics::inc(&self.metrics.delivery_direct_handoffs_total);
        if written > 0 {
            ShardMetrics::inc(&self.metrics.delivery_direct_partial_writes_total);
        }
        *self.handoff.borrow_mut() = Some(Box::new(Handoff {
            rest: batch,
            messages: count,
            last,
        }));
        false
    }
}

/// Writes as much of the sealed `batch` as the socket takes now; returns how many bytes. After a
/// partial write `batch` holds exactly the rest (sealed); when everything was written it is left
/// as it was, for the caller to clear. An error (the client is gone) writes nothing more: the
/// writer meets it again on its own write and ends the stream as it always does. `fd` must be an
/// open stream socket for the whole call (the direct path's: see `DirectWrite::fd`; a
/// hibernating stream's keep-alive: its `Duplex`'s own).
pub(super) fn send_now(fd: RawFd, batch: &mut WriteBatch) -> usize {
    let mut written = 0;
    loop {
        let iovecs = batch.iovecs();
        let window: usize = iovecs.iter().map(|iovec| iovec.iov_len).sum();
        // SAFETY: an all-zero msghdr is valid (no address, no control data); `iovecs` points
        // into the batch's live parts (sealed), which nothing changes during the call. `fd` is
        // an open stream socket, as the function's contract requires.
        // MSG_DONTWAIT: a full socket hands the write back instead of blocking the shard. No
        // safe wrapper takes a raw descriptor and a gathered, non-blocking send.
        let sent = unsafe {
            let mut header: libc::msghdr = std::mem::zeroed();
            header.msg_iov = iovecs.as_ptr().cast_mut();
            header.msg_iovlen = iovecs.len() as _;
            libc::sendmsg(fd, &header, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        if sent < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return written;
        }
        let sent = sent as usize;
        written += sent;
        if sent == batch.len() {
            return written;
        }
        batch.advance(sent);
        if sent < window || sent == 0 {
            return written;
        }
    }
}
