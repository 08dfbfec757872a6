//! One behaviour for every management store: the same checks run on the memory, SQLite and
//! PostgreSQL stores (tests/management_store.rs).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tidegate::manage::store::{
    target, AuditEvent, Bound, Kind, Store, StoreError, StoredToken, MAX_TOKENS,
};

fn audit(action: &str, kind: Kind, id: &str) -> AuditEvent {
    AuditEvent::now("tester", action, &target(kind, id))
}

/// Runs every check on an empty `store`.
pub fn conformance(store: &dyn Store) {
    documents_and_versions(store);
    deletes(store);
    revisions_and_deploy(store);
    audit_trail(store);
    tokens(store);
    bounded_creates(store);
}

fn documents_and_versions(store: &dyn Store) {
    let start = store.generation().unwrap();
    assert!(store.list(Kind::Api).unwrap().is_empty());
    assert_eq!(store.get(Kind::Api, "a").unwrap(), None);

    let created = store
        .put(
            Kind::Api,
            "b",
            &json!({"n": 1}),
            None,
            &audit("api.create", Kind::Api, "b"),
        )
        .unwrap();
    assert_eq!(
        (created.kind, created.id.as_str(), created.version),
        (Kind::Api, "b", 1)
    );
    assert!(
        store.generation().unwrap() > start,
        "a write bumps the generation"
    );
    store
        .put(
            Kind::Api,
            "a",
            &json!({"n": 2}),
            None,
            &audit("api.create", Kind::Api, "a"),
        )
        .unwrap();
    // Same id, other kind: another document.
    store
        .put(
            Kind::Application,
            "a",
            &json!({"app": true}),
            None,
            &audit("application.create", Kind::Application, "a"),
        )
        .unwrap();

    let listed: Vec<(String, u64)> = store
        .list(Kind::Api)
        .unwrap()
        .into_iter()
        .map(|doc| (doc.id, doc.version))
        .collect();
    assert_eq!(
        listed,
        vec![("a".to_owned(), 1), ("b".to_owned(), 1)],
        "ordered by id"
    );
    assert_eq!(store.list(Kind::Application).unwrap().len(), 1);
    assert!(store.list(Kind::Subscription).unwrap().is_empty());

    // Creating what exists, or replacing at a stale version: Conflict with the stored version.
    let before = store.generation().unwrap();
    let error = store
        .put(
            Kind::Api,
            "b",
            &json!({}),
            None,
            &audit("api.create", Kind::Api, "b"),
        )
        .unwrap_err();
    assert_eq!(error, StoreError::Conflict { current: Some(1) });
    let replaced = store
        .put(
            Kind::Api,
            "b",
            &json!({"n": 3}),
            Some(1),
            &audit("api.update", Kind::Api, "b"),
        )
        .unwrap();
    assert_eq!(replaced.version, 2);
    let error = store
        .put(
            Kind::Api,
            "b",
            &json!({"n": 4}),
            Some(1),
            &audit("api.update", Kind::Api, "b"),
        )
        .unwrap_err();
    assert_eq!(error, StoreError::Conflict { current: Some(2) });
    let error = store
        .put(
            Kind::Api,
            "zz",
            &json!({}),
            Some(1),
            &audit("api.update", Kind::Api, "zz"),
        )
        .unwrap_err();
    assert_eq!(error, StoreError::Conflict { current: None });
    let got = store.get(Kind::Api, "b").unwrap().unwrap();
    assert_eq!(
        (got.body, got.version),
        (json!({"n": 3}), 2),
        "a refused write changes nothing"
    );
    assert!(store.generation().unwrap() > before);
}

fn deletes(store: &dyn Store) {
    store
        .put(
            Kind::Subscription,
            "s",
            &json!({"id": "s"}),
            None,
            &audit("subscription.create", Kind::Subscription, "s"),
        )
        .unwrap();
    let error = store
        .delete(
            Kind::Subscription,
            "s",
            7,
            &audit("subscription.delete", Kind::Subscription, "s"),
        )
        .unwrap_err();
    assert_eq!(error, StoreError::Conflict { current: Some(1) });
    let before = store.generation().unwrap();
    store
        .delete(
            Kind::Subscription,
            "s",
            1,
            &audit("subscription.delete", Kind::Subscription, "s"),
        )
        .unwrap();
    assert!(store.generation().unwrap() > before);
    assert_eq!(store.get(Kind::Subscription, "s").unwrap(), None);
    let error = store
        .delete(
            Kind::Subscription,
            "s",
            1,
            &audit("subscription.delete", Kind::Subscription, "s"),
        )
        .unwrap_err();
    assert_eq!(error, StoreError::Conflict { current: None });
}

fn revisions_and_deploy(store: &dyn Store) {
    assert!(store.revisions("r").unwrap().is_empty());
    let body =
        json!({"definition": {"id": "r", "v": 1}, "state": "started", "deployedRevision": null});
    let doc = store
        .put(
            Kind::Api,
            "r",
            &body,
            None,
            &audit("api.create", Kind::Api, "r"),
        )
        .unwrap();

    let first = store
        .add_revision("r", &json!({"id": "r", "v": 0}), "alice", Some("by hand"))
        .unwrap();
    assert_eq!(
        (
            first.number,
            first.author.as_str(),
            first.comment.as_deref()
        ),
        (1, "alice", Some("by hand"))
    );

    let before = store.generation().unwrap();
    let (revision, deployed) = store
        .deploy(
            "r",
            &body,
            doc.version,
            None,
            &audit("api.deploy", Kind::Api, "r"),
        )
        .unwrap();
    assert!(store.generation().unwrap() > before);
    assert_eq!(revision.number, 2);
    assert_eq!(revision.definition, json!({"id": "r", "v": 1}));
    assert_eq!(revision.author, "tester", "the deployer is the audit actor");
    assert_eq!(deployed.version, doc.version + 1);
    assert_eq!(deployed.body["deployedRevision"], json!(2));
    assert_eq!(store.get(Kind::Api, "r").unwrap().unwrap(), deployed);

    // A deployment at a stale version stores nothing.
    let error = store
        .deploy(
            "r",
            &body,
            doc.version,
            None,
            &audit("api.deploy", Kind::Api, "r"),
        )
        .unwrap_err();
    assert_eq!(
        error,
        StoreError::Conflict {
            current: Some(deployed.version)
        }
    );
    let numbers: Vec<u64> = store
        .revisions("r")
        .unwrap()
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, vec![1, 2]);
    assert_eq!(
        store.revision("r", 2).unwrap().unwrap().definition,
        json!({"id": "r", "v": 1})
    );
    assert_eq!(store.revision("r", 3).unwrap(), None);
    assert_eq!(store.revision("other", 1).unwrap(), None);

    // Deleting an API deletes its revisions.
    store
        .delete(
            Kind::Api,
            "r",
            deployed.version,
            &audit("api.delete", Kind::Api, "r"),
        )
        .unwrap();
    assert!(store.revisions("r").unwrap().is_empty());
}

fn audit_trail(store: &dyn Store) {
    let event = AuditEvent::now("ci", "api.update", "api:t")
        .with_bodies(Some(json!({"n": 1})), Some(json!({"n": 2})));
    store
        .put(
            Kind::Api,
            "t",
            &json!({"n": 1}),
            None,
            &audit("api.create", Kind::Api, "t"),
        )
        .unwrap();
    store
        .put(Kind::Api, "t", &json!({"n": 2}), Some(1), &event)
        .unwrap();

    let newest = store.audit(None, 1).unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].action, "api.update");
    assert_eq!(newest[0].actor, "ci");
    assert_eq!(newest[0].before, Some(json!({"n": 1})));
    assert_eq!(newest[0].after, Some(json!({"n": 2})));

    let of_t: Vec<String> = store
        .audit(Some("api:t"), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        of_t,
        vec!["api.update", "api.create"],
        "newest first, this target only"
    );
    // Refused writes leave no audit event; every successful one does.
    let of_b: Vec<String> = store
        .audit(Some("api:b"), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(of_b, vec!["api.update", "api.create"]);
    assert!(store.audit(None, 1000).unwrap().len() >= 10);
}

fn token(name: &str, hash: &str, expires_at: Option<SystemTime>) -> StoredToken {
    StoredToken {
        name: name.to_owned(),
        hash: hash.to_owned(),
        created_at: Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
        expires_at,
        role: tidegate::config::TokenRole::Admin,
    }
}

fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

fn tokens(store: &dyn Store) {
    assert!(store.tokens().unwrap().is_empty());
    let before = store.generation().unwrap();
    let audit = |name: &str| AuditEvent::now("ops", "token.create", &format!("token:{name}"));
    let revoke = |name: &str| AuditEvent::now("ops", "token.revoke", &format!("token:{name}"));
    let (now, later, latest) = (
        at(1_800_000_000_000),
        at(4_000_000_000_456),
        at(4_100_000_000_000),
    );
    store
        .add_token(&token("zeta", "sha256:00", None), &audit("zeta"))
        .unwrap();
    store
        .add_token(&token("alpha", "sha256:11", Some(later)), &audit("alpha"))
        .unwrap();
    // A taken name is refused: the stored hash stays.
    assert_eq!(
        store.add_token(&token("zeta", "sha256:22", None), &audit("zeta")),
        Err(StoreError::TokenTaken)
    );
    // So is one differing only in case: the audit log would read them as one.
    assert_eq!(
        store.add_token(&token("ZETA", "sha256:22", None), &audit("ZETA")),
        Err(StoreError::TokenTaken)
    );
    assert!(store.generation().unwrap() > before);
    // Times come back to the millisecond, the expiry absent or kept; a token from before token
    // times has no creation time.
    let mut untimed = token("old-style", "sha256:66", None);
    untimed.created_at = None;
    store.add_token(&untimed, &audit("old-style")).unwrap();
    assert_eq!(
        store.tokens().unwrap(),
        vec![
            token("alpha", "sha256:11", Some(later)),
            untimed,
            token("zeta", "sha256:00", None)
        ]
    );
    store
        .revoke_token("old-style", None, &revoke("old-style"))
        .unwrap();
    // A viewer's token keeps its role; it never stands in for an administrator's (below).
    let mut viewer = token("viewer", "sha256:77", None);
    viewer.role = tidegate::config::TokenRole::Viewer;
    store.add_token(&viewer, &audit("viewer")).unwrap();
    assert!(store.tokens().unwrap().contains(&viewer));
    assert_eq!(store.audit(Some("token:alpha"), 10).unwrap().len(), 1);

    assert_eq!(
        store.revoke_token("nobody", Some(now), &revoke("nobody")),
        Err(StoreError::NoSuchToken)
    );
    // zeta never expires: alpha, which does, cannot stand in for it, nor can the viewer's.
    assert_eq!(
        store.revoke_token("zeta", Some(now), &revoke("zeta")),
        Err(StoreError::LastToken),
        "no other administrator's token lasts as long as zeta"
    );
    // The viewer's goes freely.
    store
        .revoke_token("viewer", Some(now), &revoke("viewer"))
        .unwrap();
    // alpha goes: zeta outlasts it.
    store
        .revoke_token("alpha", Some(now), &revoke("alpha"))
        .unwrap();
    // A token expiring later than another outlasts it; one expiring sooner does not.
    store
        .add_token(&token("short", "sha256:33", Some(later)), &audit("short"))
        .unwrap();
    store
        .add_token(&token("long", "sha256:44", Some(latest)), &audit("long"))
        .unwrap();
    store.revoke_token("zeta", None, &revoke("zeta")).unwrap();
    assert_eq!(
        store.revoke_token("long", Some(now), &revoke("long")),
        Err(StoreError::LastToken)
    );
    store
        .revoke_token("short", Some(now), &revoke("short"))
        .unwrap();
    // An expired token is no loss: it goes even when nothing outlasts it, and does not count
    // as one that would be left.
    let past = at(1_000);
    store
        .add_token(
            &token("expired", "sha256:55", Some(past)),
            &audit("expired"),
        )
        .unwrap();
    assert_eq!(
        store.revoke_token("long", Some(now), &revoke("long")),
        Err(StoreError::LastToken)
    );
    store
        .revoke_token("expired", Some(now), &revoke("expired"))
        .unwrap();
    // Without the guard (force) any token goes.
    store.revoke_token("long", None, &revoke("long")).unwrap();
    assert!(store.tokens().unwrap().is_empty());
    assert_eq!(
        store.audit(Some("token:zeta"), 10).unwrap().len(),
        2,
        "created and revoked, the refusal not recorded"
    );

    // At most MAX_TOKENS, counted in the transaction that inserts; expired ones make room.
    for n in 0..MAX_TOKENS {
        let name = format!("t{n:03}");
        let expires = (n < 2).then_some(past);
        store
            .add_token(&token(&name, "sha256:44", expires), &audit(&name))
            .unwrap();
    }
    store
        .add_token(&token("one-more", "sha256:55", None), &audit("one-more"))
        .unwrap();
    let names: Vec<String> = store
        .tokens()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names.len() as u64, MAX_TOKENS - 1, "both expired ones went");
    assert!(!names.iter().any(|name| name == "t000" || name == "t001"));
    assert_eq!(
        store.audit(Some("token:t000"), 10).unwrap()[0].action,
        "token.revoke",
        "the removal is audited"
    );
    store
        .add_token(&token("two-more", "sha256:66", None), &audit("two-more"))
        .unwrap();
    assert_eq!(
        store.add_token(
            &token("three-more", "sha256:77", None),
            &audit("three-more")
        ),
        Err(StoreError::Full { count: MAX_TOKENS })
    );
    for token in store.tokens().unwrap() {
        store
            .revoke_token(&token.name, None, &revoke(&token.name))
            .unwrap();
    }
}

/// A bounded create counts the prefixed documents in its own transaction: creates racing from
/// many threads never pass the cap together, and other ids do not count.
fn bounded_creates(store: &dyn Store) {
    let bound = Bound {
        prefix: "capped-",
        max: 3,
    };
    store
        .put(
            Kind::Application,
            "uncapped",
            &json!({}),
            None,
            &audit("application.create", Kind::Application, "uncapped"),
        )
        .unwrap();
    let created = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|n| {
                scope.spawn(move || {
                    let id = format!("capped-{n}");
                    store.create_bounded(
                        Kind::Application,
                        &id,
                        &json!({ "n": n }),
                        bound,
                        &audit("application.create", Kind::Application, &id),
                    )
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect::<Vec<_>>()
    });
    let made = created.iter().filter(|result| result.is_ok()).count();
    assert_eq!(made, 3, "{created:?}");
    assert!(created
        .iter()
        .filter_map(|result| result.as_ref().err())
        .all(|err| *err == StoreError::Full { count: 3 }));
    let capped = store
        .list(Kind::Application)
        .unwrap()
        .into_iter()
        .filter(|doc| doc.id.starts_with("capped-"))
        .count();
    assert_eq!(capped, 3);
    // An existing id is a conflict, like `put` without a version.
    let existing = store.create_bounded(
        Kind::Application,
        "uncapped",
        &json!({}),
        Bound {
            prefix: "other-",
            max: 10,
        },
        &audit("application.create", Kind::Application, "uncapped"),
    );
    assert_eq!(existing, Err(StoreError::Conflict { current: Some(1) }));
}
