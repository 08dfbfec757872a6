//! Clients resuming before the node buffer, on one shard.
//!
//! Such a client reads a catch-up reader (`cross_shard::catch_up_streams`): one fetch shared by
//! every client whose position its buffer still holds, served on this shard by a fan-out of its
//! own (`StreamLocal`). Once the reader reached the node buffer and stopped, each of its
//! clients that read the reader's buffer to its end moves to the node buffer's fan-out, at the
//! position it reached: from then on it costs what any client costs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::local_feed::{matched_in, report_reads, LocalFeed, Matched};
use crate::cross_shard::catch_up_streams::{CatchUpRefused, CatchUpStream};
use crate::cross_shard::kafka_link::{BridgeCommand, CatchUpRequest, KafkaFeed, KafkaLink};
use crate::cross_shard::Doorbell;
use crate::delivery::fanout::{Fanout, FanoutSubscription};
use crate::delivery::pump::{self, Pumped};
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::endpoint::{EndpointError, Fault};
use crate::message::kafka_cursor::KafkaCursor;
use crate::message::MessageId;
use crate::metrics::ShardMetrics;
use crate::shard::supervisor::spawn_shard_task;

/// A client served through a catch-up reader (and then the node buffer); dropping it ends its
/// delivery.
pub(super) struct CatchUp {
    route: Rc<RefCell<Route>>,
}

/// Where a catch-up client's records come from now.
pub(super) enum Route {
    /// A catch-up reader on this shard, and the client in its fan-out.
    Stream {
        local: Rc<StreamLocal>,
        member: FanoutSubscription,
    },
    /// The client in the node buffer's fan-out (after the reader caught up); dropping it
    /// unsubscribes.
    Shared(#[allow(dead_code)] FanoutSubscription),
    /// Nothing (the client is gone, or could not be moved and was ended).
    Gone,
}

impl CatchUp {
    /// A client whose deliveries follow `route` (which may still be `Gone`: being decided).
    pub(super) fn new(route: Rc<RefCell<Route>>) -> CatchUp {
        CatchUp { route }
    }
}

impl Drop for CatchUp {
    fn drop(&mut self) {
        let route = std::mem::replace(&mut *self.route.borrow_mut(), Route::Gone);
        if let Route::Stream { local, member } = route {
            local.remove(member);
        }
    }
}

/// One catch-up reader on this shard: its fan-out and the clients reading it here.
pub(super) struct StreamLocal {
    stream: Arc<CatchUpStream>,
    /// The reader's buffer as a feed of this shard (its fan-out; never pumped by `pump`).
    reader: Rc<LocalFeed>,
    /// The feed whose node buffer the clients move to.
    main: Weak<LocalFeed>,
    link: KafkaLink,
    routes: RefCell<HashMap<usize, Rc<RefCell<Route>>>>,
}

impl StreamLocal {
    /// A client stopped reading the reader here.
    fn remove(&self, member: FanoutSubscription) {
        self.routes.borrow_mut().remove(&member.key());
        drop(member);
        self.stream.leave();
    }

    /// Moves the clients that read everything of a reader that stopped to the node buffer.
    fn hand_over(&self) {
        if !self.stream.is_closed() || !self.stream.is_caught_up() {
            return;
        }
        let Some(main) = self.main.upgrade() else {
            return;
        };
        let (end, head) = {
            let ring = self.reader.shared.log.lock();
            let last = ring.iter().last().and_then(|m| match &m.id {
                MessageId::Kafka(id) => Some(id.cursor.clone()),
                _ => None,
            });
            (ring.next_position(), last)
        };
        let Some(head) = head.or_else(|| self.reader.shared.start()) else {
            return;
        };
        // A group member commits what its clients were written (`Fanout::delivered_floor`):
        // a client moves only once everything of the reader was written, and its last written
        // message (a position in the reader's buffer) is forgotten.
        let group = main.consumer.group_id.is_some();
        let keys: Vec<usize> = self.routes.borrow().keys().copied().collect();
        for key in keys {
            let Some(route) = self.routes.borrow().get(&key).cloned() else {
                continue;
            };
            let taken = std::mem::replace(&mut *route.borrow_mut(), Route::Gone);
            let Route::Stream { local, member } = taken else {
                *route.borrow_mut() = taken;
                continue;
            };
            let (queue, floor) = match member.detach_at(end, group) {
                Ok(detached) => detached,
                Err(member) => {
                    // Not everything written yet: it stays on the reader.
                    *route.borrow_mut() = Route::Stream { local, member };
                    continue;
                }
            };
            if group {
                queue.forget_delivered();
            }
            self.routes.borrow_mut().remove(&key);
            self.stream.leave();
            let position = Arc::new(floor.map_or((*head).clone(), |f| f.further(&head)));
            let next = main.route_from(&self.link, position, queue.clone(), &route);
            *route.borrow_mut() = next.unwrap_or_else(|_| {
                // No reader can take it now: it ends with its position, to come back later
                // ("retry later", not "you fell behind").
                queue.end(QueueEnd::Unavailable);
                Route::Gone
            });
        }
    }
}

/// This shard's pump of a catch-up reader's buffer (`delivery::pump`): fans it out, and moves
/// its clients on once it stopped; ends when it stopped and has no client left here.
struct StreamPump {
    local: Weak<StreamLocal>,
    doorbell: Arc<Doorbell>,
    shard: usize,
}

impl Pumped for StreamPump {
    async fn woken(&self) -> bool {
        self.doorbell.rung().await;
        self.local.strong_count() > 0
    }

    fn each_fanout(&self, visit: &mut dyn FnMut(&Fanout)) {
        if let Some(local) = self.local.upgrade() {
            visit(&local.reader.fanout);
        }
    }

    fn after_pass(&self, fanout: &Fanout) {
        if let Some(local) = self.local.upgrade() {
            report_reads(&local.reader.shared, fanout, self.shard);
        }
    }

    fn after_wake(&self) -> bool {
        let Some(local) = self.local.upgrade() else {
            return false;
        };
        local.hand_over();
        if local.stream.is_closed() && local.routes.borrow().is_empty() {
            if let Some(main) = local.main.upgrade() {
                main.streams.borrow_mut().remove(&local.stream.id);
            }
            return false;
        }
        true
    }
}

impl LocalFeed {
    /// Serves a client at `floor`, older than the node buffer, through a catch-up reader.
    pub(super) fn catch_up(
        self: &Rc<Self>,
        link: &KafkaLink,
        floor: Arc<KafkaCursor>,
        queue: Rc<OutboundQueue>,
    ) -> Result<CatchUp, EndpointError> {
        let route = Rc::new(RefCell::new(Route::Gone));
        let first = self.join_reader(link, floor, queue, &route)?;
        *route.borrow_mut() = first;
        Ok(CatchUp { route })
    }

    /// The route of a client at `position`: the node buffer's fan-out when it holds the
    /// position, else a catch-up reader.
    pub(super) fn route_from(
        self: &Rc<Self>,
        link: &KafkaLink,
        position: Arc<KafkaCursor>,
        queue: Rc<OutboundQueue>,
        route: &Rc<RefCell<Route>>,
    ) -> Result<Route, EndpointError> {
        let start = self.start()?.clone();
        self.ensure_pumping();
        match self.match_and_hold(&start, &position) {
            Some(matched) => {
                let floor = (!matched.exact).then_some(position);
                let member = self.fanout.subscribe_at(matched.position, floor, queue);
                Ok(Route::Shared(member))
            }
            None => self.join_reader(link, position, queue, route),
        }
    }

    /// Joins the catch-up reader that holds `floor`, or starts one.
    fn join_reader(
        self: &Rc<Self>,
        link: &KafkaLink,
        floor: Arc<KafkaCursor>,
        queue: Rc<OutboundQueue>,
        route: &Rc<RefCell<Route>>,
    ) -> Result<Route, EndpointError> {
        let shards = self.shared.doorbells.len();
        let create = || {
            let feed = KafkaFeed::new(
                "kafka-catch-up",
                self.consumer.max_retained_messages,
                self.consumer.max_retained_bytes,
                shards,
            );
            feed.set_start(floor.clone());
            Arc::new(feed)
        };
        let start = |stream: &Arc<CatchUpStream>| {
            let request = CatchUpRequest {
                feed: self.index,
                stream: stream.clone(),
                shared: self.shared.clone(),
            };
            link.send(BridgeCommand::CatchUp(request)).is_ok()
        };
        let (stream, matched) = self
            .shared
            .catch_ups
            .join(
                self.consumer.max_catch_ups,
                |stream| hold_in(&stream.feed, &floor),
                create,
                start,
            )
            .map_err(|refused| match refused {
                CatchUpRefused::Full { max } => {
                    ShardMetrics::inc(&self.metrics.kafka_catch_ups_refused_total);
                    EndpointError::Unavailable(Fault::new(format!(
                        "this gateway node is already replaying {max} older positions of this API's Kafka topics (`consumer.maxCatchUps`); retry shortly"
                    )))
                }
                CatchUpRefused::Busy => EndpointError::Unavailable(Fault::new(
                    "the gateway's queue to Kafka is full; retry shortly",
                )),
            })?;
        let local = self.stream_local(&stream, link);
        let at = (!matched.exact).then_some(floor);
        let member = local
            .reader
            .fanout
            .subscribe_at(matched.position, at, queue);
        // Subscribed and reported: the reader's fetch may evict around it from now on.
        drop(matched);
        local
            .routes
            .borrow_mut()
            .insert(member.key(), route.clone());
        Ok(Route::Stream { local, member })
    }

    /// This shard's side of `stream`, made (and its pump started) by its first client here.
    fn stream_local(
        self: &Rc<Self>,
        stream: &Arc<CatchUpStream>,
        link: &KafkaLink,
    ) -> Rc<StreamLocal> {
        if let Some(local) = self.streams.borrow().get(&stream.id) {
            return local.clone();
        }
        // Readers that ended without a client here are dropped; their pumps are woken to end.
        self.streams.borrow_mut().retain(|_, local| {
            let keep = !local.stream.is_closed() || !local.routes.borrow().is_empty();
            if !keep {
                local.reader.shared.doorbells[self.shard].ring();
            }
            keep
        });
        let reader = LocalFeed::new(
            self.index,
            self.shard,
            stream.feed.clone(),
            self.consumer.clone(),
            self.policy,
            self.metrics.clone(),
        );
        let doorbell = stream.feed.doorbells[self.shard].clone();
        // Each delivery may be a client's last record of a stopped reader: the pump then moves
        // it on.
        let (weak, feed, shard, bell) = (
            Rc::downgrade(&reader.fanout),
            stream.feed.clone(),
            self.shard,
            doorbell.clone(),
        );
        let stopped = stream.clone();
        reader.fanout.set_on_progress(Box::new(move || {
            if let Some(fanout) = weak.upgrade() {
                report_reads(&feed, &fanout, shard);
            }
            if stopped.is_closed() {
                bell.ring();
            }
        }));
        let local = Rc::new(StreamLocal {
            stream: stream.clone(),
            reader,
            main: Rc::downgrade(self),
            link: link.clone(),
            routes: RefCell::new(HashMap::new()),
        });
        self.streams.borrow_mut().insert(stream.id, local.clone());
        let pumped = StreamPump {
            local: Rc::downgrade(&local),
            doorbell,
            shard: self.shard,
        };
        spawn_shard_task("Kafka catch-up pump", pump::run(pumped));
        local
    }
}

/// Where a client at `floor` joins a catch-up reader: when the reader's buffer holds what
/// follows `floor` and the reader has not passed it, its position there, held against eviction
/// (matched and held under the buffer's lock) until the client subscribed.
fn hold_in(reader: &KafkaFeed, floor: &KafkaCursor) -> Option<Matched> {
    let start = reader.start()?;
    let ring = reader.log.lock();
    let head = ring
        .iter()
        .last()
        .and_then(|m| match &m.id {
            MessageId::Kafka(id) => Some(id.cursor.clone()),
            _ => None,
        })
        .unwrap_or_else(|| start.clone());
    if head.slots != floor.slots || !head.covers(floor) {
        return None;
    }
    let (position, exact) = matched_in(&ring, &start, floor)?;
    Some(Matched::held(reader, position, exact))
}
