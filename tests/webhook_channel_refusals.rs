//! A push subscription's `channel` must lie within its API's topics, so a consumer can never
//! read a topic the API does not expose: outside them it is refused by `tidegate check` (and so
//! by a reload) with the allowed topics, and by the management API with a 400 located at
//! `consumerConfiguration.channel`; Mock endpoints have no channels. A valid channel is stored
//! and shown back as `consumerConfiguration.channel`.

mod common;

use std::process::Command;

use common::served_node;
use serde_json::{json, Value};

const KAFKA: &str = "{ type: kafka, configuration: { bootstrapServers: \"127.0.0.1:9\", consumer: { enabled: true, topics: [orders-a, orders-b] } } }";
const MQTT: &str = "{ type: mqtt5, configuration: { serverHost: 127.0.0.1, serverPort: 9, consumer: { topic: \"orders/+/new\" } } }";
const MEMORY: &str = "{ type: in-memory, configuration: { topic: orders } }";
const MOCK: &str = "{ type: mock }";

fn file(endpoint: &str, channel: &str) -> String {
    format!(
        "gateway:\n  webhook:\n    allowedNetworks: [127.0.0.0/8]\napis:\n  - id: orders\n    name: Orders\n    contextPaths: [/orders]\n    entrypoints:\n      - type: webhook\n    endpoint: {endpoint}\n    plans:\n      - {{ id: push, name: Push, security: keyless }}\napplications:\n  - {{ id: app, name: App }}\nsubscriptions:\n  - id: hook\n    api: orders\n    plan: push\n    application: app\n    type: push\n    configuration:\n      callbackUrl: http://127.0.0.1:1/in\n      channel: \"{channel}\"\n"
    )
}

/// `tidegate check` on the file: `Ok` or its stderr.
fn check(endpoint: &str, channel: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("channel.yaml");
    std::fs::write(&path, file(endpoint, channel)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .expect("runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn check_refuses_a_channel_outside_the_api_topics() {
    for (endpoint, channel) in [
        (KAFKA, "orders-b"),
        (MQTT, "orders/eu/new"),
        (MQTT, "orders/+/new"),
        (MEMORY, "orders"),
    ] {
        assert_eq!(check(endpoint, channel), Ok(()), "{channel}");
    }
    for (endpoint, channel, says) in [
        (KAFKA, "payments", "one of orders-a, orders-b"),
        (MQTT, "orders/#", "within 'orders/+/new'"),
        (MQTT, "orders/eu/old", "within 'orders/+/new'"),
        (MQTT, "orders/eu#", "whole levels"),
        (MEMORY, "payments", "its topic 'orders'"),
        (MOCK, "orders", "mock endpoints have no channels"),
    ] {
        let stderr = check(endpoint, channel).expect_err(channel);
        assert!(
            stderr.contains("subscriptions[0].configuration.channel") && stderr.contains(says),
            "{channel}: {stderr}"
        );
    }
}

fn expect(response: &common::Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    response.json()
}

#[test]
fn the_management_api_refuses_a_channel_outside_the_api_topics() {
    let node = served_node::start_with(", webhook: { allowedNetworks: [127.0.0.0/8] }");
    let api = |id: &str, endpoint: Value| {
        json!({"definition": {
            "id": id, "name": id, "contextPaths": [format!("/{id}")],
            "entrypoints": [{"type": "webhook"}],
            "endpoint": endpoint,
            "plans": [{"id": "push", "name": "Push", "security": "keyless"}],
        }})
    };
    let kafka = json!({"type": "kafka", "configuration": {"bootstrapServers": "127.0.0.1:9",
        "consumer": {"enabled": true, "topics": ["orders-a", "orders-b"]}}});
    expect(
        &node.call("POST", "/apis", Some(&api("orders", kafka))),
        201,
    );
    expect(
        &node.call(
            "POST",
            "/apis",
            Some(&api("ticks", json!({"type": "mock"}))),
        ),
        201,
    );
    expect(
        &node.call(
            "POST",
            "/applications",
            Some(&json!({"id": "app", "name": "App"})),
        ),
        201,
    );
    let subscribe = |api: &str, channel: &str| {
        node.call(
            "POST",
            &format!("/apis/{api}/subscriptions"),
            Some(
                &json!({"application": "app", "plan": "push", "consumerConfiguration": {
                "entrypointId": "webhook", "channel": channel,
                "entrypointConfiguration": {"callbackUrl": "http://127.0.0.1:1/in"}}}),
            ),
        )
    };
    let before = node.generation();
    for (api, channel, says) in [
        ("orders", "payments", "one of orders-a, orders-b"),
        ("ticks", "ticks", "mock endpoints have no channels"),
    ] {
        let refused = expect(&subscribe(api, channel), 400);
        let error = &refused["errors"][0];
        assert_eq!(
            error["location"], "consumerConfiguration.channel",
            "{refused}"
        );
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{refused}"
        );
    }
    assert_eq!(node.generation(), before, "a refused subscription wrote");

    let created = expect(&subscribe("orders", "orders-b"), 201);
    assert_eq!(
        created["consumerConfiguration"]["channel"], "orders-b",
        "{created}"
    );
    assert!(created["consumerConfiguration"]["entrypointConfiguration"]
        .get("channel")
        .is_none());
    // An update keeps the check: moving the channel outside is refused, nothing written.
    let id = created["id"].as_str().unwrap();
    let mut consumer = created["consumerConfiguration"].clone();
    consumer["channel"] = json!("payments");
    let path = format!("/apis/orders/subscriptions/{id}");
    let refused = node.call(
        "PUT",
        &path,
        Some(&json!({"consumerConfiguration": consumer})),
    );
    assert_eq!(
        expect(&refused, 400)["errors"][0]["location"],
        "consumerConfiguration.channel"
    );
    let shown = expect(&node.call("GET", &path, None), 200);
    assert_eq!(shown["consumerConfiguration"]["channel"], "orders-b");
    node.stop();
}
