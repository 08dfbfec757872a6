//! The `tidegate` binary under SIGTERM and SIGINT: the first signal drains (WebSocket clients get
//! close 1001, SSE clients `event: goaway`) and the process exits 0; a second signal during a
//! drain that a client holds open exits at once, non-zero.
//!
//! One driver: the binary as a process (signals, drain, exit status), on the driver a
//! deployment gets (`auto`); the drain's I/O runs on both drivers in-process (tests/shutdown.rs).

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::admin::{metrics_text, shard_metric};
use common::binary::{gateway_yaml, Binary};
use common::*;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);

fn signal_drains_clients_and_exits_zero(signal: &str) {
    let yaml = format!(
        "{}{}",
        gateway_yaml("  timeouts:\n    shutdownMs: 10000\n"),
        mock_api_yaml(50)
    );
    let mut binary = Binary::start(&yaml);
    let addr = binary.addr;
    let (mut ws, _) =
        tungstenite::client::client(format!("ws://{addr}/mock"), connect(addr)).unwrap();
    let (_, mut sse) = open_sse(addr, "/mock", &[]);
    assert!(matches!(ws.read().unwrap(), Message::Text(_)));
    read_sse_until(&mut sse, |t| t.contains("id:"));

    binary.signal(signal);

    let code = loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => break frame.code,
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}\n{}", binary.log()),
        }
    };
    assert_eq!(code, CloseCode::Away);
    let rest = read_sse_until(&mut sse, |_| false);
    assert!(rest.contains("event: goaway"), "{rest:?}");
    let status = binary.wait_exit(WAIT);
    let log = binary.log();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{log}");
    assert!(binary.find_log("stopped").is_some(), "{log}");
}

#[test]
fn sigterm_drains_clients_and_exits_zero() {
    signal_drains_clients_and_exits_zero("TERM");
}

#[test]
fn sigint_drains_clients_and_exits_zero() {
    signal_drains_clients_and_exits_zero("INT");
}

#[test]
fn a_second_signal_during_the_drain_exits_at_once() {
    // A client that never reads holds the drain open: the gateway's writes to it stall, and the
    // drain would last up to shutdownMs (the stall timeout is keepAliveIdleMs).
    let big = "x".repeat(64 * 1024);
    let yaml = format!(
        "{}{}",
        gateway_yaml("  timeouts:\n    shutdownMs: 120000\n    keepAliveIdleMs: 120000\n"),
        mock_api_yaml(1).replace("messageContent: hello", &format!("messageContent: {big}"))
    );
    let mut binary = Binary::start(&yaml);
    let (addr, admin) = (
        binary.addr,
        binary.admin.expect("the log names the admin address"),
    );
    let stalled: TcpStream = connect(addr);
    let (_ws, _) = tungstenite::client::client(format!("ws://{addr}/mock"), stalled).unwrap();
    // Stalled: its queue is filling and nothing was delivered between two looks (the Mock
    // endpoint makes a message every millisecond).
    let sum = |text: &str, name| {
        (0..2)
            .filter_map(|shard| shard_metric(text, name, shard))
            .sum::<u64>()
    };
    let mut delivered_before = None;
    assert!(eventually(WAIT, || {
        let text = metrics_text(admin);
        let delivered = sum(&text, "messages_delivered_total");
        let stalled =
            sum(&text, "outbound_queued_bytes") >= 1 << 20 && delivered_before == Some(delivered);
        delivered_before = Some(delivered);
        stalled
    }));

    binary.signal("TERM");
    assert!(
        binary.wait_for_log(WAIT, "shutting down").is_some(),
        "{}",
        binary.log()
    );
    // The admin endpoint outlives the drain and says so.
    let health = common::admin::health(admin);
    assert_eq!(health.status, 503, "{}", health.text());
    assert_eq!(health.json()["status"], "stopping");
    binary.signal("INT");
    let status = binary.wait_exit(WAIT);
    let log = binary.log();
    let status =
        status.unwrap_or_else(|| panic!("the second signal did not end the drain:\n{log}"));
    assert_eq!(status.code(), Some(128 + 2), "{log}");
    assert!(binary.find_log("second signal").is_some(), "{log}");
}
