//! Every task on a shard is spawned through here (never with `monoio::spawn` directly), so that a
//! panic anywhere on a shard is caught, counted and given the right scope:
//!
//! - a task that serves one connection (the connection itself, its read loop, its Mock
//!   generator): the panic closes that connection only (`on_panic` tells its other side) and is
//!   counted in `connection_panics_total`; the shard goes on;
//! - a task the whole shard depends on (topic delivery, Kafka pumps, MQTT connections, the
//!   shutdown watcher): the shard cannot be trusted any more. The panic is logged and counted
//!   (`shard_task_panics_total`), the shard is reported dead (`/health` answers 503 naming it;
//!   the `tidegate` binary shuts down and exits non-zero so that its supervisor restarts it), and
//!   the shard stops accepting and tells its clients to go away, so they reconnect to a live one.
//!
//! The shard's supervisor is a thread-local, installed when the shard is built on its thread:
//! like `monoio::spawn`, which finds its runtime the same way, the helpers can be called from any
//! code on a shard without a context threaded through every constructor.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use super::{CatchPanic, LocalSignal};
use crate::cross_shard::GatewayHealth;
use crate::metrics::ShardMetrics;

/// What a shard's supervisor reports to.
pub struct Supervisor {
    /// The shard it watches.
    pub shard: usize,
    /// Where panics are counted.
    pub metrics: Arc<ShardMetrics>,
    /// Where a dead shard is reported.
    pub health: Arc<GatewayHealth>,
    /// Fired when a shard-wide task dies: the shard drains as at shutdown.
    pub shutdown: Rc<LocalSignal>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Supervisor>>> = const { RefCell::new(None) };
}

/// Makes `supervisor` the one of this thread's shard.
pub fn install(supervisor: Supervisor) {
    CURRENT.with(|current| *current.borrow_mut() = Some(Rc::new(supervisor)));
}

fn current() -> Option<Rc<Supervisor>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Spawns a task that serves one connection. `task` names it in logs; `on_panic` runs after the
/// task's future was dropped, to end the connection's other side (e.g. end its queue).
pub fn spawn_connection_task<F>(task: &'static str, future: F, on_panic: impl FnOnce() + 'static)
where
    F: Future<Output = ()> + 'static,
{
    spawn_supervised(future, move |supervisor, panic| {
        ShardMetrics::inc(&supervisor.metrics.connection_panics_total);
        tracing::error!(shard = supervisor.shard, task, %panic, "a connection's task panicked; that connection was closed");
        on_panic();
    });
}

/// Spawns a task the whole shard depends on; its panic takes the shard down (see the module
/// documentation).
pub fn spawn_shard_task<F>(task: &'static str, future: F)
where
    F: Future<Output = ()> + 'static,
{
    spawn_supervised(future, move |supervisor, panic| {
        ShardMetrics::inc(&supervisor.metrics.shard_task_panics_total);
        tracing::error!(shard = supervisor.shard, task, %panic, "a shard-wide task panicked; the shard is down and stops serving");
        supervisor.health.report_dead(supervisor.shard, task);
        supervisor.shutdown.fire();
    });
}

/// Spawns `future` on this thread's shard; if it panics, `on_panic` gets the shard's supervisor
/// and the panic's message (after the future was dropped).
fn spawn_supervised<F>(future: F, on_panic: impl FnOnce(&Supervisor, &str) + 'static)
where
    F: Future<Output = ()> + 'static,
{
    let Some(supervisor) = current() else {
        return unsupervised(future);
    };
    monoio::spawn(supervised(future, move |panic| {
        on_panic(&supervisor, panic)
    }));
}

/// `future`, with `on_panic` run if it panics. The future is boxed here, before the async block:
/// a future the block captured would keep its full size in the task even after being moved into
/// the box (a capture's slot stays in the block's state), so every connection would hold its
/// future twice.
fn supervised<F>(future: F, on_panic: impl FnOnce(&str)) -> impl Future<Output = ()>
where
    F: Future<Output = ()>,
{
    let guarded = CatchPanic::new(future);
    async move {
        if let Err(panic) = guarded.await {
            on_panic(&panic);
        }
    }
}

/// Outside a shard (unit tests running a bare runtime) there is nothing to report to: the task
/// runs as `monoio::spawn` would run it, and a panic fails the test.
fn unsupervised<F: Future<Output = ()> + 'static>(future: F) {
    monoio::spawn(future);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supervised_task_holds_its_future_once() {
        let big = [7u8; 4096];
        let future = async move {
            std::hint::black_box(&big);
        };
        let future_bytes = std::mem::size_of_val(&future);
        assert!(future_bytes >= 4096);
        let task = supervised(future, |_| {});
        // The task holds the box and the panic handler, not a second copy of the future.
        assert!(
            std::mem::size_of_val(&task) < 256,
            "the supervised task is {} bytes for a {future_bytes}-byte future",
            std::mem::size_of_val(&task)
        );
    }
}
