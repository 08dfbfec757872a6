//! `requestHeadersToMessage: true` copies a POST's end-to-end headers into the message, never its
//! credentials (`Authorization`, `Cookie`, `X-Gravitee-Api-Key`, `X-Api-Key`, unless
//! `credentialHeadersToMessage` names them) nor its hop-by-hop headers (`Connection` and those it
//! names, `Keep-Alive`, `TE`, `Trailer`, `Upgrade`, `Proxy-*`): every subscriber would see
//! them, and a Kafka record keeps them.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use common::*;
use kafka_broker::{started_gateway, Broker};
use tidegate::config::DriverChoice;

const SENT: &str = "Authorization: Bearer s3cret\r\nCookie: session=abc\r\n\
    X-Gravitee-Api-Key: key-1\r\nX-Api-Key: key-2\r\nProxy-Authorization: Basic cHJveHk=\r\n\
    Keep-Alive: timeout=5\r\nTE: trailers\r\nConnection: X-Hop\r\nX-Hop: per-connection\r\n\
    X-Trace: abc\r\n";

/// An in-memory API on `/h`; `credentials` is the `credentialHeadersToMessage` list, if any.
fn yaml(credentials: Option<&str>) -> String {
    let credentials = credentials
        .map(|list| format!("\n          credentialHeadersToMessage: [{list}]"))
        .unwrap_or_default();
    format!(
        r#"
apis:
  - id: headers
    name: Headers
    contextPaths: [/h]
    entrypoints:
      - type: http-post
        configuration:
          requestHeadersToMessage: true{credentials}
      - type: http-get
        configuration:
          messagesLimitDurationMs: 2000
          headersInPayload: true
    endpoint:
      type: in-memory
      configuration:
        topic: headers
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// The header names of the first message retained on `/h`.
fn retained_header_names(gateway: &tidegate::runtime::Gateway) -> Vec<String> {
    let response = get(
        gateway.local_addr(),
        "/h?cursor=0&limit=1",
        &[("Accept", "application/json")],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let batch = response.json();
    let mut names: Vec<String> = batch["items"][0]["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("no headers in {batch}"))
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

fn credentials_and_hop_by_hop_headers_are_not_copied(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(None), driver));
    let response = post(gateway.local_addr(), "/h", "m", SENT);
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(retained_header_names(&gateway), ["X-Trace"]);
}
on_both_drivers!(withheld, credentials_and_hop_by_hop_headers_are_not_copied);

fn named_credential_headers_are_copied(driver: DriverChoice) {
    let gateway = start(test_config(
        &yaml(Some("Authorization, x-gravitee-api-key")),
        driver,
    ));
    let response = post(gateway.local_addr(), "/h", "m", SENT);
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(
        retained_header_names(&gateway),
        ["Authorization", "X-Gravitee-Api-Key", "X-Trace"]
    );
}
on_both_drivers!(
    named_credential_headers_are_copied,
    named_credential_headers_are_copied
);

#[test]
fn only_credential_headers_can_be_named() {
    let text = yaml(Some("Connection, X-Trace"));
    let error = tidegate::config::load_str(&text, "t")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("credentialHeadersToMessage[0]: 'Connection' is a hop-by-hop header"),
        "{error}"
    );
    assert!(
        error.contains("credentialHeadersToMessage[1]: 'X-Trace' is not withheld"),
        "{error}"
    );
}

/// The same rule for Kafka record headers (tansu and confluent-kafka as the outside consumer).
fn kafka_record_headers_carry_no_credentials(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic("headers", 1);
    let gateway = started_gateway(&broker, "headers", "", driver);
    let response = post(gateway.local_addr(), "/k", "m", SENT);
    assert_eq!(response.status, 202, "{}", response.text());
    let records = broker.consume("headers", 1);
    let headers = records[0]["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("no headers in {}", records[0]));
    let mut names: Vec<&str> = headers.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["X-Trace"], "{}", records[0]);
}
on_both_drivers!(
    kafka_record_headers_carry_no_credentials,
    kafka_record_headers_carry_no_credentials
);
