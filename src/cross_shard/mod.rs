//! Every piece of traffic between threads goes through this module, so that the mechanism can
//! change in one place: the shutdown order from the main thread to each shard (`Signal`), and the
//! in-memory topics that every shard publishes to and reads from (`TopicLog`, woken through each
//! shard's `Doorbell`), and host name lookups for broker connections (`lookup_host`),
//! the Kafka bridge's feeds and requests (`kafka_link`), the offset commits an at-most-once
//! push subscription waits for (`kafka_commit_now`), and its shared catch-up readers
//! (`catch_up_streams`), the per-subscription consumer
//! groups' feeds (`kafka_subscriptions`), the node-wide MQTT subscriptions (`mqtt_feed`), and
//! whether every shard is alive (`GatewayHealth`); how far a broker feed's readers have read,
//! which paces its fetches (`read_floors`).
//!
//! A shard is a monoio runtime; waking it from another thread needs monoio's `sync` feature,
//! which makes its wakers thread-safe. Nothing here ever blocks a shard.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use atomic_waker::AtomicWaker;

pub mod catch_up_streams;
mod doorbell;
mod health;
mod host_lookup;
pub mod kafka_commit_now;
pub mod kafka_link;
pub mod kafka_subscriptions;
pub mod mqtt_feed;
pub mod read_floors;
mod topic_log;

pub use doorbell::Doorbell;
pub use health::{GatewayHealth, HealthSnapshot, ShardFault};
pub use host_lookup::lookup_host;
pub use topic_log::TopicLog;

/// A one-shot signal raised on one thread and awaited by one task on a shard.
#[derive(Default)]
pub struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// A new, lowered signal shared between the raiser and the waiter.
    pub fn new() -> Arc<Signal> {
        Arc::new(Signal::default())
    }

    /// Raises the signal and wakes the waiting task, from any thread.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// True once raised.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Resolves once the signal is raised.
    pub async fn raised(&self) {
        poll_fn(|cx| {
            if self.is_raised() {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.is_raised() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
