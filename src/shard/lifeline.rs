//! What a connection keeps alive for its whole life, whichever task serves it: its place under
//! the shard's connection bound, its request's access-log record. The accept loop and the
//! connection step put them here; a stream that hibernates (no task while idle, see
//! `entrypoint::websocket` and `entrypoint::sse`) carries the lifeline along, so they end when the stream does, not
//! when the task that started it does.

use std::any::Any;

/// Values dropped together, newest first, when the connection ends.
#[derive(Default)]
pub struct Lifeline {
    held: Vec<Box<dyn Any>>,
}

impl Lifeline {
    /// An empty lifeline.
    pub fn new() -> Lifeline {
        Lifeline::default()
    }

    /// Keeps `value` until the connection ends; dropped before everything held earlier.
    pub fn hold(&mut self, value: impl Any) {
        self.held.push(Box::new(value));
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        // Newest first: the request's record is written before the connection's slot is freed,
        // as when both lived on one task's stack.
        while let Some(value) = self.held.pop() {
            drop(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::Lifeline;

    struct Named(&'static str, Rc<RefCell<Vec<&'static str>>>);

    impl Drop for Named {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }

    #[test]
    fn drops_what_it_holds_newest_first() {
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut lifeline = Lifeline::new();
        lifeline.hold(Named("connection slot", order.clone()));
        lifeline.hold(Named("request record", order.clone()));
        assert!(order.borrow().is_empty());
        drop(lifeline);
        assert_eq!(*order.borrow(), ["request record", "connection slot"]);
    }
}
