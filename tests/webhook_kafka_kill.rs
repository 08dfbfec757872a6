//! At-least-once webhooks over Kafka across a gateway `kill -9` (issue 15 part 3): each push
//! subscription consumes with its own consumer group and commits only what its callback
//! acknowledged, so after a SIGKILL the restarted gateway re-delivers from the last commit:
//! every record reaches the receiver at least once, in order per partition.
//!
//! Two ways back into the group, each its own test:
//! - a node with `gateway.nodeId` is a static member (`group.instance.id`): the restarted
//!   gateway comes back as the killed one's member and gets its partitions at once. The session
//!   timeout is set far beyond the test's deadline, so only that path can pass.
//! - a node without one joins as a new member and gets the partitions once the coordinator
//!   dropped the killed member (`sessionTimeoutMs`). It used to get none for good: each join
//!   retry asked for a fresh member id, leaving a member behind every time, and tansu formed
//!   the group with an empty assignment.
//!
//! One driver: a `kill -9` needs a process of its own, the binary on `auto`; webhook
//! delivery runs on both drivers in-process (tests/webhook_delivery.rs).

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::binary::Binary;
use common::eventually;
use common::webhook_brokers::{
    assert_in_order_per_partition, kafka_yaml_with_session, wait_acked_then_committed,
};
use common::webhook_receiver::{Receiver, Step};
use kafka_broker::{record_to, Broker};

const WAIT: Duration = Duration::from_secs(60);
const PARTITIONS: i64 = 2;
/// Records per partition.
const PER_PARTITION: usize = 10;
/// Records the receiver acknowledges before it hangs (the gateway is killed then).
const ACKED: usize = 7;

fn bodies(receiver: &Receiver) -> Vec<String> {
    receiver.received().iter().map(|r| r.body_text()).collect()
}

/// Delivers to a callback that acknowledges `ACKED` records and hangs on the next one, kills the
/// gateway once those are committed, restarts it, and checks that every record arrives.
fn every_record_arrives_after_a_kill(node_id: Option<&str>, session_timeout_ms: u64) {
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
    let yaml = kafka_yaml_with_session(
        node_id,
        session_timeout_ms,
        &broker.bootstrap(),
        topic,
        &receiver.url("/hook"),
    );
    let mut gateway = Binary::start(&yaml);
    // The subscription's group commits what was acknowledged, and never the record in flight.
    wait_acked_then_committed(&receiver, &gateway, ACKED, || {
        broker.committed("hooks.billing", topic)
    });
    gateway.signal("KILL");
    assert!(gateway.wait_exit(WAIT).is_some(), "the gateway did not die");
    drop(gateway);
    let before = bodies(&receiver);
    assert_in_order_per_partition(&before, "before the kill");
    let hung = before.last().unwrap().clone();

    let gateway = Binary::start(&yaml);
    let all = || {
        let mut seen = bodies(&receiver);
        seen.sort();
        seen.dedup();
        seen.len() == total
    };
    assert!(
        eventually(WAIT, all),
        "after the restart the receiver has {} deliveries, not every one of the {total} records:\n{:?}\n{}",
        receiver.count(),
        bodies(&receiver),
        gateway.log()
    );
    let after = bodies(&receiver).split_off(before.len());
    assert_in_order_per_partition(&after, "after the restart");
    assert!(
        after.contains(&hung),
        "the record in flight at the kill ({hung}) was delivered again: {after:?}"
    );
}

#[test]
fn a_node_with_an_id_takes_its_partitions_back_as_the_same_static_member() {
    // Ten minutes: a new member would get the partitions only long after WAIT.
    every_record_arrives_after_a_kill(Some("hooks-node"), 600_000);
}

#[test]
fn a_node_without_an_id_gets_the_partitions_once_the_killed_member_timed_out() {
    every_record_arrives_after_a_kill(None, 5_000);
}
