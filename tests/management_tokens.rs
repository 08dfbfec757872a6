//! Administrator tokens through the management API, over real sockets: a token created, used
//! (its name the audit actor), listed without its hash, expired, and revoked; a token kept while
//! no other outlasts it (an expiring one does not stand in for one that never expires), even
//! against revocations racing each other, unless forced; a token that expires creating only
//! tokens that expire no later; a restart with every token expired printing a new one; bad
//! requests refused with what to fix; while a token is configured, the store's tokens inactive
//! on that node; and a viewer's token reading everything, changing nothing (403), never standing
//! in for an administrator's.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use common::management::{self, expect, expect_error, Mgmt};
use serde_json::{json, Value};
use tidegate::manage::api::Tokens;
use tidegate::manage::service::ApiStats;
use tidegate::manage::store::{AuditEvent, MemoryStore, Store, StoredToken};

const FIRST: &str = "first-token-printed-at-start";

fn stored(name: &str, clear: &str, expires_at: Option<SystemTime>) -> StoredToken {
    StoredToken {
        name: name.to_owned(),
        hash: tidegate::security::api_key::hash(clear.as_bytes()).to_config_text(),
        created_at: Some(SystemTime::now()),
        expires_at,
        role: tidegate::config::TokenRole::Admin,
    }
}

/// A management API whose only token is the store's `initial` one (as after a first start).
fn store_tokens_only() -> Mgmt {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let audit = AuditEvent::now("gateway", "token.create", "token:initial");
    store
        .add_token(&stored("initial", FIRST, None), &audit)
        .unwrap();
    management::start_with(
        store,
        Value::Null,
        Box::new(|_: &str| ApiStats::default()),
        Tokens::new(&[], None),
        Default::default(),
    )
}

/// Creates the token `body` asks for, calling with `caller`; its clear token.
fn create(mgmt: &Mgmt, caller: &str, body: Value) -> String {
    let created = call_as(mgmt, caller, "POST", "/tokens", Some(&body));
    expect(&created, 201);
    created.json()["token"]
        .as_str()
        .expect("the clear token")
        .to_owned()
}

fn call_as(
    mgmt: &Mgmt,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> common::Response {
    mgmt.call_with(
        method,
        path,
        body,
        &[("Authorization", &format!("Bearer {token}"))],
    )
}

#[test]
fn a_created_token_works_is_audited_and_stops_working_once_revoked() {
    let mgmt = store_tokens_only();
    let created = call_as(
        &mgmt,
        FIRST,
        "POST",
        "/tokens",
        Some(&json!({"name": "ci-deploy"})),
    );
    expect(&created, 201);
    let created = created.json();
    let token = created["token"]
        .as_str()
        .expect("the clear token")
        .to_owned();
    assert!(token.len() >= 32, "{created}");
    assert_eq!(created["active"], true);
    assert!(
        created["createdAt"].is_string() && created.get("expiresAt").is_none(),
        "{created}"
    );

    // The new token opens the API; its name is the actor of what it does.
    let app = call_as(
        &mgmt,
        &token,
        "POST",
        "/applications",
        Some(&json!({"id": "app", "name": "App"})),
    );
    expect(&app, 201);
    let audit = call_as(&mgmt, &token, "GET", "/audit", None).json();
    assert_eq!(audit["data"][0]["actor"], "ci-deploy");
    assert_eq!(audit["data"][1]["action"], "token.create");
    assert_eq!(audit["data"][1]["target"], "token:ci-deploy");
    assert_eq!(audit["data"][1]["actor"], "initial");

    // Listed with its times, never with its hash or the clear token.
    let list = call_as(&mgmt, &token, "GET", "/tokens", None);
    expect(&list, 200);
    let text = list.text();
    assert!(!text.contains("sha256") && !text.contains(&token), "{text}");
    let names: Vec<String> = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ci-deploy", "initial"]);
    assert_eq!(list.json()["data"][0]["active"], true);
    assert_eq!(list.json()["data"][0]["source"], "store");

    // The new token revokes the printed one: that one is refused from the next call on.
    expect(
        &call_as(&mgmt, &token, "DELETE", "/tokens/initial", None),
        204,
    );
    expect_error(
        &call_as(&mgmt, FIRST, "GET", "/apis", None),
        401,
        "auth.required",
    );
    let audit = call_as(&mgmt, &token, "GET", "/audit?target=token:initial", None).json();
    assert_eq!(audit["data"][0]["action"], "token.revoke");
    assert_eq!(audit["data"][0]["actor"], "ci-deploy");
    // No audit event holds a hash or a clear token.
    let every = call_as(&mgmt, &token, "GET", "/audit?limit=1000", None).text();
    for secret in ["sha256", token.as_str(), FIRST] {
        assert!(!every.contains(secret), "{secret} in {every}");
    }
}

#[test]
fn a_token_is_kept_while_no_other_outlasts_it_unless_forced() {
    let mgmt = store_tokens_only();
    expect_error(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/initial", None),
        409,
        "token.last",
    );
    expect(&call_as(&mgmt, FIRST, "GET", "/apis", None), 200);

    // A token that expires in an hour does not stand in for one that never does: revoking
    // `initial` would lock everyone out an hour later.
    let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
    let audit = AuditEvent::now("t", "token.create", "token:hour");
    mgmt.store
        .add_token(
            &stored("hour", "hour-token-value", Some(in_an_hour)),
            &audit,
        )
        .unwrap();
    let refused = call_as(&mgmt, "hour-token-value", "DELETE", "/tokens/initial", None);
    expect_error(&refused, 409, "token.last");
    assert!(refused.text().contains("force=true"), "{}", refused.text());
    // `initial` outlasts `hour`: that one goes.
    expect(&call_as(&mgmt, FIRST, "DELETE", "/tokens/hour", None), 204);

    // An expired token: refused, listed as expired and inactive, and no help to the guard.
    let past = SystemTime::now() - Duration::from_secs(1);
    let audit = AuditEvent::now("t", "token.create", "token:old");
    mgmt.store
        .add_token(&stored("old", "old-token-value", Some(past)), &audit)
        .unwrap();
    expect_error(
        &call_as(&mgmt, "old-token-value", "GET", "/apis", None),
        401,
        "auth.required",
    );
    let list = call_as(&mgmt, FIRST, "GET", "/tokens", None).json();
    let old = &list["data"][1];
    assert_eq!(
        (
            old["name"].as_str(),
            old["expired"].as_bool(),
            old["active"].as_bool()
        ),
        (Some("old"), Some(true), Some(false)),
        "{list}"
    );
    expect_error(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/initial", None),
        409,
        "token.last",
    );
    // Removing the expired one takes nothing away.
    expect(&call_as(&mgmt, FIRST, "DELETE", "/tokens/old", None), 204);
    expect_error(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/old", None),
        404,
        "token.not_found",
    );
    expect_error(
        &call_as(
            &mgmt,
            FIRST,
            "DELETE",
            "/tokens/initial?force=perhaps",
            None,
        ),
        400,
        "query.force",
    );
    // Forced, even the last one goes (then nothing opens the API until a restart prints one).
    expect(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/initial?force=true", None),
        204,
    );
    expect_error(
        &call_as(&mgmt, FIRST, "GET", "/apis", None),
        401,
        "auth.required",
    );
}

#[test]
fn a_token_that_expires_creates_only_tokens_that_expire_no_later() {
    let mgmt = store_tokens_only();
    let hour = create(
        &mgmt,
        FIRST,
        json!({"name": "ci-run", "expiresAt": rfc3339(3600)}),
    );
    for body in [
        json!({"name": "forever"}),
        json!({"name": "longer", "expiresAt": rfc3339(7200)}),
    ] {
        let refused = call_as(&mgmt, &hour, "POST", "/tokens", Some(&body));
        expect_error(&refused, 400, "token.invalid");
        assert_eq!(
            refused.json()["errors"][0]["location"],
            "expiresAt",
            "{}",
            refused.text()
        );
    }
    expect(
        &call_as(
            &mgmt,
            &hour,
            "POST",
            "/tokens",
            Some(&json!({"name": "shorter", "expiresAt": rfc3339(1800)})),
        ),
        201,
    );
}

/// `seconds` from now as RFC 3339 (UTC, whole seconds).
fn rfc3339(seconds: u64) -> String {
    let at = SystemTime::now() + Duration::from_secs(seconds);
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = tidegate::civil_date::civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[test]
fn a_start_with_every_stored_token_expired_prints_a_new_one() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let past = SystemTime::now() - Duration::from_secs(1);
    let audit = AuditEvent::now("gateway", "token.create", "token:initial");
    store
        .add_token(&stored("initial", FIRST, Some(past)), &audit)
        .unwrap();
    let tokens = Tokens::new(&[], None);
    let (name, token) = tokens
        .bootstrap(store.as_ref())
        .unwrap()
        .expect("no valid token: one is generated");
    assert_eq!(name, "initial-2", "the expired one keeps its name");
    assert!(token.len() >= 32);
    assert_eq!(tokens.bootstrap(store.as_ref()).unwrap(), None, "only once");
    // With a token configured nothing is generated.
    let configured = Tokens::new(&[], Some("configured"));
    let empty: Arc<dyn Store> = Arc::new(MemoryStore::new());
    assert_eq!(configured.bootstrap(empty.as_ref()).unwrap(), None);
}

#[test]
fn revocations_racing_each_other_never_leave_no_token() {
    // Two live tokens, each revoking the other at the same moment: the check and the removal
    // are one transaction, so one revocation wins and the other is refused.
    for round in 0..10 {
        let mgmt = store_tokens_only();
        let second = create(&mgmt, FIRST, json!({"name": "second"}));
        let barrier = Arc::new(Barrier::new(2));
        let mgmt = Arc::new(mgmt);
        let racers: Vec<_> = [(FIRST.to_owned(), "second"), (second.clone(), "initial")]
            .into_iter()
            .map(|(token, victim)| {
                let barrier = barrier.clone();
                let mgmt = mgmt.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    call_as(&mgmt, &token, "DELETE", &format!("/tokens/{victim}"), None).status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        statuses.sort_unstable();
        // The loser is refused as the last token (409) or, when its own token was revoked
        // first, as no longer authenticated (401).
        assert!(
            statuses == [204, 409] || statuses == [204, 401],
            "round {round}: {statuses:?}"
        );
        let left = mgmt.store.tokens().unwrap();
        assert_eq!(left.len(), 1, "round {round}: {left:?}");
    }
}

#[test]
fn bad_token_requests_say_what_to_fix() {
    let mgmt = store_tokens_only();
    // A huge name is refused without being echoed back whole.
    let huge = "n".repeat(200_000);
    let refused = call_as(
        &mgmt,
        FIRST,
        "POST",
        "/tokens",
        Some(&json!({ "name": huge })),
    );
    expect_error(&refused, 400, "token.invalid");
    assert!(refused.body.len() < 4096, "{} bytes", refused.body.len());
    let bad = call_as(
        &mgmt,
        FIRST,
        "POST",
        "/tokens",
        Some(&json!({"name": "has space", "expiresAt": "2020-01-01T00:00:00Z", "scope": "all"})),
    );
    expect_error(&bad, 400, "token.invalid");
    let locations: Vec<String> = bad.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["location"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(locations, ["scope", "name", "expiresAt"], "{}", bad.text());
    // `.` and `..` could never be revoked (no dot segment is routed), so never created.
    for body in [
        json!({}),
        json!({"name": 7}),
        json!({"name": "seed"}),
        json!({"name": "Gateway"}),
        json!({"name": "."}),
        json!({"name": ".."}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "ok", "expiresAt": "soon"}),
    ] {
        expect_error(
            &call_as(&mgmt, FIRST, "POST", "/tokens", Some(&body)),
            400,
            "token.invalid",
        );
    }
    // A taken name.
    expect(
        &call_as(
            &mgmt,
            FIRST,
            "POST",
            "/tokens",
            Some(&json!({"name": "ops"})),
        ),
        201,
    );
    expect_error(
        &call_as(
            &mgmt,
            FIRST,
            "POST",
            "/tokens",
            Some(&json!({"name": "ops"})),
        ),
        409,
        "token.exists",
    );
    expect_error(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/nobody", None),
        404,
        "token.not_found",
    );
    // Without a token nothing is listed or created.
    let anonymous = mgmt.call_with("GET", "/tokens", None, &[]);
    expect_error(&anonymous, 401, "auth.required");
    assert_eq!(mgmt.store.tokens().unwrap().len(), 2, "initial and ops");
}

#[test]
fn while_a_token_is_configured_the_stores_tokens_are_inactive_on_that_node() {
    // The test API's token is TIDEGATE_MANAGEMENT_TOKEN-style: the store's tokens do not open
    // this node (other nodes of a shared store may use them).
    let mgmt = management::start(Value::Null);
    let audit = AuditEvent::now("gateway", "token.create", "token:initial");
    mgmt.store
        .add_token(&stored("initial", FIRST, None), &audit)
        .unwrap();
    expect_error(
        &call_as(&mgmt, FIRST, "GET", "/apis", None),
        401,
        "auth.required",
    );
    let list = mgmt.call("GET", "/tokens", None);
    expect(&list, 200);
    let list = list.json();
    assert_eq!(list["data"][0]["name"], "env");
    assert_eq!(list["data"][0]["source"], "environment");
    assert_eq!(list["data"][1]["name"], "initial");
    assert_eq!(list["data"][1]["active"], false, "{list}");
    // Created for the nodes that use the store's tokens, inactive here.
    let created = mgmt.call("POST", "/tokens", Some(&json!({"name": "ci"})));
    expect(&created, 201);
    assert_eq!(created.json()["active"], false);
    expect_error(
        &mgmt.call("DELETE", "/tokens/env", None),
        409,
        "token.configured",
    );
    // The guard holds on every node: `ci` outlasts `initial`, not the other way round once
    // `initial` is gone.
    expect(&mgmt.call("DELETE", "/tokens/initial", None), 204);
    expect_error(&mgmt.call("DELETE", "/tokens/ci", None), 409, "token.last");
    expect(&mgmt.call("DELETE", "/tokens/ci?force=true", None), 204);
    assert!(mgmt.store.tokens().unwrap().is_empty());
    expect(&mgmt.call("GET", "/apis", None), 200);
}

#[test]
fn a_viewers_token_reads_everything_changes_nothing_and_never_stands_in_for_an_admins() {
    let mgmt = store_tokens_only();
    let viewer = create(&mgmt, FIRST, json!({"name": "grafana", "role": "viewer"}));
    let list = call_as(&mgmt, &viewer, "GET", "/tokens", None);
    expect(&list, 200);
    let roles: Vec<(String, String)> = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("grafana".to_owned(), "viewer".to_owned()),
            ("initial".to_owned(), "admin".to_owned())
        ]
    );
    // Reads.
    for path in ["/apis", "/applications", "/audit", "/tokens"] {
        expect(&call_as(&mgmt, &viewer, "GET", path, None), 200);
    }
    // Every change is refused, naming the token and what to use instead; nothing happens.
    let api = json!({"definition": {"id": "orders", "name": "Orders", "contextPaths": ["/orders"],
        "entrypoints": [{"type": "sse"}], "endpoint": {"type": "mock"}}});
    for (method, path, body) in [
        ("POST", "/apis", Some(&api)),
        ("POST", "/tokens", Some(&json!({"name": "mine"}))),
        ("DELETE", "/tokens/initial", None),
        ("DELETE", "/tokens/grafana", None),
        ("POST", "/applications", Some(&json!({"name": "x"}))),
    ] {
        let refused = call_as(&mgmt, &viewer, method, path, body);
        expect_error(&refused, 403, "auth.forbidden");
        let message = refused.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("'grafana'") && message.contains("admin"),
            "{message}"
        );
    }
    expect(&call_as(&mgmt, FIRST, "GET", "/apis/orders", None), 404);
    assert_eq!(mgmt.store.tokens().unwrap().len(), 2);
    // Read-only is not access to credentials: a viewer sees them masked; the audit log masks
    // them for everyone; an administrator's GET still has them (to edit the definition).
    let with_password = json!({"definition": {"id": "sensors", "name": "Sensors",
        "contextPaths": ["/sensors"], "entrypoints": [{"type": "sse"}],
        "endpoint": {"type": "mqtt5", "configuration": {"serverHost": "broker", "username": "gw",
            "password": "hunter2", "consumer": {"topic": "sensors/#"}}},
        "plans": [{"name": "Keyless", "security": "keyless"}]}});
    expect(
        &call_as(&mgmt, FIRST, "POST", "/apis", Some(&with_password)),
        201,
    );
    for path in ["/apis/sensors", "/apis", "/audit"] {
        let seen = call_as(&mgmt, &viewer, "GET", path, None);
        expect(&seen, 200);
        assert!(!seen.text().contains("hunter2"), "{path}: {}", seen.text());
    }
    let seen = call_as(&mgmt, &viewer, "GET", "/apis/sensors", None).json();
    assert_eq!(
        seen["definition"]["endpoint"]["configuration"]["password"],
        "********"
    );
    assert!(!call_as(&mgmt, FIRST, "GET", "/audit", None)
        .text()
        .contains("hunter2"));
    assert!(call_as(&mgmt, FIRST, "GET", "/apis/sensors", None)
        .text()
        .contains("hunter2"));
    // What a viewer read, sent back by an administrator, is refused where the masks stand:
    // the mask would have become the password.
    let mut sent_back = json!({"definition": seen["definition"].clone()});
    sent_back["version"] = seen["version"].clone();
    let refused = call_as(&mgmt, FIRST, "PUT", "/apis/sensors", Some(&sent_back));
    expect_error(&refused, 400, "definition.invalid");
    assert_eq!(
        refused.json()["errors"][0]["location"],
        "definition.endpoint.configuration.password"
    );
    // Unknown routes and methods answer as for anyone.
    expect_error(
        &call_as(&mgmt, &viewer, "GET", "/nothing", None),
        404,
        "route.not_found",
    );
    // A viewer's token does not keep the last administrator's: revoking `initial` would leave
    // no administrator.
    expect_error(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/initial", None),
        409,
        "token.last",
    );
    // A viewer's token goes freely, even the last one.
    expect(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/grafana", None),
        204,
    );
    expect_error(
        &call_as(&mgmt, &viewer, "GET", "/apis", None),
        401,
        "auth.required",
    );
}

#[test]
fn a_start_with_only_a_viewers_token_prints_an_administrators() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    // Named like the generated one but for case: the generated one takes the next name.
    let audit = AuditEvent::now("gateway", "token.create", "token:Initial");
    let mut viewer = stored("Initial", "viewer-token", None);
    viewer.role = tidegate::config::TokenRole::Viewer;
    store.add_token(&viewer, &audit).unwrap();
    let tokens = Tokens::new(&[], None);
    let (name, _) = tokens
        .bootstrap(store.as_ref())
        .unwrap()
        .expect("no administrator's token: one is generated");
    assert_eq!(name, "initial-2");
    let generated = store.tokens().unwrap();
    let initial = generated.iter().find(|t| t.name == "initial-2").unwrap();
    assert_eq!(initial.role, tidegate::config::TokenRole::Admin);
}
