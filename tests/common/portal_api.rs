//! A management API with chosen developer-portal bounds (`management.portal`), an API the portal
//! offers (published, public, with an auto-validated API key plan), and the anonymous
//! subscription request a portal visitor sends.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use tidegate::config::PortalConfig;
use tidegate::manage::api::Tokens;
use tidegate::manage::service::ApiStats;
use tidegate::manage::store::MemoryStore;

use super::management::{self, expect, Mgmt, TOKEN};
use super::{raw, Response};

/// A management API over a fresh memory store with `portal`'s bounds.
pub fn start(portal: PortalConfig) -> Mgmt {
    management::start_with(
        Arc::new(MemoryStore::new()),
        Value::Null,
        Box::new(|_: &str| ApiStats::default()),
        Tokens::new(&[], Some(TOKEN)),
        portal,
    )
}

/// Creates, deploys, publishes and makes public API `id` with the API key plan `gold`.
pub fn offer_api(mgmt: &Mgmt, id: &str) {
    let definition = json!({
        "id": id, "name": id, "contextPaths": [format!("/{id}")],
        "entrypoints": [{"type": "http-get"}],
        "endpoint": {"type": "mock"},
        "plans": [{"id": "gold", "name": "Gold", "security": "api-key"}],
    });
    expect(
        &mgmt.call("POST", "/apis", Some(&json!({ "definition": definition }))),
        201,
    );
    expect(
        &mgmt.call("POST", &format!("/apis/{id}/deployments"), Some(&json!({}))),
        202,
    );
    for action in ["_publish", "_make-public"] {
        expect(
            &mgmt.call("POST", &format!("/apis/{id}/{action}"), None),
            204,
        );
    }
}

/// The portal's subscription request to plan `gold` of `api`, without a token.
pub fn subscribe(addr: SocketAddr, api: &str, application: &str) -> Response {
    let body = json!({ "application": application, "plan": "gold" }).to_string();
    let request = format!(
        "POST /portal/v1/apis/{api}/subscriptions HTTP/1.1\r\nHost: portal\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw(addr, request.as_bytes())
}
