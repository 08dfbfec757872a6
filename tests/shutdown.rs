//! Graceful shutdown: stop accepting, close WebSockets with 1001, end SSE with goaway, answer
//! in-flight GETs, and return within the deadline.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use tidegate::config::DriverChoice;
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
            "gateway:\n  timeouts:\n    shutdownMs: 5000\napis:",
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
    assert!(eventually(
        Duration::from_secs(5),
        || tidegate::metrics::total(gateway.metrics(), |m| &m.http_get_polls_open) == 1
    ));

    // Give the poll time to collect a few of the 50 ms messages before the shutdown starts.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
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

    stopper.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drained before the deadline"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer accepting"
    );
}
on_both_drivers!(graceful_shutdown, graceful);
