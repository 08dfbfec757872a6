//! An API with push subscriptions for the webhook tests: `/orders` over the in-memory topic
//! `orders` (POST publishes), a dead-letter API `/dead` over the topic `dead`, loopback
//! allow-listed, and helpers to wait for a subscription and read its counters.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;
use tidegate::webhook::metrics::SubscriptionCounters;

use super::{eventually, post, test_config};

/// `gateway.webhook` allowing loopback callbacks.
pub const ALLOW_LOOPBACK: &str = "gateway:\n  webhook:\n    allowedNetworks: [127.0.0.0/8]\n";

/// The configuration: `gateway` (a `gateway:` section or empty), the webhook entrypoint's
/// `entrypoint` lines (indented ten spaces under `configuration:`, may be empty), and the
/// `subscriptions` items (indented two spaces).
pub fn yaml(gateway: &str, entrypoint: &str, subscriptions: &str) -> String {
    format!(
        r#"{gateway}
apis:
  - id: orders
    name: Orders
    contextPaths: [/orders]
    entrypoints:
      - type: http-post
      - type: webhook
        configuration:
          readTimeout: 10000
{entrypoint}
    endpoint:
      type: in-memory
      configuration:
        topic: orders
    plans:
      - {{ id: push, name: Push, security: keyless }}
  - id: dead
    name: Dead letters
    contextPaths: [/dead]
    entrypoints:
      - type: http-get
        configuration:
          messagesLimitDurationMs: 200
          headersInPayload: true
    endpoint:
      type: in-memory
      configuration:
        topic: dead
    plans:
      - {{ id: open, name: Open, security: keyless }}
applications:
  - id: app
    name: App
subscriptions:
{subscriptions}"#
    )
}

/// A push subscription item `id` to `callback`, with more `configuration` lines (indented six
/// spaces) and subscription keys (indented four spaces, e.g. `    status: paused\n`).
pub fn push(id: &str, callback: &str, configuration: &str, keys: &str) -> String {
    format!(
        "  - id: {id}\n    api: orders\n    plan: push\n    application: app\n    type: push\n{keys}    configuration:\n      callbackUrl: {callback}\n{configuration}"
    )
}

/// A retry policy with small delays (ms), no jitter unless given.
pub fn fast_retry(attempts: u32, initial_ms: u64, multiplier: f64) -> String {
    format!(
        "      retry: {{ attempts: {attempts}, initialDelayMs: {initial_ms}, maxDelayMs: 60000, multiplier: {multiplier}, jitter: 0, maxElapsedMs: 600000 }}\n"
    )
}

/// Starts the gateway of `yaml` on `driver` (two shards).
pub fn start(yaml: &str, driver: DriverChoice) -> Gateway {
    super::start(test_config(yaml, driver))
}

/// A gateway with one push subscription `hook` (loopback allowed) to `receiver`'s `/in`, with
/// the subscription `configuration` lines, once the subscription is active.
pub fn start_hook(
    receiver: &super::webhook_receiver::Receiver,
    configuration: &str,
    driver: DriverChoice,
) -> Gateway {
    let config = yaml(
        ALLOW_LOOPBACK,
        "",
        &push("hook", &receiver.url("/in"), configuration, ""),
    );
    let gateway = start(&config, driver);
    wait_active(&gateway, "hook");
    gateway
}

/// The counters of `subscription`.
pub fn counters(gateway: &Gateway, subscription: &str) -> std::sync::Arc<SubscriptionCounters> {
    gateway
        .webhook_metrics()
        .expect("webhook metrics")
        .subscription(subscription)
        .unwrap_or_else(|| panic!("no counters for {subscription}"))
        .clone()
}

/// Waits until `subscription` consumes its topic (state 1: active).
pub fn wait_active(gateway: &Gateway, subscription: &str) {
    let counters = counters(gateway, subscription);
    assert!(
        eventually(Duration::from_secs(10), || counters.state() == 1),
        "subscription {subscription} never became active (state {})",
        counters.state()
    );
}

/// Reads a counter.
pub fn read(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Publishes `body` to `/orders`.
pub fn publish(addr: SocketAddr, body: &str) {
    let response = post(addr, "/orders", body, "Content-Type: text/plain\r\n");
    assert_eq!(response.status, 202, "{}", response.text());
}

/// The dead letters so far (items of `GET /dead?cursor=0`).
pub fn dead_letters(addr: SocketAddr) -> Vec<serde_json::Value> {
    let response = super::get(addr, "/dead?cursor=0", &[("Accept", "application/json")]);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
