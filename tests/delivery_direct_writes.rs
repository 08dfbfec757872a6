//! Fan-out driven writes (issue 17, "fewer wake-ups per message"): a WebSocket or SSE subscriber
//! whose writer waits with nothing pending is written by the shard's fan-out itself, one
//! non-blocking write per message batch, without waking the writer task. A write the socket does
//! not take whole is handed back to the writer, which writes the rest first: the client gets the
//! same bytes in the same order, and nothing is dropped while its queue has room.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::slow_reader::{connect_small_window, send_small_window, sse_request};
use common::topic_api::backlog_topic_yaml;
use common::ws_client::{next_data, ws_open, Data, WsClient};
use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::{total, ShardMetrics};
use tidegate::runtime::Gateway;

const WEBSOCKETS: usize = 3;
const SSE_STREAMS: usize = 3;
const ROUNDS: u64 = 5;
/// Messages published while the stopped client's writer still holds a handed-back write.
const QUEUED_BEHIND: usize = 20;
/// The stopped client's receive buffer (the kernel doubles it): the gateway's writes to it
/// fill its socket after a few kilobytes plus the send buffer.
const SMALL_WINDOW: usize = 4096;

fn wait_for(
    gateway: &Gateway,
    what: &str,
    pick: fn(&ShardMetrics) -> &std::sync::atomic::AtomicU64,
    want: u64,
) {
    assert!(
        eventually(Duration::from_secs(30), || total(gateway.metrics(), pick)
            == want),
        "{what}: {} (want {want})",
        total(gateway.metrics(), pick)
    );
}

/// One shard; an in-memory topic with POST, WebSocket and SSE; no pings or heartbeats during
/// the test (they would wake a writer between two messages); `extra` gateway settings.
fn yaml(limits: &str) -> String {
    backlog_topic_yaml(
        &format!(
            "gateway:\n  limits: {{ {limits} }}\n  timeouts: {{ wsPingIntervalMs: 600000, streamStallMs: 600000 }}"
        ),
        "      - type: http-post\n      - type: websocket\n      - type: sse\n        configuration: { heartbeatIntervalInMs: 600000 }",
        1000,
    )
}

fn sse_ids(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.trim().parse().expect("a numeric id"))
        .collect()
}

fn sse_data(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

fn idle_subscribers_are_written_by_the_fanout(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml("maxBodyBytes: 1048576"), driver);
    let addr = gateway.local_addr();
    let mut sockets: Vec<WsClient> = (0..WEBSOCKETS).map(|_| ws_open(addr, "/topic")).collect();
    let mut streams: Vec<_> = (0..SSE_STREAMS)
        .map(|_| {
            let (head, reader) = open_sse(addr, "/topic", &[]);
            assert_eq!(head.status, 200);
            reader
        })
        .collect();
    let subscribers = (WEBSOCKETS + SSE_STREAMS) as u64;
    let mut seen = vec![String::new(); SSE_STREAMS];
    for round in 1..=ROUNDS {
        // Every writer waits with nothing pending: the fan-out writes for all of them.
        wait_for(
            &gateway,
            "parked writers",
            |m| &m.delivery_writers_parked,
            subscribers,
        );
        let payload = format!("message {round}");
        assert_eq!(post(addr, "/topic", &payload, "").status, 202);
        for socket in &mut sockets {
            assert_eq!(next_data(socket), Data::Text(payload.clone()));
        }
        for (stream, seen) in streams.iter_mut().zip(&mut seen) {
            let more = read_sse_until(stream, |text| sse_data(text).len() as u64 >= 1);
            assert_eq!(sse_data(&more), vec![payload.clone()]);
            seen.push_str(&more);
        }
        wait_for(
            &gateway,
            "direct writes",
            |m| &m.delivery_direct_writes_total,
            round * subscribers,
        );
    }
    // Every delivery was a direct write, counted as the writer counts its own.
    wait_for(
        &gateway,
        "messages delivered",
        |m| &m.messages_delivered_total,
        ROUNDS * subscribers,
    );
    assert_eq!(
        total(gateway.metrics(), |m| &m.delivery_direct_handoffs_total),
        0
    );
    for seen in &seen {
        let ids = sse_ids(seen);
        assert_eq!(ids.len() as u64, ROUNDS);
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids {ids:?}");
    }
}
on_both_drivers!(idle_subscribers, idle_subscribers_are_written_by_the_fanout);

/// More than a socket's kernel buffers can hold: the largest send buffer the kernel autotunes
/// to (`tcp_wmem`'s maximum) plus 1 MiB, so the first direct write of it can only be partial.
fn more_than_the_socket_holds() -> usize {
    let wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap_or_default();
    let max = wmem
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    max + (1 << 20)
}

/// Payload `i`: its index, then letters (text, one SSE data line).
fn payload(i: usize, len: usize) -> Vec<u8> {
    let mut payload = format!("{i:06} ").into_bytes();
    payload.extend((0..len.saturating_sub(payload.len())).map(|n| b'a' + (n % 26) as u8));
    payload
}

enum Stopped {
    Ws(Box<WsClient>),
    Sse(BufReader<TcpStream>),
}

fn stopped_client(addr: SocketAddr, ws: bool) -> Stopped {
    if ws {
        let stream = connect_small_window(addr, SMALL_WINDOW);
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let (socket, response) = tungstenite::client::client_with_config(
            format!("ws://{addr}/topic"),
            stream,
            Some(config),
        )
        .expect("handshake");
        assert_eq!(response.status().as_u16(), 101);
        return Stopped::Ws(Box::new(socket));
    }
    let stream = send_small_window(addr, SMALL_WINDOW, &sse_request("/topic"));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    while line.trim_end() != "" {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    Stopped::Sse(reader)
}

/// The next `count` payloads the client receives, in order.
fn read_payloads(client: &mut Stopped, count: usize) -> Vec<Vec<u8>> {
    match client {
        Stopped::Ws(socket) => (0..count)
            .map(|_| match next_data(socket) {
                Data::Text(text) => text.into_bytes(),
                Data::Binary(bytes) => bytes,
            })
            .collect(),
        Stopped::Sse(reader) => {
            let text = read_sse_until(reader, |text| sse_data(text).len() >= count);
            sse_data(&text)
                .into_iter()
                .map(String::into_bytes)
                .collect()
        }
    }
}

/// A client that stops reading: the first direct write to it (a message larger than its socket
/// holds) is partial and handed back; the writer finishes it while later messages wait in the
/// queue (within its bound: nothing dropped). Once the client reads again it gets the whole
/// message, then every later one, in order; then its writer parks again and the fan-out writes
/// for it once more.
fn a_stopped_client_gets_everything_in_order(driver: DriverChoice, ws: bool) {
    let big = more_than_the_socket_holds();
    let gateway = start_one_shard(&yaml(&format!("maxBodyBytes: {}", big + 4096)), driver);
    let addr = gateway.local_addr();
    let mut client = stopped_client(addr, ws);
    wait_for(
        &gateway,
        "parked writers",
        |m| &m.delivery_writers_parked,
        1,
    );
    let first = payload(0, big);
    assert_eq!(post(addr, "/topic", &first, "").status, 202);
    wait_for(
        &gateway,
        "partial direct writes",
        |m| &m.delivery_direct_partial_writes_total,
        1,
    );
    assert_eq!(
        total(gateway.metrics(), |m| &m.delivery_direct_handoffs_total),
        1
    );
    let behind: Vec<Vec<u8>> = (1..=QUEUED_BEHIND).map(|i| payload(i, 1000)).collect();
    for payload in &behind {
        assert_eq!(post(addr, "/topic", payload, "").status, 202);
    }
    // The client reads again: the rest of the partial write first, then the queue, in order.
    let got = read_payloads(&mut client, 1 + QUEUED_BEHIND);
    assert!(got[0] == first, "the partly written message arrived whole");
    assert!(
        got[1..] == behind[..],
        "the queued messages arrived in order"
    );
    assert_eq!(
        total(gateway.metrics(), |m| &m.messages_dropped_slow_client_total),
        0
    );
    assert_eq!(total(gateway.metrics(), |m| &m.streams_stalled_total), 0);
    // Caught up, the writer parks again and the fan-out writes for it.
    wait_for(
        &gateway,
        "parked writers",
        |m| &m.delivery_writers_parked,
        1,
    );
    let direct_before = total(gateway.metrics(), |m| &m.delivery_direct_writes_total);
    let last = payload(QUEUED_BEHIND + 1, 100);
    assert_eq!(post(addr, "/topic", &last, "").status, 202);
    assert!(read_payloads(&mut client, 1)[0] == last);
    wait_for(
        &gateway,
        "direct writes",
        |m| &m.delivery_direct_writes_total,
        direct_before + 1,
    );
    // The handed-back write counted its message once the writer had written it.
    wait_for(
        &gateway,
        "messages delivered",
        |m| &m.messages_delivered_total,
        2 + QUEUED_BEHIND as u64,
    );
}

fn a_stopped_websocket_gets_everything_in_order(driver: DriverChoice) {
    a_stopped_client_gets_everything_in_order(driver, true);
}
on_both_drivers!(
    stopped_websocket,
    a_stopped_websocket_gets_everything_in_order
);

fn a_stopped_sse_stream_gets_everything_in_order(driver: DriverChoice) {
    a_stopped_client_gets_everything_in_order(driver, false);
}
on_both_drivers!(stopped_sse, a_stopped_sse_stream_gets_everything_in_order);
