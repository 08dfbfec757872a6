//! Virtual hosts over real sockets: the same context path on two hosts reaches two APIs, a
//! host-less API serves any host, an unknown host for a host-bound path is 404, and `tidegate
//! check`'s problems for hosts are clear.

mod common;

use std::net::SocketAddr;

use common::*;
use tidegate::config::{self, DriverChoice};

const YAML: &str = r#"
apis:
  - id: eu
    name: eu
    contextPaths: [{ path: /events, host: eu.example.com }]
    entrypoints: [{ type: http-get, configuration: { messagesLimitDurationMs: 100 } }, { type: http-post }]
    endpoint: { type: in-memory, configuration: { topic: eu } }
    plans: [{ name: Keyless, security: keyless }]
  - id: us
    name: us
    contextPaths:
      - path: /events
        host: US.Example.com
      - { path: /events, host: "us.example.com:9443" }
    entrypoints: [{ type: http-get, configuration: { messagesLimitDurationMs: 100 } }, { type: http-post }]
    endpoint: { type: in-memory, configuration: { topic: us } }
    plans: [{ name: Keyless, security: keyless }]
  - id: any
    name: any
    contextPaths: [/, { path: /events/special, host: eu.example.com }]
    entrypoints: [{ type: http-get, configuration: { messagesLimitDurationMs: 100 } }, { type: http-post }]
    endpoint: { type: in-memory, configuration: { topic: any } }
    plans: [{ name: Keyless, security: keyless }]
"#;

/// Publishes `body` to `path` with `Host: host`; returns the status.
fn publish(addr: SocketAddr, host: &str, path: &str, body: &str) -> u16 {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw(addr, request.as_bytes()).status
}

/// The retained messages' text under `path` for `Host: host`.
fn read(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let request = format!(
        "GET {path}?cursor=0 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    let response = raw(addr, request.as_bytes());
    (response.status, response.text())
}

fn the_host_picks_the_api(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let addr = gateway.local_addr();
    assert_eq!(publish(addr, "eu.example.com", "/events", "to-eu"), 202);
    // Case-insensitive, port ignored when the config gives none.
    assert_eq!(
        publish(addr, "US.EXAMPLE.COM:8082", "/events", "to-us"),
        202
    );
    assert_eq!(
        publish(addr, "us.example.com:9443", "/events", "to-us-port"),
        202
    );
    // An unknown host: the host-less `/` API takes it.
    assert_eq!(publish(addr, "other.example", "/events", "to-any"), 202);
    // A longer host-bound path wins for its host.
    assert_eq!(
        publish(addr, "eu.example.com", "/events/special", "special"),
        202
    );

    let (status, eu) = read(addr, "eu.example.com", "/events");
    assert_eq!(status, 200);
    assert!(
        eu.contains("to-eu") && !eu.contains("to-us") && !eu.contains("to-any"),
        "{eu}"
    );
    let (_, us) = read(addr, "us.example.com", "/events");
    assert!(
        us.contains("to-us") && us.contains("to-us-port") && !us.contains("to-eu"),
        "{us}"
    );
    let (_, any) = read(addr, "whatever", "/events");
    assert!(
        any.contains("to-any") && any.contains("special") && !any.contains("to-eu"),
        "{any}"
    );
}
on_both_drivers!(by_host, the_host_picks_the_api);

/// Without a host-less API, a host-bound path under another host is 404.
fn an_unknown_host_is_404(driver: DriverChoice) {
    let only_bound = YAML.split("  - id: any").next().unwrap();
    let gateway = start(test_config(only_bound, driver));
    let addr = gateway.local_addr();
    for host in [
        "other.example",
        "eu.example.com.evil",
        "eu.example.co",
        "[::1]",
    ] {
        let (status, body) = read(addr, host, "/events");
        assert_eq!(status, 404, "{host}: {body}");
        assert!(body.contains("No context-path matches"), "{body}");
    }
    // HTTP/1.0 may omit Host: only host-less paths could serve it.
    let old = raw(addr, b"GET /events HTTP/1.0\r\n\r\n");
    assert_eq!(old.status, 404);
    assert_eq!(read(addr, "eu.example.com", "/events").0, 200);
}
on_both_drivers!(unknown_host, an_unknown_host_is_404);

#[test]
fn host_problems_are_reported_clearly() {
    let text = r#"
apis:
  - id: a
    name: a
    contextPaths:
      - { path: /x, host: "https://a.example.com" }
      - { path: /y, host: "a.example.com:99999" }
      - { path: /z, host: a.example.com }
    entrypoints: [{ type: http-get }]
    endpoint: { type: mock }
    plans: [{ name: K, security: keyless }]
  - id: b
    name: b
    contextPaths: [{ path: /z, host: A.example.com }, /z]
    entrypoints: [{ type: http-get }]
    endpoint: { type: mock }
    plans: [{ name: K, security: keyless }]
"#;
    let error = config::load_str(text, "t.yaml").unwrap_err().to_string();
    assert!(
        error.contains("apis[0].contextPaths[0].host: 'https://a.example.com' is not a host name"),
        "{error}"
    );
    assert!(
        error.contains("apis[0].contextPaths[1].host: 'a.example.com:99999' has a port"),
        "{error}"
    );
    assert!(
        error.contains(
            "apis[1].contextPaths[0]: context path 'a.example.com/z' is used by two APIs"
        ),
        "{error}"
    );
    // The same path host-less and on a host is no conflict.
    assert_eq!(error.lines().count(), 3, "{error}");
}
