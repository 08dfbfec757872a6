//! A managed node as `tidegate run` starts it, in process: its SQLite store in a temp dir, the
//! gateway (two shards) started on the store's content, the follower, and the management API on
//! its own listener, authenticated by a configured token (`management.tokens`, by hash). A test
//! drives it through the REST API only and watches the gateway over real sockets.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tidegate::config;
use tidegate::manage::node::{gateway_applier, prepare, ManagedNode};
use tidegate::manage::service::ApiStats;
use tidegate::manage::store::Store;
use tidegate::runtime::Gateway;
use tidegate::security::api_key;

use super::managed_node::{sqlite_store, Node};
use super::{eventually, raw, Response};

/// The administrator token the node's file holds the hash of.
pub const TOKEN: &str = "lifecycle-admin-token";
/// The name it is configured under (the audit log's actor).
pub const TOKEN_NAME: &str = "ci";
/// The management API's prefix for the default environment.
pub const BASE: &str = "/management/v2/environments/DEFAULT";
/// How long the follower may take to put a store change on the gateway (it polls every 100 ms;
/// CI machines are slow and shared).
pub const FOLLOW: Duration = Duration::from_secs(30);

/// The running node; `stop` ends it.
pub struct ServedNode {
    pub node: Node,
    pub store: Arc<dyn Store>,
    /// The management API's address.
    pub mgmt: SocketAddr,
    /// The gateway's address.
    pub gateway: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Starts a node with no API, on a fresh SQLite store.
pub fn start() -> ServedNode {
    start_with("")
}

/// `start` with more keys in the file's `gateway:` mapping (`gateway_extra`, flow style, each
/// preceded by a comma: `, webhook: { allowedNetworks: [127.0.0.0/8] }`).
pub fn start_with(gateway_extra: &str) -> ServedNode {
    let dir = tempfile::tempdir().unwrap();
    let hash = api_key::hash(TOKEN.as_bytes()).to_config_text();
    let yaml = format!(
        "gateway: {{ listen: 127.0.0.1:0, adminListen: off, shards: 2{gateway_extra} }}\napis: []\nmanagement:\n  listen: 127.0.0.1:0\n  store: {}\n  tokens: [ {{ name: {TOKEN_NAME}, hash: '{hash}' }} ]\n  console: {{ enabled: false }}\n",
        sqlite_store(&dir.path().join("store.db"))
    );
    let file = config::load_str(&yaml, "node").unwrap_or_else(|err| panic!("{err}"));
    let tree = config::raw_tree(&yaml, "node").unwrap();
    let prepared = prepare(&file, &tree).unwrap_or_else(|err| panic!("{err}"));
    let store = prepared.store.clone();
    // one driver: these test the management plane (API, follower) on `auto`, what a node runs.
    let gateway = Gateway::start(prepared.config.clone()).expect("gateway starts");
    let addr = gateway.local_addr();
    let gateway = Arc::new(std::sync::Mutex::new(gateway));
    let stats = Box::new(|_: &str| ApiStats::default());
    let managed = ManagedNode::start(prepared, gateway_applier(gateway.clone()), Some(stats))
        .expect("follower and management API start");
    let mgmt = managed
        .api()
        .expect("the management API is served")
        .local_addr();
    ServedNode {
        node: Node {
            managed: Some(managed),
            gateway,
            addr,
        },
        store,
        mgmt,
        gateway: addr,
        _dir: dir,
    }
}

impl ServedNode {
    /// `method BASE+path` with the node's token and `body` as JSON.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let bearer = format!("Bearer {TOKEN}");
        self.call_with(method, path, body, &[("Authorization", &bearer)])
    }

    /// `method BASE+path` with exactly the `headers` given (plus Host and the body's).
    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request =
            format!("{method} {BASE}{path} HTTP/1.1\r\nHost: mgmt\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        raw(self.mgmt, request.as_bytes())
    }

    /// The store's generation (bumped by every write).
    pub fn generation(&self) -> u64 {
        self.store.generation().unwrap()
    }

    /// Waits until the follower has put the store's current content on the gateway (its
    /// `generation_applied` reached the store's generation), so that what the gateway answers
    /// next is what the store says, not a state from before the last change.
    pub fn caught_up(&self) {
        let wanted = self.generation();
        let metrics = self.node.managed.as_ref().unwrap().metrics().clone();
        assert!(
            eventually(FOLLOW, || metrics
                .generation_applied
                .load(Ordering::Relaxed)
                >= wanted),
            "the follower never applied generation {wanted} (it runs {})",
            metrics.generation_applied.load(Ordering::Relaxed)
        );
    }

    /// Store contents the follower could not apply (refused by validation or the gateway).
    pub fn apply_failures(&self) -> u64 {
        let managed = self.node.managed.as_ref().unwrap();
        managed
            .metrics()
            .apply_failures_total
            .load(Ordering::Relaxed)
    }

    /// Stops the management API and follower, then the gateway.
    pub fn stop(self) {
        self.node.stop();
    }
}
