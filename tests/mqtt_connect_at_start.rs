//! MQTT connections open when the gateway starts, not on first use: the first POST on each shard
//! is accepted (it used to get `503 not connected (connecting)`), a publish arriving while the
//! connection is being set up waits for it (up to `connectTimeoutMs`), and one that finds the
//! broker unreachable is told why.

mod common;

use std::net::TcpListener;

use common::mosquitto::Mosquitto;
use common::mqtt_api::*;
use common::shards::one_connection_per_shard;
use common::*;
use tidegate::config::DriverChoice;

const POSTING: &str = "      - type: http-post";

fn the_first_publish_on_every_shard_is_accepted(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let subscriber = broker.subscriber("check-first", "first/#", 2);
    let endpoint = "        producer:\n          topic: first/x\n";
    let gateway = start(test_config(
        &api_yaml(broker.port, POSTING, endpoint),
        driver,
    ));
    assert_eq!(gateway.metrics().len(), 2);
    // At once, while the connections may still be coming up.
    for (shard, mut stream) in one_connection_per_shard(&gateway).into_iter().enumerate() {
        let response = post_on(&mut stream, "/m", format!("from-{shard}"), "");
        assert_eq!(response.status, 202, "shard {shard}: {}", response.text());
    }
    let mut lines = subscriber.lines();
    lines.sort();
    assert_eq!(lines, ["first/x from-0", "first/x from-1"]);
    assert_eq!(
        broker.established_connections(),
        2,
        "one connection per publishing shard"
    );
}
on_both_drivers!(first_publish, the_first_publish_on_every_shard_is_accepted);

/// With no client at all, each shard that publishes is connected, and the shard that holds the
/// node's subscription of a consumer-only API too.
fn connections_open_when_the_gateway_starts(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let yaml = format!(
        "{}{}",
        api_yaml(
            broker.port,
            POSTING,
            "        producer:\n          topic: start/p\n"
        ),
        api_yaml(
            broker.port,
            "      - type: sse",
            "        consumer:\n          topic: start/c\n"
        )
        .replace("apis:\n", "")
        .replace("id: mqtt-api", "id: mqtt-consumer")
        .replace("[/m]", "[/c]")
    );
    let gateway = start(test_config(&yaml, driver));
    assert!(
        eventually(WAIT, || broker.established_connections() == 3),
        "two publishing shards and the subscription's shard: {} connections; broker log:\n{}",
        broker.established_connections(),
        broker.log()
    );
    assert_eq!(metric(&gateway, |m| &m.mqtt_connections_connected), 3);
}
on_both_drivers!(
    connections_open_when_the_gateway_starts,
    connections_open_when_the_gateway_starts
);

/// A broker that accepts TCP but never answers CONNECT: the publish waits for the attempt and is
/// answered with its outcome, not with "connecting".
fn a_publish_while_connecting_waits_for_the_attempt(driver: DriverChoice) {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let endpoint = "        connectTimeoutMs: 1000\n        producer:\n          topic: t\n";
    let gateway = start(test_config(&api_yaml(port, POSTING, endpoint), driver));
    let response = post(gateway.local_addr(), "/m", "x", "");
    assert_eq!(response.status, 503, "{}", response.text());
    // The attempt's outcome (the broker never answered), not "still connecting"; the details
    // (no CONNACK within connectTimeoutMs) go to the log only.
    let text = response.text();
    assert!(text.contains("not connected to the MQTT broker"), "{text}");
    assert!(!text.contains("still connecting"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    drop(silent);
}
on_both_drivers!(
    a_publish_while_connecting_waits_for_the_attempt,
    a_publish_while_connecting_waits_for_the_attempt
);

/// Nothing listens on the broker's port: the client hears the category of the failure.
fn an_unreachable_broker_is_reported_with_the_reason(driver: DriverChoice) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = "        producer:\n          topic: t\n";
    let gateway = start(test_config(&api_yaml(port, POSTING, endpoint), driver));
    let response = post(gateway.local_addr(), "/m", "x", "");
    assert_eq!(response.status, 503, "{}", response.text());
    // The category of the failure, never the broker's address (that goes to the log).
    let text = response.text();
    assert!(text.contains("(broker unreachable)"), "{text}");
    assert!(!text.contains(&format!(":{port}")), "{text}");
}
on_both_drivers!(
    an_unreachable_broker_is_reported_with_the_reason,
    an_unreachable_broker_is_reported_with_the_reason
);
