//! Graceful shutdown: stop accepting, close WebSockets with 1001, end SSE with goaway, answer
//! in-flight GETs with what they collected, and return once drained, not at the deadline.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

fn graceful(driver: DriverChoice) {
    let yaml = mock_api_yaml(50)
        .replace(
            "messagesLimitDurationMs: 1000",
            "messagesLimitDurationMs: 60000",
        )
        .replace(
            "apis:",
            // Far beyond the test's patience: the shutdown must end because everything drained.
            "gateway:\n  timeouts:\n    shutdownMs: 600000\napis:",
        );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();

    let (mut ws, _) =
        tungstenite::client::client(format!("ws://{addr}/mock"), connect(addr)).unwrap();
    let (_, mut sse) = open_sse(addr, "/mock", &[]);
    let mut poll = connect(addr);
    poll.write_all(b"GET /mock?limit=1000 HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n\r\n")
        .unwrap();
    // Everyone is connected and receiving before the shutdown starts.
    assert!(matches!(ws.read().unwrap(), Message::Text(_)));
    read_sse_until(&mut sse, |t| t.contains("id:"));
    // The poll has collected some of the 50 ms messages before the shutdown starts.
    assert!(
        eventually(Duration::from_secs(60), || total(gateway.metrics(), |m| {
            &m.http_get_poll_messages_held
        }) >= 1),
        "the poll collected nothing"
    );
    assert_eq!(total(gateway.metrics(), |m| &m.http_get_polls_open), 1);
    let stopper = std::thread::spawn(move || gateway.shutdown());

    let response = read_response(&mut std::io::BufReader::new(poll));
    assert_eq!(response.status, 200);
    assert!(
        !item_ids(&response.json()).is_empty(),
        "the poll is answered with what it had"
    );
    assert_eq!(response.header("connection"), Some("close"));

    let code = loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => break frame.code,
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}"),
        }
    };
    assert_eq!(code, CloseCode::Away);

    let rest = read_sse_until(&mut sse, |_| false);
    assert!(rest.contains("event: goaway"), "{rest:?}");

    assert!(
        eventually(Duration::from_secs(60), || stopper.is_finished()),
        "the shutdown waited for its deadline instead of ending once everything drained"
    );
    stopper.join().unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer accepting"
    );
}
on_both_drivers!(graceful_shutdown, graceful);
