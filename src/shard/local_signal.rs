//! A shard-local broadcast flag: fired once, awaited by any number of tasks on the same shard.
//!
//! Waiters keep one slot each for as long as their future lives, so a connection that awaits the
//! signal in every pass of its event loop never grows the waiter list.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A one-shot, shard-local broadcast (`!Send`; share it with `Rc`).
#[derive(Default)]
pub struct LocalSignal {
    fired: Cell<bool>,
    waiters: RefCell<Waiters>,
}

#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl LocalSignal {
    /// A new, unfired signal.
    pub fn new() -> LocalSignal {
        LocalSignal::default()
    }

    /// Fires the signal and wakes every waiter. Firing twice is harmless.
    pub fn fire(&self) {
        if self.fired.replace(true) {
            return;
        }
        let wakers: Vec<Waker> = self
            .waiters
            .borrow_mut()
            .slots
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// A future that resolves once the signal fires. Cancel-safe.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            signal: self,
            slot: None,
        }
    }
}

/// Future returned by [`LocalSignal::wait`].
pub struct Wait<'a> {
    signal: &'a LocalSignal,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_fired() {
            return Poll::Ready(());
        }
        let mut waiters = self.signal.waiters.borrow_mut();
        let slot = match self.slot {
            Some(slot) => slot,
            None => match waiters.free.pop() {
                Some(slot) => slot,
                None => {
                    push_small(&mut waiters.slots, None);
                    waiters.slots.len() - 1
                }
            },
        };
        // A writer's loop polls its waits on every pass: keep the waker it already gave
        // instead of cloning and dropping one each time.
        match &mut waiters.slots[slot] {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            stored => *stored = Some(cx.waker().clone()),
        }
        drop(waiters);
        self.slot = Some(slot);
        Poll::Pending
    }
}

/// Pushes `value`, growing a short list one element at a time: most signals (a stream's own end,
/// its credential's) have one or two waiters, and the default first growth would give them room
/// for four (64 bytes of wakers per signal, on every idle connection).
fn push_small<T>(list: &mut Vec<T>, value: T) {
    if list.len() == list.capacity() && list.len() < 4 {
        list.reserve_exact(1);
    }
    list.push(value);
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut waiters = self.signal.waiters.borrow_mut();
            waiters.slots[slot] = None;
            push_small(&mut waiters.free, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;

    #[test]
    fn repolling_reuses_one_slot_and_fire_wakes() {
        let signal = LocalSignal::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut wait = pin!(signal.wait());
        for _ in 0..100 {
            assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        }
        assert_eq!(signal.waiters.borrow().slots.len(), 1);
        signal.fire();
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
    }

    #[test]
    fn dropped_waiters_free_their_slot() {
        let signal = LocalSignal::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..10 {
            let mut wait = pin!(signal.wait());
            assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        }
        assert_eq!(signal.waiters.borrow().slots.len(), 1);
    }
}
