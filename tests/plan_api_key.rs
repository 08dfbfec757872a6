//! API key plans end to end over real sockets, on GET, POST, SSE and the WebSocket upgrade:
//! missing, wrong, expired and revoked keys (401 with `WWW-Authenticate`), header and query,
//! a plan's own header name, and a renewal's two keys.

mod common;

use common::plans::{
    chat_with_plans, get_with, new_key, statuses, subscription, Present, APPLICATIONS, LET_IN,
    UNAUTHORIZED,
};
use common::{start, test_config};
use tidegate::config::DriverChoice;

const API_KEY_PLAN: &str = "      - { id: gold, name: Gold, security: api-key }\n";

fn one_subscription(extra: &str, hash: &str) -> String {
    format!(
        "{APPLICATIONS}subscriptions:\n{}",
        subscription("sub-1", "chat", "gold", extra, hash)
    )
}

fn every_entrypoint_needs_a_valid_key(driver: DriverChoice) {
    let (key, hash) = new_key();
    let yaml = chat_with_plans(API_KEY_PLAN, &one_subscription("", &hash));
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();

    assert_eq!(statuses(addr, Present::Nothing), UNAUTHORIZED);
    let (wrong, _) = new_key();
    assert_eq!(
        statuses(addr, Present::Header("X-Gravitee-Api-Key", &wrong)),
        UNAUTHORIZED
    );
    assert_eq!(statuses(addr, Present::Query(&wrong)), UNAUTHORIZED);
    assert_eq!(
        statuses(addr, Present::Header("X-Gravitee-Api-Key", "")),
        UNAUTHORIZED
    );

    assert_eq!(
        statuses(addr, Present::Header("X-Gravitee-Api-Key", &key)),
        LET_IN
    );
    assert_eq!(
        statuses(addr, Present::Header("x-gravitee-api-key", &key)),
        LET_IN
    );
    assert_eq!(statuses(addr, Present::Query(&key)), LET_IN);

    let refused = get_with(addr, Present::Nothing);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("ApiKey realm=\"chat\"")
    );
    let wrong_answer = get_with(addr, Present::Query(&wrong));
    assert_eq!(
        wrong_answer.header("www-authenticate"),
        Some("ApiKey realm=\"chat\"")
    );
    // The answer does not say whether the key was missing or wrong.
    assert_eq!(refused.text(), wrong_answer.text());
}
on_both_drivers!(
    every_entrypoint_needs_a_valid_key,
    every_entrypoint_needs_a_valid_key
);

fn expired_and_revoked_keys_are_refused(driver: DriverChoice) {
    let (expired, expired_hash) = new_key();
    let (revoked, revoked_hash) = new_key();
    let (renewed, renewed_hash) = new_key();
    let (old, old_hash) = new_key();
    let subscriptions = format!(
        "{APPLICATIONS}subscriptions:
  - id: sub-1
    api: chat
    plan: gold
    application: app
    apiKeys:
      - {{ hash: \"{expired_hash}\", expireAt: 2020-01-01T00:00:00Z }}
      - {{ hash: \"{revoked_hash}\", revoked: true }}
      - {{ hash: \"{renewed_hash}\" }}
      - {{ hash: \"{old_hash}\", expireAt: 2999-01-01T00:00:00Z }}
"
    );
    let yaml = chat_with_plans(API_KEY_PLAN, &subscriptions);
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let header = |key| Present::Header("X-Gravitee-Api-Key", key);
    assert_eq!(statuses(addr, header(&expired)), UNAUTHORIZED);
    assert_eq!(statuses(addr, header(&revoked)), UNAUTHORIZED);
    // A renewal: the new key and, until its expiry, the old one.
    assert_eq!(statuses(addr, header(&renewed)), LET_IN);
    assert_eq!(statuses(addr, header(&old)), LET_IN);
}
on_both_drivers!(
    expired_and_revoked_keys_are_refused,
    expired_and_revoked_keys_are_refused
);

fn a_plan_names_its_own_header(driver: DriverChoice) {
    let (key, hash) = new_key();
    let plan = "      - { id: gold, name: Gold, security: api-key, configuration: { header: X-Api-Key } }\n";
    let yaml = chat_with_plans(plan, &one_subscription("", &hash));
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    assert_eq!(statuses(addr, Present::Header("X-Api-Key", &key)), LET_IN);
    // The reference product's header keeps working too.
    assert_eq!(
        statuses(addr, Present::Header("X-Gravitee-Api-Key", &key)),
        LET_IN
    );
    assert_eq!(
        statuses(addr, Present::Header("X-Other-Key", &key)),
        UNAUTHORIZED
    );
}
on_both_drivers!(a_plan_names_its_own_header, a_plan_names_its_own_header);

/// What the key lets in is the subscription's: a POST with a key reaches a GET with it.
fn a_key_publishes_and_reads(driver: DriverChoice) {
    let (key, hash) = new_key();
    let yaml = chat_with_plans(API_KEY_PLAN, &one_subscription("", &hash));
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let header = Present::Header("X-Gravitee-Api-Key", &key);
    let posted = common::plans::post_with(addr, header, "hello with a key");
    assert_eq!(posted.status, 202, "{}", posted.text());
    let read = common::get(
        addr,
        "/chat?cursor=0",
        &[("X-Gravitee-Api-Key", key.as_str())],
    );
    assert_eq!(read.status, 200, "{}", read.text());
    assert!(read.text().contains("hello with a key"), "{}", read.text());
}
on_both_drivers!(a_key_publishes_and_reads, a_key_publishes_and_reads);
