//! Kafka cursors whose offsets the broker's log no longer matches: an in-memory tansu loses its
//! topics on restart, so the recreated topic's offsets start again at 0, behind positions that
//! clients hold ("the log went back"; the fetch-side arithmetic is unit-tested in
//! endpoint/kafka/offsets.rs).

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use kafka_broker::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

const TOPIC: &str = "ranges";

fn gateway(broker: &Broker, driver: DriverChoice) -> Gateway {
    let yaml = kafka_api_yaml(&broker.bootstrap(), TOPIC, "autoOffsetReset: earliest");
    start(test_config(&yaml, driver))
}

/// Polls from `cursor` until a record arrives (or a minute passed; 503 while the feed starts);
/// returns the contents.
fn contents_from(addr: SocketAddr, cursor: &str) -> Vec<String> {
    let target = format!("/k?limit=10&cursor={cursor}");
    let mut contents = Vec::new();
    eventually(Duration::from_secs(60), || {
        let response = get(addr, &target, &[("Accept", "application/json")]);
        if response.status == 503 {
            return false;
        }
        assert_eq!(response.status, 200, "{}", response.text());
        contents = response.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|item| item["content"].as_str().map(str::to_owned))
            .collect();
        !contents.is_empty()
    });
    contents
}

/// Polls from `cursor`, following `nextCursor`, until `count` records arrived (or a minute
/// passed); returns their contents in order.
fn contents_following(addr: SocketAddr, cursor: &str, count: usize) -> Vec<String> {
    let mut contents = Vec::new();
    let mut cursor = cursor.to_owned();
    eventually(Duration::from_secs(60), || {
        let target = format!("/k?limit=10&cursor={cursor}");
        let response = get(addr, &target, &[("Accept", "application/json")]);
        if response.status == 503 {
            return false;
        }
        assert_eq!(response.status, 200, "{}", response.text());
        let body = response.json();
        contents.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|item| item["content"].as_str().map(str::to_owned)),
        );
        if let Some(next) = body["pagination"]["nextCursor"].as_str() {
            cursor = next.to_owned();
        }
        contents.len() >= count
    });
    contents
}

/// Three records, then the broker loses the topic; it is recreated with one new record.
/// Returns the cursor a client had after the three (`ranges:0:3`, past the new log's end).
fn log_goes_back(broker: &mut Broker, gateway: &Gateway) -> String {
    broker.produce(TOPIC, &[record("old-0"), record("old-1"), record("old-2")]);
    let old = read_contents(gateway.local_addr(), "", &[], 3);
    assert_eq!(old, ["old-0", "old-1", "old-2"]);
    broker.restart();
    broker.create_topic(TOPIC, 1);
    broker.produce(TOPIC, &[record("new-0")]);
    format!("{TOPIC}:0:3")
}

fn a_cursor_from_before_the_log_went_back_resumes_on_the_node_that_followed_it(
    driver: DriverChoice,
) {
    let mut broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let gateway = gateway(&broker, driver);
    let cursor = log_goes_back(&mut broker, &gateway);
    // The node's feed read the new log from its start; the old position resumes after old-2.
    assert_eq!(contents_from(gateway.local_addr(), &cursor), ["new-0"]);
}
on_both_drivers!(
    a_cursor_from_before_the_log_went_back_resumes_on_the_node_that_followed_it,
    a_cursor_from_before_the_log_went_back_resumes_on_the_node_that_followed_it
);

/// On a node whose feed started after the log went back, a position past the log's end is
/// not one the node has yet to fetch: the broker's log ends before it (the node asks the broker,
/// so a position from a node merely ahead is not mistaken for it). The docs promise that "a
/// position the broker no longer has starts at the broker's earliest offset": the client reads
/// the new log from its start instead of waiting for offset 3 and skipping new-0..new-2.
fn past_the_end_on_another_node(driver: DriverChoice) {
    let mut broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let first = gateway(&broker, driver);
    let cursor = log_goes_back(&mut broker, &first);
    let second = gateway(&broker, driver);
    assert_eq!(contents_from(second.local_addr(), &cursor), ["new-0"]);
    let metrics = second.kafka_metrics().expect("kafka metrics");
    assert!(ShardMetrics::get(&metrics.cursors_past_end_total) >= 1);
    // Positions in the new log are not taken for ones past its end: nothing is read again.
    broker.produce(TOPIC, &[record("new-1"), record("new-2")]);
    assert_eq!(
        contents_following(second.local_addr(), &format!("{TOPIC}:0:1"), 2),
        ["new-1", "new-2"]
    );
}
on_both_drivers!(
    a_cursor_past_the_end_of_the_log_reads_the_new_log_on_another_node,
    past_the_end_on_another_node
);
