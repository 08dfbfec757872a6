//! A subscriber's place in a `Fanout`, as a value: subscribing returns it, dropping it
//! unsubscribes. Endpoints hold it in their subscription instead of a key and a hand-written
//! `Drop`, so a subscriber can no longer be forgotten in the fan-out (its queue filled, the
//! ring's writer held back by its read floor) when the client goes.

use std::rc::Rc;
use std::sync::Arc;

use super::Fanout;
use crate::delivery::OutboundQueue;
use crate::message::kafka_cursor::KafkaCursor;

/// One subscriber of one fan-out; dropping it removes the subscriber (see `Fanout::unsubscribe`:
/// the ring loses this shard's interest with its last subscriber, and delivery progress is
/// reported, since a client that left no longer holds back acknowledgements).
#[must_use = "dropping a FanoutSubscription unsubscribes at once"]
pub struct FanoutSubscription {
    fanout: Rc<Fanout>,
    /// `None` once the subscriber was detached: it already left the fan-out (which reported
    /// it), so there is nothing more to remove or report.
    key: Option<usize>,
}

impl FanoutSubscription {
    pub(super) fn new(fanout: Rc<Fanout>, key: usize) -> FanoutSubscription {
        FanoutSubscription {
            fanout,
            key: Some(key),
        }
    }

    /// The subscriber's key in its fan-out (stable while this lives).
    pub fn key(&self) -> usize {
        self.key
            .expect("only a detach clears the key, and it consumes the subscription")
    }

    /// The fan-out this subscriber reads.
    pub fn fanout(&self) -> &Rc<Fanout> {
        &self.fanout
    }

    /// Takes the subscriber out of its fan-out once it has been given everything before ring
    /// position `end` (and, with `drained`, its queue is empty), to serve it from another ring:
    /// its queue and what it had read past its last message (a Kafka floor). While it has not,
    /// it stays subscribed: the subscription comes back.
    pub fn detach_at(
        mut self,
        end: u64,
        drained: bool,
    ) -> Result<(Rc<OutboundQueue>, Option<Arc<KafkaCursor>>), FanoutSubscription> {
        match self.fanout.detach_at(self.key(), end, drained) {
            Some(detached) => {
                self.key = None;
                Ok(detached)
            }
            None => Err(self),
        }
    }
}

impl Drop for FanoutSubscription {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.fanout.unsubscribe(key);
        }
    }
}
