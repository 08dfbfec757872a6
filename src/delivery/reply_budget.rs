//! The shard's budget of HTTP GET reply bytes in flight.
//!
//! A reply is written from the payloads the retention ring already holds (no rendered copy), but
//! a client that does not read its reply still pins them, and the framing around them, until the
//! write is abandoned (`replyStallMs`). This budget bounds what all of a shard's replies pin at
//! once: a poll takes a permit for its reply's bytes before writing and gives it back when the
//! write ends. A reply that does not fit is cut to what fits (the client continues from its
//! `nextCursor`); one that cannot have a single message is refused (503) by the caller. Like an
//! outbound queue, an idle budget takes any one reply, so a message larger than the budget
//! still reaches its client.

use std::cell::Cell;
use std::sync::Arc;

use crate::metrics::ShardMetrics;

/// Reply bytes in flight on one shard, bounded by `maxGetReplyBytesPerShard`.
pub struct ReplyBudget {
    max_bytes: usize,
    used: Cell<usize>,
    metrics: Arc<ShardMetrics>,
}

/// Bytes of one reply, held until dropped (when its write has ended, written or not).
pub struct ReplyPermit<'a> {
    budget: &'a ReplyBudget,
    bytes: usize,
}

impl ReplyBudget {
    /// A budget of `max_bytes`, reported in `http_get_reply_bytes_in_flight`.
    pub fn new(max_bytes: usize, metrics: Arc<ShardMetrics>) -> ReplyBudget {
        ReplyBudget {
            max_bytes,
            used: Cell::new(0),
            metrics,
        }
    }

    /// Bytes a reply may take now without going over the bound (all of it when idle: see
    /// `try_acquire`).
    pub fn available(&self) -> usize {
        if self.used.get() == 0 {
            usize::MAX
        } else {
            self.max_bytes.saturating_sub(self.used.get())
        }
    }

    /// Takes `bytes` for one reply: granted when they fit, or when nothing else is in flight.
    pub fn try_acquire(&self, bytes: usize) -> Option<ReplyPermit<'_>> {
        if bytes > self.available() {
            return None;
        }
        self.used.set(self.used.get() + bytes);
        ShardMetrics::add(&self.metrics.http_get_reply_bytes_in_flight, bytes as u64);
        Some(ReplyPermit {
            budget: self,
            bytes,
        })
    }
}

impl Drop for ReplyPermit<'_> {
    fn drop(&mut self) {
        let budget = self.budget;
        budget.used.set(budget.used.get() - self.bytes);
        ShardMetrics::sub(
            &budget.metrics.http_get_reply_bytes_in_flight,
            self.bytes as u64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_share_the_bound_and_an_idle_budget_takes_any_one() {
        let metrics = Arc::new(ShardMetrics::default());
        let budget = ReplyBudget::new(100, metrics.clone());
        let huge = budget.try_acquire(500).expect("idle: any one reply");
        assert!(budget.try_acquire(1).is_none(), "over the bound");
        drop(huge);
        let a = budget.try_acquire(60).unwrap();
        assert_eq!(budget.available(), 40);
        assert!(budget.try_acquire(41).is_none());
        let b = budget.try_acquire(40).unwrap();
        assert_eq!(
            ShardMetrics::get(&metrics.http_get_reply_bytes_in_flight),
            100
        );
        drop((a, b));
        assert_eq!(
            ShardMetrics::get(&metrics.http_get_reply_bytes_in_flight),
            0
        );
        assert_eq!(budget.available(), usize::MAX);
    }
}
