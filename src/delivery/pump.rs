//! The delivery pump of ring-backed endpoints: one loop per ring (or set of rings) on a shard
//! that waits until a ring's writer rang, then refills every fan-out whose log has news for this
//! shard. In-memory topics, MQTT node feeds, Kafka node buffers and Kafka catch-up readers all
//! run this loop; what differs between them is behind `Pumped`.
//!
//! Cursors, the slow-client policy applied when a cursor falls out of the ring and the Kafka
//! floor of a client that resumed between ring entries all live in `Fanout::pump_all`, so a pump
//! pass is the same for every endpoint: take the log's news flag for this shard, refill.

use std::future::Future;

use crate::delivery::fanout::Fanout;

/// What one pump serves, and what differs between ring-backed endpoints.
pub trait Pumped {
    /// Waits for the next reason to look at the fan-outs (the ring's doorbell, a timer).
    /// `false` ends the pump: the shard shuts down, or what it served is gone.
    fn woken(&self) -> impl Future<Output = bool>;

    /// Calls `visit` with each fan-out this pump refills (one per in-memory topic of the shard,
    /// one for a broker feed).
    fn each_fanout(&self, visit: &mut dyn FnMut(&Fanout));

    /// Just before a fan-out with news is refilled (the in-memory topics' injected fault).
    fn before_pass(&self, _fanout: &Fanout) {}

    /// Just after a fan-out with news was refilled (Kafka tells its bridge how far this shard's
    /// clients read, so that its fetches can make room).
    fn after_pass(&self, _fanout: &Fanout) {}

    /// After every fan-out was looked at; `false` ends the pump (a catch-up reader that stopped
    /// moves its clients on here, and ends once none is left).
    fn after_wake(&self) -> bool {
        true
    }
}

/// Runs `pumped`'s pump until it ends (see `Pumped::woken` and `Pumped::after_wake`).
pub async fn run(pumped: impl Pumped) {
    while pumped.woken().await {
        pumped.each_fanout(&mut |fanout| {
            if has_news(fanout) {
                pumped.before_pass(fanout);
                fanout.pump_all();
                pumped.after_pass(fanout);
            }
        });
        if !pumped.after_wake() {
            return;
        }
    }
}

/// True (once) when `fanout`'s log was appended to since this shard last asked.
fn has_news(fanout: &Fanout) -> bool {
    let source = fanout.source();
    source.log.take_dirty(source.shard)
}

#[cfg(test)]
mod tests;
