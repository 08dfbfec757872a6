//! One client's view of the limiter: the counters of its subscription (or, on a keyless plan,
//! its address) under its plan's policies, as each entrypoint needs them.

use std::sync::Arc;
use std::time::Duration;

use super::limiter::{per_second, PolicyKind, RateLimiter, Subject, Verdict};
use super::metrics::RateLimitMetrics;
use super::window::now_ms;
use crate::config::rate_limit::{Overflow, Policies};

/// What a writer may do with the messages waiting for it (`deliverPerSecond`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Deliver this many now; with `drop_rest`, drop the others waiting (`overflow: drop`).
    Deliver {
        /// Messages the writer may take from its queue now (at most the number waiting).
        count: usize,
        /// True with `overflow: drop`: the messages waiting beyond `count` are dropped (and
        /// counted) instead of waiting for the next second.
        drop_rest: bool,
    },
    /// Deliver nothing before this long has passed.
    Wait(Duration),
}

/// A client's counters and policies; shared by its request, its publisher and its writer.
pub struct Meter {
    limiter: Arc<RateLimiter>,
    subject: Subject,
    policies: Policies,
}

impl Meter {
    /// `None` when `policies` limit nothing.
    pub fn new(limiter: Arc<RateLimiter>, subject: Subject, policies: &Policies) -> Option<Meter> {
        (!policies.is_empty()).then(|| Meter {
            limiter,
            subject,
            policies: policies.clone(),
        })
    }

    /// Counts a request (rate limit, quota; for a publish also `publishPerSecond`). The verdict
    /// whose headers the answer carries, `None` when no policy counts requests.
    pub async fn admit_request(&self, publishes: bool) -> Option<Verdict> {
        let verdict = self
            .limiter
            .check_request(&self.subject, &self.policies)
            .await;
        if verdict.is_some_and(|verdict| !verdict.allowed) {
            return verdict;
        }
        let rate = self
            .policies
            .message_rate
            .and_then(|rate| rate.publish_per_second);
        match rate.filter(|_| publishes) {
            Some(rate) => {
                let publish = self
                    .limiter
                    .check_publish(&self.subject, per_second(rate))
                    .await;
                if !publish.allowed {
                    RateLimitMetrics::inc(&self.limiter.metrics().publishes_refused_total);
                    return Some(publish);
                }
                verdict.or(Some(publish))
            }
            None => verdict,
        }
    }

    /// Waits until this client may publish one more message (WebSocket: the session is not read
    /// meanwhile, so a fast publisher is slowed by TCP back-pressure instead of refused).
    pub async fn publish_slot(&self) {
        let Some(rate) = self
            .policies
            .message_rate
            .and_then(|rate| rate.publish_per_second)
        else {
            return;
        };
        loop {
            let verdict = self
                .limiter
                .check_publish(&self.subject, per_second(rate))
                .await;
            if verdict.allowed {
                return;
            }
            RateLimitMetrics::inc(&self.limiter.metrics().publishers_paused_total);
            let wait = next_second_in();
            monoio::time::sleep(wait).await;
        }
    }

    /// True when deliveries are paced (`deliverPerSecond`).
    pub fn paces_deliveries(&self) -> bool {
        self.policies
            .message_rate
            .is_some_and(|rate| rate.deliver_per_second.is_some())
    }

    /// How many of `waiting` messages the writer may deliver now.
    pub fn deliveries(&self, waiting: usize) -> Pace {
        let Some(rate) = self.policies.message_rate else {
            return Pace::Deliver {
                count: waiting,
                drop_rest: false,
            };
        };
        let Some(limit) = rate.deliver_per_second else {
            return Pace::Deliver {
                count: waiting,
                drop_rest: false,
            };
        };
        let (granted, retry_at_ms) =
            self.limiter
                .take_deliveries(&self.subject, per_second(limit), waiting as u64);
        let drop_rest = rate.overflow == Overflow::Drop;
        if granted == 0 && !drop_rest {
            RateLimitMetrics::inc(&self.limiter.metrics().deliveries_paced_total);
            return Pace::Wait(Duration::from_millis(
                retry_at_ms.saturating_sub(now_ms()).max(1),
            ));
        }
        if drop_rest && (granted as usize) < waiting {
            let dropped = (waiting - granted as usize) as u64;
            let metric = &self.limiter.metrics().deliveries_dropped_total;
            metric.fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
        }
        Pace::Deliver {
            count: granted as usize,
            drop_rest,
        }
    }
}

/// Time until the next whole second (a publish window ends).
fn next_second_in() -> Duration {
    let now = now_ms();
    Duration::from_millis(1000 - now % 1000)
}

impl Verdict {
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset` (seconds until the window ends), as sent on
    /// every answer of a counted request.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("X-RateLimit-Limit", self.limit.to_string()),
            ("X-RateLimit-Remaining", self.remaining.to_string()),
            ("X-RateLimit-Reset", self.reset_seconds.to_string()),
        ]
    }

    /// The 429 body: which policy refused, and when to come back.
    pub fn refusal(&self) -> String {
        let what = match self.refused_by {
            Some(PolicyKind::Quota) => "quota exceeded",
            Some(PolicyKind::Publish) => "publish rate exceeded",
            _ => "rate limit exceeded",
        };
        format!("{what}; retry in {} s", self.reset_seconds)
    }
}
