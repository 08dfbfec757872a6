//! SSE clients that stop reading, on an in-memory topic: their queues stay bounded, the others
//! are not delayed, and `slowClientPolicy` decides what the slow one gets: a gap in its ids
//! (`drop-oldest`) or a `goaway` event that ends its stream (`disconnect`).

mod common;

use std::io::Write;

use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tidegate::runtime::Gateway;

/// An in-memory topic on `/topic` (16 messages retained) with SSE and POST, and an outbound
/// queue of 4 messages under `policy`.
fn gateway(policy: &str, driver: DriverChoice) -> Gateway {
    let yaml = format!(
        r#"
gateway:
  limits:
    maxBodyBytes: 65536
  outbound:
    maxQueuedMessages: 4
    slowClientPolicy: {policy}
  timeouts:
    shutdownMs: 500
apis:
  - id: topic-api
    name: Topic API
    contextPaths: [/topic]
    entrypoints:
      - type: http-post
      - type: sse
        configuration:
          heartbeatIntervalInMs: 60000
    endpoint:
      type: in-memory
      configuration:
        topic: t
        maxRetainedMessages: 16
        maxRetainedBytes: 67108864
    plans:
      - name: Keyless
        security: keyless
"#
    );
    start(test_config(&yaml, driver))
}

fn ids_in(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.trim().parse().unwrap())
        .collect()
}

/// POSTs 32 KiB messages until `done` (checked after each) or 2,000 were sent; after each,
/// `each(count sent so far)`.
fn publish_until(
    addr: std::net::SocketAddr,
    mut each: impl FnMut(usize),
    mut done: impl FnMut() -> bool,
) -> usize {
    let payload = vec![b'z'; 32 * 1024];
    let mut publisher = connect(addr);
    for sent in 1..=2000 {
        assert_eq!(post_on(&mut publisher, "/topic", &payload, "").status, 202);
        each(sent);
        if done() {
            return sent;
        }
    }
    2000
}

fn a_stalled_stream_skips_ahead_under_drop_oldest_and_others_get_everything(driver: DriverChoice) {
    let gateway = gateway("drop-oldest", driver);
    let addr = gateway.local_addr();
    let (_, mut stalled) = open_sse(addr, "/topic", &[]);
    let (_, mut reader) = open_sse(addr, "/topic", &[]);
    let dropped = || total(gateway.metrics(), |m| &m.messages_dropped_slow_client_total);
    // The reader reads each message as it is published: the stalled one does not delay it.
    let mut ids = Vec::new();
    let sent = publish_until(
        addr,
        |sent| {
            while ids.len() < sent {
                ids.extend(ids_in(&read_sse_until(&mut reader, |t| {
                    !ids_in(t).is_empty()
                })));
            }
        },
        || dropped() > 0,
    );
    assert!(dropped() > 0, "nothing dropped after {sent} messages");
    assert!(total(gateway.metrics(), |m| &m.outbound_queued_messages) <= 2 * 4);
    assert_eq!(ids.len(), sent);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");

    // The stalled one, once it reads, gets the newest message after a gap, and no goaway.
    let last = *ids.last().unwrap();
    let text = read_sse_until(&mut stalled, |t| ids_in(t).contains(&last));
    let stalled_ids = ids_in(&text);
    assert!(
        stalled_ids.windows(2).any(|w| w[1] > w[0] + 1),
        "no gap in the stalled client's ids: {stalled_ids:?}"
    );
    assert_eq!(stalled_ids.last(), Some(&last));
    assert!(!text.contains("event: goaway"), "{text}");
    assert_eq!(
        total(gateway.metrics(), |m| &m.clients_disconnected_slow_total),
        0
    );
}
on_both_drivers!(
    a_stalled_stream_skips_ahead_under_drop_oldest_and_others_get_everything,
    a_stalled_stream_skips_ahead_under_drop_oldest_and_others_get_everything
);

fn a_stalled_stream_ends_with_goaway_under_disconnect(driver: DriverChoice) {
    let gateway = gateway("disconnect", driver);
    let addr = gateway.local_addr();
    let (_, mut stalled) = open_sse(addr, "/topic", &[]);
    let disconnected = || total(gateway.metrics(), |m| &m.clients_disconnected_slow_total) >= 1;
    publish_until(addr, |_| {}, disconnected);
    assert!(disconnected(), "the stalled stream fell out of the ring");
    // What it had buffered arrives, then the goaway that tells it to resume, then the end.
    let text = read_sse_until(&mut stalled, |_| false);
    let goaway = text
        .split("\n\n")
        .find(|event| event.contains("event: goaway"))
        .unwrap_or_else(|| panic!("no goaway: ...{}", &text[text.len().saturating_sub(300)..]));
    assert!(goaway.contains("too slow"), "{goaway}");
    assert!(
        text.trim_end().ends_with(goaway.trim_end()),
        "the goaway is the last event"
    );
    // The stream is over: the gateway closed the connection.
    let mut socket = stalled.into_inner();
    assert!(
        socket.write_all(b"x").is_err()
            || std::io::Read::read(&mut socket, &mut [0; 1]).ok() == Some(0),
        "the connection is closed"
    );
    assert!(eventually(std::time::Duration::from_secs(30), || {
        total(gateway.metrics(), |m| &m.sse_streams_open) == 0
    }));
}
on_both_drivers!(
    a_stalled_stream_ends_with_goaway_under_disconnect,
    a_stalled_stream_ends_with_goaway_under_disconnect
);
