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

use crate::config::management::actors;
use crate::config::KeyHash;
use crate::manage::service::{token_target, ENV_TOKEN_NAME};
use crate::manage::store::{self, AuditEvent, Store, StoreError, StoredToken};
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

    /// With no token configured, none in the environment and none valid in the store (a first
    /// start, or every stored one expired): generates one, stores its hash under `initial`
    /// (`initial-2`, … when taken), and returns its name and the clear token to print once.
    /// `None` when another node generated one meanwhile.
    pub fn bootstrap(&self, store: &dyn Store) -> Result<Option<(String, String)>, String> {
        if !self.fixed.is_empty() {
            return Ok(None);
        }
        let stored = store.tokens().map_err(|err| err.to_string())?;
        let now = SystemTime::now();
        if stored.iter().any(|token| token.is_live(now)) {
            return Ok(None);
        }
        let taken = |name: &str| stored.iter().any(|token| token.name == name);
        let name = std::iter::once(FIRST_TOKEN_NAME.to_owned())
            .chain((2..).map(|n| format!("{FIRST_TOKEN_NAME}-{n}")))
            .find(|name| !taken(name))
            .unwrap_or_default();
        let (token, hash) = api_key::generate()?;
        let first = StoredToken {
            name: name.clone(),
            hash: hash.to_config_text(),
            created_at: Some(store::now()),
            expires_at: None,
        };
        let audit = AuditEvent::now(actors::GATEWAY, "token.create", &token_target(&name));
        match store.add_token(&first, &audit) {
            Ok(()) => Ok(Some((name, token))),
            Err(StoreError::TokenTaken) => Ok(None),
            Err(err) => Err(err.to_string()),
        }
    }

    /// The names of the configured tokens (`management.tokens`, then `env`).
    pub fn fixed_names(&self) -> impl Iterator<Item = &str> {
        self.fixed.iter().map(|(name, _)| name.as_str())
    }

    /// The token's name when `authorization` carries a known, unexpired token.
    pub fn authenticate(&self, authorization: Option<&str>, store: &dyn Store) -> Option<String> {
        let presented = authorization
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty());
        let Some(presented) = presented else {
            self.failed("no bearer token", None);
            return None;
        };
        match self.find(presented, store) {
            Found::Live(name) => Some(name),
            Found::Expired(name) => {
                self.failed("expired token", Some(&name));
                None
            }
            Found::Unknown => {
                self.failed("unknown token", None);
                None
            }
        }
    }

    /// Failed authentications since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn find(&self, token: &str, store: &dyn Store) -> Found {
        let presented = api_key::hash(token.as_bytes());
        let now = SystemTime::now();
        let stored = self.stored_tokens(store).unwrap_or_else(|err| {
            tracing::warn!(error = %err, "management tokens in the store cannot be read; only configured tokens work");
            Vec::new()
        });
        let stored = stored.iter().filter_map(|token| {
            let hash = KeyHash::from_config_text(&token.hash)?;
            Some((token.name.as_str(), hash, token.is_live(now)))
        });
        let fixed = self
            .fixed
            .iter()
            .map(|(name, hash)| (name.as_str(), *hash, true));
        // Every hash is compared, whichever matches: the time says nothing about which one.
        let mut found = Found::Unknown;
        for (name, hash, live) in fixed.chain(stored) {
            if constant_time_eq(&hash.0, &presented.0) && matches!(found, Found::Unknown) {
                found = if live {
                    Found::Live(name.to_owned())
                } else {
                    Found::Expired(name.to_owned())
                };
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

    /// Counts a refusal and logs it (throttled) with its reason, and the token's name when it
    /// matched an expired one (a name is no secret: the audit log shows it).
    fn failed(&self, reason: &str, expired: Option<&str>) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let admitted = match self.throttle.lock() {
            Ok(throttle) => throttle.admit(Instant::now()),
            Err(poisoned) => poisoned.into_inner().admit(Instant::now()),
        };
        if let Some(suppressed) = admitted {
            tracing::warn!(
                reason,
                token = expired.unwrap_or(""),
                suppressed,
                "management API call refused (401); logged at most every 10 s"
            );
        }
    }
}

/// What a presented token matched.
enum Found {
    Live(String),
    Expired(String),
    Unknown,
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
