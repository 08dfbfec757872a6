//! A shard's doorbell: rung from any thread, awaited by one task on the shard. Rings coalesce,
//! so a burst of publishes costs the shard one wake-up, and nothing can pile up.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use atomic_waker::AtomicWaker;

/// Wakes one shard task when there is cross-shard work for it.
#[derive(Default)]
pub struct Doorbell {
    rung: AtomicBool,
    waker: AtomicWaker,
}

impl Doorbell {
    /// A new doorbell to share between a shard and the threads that ring it.
    pub fn new() -> Arc<Doorbell> {
        Arc::new(Doorbell::default())
    }

    /// Rings: the shard's task wakes (once, however often it is rung before it runs).
    pub fn ring(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    /// Resolves when the doorbell has been rung since the last time this resolved.
    pub async fn rung(&self) {
        poll_fn(|cx| {
            if self.rung.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.rung.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
