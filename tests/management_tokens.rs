//! Administrator tokens through the management API, over real sockets: a token created, used
//! (its name the audit actor), listed without its hash, expired, and revoked; the last live
//! token kept even against revocations racing each other; bad requests refused with what to
//! fix; and, while a token is configured, the store's tokens left inert and creating one
//! refused.

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
        created_at: SystemTime::now(),
        expires_at,
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
        Some(&json!({"name": "ci-deploy", "expiresAt": "2999-01-01T00:00:00Z"})),
    );
    expect(&created, 201);
    let created = created.json();
    let token = created["token"]
        .as_str()
        .expect("the clear token")
        .to_owned();
    assert!(token.len() >= 32, "{created}");
    assert_eq!(created["expiresAt"], "2999-01-01T00:00:00.000Z");

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
    assert!(!audit.to_string().contains("sha256"), "{audit}");
}

#[test]
fn the_last_live_token_cannot_be_revoked_but_an_expired_one_never_authenticates() {
    let mgmt = store_tokens_only();
    expect_error(
        &call_as(&mgmt, FIRST, "DELETE", "/tokens/initial", None),
        409,
        "token.last",
    );
    expect(&call_as(&mgmt, FIRST, "GET", "/apis", None), 200);

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
}

#[test]
fn revocations_racing_each_other_never_leave_no_token() {
    // Two live tokens, each revoking the other at the same moment: the check and the removal
    // are one transaction, so one revocation wins and the other is refused.
    for round in 0..10 {
        let mgmt = store_tokens_only();
        let second = call_as(
            &mgmt,
            FIRST,
            "POST",
            "/tokens",
            Some(&json!({"name": "second"})),
        );
        expect(&second, 201);
        let second = second.json()["token"].as_str().unwrap().to_owned();
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
    for body in [
        json!({}),
        json!({"name": 7}),
        json!({"name": "seed"}),
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
    // Names that are no token's.
    for name in ["nobody", "..%2Fapis", "initial%00"] {
        let gone = call_as(&mgmt, FIRST, "DELETE", &format!("/tokens/{name}"), None);
        assert!(matches!(gone.status, 400 | 404), "{name}: {}", gone.text());
    }
    // Without a token nothing is listed or created.
    let anonymous = mgmt.call_with("GET", "/tokens", None, &[]);
    expect_error(&anonymous, 401, "auth.required");
    assert_eq!(mgmt.store.tokens().unwrap().len(), 2, "initial and ops");
}

#[test]
fn while_a_token_is_configured_the_store_holds_no_working_token() {
    // The test API's token is TIDEGATE_MANAGEMENT_TOKEN-style: the store's tokens are inert.
    let mgmt = management::start(Value::Null);
    let audit = AuditEvent::now("gateway", "token.create", "token:initial");
    mgmt.store
        .add_token(&stored("initial", FIRST, None), &audit)
        .unwrap();
    let list = mgmt.call("GET", "/tokens", None);
    expect(&list, 200);
    let list = list.json();
    assert_eq!(list["data"][0]["name"], "env");
    assert_eq!(list["data"][0]["source"], "environment");
    assert_eq!(list["data"][1]["name"], "initial");
    assert_eq!(list["data"][1]["active"], false, "{list}");
    expect_error(
        &mgmt.call("POST", "/tokens", Some(&json!({"name": "ci"}))),
        409,
        "token.configured",
    );
    expect_error(
        &mgmt.call("DELETE", "/tokens/env", None),
        409,
        "token.configured",
    );
    // The inert one goes without the last-token guard: it opens nothing anyway.
    expect(&mgmt.call("DELETE", "/tokens/initial", None), 204);
    assert!(mgmt.store.tokens().unwrap().is_empty());
    expect(&mgmt.call("GET", "/apis", None), 200);
}
