//! A whole management node in process, for the console's browser tests: the gateway (empty API
//! set), a memory store, the management service and API, the console serving that API on its
//! own origin, and the store followed onto the gateway.
//!
//! `follow` stands in for the store follower (src/manage/follower.rs) until it is in this
//! branch: it builds the configuration the follower builds — the gateway section, every
//! deployed API's deployed revision with the runtime state of its document, applications and
//! subscriptions — and applies it with `Gateway::apply`, each time the store generation moved.

use std::cell::Cell;
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tidegate::config::{self, DriverChoice};
use tidegate::console::Console;
use tidegate::manage::api::{ManagementApi, ManagementOptions, Tokens};
use tidegate::manage::service::{ApiStats, Service};
use tidegate::manage::store::{AuditEvent, Kind, MemoryStore, Store, StoredToken};
use tidegate::runtime::Gateway;

/// The admin token the console signs in with.
pub const TOKEN: &str = "console-test-token";
/// How long the gateway may take to serve (or stop serving) what the store says.
const FOLLOW_DEADLINE: Duration = Duration::from_secs(60);

/// The node; dropping it stops everything.
pub struct ConsoleStack {
    pub gateway: Gateway,
    pub store: Arc<dyn Store>,
    pub management: ManagementApi,
    pub console: Console,
    /// The store generation last applied to the gateway.
    applied: Cell<Option<u64>>,
}

/// The gateway section every configuration of the node has (validated and applied alike).
fn gateway_section() -> Value {
    json!({ "listen": "127.0.0.1:0" })
}

impl ConsoleStack {
    /// With `TOKEN` configured (as `TIDEGATE_MANAGEMENT_TOKEN` would be).
    pub fn start() -> ConsoleStack {
        ConsoleStack::start_with(false)
    }

    /// With `TOKEN` in the store as `initial`, as after a first start that printed it: the
    /// store's tokens authenticate and can be created and revoked.
    pub fn start_with_store_token() -> ConsoleStack {
        ConsoleStack::start_with(true)
    }

    fn start_with(token_in_store: bool) -> ConsoleStack {
        let yaml = json!({ "gateway": gateway_section(), "apis": [] }).to_string();
        // one driver: the console tests drive the management plane, not shard I/O.
        let gateway = super::start(super::test_config(&yaml, DriverChoice::Epoll));
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        if token_in_store {
            let initial = StoredToken {
                name: "initial".to_owned(),
                hash: tidegate::security::api_key::hash(TOKEN.as_bytes()).to_config_text(),
                created_at: Some(std::time::SystemTime::now()),
                expires_at: None,
                role: tidegate::config::TokenRole::Admin,
            };
            let audit = AuditEvent::now("gateway", "token.create", "token:initial");
            store
                .add_token(&initial, &audit)
                .expect("the first token is stored");
        }
        let service = Service::new(
            store.clone(),
            gateway_section(),
            Box::new(|_: &str| ApiStats::default()),
        );
        let options = ManagementOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            environment: "DEFAULT".to_owned(),
            tokens: if token_in_store {
                Tokens::new(&[], None)
            } else {
                Tokens::new(&[], Some(TOKEN))
            },
            portal: Default::default(),
        };
        let management = ManagementApi::start(options, Arc::new(service)).expect("management API");
        let console = Console::start("127.0.0.1:0".parse().unwrap(), Some(management.handler()))
            .expect("console");
        ConsoleStack {
            gateway,
            store,
            management,
            console,
            applied: Cell::new(None),
        }
    }

    /// The console's page.
    pub fn console_url(&self) -> String {
        format!("http://{}/", self.console.local_addr())
    }

    /// The stored definition of API `id`.
    pub fn api_definition(&self, id: &str) -> Value {
        let doc = self
            .store
            .get(Kind::Api, id)
            .unwrap()
            .expect("the API is stored");
        doc.body["definition"].clone()
    }

    /// Applies the store to the gateway when its generation moved (the follower's job).
    pub fn follow(&self) {
        let generation = self.store.generation().unwrap();
        if self.applied.get() == Some(generation) {
            return;
        }
        let mut apis = Vec::new();
        for doc in self.store.list(Kind::Api).unwrap() {
            let Some(number) = doc.body["deployedRevision"].as_u64() else {
                continue;
            };
            let revision = self.store.revision(&doc.id, number).unwrap().unwrap();
            let mut definition = revision.definition;
            definition["state"] = doc.body["state"].clone();
            apis.push(definition);
        }
        let bodies = |kind| -> Vec<Value> {
            self.store
                .list(kind)
                .unwrap()
                .into_iter()
                .map(|doc| doc.body)
                .collect()
        };
        let desired = json!({
            "gateway": gateway_section(),
            "apis": apis,
            "applications": bodies(Kind::Application),
            "subscriptions": bodies(Kind::Subscription),
        });
        let config = config::load_str(&desired.to_string(), "store").expect("valid store");
        // one driver: the console tests drive the management plane, not shard I/O.
        let config = super::on_loopback(config, DriverChoice::Epoll);
        self.gateway
            .apply(config)
            .expect("the gateway takes the store");
        self.applied.set(Some(generation));
    }

    /// GETs `path` on the gateway (following the store meanwhile) until it answers 200; its
    /// JSON batch.
    pub fn eventually_served(&self, path: &str) -> Value {
        let response = self.eventually_status(path, 200);
        response.json()
    }

    /// GETs `path` on the gateway (following the store meanwhile) until it answers `status`.
    pub fn eventually_status(&self, path: &str, status: u16) -> super::Response {
        let deadline = Instant::now() + FOLLOW_DEADLINE;
        loop {
            self.follow();
            let response = get_json(self.gateway.local_addr(), path);
            if response.status == status {
                return response;
            }
            assert!(
                Instant::now() < deadline,
                "{path} still answers {} (wanted {status}): {}",
                response.status,
                response.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A plain HTTP client's GET asking for JSON, as curl would.
fn get_json(addr: SocketAddr, path: &str) -> super::Response {
    let mut stream = super::connect(addr);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: gateway\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    super::read_response(&mut BufReader::new(stream))
}
