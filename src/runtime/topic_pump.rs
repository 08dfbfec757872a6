//! The delivery pump of this shard's in-memory topics (`delivery::pump`): one task for every
//! topic, woken by the shard's doorbell, which a topic's writer rings on whichever shard it
//! published.

use std::rc::Rc;

use crate::delivery::fanout::Fanout;
use crate::delivery::pump::Pumped;
use crate::shard::fault::{self, Site};
use crate::shard::Shard;

/// Fans out new in-memory topic messages to this shard's subscribers whenever the doorbell
/// rings; ends at shutdown.
pub(super) struct TopicPump(pub(super) Rc<Shard>);

impl Pumped for TopicPump {
    async fn woken(&self) -> bool {
        let shard = &self.0;
        monoio::select! {
            _ = shard.shutdown.wait() => false,
            _ = shard.doorbell.rung() => true,
        }
    }

    fn each_fanout(&self, visit: &mut dyn FnMut(&Fanout)) {
        // A copy: a live apply may replace the topics while a subscriber's hook runs.
        let topics: Vec<_> = self.0.topics.borrow().values().cloned().collect();
        for topic in topics {
            visit(topic.fanout());
        }
    }

    fn before_pass(&self, fanout: &Fanout) {
        fault::trip(Site::TopicDelivery, fanout.source().log.name().as_bytes());
    }
}
