//! The management API's request handling over real sockets: authentication (401 changes
//! nothing), validation errors equal to `tidegate check`'s, ETag / If-Match conflicts, bounded
//! and well-formed JSON bodies, 404 / 405 answers, and the generated first token.

mod common;

use std::sync::Arc;

use common::management::{self, expect, expect_error, BASE, TOKEN};
use common::raw;
use serde_json::{json, Value};
use tidegate::manage::api::{Tokens, FIRST_TOKEN_NAME};
use tidegate::manage::service::ApiStats;
use tidegate::manage::store::{MemoryStore, Store};

fn definition(id: &str, path: &str) -> Value {
    json!({
        "id": id,
        "name": id,
        "contextPaths": [path],
        "entrypoints": [{"type": "http-get"}],
        "endpoint": {"type": "mock"},
        "plans": [{"name": "Keyless", "security": "keyless"}],
    })
}

#[test]
fn calls_without_a_valid_token_get_401_and_change_nothing() {
    let mgmt = management::start(Value::Null);
    let body = json!({ "definition": definition("a", "/a") });
    let generation = mgmt.generation();
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token")],
        vec![("Authorization", "Basic dGVzdDp0ZXN0")],
        vec![("Authorization", "Bearer ")],
    ] {
        let refused = mgmt.call_with("POST", "/apis", Some(&body), &headers);
        expect_error(&refused, 401, "auth.required");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer realm=\"tidegate-management\"")
        );
        let refused = mgmt.call_with("GET", "/apis", None, &headers);
        expect_error(&refused, 401, "auth.required");
    }
    assert_eq!(
        mgmt.generation(),
        generation,
        "a refused call writes nothing"
    );
    assert!(mgmt
        .store
        .list(tidegate::manage::store::Kind::Api)
        .unwrap()
        .is_empty());
    assert!(mgmt
        .api
        .render_prometheus()
        .contains("tidegate_management_auth_failures_total 8"));
    // The scheme is case-insensitive.
    let upper = format!("BEARER {TOKEN}");
    expect(
        &mgmt.call_with("GET", "/apis", None, &[("Authorization", upper.as_str())]),
        200,
    );
    // Two credentials, even both valid: which one acts is not guessed.
    let twice = [
        ("Authorization", format!("Bearer {TOKEN}")),
        ("Authorization", "Bearer another".to_owned()),
    ];
    let twice: Vec<(&str, &str)> = twice.iter().map(|(n, v)| (*n, v.as_str())).collect();
    expect_error(
        &mgmt.call_with("GET", "/apis", None, &twice),
        400,
        "auth.ambiguous",
    );
}

#[test]
fn the_first_start_generates_one_token_stored_as_a_hash() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let tokens = Tokens::new(&[], None);
    let (name, token) = tokens
        .bootstrap(store.as_ref())
        .unwrap()
        .expect("a token is generated");
    assert_eq!(name, FIRST_TOKEN_NAME);
    let stored = store.tokens().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, FIRST_TOKEN_NAME);
    assert!(stored[0].hash.starts_with("sha256:") && !stored[0].hash.contains(&token));
    assert_eq!(
        stored[0].expires_at, None,
        "the first token does not expire"
    );
    let created = store.audit(Some("token:initial"), 10).unwrap();
    assert_eq!(created.len(), 1, "its creation is audited");
    assert_eq!(
        (created[0].actor.as_str(), created[0].action.as_str()),
        ("gateway", "token.create")
    );
    assert_eq!(tokens.bootstrap(store.as_ref()).unwrap(), None, "only once");
    // The generated token opens the API (while no token is configured: a configured one
    // replaces it); its name is the audit actor.
    let mgmt = management::start_with(
        store,
        Value::Null,
        Box::new(|_: &str| ApiStats::default()),
        Tokens::new(&[], None),
        Default::default(),
    );
    let auth = format!("Bearer {token}");
    let created = mgmt.call_with(
        "POST",
        "/applications",
        Some(&json!({"id": "app", "name": "App"})),
        &[("Authorization", &auth)],
    );
    expect(&created, 201);
    let audit = mgmt
        .call_with("GET", "/audit", None, &[("Authorization", &auth)])
        .json();
    assert_eq!(audit["data"][0]["actor"], FIRST_TOKEN_NAME);
}

#[test]
fn validation_errors_are_those_of_tidegate_check_located_in_the_definition() {
    let gateway = json!({ "listen": "127.0.0.1:0" });
    let mgmt = management::start(gateway.clone());
    let mut bad = definition("bad", "/bad");
    bad["entrypoints"] = json!([{"type": "carrier-pigeon"}, {"type": "sse", "configuration": {"heartbeatIntervalInMs": 5}}]);
    bad["unknownKey"] = json!(true);
    let refused = mgmt.call("POST", "/apis", Some(&json!({ "definition": bad })));
    expect_error(&refused, 400, "definition.invalid");
    let errors = refused.json()["errors"].as_array().unwrap().clone();

    // The same file, checked as `tidegate check` does.
    let file = json!({ "gateway": gateway, "apis": [bad] }).to_string();
    let problems = tidegate::config::load_str(&file, "file")
        .unwrap_err()
        .problems;
    let expected: Vec<Value> = problems
        .iter()
        .map(|p| {
            json!({
                "location": p.location.replacen("apis[0]", "definition", 1),
                "message": p.message,
            })
        })
        .collect();
    assert!(expected.len() >= 2, "{expected:?}");
    assert_eq!(errors, expected);
    assert!(
        errors
            .iter()
            .any(|e| e["location"] == "definition.entrypoints[0].type"),
        "{errors:?}"
    );
    assert_eq!(mgmt.generation(), 0, "nothing stored");

    // A definition valid alone that conflicts with a stored API: the conflict is reported.
    expect(
        &mgmt.call(
            "POST",
            "/apis",
            Some(&json!({ "definition": definition("one", "/same") })),
        ),
        201,
    );
    let clash = mgmt.call(
        "POST",
        "/apis",
        Some(&json!({ "definition": definition("two", "/same") })),
    );
    expect_error(&clash, 400, "definition.invalid");
}

#[test]
fn etag_and_version_guard_concurrent_edits() {
    let mgmt = management::start(Value::Null);
    let created = mgmt.call(
        "POST",
        "/apis",
        Some(&json!({ "definition": definition("e", "/e") })),
    );
    expect(&created, 201);
    let mut changed = definition("e", "/e");
    changed["name"] = json!("renamed");
    let body = json!({ "definition": changed });
    let auth = format!("Bearer {TOKEN}");

    let stale = mgmt.call_with(
        "PUT",
        "/apis/e",
        Some(&body),
        &[("Authorization", &auth), ("If-Match", "\"7\"")],
    );
    expect_error(&stale, 412, "version.precondition_failed");
    let mut versioned = body.clone();
    versioned["version"] = json!(7);
    expect_error(
        &mgmt.call("PUT", "/apis/e", Some(&versioned)),
        409,
        "version.conflict",
    );

    let fresh = mgmt.call_with(
        "PUT",
        "/apis/e",
        Some(&body),
        &[("Authorization", &auth), ("If-Match", "\"1\"")],
    );
    expect(&fresh, 200);
    assert_eq!(fresh.header("etag"), Some("\"2\""));
    assert_eq!(fresh.json()["name"], "renamed");
    // The first writer's ETag is now stale.
    let late = mgmt.call_with(
        "PUT",
        "/apis/e",
        Some(&body),
        &[("Authorization", &auth), ("If-Match", "\"1\"")],
    );
    expect_error(&late, 412, "version.precondition_failed");
    let get = mgmt.call("GET", "/apis/e", None);
    assert_eq!(get.header("etag"), Some("\"2\""));
    // The id cannot change.
    expect_error(
        &mgmt.call(
            "PUT",
            "/apis/e",
            Some(&json!({ "definition": definition("other", "/e") })),
        ),
        400,
        "definition.id_mismatch",
    );
}

#[test]
fn rollback_deploys_an_earlier_revision_again() {
    let mgmt = management::start(Value::Null);
    expect(
        &mgmt.call(
            "POST",
            "/apis",
            Some(&json!({ "definition": definition("r", "/r") })),
        ),
        201,
    );
    expect(&mgmt.call("POST", "/apis/r/deployments", None), 202);
    let mut second = definition("r", "/r");
    second["contextPaths"] = json!(["/r2"]);
    expect(
        &mgmt.call("PUT", "/apis/r", Some(&json!({ "definition": second }))),
        200,
    );
    let view = mgmt.call("GET", "/apis/r", None).json();
    assert_eq!(
        view["deploymentState"], "need_redeploy",
        "saved, not deployed"
    );
    expect(&mgmt.call("POST", "/apis/r/deployments", None), 202);

    let rolled = mgmt.call("POST", "/apis/r/deployments/1/_rollback", None);
    expect(&rolled, 202);
    assert_eq!(rolled.json()["revision"], 3);
    let view = mgmt.call("GET", "/apis/r", None).json();
    assert_eq!(view["deployedRevision"], 3);
    assert_eq!(view["definition"]["contextPaths"], json!(["/r"]));
    assert_eq!(view["deploymentState"], "deployed");
    let list = mgmt.call("GET", "/apis/r/deployments", None).json();
    let deployed: Vec<bool> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["deployed"].as_bool().unwrap())
        .collect();
    assert_eq!(deployed, [false, false, true]);
    expect_error(
        &mgmt.call("POST", "/apis/r/deployments/9/_rollback", None),
        404,
        "deployment.not_found",
    );
}

#[test]
fn bodies_are_bounded_json_sent_with_content_length_and_every_refusal_is_json() {
    let mgmt = management::start(Value::Null);
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let path = format!("{BASE}/apis");

    let oversized = format!("POST {path} HTTP/1.1\r\nHost: m\r\n{auth}Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n");
    // The HTTP server's own refusals are JSON like the API's.
    expect_error(
        &raw(mgmt.addr, oversized.as_bytes()),
        413,
        "request.too_large",
    );

    let chunked = format!("POST {path} HTTP/1.1\r\nHost: m\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n");
    let response = raw(mgmt.addr, chunked.as_bytes());
    expect_error(&response, 411, "request.length_required");
    assert!(response.json()["message"]
        .as_str()
        .unwrap()
        .contains("Content-Length"));
    let bad_length = format!(
        "POST {path} HTTP/1.1\r\nHost: m\r\n{auth}Content-Length: 99999999999999999999\r\n\r\n"
    );
    expect_error(
        &raw(mgmt.addr, bad_length.as_bytes()),
        400,
        "request.malformed",
    );
    let huge_head = format!(
        "GET {path} HTTP/1.1\r\nHost: m\r\n{auth}X-Pad: {}\r\n\r\n",
        "p".repeat(40_000)
    );
    let response = raw(mgmt.addr, huge_head.as_bytes());
    expect_error(&response, 431, "request.head_too_large");

    let text = "definition: yes";
    let not_json = format!("POST {path} HTTP/1.1\r\nHost: m\r\n{auth}Content-Type: text/yaml\r\nContent-Length: {}\r\n\r\n{text}", text.len());
    expect_error(&raw(mgmt.addr, not_json.as_bytes()), 415, "body.media_type");

    let broken = "{\n  \"definition\": {,}\n}";
    let malformed = format!("POST {path} HTTP/1.1\r\nHost: m\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{broken}", broken.len());
    let response = raw(mgmt.addr, malformed.as_bytes());
    expect_error(&response, 400, "body.invalid_json");
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("line 2 column 18"),
        "{}",
        response.text()
    );
    assert_eq!(mgmt.generation(), 0);
}

#[test]
fn unknown_routes_get_404_and_wrong_methods_405_with_allow() {
    let mgmt = management::start(Value::Null);
    expect_error(&mgmt.call("GET", "/nothing", None), 404, "route.not_found");
    let wrong = mgmt.call("PATCH", "/apis/x", None);
    expect_error(&wrong, 405, "method.not_allowed");
    assert_eq!(wrong.header("allow"), Some("GET, PUT, DELETE"));
    let other_env = raw(
        mgmt.addr,
        format!("GET /management/v2/environments/PROD/apis HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes(),
    );
    expect_error(&other_env, 404, "environment.not_found");
}
