//! `wsMessageReadMs` times the client sending a message, not the gateway publishing it: a message
//! that arrived in full while the broker takes its time to acknowledge is not closed as
//! "not finished". The broker here is the scripted one (`common::fake_mqtt`), holding every
//! PUBACK.

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use common::fake_mqtt::{FakeBroker, PubAckMode, Script};
use common::ws_client::{close_frame, ws_open};
use common::*;
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tungstenite::protocol::frame::coding::CloseCode;

fn waiting_for_the_broker_is_not_on_the_message_deadline(driver: DriverChoice) {
    // The broker never acknowledges a publish.
    let broker = FakeBroker::start(Script {
        puback: PubAckMode::Hold,
        ..Script::default()
    });
    let port = broker.port;
    let yaml = format!(
        r#"
gateway:
  timeouts:
    wsMessageReadMs: 200
apis:
  - id: lamp
    name: Lamp
    contextPaths: [/lamp]
    entrypoints:
      - type: websocket
        configuration:
          subscriber: {{ enabled: false }}
      - type: http-post
    endpoint:
      type: mqtt5
      configuration:
        serverHost: 127.0.0.1
        serverPort: {port}
        producer:
          topic: cmd/lamp
          qos: 1
          ackTimeoutMs: 3000
    plans:
      - name: Keyless
        security: keyless
"#
    );
    let gateway = start_one_shard(&yaml, driver);
    // The broker connection opens on first use: this POST starts it (and is answered 503).
    post(gateway.local_addr(), "/lamp", "wake up", "");
    assert!(eventually(Duration::from_secs(20), || total(
        gateway.metrics(),
        |m| &m.mqtt_connections_connected
    ) == 1));
    let mut socket = ws_open(gateway.local_addr(), "/lamp");
    let mut frame = BytesMut::new();
    encode_client_frame(&mut frame, Opcode::Text, false, b"lamp ", [5; 4]);
    socket.get_mut().write_all(&frame).unwrap();
    // The first half is held (so the message's clock runs) before the second is sent.
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.websocket_partial_bytes
    ) > 0));
    frame.clear();
    encode_client_frame(&mut frame, Opcode::Continuation, true, b"on", [5; 4]);
    socket.get_mut().write_all(&frame).unwrap();
    // The broker never acknowledges: the publish times out (1013), the message was finished.
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Again, "{reason}");
    assert_eq!(
        total(gateway.metrics(), |m| &m
            .websocket_message_deadline_closes_total),
        0
    );
}
on_both_drivers!(
    waiting_for_the_broker_is_not_on_the_message_deadline,
    waiting_for_the_broker_is_not_on_the_message_deadline
);
