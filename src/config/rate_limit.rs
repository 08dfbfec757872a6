//! Rate-limit configuration: where the counters live (`gateway.rateLimit`) and a plan's
//! `policies` (request rate limit, quota, message rates), from YAML shape to checked values.

use std::num::NonZeroU64;
use std::time::Duration;

use serde::Deserialize;

use super::problem::{join, Problems};

/// Default `gateway.rateLimit.repository.timeoutMs`: a Redis answer slower than this counts as
/// Redis being unavailable for that request.
pub const REDIS_TIMEOUT_MS: u64 = 100;
/// Default `gateway.rateLimit.repository.maxInFlight`: counter requests waiting for Redis, all
/// shards together; more are answered as if Redis were unavailable.
pub const REDIS_MAX_IN_FLIGHT: usize = 4096;
/// Default `gateway.rateLimit.maxCounters`: live counters kept by the node (local repository).
pub const MAX_COUNTERS: usize = 100_000;

/// `gateway.rateLimit`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the rateLimit mapping (repository, maxCounters)"
)]
pub(crate) struct RawRateLimit {
    pub repository: RawRepository,
    pub max_counters: usize,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        RawRateLimit {
            repository: RawRepository::default(),
            max_counters: MAX_COUNTERS,
        }
    }
}

/// `gateway.rateLimit.repository`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the repository mapping (type, url, onUnavailable, timeoutMs, maxInFlight)"
)]
pub(crate) struct RawRepository {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub on_unavailable: OnUnavailable,
    pub timeout_ms: u64,
    pub max_in_flight: usize,
}

impl Default for RawRepository {
    fn default() -> Self {
        RawRepository {
            kind: "local".to_owned(),
            url: None,
            on_unavailable: OnUnavailable::Allow,
            timeout_ms: REDIS_TIMEOUT_MS,
            max_in_flight: REDIS_MAX_IN_FLIGHT,
        }
    }
}

/// What a request gets when its counter cannot be read (Redis down or slow, or the node's
/// counter map full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnavailable {
    /// Let the request through (availability first, Gravitee's default).
    Allow,
    /// Answer 429 with `Retry-After: 1`.
    Refuse,
}

/// Where the counters live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterStore {
    /// In this process, shared by all its shards.
    Local,
    /// In Redis, shared by every gateway process pointing at it.
    Redis {
        /// `repository.url`: `redis://host:port/db`.
        url: String,
    },
}

/// `gateway.rateLimit`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `repository.type` (default `local`) with its `url`: where the counters live.
    pub store: CounterStore,
    /// `repository.onUnavailable` (default `allow`): what a request gets when its counter
    /// cannot be read.
    pub on_unavailable: OnUnavailable,
    /// `repository.timeoutMs` (default 100 ms): longest wait for a Redis answer.
    pub timeout: Duration,
    /// `repository.maxInFlight` (default 4096): counter requests waiting for Redis, node-wide;
    /// at least 1.
    pub max_in_flight: usize,
    /// `maxCounters` (default 100000): live local counters; at least 1.
    pub max_counters: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            store: CounterStore::Local,
            on_unavailable: OnUnavailable::Allow,
            timeout: Duration::from_millis(REDIS_TIMEOUT_MS),
            max_in_flight: REDIS_MAX_IN_FLIGHT,
            max_counters: MAX_COUNTERS,
        }
    }
}

pub(crate) fn rate_limit(raw: RawRateLimit, loc: &str, p: &mut Problems) -> RateLimitConfig {
    let repo = raw.repository;
    let repo_loc = join(loc, "repository");
    let store = match (repo.kind.as_str(), repo.url) {
        ("local", None) => CounterStore::Local,
        ("local", Some(_)) => {
            p.push(
                join(&repo_loc, "url"),
                "only a `type: redis` repository has a url",
            );
            CounterStore::Local
        }
        ("redis", Some(url)) if url.starts_with("redis://") => CounterStore::Redis { url },
        ("redis", Some(_)) => {
            p.push(
                join(&repo_loc, "url"),
                "a Redis url starts with redis:// (e.g. redis://127.0.0.1:6379/0)",
            );
            CounterStore::Local
        }
        ("redis", None) => {
            p.push(
                &repo_loc,
                "a `type: redis` repository needs a url, e.g. redis://127.0.0.1:6379/0",
            );
            CounterStore::Local
        }
        (other, _) => {
            p.push(
                join(&repo_loc, "type"),
                format!(
                    "unknown rate-limit repository type '{other}'; expected one of: local, redis"
                ),
            );
            CounterStore::Local
        }
    };
    at_least_one(repo.timeout_ms as usize, &repo_loc, "timeoutMs", p);
    at_least_one(repo.max_in_flight, &repo_loc, "maxInFlight", p);
    at_least_one(raw.max_counters, loc, "maxCounters", p);
    RateLimitConfig {
        store,
        on_unavailable: repo.on_unavailable,
        timeout: Duration::from_millis(repo.timeout_ms),
        max_in_flight: repo.max_in_flight.max(1),
        max_counters: raw.max_counters.max(1),
    }
}

fn at_least_one(value: usize, loc: &str, key: &str, p: &mut Problems) {
    if value == 0 {
        p.push(join(loc, key), "must be at least 1");
    }
}

/// A plan's `policies`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the policies mapping (rateLimit, quota, messageRate)"
)]
pub(crate) struct RawPolicies {
    pub rate_limit: Option<RawRequestLimit>,
    pub quota: Option<RawQuota>,
    pub message_rate: Option<RawMessageRate>,
}

/// `rateLimit: { limit, periodSeconds }`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a mapping `{ limit: N, periodSeconds: S }`"
)]
pub(crate) struct RawRequestLimit {
    pub limit: u64,
    #[serde(default = "one")]
    pub period_seconds: u64,
}

fn one() -> u64 {
    1
}

/// `quota: { limit, period: day|month }`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping `{ limit: N, period: day|month }`"
)]
pub(crate) struct RawQuota {
    pub limit: u64,
    pub period: QuotaPeriod,
}

/// The calendar period of a quota, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaPeriod {
    /// `day`: the count starts again at 00:00 UTC.
    Day,
    /// `month`: the count starts again on the 1st, 00:00 UTC.
    Month,
}

/// `messageRate: { publishPerSecond, deliverPerSecond, overflow }`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a mapping `{ publishPerSecond: N, deliverPerSecond: N, overflow: slow-down|drop }`"
)]
pub(crate) struct RawMessageRate {
    pub publish_per_second: Option<u64>,
    pub deliver_per_second: Option<u64>,
    #[serde(default)]
    pub overflow: Overflow,
}

/// What delivery over `deliverPerSecond` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Messages wait (the client's queue and then the slow-client policy take over).
    #[default]
    SlowDown,
    /// Messages over the rate are dropped (counted).
    Drop,
}

/// The window a counter counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Fixed windows of this many seconds, aligned to the Unix epoch.
    Seconds(NonZeroU64),
    /// A UTC calendar day or month.
    Calendar(QuotaPeriod),
}

/// `limit` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimit {
    /// `limit`: requests (or messages) counted per window; at least 1.
    pub limit: NonZeroU64,
    /// The window they are counted in: `periodSeconds` (default 1) for `rateLimit`, the
    /// calendar `period` for `quota`, one second for message rates.
    pub period: Period,
}

/// Message rates of one subscription (or client address on a keyless plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRate {
    /// `publishPerSecond`: messages a client may publish per second (HTTP POST over it: 429;
    /// a WebSocket publisher is not read until the next second); `None`: unlimited.
    pub publish_per_second: Option<NonZeroU64>,
    /// `deliverPerSecond`: messages delivered to one stream per second; `None`: unlimited.
    pub deliver_per_second: Option<NonZeroU64>,
    /// `overflow` (default `slow-down`): what deliveries over `deliverPerSecond` do.
    pub overflow: Overflow,
}

/// A plan's policies, checked; all absent by default (no limits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    /// `rateLimit: { limit, periodSeconds }`: requests per fixed window of seconds.
    pub rate_limit: Option<RequestLimit>,
    /// `quota: { limit, period: day | month }`: requests per UTC calendar day or month.
    pub quota: Option<RequestLimit>,
    /// `messageRate: { publishPerSecond, deliverPerSecond, overflow }`: message rates.
    pub message_rate: Option<MessageRate>,
}

impl Policies {
    /// True when no policy is set (nothing to count).
    pub fn is_empty(&self) -> bool {
        self.rate_limit.is_none() && self.quota.is_none() && self.message_rate.is_none()
    }
}

pub(crate) fn policies(raw: RawPolicies, loc: &str, p: &mut Problems) -> Policies {
    let rate_limit = raw.rate_limit.and_then(|raw| {
        let loc = join(loc, "rateLimit");
        let limit = positive(raw.limit, &loc, "limit", p);
        let seconds = positive(raw.period_seconds, &loc, "periodSeconds", p);
        Some(RequestLimit {
            limit: limit?,
            period: Period::Seconds(seconds?),
        })
    });
    let quota = raw.quota.and_then(|raw| {
        Some(RequestLimit {
            limit: positive(raw.limit, &join(loc, "quota"), "limit", p)?,
            period: Period::Calendar(raw.period),
        })
    });
    let message_rate = raw.message_rate.map(|raw| {
        let loc = join(loc, "messageRate");
        let rate = |value: Option<u64>, key, p: &mut Problems| {
            value.and_then(|value| positive(value, &loc, key, p))
        };
        MessageRate {
            publish_per_second: rate(raw.publish_per_second, "publishPerSecond", p),
            deliver_per_second: rate(raw.deliver_per_second, "deliverPerSecond", p),
            overflow: raw.overflow,
        }
    });
    Policies {
        rate_limit,
        quota,
        message_rate,
    }
}

fn positive(value: u64, loc: &str, key: &str, p: &mut Problems) -> Option<NonZeroU64> {
    let checked = NonZeroU64::new(value);
    if checked.is_none() {
        p.push(
            join(loc, key),
            "must be at least 1 (leave the policy out for no limit)",
        );
    }
    checked
}
