//! The stall timeout (`timeouts.streamStallMs`) is a no-progress timeout: a slow reader that
//! keeps reading is never cut, however long its backlog takes; one that stopped reading gets its
//! last words (WebSocket close 1013 with the cursor to resume from, SSE `goaway` with the id to
//! resume from) after what it had not read yet, then the connection closes.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::slow_reader::{connect_small_window, sse_request, Throttled};
use common::topic_api::{backlog_topic_yaml, publish_backlog};
use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tidegate::runtime::Gateway;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const PAYLOAD_BYTES: usize = 10_000;
const MESSAGES: usize = 1000;

/// One shard; an in-memory topic holding every message; the given stream stall timeout.
fn yaml(stream_stall_ms: u64) -> String {
    backlog_topic_yaml(
        &format!("gateway:\n  timeouts: {{ streamStallMs: {stream_stall_ms} }}"),
        "      - type: http-post\n      - type: sse\n      - type: websocket",
        10_000,
    )
}

/// A gateway whose topic already holds `MESSAGES` messages of 10 KB (10 MB: more than the
/// kernel buffers of a connection hold, up to 4 MiB each side here, and far more than a
/// small-window client takes in a few seconds). Payload `i` starts with `i` in six digits.
/// Returns the gateway and the published ids, in order.
fn gateway_with_backlog(stream_stall_ms: u64, driver: DriverChoice) -> (Gateway, Vec<u64>) {
    let gateway = start_one_shard(&yaml(stream_stall_ms), driver);
    let payloads = (0..MESSAGES).map(|i| {
        let mut payload = format!("{i:06}").into_bytes();
        payload.resize(PAYLOAD_BYTES, b'x');
        payload
    });
    let ids = publish_backlog(gateway.local_addr(), "/topic", payloads);
    (gateway, ids)
}

/// The cursor before the first message, to replay the whole backlog.
fn before(ids: &[u64]) -> u64 {
    ids[0] - 1
}

fn sse_ids(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.trim().parse().unwrap())
        .collect()
}

/// Reads raw bytes until `done(bytes so far)` or the end of the stream.
fn read_raw_until(reader: &mut impl Read, mut done: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return bytes,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
        if done(&bytes) {
            return bytes;
        }
    }
}

/// Reads slowly (1 KiB every 20 ms) for four stall timeouts, then at full speed.
fn throttled(stream: TcpStream, stall: Duration) -> Throttled {
    Throttled {
        inner: stream,
        chunk_bytes: 1024,
        pause: Duration::from_millis(20),
        until: Instant::now() + stall * 4,
    }
}

fn slow_sse_reader_is_not_cut(driver: DriverChoice) {
    let stall = Duration::from_millis(1000);
    let (gateway, ids) = gateway_with_backlog(stall.as_millis() as u64, driver);
    let mut stream = connect_small_window(gateway.local_addr(), 4096);
    std::io::Write::write_all(
        &mut stream,
        sse_request(&format!("/topic?cursor={}", before(&ids))).as_bytes(),
    )
    .unwrap();
    let mut reader = throttled(stream, stall);
    let last = *ids.last().unwrap();
    let needle = format!("id: {last}\n");
    let bytes = read_raw_until(&mut reader, |bytes| {
        // Only the newest bytes can hold it (rescanning all 10 MB per read would be quadratic).
        let recent = &bytes[bytes.len().saturating_sub(64 * 1024)..];
        String::from_utf8_lossy(recent).contains(&needle)
    });
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        sse_ids(&text) == ids,
        "the slow reader got {} of {} events before the stream ended",
        sse_ids(&text).len(),
        ids.len()
    );
    assert!(!text.contains("goaway"), "it was never told to go away");
    assert_eq!(total(gateway.metrics(), |m| &m.streams_stalled_total), 0);
}
on_both_drivers!(slow_sse, slow_sse_reader_is_not_cut);

fn ws_client(stream: TcpStream, addr: SocketAddr, path: &str) -> tungstenite::WebSocket<Throttled> {
    let stall = Duration::from_millis(1000);
    let (socket, response) =
        tungstenite::client::client(format!("ws://{addr}{path}"), throttled(stream, stall))
            .expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The six-digit index a payload starts with.
fn index_of(payload: &[u8]) -> usize {
    std::str::from_utf8(&payload[..6]).unwrap().parse().unwrap()
}

fn slow_websocket_reader_is_not_cut(driver: DriverChoice) {
    let (gateway, ids) = gateway_with_backlog(1000, driver);
    let addr = gateway.local_addr();
    let stream = connect_small_window(addr, 4096);
    let mut socket = ws_client(stream, addr, &format!("/topic?cursor={}", before(&ids)));
    let mut received = Vec::new();
    while received.len() < MESSAGES {
        match socket.read() {
            Ok(Message::Text(text)) => received.push(index_of(text.as_bytes())),
            Ok(Message::Close(frame)) => {
                panic!("closed after {} messages: {frame:?}", received.len())
            }
            Ok(_) => {}
            Err(err) => panic!("cut after {} messages: {err}", received.len()),
        }
    }
    assert_eq!(received, (0..MESSAGES).collect::<Vec<_>>());
    assert_eq!(total(gateway.metrics(), |m| &m.streams_stalled_total), 0);
}
on_both_drivers!(slow_websocket, slow_websocket_reader_is_not_cut);

/// Waits until the gateway has declared one stream stalled.
fn await_stall(gateway: &Gateway) {
    assert!(
        eventually(Duration::from_secs(60), || total(gateway.metrics(), |m| {
            &m.streams_stalled_total
        }) == 1),
        "the stream that stopped reading was never declared stalled"
    );
}

fn stalled_sse_reader_gets_goaway_with_its_resume_id(driver: DriverChoice) {
    let (gateway, ids) = gateway_with_backlog(3000, driver);
    let mut stream = connect_small_window(gateway.local_addr(), 4096);
    std::io::Write::write_all(
        &mut stream,
        sse_request(&format!("/topic?cursor={}", before(&ids))).as_bytes(),
    )
    .unwrap();
    await_stall(&gateway);
    // Reading again now gets what was pending, the goaway, the end of the body, then the close.
    let bytes = read_raw_until(&mut stream, |_| false);
    let text = String::from_utf8_lossy(&bytes);
    let goaway = text.rfind("event: goaway\n").expect("a goaway event");
    let goaway_id = text[..goaway].rfind("id: ").expect("the goaway has an id");
    let delivered = sse_ids(&text[..goaway_id]);
    let last = *delivered.last().expect("some events before the stall");
    assert!(delivered.len() < ids.len(), "it stalled before the end");
    assert!(
        delivered[..] == ids[..delivered.len()],
        "events in order, none lost"
    );
    let tail = &text[goaway..];
    assert_eq!(
        &text[goaway_id..goaway],
        format!("id: {last}\n"),
        "the goaway carries the id to resume from"
    );
    assert!(
        tail.contains(&format!(
            "data: client stopped reading; reconnect with Last-Event-ID: {last}\n"
        )),
        "{tail:?}"
    );
    assert!(
        tail.ends_with("0\r\n\r\n"),
        "the chunked body ends: {tail:?}"
    );
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.sse_streams_open
    ) == 0));
}
on_both_drivers!(
    stalled_sse,
    stalled_sse_reader_gets_goaway_with_its_resume_id
);

fn stalled_websocket_reader_gets_1013_with_its_cursor(driver: DriverChoice) {
    let (gateway, ids) = gateway_with_backlog(3000, driver);
    let addr = gateway.local_addr();
    let stream = connect_small_window(addr, 4096);
    let path = format!("/topic?cursor={}", before(&ids));
    let (mut socket, _) =
        tungstenite::client::client(format!("ws://{addr}{path}"), stream).expect("handshake");
    await_stall(&gateway);
    let mut received = Vec::new();
    let close = loop {
        match socket.read().expect("the stream ends with a close frame") {
            Message::Text(text) => received.push(index_of(text.as_bytes())),
            Message::Close(frame) => break frame.expect("a close code"),
            _ => {}
        }
    };
    assert!(!received.is_empty() && received.len() < MESSAGES);
    assert_eq!(received, (0..received.len()).collect::<Vec<_>>());
    let last = ids[received.len() - 1];
    assert_eq!(close.code, CloseCode::Again, "1013 Try Again Later");
    assert_eq!(
        close.reason.as_str(),
        format!("client stopped reading; reconnect with ?cursor={last}")
    );
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.websocket_sessions_open
    ) == 0));
}
on_both_drivers!(
    stalled_websocket,
    stalled_websocket_reader_gets_1013_with_its_cursor
);
