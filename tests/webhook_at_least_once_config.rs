//! An at-least-once push subscription's source must be able to keep its promise across a
//! restart (issue 15 part 3): over Kafka a consumer group per subscription, over MQTT a stable
//! broker session. A configuration that cannot is refused, saying what to set.

mod common;

use common::webhook_brokers::{kafka_yaml, mqtt_yaml};
use tidegate::config::load_str;

#[test]
fn a_kafka_source_without_a_group_per_subscription_is_refused() {
    let yaml = kafka_yaml("127.0.0.1:9092", "orders", "http://127.0.0.1:9/hook", "");
    assert!(load_str(&yaml, "test").is_ok(), "grouped per subscription");
    let ungrouped = yaml.replace("          groupScope: subscription\n", "");
    let error = load_str(&ungrouped, "test")
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("apis[0].endpoint.configuration.consumer"),
        "{error}"
    );
    assert!(error.contains("groupScope: subscription"), "{error}");
}

#[test]
fn an_mqtt_source_without_a_stable_session_is_refused() {
    let yaml = mqtt_yaml(1883, "http://127.0.0.1:9/hook", "");
    assert!(load_str(&yaml, "test").is_ok(), "with gateway.nodeId");
    let generated = yaml.replace("  nodeId: hooks-node\n", "");
    let error = load_str(&generated, "test")
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("apis[0].endpoint.configuration.clientId"),
        "{error}"
    );
    assert!(error.contains("gateway.nodeId"), "{error}");
}
