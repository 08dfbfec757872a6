//! WebSocket entrypoint over real sockets, driven by tungstenite's blocking client.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::ws_client::close_frame;
use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

type Client = WebSocket<TcpStream>;

fn ws_connect(addr: SocketAddr, path: &str) -> Client {
    let stream = connect(addr);
    let (socket, response) =
        tungstenite::client::client(format!("ws://{addr}{path}"), stream).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// Next data message's text, skipping control frames.
fn next_text(socket: &mut Client) -> String {
    loop {
        match socket.read().expect("read") {
            Message::Text(text) => return text.to_string(),
            Message::Binary(_) => panic!("expected a text frame"),
            _ => continue,
        }
    }
}

fn streams_answers_pings_and_closes_cleanly(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(20), driver));
    let mut socket = ws_connect(gateway.local_addr(), "/mock");
    for _ in 0..3 {
        assert_eq!(next_text(&mut socket), "hello");
    }
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    let pong = loop {
        match socket.read().unwrap() {
            Message::Pong(payload) => break payload,
            Message::Text(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");
    socket.close(None).unwrap();
    // The gateway completes the close handshake: its close frame (echoing 1000, as the client
    // sent no code), then the end of the stream.
    let mut reply = None;
    loop {
        match socket.read() {
            Ok(Message::Close(frame)) => reply = Some(frame),
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(err) => panic!("unclean close: {err}"),
        }
    }
    let frame = reply
        .expect("the gateway answered the close")
        .expect("with a status code");
    assert_eq!(frame.code, CloseCode::Normal);
}
on_both_drivers!(stream_ping_close, streams_answers_pings_and_closes_cleanly);

fn publishing_is_refused_with_a_clear_close_reason(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(1000), driver));
    let mut socket = ws_connect(gateway.local_addr(), "/mock");
    socket.send(Message::Text("hi".into())).unwrap();
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Policy);
    // The Mock API's socket is subscribe-only (`tidegate check` refuses a publisher on Mock).
    assert!(reason.contains("publishing is disabled"), "{reason}");
}
on_both_drivers!(
    publishing_is_refused_with_a_clear_close_reason,
    publishing_is_refused_with_a_clear_close_reason
);

fn handshake_errors_are_http_answers(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(1000), driver));
    let request = "GET /mock HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let response = raw(gateway.local_addr(), request.as_bytes());
    assert_eq!(response.status, 426);
    assert_eq!(response.header("sec-websocket-version"), Some("13"));
    let request = "GET /mock HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(raw(gateway.local_addr(), request.as_bytes()).status, 400);
}
on_both_drivers!(
    handshake_errors_are_http_answers,
    handshake_errors_are_http_answers
);

/// A thousand clients each get the Mock's messages. On a loaded machine connecting them all takes
/// long, and a client is read only once every other one has connected: the clients read with a
/// generous timeout, and the gateway's pings (which tungstenite answers only inside a read) and
/// stall deadline are set far apart, so no client waiting its turn is dropped as silent or stalled.
fn thousand_clients_all_receive(driver: DriverChoice) {
    open_files::make_room_for_clients(1000);
    let yaml = mock_api_yaml(100).replacen(
        "apis:",
        "gateway:\n  timeouts:\n    wsPingIntervalMs: 600000\n    streamStallMs: 600000\napis:",
        1,
    );
    let gateway = start(test_config(&yaml, driver));
    let mut clients: Vec<Client> = (0..1000)
        .map(|_| {
            let client = ws_connect(gateway.local_addr(), "/mock");
            client
                .get_ref()
                .set_read_timeout(Some(Duration::from_secs(120)))
                .unwrap();
            client
        })
        .collect();
    for _ in 0..2 {
        for client in &mut clients {
            assert_eq!(next_text(client), "hello");
        }
    }
    assert_eq!(
        total(gateway.metrics(), |m| &m.websocket_sessions_open),
        1000
    );
    // A write is counted once it returned, which may be after the client read it.
    let delivered = || total(gateway.metrics(), |m| &m.messages_delivered_total);
    assert!(
        eventually(Duration::from_secs(60), || delivered() >= 2000),
        "{} messages counted delivered",
        delivered()
    );
}
on_both_drivers!(thousand_clients, thousand_clients_all_receive);

/// A client that never reads must not delay the others, and its queue stays bounded: the Mock
/// endpoint pauses the stalled client's own stream instead of dropping (ring-backed endpoints
/// apply the slow-client policy: see tests/publish.rs).
fn stalled_client_does_not_delay_others_and_its_mock_stream_pauses(driver: DriverChoice) {
    let content = "x".repeat(32 * 1024);
    let yaml = mock_api_yaml(2)
        .replace("messageContent: hello", &format!("messageContent: {content}"))
        .replace(
            "apis:",
            "gateway:\n  timeouts:\n    shutdownMs: 1000\n  outbound:\n    maxQueuedMessages: 16\napis:",
        );
    let gateway = start(test_config(&yaml, driver));
    let _stalled = ws_connect(gateway.local_addr(), "/mock");
    let mut reader = ws_connect(gateway.local_addr(), "/mock");
    for _ in 0..300 {
        assert_eq!(next_text(&mut reader).len(), content.len());
    }
    let queued = total(gateway.metrics(), |m| &m.outbound_queued_messages);
    assert!(
        queued <= 2 * 16,
        "queues stay within maxQueuedMessages ({queued})"
    );
    assert_eq!(
        total(gateway.metrics(), |m| &m.messages_dropped_slow_client_total),
        0
    );
}
on_both_drivers!(
    stalled_client_does_not_delay_others_and_its_mock_stream_pauses,
    stalled_client_does_not_delay_others_and_its_mock_stream_pauses
);

fn gateway_pings_and_drops_a_silent_peer(driver: DriverChoice) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let yaml = mock_api_yaml(60_000).replace(
        "apis:",
        "gateway:\n  timeouts:\n    wsPingIntervalMs: 200\napis:",
    );
    let gateway = start(test_config(&yaml, driver));
    let sessions = || total(gateway.metrics(), |m| &m.websocket_sessions_open);
    // A live client reads (so tungstenite answers the gateway's pings) on its own thread and
    // counts the pings; it panics if the gateway drops it.
    let mut live = ws_connect(gateway.local_addr(), "/mock");
    let keep_reading = Arc::new(AtomicBool::new(true));
    let pings = Arc::new(AtomicU64::new(0));
    let live_thread = {
        let (reading, pings) = (keep_reading.clone(), pings.clone());
        std::thread::spawn(move || {
            live.get_ref()
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            while reading.load(Ordering::Relaxed) {
                match live.read() {
                    Ok(Message::Ping(_)) => {
                        pings.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(err) => panic!("live client dropped: {err}"),
                }
            }
        })
    };
    // A peer that completes the handshake and then never sends anything (not even pongs) is dropped.
    let mut silent = connect(gateway.local_addr());
    std::io::Write::write_all(
        &mut silent,
        b"GET /mock HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    assert!(eventually(Duration::from_secs(30), || sessions() == 2));
    assert!(
        eventually(Duration::from_secs(30), || sessions() == 1),
        "the silent peer is dropped after a ping interval without an answer"
    );
    // The live client, which answers, keeps being pinged and stays: count two more pings.
    let pinged = pings.load(Ordering::Relaxed);
    assert!(
        eventually(Duration::from_secs(30), || pings.load(Ordering::Relaxed)
            >= pinged + 2),
        "the gateway stopped pinging the live client ({} pings)",
        pings.load(Ordering::Relaxed)
    );
    assert_eq!(sessions(), 1, "the live client is still connected");
    keep_reading.store(false, Ordering::Relaxed);
    live_thread
        .join()
        .expect("the live client stayed connected");
}
on_both_drivers!(
    gateway_pings_and_drops_a_silent_peer,
    gateway_pings_and_drops_a_silent_peer
);

fn oversized_frames_close_with_1009(driver: DriverChoice) {
    let yaml = mock_api_yaml(60_000).replace(
        "apis:",
        "gateway:\n  limits:\n    wsMaxFrameBytes: 1024\n    wsMaxMessageBytes: 4096\napis:",
    );
    let gateway = start(test_config(&yaml, driver));
    let mut socket = ws_connect(gateway.local_addr(), "/mock");
    socket
        .send(Message::Binary(vec![0u8; 2048].into()))
        .unwrap();
    let (code, reason) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("1024"), "{reason}");
}
on_both_drivers!(
    oversized_frames_close_with_1009,
    oversized_frames_close_with_1009
);

#[test]
fn shards_run_on_the_forced_driver() {
    // one driver: both, one after the other, in one test: each is forced and reported.
    for (choice, driver) in [
        (DriverChoice::IoUring, tidegate::shard::Driver::IoUring),
        (DriverChoice::Epoll, tidegate::shard::Driver::Epoll),
    ] {
        let gateway = start(test_config(&mock_api_yaml(1000), choice));
        assert_eq!(gateway.drivers(), &[driver, driver]);
    }
}

fn pings_are_answered_at_once_on_a_quiet_stream(driver: DriverChoice) {
    // One message a minute: a pong that waited for the next message would never come in time.
    let gateway = start(test_config(&mock_api_yaml(60_000), driver));
    let mut socket = ws_connect(gateway.local_addr(), "/mock");
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
        .send(Message::Ping(b"quiet".to_vec().into()))
        .unwrap();
    match socket.read().expect("a pong before the read timeout") {
        Message::Pong(payload) => assert_eq!(&payload[..], b"quiet"),
        other => panic!("unexpected {other:?}"),
    }
}
on_both_drivers!(
    pings_are_answered_at_once_on_a_quiet_stream,
    pings_are_answered_at_once_on_a_quiet_stream
);
