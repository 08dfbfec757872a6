//! WebSocket subscribers can learn where they are: `?envelope=json` sends each message as
//! `{"id":…,"content":…}` (base64 with `"encoding":"base64"` for binary), and a close the
//! gateway starts (1001 at shutdown, 1008, 1013, …) names the cursor to reconnect with.

mod common;

use std::io::Write;

use bytes::BytesMut;
use common::topic_api::chat_yaml;
use common::ws_client::{close_frame, next_data, ws_open, Data, WsClient};
use common::*;
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// `gateway` settings, then `/chat`: WebSocket and POST over an in-memory topic.
fn topic_yaml(gateway: &str) -> String {
    chat_yaml(gateway, "      - type: websocket\n      - type: http-post")
}

/// The next message as its JSON envelope.
fn next_envelope(socket: &mut WsClient) -> serde_json::Value {
    match next_data(socket) {
        Data::Text(text) => serde_json::from_str(&text).expect("an envelope is JSON"),
        Data::Binary(bytes) => panic!("an envelope is a text frame, got binary {bytes:?}"),
    }
}

fn the_json_envelope_carries_ids_to_resume_from(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(""), driver));
    let addr = gateway.local_addr();
    let text = "Content-Type: text/plain\r\n";
    assert_eq!(post(addr, "/chat", "hello \"you\"", text).status, 202);
    let mut publisher = ws_open(addr, "/chat");
    publisher
        .send(Message::Binary(b"utf8 but binary".to_vec().into()))
        .unwrap();
    publisher
        .send(Message::Binary(vec![0, 159, 146, 150].into()))
        .unwrap();
    let mut subscriber = ws_open(addr, "/chat?cursor=0&envelope=json");
    let envelopes: Vec<_> = (0..3).map(|_| next_envelope(&mut subscriber)).collect();
    assert_eq!(
        envelopes,
        [
            serde_json::json!({"id": "1", "content": "hello \"you\""}),
            serde_json::json!({"id": "2", "content": "dXRmOCBidXQgYmluYXJ5", "encoding": "base64"}),
            serde_json::json!({"id": "3", "content": "AJ+Slg==", "encoding": "base64"}),
        ]
    );
    // The id is the cursor: resuming after the second message gives the third.
    let resumed = format!(
        "/chat?cursor={}&envelope=json",
        envelopes[1]["id"].as_str().unwrap()
    );
    let mut again = ws_open(addr, &resumed);
    assert_eq!(next_envelope(&mut again)["id"], "3");
}
on_both_drivers!(json_envelope, the_json_envelope_carries_ids_to_resume_from);

fn an_unknown_envelope_is_refused_with_what_to_use(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(""), driver));
    let request = "GET /chat?envelope=xml HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let response = raw(gateway.local_addr(), request.as_bytes());
    assert_eq!(response.status, 400);
    assert!(
        response.text().contains("?envelope=json"),
        "{}",
        response.text()
    );
}
on_both_drivers!(
    an_unknown_envelope_is_refused_with_what_to_use,
    an_unknown_envelope_is_refused_with_what_to_use
);

fn shutdown_closes_with_the_cursor_to_resume_from(driver: DriverChoice) {
    let yaml = topic_yaml("gateway:\n  timeouts:\n    shutdownMs: 5000");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    for body in ["one", "two"] {
        assert_eq!(post(addr, "/chat", body, "").status, 202);
    }
    let mut reader = ws_open(addr, "/chat?cursor=0");
    assert_eq!(next_data(&mut reader), Data::Text("one".into()));
    assert_eq!(next_data(&mut reader), Data::Text("two".into()));
    // Connected after both: it has received nothing, and resumes after position 2.
    let mut idle = ws_open(addr, "/chat");
    let ping = Message::Ping(b"ready?".to_vec().into());
    idle.send(ping).unwrap();
    assert!(matches!(idle.read().unwrap(), Message::Pong(_)));
    let stopper = std::thread::spawn(move || gateway.shutdown());
    for socket in [&mut reader, &mut idle] {
        let (code, reason) = close_frame(socket);
        assert_eq!(code, CloseCode::Away);
        assert_eq!(reason, "gateway shutting down; reconnect with ?cursor=2");
    }
    stopper.join().unwrap();
}
on_both_drivers!(
    shutdown_cursor,
    shutdown_closes_with_the_cursor_to_resume_from
);

fn a_subscriber_closed_for_what_it_sent_learns_its_cursor(driver: DriverChoice) {
    let yaml = topic_yaml("gateway:\n  timeouts:\n    wsMessageReadMs: 300");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let mut socket = ws_open(addr, "/chat?cursor=0");
    assert_eq!(post(addr, "/chat", "first", "").status, 202);
    assert_eq!(next_data(&mut socket), Data::Text("first".into()));
    // A message begun and never finished.
    let mut frame = BytesMut::new();
    encode_client_frame(&mut frame, Opcode::Text, false, b"half", [9, 9, 9, 9]);
    socket.get_mut().write_all(&frame).unwrap();
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Policy);
    assert_eq!(
        reason,
        "message not finished within 300 ms; reconnect with ?cursor=1"
    );
}
on_both_drivers!(
    a_subscriber_closed_for_what_it_sent_learns_its_cursor,
    a_subscriber_closed_for_what_it_sent_learns_its_cursor
);
