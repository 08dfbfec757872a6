//! An error that ends an open WebSocket session is closed with its kind's code
//! (`tidegate::error`, docs/errors.md) and counted in `tidegate_errors_total` under its fault:
//! a message not finished within `wsMessageReadMs` (1008, the client's), a message published
//! where the entrypoint does not take any (1008, the configuration's).

mod common;

use std::io::Write;

use bytes::BytesMut;
use common::echo_api::ECHO_API;
use common::ws_client::{close_frame, ws_open, WsClient};
use common::*;
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tidegate::error::{Fault, Kind};
use tidegate::runtime::Gateway;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

fn yaml() -> String {
    format!(
        r#"
gateway:
  timeouts:
    wsMessageReadMs: 300
apis:
{ECHO_API}  - id: read-only
    name: Subscribers only
    contextPaths: [/read-only]
    entrypoints:
      - type: websocket
        configuration: {{ publisher: {{ enabled: false }} }}
    endpoint:
      type: in-memory
      configuration: {{ topic: read-only }}
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// How many times `kind` happened, over every shard.
fn errors(gateway: &Gateway, kind: Kind) -> u64 {
    gateway.metrics().iter().map(|m| m.errors.get(kind)).sum()
}

/// Writes a raw client frame (tungstenite cannot send a fragment on its own).
fn send_raw(socket: &mut WsClient, opcode: Opcode, fin: bool, payload: &[u8]) {
    let mut frame = BytesMut::new();
    encode_client_frame(&mut frame, opcode, fin, payload, [7, 7, 7, 7]);
    socket.get_mut().write_all(&frame).unwrap();
}

fn session_endings_are_closed_and_counted_by_kind(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();

    let mut socket = ws_open(addr, "/echo");
    send_raw(&mut socket, Opcode::Text, false, b"never finished");
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert_eq!(u16::from(code), Kind::MessageDeadline.answer().close_code);
    assert_eq!(Kind::MessageDeadline.fault(), Fault::Client);
    assert_eq!(errors(&gateway, Kind::MessageDeadline), 1);

    let mut socket = ws_open(addr, "/read-only");
    socket.send(Message::text("hello")).unwrap();
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert!(reason.contains("publishing is disabled"), "{reason}");
    assert_eq!(Kind::NotSupported.fault(), Fault::Configuration);
    assert_eq!(errors(&gateway, Kind::NotSupported), 1);
}
on_both_drivers!(
    session_endings,
    session_endings_are_closed_and_counted_by_kind
);
