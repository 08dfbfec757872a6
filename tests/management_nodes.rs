//! Gateway nodes that follow a management store (issue 13 part 4): two nodes on one PostgreSQL
//! both apply a deployment written to the store; a node keeps serving through a store outage and
//! catches up when it is back; a restart on the SQLite file keeps everything; an empty store is
//! seeded from the file once.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tidegate::manage::store::{AuditEvent, Kind, PostgresStore, SqliteStore, Store};

use common::managed_node::{
    create_and_deploy, mock_api, node_yaml, postgres_store, sqlite_store, start_node,
};
use common::postgres::Postgres;
use common::{eventually, get};

const WAIT: Duration = Duration::from_secs(20);

fn status(addr: SocketAddr, path: &str) -> u16 {
    get(addr, path, &[]).status
}

fn serves(addr: SocketAddr, path: &str) -> bool {
    eventually(WAIT, || status(addr, path) == 200)
}

#[test]
fn two_nodes_on_one_postgres_both_apply_a_deployment() {
    let postgres = Postgres::start();
    let yaml = node_yaml(&postgres_store(&postgres.url()), "[]");
    let one = start_node(&yaml);
    let two = start_node(&yaml);
    assert_eq!(status(one.addr, "/orders"), 404);
    assert_eq!(status(two.addr, "/orders"), 404);

    let store = PostgresStore::connect(&postgres.url(), None).unwrap();
    create_and_deploy(&store, &mock_api("orders", "/orders"));
    assert!(
        serves(one.addr, "/orders"),
        "node one applied the deployment"
    );
    assert!(
        serves(two.addr, "/orders"),
        "node two applied the deployment"
    );

    // Stopping it in the store stops it on both nodes.
    let doc = store.get(Kind::Api, "orders").unwrap().unwrap();
    let mut body = doc.body.clone();
    body["state"] = json!("stopped");
    store
        .put(
            Kind::Api,
            "orders",
            &body,
            Some(doc.version),
            &AuditEvent::now("test", "api.stop", "api:orders"),
        )
        .unwrap();
    assert!(eventually(WAIT, || status(one.addr, "/orders") == 404));
    assert!(eventually(WAIT, || status(two.addr, "/orders") == 404));
    one.stop();
    two.stop();
}

#[test]
fn a_node_keeps_serving_through_a_store_outage_and_catches_up() {
    let mut postgres = Postgres::start();
    let yaml = node_yaml(&postgres_store(&postgres.url()), "[]");
    let node = start_node(&yaml);
    let store = PostgresStore::connect(&postgres.url(), None).unwrap();
    create_and_deploy(&store, &mock_api("before", "/before"));
    assert!(serves(node.addr, "/before"));
    assert_eq!(node.store_up(), 1);

    postgres.stop();
    assert!(
        eventually(WAIT, || node.store_up() == 0),
        "the outage is seen"
    );
    assert_eq!(
        status(node.addr, "/before"),
        200,
        "what was deployed is still served"
    );

    postgres.resume();
    create_and_deploy(&store, &mock_api("after", "/after"));
    assert!(serves(node.addr, "/after"), "the node caught up");
    assert_eq!(node.store_up(), 1);
    assert_eq!(status(node.addr, "/before"), 200);
    node.stop();
}

#[test]
fn a_restart_on_the_sqlite_file_keeps_everything_and_seeds_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tidegate.db");
    let seeded = serde_json::to_string(&[mock_api("seeded", "/seeded")]).unwrap();
    let yaml = node_yaml(&sqlite_store(&path), &seeded);

    let node = start_node(&yaml);
    assert_eq!(
        status(node.addr, "/seeded"),
        200,
        "the empty store was seeded from the file"
    );
    {
        let store = SqliteStore::open(&path).unwrap();
        let revisions = store.revisions("seeded").unwrap();
        assert_eq!(revisions.len(), 1, "seeded APIs are deployed as revision 1");
        create_and_deploy(&store, &mock_api("added", "/added"));
        // Deleting the seeded API: a restart must not bring it back from the file.
        let doc = store.get(Kind::Api, "seeded").unwrap().unwrap();
        store
            .delete(
                Kind::Api,
                "seeded",
                doc.version,
                &AuditEvent::now("test", "api.delete", "api:seeded"),
            )
            .unwrap();
    }
    assert!(serves(node.addr, "/added"));
    assert!(eventually(WAIT, || status(node.addr, "/seeded") == 404));
    node.stop();

    let node = start_node(&yaml);
    assert_eq!(
        status(node.addr, "/added"),
        200,
        "the restarted node runs the stored API"
    );
    assert_eq!(
        status(node.addr, "/seeded"),
        404,
        "the file seeds an empty store only"
    );
    node.stop();
}
