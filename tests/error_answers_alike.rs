//! The same error gets the same answer on every entrypoint (`tidegate::error`, docs/errors.md):
//! a malformed cursor is 400 with the same text on GET, SSE (`?cursor=` and `Last-Event-ID`) and
//! the WebSocket upgrade, with no `Retry-After`; an endpoint whose broker is not there is 503 with
//! `Retry-After` on GET, SSE, the WebSocket upgrade and POST (POST used to leave `Retry-After`
//! out), and a WebSocket publish to it closes with 1013 and the reason POST is given. Each
//! occurrence is counted in `tidegate_errors_total{fault, kind}`.

mod common;

use std::net::SocketAddr;

use common::admin::metrics_text;
use common::ws_client::{close_frame, ws_open};
use common::*;
use tidegate::config::DriverChoice;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const YAML: &str = r#"
apis:
  - id: memory
    name: In-memory
    contextPaths: [/mem]
    entrypoints:
      - type: http-get
      - type: sse
      - type: websocket
        configuration: { publisher: { enabled: false } }
    endpoint:
      type: in-memory
      configuration: { topic: alike }
    plans:
      - name: Keyless
        security: keyless
  - id: kafka-down
    name: Kafka without brokers
    contextPaths: [/k]
    entrypoints:
      - type: http-get
      - type: sse
      - type: websocket
        configuration: { publisher: { enabled: false } }
    endpoint:
      type: kafka
      configuration:
        bootstrapServers: 127.0.0.1:1
        consumer: { enabled: true, topics: [t] }
    plans:
      - name: Keyless
        security: keyless
  - id: mqtt-down
    name: MQTT without a broker
    contextPaths: [/m]
    entrypoints:
      - type: http-post
      - type: websocket
        configuration:
          publisher: { enabled: true }
          subscriber: { enabled: false }
    endpoint:
      type: mqtt5
      configuration:
        serverHost: 127.0.0.1
        serverPort: 1
        reconnectBackoffMs: 100
        reconnectBackoffMaxMs: 500
        producer: { topic: t }
    plans:
      - name: Keyless
        security: keyless
"#;

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// One request on a fresh connection: `GET {target}` with `extra` header lines.
fn request(addr: SocketAddr, target: &str, extra: &str) -> Response {
    let text = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n");
    raw(addr, text.as_bytes())
}

/// The answers of GET, SSE (by `?cursor=` and by `Last-Event-ID`) and a WebSocket upgrade to
/// `path` resuming from `cursor`.
fn every_entrypoint(addr: SocketAddr, path: &str, cursor: &str) -> Vec<(&'static str, Response)> {
    let sse = "Accept: text/event-stream\r\n";
    vec![
        ("GET", request(addr, &format!("{path}?cursor={cursor}"), "")),
        (
            "SSE ?cursor=",
            request(addr, &format!("{path}?cursor={cursor}"), sse),
        ),
        (
            "SSE Last-Event-ID",
            request(addr, path, &format!("{sse}Last-Event-ID: {cursor}\r\n")),
        ),
        (
            "WebSocket",
            request(addr, &format!("{path}?cursor={cursor}"), UPGRADE),
        ),
    ]
}

/// `tidegate_errors_total` for `fault` and `kind`, summed over the shards.
fn errors_total(admin: SocketAddr, fault: &str, kind: &str) -> u64 {
    let labels = format!("fault=\"{fault}\",kind=\"{kind}\"}} ");
    metrics_text(admin)
        .lines()
        .filter(|line| line.starts_with("tidegate_errors_total{"))
        .filter_map(|line| line.split_once(&labels).map(|(_, value)| value))
        .map(|value| value.trim().parse::<u64>().expect("a count"))
        .sum()
}

fn a_malformed_cursor_is_400_alike(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let (addr, admin) = (gateway.local_addr(), gateway.admin_addr().unwrap());
    let answers = every_entrypoint(addr, "/mem", "nope");
    let expected = answers[0].1.text();
    assert!(expected.contains("invalid cursor 'nope'"), "{expected}");
    for (entrypoint, response) in &answers {
        assert_eq!(response.status, 400, "{entrypoint}: {}", response.text());
        assert_eq!(response.text(), expected, "{entrypoint}: the same words");
        assert_eq!(response.header("retry-after"), None, "{entrypoint}");
        assert!(response.header("x-request-id").is_some(), "{entrypoint}");
    }
    assert!(
        errors_total(admin, "client", "invalid_cursor") >= 4,
        "every refusal is counted as the client's"
    );
}
on_both_drivers!(malformed_cursor, a_malformed_cursor_is_400_alike);

fn a_missing_broker_is_503_with_retry_after_alike(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let (addr, admin) = (gateway.local_addr(), gateway.admin_addr().unwrap());
    let mut answers = every_entrypoint(addr, "/k", "t:0:3");
    answers.push(("GET without a cursor", request(addr, "/k", "")));
    answers.push(("POST", post(addr, "/m", "hello", "")));
    for (entrypoint, response) in &answers {
        let text = response.text();
        assert_eq!(response.status, 503, "{entrypoint}: {text}");
        assert_eq!(
            response.header("retry-after"),
            Some("1"),
            "{entrypoint}: when to retry"
        );
        let id = response.header("x-request-id").expect("a request id");
        assert!(
            text.ends_with(&format!("(request id {id})")),
            "{entrypoint}: {text}"
        );
        assert!(
            !text.contains("127.0.0.1"),
            "{entrypoint}: no internals: {text}"
        );
    }
    // The same refusal inside a WebSocket session: 1013 (try again later), POST's reason.
    let posted = answers.last().unwrap().1.text();
    let reason = posted.split(" (request id").next().unwrap();
    let mut socket = ws_open(addr, "/m");
    socket.send(Message::text("hello")).unwrap();
    let (code, closed_with) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Again, "{closed_with}");
    assert!(reason.starts_with(&closed_with), "{closed_with} / {reason}");
    assert!(errors_total(admin, "broker", "broker_unavailable") >= 7);
}
on_both_drivers!(
    missing_broker,
    a_missing_broker_is_503_with_retry_after_alike
);
