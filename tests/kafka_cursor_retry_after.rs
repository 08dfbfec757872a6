//! A Kafka resume position sent before the API's feed started (the brokers have not answered
//! yet) is answered 503 with `Retry-After` on every entrypoint, so a client knows to come back
//! with the same position rather than drop it (400 would say the cursor is wrong). Without a
//! cursor the answer is the same.

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

fn assert_retry_later(response: &Response, what: &str) {
    assert_eq!(response.status, 503, "{what}: {}", response.text());
    assert_eq!(
        response.header("retry-after"),
        Some("1"),
        "{what}: a 503 says when to retry"
    );
}

fn retry_after_on_every_entrypoint(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let addr = gateway.local_addr();
    let json = [("Accept", "application/json")];
    assert_retry_later(&get(addr, "/k", &json), "GET without a cursor");
    assert_retry_later(&get(addr, "/k?cursor=t:0:3", &json), "GET with a cursor");
    let (head, _) = open_sse(addr, "/k", &[("Last-Event-ID", "t:0:3")]);
    assert_retry_later(&head, "SSE with Last-Event-ID");
    let (head, _) = open_sse(addr, "/k", &[]);
    assert_retry_later(&head, "SSE without one");
    let mut upgrade = connect(addr);
    upgrade
        .write_all(b"GET /k?cursor=t:0:3 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .unwrap();
    let response = read_response(&mut std::io::BufReader::new(upgrade));
    assert_retry_later(&response, "WebSocket with a cursor");
    // A malformed cursor is the client's fault: 400, nothing to retry.
    let response = get(addr, "/k?cursor=nope", &json);
    assert_eq!(response.status, 400);
    assert_eq!(response.header("retry-after"), None);
}
on_both_drivers!(
    a_cursor_before_the_feed_started_is_503_with_retry_after,
    retry_after_on_every_entrypoint
);
