//! How a request that reaches an API is refused or ended by the entrypoint it chose: 404 for a
//! request shape none of the API's entrypoints serves, and the WebSocket close codes 1000 (the
//! stream ended) and 1009 (a published message can never fit the topic's retention).

mod common;

use std::net::{SocketAddr, TcpStream};

use common::*;
use tidegate::config::DriverChoice;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

const APIS: &str = r#"
apis:
  - id: ws-only
    name: WebSocket only
    contextPaths: [/ws-only]
    entrypoints:
      - type: websocket
        configuration: { publisher: { enabled: false } }
    endpoint:
      type: mock
      configuration: { messageInterval: 10, messageContent: tick, messageCount: 3 }
    plans:
      - name: Keyless
        security: keyless
  - id: sse-only
    name: SSE only
    contextPaths: [/sse-only]
    entrypoints:
      - type: sse
    endpoint:
      type: mock
    plans:
      - name: Keyless
        security: keyless
  - id: topic
    name: Small topic
    contextPaths: [/topic]
    entrypoints:
      - type: websocket
        configuration:
          publisher: { enabled: true }
    endpoint:
      type: in-memory
      configuration:
        topic: small
        maxRetainedBytes: 1024
    plans:
      - name: Keyless
        security: keyless
"#;

fn ws(addr: SocketAddr, path: &str) -> WebSocket<TcpStream> {
    tungstenite::client::client(format!("ws://{addr}{path}"), connect(addr))
        .expect("handshake")
        .0
}

/// The close frame that ends `socket`, skipping data frames before it.
fn close_frame(socket: &mut WebSocket<TcpStream>) -> (CloseCode, String) {
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => return (frame.code, frame.reason.to_string()),
            Ok(Message::Close(None)) => panic!("a close frame without a code"),
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}"),
        }
    }
}

fn a_request_shape_no_entrypoint_serves_is_a_404(driver: DriverChoice) {
    let gateway = start(test_config(APIS, driver));
    let addr = gateway.local_addr();
    // Plain HTTP to an API that only upgrades.
    for request in [
        "GET /ws-only HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "POST /ws-only HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ] {
        let response = raw(addr, request.as_bytes());
        assert_eq!(response.status, 404, "{request:?}: {}", response.text());
    }
    // An upgrade to an API without a websocket entrypoint.
    let upgrade = "GET /sse-only HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let response = raw(addr, upgrade.as_bytes());
    assert_eq!(response.status, 404, "{}", response.text());
    // A GET that does not ask for an event stream, to an API that only streams them.
    let response = get(addr, "/sse-only", &[("Accept", "application/json")]);
    assert_eq!(response.status, 404, "{}", response.text());
    // ... while the shapes they do serve are served.
    let (head, _) = open_sse(addr, "/sse-only", &[]);
    assert_eq!(head.status, 200);
    let _socket = ws(addr, "/ws-only");
    assert_eq!(
        tidegate::metrics::total(gateway.metrics(), |m| &m.http_client_errors_total),
        4
    );
}
on_both_drivers!(
    a_request_shape_no_entrypoint_serves_is_a_404,
    a_request_shape_no_entrypoint_serves_is_a_404
);

fn a_finished_stream_closes_with_1000(driver: DriverChoice) {
    let gateway = start(test_config(APIS, driver));
    let mut socket = ws(gateway.local_addr(), "/ws-only");
    let mut texts = Vec::new();
    let (code, reason) = loop {
        match socket.read().expect("read") {
            Message::Text(text) => texts.push(text.to_string()),
            Message::Close(Some(frame)) => break (frame.code, frame.reason.to_string()),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(texts, ["tick", "tick", "tick"], "messageCount: 3");
    assert_eq!(code, CloseCode::Normal, "{reason}");
}
on_both_drivers!(
    a_finished_stream_closes_with_1000,
    a_finished_stream_closes_with_1000
);

fn a_published_message_larger_than_the_retention_closes_with_1009(driver: DriverChoice) {
    let gateway = start(test_config(APIS, driver));
    let mut socket = ws(gateway.local_addr(), "/topic");
    socket.send(Message::Text("fits".into())).unwrap();
    assert_eq!(
        socket.read().expect("the echo of what fits"),
        Message::Text("fits".into())
    );
    socket.send(Message::Text("x".repeat(2048).into())).unwrap();
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("1024"), "names the bound: {reason}");
}
on_both_drivers!(
    a_published_message_larger_than_the_retention_closes_with_1009,
    a_published_message_larger_than_the_retention_closes_with_1009
);
