//! A WebSocket publisher ends with the close handshake after its last message, instead of
//! dropping a socket that holds unread answers (nchan answers every publish): such a close sends
//! RST, and nginx + nchan lost the last message to every subscriber that way.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use tidegate::codec::ws::{accept_key, encode_text, FrameDecoder, WsEvent, WsLimits};
use tidegate_load::publisher::PubProtocol;
use tidegate_load::run::Workload;
use tidegate_load::subscriber::SubProtocol;

/// What the fake server saw on its publisher connection, in order: "text" per message, then
/// "close" if a close frame came.
fn serve_publisher(listener: TcpListener, seen: mpsc::Sender<Vec<&'static str>>) {
    let (mut stream, _) = listener.accept().unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).unwrap();
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key:"))
        .unwrap()
        .trim()
        .to_owned();
    let _ = buf.split_to(head_end);
    let accept = accept_key(key.as_bytes());
    stream
        .write_all(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut decoder = FrameDecoder::new(WsLimits {
        max_frame_bytes: 1 << 16,
        max_message_bytes: 1 << 16,
    });
    let mut events = Vec::new();
    loop {
        while let Ok(Some(event)) = decoder.decode(&mut buf) {
            match event {
                WsEvent::Text(_) => {
                    events.push("text");
                    // Like nchan: an answer per publish, which the publisher never reads.
                    let mut answer = BytesMut::new();
                    encode_text(&mut answer, b"202 Accepted");
                    let _ = stream.write_all(&answer);
                }
                WsEvent::Close(_) => {
                    events.push("close");
                    let _ = stream.write_all(&[0x88, 0x02, 0x03, 0xe8]);
                    seen.send(events).unwrap();
                    return;
                }
                _ => {}
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    seen.send(events).unwrap();
}

#[test]
fn a_websocket_publisher_closes_with_the_handshake_after_its_last_message() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve_publisher(listener, tx));
    let w = Workload {
        target,
        sub: SubProtocol::Ws,
        sub_path: "/sub".into(),
        subscribers: 1,
        publish: PubProtocol::Ws,
        pub_path: "/pub".into(),
        publishers: 1,
        rate_per_s: 50.0,
        size_bytes: 64,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(200),
        threads: 1,
        source_ips: 1,
        get_limit: 1,
        max_in_flight: 1000,
        sub_addr: None,
        sub_tls: None,
        headers: Vec::new(),
    };
    // The publisher thread alone: this test is about the publisher's connection.
    let clock = tidegate_load::schedule::Clock::new();
    let window = tidegate_load::recorder::Window::default();
    let progress = std::sync::Arc::new(tidegate_load::recorder::Progress::default());
    let (publishers, _) =
        tidegate_load::publisher::publish_on_schedule(&w, clock, &window, progress)
            .expect("publishes");
    assert_eq!(publishers[0].sent, 10);
    let seen = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server saw the end");
    let mut expected = vec!["text"; 10];
    expected.push("close");
    assert_eq!(seen, expected);
    assert!(publishers[0].error.is_none(), "{:?}", publishers[0].error);
}
