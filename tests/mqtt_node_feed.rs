//! One MQTT broker subscription per node, held by one shard, read by all: cursors are
//! node-wide (a message has one id on every shard, and a cursor issued on one shard resumes,
//! with HTTP GET `?cursor=` or SSE `Last-Event-ID`, on every shard with the right next messages;
//! a user once saw a cursor from SSE answered 410 by half of six GET polls: those that reached
//! the other shard), and at-least-once PUBACKs wait for clients on every shard.

mod common;

use common::mosquitto::Mosquitto;
use common::mqtt_api::*;
use common::shards::{get_on, one_connection_per_shard, sse_events, sse_on};
use common::*;
use tidegate::config::DriverChoice;

const ENTRYPOINTS: &str = r#"      - type: http-get
        configuration:
          messagesLimitCount: 10
          messagesLimitDurationMs: 15000
      - type: sse"#;

fn a_cursor_resumes_on_every_shard(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let yaml = api_yaml(
        broker.port,
        ENTRYPOINTS,
        "        consumer:\n          topic: node/#\n",
    );
    let gateway = start(test_config(&yaml, driver));
    assert_eq!(gateway.metrics().len(), 2, "the test needs two shards");

    // A live SSE client on each shard.
    let mut live: Vec<_> = one_connection_per_shard(&gateway)
        .into_iter()
        .map(|stream| {
            let (status, reader) = sse_on(stream, "/m", &[]);
            assert_eq!(status, 200);
            reader
        })
        .collect();
    wait_subscribed(&gateway, &broker);
    for payload in ["m1", "m2", "m3", "m4"] {
        broker.publish("node/a", payload, &[]);
    }
    let seen: Vec<Vec<(String, String)>> = live
        .iter_mut()
        .map(|reader| sse_events(&read_sse_until(reader, |t| sse_events(t).len() >= 4)))
        .collect();
    let payloads: Vec<&str> = seen[0].iter().map(|(_, data)| data.as_str()).collect();
    assert_eq!(payloads, ["m1", "m2", "m3", "m4"]);
    let id = |n: usize| seen[0][n].0.clone();

    // The cursor after m1, from shard 0's SSE stream, resumes on every shard.
    for (shard, mut stream) in one_connection_per_shard(&gateway).into_iter().enumerate() {
        let target = format!("/m?cursor={}&limit=3", id(0));
        let response = get_on(&mut stream, &target, &[("Accept", "application/json")]);
        assert_eq!(response.status, 200, "shard {shard}: {}", response.text());
        let batch = response.json();
        let contents: Vec<&str> = batch["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["content"].as_str().unwrap())
            .collect();
        assert_eq!(contents, ["m2", "m3", "m4"], "shard {shard}: {batch}");
        let ids: Vec<String> = item_ids(&batch).iter().map(u64::to_string).collect();
        assert_eq!(ids, [id(1), id(2), id(3)], "shard {shard}");
    }
    // So does `Last-Event-ID`.
    for (shard, stream) in one_connection_per_shard(&gateway).into_iter().enumerate() {
        let (status, mut reader) = sse_on(stream, "/m", &[("Last-Event-ID", &id(1))]);
        assert_eq!(status, 200, "shard {shard}");
        let events = sse_events(&read_sse_until(&mut reader, |t| sse_events(t).len() >= 2));
        assert_eq!(
            events,
            [(id(2), "m3".to_owned()), (id(3), "m4".to_owned())],
            "shard {shard}"
        );
    }
    // Every shard's live client saw the same ids, from one broker subscription.
    assert_eq!(seen[0], seen[1], "one numbering for the node");
    assert_eq!(broker.log_count("Received SUBSCRIBE from tidegate-"), 1);
}
on_both_drivers!(resume_anywhere, a_cursor_resumes_on_every_shard);

/// The test broker saves its database (here 25 MB) after every change, each PUBACK included: on
/// a loaded machine it takes far longer than `WAIT` to log 400 of them.
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(180);

/// `qos: at-least-once` with the only client on the shard that does not hold the subscription:
/// the owner's PUBACKs wait until that client has been written each message.
fn at_least_once_waits_for_a_client_on_another_shard(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let entrypoints = r#"      - type: websocket
        qos: at-least-once
        configuration:
          publisher: { enabled: false }"#;
    let endpoint = "        consumer:\n          topic: alo/2\n          qos: 1\n";
    let gateway = start(test_config(
        &api_yaml(broker.port, entrypoints, endpoint),
        driver,
    ));
    // The first consumer API's subscription is held by shard 0; the client is on shard 1.
    let stream = one_connection_per_shard(&gateway).pop().unwrap();
    let url = format!("ws://{}/m", gateway.local_addr());
    let (mut socket, _) = tungstenite::client::client(url, stream).expect("handshake");
    wait_subscribed(&gateway, &broker);
    let gateway_acks = || broker.log_count("Received PUBACK from tidegate-");
    // 400 × 64 KiB: more than the socket buffers and the client's queue can hold unread.
    let payload = "p".repeat(64 * 1024);
    const COUNT: usize = 400;
    for _ in 0..COUNT {
        broker.publish("alo/2", &payload, &[]);
    }
    let held = gateway_acks();
    assert!(
        held < COUNT,
        "PUBACKs wait for a client that does not read ({held} of {COUNT})"
    );
    for n in 0..COUNT {
        assert_eq!(next_text(&mut socket).len(), payload.len(), "message {n}");
    }
    assert!(
        eventually(ACK_WAIT, || gateway_acks() >= COUNT),
        "every message acknowledged once delivered ({} of {COUNT}; received {}, connection losses {})",
        gateway_acks(),
        metric(&gateway, |m| &m.mqtt_messages_received_total),
        metric(&gateway, |m| &m.mqtt_connection_losses_total),
    );
}
on_both_drivers!(
    at_least_once_waits_for_a_client_on_another_shard,
    at_least_once_waits_for_a_client_on_another_shard
);
