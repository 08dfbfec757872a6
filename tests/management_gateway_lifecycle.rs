//! The seed's API lifecycle end to end: every change through the management REST API of a
//! managed node (SQLite store, follower, two shards), every effect checked on the node's gateway
//! over real sockets. Save (404 on the gateway) → deploy (served) → stop (SSE `goaway`,
//! WebSocket 1013, then 404) → start → subscribe with an API key → update, deploy, roll back →
//! deprecate (no new subscription, the key still works) → delete refused while started → stop,
//! close the plans → delete (404 everywhere). Calls without a valid token get 401 and change
//! nothing.

mod common;

use std::time::Duration;

use common::served_node::{self, ServedNode, FOLLOW, TOKEN_NAME};
use common::ws_client::{close_frame, next_data, ws_open, Data};
use common::{eventually, open_sse, read_sse_until};
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;

const KEY_HEADER: &str = "X-Gravitee-Api-Key";

/// The API as the console would save it: a keyless plan and an api-key plan whose subscriptions
/// an administrator accepts, on `path`.
fn orders(path: &str) -> Value {
    json!({
        "id": "orders",
        "name": "Orders",
        "contextPaths": [path],
        "entrypoints": [
            // A short poll: a GET with no message answers at once.
            {"type": "http-get", "configuration": {"messagesLimitCount": 10, "messagesLimitDurationMs": 100}},
            {"type": "http-post"},
            {"type": "sse"},
            {"type": "websocket", "configuration": {"publisher": {"enabled": false}}},
        ],
        "endpoint": {"type": "in-memory", "configuration": {"topic": "orders"}},
        "plans": [
            {"id": "free", "name": "Free", "security": "keyless"},
            {"id": "gold", "name": "Gold", "security": "api-key", "validation": "manual"},
        ],
    })
}

/// The status of a GET of `path` on the gateway, with `headers`.
fn gateway_get(node: &ServedNode, path: &str, headers: &[(&str, &str)]) -> u16 {
    common::get(node.gateway, path, headers).status
}

/// Waits until a GET of `path` answers `status` (the follower polls the store).
fn until_gateway(node: &ServedNode, path: &str, headers: &[(&str, &str)], status: u16) {
    let mut last = 0;
    let reached = eventually(FOLLOW, || {
        last = gateway_get(node, path, headers);
        last == status
    });
    assert!(reached, "GET {path} still answers {last}, not {status}");
}

/// Asserts `response` has `status`, showing its body otherwise.
fn expect(response: &common::Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.text());
}

/// Asserts a JSON error with `status` and `code`.
fn expect_error(response: &common::Response, status: u16, code: &str) {
    expect(response, status);
    assert_eq!(
        response.json()["technicalCode"],
        code,
        "{}",
        response.text()
    );
}

/// Calls without a token, with an unknown one, or with the right token in the wrong scheme:
/// each 401 with how to authenticate, and neither the store nor the gateway changes.
fn refused_without_a_valid_token(
    node: &ServedNode,
    method: &str,
    path: &str,
    body: Option<&Value>,
) {
    let before = node.generation();
    let wrong = [
        vec![],
        vec![("Authorization", "Bearer not-the-token".to_owned())],
        vec![("Authorization", format!("Basic {}", served_node::TOKEN))],
        vec![("Authorization", "Bearer ".to_owned())],
    ];
    for headers in wrong {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = node.call_with(method, path, body, &headers);
        expect_error(&response, 401, "auth.required");
        assert!(
            response.header("www-authenticate").is_some(),
            "{method} {path} with {headers:?}"
        );
    }
    assert_eq!(
        node.generation(),
        before,
        "{method} {path}: a refused call wrote"
    );
}

/// Subscribes application `app` to `plan`: the raw answer.
fn subscribe(node: &ServedNode, app: &str, plan: &str) -> common::Response {
    node.call(
        "POST",
        "/apis/orders/subscriptions",
        Some(&json!({"application": app, "plan": plan})),
    )
}

#[test]
fn the_seed_lifecycle_through_the_management_api_on_a_live_gateway() {
    let node = served_node::start();

    // Nothing is written by calls that do not authenticate, not even the first create.
    refused_without_a_valid_token(
        &node,
        "POST",
        "/apis",
        Some(&json!({"definition": orders("/orders")})),
    );
    expect_error(
        &node.call("GET", "/apis/orders", None),
        404,
        "api.not_found",
    );

    // Save: stored, not on the gateway.
    let created = node.call(
        "POST",
        "/apis",
        Some(&json!({"definition": orders("/orders")})),
    );
    expect(&created, 201);
    assert_eq!(created.json()["deploymentState"], "not_deployed");
    node.caught_up();
    assert_eq!(gateway_get(&node, "/orders", &[]), 404, "saved only");

    // Deploy: served on the gateway.
    let deployed = node.call(
        "POST",
        "/apis/orders/deployments",
        Some(&json!({"comment": "v1"})),
    );
    expect(&deployed, 202);
    assert_eq!(deployed.json()["revision"], 1);
    until_gateway(&node, "/orders", &[], 200);

    // Live streams on it, delivering.
    let (head, mut sse) = open_sse(node.gateway, "/orders", &[]);
    assert_eq!(head.status, 200);
    sse.get_ref()
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut socket = ws_open(node.gateway, "/orders");
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(
        common::post(node.gateway, "/orders", "first", "").status,
        202
    );
    assert!(read_sse_until(&mut sse, |text| text.contains("first")).contains("first"));
    assert_eq!(next_data(&mut socket), Data::Text("first".to_owned()));

    // A stop without a valid token stops nothing: the streams keep delivering.
    refused_without_a_valid_token(&node, "POST", "/apis/orders/_stop", None);
    assert_eq!(
        common::post(node.gateway, "/orders", "second", "").status,
        202
    );
    let text = read_sse_until(&mut sse, |text| text.contains("second"));
    assert!(
        text.contains("second") && !text.contains("goaway"),
        "{text}"
    );
    assert_eq!(next_data(&mut socket), Data::Text("second".to_owned()));

    // Stop: the streams are told to go away, then the path is gone.
    expect(&node.call("POST", "/apis/orders/_stop", None), 204);
    let text = read_sse_until(&mut sse, |text| text.contains("event: goaway"));
    assert!(text.contains("event: goaway"), "{text}");
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Again, "WebSocket close 1013: {reason}");
    until_gateway(&node, "/orders", &[], 404);
    assert_eq!(
        common::post(node.gateway, "/orders", "late", "").status,
        404
    );

    // Start: served again.
    expect(&node.call("POST", "/apis/orders/_start", None), 204);
    until_gateway(&node, "/orders", &[], 200);

    // An application subscribes to the api-key plan; an administrator accepts it.
    expect(
        &node.call(
            "POST",
            "/applications",
            Some(&json!({"id": "shop", "name": "Shop"})),
        ),
        201,
    );
    let pending = subscribe(&node, "shop", "gold");
    expect(&pending, 201);
    let pending = pending.json();
    assert_eq!(pending["status"], "pending");
    assert!(
        pending.get("apiKey").is_none(),
        "no key before acceptance: {pending}"
    );
    let sub = pending["id"].as_str().unwrap().to_owned();
    let accepted = node.call(
        "POST",
        &format!("/apis/orders/subscriptions/{sub}/_accept"),
        None,
    );
    expect(&accepted, 200);
    let accepted = accepted.json();
    assert_eq!(accepted["status"], "accepted");
    let key = accepted["apiKey"]["key"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();
    let with_key = [(KEY_HEADER, key.as_str())];
    until_gateway(&node, "/orders", &with_key, 200);
    // A wrong key is refused, not let in through the keyless plan.
    let wrong = [(KEY_HEADER, "not-a-key-of-this-gateway-at-all-0123456789")];
    assert_eq!(gateway_get(&node, "/orders", &wrong), 401);

    // Update: saved, not deployed; the gateway keeps running revision 1.
    let updated = node.call(
        "PUT",
        "/apis/orders",
        Some(&json!({"definition": orders("/orders-v2")})),
    );
    expect(&updated, 200);
    node.caught_up();
    assert_eq!(
        gateway_get(&node, "/orders-v2", &[]),
        404,
        "saved, not deployed"
    );
    assert_eq!(gateway_get(&node, "/orders", &[]), 200);
    // Deploy it: the new path replaces the old one.
    let deployed = node.call("POST", "/apis/orders/deployments", None);
    expect(&deployed, 202);
    assert_eq!(deployed.json()["revision"], 2);
    until_gateway(&node, "/orders-v2", &with_key, 200);
    until_gateway(&node, "/orders", &[], 404);
    // Roll back to revision 1: the old path again, the key still good.
    let rolled = node.call("POST", "/apis/orders/deployments/1/_rollback", None);
    expect(&rolled, 202);
    assert_eq!(rolled.json()["revision"], 3, "a rollback is a new revision");
    until_gateway(&node, "/orders", &with_key, 200);
    until_gateway(&node, "/orders-v2", &[], 404);
    let view = node.call("GET", "/apis/orders", None);
    expect(&view, 200);
    assert_eq!(
        view.json()["definition"]["contextPaths"],
        json!(["/orders"])
    );

    // Deprecate: no new subscription; the existing key keeps working once the node runs it.
    expect(&node.call("POST", "/apis/orders/_deprecate", None), 204);
    expect(
        &node.call(
            "POST",
            "/applications",
            Some(&json!({"id": "late", "name": "Late"})),
        ),
        201,
    );
    expect_error(&subscribe(&node, "late", "gold"), 409, "api.deprecated");
    expect_error(&subscribe(&node, "shop", "gold"), 409, "api.deprecated");
    node.caught_up();
    assert_eq!(gateway_get(&node, "/orders", &with_key), 200);
    assert_eq!(gateway_get(&node, "/orders", &[]), 200);

    // Delete is refused while started, and changes nothing.
    let before = node.generation();
    expect_error(
        &node.call("DELETE", "/apis/orders", None),
        409,
        "api.started",
    );
    assert_eq!(node.generation(), before);
    assert_eq!(gateway_get(&node, "/orders", &with_key), 200);

    // Stop, close the plans, delete.
    expect(&node.call("POST", "/apis/orders/_stop", None), 204);
    until_gateway(&node, "/orders", &with_key, 404);
    expect_error(
        &node.call("DELETE", "/apis/orders", None),
        409,
        "api.plans_open",
    );
    for plan in ["free", "gold"] {
        expect(
            &node.call("POST", &format!("/apis/orders/plans/{plan}/_close"), None),
            204,
        );
    }
    refused_without_a_valid_token(&node, "DELETE", "/apis/orders", None);
    expect(&node.call("DELETE", "/apis/orders", None), 204);
    expect_error(
        &node.call("GET", "/apis/orders", None),
        404,
        "api.not_found",
    );
    node.caught_up();
    assert_eq!(gateway_get(&node, "/orders", &[]), 404);
    assert_eq!(gateway_get(&node, "/orders", &with_key), 404);
    assert_eq!(gateway_get(&node, "/orders-v2", &[]), 404);

    // Every change was applied (none refused by the node), and audited under the token's name.
    assert_eq!(node.apply_failures(), 0);
    let audit = node.call("GET", "/audit?target=api:orders&limit=50", None);
    expect(&audit, 200);
    let events = audit.json()["data"].as_array().unwrap().clone();
    let actions: Vec<&str> = events
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api.create",
            "api.deploy",
            "api.stop",
            "api.start",
            "api.update",
            "api.deploy",
            "api.rollback",
            "api.deprecate",
            "api.stop",
            "plan.close",
            "plan.close",
            "api.delete",
        ]
    );
    assert!(
        events.iter().all(|e| e["actor"] == TOKEN_NAME),
        "{events:?}"
    );
    node.stop();
}
