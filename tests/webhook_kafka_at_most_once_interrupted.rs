//! `qos: at-most-once` over Kafka: a subscription stopped (here: changed by a live apply) while
//! the offset commit before a message's only try is still unanswered never delivers that
//! message (it was acknowledged when taken: the next runner resumes after it), so it is counted
//! in `tidegate_webhook_dropped_total` (and logged), not in the commit failures (the commit may
//! still land). Before, such a message vanished without a count.
//!
//! The broker never answers the commit: a proxy before it holds OffsetCommit requests back
//! (`common::kafka_commit_hold`).

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::kafka_commit_hold::CommitHold;
use common::webhook_api::{counters, read};
use common::webhook_brokers::{kafka_yaml, SUBSCRIPTION};
use common::webhook_receiver::Receiver;
use common::{eventually, start, test_config};
use kafka_broker::{record_to, Broker};
use tidegate::config::DriverChoice;

const WAIT: Duration = Duration::from_secs(60);

fn an_unanswered_commit_interrupted_counts_its_message_dropped(driver: DriverChoice) {
    let mut broker = Broker::start();
    let hold = CommitHold::start(broker.addr);
    // Restarted (topics in memory are gone): the topic is created after.
    broker.restart_advertising(hold.addr);
    let topic = "orders-commit-hangs";
    broker.create_topic(topic, 1);
    let receiver = Receiver::answering(200);
    let callback = receiver.url("/hook");
    let yaml = kafka_yaml(&hold.addr.to_string(), topic, &callback, "")
        .replace("qos: at-least-once", "qos: at-most-once");
    assert!(yaml.contains("qos: at-most-once"));
    let gateway = start(test_config(&yaml, driver));
    let counters = counters(&gateway, SUBSCRIPTION);
    assert!(
        eventually(WAIT, || counters.state() == 1),
        "the subscription never became active (state {})",
        counters.state()
    );

    // A first record goes through: its commit reaches the broker through the proxy.
    broker.produce(topic, &[record_to("first", 0)]);
    assert!(
        eventually(WAIT, || receiver.count() == 1),
        "the first record was not delivered ({} deliveries)",
        receiver.count()
    );

    // From now on no commit reaches the broker: the second record's (offset 2) hangs.
    hold.hold_commits();
    broker.produce(topic, &[record_to("second", 0)]);
    assert!(
        eventually(WAIT, || hold.held_offsets().contains(&2)),
        "no commit past the second record came: {:?}",
        hold.held_offsets()
    );

    // The subscription changes meanwhile: its runner drains while the commit hangs.
    let changed = yaml.replace(&callback, &receiver.url("/changed"));
    gateway
        .apply(test_config(&changed, driver))
        .expect("apply accepted");
    assert!(
        eventually(WAIT, || read(&counters.dropped) == 1),
        "the message whose commit was abandoned is not counted as dropped (dropped {})",
        read(&counters.dropped)
    );
    assert_eq!(read(&counters.commit_failures), 0, "no commit failed");
    assert_eq!(receiver.count(), 1, "the second record was never tried");
    hold.cut_held();
}
on_both_drivers!(
    interrupted_commit,
    an_unanswered_commit_interrupted_counts_its_message_dropped
);
