//! The per-subscription consumer groups of one Kafka feed (`groupScope: subscription`).
//!
//! Each subscription a client names gets a feed of its own (a `KafkaFeed`: its node buffer and
//! delivery reports), fetched by a member of the consumer group `{groupId}.{name}` on the bridge.
//! The registry is shared by every shard and the bridge: a shard opens a subscription's feed for
//! its first client anywhere on the node (asking the bridge to join the group under the
//! registry's lock), each client
//! holds a `Lease`, and the bridge closes the feed (commits, leaves the group) once it has had
//! no lease for the idle timeout. Opening and closing happen under one lock, so a client never
//! leases a feed that is being closed. The number of open feeds is bounded.

#![allow(
    clippy::disallowed_types,
    reason = "per-subscription feeds shared by every shard and the Kafka bridge thread; held only to open or find one, never across an await"
)]
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

/// Why a subscription's feed was not leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused<E> {
    /// `maxSubscriptionGroups` feeds are open already.
    Full {
        /// The bound.
        max: usize,
    },
    /// The feed was to be opened, and opening it failed.
    NotOpened(E),
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

    /// Leases subscription `name`'s feed. When it is not open, opens it and calls `open` with it
    /// under the registry's lock (the caller asks the bridge to join its group); if `open` fails,
    /// nothing is opened and its error is returned, so no client ever leases a feed whose group
    /// was never asked for.
    pub fn acquire<E>(
        &self,
        name: &str,
        open: impl FnOnce(&Arc<KafkaFeed>) -> Result<(), E>,
    ) -> Result<Lease, Refused<E>> {
        let mut feeds = self.lock();
        let feed = match feeds.get(name) {
            Some(feed) => feed.clone(),
            None if feeds.len() >= self.max => {
                ShardMetrics::inc(&self.metrics.subscription_groups_refused_total);
                return Err(Refused::Full { max: self.max });
            }
            None => {
                let feed = Arc::new(KafkaFeed::new(
                    &format!("kafka-subscription-{name}"),
                    self.max_messages,
                    self.max_bytes,
                    self.shards,
                ));
                open(&feed).map_err(Refused::NotOpened)?;
                feeds.insert(name.to_owned(), feed.clone());
                ShardMetrics::inc(&self.metrics.subscription_groups_open);
                feed
            }
        };
        feed.usage.leases.fetch_add(1, Ordering::AcqRel);
        feed.usage.taken.fetch_add(1, Ordering::AcqRel);
        Ok(Lease { feed })
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

    /// Subscription feeds open now.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn mark_closed(&self, feed: &KafkaFeed) {
        feed.usage.closed.store(true, Ordering::Release);
        // Nobody reads it any more: its buffer is freed now, not when the shards let go.
        feed.log.lock().clear();
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

    /// Leases `name`; returns the lease and whether it opened the feed.
    fn lease(groups: &SubscriptionGroups, name: &str) -> Result<(Lease, bool), Refused<()>> {
        let mut opened = false;
        let lease = groups.acquire(name, |_| {
            opened = true;
            Ok(())
        })?;
        Ok((lease, opened))
    }

    #[test]
    fn clients_of_one_subscription_share_its_feed() {
        let groups = groups(4);
        let (first, opened) = lease(&groups, "billing").unwrap();
        assert!(opened);
        let (second, opened) = lease(&groups, "billing").unwrap();
        assert!(!opened, "the second client joins the open feed");
        assert!(Arc::ptr_eq(first.feed(), second.feed()));
        let (other, opened) = lease(&groups, "audit").unwrap();
        assert!(opened);
        assert!(!Arc::ptr_eq(first.feed(), other.feed()));
        assert_eq!(groups.open_count(), 2);
        assert_eq!(first.feed().usage.leases(), 2);
    }

    #[test]
    fn the_number_of_open_feeds_is_bounded() {
        let groups = groups(1);
        let _held = lease(&groups, "a").unwrap();
        assert_eq!(lease(&groups, "b").err(), Some(Refused::Full { max: 1 }));
        assert!(lease(&groups, "a").is_ok(), "an open one is still leased");
        assert_eq!(
            ShardMetrics::get(&groups.metrics.subscription_groups_refused_total),
            1
        );
    }

    #[test]
    fn a_feed_closes_only_when_unused_since_the_bridge_looked() {
        let groups = groups(4);
        let (held, _) = lease(&groups, "a").unwrap();
        let feed = held.feed().clone();
        feed.log
            .append(crate::message::Message {
                id: crate::message::MessageId::Sequence(0),
                payload: bytes::Bytes::from_static(b"buffered"),
                kind: crate::message::PayloadKind::Unspecified,
                headers: Arc::from(Vec::new()),
                metadata: Arc::from(Vec::new()),
                timestamp_ms: 0,
            })
            .unwrap();
        let seen = feed.usage.taken();
        assert!(!groups.close_if_unused("a", &feed, seen), "a lease is held");
        drop(held);
        let (again, _) = lease(&groups, "a").unwrap();
        drop(again);
        assert!(
            !groups.close_if_unused("a", &feed, seen),
            "a client came and went since the bridge looked"
        );
        assert!(groups.close_if_unused("a", &feed, feed.usage.taken()));
        assert!(feed.usage.is_closed());
        assert!(
            feed.log.lock().is_empty(),
            "a closed feed's buffer is freed"
        );
        assert_eq!(groups.open_count(), 0);
        let (fresh, opened) = lease(&groups, "a").unwrap();
        assert!(opened, "a closed feed is never leased again");
        assert!(!Arc::ptr_eq(fresh.feed(), &feed));
        assert_eq!(
            ShardMetrics::get(&groups.metrics.subscription_groups_open),
            1
        );
    }

    #[test]
    fn a_feed_whose_group_cannot_be_asked_for_is_not_opened() {
        let groups = groups(4);
        let refused = groups.acquire("a", |_| Err("queue full"));
        assert_eq!(refused.err(), Some(Refused::NotOpened("queue full")));
        assert_eq!(groups.open_count(), 0);
        let (_, opened) = lease(&groups, "a").unwrap();
        assert!(opened, "the next client opens it afresh");
    }
}
