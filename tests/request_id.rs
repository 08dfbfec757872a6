//! `X-Request-Id`: every answer carries one (successes, errors, the SSE and WebSocket handshakes);
//! a client's own id is echoed when sane, and replaced when too long or not visible ASCII.

mod common;

use common::topic_api::chat_yaml;
use common::{connect, get, open_sse, post, start};
use tidegate::config::DriverChoice;

const ENTRYPOINTS: &str = "      - type: http-get
      - type: http-post
      - type: sse
      - type: websocket
";

fn is_generated(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn every_answer_carries_a_generated_id(driver: DriverChoice) {
    let gateway = start(common::test_config(&chat_yaml("", ENTRYPOINTS), driver));
    let addr = gateway.local_addr();
    let posted = post(addr, "/chat", "m", "");
    let polled = get(addr, "/chat?cursor=0&limit=1", &[]);
    let missing = get(addr, "/missing", &[]);
    let (sse, _stream) = open_sse(addr, "/chat", &[]);
    let (_ws, upgraded) =
        tungstenite::client::client(format!("ws://{addr}/chat"), connect(addr)).unwrap();
    let ids = [
        (
            202,
            posted.status,
            posted.header("x-request-id").map(str::to_owned),
        ),
        (
            200,
            polled.status,
            polled.header("x-request-id").map(str::to_owned),
        ),
        (
            404,
            missing.status,
            missing.header("x-request-id").map(str::to_owned),
        ),
        (
            200,
            sse.status,
            sse.header("x-request-id").map(str::to_owned),
        ),
        (
            101,
            upgraded.status().as_u16(),
            upgraded
                .headers()
                .get("x-request-id")
                .map(|value| value.to_str().unwrap().to_owned()),
        ),
    ];
    for (expected, status, id) in &ids {
        assert_eq!(status, expected);
        let id = id
            .as_deref()
            .unwrap_or_else(|| panic!("no X-Request-Id on the {status}"));
        assert!(is_generated(id), "{id}");
    }
    let distinct: std::collections::HashSet<_> = ids.iter().map(|(_, _, id)| id).collect();
    assert_eq!(distinct.len(), ids.len());
    drop((_ws, _stream));
    gateway.shutdown();
}
on_both_drivers!(
    every_answer_carries_a_generated_id,
    every_answer_carries_a_generated_id
);

fn a_sane_client_id_is_echoed_and_others_are_replaced(driver: DriverChoice) {
    let gateway = start(common::test_config(&chat_yaml("", ENTRYPOINTS), driver));
    let addr = gateway.local_addr();
    let sane = "req-7f3a:trace/42";
    let echoed = post(addr, "/chat", "m", &format!("X-Request-Id: {sane}\r\n"));
    assert_eq!(echoed.status, 202);
    assert_eq!(echoed.header("x-request-id"), Some(sane));
    let longest = "a".repeat(128);
    let kept = get(addr, "/missing", &[("X-Request-Id", &longest)]);
    assert_eq!(kept.header("x-request-id"), Some(longest.as_str()));
    let (sse, stream) = open_sse(addr, "/chat", &[("X-Request-Id", sane)]);
    assert_eq!(sse.header("x-request-id"), Some(sane));
    drop(stream);

    let too_long = "a".repeat(129);
    for bad in [too_long.as_str(), "two words", "quote\"d\"but spaced"] {
        let replaced = get(addr, "/chat?cursor=0&limit=1", &[("X-Request-Id", bad)]);
        assert_eq!(replaced.status, 200);
        let id = replaced.header("x-request-id").unwrap();
        assert!(is_generated(id), "{bad:?} gave {id:?}");
    }
    // Not ASCII (sent as raw bytes: the helpers write strings).
    let mut raw =
        b"GET /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Request-Id: caf".to_vec();
    raw.extend_from_slice("é\r\n\r\n".as_bytes());
    let answer = common::raw(addr, &raw);
    assert_eq!(answer.status, 404);
    assert!(is_generated(answer.header("x-request-id").unwrap()));
    gateway.shutdown();
}
on_both_drivers!(
    a_sane_client_id_is_echoed_and_others_are_replaced,
    a_sane_client_id_is_echoed_and_others_are_replaced
);
