//! HTTP GET replies that clients do not read: what they pin is bounded per shard
//! (`limits.maxGetReplyBytesPerShard`, gauge `http_get_reply_bytes_in_flight`), a poll that
//! cannot get budget is answered 503 with `Retry-After` or a smaller batch, and a stalled reply
//! is abandoned after `timeouts.replyStallMs`.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::time::Duration;

use common::slow_reader::send_small_window;
use common::topic_api::{backlog_topic_yaml, publish_backlog};
use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tidegate::runtime::Gateway;

const PAYLOAD_BYTES: usize = 10_000;
const MESSAGES: usize = 1000;
/// 7 MiB: less than one reply of all 1000 messages (10 MB), more than one of 600 (6 MB).
const BUDGET_BYTES: u64 = 7 * 1024 * 1024;

/// One shard; an in-memory topic; queues and polls large enough for 1000 × 10 KB in one reply.
fn yaml(reply_stall_ms: u64) -> String {
    let gateway = format!(
        r#"gateway:
  limits: {{ maxGetReplyBytesPerShard: {BUDGET_BYTES} }}
  outbound: {{ maxQueuedMessages: 2000, maxQueuedBytes: 16777216 }}
  timeouts: {{ replyStallMs: {reply_stall_ms} }}"#
    );
    let entrypoints = r#"      - type: http-post
      - type: http-get
        configuration: { messagesLimitCount: 1000, messagesLimitDurationMs: 500 }"#;
    backlog_topic_yaml(&gateway, entrypoints, 10_000)
}

/// A gateway whose topic holds `MESSAGES` messages of 10 KB (10 MB, more than the kernel
/// buffers of a connection take: a reply of them cannot be written to a client that does not
/// read). Returns it and the published ids.
fn gateway_with_backlog(reply_stall_ms: u64, driver: DriverChoice) -> (Gateway, Vec<u64>) {
    let gateway = start_one_shard(&yaml(reply_stall_ms), driver);
    let payloads = (0..MESSAGES).map(|_| vec![b'p'; PAYLOAD_BYTES]);
    let ids = publish_backlog(gateway.local_addr(), "/topic", payloads);
    (gateway, ids)
}

fn poll_request(cursor: u64, limit: usize) -> String {
    format!(
        "GET /topic?cursor={cursor}&limit={limit} HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n\r\n"
    )
}

/// A poll from a client that does not read (4 KiB receive buffer).
fn stalled_poll(gateway: &Gateway, cursor: u64, limit: usize) -> TcpStream {
    send_small_window(gateway.local_addr(), 4096, &poll_request(cursor, limit))
}

fn in_flight(gateway: &Gateway) -> u64 {
    total(gateway.metrics(), |m| &m.http_get_reply_bytes_in_flight)
}

fn budget_bounds_replies_in_flight(driver: DriverChoice) {
    let (gateway, ids) = gateway_with_backlog(60_000, driver);
    let before = ids[0] - 1;

    // Ten clients ask for everything (10 MB each) and read nothing. The first reply takes the
    // idle budget (any one reply fits an idle budget); the others get a 503, not 10 MB each.
    let stalled: Vec<TcpStream> = (0..10)
        .map(|_| stalled_poll(&gateway, before, 1000))
        .collect();
    assert!(
        eventually(Duration::from_secs(60), || total(gateway.metrics(), |m| {
            &m.http_get_replies_refused_total
        }) == 9),
        "nine of the ten polls were refused"
    );
    let one_reply = in_flight(&gateway);
    assert!(
        one_reply > BUDGET_BYTES && one_reply < 11_000_000,
        "one whole reply in flight, no more: {one_reply}"
    );
    let mut statuses = Vec::new();
    for stream in stalled {
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader);
        if response.status == 503 {
            assert_eq!(response.header("retry-after"), Some("1"));
            assert!(
                response.text().contains("poll again"),
                "{}",
                response.text()
            );
        } else {
            assert_eq!(item_ids(&response.json()), ids);
        }
        statuses.push(response.status);
    }
    statuses.sort();
    assert_eq!(statuses, [vec![200], vec![503; 9]].concat());
    assert!(eventually(Duration::from_secs(60), || in_flight(&gateway) == 0));

    // A stalled reply of 600 messages (6 MB) leaves about 1.3 MB of budget: the next poll gets
    // a smaller batch, and its nextCursor continues right after it.
    let stalled = stalled_poll(&gateway, before, 600);
    assert!(eventually(Duration::from_secs(30), || in_flight(&gateway) > 0));
    let response = get(
        gateway.local_addr(),
        &format!("/topic?cursor={before}&limit=1000"),
        &[("Accept", "application/json")],
    );
    assert_eq!(response.status, 200);
    let body = response.json();
    let got = item_ids(&body);
    assert!(
        !got.is_empty() && got.len() < 200,
        "a batch cut to the budget left: {} items",
        got.len()
    );
    assert_eq!(got[..], ids[..got.len()]);
    assert_eq!(
        body["pagination"]["nextCursor"],
        got.last().unwrap().to_string()
    );
    assert_eq!(
        total(gateway.metrics(), |m| &m.http_get_replies_trimmed_total),
        1
    );
    drop(stalled);
    assert!(
        eventually(Duration::from_secs(30), || in_flight(&gateway) == 0),
        "a reply whose client left gives its budget back"
    );
}
on_both_drivers!(budget, budget_bounds_replies_in_flight);

fn stalled_reply_is_abandoned_after_reply_stall_ms(driver: DriverChoice) {
    // keepAliveIdleMs stays at its default (60 s): the reply's own, shorter deadline applies.
    let (gateway, ids) = gateway_with_backlog(1000, driver);
    let _stalled = stalled_poll(&gateway, ids[0] - 1, 1000);
    assert!(
        eventually(Duration::from_secs(30), || total(gateway.metrics(), |m| {
            &m.http_replies_stalled_total
        }) == 1),
        "the reply nobody reads is abandoned"
    );
    assert!(eventually(Duration::from_secs(60), || {
        in_flight(&gateway) == 0 && total(gateway.metrics(), |m| &m.connections_open) == 0
    }));
}
on_both_drivers!(reply_stall, stalled_reply_is_abandoned_after_reply_stall_ms);
