//! A gateway node in management mode, in process: the file's YAML, the store it names, the
//! gateway started on the store's content and its follower (`tidegate::manage::node`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tidegate::config;
use tidegate::manage::node::{gateway_applier, prepare, ManagedNode};
use tidegate::manage::store::{target, AuditEvent, Kind, Store};
use tidegate::runtime::Gateway;

/// One node: its gateway (shared with the follower) and its management side.
pub struct Node {
    pub managed: Option<ManagedNode>,
    pub gateway: Arc<Mutex<Gateway>>,
    pub addr: SocketAddr,
}

/// The file of a node on one shard on loopback, with `store` (the YAML of `management.store`),
/// polling every 100 ms, and `apis` (YAML list text) to seed an empty store with.
pub fn node_yaml(store: &str, apis: &str) -> String {
    format!(
        "gateway: {{ listen: 127.0.0.1:0, adminListen: off, shards: 1 }}\napis: {apis}\nmanagement:\n  listen: 127.0.0.1:0\n  store: {store}\n  console: {{ enabled: false }}\n"
    )
}

/// `node_yaml`'s store text for PostgreSQL at `url`.
pub fn postgres_store(url: &str) -> String {
    format!("{{ type: postgresql, url: '{url}', pollIntervalMs: 100 }}")
}

/// `node_yaml`'s store text for the SQLite file at `path`.
pub fn sqlite_store(path: &std::path::Path) -> String {
    format!(
        "{{ type: sqlite, path: '{}', pollIntervalMs: 100 }}",
        path.display()
    )
}

/// Starts a node from its file's `yaml` (without the management API: the tests write to the
/// store directly).
pub fn start_node(yaml: &str) -> Node {
    let file = config::load_str(yaml, "node").unwrap_or_else(|err| panic!("{err}"));
    let tree = config::raw_tree(yaml, "node").unwrap();
    let prepared = prepare(&file, &tree).unwrap_or_else(|err| panic!("{err}"));
    // one driver: these test the management plane (store, follower) on `auto`, what a node runs.
    let gateway = Gateway::start(prepared.config.clone()).expect("gateway starts");
    let addr = gateway.local_addr();
    let gateway = Arc::new(Mutex::new(gateway));
    let managed = ManagedNode::start(prepared, gateway_applier(gateway.clone()), None)
        .expect("follower starts");
    Node {
        managed: Some(managed),
        gateway,
        addr,
    }
}

impl Node {
    /// Stops the follower, then the gateway.
    pub fn stop(mut self) {
        drop(self.managed.take());
        if let Ok(gateway) = Arc::try_unwrap(self.gateway) {
            gateway
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .shutdown();
        }
    }

    /// `tidegate_management_store_up` of this node's follower.
    pub fn store_up(&self) -> u64 {
        let managed = self.managed.as_ref().unwrap();
        managed
            .metrics()
            .store_up
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A Mock API on `path` (id `id`), keyless, as one `apis[]` entry.
pub fn mock_api(id: &str, path: &str) -> Value {
    json!({
        "id": id,
        "name": id,
        "contextPaths": [path],
        "entrypoints": [{"type": "http-get", "configuration": {"messagesLimitCount": 5, "messagesLimitDurationMs": 200}}],
        "endpoint": {"type": "mock", "configuration": {"messageInterval": 10, "messageContent": "hi"}},
        "plans": [{"name": "Keyless", "security": "keyless"}],
    })
}

/// Writes `definition` to `store` as a new API and deploys it, started (as the management API
/// does on create + deploy).
pub fn create_and_deploy(store: &dyn Store, definition: &Value) {
    let id = definition["id"].as_str().unwrap();
    let body = json!({
        "definition": definition,
        "lifecycleState": "published",
        "visibility": "public",
        "state": "started",
        "deployedRevision": null,
    });
    let created = store
        .put(
            Kind::Api,
            id,
            &body,
            None,
            &AuditEvent::now("test", "api.create", &target(Kind::Api, id)),
        )
        .unwrap();
    store
        .deploy(
            id,
            &body,
            created.version,
            None,
            &AuditEvent::now("test", "api.deploy", &target(Kind::Api, id)),
        )
        .unwrap();
}
