//! Dead letters to a Kafka topic (issue 15): a record the callback refuses (4xx) is produced to
//! the subscription's `dlq` topic on the API's brokers, with the failure as record headers, and
//! only once that write succeeded does it count as acknowledged (the group commits past it).
//!
//! One driver: the binary set-up of the kill tests (`common::binary`), on `auto`; the Kafka
//! broker I/O runs on the bridge's tokio runtime whatever the shards' driver.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::binary::Binary;
use common::eventually;
use common::webhook_brokers::{kafka_yaml, SUBSCRIPTION};
use common::webhook_receiver::Receiver;
use kafka_broker::{record, Broker};

const RECORDS: usize = 3;

#[test]
fn refused_records_go_to_the_kafka_dead_letter_topic_with_their_failure() {
    let broker = Broker::start();
    let (topic, dead) = ("orders-src", "orders-dead");
    broker.create_topic(topic, 1);
    broker.create_topic(dead, 1);
    let values: Vec<String> = (0..RECORDS).map(|n| format!("order-{n}")).collect();
    let records: Vec<_> = values.iter().map(|v| record(v)).collect();
    broker.produce(topic, &records);
    let receiver = Receiver::answering(422);
    let dlq = format!("      dlq: {{ type: kafka, topic: {dead} }}\n");
    let gateway = Binary::start(&kafka_yaml(
        &broker.bootstrap(),
        topic,
        &receiver.url("/hook"),
        &dlq,
    ));

    let letters = broker.consume(dead, RECORDS);
    let got: Vec<&str> = letters
        .iter()
        .map(|l| l["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        values,
        "every refused record, in order:\n{}",
        gateway.log()
    );
    for letter in &letters {
        let headers = &letter["headers"];
        assert_eq!(headers["x-webhook-failure-status"], "422", "{letter}");
        assert_eq!(headers["x-webhook-subscription"], SUBSCRIPTION, "{letter}");
    }
    // Dead-lettered counts as acknowledged: the subscription's group commits past them.
    let committed = eventually(Duration::from_secs(30), || {
        broker.committed("hooks.billing", topic).get(&0) == Some(&(RECORDS as i64))
    });
    assert!(
        committed,
        "the group committed {:?}",
        broker.committed("hooks.billing", topic)
    );
}
