//! The node's rate limiter: counts requests and messages against a plan's policies, in this
//! process's counters or in Redis (`gateway.rateLimit.repository`), and says what to answer.

use std::sync::Arc;

use super::local_counters::LocalCounters;
use super::metrics::RateLimitMetrics;
use super::redis_counters::{RedisCounters, RedisStartError};
use super::window::{now_ms, Window};
use crate::config::rate_limit::{
    CounterStore, OnUnavailable, Period, Policies, RateLimitConfig, RequestLimit,
};

/// Which policy a counter counts for (part of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// The plan's `rateLimit`: requests per fixed window of `periodSeconds`.
    RateLimit,
    /// The plan's `quota`: requests per UTC day or month.
    Quota,
    /// `messageRate.publishPerSecond`: messages a client publishes per second.
    Publish,
    /// `messageRate.deliverPerSecond`: messages delivered to one stream per second.
    Deliver,
}

impl PolicyKind {
    fn tag(self) -> &'static str {
        match self {
            PolicyKind::RateLimit => "rl",
            PolicyKind::Quota => "q",
            PolicyKind::Publish => "pub",
            PolicyKind::Deliver => "dlv",
        }
    }
}

/// Whose counters: the plan (`scope`, e.g. `api-id/plan-name`) and within it the subscription,
/// or the client's address on a keyless plan (`who`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The plan the counters belong to, `api-id/plan-name`: two plans never share a counter.
    pub scope: String,
    /// Within the plan, whom they count: the subscription's id, or on a keyless plan the
    /// client's IP address.
    pub who: String,
}

impl Subject {
    /// The counter's key; the scope's length first, so no two (scope, who) pairs collide.
    fn key(&self, kind: PolicyKind) -> String {
        format!(
            "tidegate:{}:{}:{}:{}",
            kind.tag(),
            self.scope.len(),
            self.scope,
            self.who
        )
    }
}

/// The answer to one counted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// True when every policy counted had room for the request; false: answer 429.
    pub allowed: bool,
    /// Which policy refused it (`None` when allowed).
    pub refused_by: Option<PolicyKind>,
    /// `X-RateLimit-Limit`: the limit of the policy the headers describe.
    pub limit: u64,
    /// `X-RateLimit-Remaining`.
    pub remaining: u64,
    /// `X-RateLimit-Reset` and `Retry-After`: seconds until that policy's window ends.
    pub reset_seconds: u64,
}

/// Counts for every shard of the process (one per gateway, shared by `Arc`).
pub struct RateLimiter {
    on_unavailable: OnUnavailable,
    local: LocalCounters,
    redis: Option<RedisCounters>,
    metrics: Arc<RateLimitMetrics>,
}

impl RateLimiter {
    /// The limiter of `config` (starting the Redis thread for a Redis repository).
    pub fn start(config: &RateLimitConfig) -> Result<RateLimiter, RedisStartError> {
        let metrics = Arc::new(RateLimitMetrics::default());
        let redis = match &config.store {
            CounterStore::Local => None,
            CounterStore::Redis { url } => Some(RedisCounters::start(
                url,
                config.timeout,
                config.max_in_flight,
                metrics.clone(),
            )?),
        };
        Ok(RateLimiter {
            on_unavailable: config.on_unavailable,
            local: LocalCounters::new(config.max_counters),
            redis,
            metrics,
        })
    }

    /// The node-wide rate-limit counters (what `/metrics` renders as `tidegate_rate_limit_…`).
    pub fn metrics(&self) -> &Arc<RateLimitMetrics> {
        &self.metrics
    }

    /// Prometheus text of the limiter's metrics.
    pub fn render_prometheus(&self) -> String {
        self.metrics.render_prometheus(self.local.live())
    }

    /// Counts one request against `policies`' rate limit, then (only when that allowed it) its
    /// quota; `None` when the plan has neither. The verdict describes the refusing policy, else
    /// the one with the fewest requests left.
    pub async fn check_request(&self, subject: &Subject, policies: &Policies) -> Option<Verdict> {
        let mut shown: Option<Verdict> = None;
        let limits = [
            (PolicyKind::RateLimit, policies.rate_limit),
            (PolicyKind::Quota, policies.quota),
        ];
        for (kind, limit) in limits {
            let Some(limit) = limit else { continue };
            let verdict = self.hit(subject, kind, limit).await;
            if !verdict.allowed {
                let counter = match kind {
                    PolicyKind::Quota => &self.metrics.quota_refused_total,
                    _ => &self.metrics.requests_refused_total,
                };
                RateLimitMetrics::inc(counter);
                return Some(verdict);
            }
            if shown.is_none_or(|shown| verdict.remaining < shown.remaining) {
                shown = Some(verdict);
            }
        }
        shown
    }

    /// Counts one published message against `per_second` (HTTP POST, WebSocket publish).
    pub async fn check_publish(&self, subject: &Subject, per_second: RequestLimit) -> Verdict {
        self.hit(subject, PolicyKind::Publish, per_second).await
    }

    /// Takes up to `want` deliveries of this second for `subject` (always this node's counters:
    /// pacing a node's own streams needs no round trip). Returns how many were granted and, when
    /// none, the Unix millisecond at which to try again.
    pub fn take_deliveries(
        &self,
        subject: &Subject,
        per_second: RequestLimit,
        want: u64,
    ) -> (u64, u64) {
        let now = now_ms();
        let window = Window::at(per_second.period, now);
        let key = subject.key(PolicyKind::Deliver);
        match self
            .local
            .take(&key, window, want, per_second.limit.get(), now)
        {
            Some(granted) => (granted, window.end_ms),
            None => {
                // No room for a counter: pacing cannot be measured, so it follows onUnavailable.
                RateLimitMetrics::inc(&self.metrics.counter_unavailable_total);
                match self.on_unavailable {
                    OnUnavailable::Allow => (want, window.end_ms),
                    OnUnavailable::Refuse => (0, window.end_ms),
                }
            }
        }
    }

    /// Counts one hit of `kind` and judges it against `limit`.
    async fn hit(&self, subject: &Subject, kind: PolicyKind, limit: RequestLimit) -> Verdict {
        let now = now_ms();
        let window = Window::at(limit.period, now);
        let key = subject.key(kind);
        let count = match &self.redis {
            None => self.local.add(&key, window, 1, now),
            Some(redis) => {
                let key = format!("{key}:{}", window.index);
                redis.add(key, window, 1, now).await
            }
        };
        let limit_value = limit.limit.get();
        let reset_seconds = window.seconds_left(now).max(1);
        match count {
            Some(count) => Verdict {
                allowed: count <= limit_value,
                refused_by: (count > limit_value).then_some(kind),
                limit: limit_value,
                remaining: limit_value.saturating_sub(count),
                reset_seconds,
            },
            None => {
                RateLimitMetrics::inc(&self.metrics.counter_unavailable_total);
                let allowed = self.on_unavailable == OnUnavailable::Allow;
                Verdict {
                    allowed,
                    refused_by: (!allowed).then_some(kind),
                    limit: limit_value,
                    remaining: if allowed { limit_value } else { 0 },
                    // Refused only because the count is unknown: try again soon.
                    reset_seconds: if allowed { reset_seconds } else { 1 },
                }
            }
        }
    }
}

/// A one-second window limit of `per_second` (message rates).
pub(super) fn per_second(limit: std::num::NonZeroU64) -> RequestLimit {
    RequestLimit {
        limit,
        period: Period::Seconds(std::num::NonZeroU64::MIN),
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;
    use crate::config::rate_limit::QuotaPeriod;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn limit(limit: u64, period: Period) -> Option<RequestLimit> {
        Some(RequestLimit {
            limit: NonZeroU64::new(limit).unwrap(),
            period,
        })
    }

    fn subject(who: &str) -> Subject {
        Subject {
            scope: "api/plan".to_owned(),
            who: who.to_owned(),
        }
    }

    const LONG: Period = Period::Seconds(NonZeroU64::new(1_000_000).unwrap());

    #[test]
    fn a_refused_request_does_not_use_the_quota_and_headers_show_the_tighter_policy() {
        let limiter = RateLimiter::start(&RateLimitConfig::default()).unwrap();
        let policies = Policies {
            rate_limit: limit(2, LONG),
            quota: limit(10, Period::Calendar(QuotaPeriod::Month)),
            message_rate: None,
        };
        let who = subject("1.2.3.4");
        let verdicts: Vec<Verdict> = (0..4)
            .map(|_| block_on(limiter.check_request(&who, &policies)).unwrap())
            .collect();
        assert_eq!(verdicts[0].limit, 2, "the rate limit has fewer left");
        assert_eq!(verdicts[1].remaining, 0);
        assert_eq!(verdicts[2].refused_by, Some(PolicyKind::RateLimit));
        // Only the two admitted requests reached the quota.
        let quota_only = Policies {
            rate_limit: None,
            ..policies
        };
        let verdict = block_on(limiter.check_request(&who, &quota_only)).unwrap();
        assert_eq!((verdict.limit, verdict.remaining), (10, 7));
        assert_eq!(
            RateLimitMetrics::get(&limiter.metrics().requests_refused_total),
            2
        );
    }

    #[test]
    fn a_full_counter_map_follows_on_unavailable() {
        for (on_unavailable, allowed) in
            [(OnUnavailable::Allow, true), (OnUnavailable::Refuse, false)]
        {
            let config = RateLimitConfig {
                max_counters: 1,
                on_unavailable,
                ..RateLimitConfig::default()
            };
            let limiter = RateLimiter::start(&config).unwrap();
            let policies = Policies {
                rate_limit: limit(5, LONG),
                ..Policies::default()
            };
            // One counter per stripe: enough addresses fill every stripe.
            let verdicts: Vec<Verdict> = (0..200)
                .map(|i| {
                    block_on(limiter.check_request(&subject(&format!("10.0.0.{i}")), &policies))
                        .unwrap()
                })
                .collect();
            let unavailable = RateLimitMetrics::get(&limiter.metrics().counter_unavailable_total);
            assert!(unavailable > 0);
            assert!(verdicts.iter().all(|v| v.allowed || !allowed));
            assert_eq!(
                verdicts.iter().filter(|v| !v.allowed).count() as u64,
                if allowed { 0 } else { unavailable }
            );
        }
    }
}
