//! Publishing (HTTP POST, WebSocket) into in-memory topics, and delivery across shards.

mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::{total, ShardMetrics};
use tidegate::runtime::Gateway;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::{Message, WebSocket};

type Client = WebSocket<TcpStream>;

/// `/topic` (POST, GET, SSE, WebSocket) and `/mock` on a Mock endpoint, over two shards.
fn topic_yaml(retained: usize) -> String {
    format!(
        r#"
gateway:
  limits:
    maxBodyBytes: 4096
apis:
  - id: topic-api
    name: Topic API
    contextPaths: [/topic]
    entrypoints:
      - type: http-post
        configuration:
          requestHeadersToMessage: true
      - type: http-get
        configuration:
          messagesLimitDurationMs: 2000
          headersInPayload: true
          metadataInPayload: true
      - type: sse
      - type: websocket
    endpoint:
      type: in-memory
      configuration:
        topic: t
        maxRetainedMessages: {retained}
        maxRetainedBytes: 2048
    plans:
      - name: Keyless
        security: keyless
  - id: mock-api
    name: Mock API
    contextPaths: [/mock]
    entrypoints:
      - type: http-post
      - type: websocket
        configuration:
          publisher: {{ enabled: false }}
    endpoint:
      type: mock
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

fn post_once(addr: SocketAddr, path: &str, body: &[u8]) -> Response {
    post_on(
        &mut connect(addr),
        path,
        body,
        "Accept: application/json\r\n",
    )
}

fn ws(addr: SocketAddr, path: &str) -> Client {
    tungstenite::client::client(format!("ws://{addr}{path}"), connect(addr))
        .expect("handshake")
        .0
}

fn next_data(socket: &mut Client) -> Message {
    loop {
        match socket.read().expect("read") {
            message @ (Message::Text(_) | Message::Binary(_)) => return message,
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

fn next_text(socket: &mut Client) -> String {
    match next_data(socket) {
        Message::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Opens WebSocket subscribers until both shards have at least one.
fn subscribers_on_every_shard(gateway: &Gateway, path: &str) -> Vec<Client> {
    let mut clients = Vec::new();
    for _ in 0..64 {
        clients.push(ws(gateway.local_addr(), path));
        assert!(eventually(Duration::from_secs(60), || total(
            gateway.metrics(),
            |m| &m.websocket_sessions_open
        ) == clients.len()
            as u64));
        if gateway
            .metrics()
            .iter()
            .all(|m| ShardMetrics::get(&m.websocket_sessions_open) > 0)
        {
            return clients;
        }
    }
    panic!("64 connections all landed on one shard");
}

fn post_reaches_get_sse_and_websocket_on_every_shard(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(100), driver));
    let addr = gateway.local_addr();
    let mut sockets = subscribers_on_every_shard(&gateway, "/topic");
    let (_, mut sse) = open_sse(addr, "/topic", &[]);
    let mut poll = connect(addr);
    poll.write_all(b"GET /topic?limit=3 HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n\r\n")
        .unwrap();
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.http_get_polls_open
    ) == 1));

    // Publish from fresh connections until both shards have published.
    let mut ids = Vec::new();
    for n in 0.. {
        let response = post_once(addr, "/topic", format!("m{n}").as_bytes());
        assert_eq!(response.status, 202, "{}", response.text());
        let id = response.header("x-message-id").unwrap().to_owned();
        assert_eq!(response.json()["id"], id.as_str());
        ids.push(id.parse::<u64>().unwrap());
        let all_published = gateway
            .metrics()
            .iter()
            .all(|m| ShardMetrics::get(&m.messages_published_total) > 0);
        if n >= 2 && all_published {
            break;
        }
        assert!(n < 64, "64 POSTs all landed on one shard");
    }
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "positions are assigned in order"
    );

    let expected: Vec<String> = (0..ids.len()).map(|n| format!("m{n}")).collect();
    for socket in &mut sockets {
        let got: Vec<String> = (0..ids.len()).map(|_| next_text(socket)).collect();
        assert_eq!(got, expected);
    }
    let text = read_sse_until(&mut sse, |t| t.matches("data: ").count() >= ids.len());
    for payload in &expected {
        assert!(text.contains(&format!("data: {payload}\n")), "{text}");
    }
    let batch = read_response(&mut BufReader::new(poll)).json();
    assert_eq!(item_ids(&batch), vec![1, 2, 3]);
    assert_eq!(batch["items"][0]["content"], "m0");
    assert_eq!(batch["items"][0]["metadata"]["topic"], "t");
    assert_eq!(
        batch["items"][0]["headers"]["Accept"][0], "application/json",
        "requestHeadersToMessage"
    );
}
on_both_drivers!(
    cross_shard_fan_out,
    post_reaches_get_sse_and_websocket_on_every_shard
);

fn order_per_publisher_is_kept(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(1000), driver));
    let addr = gateway.local_addr();
    let mut subscriber = ws(addr, "/topic");
    let publisher = std::thread::spawn(move || {
        let mut stream = connect(addr);
        for n in 0..300 {
            assert_eq!(
                post_on(&mut stream, "/topic", format!("{n}").as_bytes(), "").status,
                202
            );
        }
    });
    for n in 0..300 {
        assert_eq!(next_text(&mut subscriber), n.to_string());
    }
    publisher.join().unwrap();
}
on_both_drivers!(order_per_publisher_is_kept, order_per_publisher_is_kept);

fn resume_from_a_position_on_every_entrypoint(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(100), driver));
    let addr = gateway.local_addr();
    for n in 1..=10 {
        assert_eq!(
            post_once(addr, "/topic", format!("p{n}").as_bytes()).status,
            202
        );
    }
    let batch = get(
        addr,
        "/topic?cursor=3&limit=4",
        &[("Accept", "application/json")],
    )
    .json();
    assert_eq!(item_ids(&batch), vec![4, 5, 6, 7]);
    assert_eq!(batch["pagination"]["nextCursor"], "7");
    let rest = get(addr, "/topic?cursor=7", &[("Accept", "application/json")]).json();
    assert_eq!(item_ids(&rest), vec![8, 9, 10], "no gap, no duplicate");

    let (_, mut sse) = open_sse(addr, "/topic", &[("Last-Event-ID", "5")]);
    let text = read_sse_until(&mut sse, |t| t.contains("data: p10"));
    assert!(text.contains("id: 6\nevent: message\ndata: p6\n"), "{text}");
    assert!(!text.contains("data: p5\n"));

    let mut socket = ws(addr, "/topic?cursor=8");
    assert_eq!(next_text(&mut socket), "p9");
    assert_eq!(next_text(&mut socket), "p10");
}
on_both_drivers!(resume, resume_from_a_position_on_every_entrypoint);

fn cursors_outside_the_retained_ring_are_answered_clearly(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(5), driver));
    let addr = gateway.local_addr();
    for n in 1..=10 {
        post_once(addr, "/topic", format!("r{n}").as_bytes());
    }
    let gone = get(addr, "/topic?cursor=2", &[]);
    assert_eq!(gone.status, 410, "{}", gone.text());
    assert!(
        gone.text().contains("oldest retained message is 6"),
        "{}",
        gone.text()
    );
    let ahead = get(addr, "/topic?cursor=99", &[]);
    assert_eq!(ahead.status, 400);
    assert!(
        ahead.text().contains("newest message is 10"),
        "{}",
        ahead.text()
    );
    let sse = get(
        addr,
        "/topic",
        &[("Accept", "text/event-stream"), ("Last-Event-ID", "1")],
    );
    assert_eq!(sse.status, 410);
    let oldest = get(
        addr,
        "/topic?cursor=5&limit=100",
        &[("Accept", "application/json")],
    )
    .json();
    assert_eq!(item_ids(&oldest), vec![6, 7, 8, 9, 10]);
}
on_both_drivers!(
    cursors_outside_the_retained_ring_are_answered_clearly,
    cursors_outside_the_retained_ring_are_answered_clearly
);

fn post_errors_413_405_and_503(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(100), driver));
    let addr = gateway.local_addr();
    let over_body_limit = post_once(addr, "/topic", &[b'x'; 5000]);
    assert_eq!(over_body_limit.status, 413);
    let over_retention = post_once(addr, "/topic", &[b'x'; 3000]);
    assert_eq!(over_retention.status, 413);
    assert!(
        over_retention.text().contains("maxRetainedBytes"),
        "{}",
        over_retention.text()
    );
    let mock = post_once(addr, "/mock", b"hi");
    assert_eq!(mock.status, 405);
    assert!(
        mock.text().contains("does not accept published messages"),
        "{}",
        mock.text()
    );
    let get_only = raw(
        addr,
        b"PUT /topic HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(get_only.status, 405);
    assert_eq!(get_only.header("allow"), Some("GET, POST, OPTIONS"));

    // A POST whose body arrives after shutdown began is refused with 503, not lost silently.
    let mut late = connect(addr);
    late.write_all(b"POST /topic HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
        .unwrap();
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.http_requests_total
    ) >= 5));
    let stopper = std::thread::spawn(move || gateway.shutdown());
    assert!(eventually(Duration::from_secs(60), || TcpStream::connect(
        addr
    )
    .is_err()));
    late.write_all(b"late").unwrap();
    let refused = read_response(&mut BufReader::new(late));
    assert_eq!(refused.status, 503);
    assert!(refused.text().contains("shutting down"));
    stopper.join().unwrap();
}
on_both_drivers!(post_errors_413_405_and_503, post_errors_413_405_and_503);

fn websocket_publish_and_subscribe_on_one_socket_through_the_echo_route(driver: DriverChoice) {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/echo.yaml")).unwrap();
    let gateway = start(test_config(&yaml, driver));
    let mut socket = ws(gateway.local_addr(), "/echo");
    socket.send(Message::Text("hello".into())).unwrap();
    assert_eq!(next_text(&mut socket), "hello");

    socket
        .send(Message::Frame(Frame::message(
            b"frag".to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .unwrap();
    socket
        .send(Message::Frame(Frame::message(
            b"mented".to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .unwrap();
    assert_eq!(next_text(&mut socket), "fragmented");

    let binary = vec![0u8, 1, 2, 0xff, 0xfe];
    socket.send(Message::Binary(binary.clone().into())).unwrap();
    match next_data(&mut socket) {
        Message::Binary(payload) => assert_eq!(payload.to_vec(), binary),
        other => panic!("binary payload came back as {other:?}"),
    }
}
on_both_drivers!(
    websocket_publish_and_subscribe_on_one_socket_through_the_echo_route,
    websocket_publish_and_subscribe_on_one_socket_through_the_echo_route
);

/// A POST to `path` naming a topic (`?topic=`, `X-Topic`, even the configured one) and a
/// WebSocket upgrade with `?topic=` are answered 400, naming `configured` as the only topic.
fn assert_naming_a_topic_is_400(addr: SocketAddr, path: &str, what: &str, configured: &str) {
    let expected =
        format!("this API's {what} writes to its configured topic `{configured}`; remove `topic`");
    let by_query = post_once(addr, &format!("{path}?topic=scratch"), b"q");
    let by_header = post_on(
        &mut connect(addr),
        path,
        b"h",
        &format!("X-Topic: {configured}\r\n"),
    );
    for response in [by_query, by_header] {
        assert_eq!(response.status, 400, "{}", response.text());
        assert!(response.text().contains(&expected), "{}", response.text());
    }
    let upgrade = format!("ws://{addr}{path}?topic=scratch");
    match tungstenite::client::client(upgrade, connect(addr)) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains(&expected), "{body}");
        }
        Ok(_) => panic!("the upgrade naming a topic was accepted"),
        Err(err) => panic!("the upgrade naming a topic failed otherwise: {err}"),
    }
}

fn an_in_memory_post_or_upgrade_that_names_a_topic_is_400(driver: DriverChoice) {
    let gateway = start(test_config(&topic_yaml(10), driver));
    assert_naming_a_topic_is_400(gateway.local_addr(), "/topic", "in-memory endpoint", "t");
}
on_both_drivers!(
    an_in_memory_post_or_upgrade_that_names_a_topic_is_400,
    an_in_memory_post_or_upgrade_that_names_a_topic_is_400
);

/// A Kafka producer's topic is refused before any broker I/O: the broker here is unreachable.
fn a_kafka_post_or_upgrade_that_names_a_topic_is_400_without_a_broker(driver: DriverChoice) {
    let yaml = r#"
apis:
  - id: kafka-out
    name: Kafka out
    contextPaths: [/k]
    entrypoints:
      - type: http-post
      - type: websocket
        configuration:
          subscriber: { enabled: false }
    endpoint:
      type: kafka
      configuration:
        bootstrapServers: 127.0.0.1:9
        producer: { enabled: true, topics: [orders], requestTimeoutMs: 1000 }
    plans:
      - name: Keyless
        security: keyless
"#;
    let gateway = start(test_config(yaml, driver));
    assert_naming_a_topic_is_400(gateway.local_addr(), "/k", "Kafka producer", "orders");
}
on_both_drivers!(
    a_kafka_post_or_upgrade_that_names_a_topic_is_400_without_a_broker,
    a_kafka_post_or_upgrade_that_names_a_topic_is_400_without_a_broker
);

fn websocket_publish_to_a_mock_endpoint_is_refused(driver: DriverChoice) {
    // `tidegate check` refuses a publisher on Mock; a configuration built in code can still
    // have one, and the session refuses its messages.
    let mut config = test_config(&topic_yaml(10), driver);
    for entrypoint in &mut config.apis[1].entrypoints {
        if let tidegate::config::EntrypointConfig::WebSocket(ws) = entrypoint {
            ws.publisher_enabled = true;
        }
    }
    let gateway = start(config);
    let mut socket = ws(gateway.local_addr(), "/mock");
    socket.send(Message::Text("hi".into())).unwrap();
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Policy);
                assert!(frame.reason.contains("does not accept published messages"));
                break;
            }
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}"),
        }
    }
}
on_both_drivers!(
    websocket_publish_to_a_mock_endpoint_is_refused,
    websocket_publish_to_a_mock_endpoint_is_refused
);

fn thousand_subscribers_receive_every_message(driver: DriverChoice) {
    open_files::make_room_for_clients(1000);
    let gateway = start(test_config(&topic_yaml(100), driver));
    let addr = gateway.local_addr();
    let mut clients: Vec<Client> = (0..1000).map(|_| ws(addr, "/topic")).collect();
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.websocket_sessions_open
    ) == 1000));
    for n in 0..20 {
        assert_eq!(
            post_once(addr, "/topic", format!("b{n}").as_bytes()).status,
            202
        );
    }
    for client in &mut clients {
        for n in 0..20 {
            assert_eq!(next_text(client), format!("b{n}"));
        }
    }
}
on_both_drivers!(
    thousand_subscribers_receive_every_message,
    thousand_subscribers_receive_every_message
);

fn stalled_subscriber_does_not_delay_others_and_stays_bounded(driver: DriverChoice) {
    let yaml = topic_yaml(64)
        .replace("maxRetainedBytes: 2048", "maxRetainedBytes: 67108864")
        .replace("maxBodyBytes: 4096", "maxBodyBytes: 65536\n  outbound:\n    maxQueuedMessages: 8\n  timeouts:\n    shutdownMs: 500");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let _stalled = ws(addr, "/topic");
    let mut reader = ws(addr, "/topic");
    let payload = vec![b'z'; 32 * 1024];
    let mut publisher = connect(addr);
    for _ in 0..400 {
        assert_eq!(post_on(&mut publisher, "/topic", &payload, "").status, 202);
        assert_eq!(next_text(&mut reader).len(), payload.len());
    }
    let queued = total(gateway.metrics(), |m| &m.outbound_queued_messages);
    assert!(
        queued <= 2 * 8,
        "every client queue within maxQueuedMessages ({queued})"
    );
    let dropped = total(gateway.metrics(), |m| &m.messages_dropped_slow_client_total);
    assert!(
        dropped > 0,
        "the stalled client fell out of the retention ring and skipped ahead"
    );
}
on_both_drivers!(
    stalled_subscriber_does_not_delay_others_and_stays_bounded,
    stalled_subscriber_does_not_delay_others_and_stays_bounded
);

fn stalled_subscriber_is_disconnected_with_its_resume_cursor_under_the_disconnect_policy(
    driver: DriverChoice,
) {
    let yaml = topic_yaml(16)
        .replace("maxRetainedBytes: 2048", "maxRetainedBytes: 67108864")
        .replace("maxBodyBytes: 4096", "maxBodyBytes: 65536\n  outbound:\n    maxQueuedMessages: 4\n    slowClientPolicy: disconnect\n  timeouts:\n    shutdownMs: 500");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let mut stalled = ws(addr, "/topic");
    let payload = vec![b'z'; 32 * 1024];
    let mut publisher = connect(addr);
    let disconnected = || total(gateway.metrics(), |m| &m.clients_disconnected_slow_total) >= 1;
    for _ in 0..2000 {
        assert_eq!(post_on(&mut publisher, "/topic", &payload, "").status, 202);
        if disconnected() {
            break;
        }
    }
    assert!(
        disconnected(),
        "the stalled subscriber fell out of the 16-message ring"
    );
    stalled
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // What it had buffered arrives, then the close frame that tells it where to resume.
    let (code, reason) = loop {
        match stalled.read() {
            Ok(Message::Close(Some(frame))) => break (frame.code, frame.reason.to_string()),
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}"),
        }
    };
    assert_eq!(code, CloseCode::Again);
    assert!(
        reason.contains("too slow; reconnect with ?cursor="),
        "{reason}"
    );
}
on_both_drivers!(
    stalled_subscriber_is_disconnected_with_its_resume_cursor_under_the_disconnect_policy,
    stalled_subscriber_is_disconnected_with_its_resume_cursor_under_the_disconnect_policy
);

fn binary_payloads_survive_every_path(driver: DriverChoice) {
    use base64::Engine as _;
    let gateway = start(test_config(&topic_yaml(100), driver));
    let addr = gateway.local_addr();
    let binary: Vec<u8> = vec![0, 159, 146, 150, 255, b'\r', b'\n', 1];
    let encoded = base64::engine::general_purpose::STANDARD.encode(&binary);
    let mut socket = ws(addr, "/topic?cursor=0");
    assert_eq!(post_once(addr, "/topic", &binary).status, 202);

    let batch = get(addr, "/topic?cursor=0", &[("Accept", "application/json")]).json();
    assert_eq!(batch["items"][0]["content"], encoded.as_str());
    assert_eq!(batch["items"][0]["encoding"], "base64");

    let (_, mut sse) = open_sse(addr, "/topic", &[("Last-Event-ID", "0")]);
    let text = read_sse_until(&mut sse, |t| t.contains("data: "));
    assert!(
        text.contains(&format!("event: message-base64\ndata: {encoded}\n")),
        "{text}"
    );

    match next_data(&mut socket) {
        Message::Binary(payload) => assert_eq!(payload.to_vec(), binary),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}
on_both_drivers!(
    binary_payloads_survive_every_path,
    binary_payloads_survive_every_path
);

fn websocket_frames_split_across_reads(driver: DriverChoice) {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/echo.yaml")).unwrap();
    let gateway = start(test_config(&yaml, driver));
    let mut socket = ws(gateway.local_addr(), "/echo");
    // One masked text frame "split me", written in three pieces.
    let payload = b"split me";
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    for piece in [&frame[..1], &frame[1..5], &frame[5..]] {
        socket.get_mut().write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(next_text(&mut socket), "split me");
}
on_both_drivers!(ws_split_reads, websocket_frames_split_across_reads);

/// Large multi-line payloads go out zero-copy (line by line, by reference) and still parse back
/// exactly, in order, with their ids.
fn sse_events_with_large_multi_line_payloads_parse_back_exactly(driver: DriverChoice) {
    use tidegate::codec::sse::SseParser;
    let yaml = topic_yaml(100)
        .replace("maxRetainedBytes: 2048", "maxRetainedBytes: 1048576")
        .replace("maxBodyBytes: 4096", "maxBodyBytes: 65536");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let (_, mut sse) = open_sse(addr, "/topic", &[]);
    let payloads: Vec<String> = (0..20)
        .map(|n| format!("{}\n\n{}\nend {n}\n", "a".repeat(700 + n), "b".repeat(1500)))
        .collect();
    for payload in &payloads {
        assert_eq!(post_once(addr, "/topic", payload.as_bytes()).status, 202);
    }
    let text = read_sse_until(&mut sse, |t| t.contains("end 19\n"));
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.feed(text.as_bytes(), &mut events);
    let data: Vec<&str> = events
        .iter()
        .filter(|e| e.event_type == "message")
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(
        data,
        payloads.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(parser.last_event_id(), "20");
}
on_both_drivers!(
    sse_events_with_large_multi_line_payloads_parse_back_exactly,
    sse_events_with_large_multi_line_payloads_parse_back_exactly
);
