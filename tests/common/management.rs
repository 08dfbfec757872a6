//! A management API in process, over a store the test holds, and a client that speaks to it the
//! way curl would: JSON bodies, a bearer token, one request per connection.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tidegate::config::PortalConfig;
use tidegate::manage::api::{ManagementApi, ManagementOptions, Tokens};
use tidegate::manage::service::{ApiStats, Service, StatsSource};
use tidegate::manage::store::{MemoryStore, Store};

use super::{raw, Response};

/// The token the test API accepts (`TIDEGATE_MANAGEMENT_TOKEN`-style, in clear).
pub const TOKEN: &str = "test-admin-token";
pub const BASE: &str = "/management/v2/environments/DEFAULT";

/// A running management API and its store.
pub struct Mgmt {
    pub api: ManagementApi,
    pub store: Arc<dyn Store>,
    /// The service behind the API (what the console's portal pages call).
    pub service: Arc<Service>,
    pub addr: SocketAddr,
}

/// Starts the management API on 127.0.0.1:0 over a fresh memory store; `gateway` is the file's
/// `gateway:` section every definition is validated with.
pub fn start(gateway: Value) -> Mgmt {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    start_on(store, gateway)
}

/// As `start`, over `store`.
pub fn start_on(store: Arc<dyn Store>, gateway: Value) -> Mgmt {
    start_with_stats(store, gateway, Box::new(|_: &str| ApiStats::default()))
}

/// As `start_on`, with the per-API numbers of `stats`.
pub fn start_with_stats(store: Arc<dyn Store>, gateway: Value, stats: Box<StatsSource>) -> Mgmt {
    start_with(
        store,
        gateway,
        stats,
        Tokens::new(&[], Some(TOKEN)),
        PortalConfig::default(),
    )
}

/// As `start_with_stats`, with exactly `tokens` and the developer portal's bounds `portal`.
pub fn start_with(
    store: Arc<dyn Store>,
    gateway: Value,
    stats: Box<StatsSource>,
    tokens: Tokens,
    portal: PortalConfig,
) -> Mgmt {
    let service = Arc::new(Service::new(store.clone(), gateway, stats));
    let options = ManagementOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        environment: "DEFAULT".to_owned(),
        tokens,
        portal,
    };
    let api = ManagementApi::start(options, service.clone()).expect("management API starts");
    let addr = api.local_addr();
    Mgmt {
        api,
        store,
        service,
        addr,
    }
}

impl Mgmt {
    /// `method BASE+path` with the test token and `body` as JSON.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        self.call_with(
            method,
            path,
            body,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
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
        let mut request = format!("{method} {BASE}{path} HTTP/1.1\r\nHost: mgmt\r\n");
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
        raw(self.addr, request.as_bytes())
    }

    /// The store's generation (bumped by every write).
    pub fn generation(&self) -> u64 {
        self.store.generation().unwrap()
    }
}

/// Asserts `response` has `status`, showing its body otherwise.
pub fn expect(response: &Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.text());
}

/// Asserts a JSON error answer with `status` and `code`.
pub fn expect_error(response: &Response, status: u16, code: &str) {
    expect(response, status);
    let body = response.json();
    assert_eq!(body["httpStatus"], status, "{body}");
    assert_eq!(body["technicalCode"], code, "{body}");
}
