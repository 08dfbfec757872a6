//! The rule shared by the broker endpoints: every entrypoint needs the side it uses.

use super::load_str;
use super::tests::problems;

/// An API with `entrypoints` (a YAML flow list) over `endpoint` (a YAML flow mapping).
fn api(entrypoints: &str, endpoint: &str) -> String {
    format!(
        "apis:\n  - id: a\n    name: A\n    contextPaths: [/a]\n    entrypoints: {entrypoints}\n    endpoint: {endpoint}\n    plans: [{{ name: K, security: keyless }}]\n"
    )
}

const KAFKA_CONSUMER: &str =
    "{ type: kafka, configuration: { bootstrapServers: 'k:9092', consumer: { enabled: true, topics: [t] } } }";
const KAFKA_PRODUCER: &str =
    "{ type: kafka, configuration: { bootstrapServers: 'k:9092', producer: { enabled: true, topics: [t] } } }";
const MQTT_CONSUMER: &str =
    "{ type: mqtt5, configuration: { serverHost: h, consumer: { topic: a/# } } }";

#[test]
fn kafka_receiving_entrypoints_need_a_consumer() {
    let found = problems(&api(
        "[{ type: http-get }, { type: sse }, { type: websocket, configuration: { publisher: { enabled: true } } }]",
        KAFKA_PRODUCER,
    ));
    let locations: Vec<&str> = found.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(
        locations,
        [
            "apis[0].entrypoints[0]",
            "apis[0].entrypoints[1]",
            "apis[0].entrypoints[2]"
        ]
    );
    assert_eq!(
        found[1].1,
        "the sse entrypoint receives messages, but the kafka endpoint has no enabled `consumer`: set `consumer.enabled: true` with `topics`, or remove the entrypoint"
    );
    assert!(
        found[2].1.contains(
            "the websocket entrypoint receives messages, but the kafka endpoint has no enabled `consumer`"
        ) && found[2]
            .1
            .contains("or set `websocket.configuration.subscriber.enabled: false`"),
        "{found:?}"
    );
}

#[test]
fn kafka_sending_entrypoints_need_a_producer() {
    let found = problems(&api(
        "[{ type: http-post }, { type: websocket }]",
        KAFKA_CONSUMER,
    ));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "apis[0].entrypoints[0]");
    assert_eq!(
        found[0].1,
        "the http-post entrypoint sends messages, but the kafka endpoint has no enabled `producer`: set `producer.enabled: true` with `topics: [one-topic]`, or remove the entrypoint"
    );
    assert_eq!(found[1].0, "apis[0].entrypoints[1]");
    assert!(
        found[1]
            .1
            .contains("or set `websocket.configuration.publisher.enabled: false`"),
        "{found:?}"
    );
}

#[test]
fn a_websocket_that_uses_only_the_side_there_is_loads() {
    let receiving =
        "[{ type: sse }, { type: websocket, configuration: { publisher: { enabled: false } } }]";
    let sending = "[{ type: http-post }, { type: websocket, configuration: { subscriber: { enabled: false } } }]";
    for (entrypoints, endpoint) in [
        (receiving, KAFKA_CONSUMER),
        (sending, KAFKA_PRODUCER),
        (receiving, MQTT_CONSUMER),
    ] {
        let yaml = api(entrypoints, endpoint);
        assert!(load_str(&yaml, "t").is_ok(), "{yaml}");
    }
}

#[test]
fn mqtt_shares_the_rule() {
    let found = problems(&api("[{ type: websocket }]", MQTT_CONSUMER));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].1.starts_with(
            "the websocket entrypoint sends messages, but the mqtt5 endpoint has no enabled `producer`: add `producer: { topic: ... }`"
        ),
        "{found:?}"
    );
}

#[test]
fn a_websocket_publisher_on_a_mock_endpoint_is_reported() {
    let found = problems(&api(
        "[{ type: sse }, { type: websocket }]",
        "{ type: mock }",
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "apis[0].entrypoints[1]");
    assert!(
        found[0].1.contains("`publisher` is enabled by default")
            && found[0]
                .1
                .contains("set `websocket.configuration.publisher.enabled: false`"),
        "{found:?}"
    );
    // A subscribe-only socket loads; so does http-post (answered 405 with the reason).
    let fine = "[{ type: http-post }, { type: websocket, configuration: { publisher: { enabled: false } } }]";
    let yaml = api(fine, "{ type: mock }");
    assert!(load_str(&yaml, "t").is_ok(), "{yaml}");
}
