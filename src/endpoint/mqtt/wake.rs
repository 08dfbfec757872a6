//! Two tiny shard-local wake-ups used by the MQTT client: `Notify` (many notifications, one
//! waiting task: the connection's writer) and `AckSlot` (one answer, one waiting publisher).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// A level-triggered "something to do" flag with one waiter.
#[derive(Default)]
pub struct Notify {
    pending: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    /// Sets the flag and wakes the waiter.
    pub fn notify(&self) {
        self.pending.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once notified since the last time it resolved. Cancel-safe.
    pub async fn notified(&self) {
        poll_fn(|cx| {
            if self.pending.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// The answer to one publish, filled in by the connection (PUBACK, refusal or a lost
/// connection) and awaited by the publisher.
pub struct AckSlot<T> {
    answer: RefCell<Option<T>>,
    waker: RefCell<Option<Waker>>,
}

impl<T> Default for AckSlot<T> {
    fn default() -> Self {
        AckSlot {
            answer: RefCell::new(None),
            waker: RefCell::new(None),
        }
    }
}

impl<T> AckSlot<T> {
    /// Records the answer (the first one wins) and wakes the publisher.
    pub fn complete(&self, answer: T) {
        let mut slot = self.answer.borrow_mut();
        if slot.is_none() {
            *slot = Some(answer);
            drop(slot);
            if let Some(waker) = self.waker.borrow_mut().take() {
                waker.wake();
            }
        }
    }

    /// Resolves with the answer. Cancel-safe.
    pub async fn wait(&self) -> T {
        poll_fn(|cx| match self.answer.borrow_mut().take() {
            Some(answer) => Poll::Ready(answer),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}
