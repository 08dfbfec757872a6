//! A message keeps the frame type it was published with: binary bytes that happen to be UTF-8
//! (an empty message too) stay binary through an in-memory topic, text stays text, and an HTTP
//! POST's `Content-Type` decides for the messages it publishes.

mod common;

use common::topic_api::chat_yaml;
use common::ws_client::{next_data, ws_open, Data};
use common::*;
use tidegate::config::DriverChoice;
use tungstenite::Message;

/// `/chat`: WebSocket and POST over an in-memory topic.
fn topic_api() -> String {
    chat_yaml("", "      - type: websocket\n      - type: http-post")
}

fn websocket_frame_types_survive_the_topic(driver: DriverChoice) {
    let gateway = start(test_config(&topic_api(), driver));
    let addr = gateway.local_addr();
    // Resuming from cursor 0 replays everything, so the order of connecting does not matter.
    let mut publisher = ws_open(addr, "/chat");
    let sent = [
        Message::Binary(b"utf8 but binary".to_vec().into()),
        Message::Binary(Vec::new().into()),
        Message::Text("text".into()),
        Message::Binary(vec![0xff, 0x00].into()),
        Message::Text(String::new().into()),
    ];
    for message in sent {
        publisher.send(message).unwrap();
    }
    let mut subscriber = ws_open(addr, "/chat?cursor=0");
    let received: Vec<Data> = (0..5).map(|_| next_data(&mut subscriber)).collect();
    assert_eq!(
        received,
        [
            Data::Binary(b"utf8 but binary".to_vec()),
            Data::Binary(Vec::new()),
            Data::Text("text".into()),
            Data::Binary(vec![0xff, 0x00]),
            Data::Text(String::new()),
        ]
    );
}
on_both_drivers!(
    frame_types_survive_the_topic,
    websocket_frame_types_survive_the_topic
);

fn http_post_content_type_decides_the_frame_type(driver: DriverChoice) {
    let gateway = start(test_config(&topic_api(), driver));
    let addr = gateway.local_addr();
    let posts = [
        ("Content-Type: application/octet-stream\r\n", &b"bytes"[..]),
        ("Content-Type: text/plain; charset=utf-8\r\n", b"words"),
        ("Content-Type: application/json\r\n", b"{\"a\":1}"),
        // A text type whose bytes are not UTF-8 cannot be a text frame.
        ("Content-Type: text/plain\r\n", b"\xfe"),
        // No telling type: UTF-8 is text, as before.
        ("", b"plain"),
        (
            "Content-Type: application/x-www-form-urlencoded\r\n",
            b"a=1",
        ),
    ];
    for (header, body) in posts {
        assert_eq!(post(addr, "/chat", body, header).status, 202);
    }
    let mut subscriber = ws_open(addr, "/chat?cursor=0");
    let received: Vec<Data> = (0..posts.len())
        .map(|_| next_data(&mut subscriber))
        .collect();
    assert_eq!(
        received,
        [
            Data::Binary(b"bytes".to_vec()),
            Data::Text("words".into()),
            Data::Text("{\"a\":1}".into()),
            Data::Binary(vec![0xfe]),
            Data::Text("plain".into()),
            Data::Text("a=1".into()),
        ]
    );
}
on_both_drivers!(
    http_post_content_type_decides_the_frame_type,
    http_post_content_type_decides_the_frame_type
);
