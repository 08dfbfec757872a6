//! Read buffers lent to streaming connections (WebSocket, SSE) only while they read.
//!
//! A streaming connection is idle almost all of its life. A pending read would need its own
//! buffer for all that time (io_uring owns a read's buffer until the kernel fills it), so instead
//! the connection waits for its socket to become readable holding no buffer, borrows one from its
//! shard's pool for the read, and gives it back once the bytes are consumed. A buffer stays lent
//! while it holds the unconsumed start of a frame.
//!
//! Each shard keeps at most `MAX_POOLED_BUFFERS` free buffers (`read_buffers_pooled`); more are
//! freed on return. Lent buffers (`read_buffers_in_use`) are bounded by the shard's connections.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use bytes::BytesMut;

use crate::metrics::ShardMetrics;
use crate::server::conn::READ_CHUNK_BYTES;

/// The size of a pooled buffer: one read's worth.
pub const POOLED_BUFFER_BYTES: usize = READ_CHUNK_BYTES;
/// Most free buffers a shard keeps (1 MiB at 4 KiB each): enough for a burst of connections
/// reading at once, without holding the peak of a past burst forever.
pub const MAX_POOLED_BUFFERS: usize = 256;

thread_local! {
    /// This shard's free buffers (a shard is a thread).
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A buffer lent from the shard's pool; given back when dropped.
pub struct LentBuffer {
    buf: BytesMut,
    metrics: Arc<ShardMetrics>,
}

impl LentBuffer {
    /// Lends a free buffer of the calling shard (a new one when none is free).
    pub fn lend(metrics: &Arc<ShardMetrics>) -> LentBuffer {
        let pooled = FREE.with(|free| free.borrow_mut().pop());
        let buf = match pooled {
            Some(buf) => {
                ShardMetrics::sub(&metrics.read_buffers_pooled, 1);
                buf
            }
            None => BytesMut::with_capacity(POOLED_BUFFER_BYTES),
        };
        LentBuffer::adopt(buf, metrics)
    }

    /// Counts `buf` (e.g. the bytes that came with a request head) as lent: it goes to the pool
    /// with the others when given back.
    pub fn adopt(buf: BytesMut, metrics: &Arc<ShardMetrics>) -> LentBuffer {
        ShardMetrics::inc(&metrics.read_buffers_in_use);
        LentBuffer {
            buf,
            metrics: metrics.clone(),
        }
    }
}

impl Deref for LentBuffer {
    type Target = BytesMut;

    fn deref(&self) -> &BytesMut {
        &self.buf
    }
}

impl DerefMut for LentBuffer {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

impl Drop for LentBuffer {
    fn drop(&mut self) {
        ShardMetrics::sub(&self.metrics.read_buffers_in_use, 1);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // Only a whole buffer of the usual size that nothing else shares goes back: a message
        // split off it keeps its part (`try_reclaim` fails), and one grown for a large frame is
        // not kept at that size.
        if !buf.try_reclaim(POOLED_BUFFER_BYTES) || buf.capacity() != POOLED_BUFFER_BYTES {
            return;
        }
        let kept = FREE.with(|free| {
            let mut free = free.borrow_mut();
            if free.len() >= MAX_POOLED_BUFFERS {
                return false;
            }
            free.push(buf);
            true
        });
        if kept {
            ShardMetrics::inc(&self.metrics.read_buffers_pooled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn gauges(metrics: &ShardMetrics) -> (u64, u64) {
        (
            metrics.read_buffers_in_use.load(Ordering::Relaxed),
            metrics.read_buffers_pooled.load(Ordering::Relaxed),
        )
    }

    #[test]
    fn a_returned_buffer_is_lent_again_and_the_free_list_is_bounded() {
        let metrics = Arc::new(ShardMetrics::default());
        let mut first = LentBuffer::lend(&metrics);
        first.extend_from_slice(b"hello");
        let address = first.as_ptr();
        assert_eq!(gauges(&metrics), (1, 0));
        drop(first);
        assert_eq!(gauges(&metrics), (0, 1));
        let again = LentBuffer::lend(&metrics);
        assert_eq!(again.as_ptr(), address, "the pooled buffer is reused");
        assert!(again.is_empty());
        assert_eq!(gauges(&metrics), (1, 0));
        drop(again);
        let many: Vec<_> = (0..MAX_POOLED_BUFFERS + 10)
            .map(|_| LentBuffer::lend(&metrics))
            .collect();
        assert_eq!(gauges(&metrics), (MAX_POOLED_BUFFERS as u64 + 10, 0));
        drop(many);
        assert_eq!(gauges(&metrics), (0, MAX_POOLED_BUFFERS as u64));
    }

    #[test]
    fn a_buffer_shared_with_a_message_or_grown_is_not_pooled() {
        let metrics = Arc::new(ShardMetrics::default());
        let before = gauges(&metrics).1;
        let mut shared = LentBuffer::lend(&metrics);
        shared.extend_from_slice(&[1; 100]);
        let message = shared.split_to(100).freeze();
        drop(shared);
        assert_eq!(gauges(&metrics), (0, before));
        drop(message);
        let mut grown = LentBuffer::lend(&metrics);
        grown.reserve(POOLED_BUFFER_BYTES * 4);
        drop(grown);
        assert_eq!(gauges(&metrics), (0, before));
    }
}
