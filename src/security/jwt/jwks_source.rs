//! A JWKS fetched from a URL: one background thread per plan fetches it (never a shard: a fetch
//! blocks for up to `fetchTimeoutMs`), and every shard reads the parsed keys through an `Arc`.
//!
//! Refetches happen every `refreshIntervalMs`, and when a token names an unknown `kid` (key
//! rotation), at most once per `minRefreshIntervalMs` so made-up `kid`s cannot make the gateway
//! hammer the issuer. A failed fetch keeps the previous keys. The thread ends when the last
//! [`JwksSource`] handle is dropped (its request channel disconnects).

#![allow(
    clippy::disallowed_types,
    reason = "keys are swapped by the JWKS fetch thread (a fetch blocks); a shard holds the lock for an Arc clone only"
)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::jwks_settings::JwksUrlSettings;
use super::keys::KeySet;

/// The state the fetch thread writes and the shards read.
struct Shared {
    /// The keys of the last successful fetch (empty before the first one).
    keys: Mutex<Arc<KeySet>>,
    /// Bumped each time `keys` is replaced: shards re-read `keys` only when it moved.
    version: AtomicU64,
    /// Fetches asked for so far (the first, at start, included).
    requested: AtomicU64,
    /// Of those, how many have ended (successfully or not): requests are coalesced, so this
    /// jumps to the `requested` value seen when the fetch began.
    completed: AtomicU64,
    /// Failed fetches (`tidegate_security_jwks_fetch_failures_total`): shared with the
    /// registry's metrics, so it outlives this source across reloads.
    failures: Arc<AtomicU64>,
}

/// A running JWKS URL source; clone the `Arc` for every shard.
pub struct JwksSource {
    shared: Arc<Shared>,
    settings: JwksUrlSettings,
    requests: Mutex<Sender<()>>,
    /// When the last refetch was asked for (for `minRefreshIntervalMs`).
    last_request: Mutex<Instant>,
}

impl JwksSource {
    /// Starts the fetch thread; its first fetch begins at once. Each failed fetch adds one to
    /// `failures`.
    pub fn start(
        settings: JwksUrlSettings,
        failures: Arc<AtomicU64>,
    ) -> std::io::Result<Arc<JwksSource>> {
        let shared = Arc::new(Shared {
            keys: Mutex::new(Arc::new(KeySet::default())),
            version: AtomicU64::new(0),
            requested: AtomicU64::new(1),
            completed: AtomicU64::new(0),
            failures,
        });
        let (sender, receiver) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread_settings = settings.clone();
        std::thread::Builder::new()
            .name("tidegate-jwks".to_owned())
            .spawn(move || fetch_loop(&thread_shared, &thread_settings, &receiver))?;
        Ok(Arc::new(JwksSource {
            shared,
            settings,
            requests: Mutex::new(sender),
            last_request: Mutex::new(Instant::now()),
        }))
    }

    /// The `jwksUrl` and options this source fetches with (a verifier reads how long to wait
    /// for a refetch here).
    pub fn settings(&self) -> &JwksUrlSettings {
        &self.settings
    }

    /// The keys' version: changes whenever [`JwksSource::keys`] does.
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Acquire)
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<KeySet> {
        lock(&self.shared.keys).clone()
    }

    /// Fetches that have ended so far.
    pub fn fetches_completed(&self) -> u64 {
        self.shared.completed.load(Ordering::Acquire)
    }

    /// Asks for a refetch because a token named an unknown `kid`. Returns the
    /// [`JwksSource::fetches_completed`] value that means "a fetch begun after this call has
    /// ended" (to wait for), or `None` when no fetch is under way and the last was asked for
    /// less than `minRefreshIntervalMs` ago (the token is refused at once).
    pub fn request_refresh(&self) -> Option<u64> {
        let mut last = lock(&self.last_request);
        let requested = self.shared.requested.load(Ordering::Acquire);
        if last.elapsed() < self.settings.min_refresh_interval {
            let in_flight = self.fetches_completed() < requested;
            return in_flight.then_some(requested);
        }
        *last = Instant::now();
        let target = self.shared.requested.fetch_add(1, Ordering::AcqRel) + 1;
        // The thread only ends when every sender is gone, so this cannot fail while we hold one.
        let _ = lock(&self.requests).send(());
        Some(target)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves consistent data (single assignments).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fetch_loop(shared: &Shared, settings: &JwksUrlSettings, requests: &mpsc::Receiver<()>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(settings.fetch_timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    loop {
        let target = shared.requested.load(Ordering::Acquire);
        match fetch(&agent, settings) {
            Ok(keys) => {
                tracing::info!(url = %settings.url, keys = keys.keys.len(), "JWKS fetched");
                *lock(&shared.keys) = Arc::new(keys);
                shared.version.fetch_add(1, Ordering::AcqRel);
            }
            Err(error) => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = %settings.url, %error, "JWKS fetch failed; keeping the previous keys");
            }
        }
        shared.completed.fetch_max(target, Ordering::AcqRel);
        match requests.recv_timeout(settings.refresh_interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => while requests.try_recv().is_ok() {},
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One GET of the JWKS: status 200, at most `maxBytes`, a JWKS with at least one usable key.
fn fetch(agent: &ureq::Agent, settings: &JwksUrlSettings) -> Result<KeySet, String> {
    let mut response = agent
        .get(&settings.url)
        .header("Accept", "application/jwk-set+json, application/json")
        .call()
        .map_err(|error| error.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(settings.max_bytes as u64)
        .read_to_vec()
        .map_err(|error| error.to_string())?;
    let keys = KeySet::from_jwks(&body)?;
    if keys.keys.is_empty() {
        return Err("the JWKS holds no signature key the gateway can use".to_owned());
    }
    Ok(keys)
}
