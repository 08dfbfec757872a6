//! Each node follows the store: a thread reads the store's generation every `pollIntervalMs`
//! and, when it moved, builds the desired configuration (`desired.rs`), validates it and hands
//! it to the applier (`Gateway::apply`: live, on every shard).
//!
//! A store that cannot be reached changes nothing: the gateway keeps serving what it runs, the
//! outage is logged once (and again when it ends), `tidegate_management_store_up` reads 0, and
//! the next successful poll catches up. Content that does not validate (written by an older or
//! buggy writer) is logged and counted once, not applied, and not tried again until the content
//! changes (a write that leaves the desired content as it was, e.g. an undeployed draft, only
//! moves the generation).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::Value;

use super::desired::{config_from_document, desired_document};
use super::store::{Store, StoreError};
use crate::config::{Config, ConfigError, ManagementConfig};

/// Installs a configuration on the running gateway (`Gateway::apply`); called from the
/// follower's thread.
pub type Applier = Box<dyn Fn(Config) -> Result<(), ConfigError> + Send>;

/// The follower's counters, shown on `/metrics`.
#[derive(Debug, Default)]
pub struct FollowerMetrics {
    /// 1 while the last call to the store succeeded, 0 during an outage.
    pub store_up: AtomicU64,
    /// The store generation the gateway runs.
    pub generation_applied: AtomicU64,
    /// Store changes applied to the gateway.
    pub applies_total: AtomicU64,
    /// Store contents refused (by validation or by the gateway).
    pub apply_failures_total: AtomicU64,
}

impl FollowerMetrics {
    /// Prometheus text, `tidegate_management_*`.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, value, kind, help) in [
            ("store_up", &self.store_up, "gauge", "1 while the management store answers, 0 during an outage (the gateway keeps serving what it runs)."),
            ("generation_applied", &self.generation_applied, "gauge", "The management store generation this node runs."),
            ("applies_total", &self.applies_total, "counter", "Store changes applied to this node."),
            ("apply_failures_total", &self.apply_failures_total, "counter", "Store contents this node refused (invalid, or refused by the gateway)."),
        ] {
            out.push_str(&format!(
                "# HELP tidegate_management_{name} {help}\n# TYPE tidegate_management_{name} {kind}\ntidegate_management_{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// What the follower needs besides the applier.
pub struct FollowerSetup {
    /// The store polled for its generation, and read whole when it changed.
    pub store: Arc<dyn Store>,
    /// The file's own `gateway:` section (node-local; null when absent).
    pub gateway: Value,
    /// The node's `management:` section: the poll interval (`store.pollIntervalMs`), and the
    /// section every configuration read from the store carries.
    pub management: ManagementConfig,
    /// The generation the gateway was started with (`None`: apply at once).
    pub applied_generation: Option<u64>,
    /// The `tidegate_management_*` counters the follower updates, shared with the admin
    /// endpoint that renders them.
    pub metrics: Arc<FollowerMetrics>,
}

/// The running follower; dropping it stops its thread.
pub struct Follower {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Follower {
    /// Starts the follower's thread.
    pub fn start(setup: FollowerSetup, apply: Applier) -> io::Result<Follower> {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tidegate-follower".to_owned())
            .spawn(move || run(setup, apply, stopped))?;
        Ok(Follower {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        // Closing the channel wakes the thread.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The follower's state between polls.
struct Follow {
    setup: FollowerSetup,
    apply: Applier,
    /// The generation last applied (or refused: it is not retried until the store changes).
    seen: Option<u64>,
    /// The configuration last applied. The generation and the content are two reads: a write
    /// between them shows the newer content under the older generation, and the next poll sees
    /// that content again under the newer one; it is not applied twice.
    last: Option<Config>,
    /// The desired document last refused, for the same reason: the same content under a newer
    /// generation is not refused (logged, counted) twice.
    refused: Option<Value>,
    /// False during an outage, so it is logged once.
    up: bool,
}

fn run(setup: FollowerSetup, apply: Applier, stopped: mpsc::Receiver<()>) {
    let interval = setup.management.store.poll_interval;
    setup.metrics.store_up.store(1, Ordering::Relaxed);
    if let Some(generation) = setup.applied_generation {
        setup
            .metrics
            .generation_applied
            .store(generation, Ordering::Relaxed);
    }
    let mut follow = Follow {
        seen: setup.applied_generation,
        last: None,
        refused: None,
        setup,
        apply,
        up: true,
    };
    loop {
        follow.poll();
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Follow {
    fn poll(&mut self) {
        let result = self.setup.store.generation().and_then(|generation| {
            if self.seen == Some(generation) {
                return Ok(None);
            }
            let desired = desired_document(self.setup.store.as_ref(), &self.setup.gateway)?;
            Ok(Some((generation, desired)))
        });
        match result {
            Err(error) => self.store_failed(&error),
            Ok(None) => self.store_answered(),
            Ok(Some((generation, desired))) => {
                self.store_answered();
                self.seen = Some(generation);
                self.install(generation, desired);
            }
        }
    }

    fn install(&mut self, generation: u64, document: Value) {
        if self.refused.as_ref() == Some(&document) {
            return;
        }
        let desired = config_from_document(&document, &self.setup.management);
        let metrics = &self.setup.metrics;
        if let (Ok(config), Some(last)) = (&desired, &self.last) {
            if config == last {
                self.refused = None;
                metrics
                    .generation_applied
                    .store(generation, Ordering::Relaxed);
                return;
            }
        }
        let applied = desired.and_then(|config| {
            (self.apply)(config.clone())?;
            self.last = Some(config);
            Ok(())
        });
        match applied {
            Ok(()) => {
                self.refused = None;
                metrics.applies_total.fetch_add(1, Ordering::Relaxed);
                metrics
                    .generation_applied
                    .store(generation, Ordering::Relaxed);
                tracing::info!(generation, "applied the management store's configuration");
            }
            Err(error) => {
                self.refused = Some(document);
                metrics.apply_failures_total.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    generation,
                    %error,
                    "the management store's configuration was not applied; this node keeps running the previous one"
                );
            }
        }
    }

    fn store_failed(&mut self, error: &StoreError) {
        if self.up {
            self.up = false;
            self.setup.metrics.store_up.store(0, Ordering::Relaxed);
            tracing::warn!(
                %error,
                "the management store cannot be read; this node keeps serving what it runs and retries every poll"
            );
        }
    }

    fn store_answered(&mut self) {
        if !self.up {
            self.up = true;
            self.setup.metrics.store_up.store(1, Ordering::Relaxed);
            tracing::info!("the management store answers again; catching up");
        }
    }
}
