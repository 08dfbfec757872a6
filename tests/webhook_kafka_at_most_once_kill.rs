//! `qos: at-most-once` webhooks over Kafka across a gateway `kill -9` (issue 15): the push
//! subscription's group offset is committed past each message (an OffsetCommit the broker
//! accepted) BEFORE the message's only delivery attempt. Killing the gateway while a delivery is
//! in flight, then restarting it, delivers no record twice: the record in flight is lost (that is
//! at-most-once), the ones after it arrive once.
//!
//! Before the synchronous commit, the taken offset went with the group's next periodic commit
//! (every second): the kill right after the attempt found the group's offset behind the records
//! already delivered, and the restarted gateway delivered them again.
//!
//! One driver: a `kill -9` needs a process of its own, the binary on `auto`; webhook
//! delivery runs on both drivers in-process (tests/webhook_delivery.rs).

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::collections::BTreeMap;
use std::time::Duration;

use common::binary::Binary;
use common::eventually;
use common::webhook_brokers::{assert_in_order_per_partition, kafka_yaml_with_session};
use common::webhook_receiver::{Receiver, Step};
use kafka_broker::{record_to, Broker};

const WAIT: Duration = Duration::from_secs(60);
const RECORDS: usize = 10;
/// Records the receiver acknowledges before it hangs on the next one (the kill comes then).
const ACKED: usize = 4;

fn bodies(receiver: &Receiver) -> Vec<String> {
    receiver.received().iter().map(|r| r.body_text()).collect()
}

#[test]
fn a_kill_during_a_delivery_repeats_no_record() {
    let broker = Broker::start();
    let topic = "orders-once";
    broker.create_topic(topic, 1);
    let records: Vec<_> = (0..RECORDS)
        .map(|n| record_to(&format!("p0-{n}"), 0))
        .collect();
    broker.produce(topic, &records);

    let mut script = vec![Step::Status(200); ACKED];
    script.push(Step::Hang);
    let receiver = Receiver::start(&script, Step::Status(200));
    let yaml = kafka_yaml_with_session(
        Some("once-node"),
        600_000,
        &broker.bootstrap(),
        topic,
        &receiver.url("/hook"),
    )
    .replace("qos: at-least-once", "qos: at-most-once");
    assert!(yaml.contains("qos: at-most-once"));

    let mut gateway = Binary::start(&yaml);
    // The delivery after the acknowledged ones hangs: it is in flight when the gateway dies.
    assert!(
        eventually(WAIT, || receiver.count() > ACKED),
        "the receiver got {} deliveries:\n{}",
        receiver.count(),
        gateway.log()
    );
    gateway.signal("KILL");
    assert!(gateway.wait_exit(WAIT).is_some(), "the gateway did not die");
    let log = gateway.log();
    drop(gateway);
    let before = bodies(&receiver);
    assert_eq!(before.len(), ACKED + 1, "{before:?}");

    // Nothing commits any more: the group's offset is where the dead gateway left it, and it
    // already covers every record that was attempted, the one in flight included.
    let committed = broker.committed("hooks.billing", topic);
    assert_eq!(
        committed,
        BTreeMap::from([(0, before.len() as i64)]),
        "the offsets committed before the kill do not cover the {} records attempted:\n{log}",
        before.len()
    );

    let gateway = Binary::start(&yaml);
    let every_record = || {
        let mut seen = bodies(&receiver);
        seen.sort();
        seen.dedup();
        seen.len() == RECORDS
    };
    assert!(
        eventually(WAIT, every_record),
        "after the restart the receiver has {:?}\n{}",
        bodies(&receiver),
        gateway.log()
    );
    // One partition, delivered in order: a repeat of an earlier record would have come before
    // the last one.
    let all = bodies(&receiver);
    assert_eq!(
        all.len(),
        RECORDS,
        "a record was delivered twice across the kill: {all:?}"
    );
    assert_in_order_per_partition(&all, "across the kill");
}
