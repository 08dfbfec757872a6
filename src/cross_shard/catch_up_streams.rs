//! Catch-up readers of a Kafka feed: fetches from positions older than the node buffer, each
//! shared by every client (on any shard) whose position its own buffer still covers.
//!
//! A client resuming before the node buffer joins an open reader that holds its position, or
//! opens one (at most `consumer.maxCatchUps` per feed and node; beyond that it is refused with
//! 503). The bridge fetches each reader into a buffer of its own, paced by its clients like the
//! node buffer, until its position reaches what the node buffer holds: it then stops fetching
//! (`caught_up`), and each of its clients moves to the node buffer's fan-out once it has read
//! the reader's buffer to its end. A reader nobody reads any more ends.

#![allow(
    clippy::disallowed_types,
    reason = "catch-up readers shared by every shard and the Kafka bridge thread; held only to join or leave one, never across an await"
)]
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::kafka_link::KafkaFeed;

/// One catch-up reader.
pub struct CatchUpStream {
    /// Unique per feed and node (shards find their side of it by this).
    pub id: u64,
    /// Its buffer, doorbells, start position and read floors.
    pub feed: Arc<KafkaFeed>,
    clients: AtomicUsize,
    caught_up: AtomicBool,
    closed: AtomicBool,
}

impl CatchUpStream {
    /// Clients reading it now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Acquire)
    }

    /// A client stopped reading it (it left, or moved to the node buffer).
    pub fn leave(&self) {
        self.clients.fetch_sub(1, Ordering::AcqRel);
    }

    /// True once its position reached the node buffer: it fetches nothing more.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// True once it ended (no new client may join).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Why no catch-up reader could take a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUpRefused {
    /// `max` readers are open.
    Full {
        /// The bound (`consumer.maxCatchUps`).
        max: usize,
    },
    /// The bridge's queue is full.
    Busy,
}

/// The open catch-up readers of one feed on this node.
#[derive(Default)]
pub struct CatchUpStreams {
    open: Mutex<Vec<Arc<CatchUpStream>>>,
    next_id: AtomicU64,
}

impl CatchUpStreams {
    /// Joins the first open reader `joinable` accepts, or opens one with the buffer `create`
    /// makes and hands it to the bridge with `start`, when fewer than `max` are open.
    /// Returns the reader (counted as read by the client until `leave`) and what `joinable`
    /// returned for it: the client's position there, held against eviction until it
    /// subscribed (a new reader is joined before its fetch starts, so nothing is evicted
    /// before its first client reads).
    pub fn join<T>(
        &self,
        max: usize,
        joinable: impl Fn(&CatchUpStream) -> Option<T>,
        create: impl FnOnce() -> Arc<KafkaFeed>,
        start: impl FnOnce(&Arc<CatchUpStream>) -> bool,
    ) -> Result<(Arc<CatchUpStream>, T), CatchUpRefused> {
        let mut open = self.lock();
        open.retain(|stream| !stream.is_closed() && !stream.is_caught_up());
        for stream in open.iter() {
            if let Some(joined) = joinable(stream) {
                stream.clients.fetch_add(1, Ordering::AcqRel);
                return Ok((stream.clone(), joined));
            }
        }
        if open.len() >= max {
            return Err(CatchUpRefused::Full { max });
        }
        let stream = Arc::new(CatchUpStream {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            feed: create(),
            clients: AtomicUsize::new(1),
            caught_up: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        // A reader starting at the client's position always takes it.
        let joined = joinable(&stream).ok_or(CatchUpRefused::Busy)?;
        if !start(&stream) {
            return Err(CatchUpRefused::Busy);
        }
        open.push(stream.clone());
        Ok((stream, joined))
    }

    /// The bridge: `stream` has no client left; ends it unless one joined meanwhile.
    /// Returns true when it ended.
    pub fn close_if_unused(&self, stream: &CatchUpStream) -> bool {
        let _open = self.lock();
        if stream.clients() > 0 {
            return false;
        }
        stream.closed.store(true, Ordering::Release);
        true
    }

    /// The bridge: `stream` reached the node buffer; no client joins it any more.
    pub fn caught_up(&self, stream: &CatchUpStream) {
        let _open = self.lock();
        stream.caught_up.store(true, Ordering::Release);
    }

    /// The bridge: `stream` stopped fetching for good (caught up or unused).
    pub fn ended(&self, stream: &CatchUpStream) {
        let mut open = self.lock();
        stream.closed.store(true, Ordering::Release);
        open.retain(|s| s.id != stream.id);
    }

    /// Readers open now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no reader is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<CatchUpStream>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{CatchUpRefused, CatchUpStreams};
    use crate::cross_shard::kafka_link::KafkaFeed;

    fn reader() -> Arc<KafkaFeed> {
        Arc::new(KafkaFeed::new("catch-up", 4, 1 << 20, 1))
    }

    /// A new reader's fetch starts with its first client's position already held: a fetch that
    /// started first would see no reader and could fill the buffer past it.
    #[test]
    fn a_new_reader_holds_its_first_clients_position_before_it_fetches() {
        let streams = CatchUpStreams::default();
        let (stream, hold) = streams
            .join(
                1,
                |stream| Some(stream.feed.reads.hold(1)),
                reader,
                |stream| {
                    assert_eq!(stream.feed.reads.floor(), Some(1), "fetch started unheld");
                    true
                },
            )
            .unwrap();
        assert_eq!(stream.clients(), 1);
        drop(hold);
        assert_eq!(stream.feed.reads.floor(), None);
    }

    #[test]
    fn a_client_joins_the_reader_that_takes_it_else_a_new_one_up_to_the_bound() {
        let streams = CatchUpStreams::default();
        let (first, _) = streams.join(2, |_| Some(()), reader, |_| true).unwrap();
        let (same, _) = streams.join(2, |_| Some(()), reader, |_| true).unwrap();
        assert_eq!((first.id, first.clients()), (same.id, 2));
        let (other, _) = streams
            .join(2, |s| (s.id != first.id).then_some(()), reader, |_| true)
            .unwrap();
        assert_ne!(other.id, first.id);
        let refused = streams.join(2, |_| None::<()>, reader, |_| true);
        assert_eq!(refused.err(), Some(CatchUpRefused::Full { max: 2 }));
    }
}
