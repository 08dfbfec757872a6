//! The WebSocket Origin allow-list over real sockets: a page from an origin that is not allowed
//! gets 403 and no upgrade (cross-site WebSocket hijacking), an allowed page and a non-browser
//! client (no Origin) connect; the list defaults to the API's CORS origins.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::ws_client::{next_data, Data};
use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tungstenite::client::IntoClientRequest;

/// `/explicit`: `allowedOrigins` of its own; `/inherits`: CORS origins only; `/open`: neither.
const YAML: &str = r#"
apis:
  - id: explicit
    name: explicit
    contextPaths: [/explicit]
    cors: { allowOrigin: ["https://cors.example.com"] }
    entrypoints:
      - type: websocket
        configuration: { allowedOrigins: ["https://ws.example.com", 'https://[a-z]+\.ws\.test'] }
    endpoint: { type: in-memory, configuration: { topic: explicit } }
    plans: [{ name: Keyless, security: keyless }]
  - id: inherits
    name: inherits
    contextPaths: [/inherits]
    cors: { allowOrigin: ["https://cors.example.com"] }
    entrypoints:
      - type: websocket
    endpoint: { type: in-memory, configuration: { topic: inherits } }
    plans: [{ name: Keyless, security: keyless }]
  - id: open
    name: open
    contextPaths: [/open]
    entrypoints:
      - type: websocket
    endpoint: { type: in-memory, configuration: { topic: open } }
    plans: [{ name: Keyless, security: keyless }]
"#;

/// Opens a WebSocket on `path` with `origin` (none when `None`); `Err(status)` when refused.
fn open(addr: SocketAddr, path: &str, origin: Option<&str>) -> Result<ws_client::WsClient, u16> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tungstenite::client::client(request, connect(addr)) {
        Ok((socket, response)) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(socket)
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed otherwise: {other}"),
    }
}

fn upgrades_are_checked_against_the_origin_list(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let addr = gateway.local_addr();

    for (path, origin, allowed) in [
        ("/explicit", Some("https://ws.example.com"), true),
        ("/explicit", Some("https://a.ws.test"), true),
        ("/explicit", Some("https://a.ws.test.evil.net"), false),
        // The entrypoint's own list replaces the CORS one.
        ("/explicit", Some("https://cors.example.com"), false),
        ("/explicit", Some("https://evil.example.net"), false),
        ("/explicit", None, true),
        ("/inherits", Some("https://cors.example.com"), true),
        ("/inherits", Some("https://evil.example.net"), false),
        ("/inherits", Some("null"), false),
        ("/inherits", None, true),
        ("/open", Some("https://evil.example.net"), true),
    ] {
        match open(addr, path, origin) {
            Ok(_) => assert!(allowed, "{path} {origin:?} was upgraded"),
            Err(status) => {
                assert!(!allowed, "{path} {origin:?} refused with {status}");
                assert_eq!(status, 403, "{path} {origin:?}");
            }
        }
    }
    // Two Origin fields are malformed, whatever their values.
    let two = raw(
        addr,
        b"GET /inherits HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://cors.example.com\r\nOrigin: https://cors.example.com\r\n\r\n",
    );
    assert_eq!(two.status, 403);
    assert!(two.text().contains("Origin"), "{}", two.text());
}
on_both_drivers!(origin_list, upgrades_are_checked_against_the_origin_list);

fn a_refused_page_neither_reads_nor_publishes(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let addr = gateway.local_addr();
    let mut reader = open(addr, "/inherits", None).expect("non-browser client");
    assert_eq!(
        open(addr, "/inherits", Some("https://evil.example.net")).err(),
        Some(403)
    );
    let refusals = total(gateway.metrics(), |m| &m.origin_refusals_total);
    assert_eq!(refusals, 1);
    // Only the reader's session was ever opened.
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.websocket_sessions_open
    ) == 1));
    let mut page = open(addr, "/inherits", Some("https://cors.example.com")).unwrap();
    page.send(tungstenite::Message::text("from the page"))
        .unwrap();
    assert_eq!(
        next_data(&mut reader),
        Data::Text("from the page".to_owned())
    );
}
on_both_drivers!(refused_page, a_refused_page_neither_reads_nor_publishes);
