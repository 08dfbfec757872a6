//! At-least-once webhooks over Kafka (issue 15 part 3): each push subscription consumes with its
//! own consumer group and commits only what its callback acknowledged, never the record still in
//! flight, so a crash re-delivers from there. (The kill -9 and restart half is
//! tests/webhook_kafka_kill.rs.)
//!
//! One driver: the kill half's binary set-up (`common::binary`), on `auto`; the Kafka
//! broker I/O runs on the bridge's tokio runtime whatever the shards' driver.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use common::binary::Binary;
use common::webhook_brokers::{
    assert_in_order_per_partition, kafka_yaml, wait_acked_then_committed,
};
use common::webhook_receiver::{Receiver, Step};
use kafka_broker::{record_to, Broker};

const PARTITIONS: i64 = 2;
/// Records per partition.
const PER_PARTITION: usize = 10;
/// Records the receiver acknowledges before it hangs (the gateway is killed then).
const ACKED: usize = 7;

#[test]
fn the_group_commits_only_what_the_callback_acknowledged() {
    let broker = Broker::start();
    let topic = "orders-kill";
    broker.create_topic(topic, PARTITIONS as u32);
    let records: Vec<_> = (0..PER_PARTITION)
        .flat_map(|n| (0..PARTITIONS).map(move |p| record_to(&format!("p{p}-{n}"), p)))
        .collect();
    broker.produce(topic, &records);

    // ACKED answers of 200, then the next delivery hangs: it stays in flight.
    let mut script = vec![Step::Status(200); ACKED];
    script.push(Step::Hang);
    let receiver = Receiver::start(&script, Step::Status(200));
    let yaml = kafka_yaml(&broker.bootstrap(), topic, &receiver.url("/hook"), "");
    let gateway = Binary::start(&yaml);
    // The subscription's group commits what was acknowledged, and never the record in flight.
    wait_acked_then_committed(&receiver, &gateway, ACKED, || {
        broker.committed("hooks.billing", topic)
    });
    let delivered: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    assert_in_order_per_partition(&delivered, "one run");
}
