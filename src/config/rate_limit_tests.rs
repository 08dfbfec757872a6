//! `gateway.rateLimit` and plan `policies`: decoded values, defaults and the problems reported.

use std::num::NonZeroU64;
use std::time::Duration;

use super::rate_limit::*;
use super::tests::{problems, ONE_API};
use super::*;

fn with_policies(policies: &str) -> String {
    ONE_API.replace(
        "plans: [{ name: Keyless, security: keyless }]",
        &format!("plans: [{{ name: Keyless, security: keyless, policies: {policies} }}]"),
    )
}

#[test]
fn policies_decode_to_typed_limits() {
    let text = with_policies(
        "{ rateLimit: { limit: 5, periodSeconds: 10 }, quota: { limit: 1000, period: month }, messageRate: { publishPerSecond: 3, deliverPerSecond: 7, overflow: drop } }",
    );
    let config = load_str(&text, "t.yaml").expect("valid");
    let policies = &config.apis[0].plans[0].policies;
    let n = |v| NonZeroU64::new(v).unwrap();
    assert_eq!(
        policies.rate_limit,
        Some(RequestLimit {
            limit: n(5),
            period: Period::Seconds(n(10))
        })
    );
    assert_eq!(
        policies.quota,
        Some(RequestLimit {
            limit: n(1000),
            period: Period::Calendar(QuotaPeriod::Month)
        })
    );
    assert_eq!(
        policies.message_rate,
        Some(MessageRate {
            publish_per_second: Some(n(3)),
            deliver_per_second: Some(n(7)),
            overflow: Overflow::Drop,
        })
    );
    let plain = load_str(ONE_API, "t.yaml").expect("valid");
    assert!(plain.apis[0].plans[0].policies.is_empty());
}

#[test]
fn policy_problems_name_the_key() {
    let found = problems(&with_policies(
        "{ rateLimit: { limit: 0 }, quota: { limit: 1, period: week }, burst: 1 }",
    ));
    let locations: Vec<&str> = found.iter().map(|(at, _)| at.as_str()).collect();
    assert!(
        locations.contains(&"apis[0].plans[0].policies.rateLimit.limit"),
        "{found:?}"
    );
    assert!(
        locations.contains(&"apis[0].plans[0].policies.quota.period"),
        "{found:?}"
    );
    assert!(
        locations.contains(&"apis[0].plans[0].policies.burst"),
        "{found:?}"
    );
}

#[test]
fn repository_defaults_and_redis() {
    let config = load_str(ONE_API, "t.yaml").expect("valid");
    assert_eq!(config.gateway.rate_limit, RateLimitConfig::default());
    let text = format!(
        "gateway:\n  rateLimit:\n    repository: {{ type: redis, url: 'redis://127.0.0.1:6379/0', onUnavailable: refuse, timeoutMs: 250 }}\n{ONE_API}"
    );
    let config = load_str(&text, "t.yaml").expect("valid");
    let rate_limit = &config.gateway.rate_limit;
    assert_eq!(
        rate_limit.store,
        CounterStore::Redis {
            url: "redis://127.0.0.1:6379/0".to_owned()
        }
    );
    assert_eq!(rate_limit.on_unavailable, OnUnavailable::Refuse);
    assert_eq!(rate_limit.timeout, Duration::from_millis(250));
}

#[test]
fn repository_problems() {
    let text = format!(
        "gateway:\n  rateLimit:\n    repository: {{ type: redis, timeoutMs: 0 }}\n    maxCounters: 0\n{ONE_API}"
    );
    let found = problems(&text);
    let locations: Vec<&str> = found.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(
        locations,
        [
            "gateway.rateLimit.repository",
            "gateway.rateLimit.repository.timeoutMs",
            "gateway.rateLimit.maxCounters",
        ]
    );
    let text = format!("gateway:\n  rateLimit:\n    repository: {{ type: memcached }}\n{ONE_API}");
    let (_, message) = problems(&text).remove(0);
    assert_eq!(
        message,
        "unknown rate-limit repository type 'memcached'; expected one of: local, redis"
    );
}
