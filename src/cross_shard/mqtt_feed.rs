//! An MQTT consumer's node-wide state: one broker subscription per API per node, held by one
//! shard (the *owner*, whose broker connection sends SUBSCRIBE and receives the messages), and
//! one retention ring (`TopicLog`) that every shard's clients read. Positions are therefore
//! node-wide: a cursor issued on one shard resumes on any shard of the node.
//!
//! A client joins on whichever shard accepted it; the lifecycle of the subscription is decided
//! here, under one short lock taken only when a client joins or leaves and when the owner looks:
//! the first client of the node opens a subscription (a new *epoch*: the ring restarts at
//! `epoch << 40 | 1`), the owner releases it once no client has been left for
//! `unsubscribeDelayMs`. Joining and releasing take the same lock, so a client never joins a
//! subscription being released.
//!
//! At-least-once (`qos: at-least-once`): each shard reports the position every one of its
//! clients has been written (`report_delivered`); the owner sends a PUBACK once the lowest of
//! them passed the message.

#![allow(
    clippy::disallowed_types,
    reason = "node-wide MQTT subscription state shared by every shard; held only for a short bookkeeping step, never across an await"
)]
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Doorbell, TopicLog};

/// Bits of a position that hold the sequence within one subscription.
pub const SEQUENCE_BITS: u32 = 40;
/// Epochs wrap at this many subscriptions (13 bits: a position stays below 2^53, exact in
/// JavaScript).
pub const EPOCH_MASK: u64 = (1 << 13) - 1;

/// The epoch a position (cursor) was issued in.
pub fn epoch_of(position: u64) -> u64 {
    position >> SEQUENCE_BITS
}

/// One MQTT consumer API's subscription on this node, shared by every shard.
pub struct MqttFeed {
    /// The node ring every shard's clients read; the owner appends.
    pub log: Arc<TopicLog>,
    /// `doorbells[shard]` wakes that shard's feed task: new messages in `log` (for every
    /// shard), and for the owner also clients joining or leaving and delivery progress.
    pub doorbells: Vec<Arc<Doorbell>>,
    /// The shard whose broker connection holds the subscription.
    pub owner: usize,
    /// PUBACKs wait for delivery (`qos: at-least-once` on an entrypoint).
    pub ack_after_delivery: bool,
    state: Mutex<FeedState>,
    /// Per shard: the position every one of its clients has been written, while `connected`.
    delivered: Vec<AtomicU64>,
    connected: Vec<AtomicBool>,
}

struct FeedState {
    /// The subscription's epoch while one is wanted or held; `None` when released.
    epoch: Option<u64>,
    /// The epoch the next subscription gets.
    next_epoch: u64,
    /// Clients of the node (every shard) reading the ring.
    clients: usize,
    /// When the last client left (the linger delay runs from there).
    idle_since: Option<Instant>,
    /// Why the broker refused the current subscription.
    refused: Option<String>,
}

/// Why a client cannot join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The broker refused the subscription (the reason).
    Refused(String),
    /// The cursor belongs to another subscription: an earlier one, another process or node.
    StaleCursor,
}

/// What the owner should hold, as `settle` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// No subscription is wanted.
    Released,
    /// The subscription of this epoch is wanted; with no client left it may be released at
    /// `linger_until`.
    Held {
        /// Its epoch.
        epoch: u64,
        /// When to look again (the end of the linger delay), if no client joins first.
        linger_until: Option<Instant>,
    },
}

/// A random epoch to start from, so a cursor of another process or node is recognised (but for
/// one chance in 8,192).
fn random_epoch() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x6d71_7474_6665_6564);
    hasher.finish() & EPOCH_MASK
}

impl MqttFeed {
    /// A feed with a ring bounded by `max_messages` / `max_bytes`, for `shards` shards, whose
    /// subscription `owner` holds.
    pub fn new(
        name: &str,
        max_messages: usize,
        max_bytes: usize,
        shards: usize,
        owner: usize,
        ack_after_delivery: bool,
    ) -> MqttFeed {
        let doorbells: Vec<Arc<Doorbell>> = (0..shards).map(|_| Doorbell::new()).collect();
        MqttFeed {
            log: Arc::new(TopicLog::new(name, max_messages, max_bytes, &doorbells)),
            doorbells,
            owner,
            ack_after_delivery,
            state: Mutex::new(FeedState {
                epoch: None,
                next_epoch: random_epoch(),
                clients: 0,
                idle_since: None,
                refused: None,
            }),
            delivered: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            connected: (0..shards).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FeedState> {
        // Every mutation completes before anything that can panic: a poisoned lock is consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes the owner's feed task (a client joined or left, delivery progressed).
    pub fn ring_owner(&self) {
        self.doorbells[self.owner].ring();
    }

    /// A client on `shard` joins, resuming after `cursor` (or live). Opens a subscription (a new
    /// epoch, the ring restarted) when the node has none. The caller then subscribes the client
    /// to its shard's fan-out of `log` and calls `leave` when it goes (or if that fails).
    pub fn join(&self, shard: usize, cursor: Option<u64>) -> Result<u64, JoinRefusal> {
        let mut state = self.lock();
        if let Some(why) = &state.refused {
            return Err(JoinRefusal::Refused(why.clone()));
        }
        let epoch = match state.epoch {
            Some(epoch) => epoch,
            // A cursor of a released subscription: the messages since are lost to it.
            None if cursor.is_some() => return Err(JoinRefusal::StaleCursor),
            None => {
                let epoch = state.next_epoch;
                state.next_epoch = (epoch + 1) & EPOCH_MASK;
                state.epoch = Some(epoch);
                self.log.lock().restart_at((epoch << SEQUENCE_BITS) | 1);
                epoch
            }
        };
        if cursor.is_some_and(|cursor| epoch_of(cursor) != epoch) {
            return Err(JoinRefusal::StaleCursor);
        }
        state.clients += 1;
        state.idle_since = None;
        if self.ack_after_delivery && !self.connected[shard].load(Ordering::Acquire) {
            // Holds back acknowledgements from now: the client may be due any message appended
            // after this (its own report follows once it is in the fan-out).
            let floor = self.log.lock().next_position() - 1;
            self.delivered[shard].store(floor, Ordering::Release);
            self.connected[shard].store(true, Ordering::Release);
        }
        Ok(epoch)
    }

    /// A client left (or could not subscribe after `join`).
    pub fn leave(&self) {
        let mut state = self.lock();
        state.clients = state.clients.saturating_sub(1);
        if state.clients == 0 {
            state.idle_since = Some(Instant::now());
        }
    }

    /// The owner records that the broker refused the subscription of `epoch`; clients joining
    /// are answered with `why` until the owner releases it.
    pub fn set_refused(&self, epoch: u64, why: &str) {
        let mut state = self.lock();
        if state.epoch == Some(epoch) {
            state.refused = Some(why.to_owned());
        }
    }

    /// The owner's look: releases the subscription when no client is left and the linger delay
    /// (`unsubscribe_delay`, or none when `now_anyway`: shutdown, or a refused subscription) has
    /// passed; says what to hold otherwise.
    pub fn settle(&self, unsubscribe_delay: Duration, now_anyway: bool) -> Settled {
        let mut state = self.lock();
        let Some(epoch) = state.epoch else {
            return Settled::Released;
        };
        let linger_until = match state.idle_since {
            Some(since) if state.clients == 0 => {
                let until = since + unsubscribe_delay;
                if now_anyway || state.refused.is_some() || Instant::now() >= until {
                    state.epoch = None;
                    state.idle_since = None;
                    state.refused = None;
                    return Settled::Released;
                }
                Some(until)
            }
            _ => None,
        };
        Settled::Held {
            epoch,
            linger_until,
        }
    }

    /// Clients of the node now.
    pub fn clients(&self) -> usize {
        self.lock().clients
    }

    /// A shard reports the position every one of its clients has been written (`None`: it has
    /// no client due anything).
    pub fn report_delivered(&self, shard: usize, floor: Option<u64>) {
        if let Some(floor) = floor {
            self.delivered[shard].store(floor, Ordering::Release);
        }
        self.connected[shard].store(floor.is_some(), Ordering::Release);
    }

    /// The position every client of the node has been written: the lowest among the shards
    /// with clients due something (`None`: no client is due anything).
    pub fn delivered_floor(&self) -> Option<u64> {
        self.delivered
            .iter()
            .zip(self.connected.iter())
            .filter(|(_, connected)| connected.load(Ordering::Acquire))
            .map(|(delivered, _)| delivered.load(Ordering::Acquire))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(ack_after_delivery: bool) -> MqttFeed {
        MqttFeed::new("t", 10, 1 << 20, 2, 1, ack_after_delivery)
    }

    #[test]
    fn the_first_client_opens_an_epoch_that_the_ring_positions_carry() {
        let feed = feed(false);
        assert_eq!(feed.settle(Duration::ZERO, false), Settled::Released);
        assert_eq!(feed.join(0, Some(5)), Err(JoinRefusal::StaleCursor));
        let epoch = feed.join(0, None).unwrap();
        assert_eq!(
            feed.log.lock().next_position(),
            (epoch << SEQUENCE_BITS) | 1
        );
        let cursor = epoch << SEQUENCE_BITS;
        assert_eq!(feed.join(1, Some(cursor)), Ok(epoch), "another shard");
        let other_epoch = ((epoch + 1) & EPOCH_MASK) << SEQUENCE_BITS;
        assert_eq!(
            feed.join(1, Some(other_epoch)),
            Err(JoinRefusal::StaleCursor)
        );
        assert_eq!(feed.clients(), 2);
    }

    #[test]
    fn release_waits_for_the_last_client_and_the_linger_delay() {
        let feed = feed(false);
        let epoch = feed.join(0, None).unwrap();
        let long = Duration::from_secs(3600);
        assert_eq!(
            feed.settle(long, false),
            Settled::Held {
                epoch,
                linger_until: None
            }
        );
        feed.leave();
        assert!(matches!(
            feed.settle(long, false),
            Settled::Held {
                linger_until: Some(_),
                ..
            }
        ));
        assert_eq!(feed.settle(Duration::ZERO, false), Settled::Released);
        let renewed = feed.join(1, None).unwrap();
        assert_ne!(renewed, epoch, "a renewed subscription is a new epoch");
        assert_eq!(
            feed.join(1, Some(epoch << SEQUENCE_BITS)),
            Err(JoinRefusal::StaleCursor)
        );
    }

    #[test]
    fn a_refused_subscription_is_reported_until_released() {
        let feed = feed(false);
        let epoch = feed.join(0, None).unwrap();
        feed.set_refused(epoch, "not authorized");
        assert_eq!(
            feed.join(1, None),
            Err(JoinRefusal::Refused("not authorized".to_owned()))
        );
        feed.leave();
        assert_eq!(
            feed.settle(Duration::from_secs(3600), false),
            Settled::Released
        );
        assert!(feed.join(1, None).is_ok());
    }

    #[test]
    fn the_delivered_floor_is_the_slowest_shard_with_clients() {
        let feed = feed(true);
        assert_eq!(feed.delivered_floor(), None);
        feed.join(0, None).unwrap();
        let start = feed.log.lock().next_position() - 1;
        assert_eq!(feed.delivered_floor(), Some(start), "held from the join");
        feed.report_delivered(0, Some(start + 7));
        feed.report_delivered(1, Some(start + 4));
        assert_eq!(feed.delivered_floor(), Some(start + 4));
        feed.report_delivered(1, None);
        assert_eq!(feed.delivered_floor(), Some(start + 7));
        feed.report_delivered(0, None);
        assert_eq!(feed.delivered_floor(), None, "nobody is due anything");
    }
}
