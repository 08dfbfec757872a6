//! A Kafka cursor sent before the brokers first answered cannot be checked yet (the feed's
//! partitions are unknown): every entrypoint answers 503, retry later, as it does without a
//! cursor, and not 400, which would tell the client its cursor is wrong.

mod common;

use std::io::Write;

use common::*;
use tidegate::config::DriverChoice;

const YAML: &str = r#"
apis:
  - id: kafka-api
    name: Kafka API
    contextPaths: [/k]
    entrypoints:
      - type: http-get
      - type: sse
      - type: websocket
        configuration:
          publisher: { enabled: false }
    endpoint:
      type: kafka
      configuration:
        bootstrapServers: 127.0.0.1:1
        consumer: { enabled: true, topics: [t] }
    plans:
      - name: Keyless
        security: keyless
"#;

#[test]
fn a_cursor_before_the_brokers_answered_is_503_on_every_entrypoint() {
    let gateway = start(test_config(YAML, DriverChoice::Auto));
    let addr = gateway.local_addr();
    let json = [("Accept", "application/json")];
    assert_eq!(get(addr, "/k", &json).status, 503, "without a cursor");
    let response = get(addr, "/k?cursor=t:0:3", &json);
    assert_eq!(response.status, 503, "GET: {}", response.text());
    let (head, _) = open_sse(addr, "/k", &[("Last-Event-ID", "t:0:3")]);
    assert_eq!(head.status, 503, "SSE");
    let mut upgrade = connect(addr);
    upgrade
        .write_all(b"GET /k?cursor=t:0:3 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .unwrap();
    let response = read_response(&mut std::io::BufReader::new(upgrade));
    assert_eq!(response.status, 503, "WebSocket: {}", response.text());
    // A malformed cursor is still the client's fault.
    assert_eq!(get(addr, "/k?cursor=nope", &json).status, 400);
}
