//! A stream writer's side of `deliverPerSecond`: how many of the waiting messages it may take
//! from its outbound queue now, and until when it must leave them there.
//!
//! Messages left in the queue are a slow-down, not a loss: a pulling producer (a retention ring)
//! stops pulling when the queue is full and resumes from where the client is, and a pushing one
//! meets the queue's bound and the slow-client policy, as for any slow client.

use std::rc::Rc;

use monoio::time::Instant;

use super::meter::{Meter, Pace};
use crate::delivery::OutboundQueue;
use crate::message::Message;

/// Pacing state of one stream.
pub struct Pacer {
    meter: Option<Rc<Meter>>,
    paused_until: Option<Instant>,
}

impl Pacer {
    /// Paces only when `meter`'s plan sets `deliverPerSecond`.
    pub fn new(meter: Option<Rc<Meter>>) -> Pacer {
        Pacer {
            meter: meter.filter(|meter| meter.paces_deliveries()),
            paused_until: None,
        }
    }

    /// True when the client's plan paces its deliveries (its writer then takes every message,
    /// never the fan-out's direct path).
    pub fn paces(&self) -> bool {
        self.meter.is_some()
    }

    /// When the writer may take messages again (`None`: now).
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// The pause has passed.
    pub fn resume(&mut self) {
        self.paused_until = None;
    }

    /// Moves up to `max` messages that may be delivered now from `queue` into `batch` (with
    /// `overflow: drop`, those over the rate are taken and dropped); pauses the writer when none
    /// may.
    pub fn drain(&mut self, queue: &OutboundQueue, max: usize, batch: &mut Vec<Message>) {
        let Some(meter) = &self.meter else {
            queue.drain_into(max, batch);
            return;
        };
        let waiting = queue.len().min(max);
        match meter.deliveries(waiting) {
            Pace::Deliver { count, drop_rest } => {
                let keep = batch.len() + count;
                queue.drain_into(if drop_rest { waiting } else { count }, batch);
                batch.truncate(keep);
            }
            Pace::Wait(wait) => self.paused_until = Some(Instant::now() + wait),
        }
    }
}

/// Sleeps until `at`, or forever when there is no pause (a disabled `select!` arm).
pub async fn until(at: Option<Instant>) {
    match at {
        Some(at) => monoio::time::sleep_until(at).await,
        None => std::future::pending::<()>().await,
    }
}
