//! A plan's policies count per subscription (issue 12, part 7): two subscriptions to one
//! api-key plan each get the plan's whole limit, a second key of the same subscription shares
//! its count, and a plan without policies is not limited. (Keyless plans count per client
//! address: tests/rate_limit.rs.)

mod common;

use common::plans::{chat_with_plans, new_key, post_with, Present, APPLICATIONS};
use common::{start, test_config};
use tidegate::config::DriverChoice;

const LIMIT: usize = 3;

/// `gold` limits each subscription to `LIMIT` requests a minute; `free` limits nothing.
const PLANS: &str = "      - id: gold\n        name: Gold\n        security: api-key\n        policies:\n          rateLimit: { limit: 3, periodSeconds: 60 }\n      - { id: free, name: Free, security: api-key }\n";

fn subscription(id: &str, plan: &str, application: &str, hashes: &[&str]) -> String {
    let keys: String = hashes
        .iter()
        .map(|hash| format!("      - hash: \"{hash}\"\n"))
        .collect();
    format!("  - id: {id}\n    api: chat\n    plan: {plan}\n    application: {application}\n    apiKeys:\n{keys}")
}

fn statuses(addr: std::net::SocketAddr, key: &str, count: usize) -> Vec<u16> {
    (0..count)
        .map(|n| {
            post_with(
                addr,
                Present::Header("X-Gravitee-Api-Key", key),
                &format!("m{n}"),
            )
            .status
        })
        .collect()
}

fn expected(admitted: usize, refused: usize) -> Vec<u16> {
    let mut statuses = vec![202; admitted];
    statuses.extend(vec![429; refused]);
    statuses
}

fn each_subscription_has_its_own_count(driver: DriverChoice) {
    let (first, first_hash) = new_key();
    let (first_renewed, first_renewed_hash) = new_key();
    let (second, second_hash) = new_key();
    let (unlimited, unlimited_hash) = new_key();
    let tail = format!(
        "{APPLICATIONS}subscriptions:\n{}{}{}",
        subscription("sub-a", "gold", "app", &[&first_hash, &first_renewed_hash]),
        subscription("sub-b", "gold", "other-app", &[&second_hash]),
        subscription("sub-free", "free", "app", &[&unlimited_hash]),
    );
    let gateway = start(test_config(&chat_with_plans(PLANS, &tail), driver));
    let addr = gateway.local_addr();

    assert_eq!(statuses(addr, &first, LIMIT + 1), expected(LIMIT, 1));
    // The same subscription's other key shares the count; another subscription has its own.
    assert_eq!(statuses(addr, &first_renewed, 1), expected(0, 1));
    assert_eq!(statuses(addr, &second, LIMIT + 1), expected(LIMIT, 1));
    assert_eq!(
        statuses(addr, &unlimited, LIMIT * 3),
        expected(LIMIT * 3, 0)
    );

    let refused = post_with(addr, Present::Header("X-Gravitee-Api-Key", &second), "late");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert!(refused.header("retry-after").is_some());
}
on_both_drivers!(per_subscription, each_subscription_has_its_own_count);
