//! A push subscription's signing secrets, masked in the management API's views, are found again
//! on `PUT` by what their masked form names (`********:<id>`), not by their place in the list.
//! Before, the n-th masked entry kept the n-th stored secret: a client ending a rotation by
//! removing the first secret and sending the second back masked kept the first one (the secret
//! it meant to drop), and deliveries went on being signed with it. A masked entry that names no
//! stored secret, is ambiguous, or names one another entry keeps is refused (400, located,
//! nothing written).

mod common;

use base64::Engine;
use common::served_node::{self, ServedNode, FOLLOW};
use common::webhook_api::publish;
use common::webhook_managed::{expect, subscribe_billing_at_least_once, ALLOW_LOOPBACK};
use common::webhook_receiver::{Received, Receiver};
use common::{eventually, Response};
use serde_json::{json, Value};
use tidegate::config::push_model::SigningSecret;
use tidegate::webhook::signature::signature;

const LOCATION: &str = "consumerConfiguration.entrypointConfiguration.secrets";

fn secret(fill: u8) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([fill; 32])
    )
}

/// Whether `request` carries exactly the signatures of `secrets`, in that order.
fn signed_with(request: &Received, secrets: &[&str]) -> bool {
    let keys: Vec<SigningSecret> = secrets
        .iter()
        .map(|s| {
            let encoded = s.strip_prefix("whsec_").unwrap();
            SigningSecret(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
        })
        .collect();
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp = request.header("webhook-timestamp").expect("a timestamp");
    let expected = signature(&keys, id, timestamp.parse().unwrap(), &request.body);
    request.header("webhook-signature") == Some(expected.as_str())
}

/// The delivery of `body`, once it arrived.
fn delivery(receiver: &Receiver, body: &str) -> Received {
    let find = || {
        receiver
            .received()
            .into_iter()
            .find(|r| r.body_text() == body)
    };
    assert!(eventually(FOLLOW, || find().is_some()), "{body} never came");
    find().unwrap()
}

struct Subscription<'a> {
    node: &'a ServedNode,
    path: String,
}

impl Subscription<'_> {
    /// The stored view: its `consumerConfiguration` and ETag.
    fn get(&self) -> (Value, String) {
        let got = self.node.call("GET", &self.path, None);
        let etag = got.header("etag").expect("an ETag").to_owned();
        (expect(&got, 200)["consumerConfiguration"].clone(), etag)
    }

    /// PUTs the stored configuration with `secrets` instead of its own.
    fn put_secrets(&self, secrets: Value) -> Response {
        let (mut consumer, etag) = self.get();
        consumer["entrypointConfiguration"]["secrets"] = secrets;
        let bearer = format!("Bearer {}", served_node::TOKEN);
        self.node.call_with(
            "PUT",
            &self.path,
            Some(&json!({ "consumerConfiguration": consumer })),
            &[("Authorization", &bearer), ("If-Match", &etag)],
        )
    }

    /// The masked secrets a view shows.
    fn masked(&self) -> Vec<String> {
        let (consumer, _) = self.get();
        consumer["entrypointConfiguration"]["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    }

    /// A refused PUT: 400 at `secrets[index]`, nothing written.
    fn refused(&self, secrets: Value, index: usize) {
        let before = self.node.generation();
        let answer = self.put_secrets(secrets.clone());
        let body = expect(&answer, 400);
        assert_eq!(
            body["errors"][0]["location"],
            format!("{LOCATION}[{index}]"),
            "{secrets}: {body}"
        );
        assert_eq!(
            self.node.generation(),
            before,
            "{secrets}: a refused PUT wrote"
        );
    }
}

#[test]
fn masked_signing_secrets_keep_the_stored_secret_they_name_not_the_one_at_their_place() {
    let (a, b, c) = (secret(1), secret(2), secret(3));
    let receiver = Receiver::answering(200);
    let node = served_node::start_with(ALLOW_LOOPBACK);
    let id = subscribe_billing_at_least_once(
        &node,
        json!({"callbackUrl": receiver.url("/in"), "secrets": [a, b]}),
    );
    let sub = Subscription {
        node: &node,
        path: format!("/apis/orders/subscriptions/{id}"),
    };
    expect(&node.call("POST", "/apis/orders/deployments", None), 202);
    node.caught_up();
    publish(node.gateway, "one");
    assert!(signed_with(&delivery(&receiver, "one"), &[&a, &b]));

    // The rotation ends: the first secret (a) is removed, b sent back as the view shows it.
    let shown = sub.masked();
    let (masked_a, masked_b) = (shown[0].clone(), shown[1].clone());
    expect(&sub.put_secrets(json!([masked_b])), 200);
    node.caught_up();
    publish(node.gateway, "two");
    let two = delivery(&receiver, "two");
    assert!(
        signed_with(&two, &[&b]),
        "not signed with the secret kept (b) alone: {:?}",
        two.header("webhook-signature")
    );
    // Each secret has its own masked form, which reveals none of it.
    assert_ne!(
        masked_a, masked_b,
        "the masked forms tell the secrets apart"
    );
    for form in [&masked_a, &masked_b] {
        assert!(form.starts_with("********"), "{form}");
        assert!(!form.contains(&a[6..]) && !form.contains(&b[6..]), "{form}");
    }
    assert_eq!(sub.masked(), std::slice::from_ref(&masked_b));
    // A removed secret's mask names nothing any more.
    sub.refused(json!([masked_a]), 0);

    // A new secret inserted in front: the mask of b follows b.
    expect(&sub.put_secrets(json!([c, masked_b])), 200);
    let shown = sub.masked();
    assert_eq!(shown[1], masked_b);
    let masked_c = shown[0].clone();
    // Refused, nothing written: a bare mask with two secrets stored, a mask naming no stored
    // secret, one stored secret kept twice.
    sub.refused(json!(["********"]), 0);
    sub.refused(json!(["********:00000000"]), 0);
    sub.refused(json!([masked_c, masked_b, masked_b]), 2);
    // The two swapped: each mask follows its secret.
    expect(&sub.put_secrets(json!([masked_b, masked_c])), 200);
    assert_eq!(sub.masked(), [masked_b.clone(), masked_c.clone()]);
    node.caught_up();
    publish(node.gateway, "three");
    let three = delivery(&receiver, "three");
    assert!(
        signed_with(&three, &[&b, &c]),
        "{:?}",
        three.header("webhook-signature")
    );
    node.stop();
}
