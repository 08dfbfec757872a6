//! Rate limits shared through Redis: two gateways (each with its own shards, counters and Redis
//! thread) count together exactly; with Redis down they follow `onUnavailable`, counted in the
//! metrics, and count again once it is back.

mod common;

use std::time::Duration;

use common::admin::{metrics_text, plain_metric};
use common::rate_limit::{concurrent_posts, limited_api_yaml, post_keep_alive};
use common::redis::Redis;
use common::{connect, eventually, start, test_config};
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

fn redis_gateway(redis: &Redis, on_unavailable: &str, limit: u64, driver: DriverChoice) -> Gateway {
    // A generous timeout: on a loaded machine a first connection or EVAL past 500 ms counted as
    // Redis unavailable and let a request through that these tests expect counted. A stopped
    // Redis refuses at once, so the tests of Redis down take no longer for it.
    let gateway = format!(
        "gateway:\n  rateLimit:\n    repository: {{ type: redis, url: '{}', onUnavailable: {on_unavailable}, timeoutMs: 3000 }}",
        redis.url()
    );
    let policies = format!("{{ rateLimit: {{ limit: {limit}, periodSeconds: 1000000 }} }}");
    start(test_config(&limited_api_yaml(&gateway, &policies), driver))
}

fn rate_metric(gateway: &Gateway, name: &str) -> u64 {
    let text = metrics_text(gateway.admin_addr().unwrap());
    plain_metric(&text, &format!("rate_limit_{name}")).unwrap_or_else(|| panic!("no {name}"))
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn two_gateways_sharing_redis_count_together_exactly(driver: DriverChoice) {
    let redis = Redis::start();
    let (one, two) = (
        redis_gateway(&redis, "refuse", 30, driver),
        redis_gateway(&redis, "refuse", 30, driver),
    );
    let (a, b) = (one.local_addr(), two.local_addr());
    let clients = std::thread::scope(|scope| {
        let first = scope.spawn(|| concurrent_posts(a, Vec::new(), 4, 10, "/rl"));
        let second = scope.spawn(|| concurrent_posts(b, Vec::new(), 4, 10, "/rl"));
        [first.join().unwrap(), second.join().unwrap()]
    });
    let all: Vec<u16> = clients.concat();
    assert_eq!(count(&all, 202), 30, "{all:?}");
    assert_eq!(count(&all, 429), 50, "{all:?}");
    // Both gateways counted against the shared limit (each answered some 429s or all of its 202s).
    assert_eq!(
        rate_metric(&one, "requests_refused_total") + rate_metric(&two, "requests_refused_total"),
        50
    );
    assert_eq!(rate_metric(&one, "counter_unavailable_total"), 0);
    assert_eq!(rate_metric(&one, "redis_connected"), 1);
}
on_both_drivers!(
    two_gateways_sharing_redis_count_together_exactly,
    two_gateways_sharing_redis_count_together_exactly
);

fn redis_down_lets_requests_through_when_allowed_and_counts_again_when_back(driver: DriverChoice) {
    let mut redis = Redis::start();
    let gateway = redis_gateway(&redis, "allow", 2, driver);
    let mut stream = connect(gateway.local_addr());
    let statuses: Vec<u16> = (0..3)
        .map(|_| post_keep_alive(&mut stream, "/rl", "m").status)
        .collect();
    assert_eq!(
        statuses,
        [202, 202, 429],
        "unavailable: {}",
        rate_metric(&gateway, "counter_unavailable_total")
    );
    redis.stop();
    let statuses: Vec<u16> = (0..5)
        .map(|_| post_keep_alive(&mut stream, "/rl", "m").status)
        .collect();
    assert_eq!(statuses, [202; 5], "onUnavailable: allow");
    assert!(rate_metric(&gateway, "counter_unavailable_total") >= 5);
    assert!(rate_metric(&gateway, "redis_errors_total") >= 1);
    assert_eq!(rate_metric(&gateway, "redis_connected"), 0);
    // A fresh Redis (its counts were lost with it): the limit applies again once reconnected.
    redis.resume();
    let counted_again = eventually(Duration::from_secs(30), || {
        post_keep_alive(&mut stream, "/rl", "m").status == 429
    });
    assert!(counted_again, "the limit applies again after Redis is back");
    assert_eq!(rate_metric(&gateway, "redis_connected"), 1);
}
on_both_drivers!(
    redis_down_lets_requests_through_when_allowed_and_counts_again_when_back,
    redis_down_lets_requests_through_when_allowed_and_counts_again_when_back
);

fn redis_down_refuses_when_configured(driver: DriverChoice) {
    let mut redis = Redis::start();
    let gateway = redis_gateway(&redis, "refuse", 100, driver);
    let mut stream = connect(gateway.local_addr());
    assert_eq!(post_keep_alive(&mut stream, "/rl", "m").status, 202);
    redis.stop();
    let refused = post_keep_alive(&mut stream, "/rl", "m");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(rate_metric(&gateway, "counter_unavailable_total") >= 1);
}
on_both_drivers!(
    redis_down_refuses_when_configured,
    redis_down_refuses_when_configured
);

/// The same with two `tidegate` processes (the binary): their only shared state is Redis.
#[test]
fn two_gateway_processes_sharing_redis_count_together_exactly() {
    let redis = Redis::start();
    let extra = format!(
        "  rateLimit:\n    repository: {{ type: redis, url: '{}', onUnavailable: refuse, timeoutMs: 1000 }}\n",
        redis.url()
    );
    let yaml = limited_api_yaml(
        &common::binary::gateway_yaml(&extra),
        "{ rateLimit: { limit: 25, periodSeconds: 1000000 } }",
    );
    // one driver: two processes need the binary (`auto`); Redis runs on both drivers above.
    let one = common::binary::Binary::start(&yaml);
    let two = common::binary::Binary::start(&yaml);
    let (a, b) = (one.addr, two.addr);
    let clients = std::thread::scope(|scope| {
        let first = scope.spawn(|| concurrent_posts(a, Vec::new(), 4, 10, "/rl"));
        let second = scope.spawn(|| concurrent_posts(b, Vec::new(), 4, 10, "/rl"));
        [first.join().unwrap(), second.join().unwrap()]
    });
    let all: Vec<u16> = clients.concat();
    assert_eq!(count(&all, 202), 25, "{all:?}");
    assert_eq!(count(&all, 429), 55, "{all:?}");
}
