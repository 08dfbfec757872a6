//! At-least-once MQTT consumption survives a gateway `kill -9` (issue 15): with `gateway.nodeId`
//! the owner's broker session persists, so QoS 1 messages published while the gateway was down
//! wait at the broker. The restarted gateway connects at start, before any client joined, and the
//! broker hands that queue over right after CONNACK: those messages must be held without PUBACK
//! until a client's subscription opens, then delivered, never acknowledged and dropped.
//!
//! One driver: a `kill -9` needs a process of its own, the binary on `auto`; MQTT delivery
//! runs on both drivers in-process (tests/mqtt_delivery.rs, tests/mqtt.rs).

mod common;

use std::time::{Duration, Instant};

use common::admin::metric_total;
use common::binary::{gateway_yaml, Binary};
use common::eventually;
use common::mosquitto::Mosquitto;
use common::mqtt_api::{api_yaml, ws, Client};

const WAIT: Duration = Duration::from_secs(30);

/// Messages published while the gateway is down.
const QUEUED: usize = 5;

fn yaml(port: u16) -> String {
    let entrypoints = "      - type: websocket\n        qos: at-least-once\n        configuration:\n          publisher: { enabled: false }";
    let endpoint = "        consumer:\n          topic: alo/#\n          qos: 1\n";
    format!(
        "{}{}",
        gateway_yaml("  nodeId: alo-node\n"),
        api_yaml(port, entrypoints, endpoint)
    )
}

/// Publishes `warm-<n>` until the client gets one: the node's subscription is then active.
fn wait_flowing(broker: &Mosquitto, client: &mut Client) {
    client
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut n = 0;
    let flowing = eventually(WAIT, || {
        broker.publish("alo/warm", &format!("warm-{n}"), &[]);
        n += 1;
        matches!(client.read(), Ok(tungstenite::Message::Text(_)))
    });
    assert!(flowing, "the gateway never delivered:\n{}", broker.log());
    client.get_mut().set_read_timeout(Some(WAIT)).unwrap();
}

#[test]
fn messages_queued_at_the_broker_during_a_kill_reach_the_next_client() {
    let broker = Mosquitto::start();
    let yaml = yaml(broker.port);
    let mut gateway = Binary::start(&yaml);
    let mut client = ws(gateway.addr, "/m");
    wait_flowing(&broker, &mut client);
    gateway.signal("KILL");
    assert!(gateway.wait_exit(WAIT).is_some(), "the gateway did not die");
    drop(client);
    drop(gateway);

    for n in 0..QUEUED {
        broker.publish("alo/queued", &format!("queued-{n}"), &[]);
    }
    let gateway = Binary::start(&yaml);
    let admin = gateway.admin.expect("the admin listener");
    // The resumed session hands the queue over at connect, before any client joined.
    let arrived = eventually(WAIT, || {
        metric_total(admin, "mqtt_messages_held_early")
            + metric_total(admin, "mqtt_messages_dropped_total")
            >= QUEUED as u64
    });
    assert!(
        arrived,
        "the queued messages never reached the gateway:\n{}",
        gateway.log()
    );

    let mut client = ws(gateway.addr, "/m");
    client
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    // The gateway's pings keep the socket busy: the deadline is the test's own.
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while got.len() < QUEUED {
        assert!(
            Instant::now() < deadline,
            "only {got:?} of the {QUEUED} queued messages came:\n{}",
            gateway.log()
        );
        match client.read() {
            Ok(tungstenite::Message::Text(text)) if text.starts_with("queued-") => {
                got.push(text.to_string())
            }
            Ok(tungstenite::Message::Close(frame)) => panic!("closed: {frame:?}"),
            // Pings, other messages, a read timeout: look at the deadline again.
            _ => {}
        }
    }
    let expected: Vec<String> = (0..QUEUED).map(|n| format!("queued-{n}")).collect();
    assert_eq!(got, expected, "every queued message, in order");
    assert_eq!(metric_total(admin, "mqtt_messages_held_early"), 0);
}
