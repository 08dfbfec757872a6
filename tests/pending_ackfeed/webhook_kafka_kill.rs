//! At-least-once webhooks over Kafka across a gateway `kill -9` (issue 15 part 3): each push
//! subscription consumes with its own consumer group and commits only what its callback
//! acknowledged, so after a SIGKILL the restarted gateway re-delivers from the last commit:
//! every record reaches the receiver at least once, in order per partition.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::binary::Binary;
use common::eventually;
use common::kafka::{record_to, Broker};
use common::webhook_brokers::kafka_yaml;
use common::webhook_receiver::{Receiver, Step};

const WAIT: Duration = Duration::from_secs(60);
const PARTITIONS: i64 = 2;
/// Records per partition.
const PER_PARTITION: usize = 10;
/// Records the receiver acknowledges before it hangs (the gateway is killed then).
const ACKED: usize = 7;

/// `p<partition>-<n>` → `(partition, n)`.
fn parse(body: &str) -> (i64, usize) {
    let (partition, n) = body
        .strip_prefix('p')
        .and_then(|rest| rest.split_once('-'))
        .unwrap_or_else(|| panic!("unexpected body {body:?}"));
    (partition.parse().unwrap(), n.parse().unwrap())
}

/// Asserts that `bodies` (one gateway run) are in order per partition.
fn assert_in_order(bodies: &[String], run: &str) {
    let mut last: BTreeMap<i64, usize> = BTreeMap::new();
    for body in bodies {
        let (partition, n) = parse(body);
        if let Some(previous) = last.insert(partition, n) {
            assert!(
                n > previous,
                "{run}: p{partition}-{n} came after p{partition}-{previous}: {bodies:?}"
            );
        }
    }
}

#[test]
fn every_record_reaches_the_callback_after_a_kill_in_order_per_partition() {
    let broker = Broker::start();
    let topic = "orders-kill";
    broker.create_topic(topic, PARTITIONS as u32);
    let records: Vec<_> = (0..PER_PARTITION)
        .flat_map(|n| (0..PARTITIONS).map(move |p| record_to(&format!("p{p}-{n}"), p)))
        .collect();
    broker.produce(topic, &records);
    let total = records.len();

    // ACKED answers of 200, then the next delivery hangs: it is in flight when the gateway dies.
    let mut script = vec![Step::Status(200); ACKED];
    script.push(Step::Hang);
    let receiver = Receiver::start(&script, Step::Status(200));
    let yaml = kafka_yaml(&broker.bootstrap(), topic, &receiver.url("/hook"), "");
    let mut gateway = Binary::start(&yaml);
    assert!(
        eventually(WAIT, || receiver.count() > ACKED),
        "the receiver got {} deliveries:\n{}",
        receiver.count(),
        gateway.log()
    );
    // The subscription's group commits what was acknowledged, and never the record in flight.
    let mut committed = BTreeMap::new();
    let settled = eventually(WAIT, || {
        committed = broker.committed("hooks.billing", topic);
        committed.values().sum::<i64>() == ACKED as i64
    });
    assert!(
        settled,
        "the group committed {committed:?}, not the {ACKED} acknowledged records"
    );
    gateway.signal("KILL");
    assert!(gateway.wait_exit(WAIT).is_some(), "the gateway did not die");
    drop(gateway);
    let before: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    assert_in_order(&before, "before the kill");
    let hung = before.last().unwrap().clone();

    let gateway = Binary::start(&yaml);
    let all = || {
        let bodies: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
        let mut seen: Vec<&String> = bodies.iter().collect();
        seen.sort();
        seen.dedup();
        seen.len() == total
    };
    assert!(
        eventually(WAIT, all),
        "after the restart the receiver has {} deliveries, not every one of the {total} records:\n{:?}\n{}",
        receiver.count(),
        receiver
            .received()
            .iter()
            .map(|r| r.body_text())
            .collect::<Vec<_>>(),
        gateway.log()
    );
    let after: Vec<String> = receiver.received()[before.len()..]
        .iter()
        .map(|r| r.body_text())
        .collect();
    assert_in_order(&after, "after the restart");
    assert!(
        after.contains(&hung),
        "the record in flight at the kill ({hung}) was delivered again: {after:?}"
    );
}
