use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use super::*;
use crate::config::SlowClientPolicy;
use crate::cross_shard::{Doorbell, TopicLog};
use crate::delivery::fanout::RingSource;
use crate::delivery::test_fixtures::{drain, message, queue_of};
use crate::delivery::OutboundQueue;
use crate::metrics::ShardMetrics;

/// A pump over one fan-out that counts what it was asked, and ends after `wakes` wake-ups (or
/// when `end_after_wake` says so).
struct Counting {
    doorbell: Arc<Doorbell>,
    fanout: Rc<Fanout>,
    wakes: Cell<u32>,
    before: Cell<u32>,
    after: Cell<u32>,
    end_after_wake: bool,
}

impl Pumped for &Counting {
    async fn woken(&self) -> bool {
        if self.wakes.get() == 0 {
            return false;
        }
        self.doorbell.rung().await;
        self.wakes.set(self.wakes.get() - 1);
        true
    }

    fn each_fanout(&self, visit: &mut dyn FnMut(&Fanout)) {
        visit(&self.fanout);
    }

    fn before_pass(&self, _fanout: &Fanout) {
        self.before.set(self.before.get() + 1);
    }

    fn after_pass(&self, _fanout: &Fanout) {
        self.after.set(self.after.get() + 1);
        // A ring with nothing new behind it: the next wake-up finds no news.
        self.doorbell.ring();
    }

    fn after_wake(&self) -> bool {
        !self.end_after_wake
    }
}

fn counting(wakes: u32, end_after_wake: bool) -> (Counting, Arc<TopicLog>) {
    let doorbell = Doorbell::new();
    let log = Arc::new(TopicLog::new(
        "t",
        100,
        1 << 20,
        std::slice::from_ref(&doorbell),
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
    let pumped = Counting {
        doorbell,
        fanout,
        wakes: Cell::new(wakes),
        before: Cell::new(0),
        after: Cell::new(0),
        end_after_wake,
    };
    (pumped, log)
}

fn block_on<F: Future>(future: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("a monoio runtime")
        .block_on(future)
}

/// A wake-up with news refills the subscribers between the two hooks; one without news (the
/// doorbell rang for nothing new) touches nothing; the pump ends when `woken` says so.
#[test]
fn a_pass_runs_only_for_news_between_its_hooks() {
    let (pumped, log) = counting(2, false);
    let q = queue();
    let (_member, _) = pumped.fanout.subscribe(None, q.clone()).unwrap();
    log.append(message()).unwrap();
    log.append(message()).unwrap();
    // First wake-up: the appends rang the doorbell; the second rang in `after_pass`.
    block_on(run(&pumped));
    assert_eq!(drain(&q), vec![1, 2]);
    assert_eq!(pumped.wakes.get(), 0, "woken twice, then ended");
    assert_eq!((pumped.before.get(), pumped.after.get()), (1, 1));
}

/// `after_wake` ends the pump even while wake-ups remain (a catch-up reader with no client left).
#[test]
fn after_wake_ends_the_pump() {
    let (pumped, log) = counting(5, true);
    let q = queue();
    let (_member, _) = pumped.fanout.subscribe(None, q.clone()).unwrap();
    log.append(message()).unwrap();
    block_on(run(&pumped));
    assert_eq!(drain(&q), vec![1]);
    assert_eq!(pumped.wakes.get(), 4, "ended after its first wake-up");
}

fn queue() -> Rc<OutboundQueue> {
    queue_of(64)
}
