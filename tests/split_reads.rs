//! Bytes that arrive over several reads, or together with the next request, are kept: pipelined
//! POSTs, a request head split across TCP segments, a WebSocket frame split across segments.
//! (Found by the load-test harness: reads once overwrote unconsumed bytes at the buffer start.)

mod common;

use std::io::{BufReader, Read, Write};
use std::thread::sleep;
use std::time::Duration;

use bytes::BytesMut;
use common::*;
use tidegate::codec::ws::{encode_client_frame, ClientFrameDecoder, Opcode, WsEvent, WsLimits};
use tidegate::config::DriverChoice;

const YAML: &str = r#"
apis:
  - id: split
    name: Split reads
    contextPaths: [/split]
    entrypoints:
      - type: http-post
      - type: websocket
    endpoint:
      type: in-memory
      configuration:
        topic: split
    plans:
      - name: Keyless
        security: keyless
"#;

/// A pause long enough that the two halves of a write are read separately.
const BETWEEN_WRITES: Duration = Duration::from_millis(100);

fn pipelined_posts_are_all_answered_in_order(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let mut stream = connect(gateway.local_addr());
    let request = b"POST /split HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    stream.write_all(&request.repeat(300)).unwrap();
    let mut reader = BufReader::new(stream);
    for expected_id in 1..=300u64 {
        let response = read_response(&mut reader);
        assert_eq!(
            response.status,
            202,
            "request {expected_id}: {}",
            response.text()
        );
        assert_eq!(
            response.header("x-message-id"),
            Some(expected_id.to_string().as_str())
        );
    }
}
on_both_drivers!(pipelined_posts, pipelined_posts_are_all_answered_in_order);

/// Answers to pipelined requests may be held back to go out together, but never while the
/// gateway waits for the client: here the client sends the next request's body only once it has
/// the first answer.
fn a_held_back_answer_goes_out_before_waiting_for_the_client(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let mut stream = connect(gateway.local_addr());
    let first = "POST /split HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    let second_head = "POST /split HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n";
    stream
        .write_all(format!("{first}{second_head}").as_bytes())
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let response = read_response(&mut reader);
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.header("x-message-id"), Some("1"));
    stream.write_all(b"world").unwrap();
    let response = read_response(&mut reader);
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.header("x-message-id"), Some("2"));
}
on_both_drivers!(
    held_back_answer,
    a_held_back_answer_goes_out_before_waiting_for_the_client
);

/// Nor while the next request waits on something else: here a long poll that only completes
/// once the client, having had the first answer, publishes more.
fn a_held_back_answer_goes_out_before_a_long_poll_waits(driver: DriverChoice) {
    let yaml = YAML.replace(
        "      - type: websocket\n",
        "      - type: websocket\n      - type: http-get\n        configuration: { messagesLimitDurationMs: 600000 }\n",
    );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let mut stream = connect(addr);
    let publish = "POST /split HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    let poll = "GET /split?limit=2&cursor=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    stream
        .write_all(format!("{publish}{poll}").as_bytes())
        .unwrap();
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader);
    assert_eq!(response.status, 202, "{}", response.text());
    for _ in 0..2 {
        assert_eq!(post(addr, "/split", "more", "").status, 202);
    }
    let response = read_response(&mut reader);
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.text().contains("more"), "{}", response.text());
}
on_both_drivers!(
    held_back_answer_and_long_poll,
    a_held_back_answer_goes_out_before_a_long_poll_waits
);

fn a_head_and_body_split_across_reads_are_joined(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let mut stream = connect(gateway.local_addr());
    stream
        .write_all(b"POST /split HTTP/1.1\r\nHost: t\r\nCont")
        .unwrap();
    sleep(BETWEEN_WRITES);
    stream.write_all(b"ent-Length: 10\r\n\r\nhello").unwrap();
    sleep(BETWEEN_WRITES);
    stream.write_all(b"world").unwrap();
    let response = read_response(&mut BufReader::new(stream));
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.header("x-message-id"), Some("1"));
}
on_both_drivers!(
    split_head_and_body,
    a_head_and_body_split_across_reads_are_joined
);

fn a_websocket_frame_split_across_reads_is_joined(driver: DriverChoice) {
    let gateway = start(test_config(YAML, driver));
    let mut stream = connect(gateway.local_addr());
    stream
        .write_all(
            b"GET /split HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let mut inbound = BytesMut::new();
    let mut chunk = [0u8; 4096];
    while !inbound.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed during the handshake");
        inbound.extend_from_slice(&chunk[..n]);
    }
    assert!(inbound.starts_with(b"HTTP/1.1 101"), "{inbound:?}");
    let end = inbound.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let _ = inbound.split_to(end);
    let mut frame = BytesMut::new();
    let payload = "a frame cut in two".repeat(10);
    encode_client_frame(
        &mut frame,
        Opcode::Text,
        true,
        payload.as_bytes(),
        [1, 2, 3, 4],
    );
    let (first, second) = frame.split_at(frame.len() / 2);
    stream.write_all(first).unwrap();
    sleep(BETWEEN_WRITES);
    stream.write_all(second).unwrap();
    let limits = WsLimits {
        max_frame_bytes: 1 << 20,
        max_message_bytes: 1 << 20,
    };
    let mut decoder = ClientFrameDecoder::new(limits);
    let echoed = loop {
        if let Some(event) = decoder.decode(&mut inbound).unwrap() {
            break event;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the echo");
        inbound.extend_from_slice(&chunk[..n]);
    };
    assert_eq!(echoed, WsEvent::Text(payload.into()));
}
on_both_drivers!(
    split_ws_frame,
    a_websocket_frame_split_across_reads_is_joined
);
