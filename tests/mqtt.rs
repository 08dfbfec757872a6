//! The MQTT endpoint against a real mosquitto (tests/common/mosquitto.rs): consuming into GET,
//! SSE and WebSocket clients, producing from POST and WebSocket, wildcard filters, a QoS 1
//! persistent session across a broker kill -9, one broker connection and subscription per node
//! for 1,000 clients, and UNSUBSCRIBE after the last client.

mod common;

use std::io::{BufReader, Write};

use common::mosquitto::Mosquitto;
use common::mqtt_api::*;
use common::*;
use tidegate::config::{self, DriverChoice};
use tidegate::cross_shard::mqtt_feed::{epoch_of, EPOCH_MASK, SEQUENCE_BITS};
use tidegate::metrics::ShardMetrics;
use tungstenite::Message;

fn broker_messages_reach_get_sse_and_websocket(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let yaml = api_yaml(
        broker.port,
        CONSUMING,
        "        consumer:\n          topic: sensors/#\n",
    );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let mut socket = ws(addr, "/m");
    let (head, mut sse) = open_sse(addr, "/m", &[]);
    assert_eq!(head.status, 200);
    let mut poll = connect(addr);
    poll.write_all(b"GET /m HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n\r\n")
        .unwrap();
    assert!(eventually(WAIT, || metric(&gateway, |m| &m
        .http_get_polls_open)
        == 1));
    wait_subscribed(&gateway, &broker);

    broker.publish(
        "sensors/a",
        "one",
        &["-V", "5", "-D", "publish", "user-property", "unit", "C"],
    );
    broker.publish("sensors/b/c", "two", &[]);

    assert_eq!(next_text(&mut socket), "one");
    assert_eq!(next_text(&mut socket), "two");
    let text = read_sse_until(&mut sse, |t| t.matches("data: ").count() >= 2);
    assert!(
        text.contains("data: one\n") && text.contains("data: two\n"),
        "{text}"
    );
    let batch = read_response(&mut BufReader::new(poll)).json();
    let items = batch["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{batch}");
    assert_eq!(items[0]["content"], "one");
    assert_eq!(items[0]["metadata"]["topic"], "sensors/a");
    assert_eq!(items[0]["metadata"]["qos"], "1");
    assert_eq!(items[0]["metadata"]["retain"], "false");
    assert_eq!(
        items[0]["headers"]["unit"][0], "C",
        "MQTT 5 user property as a header"
    );
    assert_eq!(items[1]["metadata"]["topic"], "sensors/b/c");

    // The batch's last id resumes after it (the subscription lingers for the next poll).
    let last = batch["items"][1]["id"].as_str().unwrap().to_owned();
    broker.publish("sensors/a", "three", &[]);
    // Cursors are node-wide: whichever shard the request reaches resumes (tests/mqtt_node_cursors.rs
    // covers every shard).
    let target = format!("/m?cursor={last}&limit=1");
    let next = get(addr, &target, &[("Accept", "application/json")]);
    assert_eq!(next.status, 200, "{}", next.text());
    assert_eq!(next.json()["items"][0]["content"], "three");
}
on_both_drivers!(consume, broker_messages_reach_get_sse_and_websocket);

fn post_and_websocket_publish_reach_mosquitto_sub(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let entrypoints = r#"      - type: http-post
      - type: websocket
        configuration:
          subscriber: { enabled: false }"#;
    let endpoint =
        "        producer:\n          topic: cmd/lamp\n          allowTopicFromRequest: true\n";
    // One shard, so every request below meets the same broker connection.
    let gateway = start_one_shard(&api_yaml(broker.port, entrypoints, endpoint), driver);
    let addr = gateway.local_addr();
    let subscriber = broker.subscriber("check-sub", "cmd/#", 3);

    // The connection opened at start; the first POST waits for it if needed.
    let response = post(addr, "/m", "on", "");
    assert_eq!(response.status, 202, "{}", response.text());
    let response = post(addr, "/m?topic=cmd/kitchen", "dim", "");
    assert_eq!(response.status, 202, "{}", response.text());
    let refused = post(addr, "/m?topic=cmd/%2B", "x", "");
    assert_eq!(
        refused.status,
        400,
        "wildcards are refused: {}",
        refused.text()
    );

    let mut socket = ws(addr, "/m");
    assert!(eventually(WAIT, || metric(&gateway, |m| &m
        .mqtt_connections_connected)
        >= 1));
    socket.send(Message::text("from-ws")).unwrap();

    let mut lines = subscriber.lines();
    lines.sort();
    assert_eq!(
        lines,
        vec!["cmd/kitchen dim", "cmd/lamp from-ws", "cmd/lamp on"],
        "broker log:\n{}",
        broker.log()
    );
}
on_both_drivers!(produce, post_and_websocket_publish_reach_mosquitto_sub);

fn broker_down_answers_503_and_subscribers_resume_after_reconnect(driver: DriverChoice) {
    let mut broker = Mosquitto::start();
    let entrypoints = r#"      - type: http-post
      - type: websocket"#;
    let endpoint = "        clientId: tg-down\n        consumer:\n          topic: up/#\n        producer:\n          topic: up/x\n";
    let gateway = start_one_shard(&api_yaml(broker.port, entrypoints, endpoint), driver);
    let addr = gateway.local_addr();
    let mut socket = ws(addr, "/m");
    wait_subscribed(&gateway, &broker);
    assert_eq!(post(addr, "/m", "a", "").status, 202);
    assert_eq!(
        next_text(&mut socket),
        "a",
        "a WebSocket subscriber gets what a POST published"
    );

    broker.kill9();
    assert!(eventually(WAIT, || metric(&gateway, |m| &m
        .mqtt_connections_reconnecting)
        == 1));
    let response = post(addr, "/m", "lost", "");
    assert_eq!(response.status, 503, "{}", response.text());
    // The category of the failure, never the broker's address (tests/error_bodies.rs).
    let text = response.text();
    assert!(
        text.contains("not connected")
            && (text.contains("connection to the broker lost")
                || text.contains("broker unreachable"))
            && !text.contains(&broker.port.to_string()),
        "{text}"
    );

    broker.restart();
    assert!(eventually(WAIT, || metric(&gateway, |m| &m
        .mqtt_connections_connected)
        == 1));
    let mut status = 0;
    assert!(
        eventually(WAIT, || {
            status = post(addr, "/m", "b", "").status;
            status == 202
        }),
        "{status}"
    );
    assert_eq!(
        next_text(&mut socket),
        "b",
        "the subscriber kept its connection and resumed"
    );
}
on_both_drivers!(
    broker_down_answers_503_and_subscribers_resume_after_reconnect,
    broker_down_answers_503_and_subscribers_resume_after_reconnect
);

fn wildcard_filters_select_topics(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let endpoint = "        protocolVersion: \"3.1.1\"\n        consumer:\n          topic: home/+/temp\n          qos: 0\n";
    let gateway = start(test_config(
        &api_yaml(broker.port, CONSUMING, endpoint),
        driver,
    ));
    let mut socket = ws(gateway.local_addr(), "/m");
    wait_subscribed(&gateway, &broker);
    for (topic, message) in [
        ("home/kitchen/temp", "21"),
        ("home/kitchen/humidity", "no-1"),
        ("home/a/b/temp", "no-2"),
        ("home/temp", "no-3"),
        ("home/hall/temp", "19"),
        ("home/end/temp", "end"),
    ] {
        broker.publish(topic, message, &[]);
    }
    let got: Vec<String> = (0..3).map(|_| next_text(&mut socket)).collect();
    assert_eq!(got, vec!["21", "19", "end"], "only home/+/temp matches");
}
on_both_drivers!(wildcards, wildcard_filters_select_topics);

fn qos1_persistent_session_loses_nothing_across_broker_kill9(driver: DriverChoice) {
    let mut broker = Mosquitto::start();
    let endpoint = "        clientId: tg-persist\n        cleanStart: false\n        sessionExpiryInterval: 3600\n        reconnectBackoffMs: 1000\n        reconnectBackoffMaxMs: 1000\n        consumer:\n          topic: orders/#\n          qos: 1\n";
    let yaml = api_yaml(broker.port, CONSUMING, endpoint).replace(
        "        reconnectBackoffMs: 100\n        reconnectBackoffMaxMs: 500\n",
        "",
    );
    let gateway = start_one_shard(&yaml, driver);
    let mut socket = ws(gateway.local_addr(), "/m");
    wait_subscribed(&gateway, &broker);
    // The broker saves on every change (autosave_on_changes, interval 1): wait until the
    // persistent session and its subscription are on disk before killing it.
    assert!(
        eventually(WAIT, || {
            let db = broker.persisted();
            let has = |needle: &[u8]| db.windows(needle.len()).any(|w| w == needle);
            has(b"tg-persist-0") && has(b"orders/#")
        }),
        "the session was never saved"
    );
    broker.publish("orders/1", "before", &[]);
    assert_eq!(next_text(&mut socket), "before");

    broker.kill9();
    assert!(eventually(WAIT, || metric(&gateway, |m| &m
        .mqtt_connections_reconnecting)
        == 1));
    broker.restart();
    // Published right after the restart: queued by the broker for the restored session when
    // the gateway has not reconnected yet, delivered directly when it has.
    let sent: Vec<String> = (0..20).map(|n| format!("after-{n}")).collect();
    for message in &sent {
        broker.publish("orders/2", message, &[]);
    }
    let mut got: Vec<String> = Vec::new();
    while got.len() < sent.len() {
        let text = next_text(&mut socket);
        if !got.contains(&text) {
            got.push(text); // QoS 1 may deliver twice; never less than once.
        }
    }
    assert_eq!(got, sent, "nothing lost, order kept");
    assert!(
        eventually(WAIT, || metric(&gateway, |m| &m.mqtt_connects_total) >= 2),
        "the gateway reconnected"
    );
    assert!(
        broker.log().contains("tg-persist-0 (p5, c0"),
        "reconnected without clean start:\n{}",
        broker.log()
    );
}
on_both_drivers!(
    qos1_persistent_session_loses_nothing_across_broker_kill9,
    qos1_persistent_session_loses_nothing_across_broker_kill9
);

fn thousand_websocket_clients_use_one_connection_per_node(driver: DriverChoice) {
    open_files::make_room_for_clients(1000);
    let broker = Mosquitto::start();
    let gateway = start(test_config(
        &api_yaml(
            broker.port,
            CONSUMING,
            "        consumer:\n          topic: fan/out\n",
        ),
        driver,
    ));
    let addr = gateway.local_addr();
    let mut clients: Vec<Client> = (0..1000).map(|_| ws(addr, "/m")).collect();
    assert!(eventually(WAIT, || metric(&gateway, |m| &m
        .websocket_sessions_open)
        == 1000));
    wait_subscribed(&gateway, &broker);
    let shards_used = gateway
        .metrics()
        .iter()
        .filter(|m| ShardMetrics::get(&m.websocket_sessions_open) > 0)
        .count();
    assert_eq!(shards_used, 2, "clients on both shards");

    // A consumer-only API: only the shard holding the node's subscription connects.
    assert_eq!(
        broker.established_connections(),
        1,
        "one broker connection per node; broker log:\n{}",
        broker.log()
    );
    assert_eq!(broker.log_count("Received SUBSCRIBE from tidegate-"), 1);

    broker.publish("fan/out", "to-all", &[]);
    for client in &mut clients {
        assert_eq!(next_text(client), "to-all");
    }
}
on_both_drivers!(
    thousand_clients,
    thousand_websocket_clients_use_one_connection_per_node
);

fn unsubscribes_after_the_last_local_client_leaves(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let endpoint = "        consumer:\n          topic: room/1\n          group: workers\n          unsubscribeDelayMs: 0\n";
    let gateway = start_one_shard(&api_yaml(broker.port, CONSUMING, endpoint), driver);
    let addr = gateway.local_addr();
    let sessions = |n: u64| {
        eventually(WAIT, || {
            metric(&gateway, |m| &m.websocket_sessions_open) == n
        })
    };

    let mut first = ws(addr, "/m");
    wait_subscribed(&gateway, &broker);
    assert!(
        broker.log().contains("$share/workers/room/1 (QoS 1)"),
        "group mode is a shared subscription"
    );
    let mut second = ws(addr, "/m");
    assert!(sessions(2));
    assert_eq!(
        broker.log_count("Received SUBSCRIBE from tidegate-"),
        1,
        "one SUBSCRIBE for both"
    );

    first.close(None).unwrap();
    let _ = first.read();
    assert!(sessions(1));
    assert_eq!(
        metric(&gateway, |m| &m.mqtt_subscriptions_active),
        1,
        "still held by the second"
    );
    assert_eq!(broker.log_count("Received UNSUBSCRIBE from tidegate-"), 0);

    second.close(None).unwrap();
    let _ = second.read();
    assert!(
        eventually(WAIT, || broker
            .log_count("Received UNSUBSCRIBE from tidegate-")
            == 1),
        "no UNSUBSCRIBE after the last client:\n{}",
        broker.log()
    );
    assert_eq!(metric(&gateway, |m| &m.mqtt_subscriptions_active), 0);

    // A new client subscribes again, in a new epoch: a cursor of the earlier subscription's epoch
    // is answered 410. (Epochs start at a random value, so no fixed cursor is known to be stale:
    // `cursor=1`, epoch 0, was the current epoch one run in 8,192.)
    let mut third = ws(addr, "/m");
    let (head, mut sse) = open_sse(addr, "/m", &[]);
    assert_eq!(head.status, 200);
    assert!(eventually(WAIT, || broker
        .log_count("Received SUBSCRIBE from tidegate-")
        == 2));
    broker.publish("room/1", "again", &[]);
    assert_eq!(next_text(&mut third), "again");
    let text = read_sse_until(&mut sse, |t| t.contains("data: again"));
    let current: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .unwrap_or_else(|| panic!("no id: {text}"))
        .trim()
        .parse()
        .unwrap();
    let earlier = (epoch_of(current) + EPOCH_MASK) & EPOCH_MASK;
    let stale = get(
        addr,
        &format!("/m?cursor={}", (earlier << SEQUENCE_BITS) | 1),
        &[],
    );
    assert_eq!(stale.status, 410, "{}", stale.text());
    assert!(
        stale.text().contains("earlier MQTT subscription"),
        "{}",
        stale.text()
    );
}
on_both_drivers!(
    unsubscribes_after_the_last_local_client_leaves,
    unsubscribes_after_the_last_local_client_leaves
);

#[test]
fn configuration_problems_are_reported_together() {
    let yaml = r#"
apis:
  - id: bad
    name: Bad
    contextPaths: [/bad]
    entrypoints:
      - type: http-get
      - type: http-post
    endpoint:
      type: mqtt5
      configuration:
        serverPort: 70000
        protocolVersion: 4
        tls: { enabled: true, caFile: /nonexistent/ca.pem }
        consumer: { topic: "a/#/b", qos: 2 }
        producer: { topic: "a/+", messageExpiryInterval: 0 }
    plans:
      - name: Keyless
        security: keyless
"#;
    let error = config::load_str(yaml, "t").unwrap_err().to_string();
    for expected in [
        "configuration.serverHost: required",
        "configuration.serverPort: must be a TCP port",
        "configuration.protocolVersion: must be 5 or \"3.1.1\"",
        "configuration.tls.caFile: cannot read /nonexistent/ca.pem",
        "configuration.consumer.topic: 'a/#/b' is not a valid MQTT topic filter",
        "configuration.consumer.qos: QoS 2 is not supported",
        "configuration.producer.topic: 'a/+': wildcards (+, #) are not allowed",
        "configuration.producer.messageExpiryInterval: must be -1",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
    let no_consumer = r#"
apis:
  - id: p
    name: P
    contextPaths: [/p]
    entrypoints: [{ type: sse }]
    endpoint: { type: mqtt5, configuration: { serverHost: h, producer: { topic: t } } }
    plans: [{ name: K, security: keyless }]
"#;
    let error = config::load_str(no_consumer, "t").unwrap_err().to_string();
    assert!(error.contains("has no enabled `consumer`"), "{error}");
}

/// A message larger than one socket read (16 KiB) arrives intact: packets split across reads
/// are reassembled, not overwritten.
fn large_messages_span_several_reads(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let endpoint = "        consumer:\n          topic: big/1\n";
    let gateway = start(test_config(
        &api_yaml(broker.port, CONSUMING, endpoint),
        driver,
    ));
    let mut socket = ws(gateway.local_addr(), "/m");
    wait_subscribed(&gateway, &broker);
    let large: String = (0..100_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    broker.publish("big/1", &large, &[]);
    broker.publish("big/1", "after", &[]);
    assert_eq!(next_text(&mut socket), large);
    assert_eq!(next_text(&mut socket), "after");
}
on_both_drivers!(large_messages, large_messages_span_several_reads);
