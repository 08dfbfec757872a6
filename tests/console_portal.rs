//! The developer portal's routes on the console's origin (src/manage/api/portal.rs), without a
//! token: only published public APIs are listed; a subscription request creates an application
//! of its own and returns the API key of an auto-validated API key plan, once, which then opens
//! the API on the gateway; a keyless or unknown plan, a private API and an empty name are refused.

mod common;

use common::console_stack::{ConsoleStack, TOKEN};
use common::{get, raw, Response};
use serde_json::{json, Value};

const BASE: &str = "/management/v2/environments/DEFAULT";

/// `method path` on the console's origin, with the admin token when `admin`.
fn call(
    stack: &ConsoleStack,
    method: &str,
    path: &str,
    body: Option<&Value>,
    admin: bool,
) -> Response {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: console\r\nConnection: close\r\n");
    if admin {
        request.push_str(&format!("Authorization: Bearer {TOKEN}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    raw(stack.console.local_addr(), request.as_bytes())
}

fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    }
}

/// An API with a keyless and an auto-validated API key plan, deployed.
fn orders_api(stack: &ConsoleStack, id: &str, path: &str) {
    let definition = json!({
        "id": id, "name": format!("API {id}"), "contextPaths": [path],
        "entrypoints": [{"type": "http-get", "configuration": {"messagesLimitDurationMs": 100}}],
        "endpoint": {"type": "mock", "configuration": {"messageInterval": 10}},
        "plans": [{"id": "gold", "name": "Gold", "security": "api-key"}],
    });
    expect(
        &call(
            stack,
            "POST",
            &format!("{BASE}/apis"),
            Some(&json!({"definition": definition})),
            true,
        ),
        201,
    );
    expect(
        &call(
            stack,
            "POST",
            &format!("{BASE}/apis/{id}/deployments"),
            Some(&json!({})),
            true,
        ),
        202,
    );
}

#[test]
fn the_portal_lists_published_public_apis_and_hands_out_api_keys() {
    let stack = ConsoleStack::start();
    orders_api(&stack, "orders", "/orders");
    orders_api(&stack, "hidden", "/hidden");
    for action in ["_publish", "_make-public"] {
        expect(
            &call(
                &stack,
                "POST",
                &format!("{BASE}/apis/orders/{action}"),
                None,
                true,
            ),
            204,
        );
    }
    expect(
        &call(
            &stack,
            "POST",
            &format!("{BASE}/apis/hidden/_publish"),
            None,
            true,
        ),
        204,
    );

    // Without a token: the published public API only.
    let listed = expect(
        &get(stack.console.local_addr(), "/portal/v1/apis", &[]),
        200,
    );
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|api| api["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["orders"], "{listed}");
    expect(
        &get(stack.console.local_addr(), "/portal/v1/apis/hidden", &[]),
        404,
    );
    let one = expect(
        &get(stack.console.local_addr(), "/portal/v1/apis/orders", &[]),
        200,
    );
    assert_eq!(one["plans"][0]["id"], "gold", "{one}");

    // Refusals name the field.
    let refused = expect(
        &call(
            &stack,
            "POST",
            "/portal/v1/apis/orders/subscriptions",
            Some(&json!({"application": "", "plan": "platinum"})),
            false,
        ),
        400,
    );
    let locations: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["application", "plan"], "{refused}");
    expect(
        &call(
            &stack,
            "POST",
            "/portal/v1/apis/hidden/subscriptions",
            Some(&json!({"application": "shop", "plan": "gold"})),
            false,
        ),
        404,
    );

    // A subscription: its own application, accepted, the key shown once.
    let answer = expect(
        &call(
            &stack,
            "POST",
            "/portal/v1/apis/orders/subscriptions",
            Some(&json!({"application": "Shop front end", "plan": "gold"})),
            false,
        ),
        201,
    );
    assert_eq!(answer["status"], "accepted", "{answer}");
    let key = answer["key"].as_str().expect("the API key").to_owned();
    assert!(
        answer["application"]
            .as_str()
            .unwrap()
            .starts_with("portal-"),
        "{answer}"
    );

    // The key opens the API on the gateway (once the store is followed); no key: 401.
    stack.eventually_status("/orders", 401);
    let with_key = format!("/orders?api-key={key}");
    stack.eventually_status(&with_key, 200);
}
