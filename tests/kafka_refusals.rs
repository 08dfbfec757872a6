//! A record the Kafka broker refuses (here: one that does not match the topic's schema, which
//! tansu checks) is a 502 for an HTTP POST and a 1008 close for a WebSocket publisher: the
//! request would be refused again, unlike a broker that is unreachable or busy (503).

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::*;
use kafka_broker::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const TOPIC: &str = "orders";
/// Values must be JSON objects with a whole number `n`.
const SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "value": {
      "type": "object",
      "properties": { "n": { "type": "integer" } },
      "required": ["n"]
    }
  }
}"#;

fn a_record_the_broker_refuses_is_a_502_and_the_producer_stays_usable(driver: DriverChoice) {
    let broker = Broker::start_with_schemas(&[(TOPIC, SCHEMA)]);
    broker.create_topic(TOPIC, 1);
    let gateway = start(test_config(
        &kafka_api_yaml(&broker.bootstrap(), TOPIC, "autoOffsetReset: earliest"),
        driver,
    ));
    let addr = gateway.local_addr();
    let metrics = gateway.kafka_metrics().expect("kafka metrics");
    assert!(
        eventually(Duration::from_secs(60), || post(
            addr,
            "/k",
            r#"{"n": 1}"#,
            ""
        )
        .status
            == 202),
        "a valid record was not accepted"
    );

    let refused = post(addr, "/k", r#"{"n": "one"}"#, "");
    assert_eq!(refused.status, 502, "{}", refused.text());
    // Not a lost connection: the next valid record goes through at once.
    assert_eq!(post(addr, "/k", r#"{"n": 2}"#, "").status, 202);
    assert_eq!(ShardMetrics::get(&metrics.producers_connected), 1);

    // A WebSocket publisher is told the same way, with a close code it should not retry on.
    let (mut socket, _) =
        tungstenite::client::client(format!("ws://{addr}/k"), connect(addr)).unwrap();
    socket.send(Message::Text("not json".into())).unwrap();
    let code = loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => break frame.code,
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}"),
        }
    };
    assert_eq!(code, CloseCode::Policy);

    // Only the valid records are in the topic.
    let values: Vec<String> = broker
        .consume(TOPIC, 2)
        .iter()
        .map(|record| record["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(values, [r#"{"n": 1}"#, r#"{"n": 2}"#]);
}
on_both_drivers!(
    a_record_the_broker_refuses_is_a_502_and_the_producer_stays_usable,
    a_record_the_broker_refuses_is_a_502_and_the_producer_stays_usable
);
