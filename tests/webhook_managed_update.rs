//! Updating a push subscription through the management API (Gravitee v2's UpdateSubscription,
//! `PUT …/apis/{apiId}/subscriptions/{subscriptionId}`) on a managed node: a client GETs the
//! subscription (secrets masked), changes the callback URL and a header, and PUTs it back with
//! `If-Match`. Later messages go to the new receiver with the new header, the bearer token sent
//! again (a masked one is refused for a new host) and the stored signing secret (sent back
//! masked); none is lost or delivered twice across the switch, and none reaches the old receiver once it happened. An invalid update is refused with the
//! validator's problems (nothing written), a stale `If-Match` with 412, and the update is
//! audited.

mod common;

use common::served_node::{self, ServedNode, FOLLOW};
use common::webhook_api::publish;
use common::webhook_managed::{
    bodies, expect, subscribe_billing_at_least_once, ALLOW_LOOPBACK, SECRET, TOKEN,
};
use common::webhook_receiver::Receiver;
use common::{eventually, Response};
use serde_json::{json, Value};

fn put(node: &ServedNode, path: &str, body: &Value, if_match: &str) -> Response {
    let bearer = format!("Bearer {}", served_node::TOKEN);
    node.call_with(
        "PUT",
        path,
        Some(body),
        &[("Authorization", &bearer), ("If-Match", if_match)],
    )
}

#[test]
fn a_push_subscription_updated_through_the_management_api_moves_to_its_new_callback() {
    let (old, new) = (Receiver::answering(200), Receiver::answering(200));
    let node = served_node::start_with(ALLOW_LOOPBACK);
    let sub = subscribe_billing_at_least_once(
        &node,
        json!({
            "callbackUrl": old.url("/in"),
            "headers": {"X-Team": "old"},
            "auth": {"type": "bearer", "token": TOKEN},
            "secrets": [SECRET],
        }),
    );
    let path = format!("/apis/orders/subscriptions/{sub}");
    expect(&node.call("POST", "/apis/orders/deployments", None), 202);
    node.caught_up();
    publish(node.gateway, "one");
    assert!(
        eventually(FOLLOW, || old.count() == 1),
        "{:?}",
        bodies(&old)
    );

    // GET: masked secrets and the ETag to update against.
    let got = node.call("GET", &path, None);
    let etag = got.header("etag").expect("an ETag").to_owned();
    let view = expect(&got, 200);
    assert!(!got.text().contains(TOKEN) && !got.text().contains(SECRET));
    let mut consumer = view["consumerConfiguration"].clone();
    let stale_body = json!({"consumerConfiguration": consumer.clone()});

    // Invalid: the validator's problem located in the request; nothing written.
    let before = node.generation();
    let mut invalid = consumer.clone();
    invalid["entrypointConfiguration"]["callbackUrl"] = json!("ftp://example.com/in");
    // (the token sent too: a masked one is refused first for a new host, see below)
    invalid["entrypointConfiguration"]["auth"]["token"] = json!(TOKEN);
    let refused = put(
        &node,
        &path,
        &json!({"consumerConfiguration": invalid}),
        &etag,
    );
    let refused = expect(&refused, 400);
    assert_eq!(
        refused["errors"][0]["location"],
        "consumerConfiguration.entrypointConfiguration.callbackUrl",
        "{refused}"
    );
    let unknown = put(&node, &path, &json!({"metadata": {"a": "b"}}), &etag);
    assert_eq!(expect(&unknown, 400)["errors"][0]["location"], "metadata");
    assert_eq!(node.generation(), before, "a refused update wrote");

    // The update: new callback URL and header. The stored bearer token is not sent to a new
    // host behind a mask (400, nothing written): it is sent again; the signing secret stays
    // masked (it is never sent, only used to sign).
    consumer["entrypointConfiguration"]["callbackUrl"] = json!(new.url("/in"));
    consumer["entrypointConfiguration"]["headers"] = json!({"X-Team": "new"});
    let masked_token = put(
        &node,
        &path,
        &json!({"consumerConfiguration": consumer.clone()}),
        &etag,
    );
    assert_eq!(
        expect(&masked_token, 400)["errors"][0]["location"],
        "consumerConfiguration.entrypointConfiguration.auth.token"
    );
    assert_eq!(node.generation(), before, "a refused update wrote");
    consumer["entrypointConfiguration"]["auth"]["token"] = json!(TOKEN);
    publish(node.gateway, "two");
    let updated = put(
        &node,
        &path,
        &json!({"consumerConfiguration": consumer}),
        &etag,
    );
    let new_etag = updated.header("etag").expect("an ETag").to_owned();
    let text = updated.text();
    let updated = expect(&updated, 200);
    assert_ne!(new_etag, etag);
    assert_eq!(
        updated["consumerConfiguration"]["entrypointConfiguration"]["callbackUrl"],
        new.url("/in")
    );
    assert!(!text.contains(TOKEN) && !text.contains(SECRET), "{text}");

    // A stale If-Match: 412, nothing written.
    let generation = node.generation();
    let stale = put(&node, &path, &stale_body, &etag);
    assert_eq!(stale.status, 412, "{}", stale.text());
    assert_eq!(node.generation(), generation);

    // The node follows: later messages go to the new callback only.
    node.caught_up();
    for body in ["three", "four", "five"] {
        publish(node.gateway, body);
    }
    assert!(
        eventually(FOLLOW, || new
            .received()
            .iter()
            .any(|r| r.body_text() == "five")),
        "old {:?}, new {:?}",
        bodies(&old),
        bodies(&new)
    );
    let (to_old, to_new) = (bodies(&old), bodies(&new));
    let mut all = to_old.clone();
    all.extend(to_new.iter().cloned());
    assert_eq!(
        all,
        ["one", "two", "three", "four", "five"],
        "each message once, the old callback before the new one: old {to_old:?}, new {to_new:?}"
    );
    assert!(to_new.len() >= 3, "published after the update: {to_new:?}");
    let bearer = format!("Bearer {TOKEN}");
    for request in new.received() {
        assert_eq!(request.header("x-team"), Some("new"));
        assert_eq!(
            request.header("authorization"),
            Some(bearer.as_str()),
            "the token sent again is used"
        );
        let signature = request.header("webhook-signature").unwrap_or_default();
        assert!(signature.starts_with("v1,"), "still signed: {signature}");
        assert_eq!(signature.split(' ').count(), 1, "one secret: {signature}");
    }

    // Audited.
    let audit = node.call("GET", &format!("/audit?target=subscription:{sub}"), None);
    let audit = expect(&audit, 200);
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["action"].as_str())
        .collect();
    assert!(actions.contains(&"subscription.update"), "{audit}");
    node.stop();
}
