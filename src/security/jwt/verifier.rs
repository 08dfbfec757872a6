//! One shard's JWT verifier for one plan: parse (token.rs) → pick keys by family and `kid` →
//! verify the signature → check the claims (claims.rs).
//!
//! Parsed keys are shared by all shards; each verifier keeps its own handle to the current set
//! and re-reads the shared one only when the JWKS thread has replaced it (one atomic load per
//! token otherwise).

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::claims::{self, VerifiedToken};
use super::config::{JwtSettings, KeySource};
use super::jwks_source::JwksSource;
use super::keys::KeySet;
use super::refusal::JwtRefusal;
use super::token;

/// Signature checks tried for one token without a `kid`, at most: a JWKS with many kid-less
/// keys of one family must not multiply the cost of a forged token.
pub const MAX_KEYS_TRIED: usize = 4;

/// How often a request waiting for a JWKS refetch looks whether it has ended.
const REFRESH_POLL: Duration = Duration::from_millis(20);

/// A plan's keys, running: shared by every shard (start once per process).
#[derive(Clone)]
pub enum JwtKeys {
    /// Keys parsed at configuration load (secret, PEM key, JWKS file); they never change.
    Fixed(Arc<KeySet>),
    /// A `jwksUrl` source: its thread replaces the keys after each successful fetch.
    Jwks(Arc<JwksSource>),
}

impl JwtKeys {
    /// The keys for `settings`; starts the JWKS thread for a `jwksUrl`.
    pub fn start(settings: &JwtSettings) -> std::io::Result<JwtKeys> {
        JwtKeys::start_counting(settings, Arc::default())
    }

    /// [`Self::start`], counting failed JWKS fetches in `fetch_failures`.
    pub fn start_counting(
        settings: &JwtSettings,
        fetch_failures: Arc<AtomicU64>,
    ) -> std::io::Result<JwtKeys> {
        Ok(match &settings.keys {
            KeySource::Fixed { keys, .. } => JwtKeys::Fixed(keys.clone()),
            KeySource::JwksUrl(url) => {
                JwtKeys::Jwks(JwksSource::start(url.clone(), fetch_failures)?)
            }
        })
    }
}

/// Verifies bearer tokens for one plan on one shard.
pub struct JwtVerifier {
    settings: Arc<JwtSettings>,
    keys: JwtKeys,
    /// This shard's handle to the JWKS keys and the version it was read at.
    cached: RefCell<(u64, Arc<KeySet>)>,
}

impl JwtVerifier {
    /// A verifier checking tokens against `settings` with `keys` (which must be the keys
    /// started for these settings), holding the keys current now.
    pub fn new(settings: Arc<JwtSettings>, keys: JwtKeys) -> JwtVerifier {
        let cached = match &keys {
            JwtKeys::Fixed(set) => (0, set.clone()),
            JwtKeys::Jwks(source) => (source.version(), source.keys()),
        };
        JwtVerifier {
            settings,
            keys,
            cached: RefCell::new(cached),
        }
    }

    /// The plan settings this verifier checks tokens against.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Checks `token` at `now` (seconds since the Unix epoch). Does not wait: an unknown `kid`
    /// is refused (see [`JwtVerifier::verify_waiting`]).
    pub fn verify(&self, token: &str, now: u64) -> Result<VerifiedToken, JwtRefusal> {
        let settings = &self.settings;
        let parsed = token::parse(token, settings.max_token_bytes, &settings.algorithms)?;
        let keys = self.current_keys();
        let kid = parsed.key_id.as_deref();
        if let (JwtKeys::Jwks(_), Some(kid)) = (&self.keys, kid) {
            if !keys.knows(kid) {
                return Err(JwtRefusal::UnknownKey(format!(
                    "kid {kid:?} is not in the JWKS"
                )));
            }
        }
        let mut tried = 0;
        for key in keys.candidates(parsed.algorithm, kid).take(MAX_KEYS_TRIED) {
            tried += 1;
            let crypto = parsed.algorithm.crypto();
            let input = parsed.signing_input.as_bytes();
            if jsonwebtoken::crypto::verify(parsed.signature, input, &key.key, crypto)
                .unwrap_or(false)
            {
                return claims::check(&parsed.claims, settings, now);
            }
        }
        if tried == 0 {
            return Err(JwtRefusal::UnknownKey(format!(
                "no {} key{}",
                parsed.algorithm.name(),
                kid.map(|kid| format!(" with kid {kid:?}"))
                    .unwrap_or_default()
            )));
        }
        Err(JwtRefusal::Signature)
    }

    /// [`JwtVerifier::verify`] at the current time; for a JWKS URL, a token whose `kid` is
    /// unknown triggers a refetch (rate-limited) and waits for it up to `unknownKeyWaitMs`
    /// before it is checked once more. Other tokens never wait.
    pub async fn verify_waiting(&self, token: &str) -> Result<VerifiedToken, JwtRefusal> {
        let first = self.verify(token, unix_now());
        let (Err(JwtRefusal::UnknownKey(_)), JwtKeys::Jwks(source)) = (&first, &self.keys) else {
            return first;
        };
        let Some(target) = source.request_refresh() else {
            return first;
        };
        let deadline = std::time::Instant::now() + source.settings().unknown_key_wait;
        while source.fetches_completed() < target && std::time::Instant::now() < deadline {
            monoio::time::sleep(REFRESH_POLL).await;
        }
        self.verify(token, unix_now())
    }

    /// This shard's key set, re-read from the JWKS source only when it changed.
    fn current_keys(&self) -> Arc<KeySet> {
        if let JwtKeys::Jwks(source) = &self.keys {
            let version = source.version();
            let mut cached = self.cached.borrow_mut();
            if cached.0 != version {
                *cached = (version, source.keys());
            }
        }
        self.cached.borrow().1.clone()
    }
}

/// Seconds since the Unix epoch (0 for a clock before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
