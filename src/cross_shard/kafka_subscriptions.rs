//! The per-subscription consumer groups of one Kafka feed (`groupScope: subscription`).
//!
//! Each subscription a client names gets a feed of its own (a `KafkaFeed`: its node buffer and
//! delivery reports), fetched by a member of the consumer group `{groupId}.{name}` on the bridge.
//! The registry is shared by every shard and the bridge: a shard opens a subscription's feed for
//! its first client anywhere on the node (and asks the bridge to join the group), each client
//! holds a `Lease`, and the bridge closes the feed (commits, leaves the group) once it has had
//! no lease for the idle timeout. Opening and closing happen under one lock, so a client never
//! leases a feed that is being closed. The number of open feeds is bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::kafka_link::KafkaFeed;
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// The open subscription feeds of one configured feed.
pub struct SubscriptionGroups {
    /// The configured feed these subscriptions read (its index in the bridge's plan).
    pub feed: usize,
    /// `maxSubscriptionGroups`.
    max: usize,
    shards: usize,
    max_messages: usize,
    max_bytes: usize,
    open: Mutex<HashMap<String, Arc<KafkaFeed>>>,
    metrics: Arc<KafkaMetrics>,
}

/// Use of one subscription's feed by one client; the feed stays open while any is held.
pub struct Lease {
    feed: Arc<KafkaFeed>,
}

/// `maxSubscriptionGroups` feeds are open already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// The bound.
    pub max: usize,
}

/// How a feed's use is counted (part of `KafkaFeed`).
#[derive(Default)]
pub struct FeedUse {
    /// Leases held now.
    leases: AtomicUsize,
    /// Leases ever taken: the bridge sees a client that came and went between two looks.
    taken: AtomicU64,
    /// Set once the bridge closed the feed; a closed feed is never leased again.
    closed: AtomicBool,
}

impl FeedUse {
    /// Leases ever taken.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }

    /// Leases held now.
    pub fn leases(&self) -> usize {
        self.leases.load(Ordering::Acquire)
    }

    /// True once the bridge closed the feed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl SubscriptionGroups {
    /// A registry for feed `feed`, whose subscription feeds have `shards` shards and buffers
    /// bounded like the configured feed's.
    pub fn new(
        feed: usize,
        max: usize,
        shards: usize,
        max_messages: usize,
        max_bytes: usize,
        metrics: Arc<KafkaMetrics>,
    ) -> SubscriptionGroups {
        SubscriptionGroups {
            feed,
            max,
            shards,
            max_messages,
            max_bytes,
            open: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Leases subscription `name`'s feed, opening it when it is not open. Returns the lease and
    /// whether it was just opened (the caller then asks the bridge to join its group).
    pub fn acquire(&self, name: &str) -> Result<(Lease, bool), Full> {
        let mut open = self.lock();
        let (feed, opened) = match open.get(name) {
            Some(feed) => (feed.clone(), false),
            None if open.len() >= self.max => {
                ShardMetrics::inc(&self.metrics.subscription_groups_refused_total);
                return Err(Full { max: self.max });
            }
            None => {
                let feed = Arc::new(KafkaFeed::new(
                    &format!("kafka-subscription-{name}"),
                    self.max_messages,
                    self.max_bytes,
                    self.shards,
                ));
                open.insert(name.to_owned(), feed.clone());
                ShardMetrics::inc(&self.metrics.subscription_groups_open);
                (feed, true)
            }
        };
        feed.usage.leases.fetch_add(1, Ordering::AcqRel);
        feed.usage.taken.fetch_add(1, Ordering::AcqRel);
        Ok((Lease { feed }, opened))
    }

    /// Closes `name`'s feed if it is `feed`, no lease is held and none was taken since the
    /// bridge saw `taken` leases. Returns whether it was closed.
    pub fn close_if_unused(&self, name: &str, feed: &Arc<KafkaFeed>, taken: u64) -> bool {
        let mut open = self.lock();
        let unused = feed.usage.leases() == 0 && feed.usage.taken() == taken;
        let current = open.get(name).is_some_and(|f| Arc::ptr_eq(f, feed));
        if !(unused && current) {
            return false;
        }
        open.remove(name);
        self.mark_closed(feed);
        true
    }

    /// Closes `name`'s feed whatever its leases (its group member could not be started).
    pub fn abandon(&self, name: &str, feed: &Arc<KafkaFeed>) {
        let mut open = self.lock();
        if open.get(name).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            open.remove(name);
            self.mark_closed(feed);
        }
    }

    /// Subscription feeds open now.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn mark_closed(&self, feed: &KafkaFeed) {
        feed.usage.closed.store(true, Ordering::Release);
        ShardMetrics::sub(&self.metrics.subscription_groups_open, 1);
        // Wakes the shards' pump tasks so they see the feed is closed and end.
        for doorbell in &feed.doorbells {
            doorbell.ring();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<KafkaFeed>>> {
        // The map stays consistent even if a holder panicked: each step is one insert/remove.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Lease {
    /// The leased feed.
    pub fn feed(&self) -> &Arc<KafkaFeed> {
        &self.feed
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.feed.usage.leases.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(max: usize) -> SubscriptionGroups {
        SubscriptionGroups::new(0, max, 2, 10, 1 << 20, Arc::new(KafkaMetrics::default()))
    }

    #[test]
    fn clients_of_one_subscription_share_its_feed() {
        let groups = groups(4);
        let (first, opened) = groups.acquire("billing").unwrap();
        assert!(opened);
        let (second, opened) = groups.acquire("billing").unwrap();
        assert!(!opened, "the second client joins the open feed");
        assert!(Arc::ptr_eq(first.feed(), second.feed()));
        let (other, opened) = groups.acquire("audit").unwrap();
        assert!(opened);
        assert!(!Arc::ptr_eq(first.feed(), other.feed()));
        assert_eq!(groups.open_count(), 2);
        assert_eq!(first.feed().usage.leases(), 2);
    }

    #[test]
    fn the_number_of_open_feeds_is_bounded() {
        let groups = groups(1);
        let _held = groups.acquire("a").unwrap();
        assert_eq!(groups.acquire("b").err(), Some(Full { max: 1 }));
        assert!(groups.acquire("a").is_ok(), "an open one is still leased");
        assert_eq!(
            ShardMetrics::get(&groups.metrics.subscription_groups_refused_total),
            1
        );
    }

    #[test]
    fn a_feed_closes_only_when_unused_since_the_bridge_looked() {
        let groups = groups(4);
        let (lease, _) = groups.acquire("a").unwrap();
        let feed = lease.feed().clone();
        let seen = feed.usage.taken();
        assert!(!groups.close_if_unused("a", &feed, seen), "a lease is held");
        drop(lease);
        let (again, _) = groups.acquire("a").unwrap();
        drop(again);
        assert!(
            !groups.close_if_unused("a", &feed, seen),
            "a client came and went since the bridge looked"
        );
        assert!(groups.close_if_unused("a", &feed, feed.usage.taken()));
        assert!(feed.usage.is_closed());
        assert_eq!(groups.open_count(), 0);
        let (fresh, opened) = groups.acquire("a").unwrap();
        assert!(opened, "a closed feed is never leased again");
        assert!(!Arc::ptr_eq(fresh.feed(), &feed));
        assert_eq!(
            ShardMetrics::get(&groups.metrics.subscription_groups_open),
            1
        );
    }
}
