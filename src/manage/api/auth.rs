//! Administrator tokens: `Authorization: Bearer <token>` (never the query string, which logs and
//! browser histories keep), compared by SHA-256 in constant time against every known hash:
//! `management.tokens` and `TIDEGATE_MANAGEMENT_TOKEN` when either is set, else the store's
//! unexpired ones (created and revoked through the API: `tokens.rs`). With none at all, the
//! first start generates one, stores its hash, and prints the token once on stderr; configuring
//! a token replaces the store's, so the generated one (printed, maybe into a shared log) is
//! revoked by configuring your own, or by creating another and revoking it. A refused call
//! changes nothing; failures are counted and logged at most once per interval, so a guesser
//! cannot flood the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::config::KeyHash;
use crate::manage::service::{token_target, ENV_TOKEN_NAME};
use crate::manage::store::{self, AuditEvent, Store, StoredToken};
use crate::security::api_key;
use crate::shard::LogThrottle;

/// How often a refused token is logged (with the count of those not logged).
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// The name the generated first token is stored under.
pub const FIRST_TOKEN_NAME: &str = "initial";

/// The tokens that authenticate, by name.
pub struct Tokens {
    /// From the configuration and the environment: fixed for the process's life.
    fixed: Vec<(String, KeyHash)>,
    failures: AtomicU64,
    throttle: Mutex<LogThrottle>,
}

impl Tokens {
    /// `configured`: `(name, "sha256:…")` pairs from `management.tokens`; `env_token`: the clear
    /// token of `TIDEGATE_MANAGEMENT_TOKEN`. Hashes that do not parse were refused by the config
    /// check already; they are skipped here.
    pub fn new(configured: &[(String, String)], env_token: Option<&str>) -> Tokens {
        let mut fixed: Vec<(String, KeyHash)> = configured
            .iter()
            .filter_map(|(name, hash)| Some((name.clone(), KeyHash::from_config_text(hash)?)))
            .collect();
        if let Some(token) = env_token.filter(|token| !token.is_empty()) {
            fixed.push((ENV_TOKEN_NAME.to_owned(), api_key::hash(token.as_bytes())));
        }
        Tokens {
            fixed,
            failures: AtomicU64::new(0),
            throttle: Mutex::new(LogThrottle::new(FAILURE_LOG_INTERVAL)),
        }
    }

    /// With no token configured, none in the environment and none stored: generates one, stores
    /// its hash, and returns it to print once.
    pub fn bootstrap(&self, store: &dyn Store) -> Result<Option<String>, String> {
        if !self.fixed.is_empty() {
            return Ok(None);
        }
        let stored = store.tokens().map_err(|err| err.to_string())?;
        if !stored.is_empty() {
            return Ok(None);
        }
        let (token, hash) = api_key::generate()?;
        let stored = StoredToken {
            name: FIRST_TOKEN_NAME.to_owned(),
            hash: hash.to_config_text(),
            created_at: store::now(),
            expires_at: None,
        };
        let audit = AuditEvent::now("gateway", "token.create", &token_target(FIRST_TOKEN_NAME));
        store
            .add_token(&stored, &audit)
            .map_err(|err| err.to_string())?;
        Ok(Some(token))
    }

    /// Whether the store's tokens authenticate: only while none is configured and
    /// `TIDEGATE_MANAGEMENT_TOKEN` is unset.
    pub fn uses_store(&self) -> bool {
        self.fixed.is_empty()
    }

    /// The names of the configured tokens (`management.tokens`, then `env`).
    pub fn fixed_names(&self) -> impl Iterator<Item = &str> {
        self.fixed.iter().map(|(name, _)| name.as_str())
    }

    /// The token's name when `authorization` carries a known token.
    pub fn authenticate(&self, authorization: Option<&str>, store: &dyn Store) -> Option<String> {
        let presented = authorization
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty());
        let found = presented.and_then(|token| self.find(token, store));
        if found.is_none() {
            self.failed(presented.is_some());
        }
        found
    }

    /// Failed authentications since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn find(&self, token: &str, store: &dyn Store) -> Option<String> {
        let presented = api_key::hash(token.as_bytes());
        let now = SystemTime::now();
        let stored: Vec<(String, KeyHash)> = match self.stored_tokens(store) {
            Ok(list) => list
                .into_iter()
                .filter(|token| token.is_live(now))
                .filter_map(|token| Some((token.name, KeyHash::from_config_text(&token.hash)?)))
                .collect(),
            Err(err) => {
                tracing::warn!(error = %err, "management tokens in the store cannot be read; only configured tokens work");
                Vec::new()
            }
        };
        // Every hash is compared, whichever matches: the time says nothing about which one.
        let mut found = None;
        for (name, hash) in self.fixed.iter().chain(stored.iter()) {
            if constant_time_eq(&hash.0, &presented.0) && found.is_none() {
                found = Some(name.clone());
            }
        }
        found
    }

    /// The store's tokens, which count only while none is configured: a configured token
    /// replaces the one generated at first start.
    fn stored_tokens(
        &self,
        store: &dyn Store,
    ) -> Result<Vec<StoredToken>, crate::manage::store::StoreError> {
        if self.fixed.is_empty() {
            store.tokens()
        } else {
            Ok(Vec::new())
        }
    }

    fn failed(&self, had_token: bool) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let admitted = match self.throttle.lock() {
            Ok(throttle) => throttle.admit(Instant::now()),
            Err(poisoned) => poisoned.into_inner().admit(Instant::now()),
        };
        if let Some(suppressed) = admitted {
            let reason = if had_token {
                "unknown token"
            } else {
                "no bearer token"
            };
            tracing::warn!(
                reason,
                suppressed,
                "management API call refused (401); logged at most every 10 s"
            );
        }
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
