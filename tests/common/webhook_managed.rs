//! Push subscriptions through the management API on a served node: the in-memory `/orders` API
//! they subscribe to, the secrets they carry, and how the tests read answers and deliveries.

use serde_json::{json, Value};

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
