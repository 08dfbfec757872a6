//! Frame once, share with every subscriber: the bytes a message becomes on the wire (a
//! WebSocket frame, an SSE event) depend only on the message and on the entrypoint's shape
//! (event options, chunking), so on a shard they are built by the first subscriber that writes
//! the message and handed to the others as a shared `Bytes` (a reference count, no copy, no
//! second UTF-8 check).
//!
//! A subscriber's writer finds the framing by the message it holds: an entry matches only when
//! it holds the *same* message (the same payload allocation and length, the same id, headers,
//! metadata and kind). The entry keeps those alive, so an address can never be reused by another
//! message while the entry could match it. Bounded: `SLOTS` entries of payloads of at most
//! `MAX_PAYLOAD_BYTES`; larger messages are framed per subscriber as before (their payload is
//! already shared zero-copy, and their framing is a few bytes).

use std::cell::RefCell;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::message::Message;
use crate::metrics::ShardMetrics;

/// Entries per cache: consecutive messages fall into different slots (by stream position), so a
/// write batch of up to this many messages is framed once for every subscriber.
const SLOTS: usize = 64;
/// Largest payload whose framing is cached (so a cache holds at most about
/// `SLOTS × MAX_PAYLOAD_BYTES` = 1 MiB plus framing).
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

struct Entry<S> {
    /// Keeps the message (and so its payload's address) alive while the entry can match.
    message: Message,
    shape: S,
    framed: Bytes,
}

/// One shard's framing cache for one entrypoint (`S`: what else the framing depends on).
pub struct FrameCache<S> {
    slots: Vec<Option<Entry<S>>>,
    /// Payload and framing bytes the entries hold (`delivery_frame_cache_bytes`).
    bytes: usize,
    metrics: Option<Arc<ShardMetrics>>,
}

impl<S: PartialEq + Copy> Default for FrameCache<S> {
    fn default() -> Self {
        FrameCache {
            slots: Vec::new(),
            bytes: 0,
            metrics: None,
        }
    }
}

impl<S: PartialEq + Copy> FrameCache<S> {
    /// The framing of `message` for `shape`: from the cache when another subscriber already
    /// built it, else built by `frame` (and kept, when the payload is small enough). `metrics`
    /// counts shared frames and the bytes the cache holds.
    pub fn framed(
        &mut self,
        message: &Message,
        shape: S,
        metrics: &Arc<ShardMetrics>,
        frame: impl FnOnce(&mut BytesMut),
    ) -> Bytes {
        self.use_metrics(metrics);
        if message.payload.len() > MAX_PAYLOAD_BYTES {
            return build(frame);
        }
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        let slot = (message.id.sequence() as usize) % SLOTS;
        if let Some(entry) = &self.slots[slot] {
            if entry.shape == shape && same_message(&entry.message, message) {
                ShardMetrics::inc(&metrics.delivery_frames_shared_total);
                return entry.framed.clone();
            }
        }
        let framed = build(frame);
        let held = message.payload.len() + framed.len();
        if let Some(old) = self.slots[slot].take() {
            self.release(old.message.payload.len() + old.framed.len());
        }
        self.bytes += held;
        ShardMetrics::add(&metrics.delivery_frame_cache_bytes, held as u64);
        self.slots[slot] = Some(Entry {
            message: message.clone(),
            shape,
            framed: framed.clone(),
        });
        framed
    }

    /// Bytes the entries hold.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Counts in `metrics` from now on (a thread may run more than one gateway in tests: the
    /// gauge moves with the cache).
    fn use_metrics(&mut self, metrics: &Arc<ShardMetrics>) {
        if self
            .metrics
            .as_ref()
            .is_some_and(|m| Arc::ptr_eq(m, metrics))
        {
            return;
        }
        if let Some(old) = self.metrics.take() {
            ShardMetrics::sub(&old.delivery_frame_cache_bytes, self.bytes as u64);
        }
        ShardMetrics::add(&metrics.delivery_frame_cache_bytes, self.bytes as u64);
        self.metrics = Some(metrics.clone());
    }

    fn release(&mut self, bytes: usize) {
        self.bytes -= bytes;
        if let Some(metrics) = &self.metrics {
            ShardMetrics::sub(&metrics.delivery_frame_cache_bytes, bytes as u64);
        }
    }
}

fn build(frame: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::new();
    frame(&mut out);
    out.freeze()
}

/// True when `a` and `b` are the same message (one fanned out), not merely equal ones: the
/// payload is the same allocation, so its bytes are equal without reading them.
fn same_message(a: &Message, b: &Message) -> bool {
    a.payload.as_ptr() == b.payload.as_ptr()
        && a.payload.len() == b.payload.len()
        && a.kind == b.kind
        && a.id == b.id
        && Arc::ptr_eq(&a.headers, &b.headers)
        && Arc::ptr_eq(&a.metadata, &b.metadata)
}

/// The calling shard's cache of one entrypoint (declared `thread_local!` there: a shard is a
/// thread, and its subscribers' writers are its tasks).
pub fn with_cache<S: 'static, R>(
    cache: &'static std::thread::LocalKey<RefCell<FrameCache<S>>>,
    f: impl FnOnce(&mut FrameCache<S>) -> R,
) -> R {
    cache.with(|cache| f(&mut cache.borrow_mut()))
}

#[cfg(test)]
#[path = "frame_cache/tests.rs"]
mod tests;
