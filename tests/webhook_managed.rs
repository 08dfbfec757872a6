//! Push subscriptions through the management API of a managed node (SQLite store, follower, two
//! shards), every effect checked on a scripted callback receiver: a subscription created with
//! Gravitee v2's `consumerConfiguration` delivers once its API is deployed, carrying its headers
//! and auth; an invalid configuration is refused with the file validator's own problems located
//! in the request, and nothing is written; `_pause` stops deliveries, `_resume` delivers what was
//! published meanwhile (once), `_close` ends them; answers mask the secrets.

mod common;

use std::sync::Arc;

use common::eventually;
use common::served_node::{self, ServedNode, FOLLOW};
use common::webhook_api::publish;
use common::webhook_managed::{bodies, expect, orders, ALLOW_LOOPBACK, SECRET, TOKEN};
use common::webhook_receiver::Receiver;
use serde_json::{json, Value};
use tidegate::config;
use tidegate::webhook::metrics::{State, SubscriptionCounters};

/// The request body subscribing `app` to the push plan with `configuration`.
fn push_request(app: &str, configuration: Value) -> Value {
    json!({
        "application": app,
        "plan": "push",
        "consumerConfiguration": {
            "entrypointId": "webhook",
            "entrypointConfiguration": configuration,
        },
    })
}

/// Creates an accepted push subscription of `app` delivering to `callback`: its id.
fn subscribe(node: &ServedNode, app: &str, configuration: Value) -> String {
    let created = node.call(
        "POST",
        "/apis/orders/subscriptions",
        Some(&push_request(app, configuration)),
    );
    let created = expect(&created, 201);
    assert_eq!(created["status"], "accepted", "{created}");
    assert_eq!(created["type"], "push", "{created}");
    assert!(created.get("apiKey").is_none(), "no API key: {created}");
    created["id"].as_str().unwrap().to_owned()
}

/// The gateway's counters of `subscription` once its runner exists.
fn counters(node: &ServedNode, subscription: &str) -> Arc<SubscriptionCounters> {
    let mut found = None;
    let seen = eventually(FOLLOW, || {
        let gateway = node.node.gateway.lock().unwrap();
        found = gateway
            .webhook_metrics()
            .and_then(|metrics| metrics.subscription(subscription));
        found.is_some()
    });
    assert!(seen, "the gateway never ran subscription {subscription}");
    found.unwrap()
}

/// Waits until `counters` shows `state`.
fn until_state(counters: &SubscriptionCounters, state: State, what: &str) {
    let wanted = state as u64;
    assert!(
        eventually(FOLLOW, || counters.state() == wanted),
        "{what}: state {} is not {wanted}",
        counters.state()
    );
}

/// The problems `tidegate check` reports for a file subscribing with `configuration`: the
/// management API must answer the same messages.
fn file_problems(configuration: &Value) -> Vec<(String, String)> {
    let file = json!({
        "gateway": {"webhook": {"allowedNetworks": ["127.0.0.0/8"]}},
        "apis": [orders(None)],
        "applications": [{"id": "billing", "name": "Billing"}],
        "subscriptions": [{
            "id": "s", "api": "orders", "plan": "push", "application": "billing",
            "type": "push", "configuration": configuration,
        }],
    });
    let err = config::load_str(&file.to_string(), "file").expect_err("the file is invalid");
    err.problems
        .iter()
        .map(|problem| {
            let location = problem
                .location
                .replace("subscriptions[0].configuration", "");
            (location, problem.message.clone())
        })
        .collect()
}

#[test]
fn push_subscriptions_are_created_paused_resumed_and_closed_through_the_management_api() {
    let (hook, witness) = (Receiver::answering(200), Receiver::answering(200));
    let node = served_node::start_with(ALLOW_LOOPBACK);
    expect(
        &node.call("POST", "/apis", Some(&json!({"definition": orders(None)}))),
        201,
    );
    for app in ["billing", "audit"] {
        let body = json!({"id": app, "name": app});
        expect(&node.call("POST", "/applications", Some(&body)), 201);
    }

    // Invalid: the validator's problems, located in the request; nothing written.
    let invalid = json!({
        "callbackUrl": "ftp://example.com/in",
        "retry": {"attempts": 0},
        "ordering": {"mode": "sideways"},
    });
    let before = node.generation();
    let refused = node.call(
        "POST",
        "/apis/orders/subscriptions",
        Some(&push_request("billing", invalid.clone())),
    );
    let refused = expect(&refused, 400);
    assert_eq!(refused["technicalCode"], "definition.invalid", "{refused}");
    let answered: Vec<(String, String)> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            let location = error["location"].as_str().unwrap();
            let rest = location
                .strip_prefix("consumerConfiguration.entrypointConfiguration")
                .unwrap_or_else(|| panic!("{location} is not in the request's terms"));
            (
                rest.to_owned(),
                error["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(answered.len() >= 2, "{refused}");
    assert_eq!(answered, file_problems(&invalid), "same list as the file");
    let wrong_entrypoint = node.call(
        "POST",
        "/apis/orders/subscriptions",
        Some(&json!({"application": "billing", "plan": "push",
            "consumerConfiguration": {"entrypointId": "sse", "entrypointConfiguration": {}}})),
    );
    let wrong_entrypoint = expect(&wrong_entrypoint, 400);
    assert_eq!(
        wrong_entrypoint["errors"][0]["location"], "consumerConfiguration.entrypointId",
        "{wrong_entrypoint}"
    );
    assert_eq!(node.generation(), before, "a refused subscription wrote");

    // Created (the API saved only), then deployed: deliveries arrive with the configured headers
    // and auth.
    let sub = subscribe(
        &node,
        "billing",
        json!({
            "callbackUrl": hook.url("/in"),
            "headers": {"X-Team": "billing"},
            "auth": {"type": "bearer", "token": TOKEN},
            "ordering": {"mode": "strict"},
            "secrets": [SECRET],
        }),
    );
    let watch = subscribe(
        &node,
        "audit",
        json!({"callbackUrl": witness.url("/in"), "ordering": {"mode": "strict"}}),
    );
    let view = node.call("GET", &format!("/apis/orders/subscriptions/{sub}"), None);
    let text = view.text();
    let view = expect(&view, 200);
    let shown = &view["consumerConfiguration"];
    assert_eq!(shown["entrypointId"], "webhook", "{view}");
    assert_eq!(
        shown["entrypointConfiguration"]["callbackUrl"],
        hook.url("/in")
    );
    assert!(
        !text.contains(SECRET) && !text.contains(TOKEN),
        "secrets are masked: {text}"
    );
    expect(&node.call("POST", "/apis/orders/deployments", None), 202);
    let (hooked, watched) = (counters(&node, &sub), counters(&node, &watch));
    until_state(&hooked, State::Active, "deployed");
    until_state(&watched, State::Active, "deployed");
    publish(node.gateway, "one");
    assert!(eventually(FOLLOW, || hook.count() == 1 && witness.count() == 1));
    let first = hook.received().pop().unwrap();
    assert_eq!(first.header("x-team"), Some("billing"));
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(first.header("authorization"), Some(bearer.as_str()));
    assert!(first.header("webhook-signature").is_some(), "signed");

    // Paused: nothing more is delivered (the witness shows the message was there to take).
    let paused = node.call(
        "POST",
        &format!("/apis/orders/subscriptions/{sub}/_pause"),
        None,
    );
    assert_eq!(expect(&paused, 200)["status"], "paused");
    until_state(&hooked, State::Paused, "paused");
    publish(node.gateway, "two");
    assert!(eventually(FOLLOW, || witness.count() == 2));
    assert_eq!(bodies(&hook), ["one"], "paused");

    // Resumed: what was published meanwhile arrives, once, then the rest.
    let resumed = node.call(
        "POST",
        &format!("/apis/orders/subscriptions/{sub}/_resume"),
        None,
    );
    assert_eq!(expect(&resumed, 200)["status"], "accepted");
    assert!(eventually(FOLLOW, || hook.count() >= 2));
    publish(node.gateway, "three");
    assert!(eventually(FOLLOW, || witness.count() == 3));
    assert!(eventually(FOLLOW, || hook.count() >= 3));
    assert_eq!(
        bodies(&hook),
        ["one", "two", "three"],
        "nothing lost or repeated"
    );

    // Closed: deliveries end for good.
    let closed = node.call(
        "POST",
        &format!("/apis/orders/subscriptions/{sub}/_close"),
        None,
    );
    assert_eq!(expect(&closed, 200)["status"], "closed");
    node.caught_up();
    assert!(
        eventually(FOLLOW, || {
            let gateway = node.node.gateway.lock().unwrap();
            gateway
                .webhook_metrics()
                .and_then(|metrics| metrics.subscription(&sub))
                .is_none_or(|counters| counters.state() == State::Closed as u64)
        }),
        "closed"
    );
    publish(node.gateway, "four");
    assert!(eventually(FOLLOW, || witness.count() == 4));
    assert_eq!(bodies(&hook), ["one", "two", "three"], "closed");
    assert_eq!(bodies(&witness), ["one", "two", "three", "four"]);
    node.stop();
}
