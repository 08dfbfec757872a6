//! Whether every shard is alive: written by a shard's supervisor when a task the whole shard
//! depends on panicked (or the shard thread itself did), read by `/health` and waited on by the
//! `tidegate` binary, which then shuts down and exits non-zero so that whatever supervises the
//! process (systemd, Kubernetes) restarts it. A dead shard is never revived in place: its state
//! is whatever the panic left.

#![allow(
    clippy::disallowed_types,
    reason = "written by a shard's supervisor when it dies, read by /health and waited on (Condvar) by the binary's main thread"
)]
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A shard that died, and the kind of task that took it down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFault {
    /// Which shard.
    pub shard: usize,
    /// The kind of task that panicked (e.g. "topic delivery"); the panic message goes to the
    /// log only.
    pub task: &'static str,
}

/// What `/health` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// Shards that died, in the order they died.
    pub dead: Vec<ShardFault>,
    /// The gateway is shutting down (draining its clients).
    pub stopping: bool,
}

/// The gateway's liveness, shared by the shards, the admin endpoint and the main thread.
#[derive(Default)]
pub struct GatewayHealth {
    state: Mutex<HealthSnapshot>,
    changed: Condvar,
}

impl GatewayHealth {
    /// Every shard alive.
    pub fn new() -> Arc<GatewayHealth> {
        Arc::new(GatewayHealth::default())
    }

    /// Records that `shard` died (the first fault of a shard is kept).
    pub fn report_dead(&self, shard: usize, task: &'static str) {
        let mut state = self.lock();
        if state.dead.iter().all(|fault| fault.shard != shard) {
            state.dead.push(ShardFault { shard, task });
            self.changed.notify_all();
        }
    }

    /// Records that the gateway started shutting down.
    pub fn report_stopping(&self) {
        self.lock().stopping = true;
    }

    /// The current state.
    pub fn snapshot(&self) -> HealthSnapshot {
        self.lock().clone()
    }

    /// Blocks until a shard has died; returns the first that did.
    pub fn wait_for_fault(&self) -> ShardFault {
        let mut state = self.lock();
        loop {
            if let Some(fault) = state.dead.first() {
                return fault.clone();
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, HealthSnapshot> {
        // Every update is a single push or store: a poisoned lock still holds a consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fault_of_each_shard_is_kept_and_wakes_the_waiter() {
        let health = GatewayHealth::new();
        let waiter = {
            let health = health.clone();
            std::thread::spawn(move || health.wait_for_fault())
        };
        health.report_dead(1, "topic delivery");
        health.report_dead(1, "shard thread");
        health.report_dead(0, "Kafka pump");
        assert_eq!(
            waiter.join().unwrap(),
            ShardFault {
                shard: 1,
                task: "topic delivery"
            }
        );
        let snapshot = health.snapshot();
        assert_eq!(snapshot.dead.len(), 2);
        assert!(!snapshot.stopping);
        health.report_stopping();
        assert!(health.snapshot().stopping);
    }
}
