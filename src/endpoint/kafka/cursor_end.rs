//! Clients whose position lies beyond the log ends their feed last fetched, on one shard
//! (`cross_shard::log_ends`).
//!
//! Such a position is either ahead of this node (another node fetched records this one has
//! not yet) or past the end of the broker's log (the topic was deleted and recreated, or the
//! cursor comes from another cluster). Taken as the first, a position past the end waits for
//! offsets the new log may reach only much later, and then skips the records before them;
//! taken as the second, a position from a node ahead would be read again from the log's
//! start. Only the broker can tell them apart, so the client waits (subscribed nowhere) while
//! the bridge asks it for the log's end: a partition past it resumes at the log's start (as a
//! position the broker no longer has does, docs/configuration.md), the others where the client
//! was; then the client is routed as any other (node buffer or catch-up reader).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::catch_up::{CatchUp, Route};
use super::local_feed::LocalFeed;
use crate::cross_shard::kafka_link::{BridgeCommand, EndsCheck, KafkaLink};
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::endpoint::EndpointError;
use crate::message::kafka_cursor::KafkaCursor;
use crate::shard::supervisor::spawn_shard_task;

impl LocalFeed {
    /// True when `floor` lies beyond the log ends this feed last fetched, on some partition:
    /// where it resumes needs the broker (`route_checking_end`). A consumer group's feed does
    /// not fetch every partition, so its clients are routed as they come.
    pub(super) fn needs_end_check(&self, floor: &KafkaCursor) -> bool {
        self.consumer.group_id.is_none() && !self.shared.ends.beyond(&floor.next).is_empty()
    }

    /// Serves a client at `floor` once the bridge said where it resumes (see the module
    /// comment). When the bridge's queue is full, or the brokers cannot tell, the client
    /// resumes at `floor` as given.
    pub(super) fn route_checking_end(
        self: &Rc<Self>,
        link: &KafkaLink,
        floor: Arc<KafkaCursor>,
        queue: Rc<OutboundQueue>,
    ) -> Result<CatchUp, EndpointError> {
        let route = Rc::new(RefCell::new(Route::Gone));
        let (reply, answer) = flume::bounded(1);
        let check = EndsCheck {
            feed: self.index,
            next: floor.next.to_vec(),
            reply,
        };
        if link.send(BridgeCommand::CheckEnds(check)).is_err() {
            let first = self.route_from(link, floor, queue, &route)?;
            *route.borrow_mut() = first;
            return Ok(CatchUp::new(route));
        }
        let (feed, link, waiting) = (self.clone(), link.clone(), Rc::downgrade(&route));
        spawn_shard_task("Kafka cursor end check", async move {
            let resumed = answer.recv_async().await.ok().flatten();
            // The client left meanwhile: nothing to route.
            let Some(route) = waiting.upgrade() else {
                return;
            };
            let position = match resumed {
                Some(next) if *next != *floor.next => Arc::new(KafkaCursor::new(
                    floor.encoded,
                    floor.slots.clone(),
                    next.into_boxed_slice(),
                )),
                _ => floor,
            };
            let routed = feed.route_from(&link, position, queue.clone(), &route);
            *route.borrow_mut() = routed.unwrap_or_else(|_| {
                // No reader can take it now (`maxCatchUps`): it ends, to come back later from
                // its position ("retry later", not "you fell behind").
                queue.end(QueueEnd::Unavailable);
                Route::Gone
            });
        });
        Ok(CatchUp::new(route))
    }
}

#[cfg(test)]
mod tests;
