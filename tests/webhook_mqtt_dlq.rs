//! Dead letters to an MQTT topic (issue 15): a message the callback refuses (4xx) is published
//! QoS 1 to the subscription's `dlq` topic on the API's broker, with the failure as MQTT 5 user
//! properties (read back by an independent client, `mosquitto_sub`).
//!
//! One driver: the binary set-up of the kill tests (`common::binary`), on `auto`; webhook
//! delivery runs on both drivers in-process (tests/webhook_delivery.rs).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::binary::Binary;
use common::eventually;
use common::mosquitto::Mosquitto;
use common::webhook_brokers::{mqtt_yaml, parse_sub_lines, wait_mqtt_subscribed, SUBSCRIPTION};
use common::webhook_receiver::Receiver;

const MESSAGES: usize = 2;

#[test]
fn refused_messages_go_to_the_mqtt_dead_letter_topic_with_their_failure() {
    let broker = Mosquitto::start();
    let reader = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args([
            "-V",
            "mqttv5",
            "-i",
            "dlq-reader",
            "-q",
            "1",
            "-t",
            "dead/#",
        ])
        .args(["-F", "%t|%p|%P", "-C", &MESSAGES.to_string(), "-W", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mosquitto_sub");
    assert!(
        eventually(Duration::from_secs(10), || broker
            .log_count("Sending SUBACK to dlq-reader")
            > 0),
        "the reader did not subscribe:\n{}",
        broker.log()
    );
    let receiver = Receiver::answering(404);
    let dlq = "      dlq: { type: mqtt, topic: dead/orders }\n";
    let gateway = Binary::start(&mqtt_yaml(broker.port, &receiver.url("/hook"), dlq));
    wait_mqtt_subscribed(&broker, 1);
    for n in 0..MESSAGES {
        broker.publish("orders/new", &format!("m-{n}"), &[]);
    }

    let output = reader.wait_with_output().expect("mosquitto_sub ends");
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let letters = parse_sub_lines(&lines);
    assert_eq!(
        letters.len(),
        MESSAGES,
        "dead letters {lines:?}:\n{}\n{}",
        gateway.log(),
        broker.log()
    );
    for (n, (topic, payload, properties)) in letters.iter().enumerate() {
        assert_eq!(topic, "dead/orders");
        assert_eq!(payload, &format!("m-{n}"));
        assert!(
            properties.contains("x-webhook-failure-status:404"),
            "{properties}"
        );
        assert!(
            properties.contains(&format!("x-webhook-subscription:{SUBSCRIPTION}")),
            "{properties}"
        );
    }
}
