//! `consumerConfiguration.channel` / the file's `configuration.channel` (issue 15): a push
//! subscription with a channel receives only that part of its API's endpoint, one without gets
//! everything, over real brokers: an MQTT sub-filter (`orders/eu/#` within the API's `orders/#`,
//! mosquitto) and one Kafka topic of two (tansu). Messages outside the channel are acknowledged
//! without an attempt and counted (`skipped`).

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::mosquitto::Mosquitto;
use common::webhook_api::{counters, read, wait_active};
use common::webhook_receiver::Receiver;
use common::{eventually, test_config};
use kafka_broker::{record, Broker};
use tidegate::config::DriverChoice;

const WAIT: Duration = Duration::from_secs(60);

/// API `orders` over `endpoint` (indented four spaces) with a webhook entrypoint, and two push
/// subscriptions: `narrow` with `channel`, `all` without.
fn yaml(endpoint: &str, narrow: &Receiver, channel: &str, all: &Receiver) -> String {
    let item = |id: &str, receiver: &Receiver, extra: &str| {
        format!(
            "  - id: {id}\n    api: orders\n    plan: push\n    application: app\n    type: push\n    configuration:\n      callbackUrl: {}\n      ordering: {{ mode: strict }}\n{extra}",
            receiver.url("/in")
        )
    };
    format!(
        "gateway:\n  webhook:\n    allowedNetworks: [127.0.0.0/8]\napis:\n  - id: orders\n    name: Orders\n    contextPaths: [/orders]\n    entrypoints:\n      - type: webhook\n{endpoint}    plans:\n      - {{ id: push, name: Push, security: keyless }}\napplications:\n  - {{ id: app, name: App }}\nsubscriptions:\n{}{}",
        item("narrow", narrow, &format!("      channel: \"{channel}\"\n")),
        item("all", all, ""),
    )
}

fn sorted_bodies(receiver: &Receiver) -> Vec<String> {
    let mut bodies: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    bodies.sort();
    bodies
}

/// Waits until the subscription `all` got every body of `all_bodies` and `narrow` (its channel)
/// got `narrow_bodies` with `skipped` messages passed over, then checks both sets exactly.
fn expect_deliveries(
    gateway: &tidegate::runtime::Gateway,
    (narrow, narrow_bodies, skipped): (&Receiver, &[&str], u64),
    (all, all_bodies): (&Receiver, &[&str]),
) {
    assert!(
        eventually(WAIT, || all.count() == all_bodies.len()),
        "all: {:?}",
        sorted_bodies(all)
    );
    let counted = counters(gateway, "narrow");
    assert!(
        eventually(WAIT, || narrow.count() == narrow_bodies.len()
            && read(&counted.skipped) == skipped),
        "narrow: {:?}, skipped {}",
        sorted_bodies(narrow),
        read(&counted.skipped)
    );
    assert_eq!(sorted_bodies(narrow), narrow_bodies);
    assert_eq!(sorted_bodies(all), all_bodies);
}

fn mqtt_sub_filter_channel(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let (narrow, all) = (Receiver::answering(200), Receiver::answering(200));
    let endpoint = format!(
        "    endpoint:\n      type: mqtt5\n      configuration:\n        serverHost: 127.0.0.1\n        serverPort: {}\n        consumer:\n          topic: orders/#\n          qos: 1\n",
        broker.port
    );
    let gateway = common::start(test_config(
        &yaml(&endpoint, &narrow, "orders/eu/#", &all),
        driver,
    ));
    wait_active(&gateway, "narrow");
    wait_active(&gateway, "all");
    assert!(
        eventually(WAIT, || broker.log_count("Sending SUBACK to") > 0),
        "the gateway never subscribed:\n{}",
        broker.log()
    );
    for (topic, body) in [
        ("orders/eu/1", "eu-1"),
        ("orders/us/1", "us-1"),
        ("orders/eu", "eu-0"),
        ("orders/eu/2", "eu-2"),
    ] {
        broker.publish(topic, body, &[]);
    }
    expect_deliveries(
        &gateway,
        (&narrow, &["eu-0", "eu-1", "eu-2"], 1),
        (&all, &["eu-0", "eu-1", "eu-2", "us-1"]),
    );
    assert_eq!(read(&counters(&gateway, "all").skipped), 0);
    gateway.shutdown();
}

on_both_drivers!(mqtt_sub_filter_channel, mqtt_sub_filter_channel);

fn a_kafka_channel_is_one_topic_of_the_api(driver: DriverChoice) {
    let broker = Broker::start();
    for topic in ["orders-a", "orders-b"] {
        broker.create_topic(topic, 1);
    }
    broker.produce("orders-a", &[record("a-1"), record("a-2")]);
    broker.produce("orders-b", &[record("b-1"), record("b-2")]);
    let (narrow, all) = (Receiver::answering(200), Receiver::answering(200));
    let endpoint = format!(
        "    endpoint:\n      type: kafka\n      configuration:\n        bootstrapServers: {}\n        consumer:\n          enabled: true\n          topics: [orders-a, orders-b]\n          groupId: hooks\n          groupScope: subscription\n          autoOffsetReset: earliest\n",
        broker.bootstrap()
    );
    let gateway = common::start(test_config(
        &yaml(&endpoint, &narrow, "orders-b", &all),
        driver,
    ));
    expect_deliveries(
        &gateway,
        (&narrow, &["b-1", "b-2"], 2),
        (&all, &["a-1", "a-2", "b-1", "b-2"]),
    );
    // The skipped records were acknowledged: the narrow subscription's group commits past them.
    let committed = || {
        let a = broker.committed("hooks.narrow", "orders-a");
        let b = broker.committed("hooks.narrow", "orders-b");
        a.get(&0) == Some(&2) && b.get(&0) == Some(&2)
    };
    assert!(
        eventually(WAIT, committed),
        "the group did not commit every record"
    );
    gateway.shutdown();
}
on_both_drivers!(
    a_kafka_channel_is_one_topic_of_the_api,
    a_kafka_channel_is_one_topic_of_the_api
);
