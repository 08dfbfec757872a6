//! An idle WebSocket or SSE connection holds no read buffer: it waits for its socket to become
//! readable and borrows a buffer from its shard's pool only to read (`server::read_pool`).
//! `tidegate_read_buffers_in_use` counts the lent buffers, `tidegate_read_buffer_bytes` their
//! bytes; both are 0 while every stream idles, and rise while a client's frame is half read.

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use common::echo_api::ECHO_API;
use common::ws_client::{next_data, ws_open, Data};
use common::*;
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tungstenite::Message;

/// A Mock API that delivers nothing in a test's time, and an echo API, both on WebSocket and
/// (the mock) SSE.
fn yaml() -> String {
    format!(
        r#"
apis:
  - id: mock-api
    name: Mock API
    contextPaths: [/mock]
    entrypoints:
      - type: websocket
        configuration:
          publisher: {{ enabled: false }}
      - type: sse
        configuration:
          heartbeatIntervalInMs: 600000
    endpoint:
      type: mock
      configuration:
        messageInterval: 600000
        messageContent: hello
    plans:
      - name: Keyless
        security: keyless
{ECHO_API}"#
    )
}

const IDLE_STREAMS: u64 = 8;

fn idle_streams_hold_no_read_buffer(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    let gauge = |read: fn(&tidegate::metrics::ShardMetrics) -> &std::sync::atomic::AtomicU64| {
        total(gateway.metrics(), read)
    };
    let sockets: Vec<_> = (0..IDLE_STREAMS).map(|_| ws_open(addr, "/mock")).collect();
    let streams: Vec<_> = (0..IDLE_STREAMS)
        .map(|_| {
            let (head, reader) = open_sse(addr, "/mock", &[]);
            assert_eq!(head.status, 200);
            reader
        })
        .collect();
    assert!(eventually(Duration::from_secs(60), || {
        gauge(|m| &m.websocket_sessions_open) == IDLE_STREAMS
            && gauge(|m| &m.sse_streams_open) == IDLE_STREAMS
    }));
    // Every stream's reader runs and waits; none holds a buffer for it.
    let idle = eventually(Duration::from_secs(60), || {
        gauge(|m| &m.read_buffers_in_use) == 0 && gauge(|m| &m.read_buffer_bytes) == 0
    });
    assert!(
        idle,
        "{} read buffers ({} bytes) held by {} idle streams",
        gauge(|m| &m.read_buffers_in_use),
        gauge(|m| &m.read_buffer_bytes),
        2 * IDLE_STREAMS
    );
    // They still read: a ping is answered.
    for mut socket in sockets {
        socket
            .send(Message::Ping(b"awake?".to_vec().into()))
            .unwrap();
        loop {
            match socket.read().expect("the pong") {
                Message::Pong(payload) => break assert_eq!(&payload[..], b"awake?"),
                Message::Ping(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    drop(streams);
    assert!(eventually(Duration::from_secs(60), || {
        gauge(|m| &m.read_buffers_in_use) == 0 && gauge(|m| &m.read_buffers_pooled) <= 256
    }));
}
on_both_drivers!(idle_streams, idle_streams_hold_no_read_buffer);

fn a_half_read_frame_holds_its_buffer_until_it_is_whole(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let in_use = || total(gateway.metrics(), |m| &m.read_buffers_in_use);
    let mut socket = ws_open(gateway.local_addr(), "/echo");
    let mut frame = BytesMut::new();
    encode_client_frame(
        &mut frame,
        Opcode::Text,
        true,
        b"half now, half later",
        [1, 2, 3, 4],
    );
    let (first, rest) = frame.split_at(12);
    socket.get_mut().write_all(first).unwrap();
    assert!(
        eventually(Duration::from_secs(60), || in_use() == 1),
        "{} buffers in use with one frame half read",
        in_use()
    );
    socket.get_mut().write_all(rest).unwrap();
    assert_eq!(
        next_data(&mut socket),
        Data::Text("half now, half later".into())
    );
    assert!(
        eventually(Duration::from_secs(60), || in_use() == 0),
        "{} buffers in use after the frame was read",
        in_use()
    );
    // Whole messages, one after another, each read with a buffer given back at once.
    for n in 0..20 {
        socket
            .send(Message::Text(format!("message {n}").into()))
            .unwrap();
        assert_eq!(next_data(&mut socket), Data::Text(format!("message {n}")));
    }
    assert!(eventually(Duration::from_secs(60), || in_use() == 0));
    assert!(total(gateway.metrics(), |m| &m.read_buffers_pooled) >= 1);
}
on_both_drivers!(
    half_read_frame,
    a_half_read_frame_holds_its_buffer_until_it_is_whole
);
