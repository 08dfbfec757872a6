//! A consumer-group member whose API is removed while its JoinGroup waits for a rebalance (a
//! proxy before the broker holds the request, as a coordinator waiting for slow members would):
//! the member stops at once, closing the connection the join waits on, instead of waiting out
//! the request's timeout (30 s) first.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::kafka_commit_hold::CommitHold;
use common::live_apis::{api, config_of, for_running};
use common::{admin, eventually, test_config};
use kafka_broker::{kafka_api_yaml, Broker};
use tidegate::config::DriverChoice;

const WAIT: Duration = Duration::from_secs(60);

fn a_member_stopped_while_its_join_waits_stops_at_once(driver: DriverChoice) {
    let mut broker = Broker::start();
    let hold = CommitHold::start(broker.addr);
    // Restarted (topics in memory are gone): the topic is created after.
    broker.restart_advertising(hold.addr);
    broker.create_topic("join-held", 1);
    hold.hold_joins();
    let other = api("other", "other", &["http-get"], true);
    let kafka = kafka_api_yaml(
        &hold.addr.to_string(),
        "join-held",
        "groupId: join-held-group\n          autoOffsetReset: earliest",
    );
    let gateway = common::start(test_config(&format!("{kafka}{other}"), driver));
    assert!(
        eventually(WAIT, || hold.joins_held() >= 1),
        "the member's JoinGroup never reached the proxy"
    );
    assert_eq!(hold.held_joins_closed(), 0);

    // The Kafka API goes; its member must not sit in the join until the request times out.
    let config = for_running(&gateway, config_of(std::slice::from_ref(&other), driver));
    let report = gateway.apply(config).expect("apply accepted");
    assert_eq!(report.removed, ["kafka-api"]);
    assert!(
        eventually(Duration::from_secs(15), || hold.held_joins_closed() >= 1),
        "the held join's connection stayed open after the stop (the request timeout is 30 s)"
    );
    let admin = gateway.admin_addr().expect("admin listener");
    assert!(eventually(Duration::from_secs(15), || {
        admin::plain_metric(&admin::metrics_text(admin), "kafka_feeds_running") == Some(0)
    }));
    // No join came after the stop.
    let held = hold.joins_held();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hold.joins_held(), held, "the stopped member joined again");
}
on_both_drivers!(
    a_member_stopped_while_its_join_waits_stops_at_once,
    a_member_stopped_while_its_join_waits_stops_at_once
);
