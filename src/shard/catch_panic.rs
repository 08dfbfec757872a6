//! Keeps a panicking task from taking its shard down: monoio runs every task of a shard on one
//! thread, and a panic unwinding out of a task's poll would end the event loop with it.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Wraps a future; a panic inside its `poll` becomes `Err(message)` and the future is dropped.
pub struct CatchPanic<F> {
    inner: Option<Pin<Box<F>>>,
}

impl<F: Future> CatchPanic<F> {
    /// Guards `future`.
    pub fn new(future: F) -> CatchPanic<F> {
        CatchPanic {
            inner: Some(Box::pin(future)),
        }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(Err("polled after a panic".to_owned()));
        };
        // AssertUnwindSafe: after a panic the future is dropped, never polled again, so no
        // broken invariant inside it can be observed; shard state it touched is behind RefCells,
        // whose borrows are released while unwinding.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(payload) => {
                self.inner = None;
                Poll::Ready(Err(panic_message(payload.as_ref())))
            }
        }
    }
}

/// The message a panic carried (`panic!("...")` or a formatted one).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_a_value_passes_through() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut ok = std::pin::pin!(CatchPanic::new(async { 7 }));
        assert_eq!(ok.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let mut bad = std::pin::pin!(CatchPanic::new(async { panic!("boom") }));
        let result = bad.as_mut().poll(&mut cx);
        std::panic::set_hook(previous);
        assert_eq!(result, Poll::Ready(Err::<(), _>("boom".to_owned())));
    }
}
