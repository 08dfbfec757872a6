//! Hibernation (issue 17, "≤ 4 KiB per idle connection"): a plain WebSocket session quiet for
//! `wsHibernateMs` ends its reader and writer tasks and waits as plain state; the fan-out goes on
//! writing its messages to the socket, keep-alive goes on asleep (pings out, pongs taken), and
//! anything else (another frame from the client, a client that did not answer its ping, a write
//! the socket did not take whole, the gateway shutting down) wakes it where it stopped.
//! What a client sees must not change: every message in order, pongs, its own publishes, the
//! close handshake, keep-alive pings, the close with its resume cursor.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::hibernation::{self, metric, Pick};
use common::slow_reader::connect_small_window;
use common::topic_api::backlog_topic_yaml;
use common::ws_client::{close_frame, next_data, ws_open, Data, WsClient};
use common::*;
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const SESSIONS: u64 = 3;

/// One shard; an in-memory topic with POST and WebSocket (publish and subscribe); sessions
/// hibernate after 100 ms; `timeouts` added to the gateway's.
fn yaml(timeouts: &str) -> String {
    backlog_topic_yaml(
        &format!(
            "gateway:\n  limits: {{ maxBodyBytes: 4194304 }}\n  timeouts: {{ wsHibernateMs: 100, streamStallMs: 600000, shutdownMs: 5000, {timeouts} }}"
        ),
        "      - type: http-post\n      - type: websocket",
        1000,
    )
}

/// What a failed wait shows.
const SHOWN: &[(&str, Pick)] = &[
    ("hibernating", |m| &m.websocket_sessions_hibernating),
    ("hibernations", |m| &m.websocket_hibernations_total),
    ("wake-ups", |m| &m.websocket_wakeups_total),
    ("sessions", |m| &m.websocket_sessions_open),
];

fn wait_until(gateway: &Gateway, what: &str, ok: impl Fn(&Gateway) -> bool) {
    hibernation::wait_until(gateway, what, ok, SHOWN);
}

fn all_asleep(gateway: &Gateway, sessions: u64) {
    wait_until(gateway, "sessions asleep", |g| {
        metric(g, |m| &m.websocket_sessions_hibernating) == sessions
    });
}

fn text(socket: &mut WsClient) -> String {
    match next_data(socket) {
        Data::Text(text) => text,
        Data::Binary(bytes) => panic!("binary {bytes:?}"),
    }
}

fn open(addr: SocketAddr, count: u64) -> Vec<WsClient> {
    (0..count).map(|_| ws_open(addr, "/topic")).collect()
}

/// One read of a client whose read timeout is short: true for the gateway's ping (which
/// tungstenite answers with its next read), false when nothing came; anything else fails.
fn ping_or_nothing(socket: &mut WsClient) -> bool {
    match socket.read() {
        Ok(Message::Ping(payload)) => {
            assert_eq!(&payload[..], b"tidegate");
            true
        }
        Ok(other) => panic!("unexpected {other:?}"),
        Err(tungstenite::Error::Io(err))
            if matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(err) => panic!("the client was dropped: {err}"),
    }
}

/// Sleeping sessions receive what is published without waking (the fan-out writes for them),
/// answer a ping, publish what their client sends, complete the client's close, and are closed
/// with the cursor to resume from when the gateway shuts down.
fn sleeping_sessions_behave_as_awake_ones(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml("wsPingIntervalMs: 600000"), driver);
    let addr = gateway.local_addr();
    let mut sockets = open(addr, SESSIONS);
    all_asleep(&gateway, SESSIONS);
    for round in 1..=5 {
        let payload = format!("message {round}");
        assert_eq!(post(addr, "/topic", &payload, "").status, 202);
        for socket in &mut sockets {
            assert_eq!(text(socket), payload);
        }
    }
    // Delivered while asleep: written by the fan-out, no session woken.
    wait_until(&gateway, "deliveries counted", |g| {
        metric(g, |m| &m.messages_delivered_total) == 5 * SESSIONS
    });
    assert_eq!(metric(&gateway, |m| &m.websocket_wakeups_total), 0);
    assert_eq!(
        metric(&gateway, |m| &m.websocket_sessions_hibernating),
        SESSIONS
    );

    // A ping wakes its session, which answers it, then sleeps again.
    sockets[0]
        .send(Message::Ping(b"still there?".to_vec().into()))
        .unwrap();
    match sockets[0].read().unwrap() {
        Message::Pong(payload) => assert_eq!(&payload[..], b"still there?"),
        other => panic!("expected the pong, got {other:?}"),
    }
    assert!(metric(&gateway, |m| &m.websocket_wakeups_total) >= 1);
    all_asleep(&gateway, SESSIONS);

    // A sleeping session's client publishes: its reader's publisher survived the sleep.
    sockets[1]
        .send(Message::Text("from a sleeper".into()))
        .unwrap();
    for socket in &mut sockets {
        assert_eq!(text(socket), "from a sleeper");
    }

    // The client's close is answered with the same code, and the session ends.
    all_asleep(&gateway, SESSIONS);
    let mut leaving = sockets.pop().unwrap();
    leaving.close(None).unwrap();
    loop {
        match leaving.read() {
            Ok(Message::Close(frame)) => {
                assert!(
                    frame.as_ref().is_none_or(|f| f.code == CloseCode::Normal),
                    "{frame:?}"
                );
            }
            Ok(other) => panic!("expected the close, got {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(err) => panic!("close handshake: {err}"),
        }
    }
    wait_until(&gateway, "one session fewer", |g| {
        metric(g, |m| &m.websocket_sessions_open) == SESSIONS - 1
            && metric(g, |m| &m.websocket_sessions_hibernating) == SESSIONS - 1
    });

    // Shutdown wakes the sleepers, which close with the cursor of the last message they got
    // (6: five POSTs and the WebSocket publish), written by the fan-out while they slept.
    let stopper = std::thread::spawn(move || gateway.shutdown());
    for socket in &mut sockets {
        let (code, reason) = close_frame(socket);
        assert_eq!(code, CloseCode::Away);
        assert_eq!(reason, "gateway shutting down; reconnect with ?cursor=6");
    }
    stopper.join().unwrap();
}
on_both_drivers!(sleeping_sessions, sleeping_sessions_behave_as_awake_ones);

/// Keep-alive goes on asleep: a sleeping session sends its pings and takes its client's pongs
/// without waking (an unsolicited pong too); a client that never answers is dropped as before.
fn keep_alive_goes_on_asleep_and_silent_clients_are_dropped(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml("wsPingIntervalMs: 400"), driver);
    let addr = gateway.local_addr();
    let mut answering = ws_open(addr, "/topic");
    let mut silent = ws_open(addr, "/topic");
    all_asleep(&gateway, 2);
    answering
        .send(Message::Pong(b"unasked".to_vec().into()))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(metric(&gateway, |m| &m.websocket_wakeups_total), 0);
    assert_eq!(metric(&gateway, |m| &m.websocket_sessions_hibernating), 2);
    answering
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut pings = 0;
    // Reading answers each ping (tungstenite queues the pong and sends it with the next read).
    while started.elapsed() < Duration::from_secs(4) {
        pings += u64::from(ping_or_nothing(&mut answering));
    }
    assert!(pings >= 4, "{pings} pings in 4 s at a 400 ms interval");
    // The pong of the last ping read goes out now, not with a later read.
    answering.flush().unwrap();
    // The silent client's session was dropped (no pong within an interval after a ping): the
    // one wake-up it took. The answering one sent its pings asleep and never woke for them.
    wait_until(&gateway, "the silent client dropped", |g| {
        metric(g, |m| &m.websocket_sessions_open) == 1
    });
    let asleep_pings = metric(&gateway, |m| &m.websocket_pings_asleep_total);
    let wakeups = metric(&gateway, |m| &m.websocket_wakeups_total);
    // (The first ping may have gone out awake on a shard slow to put its sessions to sleep.)
    assert!(
        asleep_pings + 1 >= pings,
        "{asleep_pings} pings asleep, {pings} received"
    );
    assert_eq!(
        wakeups, 1,
        "{pings} pings: keep-alive woke the answering sleeper"
    );
    assert_eq!(metric(&gateway, |m| &m.websocket_sessions_hibernating), 1);
    silent
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    loop {
        match silent.read() {
            Ok(Message::Ping(_)) => continue,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
    }
    // The answering client still works, both ways: what it sends after the pongs taken off its
    // socket is read from the first byte of a frame.
    answering
        .send(Message::Text("after the pings".into()))
        .unwrap();
    answering
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(text(&mut answering), "after the pings");
}
on_both_drivers!(
    pings,
    keep_alive_goes_on_asleep_and_silent_clients_are_dropped
);

/// A sleeping session whose client stops reading: the fan-out's write fills the socket and hands
/// the rest back, which wakes the session; its writer finishes it and the later messages queue
/// for it. Once the client reads, it gets every message whole and in order.
fn a_stopped_sleeper_is_woken_and_loses_nothing(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml("wsPingIntervalMs: 600000"), driver);
    let addr = gateway.local_addr();
    let stream = connect_small_window(addr, 4096);
    let (mut socket, response) =
        tungstenite::client::client(format!("ws://{addr}/topic"), stream).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    all_asleep(&gateway, 1);
    const MESSAGES: usize = 24;
    let payloads: Vec<String> = (0..MESSAGES)
        .map(|i| format!("{i:04} {}", "x".repeat(256 * 1024)))
        .collect();
    for payload in &payloads {
        assert_eq!(post(addr, "/topic", payload, "").status, 202);
    }
    wait_until(&gateway, "the sleeper woken by its full socket", |g| {
        metric(g, |m| &m.websocket_wakeups_total) >= 1
    });
    for payload in &payloads {
        assert_eq!(&text(&mut socket), payload);
    }
    // Then it sleeps again, and the fan-out writes for it once more.
    all_asleep(&gateway, 1);
    assert_eq!(post(addr, "/topic", "last", "").status, 202);
    assert_eq!(text(&mut socket), "last");
}
on_both_drivers!(
    stopped_sleeper,
    a_stopped_sleeper_is_woken_and_loses_nothing
);

/// `wsHibernateMs: 0` turns hibernation off: quiet sessions keep their tasks.
fn hibernation_can_be_turned_off(driver: DriverChoice) {
    let gateway = start_one_shard(
        &yaml("wsPingIntervalMs: 600000").replace("wsHibernateMs: 100", "wsHibernateMs: 0"),
        driver,
    );
    let addr = gateway.local_addr();
    let mut sockets = open(addr, 2);
    wait_until(&gateway, "writers parked", |g| {
        metric(g, |m| &m.delivery_writers_parked) == 2
    });
    // Longer than the default `wsHibernateMs` (1000), which a 0 ignored would fall back to.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(metric(&gateway, |m| &m.websocket_hibernations_total), 0);
    assert_eq!(post(addr, "/topic", "awake", "").status, 202);
    for socket in &mut sockets {
        assert_eq!(text(socket), "awake");
    }
}
on_both_drivers!(turned_off, hibernation_can_be_turned_off);

/// What else wakes a sleeper, each with the ending an awake session gives: the API stopped by a
/// live apply (1013 `API stopped`, with the cursor), and a client that goes away without a close
/// frame (the session ends, its connection slot is freed).
fn stop_and_vanish_wake_sleepers(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml("wsPingIntervalMs: 600000"), driver);
    let addr = gateway.local_addr();
    let mut staying = ws_open(addr, "/topic");
    let vanishing = ws_open(addr, "/topic");
    all_asleep(&gateway, 2);
    assert_eq!(post(addr, "/topic", "one", "").status, 202);
    assert_eq!(text(&mut staying), "one");
    // The client vanishes: its socket closes with no close frame.
    drop(vanishing);
    wait_until(&gateway, "the vanished client's session ended", |g| {
        metric(g, |m| &m.websocket_sessions_open) == 1
    });
    all_asleep(&gateway, 1);
    let stopped = yaml("wsPingIntervalMs: 600000")
        .replace("    name: Topic\n", "    name: Topic\n    state: stopped\n");
    let mut config = test_config(&stopped, driver);
    config.gateway = gateway.applied_config().gateway;
    let report = gateway.apply(config).expect("stop accepted");
    assert_eq!(report.stopped, ["topic"]);
    let (code, reason) = close_frame(&mut staying);
    assert_eq!(code, CloseCode::Again, "{reason}");
    assert_eq!(reason, "API stopped; reconnect with ?cursor=1");
    wait_until(&gateway, "no session left", |g| {
        metric(g, |m| &m.websocket_sessions_open) == 0
            && metric(g, |m| &m.websocket_sessions_hibernating) == 0
    });
}
on_both_drivers!(stop_and_vanish, stop_and_vanish_wake_sleepers);

/// A Mock endpoint writes each message straight to an idle subscriber's socket, as the fan-out
/// does: a subscriber of a slow mock sleeps between messages and is never woken by them.
fn mock_subscribers_sleep_between_messages(driver: DriverChoice) {
    let yaml = format!(
        "gateway:\n  timeouts: {{ wsHibernateMs: 100, wsPingIntervalMs: 600000 }}\n{}",
        mock_api_yaml(400)
    );
    let gateway = start_one_shard(&yaml, driver);
    let mut socket = ws_open(gateway.local_addr(), "/mock");
    for _ in 0..4 {
        assert_eq!(text(&mut socket), "hello");
    }
    assert!(metric(&gateway, |m| &m.websocket_hibernations_total) >= 1);
    assert_eq!(metric(&gateway, |m| &m.websocket_wakeups_total), 0);
}
on_both_drivers!(mock_subscribers, mock_subscribers_sleep_between_messages);

/// Answering pings is no activity: with `wsHibernateMs` longer than the ping interval a session
/// whose client answers every ping still hibernates (every quiet window holds a ping and its
/// pong), and goes on receiving.
fn a_client_that_only_answers_pings_is_quiet(driver: DriverChoice) {
    let gateway = start_one_shard(
        &yaml("wsPingIntervalMs: 300").replace("wsHibernateMs: 100", "wsHibernateMs: 700"),
        driver,
    );
    let addr = gateway.local_addr();
    let mut socket = ws_open(addr, "/topic");
    socket
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let asleep = || metric(&gateway, |m| &m.websocket_sessions_hibernating) == 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pings = 0;
    // Reading answers each ping (tungstenite sends the pong with the next read).
    while !asleep() && Instant::now() < deadline {
        pings += u64::from(ping_or_nothing(&mut socket));
    }
    socket.flush().unwrap();
    assert!(asleep(), "never hibernated, {pings} pings answered");
    assert!(pings >= 2, "{pings} pings answered before it slept");
    assert_eq!(post(addr, "/topic", "still here", "").status, 202);
    socket
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    loop {
        match socket.read().expect("the message") {
            Message::Ping(_) => continue,
            Message::Text(text) => {
                assert_eq!(text.as_str(), "still here");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
on_both_drivers!(
    answering_pings_only,
    a_client_that_only_answers_pings_is_quiet
);

/// What a sleeper takes off its socket by itself is only what the decoder would ignore: a burst
/// of pongs longer than its peek wakes the reader, which reads them as pongs (the session lives
/// on); an unmasked pong wakes it too, and the decoder refuses it (1002) as an awake one would.
fn only_well_formed_pongs_are_taken_asleep(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml("wsPingIntervalMs: 600000"), driver);
    let addr = gateway.local_addr();
    let mut sockets = open(addr, 2);
    all_asleep(&gateway, 2);
    let mut pongs = bytes::BytesMut::new();
    for _ in 0..40 {
        encode_client_frame(&mut pongs, Opcode::Pong, true, b"pong", [1, 2, 3, 4]);
    }
    assert!(pongs.len() > 256);
    sockets[0].get_mut().write_all(&pongs).unwrap();
    wait_until(&gateway, "the reader woken for the burst", |g| {
        metric(g, |m| &m.websocket_wakeups_total) == 1
    });
    assert_eq!(post(addr, "/topic", "after the burst", "").status, 202);
    assert_eq!(text(&mut sockets[0]), "after the burst");
    // Unmasked: a client's frames must be masked.
    sockets[1].get_mut().write_all(&[0x8A, 0x00]).unwrap();
    let (code, _) = close_frame(&mut sockets[1]);
    assert_eq!(code, CloseCode::Protocol);
    wait_until(&gateway, "the refused session ended", |g| {
        metric(g, |m| &m.websocket_sessions_open) == 1
    });
}
on_both_drivers!(malformed_pongs, only_well_formed_pongs_are_taken_asleep);
