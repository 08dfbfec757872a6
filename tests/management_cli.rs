//! The CLI against the real management API (issue 13 part 5): `tidegate apis …`,
//! `tidegate subscriptions …` and `tidegate tokens …` change the store as the REST calls do,
//! `--output json` prints the API's JSON, a wrong token or a closed port gets a message that
//! names what to fix; and `tidegate export` writes the store as a file `tidegate check` accepts.

mod common;

use std::process::{Command, Output};

use serde_json::{json, Value};
use tidegate::manage::api::Tokens;
use tidegate::manage::service::ApiStats;
use tidegate::manage::store::{AuditEvent, Kind, MemoryStore, SqliteStore, Store, StoredToken};

use common::managed_node::{create_and_deploy, mock_api};
use common::management::{start_on, start_with, TOKEN};

fn tidegate(args: &[&str], url: &str, token: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(args)
        .env("TIDEGATE_URL", url)
        .env("TIDEGATE_TOKEN", token)
        .env_remove("TIDEGATE_ENVIRONMENT")
        .output()
        .expect("run tidegate")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn deployed_revision(store: &dyn Store, id: &str) -> Value {
    store.get(Kind::Api, id).unwrap().unwrap().body["deployedRevision"].clone()
}

#[test]
fn apis_commands_drive_the_management_api() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    create_and_deploy(store.as_ref(), &mock_api("orders", "/orders"));
    let mgmt = start_on(store.clone(), Value::Null);
    let url = format!("http://{}", mgmt.addr);

    let table = stdout(&tidegate(&["apis", "list"], &url, TOKEN));
    assert!(table.starts_with("ID"), "{table}");
    let row = table.lines().nth(1).unwrap();
    for cell in ["orders", "started", "published", "1", "deployed"] {
        assert!(row.split_whitespace().any(|c| c == cell), "{cell} in {row}");
    }
    let json: Value = serde_json::from_str(&stdout(&tidegate(
        &["apis", "list", "--output", "json"],
        &url,
        TOKEN,
    )))
    .unwrap();
    assert_eq!(json["data"][0]["id"], json!("orders"));

    assert_eq!(
        stdout(&tidegate(&["apis", "stop", "orders"], &url, TOKEN)).trim(),
        "stopped orders"
    );
    assert_eq!(
        store.get(Kind::Api, "orders").unwrap().unwrap().body["state"],
        json!("stopped")
    );
    let answer: Value = serde_json::from_str(&stdout(&tidegate(
        &[
            "apis",
            "deploy",
            "orders",
            "--comment",
            "from the CLI",
            "-o",
            "json",
        ],
        &url,
        TOKEN,
    )))
    .unwrap();
    assert_eq!(answer["revision"], json!(2));
    assert_eq!(deployed_revision(store.as_ref(), "orders"), json!(2));
    assert_eq!(
        store
            .revision("orders", 2)
            .unwrap()
            .unwrap()
            .comment
            .as_deref(),
        Some("from the CLI")
    );
    stdout(&tidegate(&["apis", "start", "orders"], &url, TOKEN));
    let got: Value =
        serde_json::from_str(&stdout(&tidegate(&["apis", "get", "orders"], &url, TOKEN))).unwrap();
    assert_eq!(got["state"], json!("started"));

    // Refused by the API's rules: its message, exit 1.
    let refused = tidegate(&["apis", "delete", "orders"], &url, TOKEN);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("409"),
        "{refused:?}"
    );

    let subscriptions = stdout(&tidegate(&["subscriptions", "list", "orders"], &url, TOKEN));
    assert!(
        subscriptions.starts_with("ID  APPLICATION  PLAN  STATUS"),
        "{subscriptions}"
    );
}

#[test]
fn tokens_commands_rotate_the_store_token() {
    // As after a first start: the store's `initial` token is the only one.
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
    let first = "printed-at-first-start";
    let initial = StoredToken {
        name: "initial".to_owned(),
        hash: tidegate::security::api_key::hash(first.as_bytes()).to_config_text(),
        created_at: Some(std::time::SystemTime::now()),
        expires_at: None,
        role: tidegate::config::TokenRole::Admin,
    };
    store
        .add_token(
            &initial,
            &AuditEvent::now("gateway", "token.create", "token:initial"),
        )
        .unwrap();
    let mgmt = start_with(
        store.clone(),
        Value::Null,
        Box::new(|_: &str| ApiStats::default()),
        Tokens::new(&[], None),
        Default::default(),
    );
    let url = format!("http://{}", mgmt.addr);
    let created: Value = serde_json::from_str(&stdout(&tidegate(
        &["tokens", "create", "ops"],
        &url,
        first,
    )))
    .unwrap();
    let token = created["token"].as_str().expect("printed once").to_owned();
    assert_eq!(
        stdout(&tidegate(&["tokens", "revoke", "initial"], &url, &token)).trim(),
        "revoked initial"
    );
    stdout(&tidegate(
        &[
            "tokens",
            "create",
            "ci",
            "--expires-at",
            "2999-01-01T00:00:00Z",
            "--role",
            "viewer",
        ],
        &url,
        &token,
    ));
    let table = stdout(&tidegate(&["tokens", "list"], &url, &token));
    assert!(table.starts_with("NAME"), "{table}");
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].starts_with("ci ") && rows[0].contains("viewer") && rows[0].contains("2999-01-01"),
        "{table}"
    );
    assert!(
        rows[1].starts_with("ops ") && rows[1].contains("admin") && rows[1].contains("store"),
        "{table}"
    );
    let refused = tidegate(
        &["tokens", "create", "typo", "--role", "root"],
        &url,
        &token,
    );
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("`viewer`"),
        "{refused:?}"
    );
    stdout(&tidegate(&["tokens", "revoke", "ci"], &url, &token));
    // The printed token no longer works (a refused token: exit 2); the last one is kept.
    assert_eq!(
        tidegate(&["tokens", "list"], &url, first).status.code(),
        Some(2)
    );
    let refused = tidegate(&["tokens", "revoke", "ops"], &url, &token);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("create another first"),
        "{refused:?}"
    );
    assert_eq!(
        stdout(&tidegate(
            &["tokens", "revoke", "ops", "--force"],
            &url,
            &token
        ))
        .trim(),
        "revoked ops"
    );
    assert!(store.tokens().unwrap().is_empty());
}

#[test]
fn a_wrong_token_and_a_closed_port_say_what_to_fix() {
    let mgmt = start_on(
        std::sync::Arc::new(tidegate::manage::store::MemoryStore::new()),
        Value::Null,
    );
    let url = format!("http://{}", mgmt.addr);
    let output = tidegate(&["apis", "list"], &url, "not-the-token");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("refused the token (401)") && message.contains("TIDEGATE_TOKEN"),
        "{message}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}");
    let output = tidegate(&["apis", "list"], &url, TOKEN);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains(&format!("cannot reach the management API at {url}")),
        "{message}"
    );
}

#[test]
fn export_writes_a_file_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    {
        let store = SqliteStore::open(&db).unwrap();
        create_and_deploy(&store, &mock_api("orders", "/orders"));
        create_and_deploy(&store, &mock_api("stock", "/stock"));
    }
    let file = dir.path().join("node.yaml");
    std::fs::write(
        &file,
        format!(
            "gateway: {{ adminListen: off }}\napis: []\nmanagement:\n  store: {{ type: sqlite, path: '{}' }}\n  console: {{ enabled: false }}\n",
            db.display()
        ),
    )
    .unwrap();
    let exported = dir.path().join("export.yaml");
    let output = tidegate(
        &[
            "export",
            "-c",
            file.to_str().unwrap(),
            "-o",
            exported.to_str().unwrap(),
        ],
        "",
        "",
    );
    assert!(output.status.success(), "{output:?}");
    let config = tidegate::config::load_file(&exported).unwrap_or_else(|err| panic!("{err}"));
    let ids: Vec<&str> = config.apis.iter().map(|api| api.id.as_str()).collect();
    assert_eq!(ids, vec!["orders", "stock"]);
    let check = tidegate(&["check", exported.to_str().unwrap()], "", "");
    assert!(check.status.success(), "{check:?}");
}
