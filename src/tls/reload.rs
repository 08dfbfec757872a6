//! Certificates reloaded without a restart: a thread off the shards looks at the listener's
//! files about once a second (and at once on SIGHUP, `Gateway::reload_tls`); when one changed it
//! reads and checks them all, exactly as `tidegate check` does, and swaps the server
//! configuration. New handshakes use the new certificates; live connections keep their session.
//! A file that does not read or check keeps the old configuration, and the log says why.

#![allow(
    clippy::disallowed_types,
    reason = "certificates are swapped by the reload thread; a shard takes the read lock once per accepted TLS connection, for an Arc clone"
)]
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;

use super::server_config;
use crate::config::tls_listener::reload_material;
use crate::config::TlsListenerConfig;
use crate::metrics::ShardMetrics;

/// How often the certificate files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The TLS listener's current server configuration, shared by the shards and the watcher.
pub struct TlsStore {
    listener: TlsListenerConfig,
    current: RwLock<Arc<ServerConfig>>,
    metrics: Arc<TlsMetrics>,
}

/// Counters of certificate reloads (one watcher per gateway is their only writer).
#[derive(Debug, Default)]
pub struct TlsMetrics {
    /// Reloads that put new certificates in use.
    pub reloads_total: AtomicU64,
    /// Reloads refused (a file missing, unreadable or not matching): the old certificates stay.
    pub reload_failures_total: AtomicU64,
}

impl TlsMetrics {
    /// Renders in the Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, value, help) in [
            ("tls_certificate_reloads_total", &self.reloads_total, "TLS certificate reloads that put new certificates in use."),
            ("tls_certificate_reload_failures_total", &self.reload_failures_total, "TLS certificate reloads refused (bad or missing files); the previous certificates stay in use."),
        ] {
            let _ = writeln!(out, "# HELP tidegate_{name} {help}");
            let _ = writeln!(out, "# TYPE tidegate_{name} counter");
            let _ = writeln!(out, "tidegate_{name} {}", ShardMetrics::get(value));
        }
        out
    }
}

impl TlsStore {
    /// The store for `listener`, with the certificates read when the configuration loaded.
    pub fn new(listener: &TlsListenerConfig) -> Result<Arc<TlsStore>, rustls::Error> {
        let config = server_config::build(listener, &listener.material)?;
        Ok(Arc::new(TlsStore {
            listener: listener.clone(),
            current: RwLock::new(config),
            metrics: Arc::new(TlsMetrics::default()),
        }))
    }

    /// The configuration new handshakes use.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The reload counters.
    pub fn metrics(&self) -> &Arc<TlsMetrics> {
        &self.metrics
    }

    /// Reads the files again and, when they all check, uses them for new handshakes.
    pub fn reload(&self) -> Result<(), String> {
        let outcome = reload_material(&self.listener.files, "gateway.tls").and_then(|material| {
            server_config::build(&self.listener, &material)
                .map_err(|error| format!("gateway.tls: {error}"))
        });
        match outcome {
            Ok(config) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = config;
                ShardMetrics::inc(&self.metrics.reloads_total);
                tracing::info!("TLS certificates reloaded; new handshakes use them");
                Ok(())
            }
            Err(why) => {
                ShardMetrics::inc(&self.metrics.reload_failures_total);
                tracing::warn!(problems = %why, "TLS certificates not reloaded; the previous ones stay in use");
                Err(why)
            }
        }
    }
}

/// The watcher thread; dropping it stops the thread.
pub struct Watcher {
    wake: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching `store`'s files.
    pub fn start(store: Arc<TlsStore>) -> std::io::Result<Watcher> {
        let (wake, woken) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tidegate-tls-watch".to_owned())
            .spawn(move || watch(&store, &woken))?;
        Ok(Watcher {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Reloads now (SIGHUP), whether or not a file changed.
    pub fn reload_now(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.send(());
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a file looked like: its modification time and length (`None`: unreadable).
type Stamp = Option<(SystemTime, u64)>;

fn stamps(paths: &[String]) -> Vec<Stamp> {
    paths
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

fn watch(store: &TlsStore, woken: &mpsc::Receiver<()>) {
    let paths = store.listener.files.paths();
    let mut seen = stamps(&paths);
    loop {
        let forced = match woken.recv_timeout(POLL_INTERVAL) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let now = stamps(&paths);
        if forced || now != seen {
            // A failed reload is retried when a file changes again (e.g. the key written after
            // the certificate), not every second.
            seen = now;
            let _ = store.reload();
        }
    }
}
