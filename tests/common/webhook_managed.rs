//! Push subscriptions through the management API on a served node: the in-memory `/orders` API
//! they subscribe to, the secrets they carry, and how the tests read answers and deliveries.

use serde_json::{json, Value};

use super::served_node::ServedNode;
use super::webhook_receiver::Receiver;
use super::Response;

/// The gateway section's addition letting callbacks reach loopback receivers (SSRF guard).
pub const ALLOW_LOOPBACK: &str = ", webhook: { allowedNetworks: [127.0.0.0/8] }";
/// A Standard Webhooks signing secret.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A bearer token a callback is called with.
pub const TOKEN: &str = "callback-bearer-token";

/// `/orders` over the in-memory topic `orders`: POST publishes, the webhook entrypoint (with
/// `qos` when given) pushes; a keyless `push` plan.
pub fn orders(qos: Option<&str>) -> Value {
    let mut webhook = json!({"type": "webhook", "configuration": {"readTimeout": 10000}});
    if let Some(qos) = qos {
        webhook["qos"] = json!(qos);
    }
    json!({
        "id": "orders",
        "name": "Orders",
        "contextPaths": ["/orders"],
        "entrypoints": [{"type": "http-post"}, webhook],
        "endpoint": {"type": "in-memory", "configuration": {"topic": "orders"}},
        "plans": [{"id": "push", "name": "Push", "security": "keyless"}],
    })
}

/// The answer's JSON body, once its status is `status`.
pub fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    response.json()
}

/// The bodies `receiver` was sent, in arrival order.
pub fn bodies(receiver: &Receiver) -> Vec<String> {
    receiver.received().iter().map(|r| r.body_text()).collect()
}

/// Creates `/orders` at-least-once, the application `billing`, and its push subscription with
/// `entrypoint_configuration` (callback, headers, auth, secrets); the subscription's id.
pub fn subscribe_billing_at_least_once(
    node: &ServedNode,
    entrypoint_configuration: Value,
) -> String {
    let api = json!({"definition": orders(Some("at-least-once"))});
    expect(&node.call("POST", "/apis", Some(&api)), 201);
    let app = json!({"id": "billing", "name": "Billing"});
    expect(&node.call("POST", "/applications", Some(&app)), 201);
    let created = node.call(
        "POST",
        "/apis/orders/subscriptions",
        Some(&json!({
            "application": "billing",
            "plan": "push",
            "consumerConfiguration": {
                "entrypointId": "webhook",
                "entrypointConfiguration": entrypoint_configuration,
            },
        })),
    );
    expect(&created, 201)["id"].as_str().unwrap().to_owned()
}
