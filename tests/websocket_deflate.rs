//! permessage-deflate (RFC 7692) over real sockets, with a hand-framed client that deflates and
//! inflates with flate2 on its own (tests/common/ws_raw.rs): negotiation, compressed round trips
//! both ways (whole and fragmented), a fan-out deflated once per shard, and the failures: RSV1
//! where it is not allowed (1002), data that is not deflate or not UTF-8 (1007), and a message
//! that inflates past `wsMaxMessageBytes` (1009, however small it came).

mod common;

use common::ws_raw::{close_code, deflate, inflate, next_frame, send_frame, upgrade, Upgrade};
use common::*;
use tidegate::config::DriverChoice;

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
/// The message limit of the test gateway (a zip bomb must stop here).
const MAX_MESSAGE_BYTES: usize = 65_536;

/// `/echo` with deflate on (every message compressed: minMessageBytes 0), `/plain` without, and
/// `/chat`, an in-memory topic with deflate, for fan-out.
fn yaml() -> String {
    format!(
        r#"
gateway:
  limits:
    wsMaxFrameBytes: {MAX_MESSAGE_BYTES}
    wsMaxMessageBytes: {MAX_MESSAGE_BYTES}
apis:
  - id: echo
    name: Echo
    contextPaths: [/echo]
    entrypoints:
      - type: websocket
        configuration:
          perMessageDeflate: {{ enabled: true, minMessageBytes: 0 }}
    endpoint:
      type: echo
    plans: [{{ name: Keyless, security: keyless }}]
  - id: plain
    name: Plain
    contextPaths: [/plain]
    entrypoints:
      - type: websocket
    endpoint:
      type: echo
    plans: [{{ name: Keyless, security: keyless }}]
  - id: chat
    name: Chat
    contextPaths: [/chat]
    entrypoints:
      - type: websocket
        configuration:
          publisher: {{ enabled: false }}
          perMessageDeflate: {{ enabled: true }}
      - type: http-post
    endpoint:
      type: in-memory
      configuration:
        topic: chat
    plans: [{{ name: Keyless, security: keyless }}]
"#
    )
}

fn open(addr: std::net::SocketAddr, path: &str) -> Upgrade {
    let answer = upgrade(addr, path, OFFER);
    assert_eq!(answer.status, 101, "{}", answer.body);
    answer
}

fn text(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"tidegate compresses this "[i % 25])
        .collect()
}

fn negotiation_answers_what_was_agreed(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    let answer = open(addr, "/echo");
    assert_eq!(
        answer.header("sec-websocket-extensions"),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15")
    );
    // An offer the gateway cannot take (a server window of 8) is declined; the next is taken.
    let offers = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8, \
                  permessage-deflate; server_max_window_bits=10\r\n";
    let answer = upgrade(addr, "/echo", offers);
    assert_eq!(
        answer.header("sec-websocket-extensions"),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10")
    );
    // Declined altogether, or not configured: the session runs uncompressed.
    for (path, offer) in [
        (
            "/echo",
            "Sec-WebSocket-Extensions: permessage-deflate; x=1\r\n",
        ),
        ("/plain", OFFER),
    ] {
        let mut answer = upgrade(addr, path, offer);
        assert_eq!(answer.status, 101);
        assert_eq!(answer.header("sec-websocket-extensions"), None, "{path}");
        send_frame(&mut answer.stream, true, false, 0x1, b"plain");
        let frame = next_frame(&mut answer.stream);
        assert_eq!((frame.rsv1, frame.payload), (false, b"plain".to_vec()));
    }
    // An extension header that is no list is refused.
    let answer = upgrade(
        addr,
        "/echo",
        "Sec-WebSocket-Extensions: permessage-deflate;\r\n",
    );
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("Sec-WebSocket-Extensions"),
        "{}",
        answer.body
    );
}
on_both_drivers!(negotiation, negotiation_answers_what_was_agreed);

fn compressed_messages_round_trip_both_ways(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let mut ws = open(gateway.local_addr(), "/echo").stream;
    for (opcode, payload) in [
        (0x1, text(10_000)),
        (0x2, vec![7u8; 3000]),
        (0x1, Vec::new()),
    ] {
        send_frame(&mut ws, true, true, opcode, &deflate(&payload));
        let frame = next_frame(&mut ws);
        assert!(frame.rsv1 && frame.fin);
        assert_eq!(frame.opcode, opcode);
        assert_eq!(inflate(&frame.payload), payload);
        if payload.len() > 1000 {
            assert!(frame.payload.len() < payload.len() / 10);
        }
    }
    // An uncompressed message is fine too (RSV1 is per message); the answer comes compressed.
    send_frame(&mut ws, true, false, 0x1, b"not compressed");
    let frame = next_frame(&mut ws);
    assert!(frame.rsv1);
    assert_eq!(inflate(&frame.payload), b"not compressed");
    let admin = gateway.admin_addr().expect("admin listener");
    let inflated = common::admin::metric_total(admin, "websocket_inflate_bytes_out_total");
    assert_eq!(inflated, 13_000);
}
on_both_drivers!(round_trips, compressed_messages_round_trip_both_ways);

fn a_fragmented_compressed_message_is_inflated_whole(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let mut ws = open(gateway.local_addr(), "/echo").stream;
    let payload = text(20_000);
    let compressed = deflate(&payload);
    let third = compressed.len() / 3;
    // RSV1 on the first frame only; a ping between fragments is answered at once.
    send_frame(&mut ws, false, true, 0x1, &compressed[..third]);
    send_frame(&mut ws, false, false, 0x0, &compressed[third..2 * third]);
    send_frame(&mut ws, true, false, 0x9, b"ping");
    let pong = common::ws_raw::read_frame(&mut ws);
    assert_eq!((pong.opcode, pong.payload), (0xA, b"ping".to_vec()));
    send_frame(&mut ws, true, false, 0x0, &compressed[2 * third..]);
    let frame = next_frame(&mut ws);
    assert_eq!(inflate(&frame.payload), payload);
}
on_both_drivers!(
    fragmented,
    a_fragmented_compressed_message_is_inflated_whole
);

fn a_zip_bomb_is_closed_with_1009(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let mut ws = open(gateway.local_addr(), "/echo").stream;
    // 10 MiB of zeros deflate to ~10 KiB: well under the limit as sent, far over it inflated.
    let bomb = deflate(&vec![0u8; 10 << 20]);
    assert!(bomb.len() < MAX_MESSAGE_BYTES);
    send_frame(&mut ws, true, true, 0x2, &bomb);
    let (code, reason) = close_code(&mut ws);
    assert_eq!(code, 1009, "{reason}");
    // Exactly the limit inflated is a message like any other.
    let mut ws = open(gateway.local_addr(), "/echo").stream;
    send_frame(
        &mut ws,
        true,
        true,
        0x2,
        &deflate(&vec![1u8; MAX_MESSAGE_BYTES]),
    );
    assert_eq!(
        inflate(&next_frame(&mut ws).payload).len(),
        MAX_MESSAGE_BYTES
    );
}
on_both_drivers!(zip_bomb, a_zip_bomb_is_closed_with_1009);

fn rsv1_where_not_allowed_is_1002(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    // Not negotiated: on an API without deflate, and on one with it whose client did not offer.
    for (path, offer) in [("/plain", OFFER), ("/echo", "")] {
        let mut answer = upgrade(addr, path, offer);
        send_frame(&mut answer.stream, true, true, 0x1, &deflate(b"hello"));
        assert_eq!(close_code(&mut answer.stream).0, 1002, "{path}");
    }
    // Negotiated, but on a continuation frame or a control frame.
    let mut ws = open(addr, "/echo").stream;
    send_frame(&mut ws, false, true, 0x1, &deflate(b"hello"));
    send_frame(&mut ws, true, true, 0x0, b"");
    assert_eq!(close_code(&mut ws).0, 1002);
    let mut ws = open(addr, "/echo").stream;
    send_frame(&mut ws, true, true, 0x9, b"");
    assert_eq!(close_code(&mut ws).0, 1002);
}
on_both_drivers!(rsv1_not_allowed, rsv1_where_not_allowed_is_1002);

fn bad_deflate_data_or_inflated_bad_utf8_is_1007(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    let mut ws = open(addr, "/echo").stream;
    send_frame(&mut ws, true, true, 0x2, &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(close_code(&mut ws).0, 1007);
    let mut ws = open(addr, "/echo").stream;
    send_frame(&mut ws, true, true, 0x1, &deflate(b"caf\xc3"));
    assert_eq!(close_code(&mut ws).0, 1007);
}
on_both_drivers!(
    bad_deflate_data_or_inflated_bad_utf8_is_1007,
    bad_deflate_data_or_inflated_bad_utf8_is_1007
);

/// One shard, three subscribers: the message is deflated once and its bytes sent to all three.
fn a_fan_out_is_deflated_once_per_shard(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml(), driver);
    let addr = gateway.local_addr();
    let mut subscribers: Vec<_> = (0..3).map(|_| open(addr, "/chat").stream).collect();
    let payload = text(50_000);
    assert_eq!(post(addr, "/chat", &payload, "").status, 202);
    let frames: Vec<_> = subscribers.iter_mut().map(next_frame).collect();
    for frame in &frames {
        assert!(frame.rsv1);
        assert_eq!(frame.payload, frames[0].payload);
        assert_eq!(inflate(&frame.payload), payload);
    }
    let admin = gateway.admin_addr().expect("admin listener");
    let metric = |name| common::admin::metric_total(admin, name);
    assert_eq!(metric("websocket_deflate_shared_total"), 2);
    assert_eq!(
        metric("websocket_deflate_bytes_in_total"),
        3 * payload.len() as u64
    );
    assert_eq!(
        metric("websocket_deflate_bytes_out_total"),
        3 * frames[0].payload.len() as u64
    );
    assert_eq!(metric("websocket_deflate_sessions_open"), 3);
    // The shard remembers the payload and its compressed copy, within its 4 MiB budget.
    let remembered = (payload.len() + frames[0].payload.len()) as u64;
    assert_eq!(metric("websocket_deflate_recent_bytes"), remembered);
    // Small messages (under minMessageBytes, 64 by default) go uncompressed.
    assert_eq!(post(addr, "/chat", "tiny", "").status, 202);
    let frame = next_frame(&mut subscribers[0]);
    assert_eq!((frame.rsv1, frame.payload), (false, b"tiny".to_vec()));
}
on_both_drivers!(fan_out_once, a_fan_out_is_deflated_once_per_shard);
