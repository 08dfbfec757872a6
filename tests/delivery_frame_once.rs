//! Frame once, share it (issue 17): every WebSocket and SSE subscriber of a shard gets a message
//! in the framing the first of them built (`delivery::frame_cache`), and receives exactly what it
//! received when each framed its own: the frame type, the SSE event, the payload bytes. Payloads
//! above the cache's size limit are framed per subscriber, as before.

mod common;

use std::time::Duration;

use common::topic_api::backlog_topic_yaml;
use common::ws_client::{next_data, ws_open, Data};
use common::*;
use tidegate::config::DriverChoice;
use tidegate::delivery::frame_cache::MAX_PAYLOAD_BYTES;
use tidegate::metrics::total;

const SUBSCRIBERS: usize = 3;

fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"hello\nworld".to_vec(),
        b"\xff\xfe binary".to_vec(),
        vec![b'm'; 2000],
        vec![b'L'; MAX_PAYLOAD_BYTES + 1],
    ]
}

/// The `data:` of each event in `text`: (event name, data lines joined).
fn events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l.starts_with("id: ")))
        .map(|block| {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("message")
                .to_owned();
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: ").or((l == "data").then_some("")))
                .collect();
            (name, data.join("\n"))
        })
        .collect()
}

fn subscribers_of_a_shard_share_each_framing(driver: DriverChoice) {
    let yaml = backlog_topic_yaml(
        "",
        "      - type: http-post\n      - type: websocket\n      - type: sse",
        1000,
    );
    let gateway = start_one_shard(&yaml, driver);
    let addr = gateway.local_addr();
    let mut sockets: Vec<_> = (0..SUBSCRIBERS).map(|_| ws_open(addr, "/topic")).collect();
    let mut streams: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let (head, reader) = open_sse(addr, "/topic", &[]);
            assert_eq!(head.status, 200);
            reader
        })
        .collect();
    for payload in payloads() {
        let response = post(addr, "/topic", &payload, "");
        assert_eq!(response.status, 202, "{}", response.text());
    }
    for socket in &mut sockets {
        let got: Vec<Data> = (0..payloads().len()).map(|_| next_data(socket)).collect();
        let want = vec![
            Data::Text("hello\nworld".to_owned()),
            Data::Binary(b"\xff\xfe binary".to_vec()),
            Data::Text("m".repeat(2000)),
            Data::Text("L".repeat(MAX_PAYLOAD_BYTES + 1)),
        ];
        assert!(got == want, "a WebSocket subscriber got other frames");
    }
    for stream in &mut streams {
        let text = read_sse_until(stream, |t| events(t).len() >= payloads().len());
        let got = events(&text);
        let want = vec![
            ("message".to_owned(), "hello\nworld".to_owned()),
            ("message-base64".to_owned(), "//4gYmluYXJ5".to_owned()),
            ("message".to_owned(), "m".repeat(2000)),
            ("message".to_owned(), "L".repeat(MAX_PAYLOAD_BYTES + 1)),
        ];
        assert!(
            got == want,
            "an SSE subscriber got other events: {text:.300}"
        );
    }
    // The three small messages were framed once per entrypoint; the other subscribers shared.
    let shared = 3 * (SUBSCRIBERS as u64 - 1) * 2;
    assert!(
        eventually(Duration::from_secs(10), || total(gateway.metrics(), |m| {
            &m.delivery_frames_shared_total
        }) == shared),
        "shared framings: {} (want {shared})",
        total(gateway.metrics(), |m| &m.delivery_frames_shared_total)
    );
    assert!(total(gateway.metrics(), |m| &m.delivery_frame_cache_bytes) > 0);
}
on_both_drivers!(shared_framing, subscribers_of_a_shard_share_each_framing);
