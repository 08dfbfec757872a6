//! A stalled subscriber must not hold back the other subscribers of its topic on its shard
//! (`delivery::Fanout`), whatever fills its queue first: the message bound or the byte bound.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::time::Duration;

use common::slow_reader::{send_small_window, sse_request};
use common::topic_api::backlog_topic_yaml;
use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;

const PAYLOAD_BYTES: usize = 10_000;
const ROUND: usize = 100;

/// One shard, an in-memory topic with SSE and POST. 10 KB messages fill a 4 MiB queue (the
/// default `maxQueuedBytes`) by bytes at about 400 messages, long before its 1024-message bound.
fn topic_yaml(retained: usize, policy: &str) -> String {
    backlog_topic_yaml(
        &format!("gateway:\n  outbound: {{ slowClientPolicy: {policy} }}"),
        "      - type: http-post\n      - type: sse",
        retained,
    )
}

fn ids_in(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

/// Publishes `rounds` rounds of `ROUND` messages; after each round, reads the live client's
/// stream until it has the round's last message (so it never lags far behind, whatever the
/// machine's load). Returns the ids published and every id the live client received.
fn publish_and_follow(
    gateway: &tidegate::runtime::Gateway,
    live: &mut BufReader<TcpStream>,
    rounds: usize,
) -> (Vec<u64>, Vec<u64>) {
    let mut publisher = connect(gateway.local_addr());
    let payload = vec![b'p'; PAYLOAD_BYTES];
    let mut received = Vec::new();
    let mut published = Vec::new();
    for round in 0..rounds {
        let mut last = None;
        for _ in 0..ROUND {
            let response = post_on(&mut publisher, "/topic", &payload, "");
            assert_eq!(response.status, 202, "{}", response.text());
            let id = response.header("x-message-id").unwrap().parse().unwrap();
            published.push(id);
            last = Some(id);
        }
        let last = last.unwrap();
        let text = read_sse_until(live, |t| ids_in(t).last() >= Some(&last));
        let ids = ids_in(&text);
        received.extend(ids);
        assert_eq!(
            received.last(),
            Some(&last),
            "round {round}: the live client stopped at {:?} of {} messages (a stalled client on its shard held it back)",
            received.last(),
            (round + 1) * ROUND
        );
    }
    (published, received)
}

/// The hardening issue's repro: one shard, one SSE client that never reads (4 KiB receive
/// buffer), one that does; 2,000 × 10 KB messages. The live client got 939 of them.
fn live_subscriber_gets_everything_beside_a_stalled_one(driver: DriverChoice) {
    let gateway = start_one_shard(&topic_yaml(10_000, "drop-oldest"), driver);
    let addr = gateway.local_addr();
    let _stalled: TcpStream = send_small_window(addr, 4096, &sse_request("/topic"));
    let (head, mut live) = open_sse(addr, "/topic", &[]);
    assert_eq!(head.status, 200);
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.sse_streams_open
    ) == 2));
    let (published, received) = publish_and_follow(&gateway, &mut live, 20);
    assert_eq!(published.len(), 2000);
    assert!(received == published, "the live client missed messages");
}
on_both_drivers!(
    live_beside_stalled,
    live_subscriber_gets_everything_beside_a_stalled_one
);

/// With a ring shorter than the stalled client's lag, the slow-client policy applies to it
/// (`disconnect`: it is ended with its resume position) while the live client keeps going.
fn stalled_subscriber_gets_the_slow_client_policy(driver: DriverChoice) {
    let gateway = start_one_shard(&topic_yaml(300, "disconnect"), driver);
    let addr = gateway.local_addr();
    let _stalled: TcpStream = send_small_window(addr, 4096, &sse_request("/topic"));
    let (_, mut live) = open_sse(addr, "/topic", &[]);
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.sse_streams_open
    ) == 2));
    let (published, received) = publish_and_follow(&gateway, &mut live, 20);
    assert!(received == published, "the live client missed messages");
    assert_eq!(
        total(gateway.metrics(), |m| &m.clients_disconnected_slow_total),
        1,
        "the stalled client fell out of the ring and was disconnected; the live one was not"
    );
}
on_both_drivers!(
    stalled_gets_policy,
    stalled_subscriber_gets_the_slow_client_policy
);
