//! One shard's side of an MQTT consumer's node feed (`cross_shard::MqttFeed`): the fan-out of
//! the node ring to this shard's clients, their joining and leaving, and the feed task. On every
//! shard the task fans out what the owner appended; on the owner it also keeps the broker
//! subscription in step with the node's clients (SUBSCRIBE for the first, UNSUBSCRIBE after the
//! last has been gone `unsubscribeDelayMs`) and sends the PUBACKs delivery released.

use std::rc::Rc;
use std::sync::Arc;

use crate::config::{MqttConsumerOptions, SlowClientPolicy};
use crate::cross_shard::mqtt_feed::{JoinRefusal, MqttFeed, Settled};
use crate::delivery::fanout::{Fanout, FanoutSubscription, RingSource};
use crate::delivery::pump::{self, Pumped};
use crate::delivery::OutboundQueue;
use crate::endpoint::{EndpointError, Fault};
use crate::message::MessageId;
use crate::metrics::ShardMetrics;

use super::client::MqttClient;
use super::connection;
use super::consumer::ConsumerSub;

/// An MQTT consumer's feed as one shard sees it.
pub(super) struct ShardFeed {
    shard: usize,
    pub(super) shared: Arc<MqttFeed>,
    options: MqttConsumerOptions,
    fanout: Rc<Fanout>,
}

/// A client's place in the node feed; dropping it leaves (the owner unsubscribes after the
/// node's last client, once `unsubscribeDelayMs` has passed).
pub struct MqttSubscription {
    /// Dropped first (fields drop in order): the client leaves the fan-out before it leaves the
    /// node feed, so the delivered floor reported on leaving no longer waits for it.
    _member: FanoutSubscription,
    _joined: Joined,
}

/// A client counted in the node feed (`MqttFeed::join`); dropping it leaves the feed.
struct Joined(Rc<ShardFeed>);

impl Drop for Joined {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl ShardFeed {
    /// This shard's side of `shared`.
    pub(super) fn new(
        shard: usize,
        shared: Arc<MqttFeed>,
        options: MqttConsumerOptions,
        policy: SlowClientPolicy,
        metrics: Arc<ShardMetrics>,
    ) -> Rc<ShardFeed> {
        let source = RingSource {
            log: shared.log.clone(),
            shard,
        };
        let fanout = Rc::new(Fanout::new(source, policy, metrics));
        if shared.ack_after_delivery {
            // The owner acknowledges up to what every shard's clients were written.
            let (weak, feed) = (Rc::downgrade(&fanout), shared.clone());
            fanout.set_on_progress(Box::new(move || {
                if let Some(fanout) = weak.upgrade() {
                    feed.report_delivered(shard, fanout.delivered_floor());
                    feed.ring_owner();
                }
            }));
        }
        Rc::new(ShardFeed {
            shard,
            shared,
            options,
            fanout,
        })
    }

    /// True on the shard whose connection holds the node's subscription.
    pub(super) fn is_owner(&self) -> bool {
        self.shared.owner == self.shard
    }

    /// Adds a client: it gets every message after `after` (live when `None`), from the node
    /// ring, whichever shard issued the cursor.
    pub(super) fn subscribe(
        self: &Rc<Self>,
        after: Option<MessageId>,
        queue: Rc<OutboundQueue>,
    ) -> Result<(MqttSubscription, MessageId), EndpointError> {
        let cursor = after.as_ref().map(MessageId::sequence);
        let joined = self.shared.join(self.shard, cursor);
        // A live client starts at what is next when it joined: what the owner appends once told
        // (on another shard, maybe before this fan-out subscribes: a resumed session's held
        // messages) still comes to it.
        let after = after.or_else(|| {
            let next = self.shared.log.lock().next_position();
            Some(MessageId::Sequence(next.saturating_sub(1)))
        });
        self.shared.ring_owner();
        match joined {
            Ok(_) => {}
            Err(JoinRefusal::Refused(why)) => {
                let detail = format!("filter '{}': {why}", self.options.subscribe_filter());
                return Err(EndpointError::Unavailable(
                    Fault::new("the MQTT broker refused the subscription").with_detail(detail),
                ));
            }
            Err(JoinRefusal::StaleCursor) => {
                return Err(EndpointError::StaleCursor {
                    cursor: cursor.unwrap_or_default().to_string(),
                    why: "it belongs to an earlier MQTT subscription (MQTT cursors are kept per \
                          gateway node and subscription: the subscription was renewed after its \
                          last client left, the gateway restarted, or the cursor came from \
                          another gateway node); resume without a cursor",
                })
            }
        }
        // Leaves again if the fan-out refuses the cursor.
        let joined = Joined(self.clone());
        let (member, start) = self.fanout.subscribe(after, queue)?;
        let subscription = MqttSubscription {
            _member: member,
            _joined: joined,
        };
        Ok((subscription, start))
    }

    fn leave(&self) {
        if self.shared.ack_after_delivery {
            self.shared
                .report_delivered(self.shard, self.fanout.delivered_floor());
        }
        self.shared.leave();
        self.shared.ring_owner();
    }

    /// Runs this shard's side until shutdown: fans out what the owner appended and, on the
    /// owner, keeps the broker subscription in step with the node's clients.
    pub(super) async fn run(self: Rc<Self>, client: Rc<MqttClient>) {
        pump::run(FeedPump { feed: self, client }).await;
    }

    /// The owner's look at the node's clients: subscribes for a new epoch, unsubscribes a
    /// released one, sends the PUBACKs delivery released. Returns when to look again (the end of
    /// the linger delay).
    fn settle(&self, client: &Rc<MqttClient>) -> Option<std::time::Instant> {
        let now_anyway = client.shutdown.is_fired();
        let settled = self
            .shared
            .settle(self.options.unsubscribe_delay, now_anyway);
        let current = client.consumer.borrow().clone();
        match settled {
            Settled::Released => {
                if let Some(sub) = current {
                    client.unsubscribe(&sub);
                }
                None
            }
            Settled::Held {
                epoch,
                linger_until,
            } => {
                let sub = match current {
                    Some(sub) if sub.epoch == epoch => sub,
                    stale => {
                        if let Some(stale) = stale {
                            client.unsubscribe(&stale);
                        }
                        let sub = Rc::new(ConsumerSub::new(
                            &self.options,
                            epoch,
                            self.shared.clone(),
                            client.metrics.clone(),
                        ));
                        *client.consumer.borrow_mut() = Some(sub.clone());
                        ShardMetrics::inc(&client.metrics.mqtt_subscriptions_active);
                        client.send_subscribe(&sub);
                        // What a resumed session handed over before any client joined.
                        client.take_early(&sub);
                        sub
                    }
                };
                if !now_anyway {
                    // After `reconnectAttempts` ran out, clients wanting messages reconnect it.
                    connection::ensure_running(client);
                }
                if sub.ack_after_delivery {
                    client.send_released_acks(&sub);
                }
                linger_until
            }
        }
    }
}

/// This shard's pump of an MQTT node feed (`delivery::pump`); the owner also settles the broker
/// subscription each time it wakes.
struct FeedPump {
    feed: Rc<ShardFeed>,
    client: Rc<MqttClient>,
}

impl Pumped for FeedPump {
    async fn woken(&self) -> bool {
        let (feed, client) = (&self.feed, &self.client);
        let linger_until = if feed.is_owner() {
            feed.settle(client)
        } else {
            None
        };
        let linger = async {
            match linger_until {
                Some(until) => {
                    monoio::time::sleep_until(monoio::time::Instant::from_std(until)).await
                }
                None => std::future::pending().await,
            }
        };
        let doorbell = &feed.shared.doorbells[feed.shard];
        monoio::select! {
            _ = client.shutdown.wait() => false,
            _ = doorbell.rung() => true,
            _ = linger => true,
        }
    }

    fn each_fanout(&self, visit: &mut dyn FnMut(&Fanout)) {
        visit(&self.feed.fanout);
    }
}
