//! The seed's API lifecycle through the management API, over real sockets: save → deploy →
//! stop → start → deprecate (no new subscription) → delete refused while started → stop, close
//! the plans → delete. Each step is checked in the API's own view and in the store's audit log.

mod common;

use common::management::{self, expect, expect_error, Mgmt};
use serde_json::{json, Value};

fn orders_definition() -> Value {
    json!({
        "id": "orders",
        "name": "Orders",
        "contextPaths": ["/orders"],
        "entrypoints": [{"type": "http-get"}, {"type": "sse"}, {"type": "http-post"}],
        "endpoint": {"type": "in-memory", "configuration": {"topic": "orders"}},
        "plans": [{"id": "gold", "name": "Gold", "security": "api-key"}],
    })
}

fn view(mgmt: &Mgmt) -> Value {
    let response = mgmt.call("GET", "/apis/orders", None);
    expect(&response, 200);
    response.json()
}

#[test]
fn the_seed_lifecycle_from_save_to_delete() {
    let mgmt = management::start(Value::Null);
    let created = mgmt.call(
        "POST",
        "/apis",
        Some(&json!({ "definition": orders_definition() })),
    );
    expect(&created, 201);
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        created.header("location"),
        Some("/management/v2/environments/DEFAULT/apis/orders")
    );
    let body = created.json();
    assert_eq!(body["lifecycleState"], "created");
    assert_eq!(body["state"], "stopped");
    assert_eq!(body["deployedRevision"], Value::Null);
    assert_eq!(body["deploymentState"], "not_deployed");
    assert_eq!(body["visibility"], "private");

    // Start needs a deployment.
    expect_error(
        &mgmt.call("POST", "/apis/orders/_start", None),
        409,
        "api.not_deployed",
    );

    let deployed = mgmt.call(
        "POST",
        "/apis/orders/deployments",
        Some(&json!({"comment": "first"})),
    );
    expect(&deployed, 202);
    assert_eq!(deployed.json()["revision"], 1);
    let body = view(&mgmt);
    assert_eq!(body["state"], "started", "the first deployment starts it");
    assert_eq!(body["deployedRevision"], 1);
    assert_eq!(body["deploymentState"], "deployed");

    expect(
        &mgmt.call(
            "POST",
            "/applications",
            Some(&json!({"id": "shop", "name": "Shop"})),
        ),
        201,
    );
    let subscribed = mgmt.call(
        "POST",
        "/apis/orders/subscriptions",
        Some(&json!({"application": "shop", "plan": "gold"})),
    );
    expect(&subscribed, 201);
    let subscription = subscribed.json();
    assert_eq!(subscription["status"], "accepted");
    let key = subscription["apiKey"]["key"]
        .as_str()
        .expect("the clear key, shown once");
    assert!(key.len() >= 40, "{key}");
    let sub_id = subscription["id"].as_str().unwrap().to_owned();
    let listed = mgmt.call(
        "GET",
        &format!("/apis/orders/subscriptions/{sub_id}/api-keys"),
        None,
    );
    expect(&listed, 200);
    assert!(
        !listed.text().contains(key),
        "the clear key is never shown again"
    );
    assert!(!listed.text().contains("sha256:"), "nor its hash");

    expect(&mgmt.call("POST", "/apis/orders/_stop", None), 204);
    assert_eq!(view(&mgmt)["state"], "stopped");
    expect_error(
        &mgmt.call("POST", "/apis/orders/_stop", None),
        409,
        "api.already_stopped",
    );
    expect(&mgmt.call("POST", "/apis/orders/_start", None), 204);
    assert_eq!(view(&mgmt)["state"], "started");

    expect(&mgmt.call("POST", "/apis/orders/_publish", None), 204);
    expect(&mgmt.call("POST", "/apis/orders/_deprecate", None), 204);
    assert_eq!(view(&mgmt)["lifecycleState"], "deprecated");
    let refused = mgmt.call(
        "POST",
        "/apis/orders/subscriptions",
        Some(&json!({"application": "shop", "plan": "gold"})),
    );
    expect_error(&refused, 409, "api.deprecated");
    // The existing subscription keeps its key.
    let existing = mgmt.call("GET", &format!("/apis/orders/subscriptions/{sub_id}"), None);
    expect(&existing, 200);
    assert_eq!(existing.json()["status"], "accepted");

    expect_error(
        &mgmt.call("DELETE", "/apis/orders", None),
        409,
        "api.started",
    );
    expect(&mgmt.call("POST", "/apis/orders/_stop", None), 204);
    expect_error(
        &mgmt.call("DELETE", "/apis/orders", None),
        409,
        "api.plans_open",
    );
    expect(
        &mgmt.call("POST", "/apis/orders/plans/gold/_close", None),
        204,
    );
    let before = mgmt.generation();
    expect(&mgmt.call("DELETE", "/apis/orders", None), 204);
    assert!(mgmt.generation() > before);
    expect_error(
        &mgmt.call("GET", "/apis/orders", None),
        404,
        "api.not_found",
    );

    // Every change is in the audit log, with the token's name as the actor.
    let audit = mgmt.call("GET", "/audit?target=api:orders&limit=50", None);
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
            "api.publish",
            "api.deprecate",
            "api.stop",
            "plan.close",
            "api.delete",
        ]
    );
    assert!(events.iter().all(|e| e["actor"] == "env"), "{events:?}");
    let delete = &events[0];
    assert_eq!(delete["after"], Value::Null);
    assert_eq!(delete["before"]["definition"]["id"], "orders");
}

#[test]
fn plan_close_reaches_the_deployed_revision_without_a_redeploy() {
    let mgmt = management::start(Value::Null);
    expect(
        &mgmt.call(
            "POST",
            "/apis",
            Some(&json!({ "definition": orders_definition() })),
        ),
        201,
    );
    expect(&mgmt.call("POST", "/apis/orders/deployments", None), 202);
    expect(
        &mgmt.call("POST", "/apis/orders/plans/gold/_close", None),
        204,
    );
    let body = view(&mgmt);
    assert_eq!(body["deploymentState"], "deployed", "{body}");
    let revision = body["deployedRevision"].as_u64().unwrap();
    let deployed = mgmt.call("GET", &format!("/apis/orders/deployments/{revision}"), None);
    expect(&deployed, 200);
    assert_eq!(
        deployed.json()["definition"]["plans"][0]["status"],
        "closed"
    );
    expect_error(
        &mgmt.call(
            "POST",
            "/apis/orders/subscriptions",
            Some(&json!({"application": "x", "plan": "gold"})),
        ),
        409,
        "plan.closed",
    );
}

#[test]
fn the_portal_lists_published_public_apis_only() {
    let mgmt = management::start(Value::Null);
    expect(
        &mgmt.call(
            "POST",
            "/apis",
            Some(&json!({ "definition": orders_definition() })),
        ),
        201,
    );
    let listed = || mgmt.service.portal_apis().unwrap();
    assert!(listed().is_empty(), "created, private");
    expect(&mgmt.call("POST", "/apis/orders/_publish", None), 204);
    assert!(listed().is_empty(), "published but private");
    expect(&mgmt.call("POST", "/apis/orders/_make-public", None), 204);
    let apis = listed();
    assert_eq!(apis.len(), 1);
    assert_eq!(apis[0]["id"], "orders");
    assert_eq!(apis[0]["plans"][0]["id"], "gold");
    assert!(
        apis[0].get("definition").is_none(),
        "the portal shows no definition"
    );
    expect(&mgmt.call("POST", "/apis/orders/_unpublish", None), 204);
    assert!(listed().is_empty());
    assert!(mgmt.service.portal_api("orders").is_err());
}
