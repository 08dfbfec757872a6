//! One timer for many waiters. A hibernating stream waits for one deadline (its next keep-alive
//! ping); a monoio `Sleep` each would cost 640 bytes per stream, more than the rest of what it
//! waits on. [`Alarms`] keeps every waiter's deadline in one ordered map, and one shard task
//! ([`Alarms::run`]) sleeps until the earliest and wakes those due.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use monoio::time::{sleep_until, Instant};

/// A shard's deadlines, each with the waker of the future waiting for it (bounded by the
/// waiters: one entry per pending [`Alarm`]).
#[derive(Default)]
pub struct Alarms {
    entries: RefCell<BTreeMap<(Instant, u64), Waker>>,
    next_id: Cell<u64>,
    /// Set when a deadline earlier than the one the task sleeps for was added.
    earlier: Cell<bool>,
    task: RefCell<Option<Waker>>,
}

impl Alarms {
    /// A new, empty set.
    pub fn new() -> Alarms {
        Alarms::default()
    }

    /// Resolves at `deadline` (at once when it has passed; up to the timer's millisecond early
    /// when the shard's timer fired for it). Cancel-safe: dropping it removes the deadline.
    /// Needs [`Alarms::run`] running on the shard.
    pub fn at(&self, deadline: Instant) -> Alarm<'_> {
        Alarm {
            alarms: self,
            deadline,
            key: None,
        }
    }

    /// Deadlines waited for now.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard task: sleeps until the earliest deadline and wakes every waiter whose
    /// deadline has come; forever.
    pub async fn run(&self) {
        loop {
            let next = self.entries.borrow().keys().next().map(|key| key.0);
            let earlier = poll_fn(|cx| {
                if self.earlier.replace(false) {
                    return Poll::Ready(());
                }
                let mut task = self.task.borrow_mut();
                if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *task = Some(cx.waker().clone());
                }
                Poll::Pending
            });
            match next {
                None => earlier.await,
                // The timer may fire a little before `at` (it counts whole milliseconds): what it
                // fired for is due.
                Some(at) => monoio::select! {
                    _ = sleep_until(at) => self.wake_due(Instant::now().max(at)),
                    _ = earlier => {}
                },
            }
        }
    }

    /// Wakes (and forgets) every waiter due at `now`.
    fn wake_due(&self, now: Instant) {
        let due: Vec<Waker> = {
            let mut entries = self.entries.borrow_mut();
            let later = entries.split_off(&(now, u64::MAX));
            std::mem::replace(&mut *entries, later)
                .into_values()
                .collect()
        };
        for waker in due {
            waker.wake();
        }
    }

    fn insert(&self, deadline: Instant, waker: Waker) -> (Instant, u64) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let key = (deadline, id);
        let mut entries = self.entries.borrow_mut();
        let earliest = entries.keys().next().is_none_or(|first| key < *first);
        entries.insert(key, waker);
        drop(entries);
        if earliest {
            self.earlier.set(true);
            if let Some(task) = self.task.borrow_mut().take() {
                task.wake();
            }
        }
        key
    }
}

/// Future returned by [`Alarms::at`].
pub struct Alarm<'a> {
    alarms: &'a Alarms,
    deadline: Instant,
    key: Option<(Instant, u64)>,
}

impl Future for Alarm<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(key) = self.key.take() {
                self.alarms.entries.borrow_mut().remove(&key);
            }
            return Poll::Ready(());
        }
        match self.key {
            None => {
                let key = self.alarms.insert(self.deadline, cx.waker().clone());
                self.key = Some(key);
            }
            Some(key) => {
                let mut entries = self.alarms.entries.borrow_mut();
                match entries.get_mut(&key) {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    Some(waker) => *waker = cx.waker().clone(),
                    // Taken by the shard's timer: due.
                    None => {
                        drop(entries);
                        self.key = None;
                        return Poll::Ready(());
                    }
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Alarm<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.alarms.entries.borrow_mut().remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn wakes_each_waiter_at_its_deadline_and_forgets_dropped_ones() {
        let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        runtime.block_on(async {
            let alarms = Rc::new(Alarms::new());
            let task = alarms.clone();
            monoio::spawn(async move { task.run().await });
            let start = Instant::now();
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut waiters = Vec::new();
            for (name, ms) in [("late", 120u64), ("early", 30), ("middle", 60)] {
                let (alarms, order) = (alarms.clone(), order.clone());
                waiters.push(monoio::spawn(async move {
                    alarms.at(start + Duration::from_millis(ms)).await;
                    // Never more than the timer's millisecond early.
                    let due = start + Duration::from_millis(ms);
                    assert!(Instant::now() + Duration::from_millis(1) >= due);
                    order.borrow_mut().push(name);
                }));
            }
            // A waiter dropped before its deadline leaves nothing behind.
            {
                let dropped = alarms.at(start + Duration::from_secs(60));
                let mut dropped = std::pin::pin!(dropped);
                let polled = poll_fn(|cx| Poll::Ready(dropped.as_mut().poll(cx))).await;
                assert!(polled.is_pending());
            }
            for waiter in waiters {
                waiter.await;
            }
            assert_eq!(*order.borrow(), ["early", "middle", "late"]);
            assert!(alarms.is_empty());
            // A deadline already past resolves at once.
            alarms.at(start).await;
        });
    }
}
