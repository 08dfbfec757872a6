//! The management stores: one conformance suite run on the memory, SQLite and PostgreSQL stores;
//! the SQLite file keeps everything across a reopen, and a file from before token times is
//! migrated; a PostgreSQL outage is `Unavailable` and the
//! store reconnects by itself when the server is back.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use tidegate::manage::store::{
    AuditEvent, Kind, MemoryStore, PostgresStore, SqliteStore, Store, StoreError, StoredToken,
};

use common::postgres::Postgres;
use common::store_conformance::conformance;

#[test]
fn memory_store_conforms() {
    conformance(&MemoryStore::new());
}

#[test]
fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&SqliteStore::open(&dir.path().join("t.db")).unwrap());
}

#[test]
fn postgres_store_conforms() {
    let postgres = Postgres::start();
    conformance(&PostgresStore::connect(&postgres.url(), None).unwrap());
}

#[test]
fn sqlite_file_keeps_everything_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.db");
    let generation = {
        let store = SqliteStore::open(&path).unwrap();
        let doc = store
            .put(
                Kind::Api,
                "a",
                &json!({"definition": {"id": "a"}}),
                None,
                &AuditEvent::now("t", "api.create", "api:a"),
            )
            .unwrap();
        store
            .deploy(
                "a",
                &doc.body,
                1,
                Some("first"),
                &AuditEvent::now("t", "api.deploy", "api:a"),
            )
            .unwrap();
        store
            .add_token(
                &ci_token(),
                &AuditEvent::now("t", "token.create", "token:ci"),
            )
            .unwrap();
        store.generation().unwrap()
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.generation().unwrap(), generation);
    let doc = store.get(Kind::Api, "a").unwrap().unwrap();
    assert_eq!((doc.version, &doc.body["deployedRevision"]), (2, &json!(1)));
    assert_eq!(
        store.revision("a", 1).unwrap().unwrap().comment.as_deref(),
        Some("first")
    );
    assert_eq!(store.audit(Some("api:a"), 10).unwrap().len(), 2);
    assert_eq!(store.tokens().unwrap(), vec![ci_token()]);
}

fn ci_token() -> StoredToken {
    StoredToken {
        name: "ci".to_owned(),
        hash: "sha256:ab".to_owned(),
        created_at: Some(UNIX_EPOCH + Duration::from_millis(1_765_000_000_000)),
        expires_at: Some(UNIX_EPOCH + Duration::from_millis(1_900_000_000_000)),
        role: tidegate::config::TokenRole::Admin,
    }
}

/// What a tidegate before migration 2 wrote: schema version 1, a token with a name and a hash
/// only (the same SQL for SQLite and PostgreSQL).
const SCHEMA_1_WITH_A_TOKEN: &str = "CREATE TABLE tidegate_schema (version BIGINT NOT NULL);
     INSERT INTO tidegate_schema (version) VALUES (1);
     CREATE TABLE tidegate_tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL);
     INSERT INTO tidegate_tokens (name, hash) VALUES ('initial', 'sha256:cd');";

/// That token after the migrations: an administrator's, its creation time unknown, no expiry.
fn migrated_token() -> StoredToken {
    StoredToken {
        name: "initial".to_owned(),
        hash: "sha256:cd".to_owned(),
        created_at: None,
        expires_at: None,
        role: tidegate::config::TokenRole::Admin,
    }
}

#[test]
fn a_sqlite_file_from_before_token_times_and_roles_is_migrated_and_keeps_its_token() {
    // What a tidegate before migration 2 wrote: the token table with a name and a hash only.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection.execute_batch(SCHEMA_1_WITH_A_TOKEN).unwrap();
    drop(connection);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.tokens().unwrap(),
        vec![migrated_token()],
        "kept, an administrator's, its creation time unknown, with no expiry"
    );
    drop(store);
    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = connection
        .query_row("SELECT version FROM tidegate_schema", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 3, "migrated through token times and roles");
}

#[test]
fn sqlite_refuses_a_schema_newer_than_it_knows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(SqliteStore::open(&path).unwrap());
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute("UPDATE tidegate_schema SET version = 99", [])
        .unwrap();
    drop(connection);
    let error = SqliteStore::open(&path)
        .err()
        .expect("a newer schema is refused");
    assert!(
        matches!(&error, StoreError::Corrupt(text) if text.contains("version 99")),
        "{error:?}"
    );
}

#[test]
fn postgres_outage_is_unavailable_then_the_store_reconnects() {
    let mut postgres = Postgres::start();
    let store = PostgresStore::connect(&postgres.url(), None).unwrap();
    store
        .put(
            Kind::Application,
            "app",
            &json!({"id": "app"}),
            None,
            &AuditEvent::now("t", "application.create", "application:app"),
        )
        .unwrap();
    let generation = store.generation().unwrap();

    postgres.stop();
    assert!(matches!(
        store.generation(),
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.list(Kind::Api),
        Err(StoreError::Unavailable(_))
    ));

    postgres.resume();
    assert_eq!(
        store.generation().unwrap(),
        generation,
        "the data survived the restart"
    );
    assert_eq!(store.list(Kind::Application).unwrap().len(), 1);
}

#[test]
fn two_postgres_clients_see_each_others_writes_and_conflicts() {
    let postgres = Postgres::start();
    let one = PostgresStore::connect(&postgres.url(), None).unwrap();
    let two = PostgresStore::connect(&postgres.url(), None).unwrap();
    one.put(
        Kind::Api,
        "x",
        &json!({}),
        None,
        &AuditEvent::now("t", "api.create", "api:x"),
    )
    .unwrap();
    assert_eq!(two.generation().unwrap(), one.generation().unwrap());
    two.put(
        Kind::Api,
        "x",
        &json!({"n": 1}),
        Some(1),
        &AuditEvent::now("t", "api.update", "api:x"),
    )
    .unwrap();
    let error = one
        .put(
            Kind::Api,
            "x",
            &json!({"n": 2}),
            Some(1),
            &AuditEvent::now("t", "api.update", "api:x"),
        )
        .unwrap_err();
    assert_eq!(error, StoreError::Conflict { current: Some(2) });
}

#[test]
fn two_postgres_nodes_revoking_each_others_token_at_once_leave_one() {
    // Each node holds its own connection: the last-token guard must hold across them, since
    // it is checked in the transaction that removes (the generation row serializes writers).
    let postgres = Postgres::start();
    let one = PostgresStore::connect(&postgres.url(), None).unwrap();
    let two = PostgresStore::connect(&postgres.url(), None).unwrap();
    let never = |name: &str| StoredToken {
        name: name.to_owned(),
        hash: "sha256:ab".to_owned(),
        created_at: None,
        expires_at: None,
        role: tidegate::config::TokenRole::Admin,
    };
    for round in 0..20 {
        for name in ["a", "b"] {
            one.add_token(&never(name), &AuditEvent::now("t", "token.create", name))
                .unwrap();
        }
        let barrier = std::sync::Barrier::new(2);
        let now = std::time::SystemTime::now();
        let revoke = |store: &PostgresStore, name: &'static str| {
            barrier.wait();
            store.revoke_token(name, Some(now), &AuditEvent::now("t", "token.revoke", name))
        };
        let results = std::thread::scope(|scope| {
            let first = scope.spawn(|| revoke(&one, "a"));
            let second = scope.spawn(|| revoke(&two, "b"));
            [first.join().unwrap(), second.join().unwrap()]
        });
        let refused = results
            .iter()
            .filter(|result| **result == Err(StoreError::LastToken))
            .count();
        assert_eq!(refused, 1, "round {round}: {results:?}");
        let left = one.tokens().unwrap();
        assert_eq!(left.len(), 1, "round {round}");
        one.revoke_token(
            &left[0].name,
            None,
            &AuditEvent::now("t", "token.revoke", "x"),
        )
        .unwrap();
    }
}

#[test]
fn a_postgres_store_from_before_token_times_and_roles_is_migrated_and_keeps_its_token() {
    // What a tidegate before migration 2 left: schema version 1, a token with a hash only.
    let postgres = Postgres::start();
    let mut client = postgres::Client::connect(&postgres.url(), postgres::NoTls).unwrap();
    client.batch_execute(SCHEMA_1_WITH_A_TOKEN).unwrap();
    let store = PostgresStore::connect(&postgres.url(), None).unwrap();
    assert_eq!(store.tokens().unwrap(), vec![migrated_token()]);
    let version: i64 = client
        .query_one("SELECT version FROM tidegate_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 3, "migrated through token times and roles");
}
