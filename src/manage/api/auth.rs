//! Management tokens: `Authorization: Bearer <token>` (never the query string, which logs and
//! browser histories keep), compared by SHA-256 in constant time against every known hash:
//! `management.tokens` and `TIDEGATE_MANAGEMENT_TOKEN` when either is set, else the store's
//! unexpired ones (created and revoked through the API: `tokens.rs`). With none at all, the
//! first start generates one, stores its hash, and prints the token once on stderr; configuring
//! a token replaces the store's, so the generated one (printed, maybe into a shared log) is
//! revoked by configuring your own, or by creating another and revoking it. A refused call
//! changes nothing; failures are counted and logged at most once per interval, so a guesser
//! cannot flood the log. A token's role says what it may do: `admin` everything, `viewer` only
//! read (the router refuses its other calls with 403).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::config::management::actors;
use crate::config::{AdminToken, KeyHash, TokenRole};
use crate::manage::service::{token_target, ENV_TOKEN_NAME};
use crate::manage::store::{self, AuditEvent, Store, StoreError, StoredToken};
use crate::security::api_key;
use crate::shard::LogThrottle;

/// How often a refused token is logged (with the count of those not logged).
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How many times a start tries to store its generated token when the name was taken meanwhile.
const BOOTSTRAP_ATTEMPTS: usize = 5;
/// The name the generated first token is stored under.
pub const FIRST_TOKEN_NAME: &str = "initial";

/// The tokens that authenticate, by name.
pub struct Tokens {
    /// From the configuration and the environment: fixed for the process's life.
    fixed: Vec<(String, KeyHash, TokenRole)>,
    failures: AtomicU64,
    throttle: Mutex<LogThrottle>,
}

impl Tokens {
    /// `configured`: `management.tokens`; `env_token`: the clear token of
    /// `TIDEGATE_MANAGEMENT_TOKEN`, an administrator's.
    pub fn new(configured: &[AdminToken], env_token: Option<&str>) -> Tokens {
        let mut fixed: Vec<(String, KeyHash, TokenRole)> = configured
            .iter()
            .map(|token| (token.name.clone(), token.hash, token.role))
            .collect();
        if let Some(token) = env_token.filter(|token| !token.is_empty()) {
            fixed.push((
                ENV_TOKEN_NAME.to_owned(),
                api_key::hash(token.as_bytes()),
                TokenRole::Admin,
            ));
        }
        Tokens {
            fixed,
            failures: AtomicU64::new(0),
            throttle: Mutex::new(LogThrottle::new(FAILURE_LOG_INTERVAL)),
        }
    }

    /// With no token configured, none in the environment and no valid administrator's token in the
    /// store (a first start, or every stored one expired or a viewer's): generates one, stores
    /// its hash under `initial` (`initial-2`, … when taken), and returns its name and the clear
    /// token to print once. `None` when another node generated one meanwhile.
    pub fn bootstrap(&self, store: &dyn Store) -> Result<Option<(String, String)>, String> {
        if !self.fixed.is_empty() {
            return Ok(None);
        }
        // A name taken meanwhile (another node starting, a token named alike) is read again:
        // nothing is printed only once an administrator's token is there.
        for _ in 0..BOOTSTRAP_ATTEMPTS {
            let stored = store.tokens().map_err(|err| err.to_string())?;
            let now = SystemTime::now();
            let admin = |token: &StoredToken| token.role == TokenRole::Admin && token.is_live(now);
            if stored.iter().any(admin) {
                return Ok(None);
            }
            // Names are unique ignoring case, as the store compares them.
            let taken = |name: &str| {
                stored
                    .iter()
                    .any(|token| token.name.eq_ignore_ascii_case(name))
            };
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
                role: TokenRole::Admin,
            };
            let audit = AuditEvent::now(actors::GATEWAY, "token.create", &token_target(&name));
            match store.add_token(&first, &audit) {
                Ok(()) => return Ok(Some((name, token))),
                Err(StoreError::TokenTaken) => continue,
                Err(err) => return Err(err.to_string()),
            }
        }
        Err("the store kept refusing the generated token's name; configure management.tokens or TIDEGATE_MANAGEMENT_TOKEN".to_owned())
    }

    /// The configured tokens (`management.tokens`, then `env`), with their roles.
    pub fn fixed(&self) -> impl Iterator<Item = (&str, TokenRole)> {
        self.fixed
            .iter()
            .map(|(name, _, role)| (name.as_str(), *role))
    }

    /// The token's name and role when `authorization` carries a known, unexpired token.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        store: &dyn Store,
    ) -> Option<(String, TokenRole)> {
        let presented = authorization
            .and_then(|value| {
                // The scheme is case-insensitive (RFC 9110 §11.1).
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token)
            })
            .map(str::trim)
            .filter(|token| !token.is_empty());
        let Some(presented) = presented else {
            self.failed("no bearer token", None);
            return None;
        };
        match self.find(presented, store) {
            Found::Live(name, role) => Some((name, role)),
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
            Some((token.name.as_str(), hash, token.role, token.is_live(now)))
        });
        let fixed = self
            .fixed
            .iter()
            .map(|(name, hash, role)| (name.as_str(), *hash, *role, true));
        // Every hash is compared, whichever matches: the time says nothing about which one.
        let mut found = Found::Unknown;
        for (name, hash, role, live) in fixed.chain(stored) {
            if constant_time_eq(&hash.0, &presented.0) && matches!(found, Found::Unknown) {
                found = if live {
                    Found::Live(name.to_owned(), role)
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
    Live(String, TokenRole),
    Expired(String),
    Unknown,
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
