use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use super::*;
use crate::config::SlowClientPolicy;
use crate::cross_shard::{Doorbell, TopicLog};
use crate::delivery::fanout::RingSource;
use crate::delivery::pump::{self, Pumped};
use crate::delivery::test_fixtures::{drain, message, queue_of};
use crate::metrics::ShardMetrics;
use std::cell::RefCell;

/// A fan-out of a ring read by one shard, counting how often it reported progress.
fn fanout(doorbell: &Arc<Doorbell>) -> (Rc<Fanout>, Arc<TopicLog>, Rc<Cell<u32>>) {
    let log = Arc::new(TopicLog::new(
        "t",
        100,
        1 << 20,
        std::slice::from_ref(doorbell),
    ));
    let source = RingSource {
        log: log.clone(),
        shard: 0,
    };
    let fanout = Rc::new(Fanout::new(
        source,
        SlowClientPolicy::DropOldest,
        Arc::new(ShardMetrics::default()),
    ));
    let progress = Rc::new(Cell::new(0));
    let counted = progress.clone();
    fanout.set_on_progress(Box::new(move || counted.set(counted.get() + 1)));
    (fanout, log, progress)
}

/// Every order of dropping three subscriptions: each drop removes exactly its subscriber (the
/// others still get the next message, it does not), reports progress (a client that left no
/// longer holds back acknowledgements), and the last one withdraws the shard's interest in the
/// ring (an append no longer marks it dirty).
#[test]
fn dropping_in_every_order_removes_exactly_that_subscriber() {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let (fanout, log, progress) = fanout(&Doorbell::new());
        let queues = [queue(), queue(), queue()];
        let mut members: Vec<Option<FanoutSubscription>> = queues
            .iter()
            .map(|q| Some(fanout.subscribe(None, q.clone()).unwrap().0))
            .collect();
        for (dropped, &index) in order.iter().enumerate() {
            let before = progress.get();
            members[index] = None;
            assert!(progress.get() > before, "{order:?}: no progress reported");
            assert_eq!(fanout.subscriber_count(), 2 - dropped, "{order:?}");
            log.append(message()).unwrap();
            assert_eq!(log.take_dirty(0), dropped < 2, "{order:?}: interest");
            fanout.pump_all();
            for (i, q) in queues.iter().enumerate() {
                let got = drain(q);
                assert_eq!(got.is_empty(), members[i].is_none(), "{order:?}: {i}");
            }
        }
    }
}

/// A detached subscription owns nothing in the fan-out any more: its leaving is reported once
/// (not again as an unsubscribe), and the key it had goes to the next subscriber, who keeps it.
#[test]
fn a_detached_subscription_does_not_remove_the_next_holder_of_its_key() {
    let (fanout, log, progress) = fanout(&Doorbell::new());
    let first = queue();
    let member = fanout.subscribe(None, first.clone()).unwrap().0;
    let key = member.key();
    let before = progress.get();
    let Ok((detached, floor)) = member.detach_at(1, true) else {
        panic!("an empty subscriber at the ring's end detaches");
    };
    assert!(Rc::ptr_eq(&detached, &first) && floor.is_none());
    assert_eq!(progress.get(), before + 1, "one report of its leaving");
    assert!(fanout.take_members_changed());
    let second = queue();
    let next = fanout.subscribe_at(1, None, second.clone());
    assert_eq!(next.key(), key, "the slab reuses the key");
    log.append(message()).unwrap();
    fanout.pump_all();
    assert_eq!(drain(&second), vec![1]);
    assert!(drain(&first).is_empty());
    drop(next);
    assert_eq!(fanout.subscriber_count(), 0);
}

/// A subscription that cannot detach yet comes back whole, and still unsubscribes when dropped.
#[test]
fn a_refused_detach_gives_the_subscription_back() {
    let (fanout, log, _) = fanout(&Doorbell::new());
    let q = queue();
    let member = fanout.subscribe(None, q.clone()).unwrap().0;
    log.append(message()).unwrap();
    let Err(member) = member.detach_at(5, false) else {
        panic!("not given everything before 5");
    };
    assert_eq!(fanout.subscriber_count(), 1);
    drop(member);
    assert_eq!(fanout.subscriber_count(), 0);
}

/// A pump over two fan-outs whose hooks drop subscriptions mid-wake-up: one of the fan-out about
/// to be refilled, one of the fan-out just refilled.
struct Dropping {
    doorbell: Arc<Doorbell>,
    fanouts: [Rc<Fanout>; 2],
    before: RefCell<Option<FanoutSubscription>>,
    after: RefCell<Option<FanoutSubscription>>,
    woken: Cell<bool>,
}

impl Pumped for &Dropping {
    async fn woken(&self) -> bool {
        if self.woken.replace(true) {
            return false;
        }
        self.doorbell.rung().await;
        true
    }

    fn each_fanout(&self, visit: &mut dyn FnMut(&Fanout)) {
        for fanout in &self.fanouts {
            visit(fanout);
        }
    }

    fn before_pass(&self, fanout: &Fanout) {
        if std::ptr::eq(fanout, &*self.fanouts[0]) {
            self.before.borrow_mut().take();
        }
    }

    fn after_pass(&self, fanout: &Fanout) {
        if std::ptr::eq(fanout, &*self.fanouts[0]) {
            self.after.borrow_mut().take();
        }
    }
}

/// Dropped during a pump pass: the subscriber dropped before its fan-out's refill gets nothing,
/// the one dropped after it got the message (it was still there), and the rest of the pass (the
/// second fan-out) goes on.
#[test]
fn dropping_during_a_pump_pass() {
    let doorbell = Doorbell::new();
    let (one, log_one, _) = fanout(&doorbell);
    let (two, log_two, _) = fanout(&doorbell);
    let (gone_before, gone_after, stays, other) = (queue(), queue(), queue(), queue());
    let pumped = Dropping {
        doorbell,
        before: RefCell::new(Some(one.subscribe(None, gone_before.clone()).unwrap().0)),
        after: RefCell::new(Some(one.subscribe(None, gone_after.clone()).unwrap().0)),
        fanouts: [one.clone(), two.clone()],
        woken: Cell::new(false),
    };
    let _stays = one.subscribe(None, stays.clone()).unwrap().0;
    let _other = two.subscribe(None, other.clone()).unwrap().0;
    log_one.append(message()).unwrap();
    log_two.append(message()).unwrap();
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()
        .expect("a monoio runtime")
        .block_on(pump::run(&pumped));
    assert!(drain(&gone_before).is_empty());
    assert_eq!(drain(&gone_after), vec![1]);
    assert_eq!(drain(&stays), vec![1]);
    assert_eq!(drain(&other), vec![1]);
    assert_eq!((one.subscriber_count(), two.subscriber_count()), (1, 1));
}

fn queue() -> Rc<OutboundQueue> {
    queue_of(64)
}
