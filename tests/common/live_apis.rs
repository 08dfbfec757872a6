//! APIs for the live-apply tests (`tests/live_apply*.rs`): each over an in-memory topic, built
//! from an id, a context path and its entrypoint types, so a test can deploy, change and remove
//! them by rewriting the configuration it applies.

use std::net::SocketAddr;
use std::time::Duration;

use tidegate::config::{self, Config, DriverChoice};
use tidegate::runtime::Gateway;

use super::on_loopback;

/// How long a test waits for something the gateway does on its own.
pub const WAIT: Duration = Duration::from_secs(20);

/// One API `id` on `/id` over the in-memory topic `topic`, with the entrypoint `types` (any of
/// `http-get`, `http-post`, `sse`, `websocket`), started or not. Its GETs wait up to a minute
/// for messages (a pending GET is still pending when a test stops the API).
pub fn api(id: &str, topic: &str, types: &[&str], started: bool) -> String {
    let mut entrypoints = String::new();
    for kind in types {
        let options = match *kind {
            // A long poll: a pending GET is still pending when the test stops the API.
            "http-get" => "\n        configuration: { messagesLimitCount: 100, messagesLimitDurationMs: 60000 }",
            "websocket" => "\n        configuration: { publisher: { enabled: false } }",
            _ => "",
        };
        entrypoints.push_str(&format!("      - type: {kind}{options}\n"));
    }
    let state = if started { "started" } else { "stopped" };
    format!(
        r#"  - id: {id}
    name: {id}
    contextPaths: [/{id}]
    state: {state}
    entrypoints:
{entrypoints}    endpoint:
      type: in-memory
      configuration:
        topic: {topic}
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// A configuration of `apis` (each from [`api`]) on loopback, two shards on `driver`.
pub fn config_of(apis: &[String], driver: DriverChoice) -> Config {
    let yaml = format!("apis:\n{}", apis.concat());
    let config =
        config::load_str(&yaml, "test").unwrap_or_else(|err| panic!("test config invalid:\n{err}"));
    on_loopback(config, driver)
}

/// `config` as the running `gateway` would take it: its own listen addresses (port 0 was bound to
/// real ports at start, and a `gateway:` change would need a restart).
pub fn for_running(gateway: &Gateway, mut config: Config) -> Config {
    config.gateway = gateway.applied_config().gateway;
    config
}

/// The status of an `OPTIONS` request for `path`: 204 when a started API serves it, 404 when
/// none does (answered at once, unlike a GET that would wait for messages).
pub fn status(addr: SocketAddr, path: &str) -> u16 {
    let request = format!("OPTIONS {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    super::raw(addr, request.as_bytes()).status
}
