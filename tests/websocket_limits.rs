//! Bounds on what a WebSocket client may send: 16 MiB messages by default (what the Autobahn
//! TestSuite sends), a deadline to finish a message once begun (`wsMessageReadMs`, close 1008),
//! and a per-shard budget for bytes of unfinished messages (`wsMaxPartialBytesPerShard`, close
//! 1013), reported by `tidegate_websocket_partial_bytes`.

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use common::echo_api::echo_yaml;
use common::ws_client::{close_frame, next_data, ws_open, Data, WsClient};
use common::*;
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// Writes raw client frames under tungstenite's feet (it cannot send a fragment on its own).
fn send_raw(socket: &mut WsClient, opcode: Opcode, fin: bool, payload: &[u8]) {
    let mut frame = BytesMut::new();
    encode_client_frame(&mut frame, opcode, fin, payload, [7, 7, 7, 7]);
    socket.get_mut().write_all(&frame).unwrap();
}

fn a_16_mib_message_fits_the_default_limits(driver: DriverChoice) {
    let gateway = start(test_config(&echo_yaml(""), driver));
    let mut socket = ws_open(gateway.local_addr(), "/echo");
    let payload: Vec<u8> = (0..16 * 1024 * 1024).map(|n| (n % 251) as u8).collect();
    socket
        .send(Message::Binary(payload.clone().into()))
        .unwrap();
    assert!(next_data(&mut socket) == Data::Binary(payload.clone()));
    // The same in four fragments.
    let quarter = payload.len() / 4;
    for (n, part) in payload.chunks(quarter).enumerate() {
        let opcode = if n == 0 {
            Opcode::Binary
        } else {
            Opcode::Continuation
        };
        send_raw(&mut socket, opcode, n == 3, part);
    }
    assert!(next_data(&mut socket) == Data::Binary(payload));
}
on_both_drivers!(
    a_16_mib_message_fits_the_default_limits,
    a_16_mib_message_fits_the_default_limits
);

fn an_unfinished_message_is_closed_after_the_deadline(driver: DriverChoice) {
    let yaml = echo_yaml("gateway:\n  timeouts:\n    wsMessageReadMs: 300");
    let gateway = start(test_config(&yaml, driver));
    let mut socket = ws_open(gateway.local_addr(), "/echo");
    send_raw(&mut socket, Opcode::Text, false, b"the first half");
    // The client is alive (it pings and reads the pong) but never finishes the message.
    send_raw(&mut socket, Opcode::Ping, true, b"still here");
    match socket.read().unwrap() {
        Message::Pong(payload) => assert_eq!(&payload[..], b"still here"),
        other => panic!("unexpected {other:?}"),
    }
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("not finished within 300 ms"), "{reason}");
    assert_eq!(
        total(gateway.metrics(), |m| &m
            .websocket_message_deadline_closes_total),
        1
    );
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.websocket_partial_bytes
    ) == 0));
}
on_both_drivers!(
    message_deadline,
    an_unfinished_message_is_closed_after_the_deadline
);

fn a_shard_over_its_partial_budget_refuses_more(driver: DriverChoice) {
    let yaml = echo_yaml(
        "gateway:\n  limits:\n    wsMaxFrameBytes: 4096\n    wsMaxMessageBytes: 4096\n    wsMaxPartialBytesPerShard: 5000",
    );
    // One shard, so both clients draw on the same budget.
    let gateway = start_one_shard(&yaml, driver);
    let partial = || total(gateway.metrics(), |m| &m.websocket_partial_bytes);
    let mut first = ws_open(gateway.local_addr(), "/echo");
    let mut second = ws_open(gateway.local_addr(), "/echo");
    // A frame announcing 3000 bytes, of which 10 arrived: 3000 are held for it.
    let mut frame = BytesMut::new();
    let body = vec![b'a'; 3000];
    encode_client_frame(&mut frame, Opcode::Binary, true, &body, [1, 2, 3, 4]);
    let header_bytes = frame.len() - body.len();
    first
        .get_mut()
        .write_all(&frame[..header_bytes + 10])
        .unwrap();
    assert!(
        eventually(Duration::from_secs(60), || partial() == 3000),
        "held: {}",
        partial()
    );
    // A second message of 3000 would take the shard over 5000.
    send_raw(&mut second, Opcode::Binary, false, &[b'b'; 3000]);
    let (code, reason) = close_frame(&mut second);
    assert_eq!(code, CloseCode::Again);
    assert!(reason.contains("send yours again later"), "{reason}");
    assert_eq!(
        total(gateway.metrics(), |m| &m
            .websocket_partial_budget_closes_total),
        1
    );
    // The first client finishes its message and gets it back; nothing is held any more.
    first
        .get_mut()
        .write_all(&frame[header_bytes + 10..])
        .unwrap();
    assert_eq!(next_data(&mut first), Data::Binary(body));
    assert!(eventually(Duration::from_secs(60), || partial() == 0));
}
on_both_drivers!(partial_budget, a_shard_over_its_partial_budget_refuses_more);

#[test]
fn the_partial_budget_must_hold_one_largest_message() {
    let yaml = echo_yaml(
        "gateway:\n  limits:\n    wsMaxFrameBytes: 8192\n    wsMaxMessageBytes: 8192\n    wsMaxPartialBytesPerShard: 4096",
    );
    let problems = tidegate::config::load_str(&yaml, "t")
        .expect_err("refused")
        .to_string();
    assert!(
        problems.contains("gateway.limits.wsMaxPartialBytesPerShard: must be at least wsMaxMessageBytes (8192), got 4096"),
        "{problems}"
    );
}
