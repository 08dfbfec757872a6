//! One Kafka consumer group per subscription (`groupScope: subscription`) against a real broker
//! (tansu), checked with an independent client (confluent-kafka): each subscription a client
//! names (`X-Subscription` or `?subscription=`) reads every record through a group of its own
//! (`{groupId}.{name}`), whose offsets are committed only after delivery and resumed after a
//! gateway restart; a subscription's group is left once unused, and their number is bounded.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use kafka_broker::*;
use serde_json::Value;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

const TOPIC: &str = "orders";

fn gateway(broker: &Broker, extra: &str, driver: DriverChoice) -> Gateway {
    let consumer = format!(
        "groupId: shop\n          groupScope: subscription\n          autoOffsetReset: earliest{extra}"
    );
    let yaml = kafka_api_yaml(&broker.bootstrap(), TOPIC, &consumer);
    start(test_config(&yaml, driver))
}

/// How a client names its subscription.
#[derive(Clone, Copy)]
enum Naming<'a> {
    Header(&'a str),
    Query(&'a str),
}

/// Polls GET as subscription `naming` until `count` record values arrived; returns them sorted.
fn read_values(addr: SocketAddr, naming: Naming, count: usize) -> Vec<String> {
    match naming {
        Naming::Header(name) => read_contents(addr, "", &[("X-Subscription", name)], count),
        Naming::Query(name) => read_contents(addr, &format!("&subscription={name}"), &[], count),
    }
}

fn records(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| record_to(&format!("{prefix}-{i}"), (i % 2) as i64))
        .collect()
}

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

fn await_committed(broker: &Broker, group: &str, expected: BTreeMap<i64, i64>) {
    assert!(
        eventually(Duration::from_secs(30), || broker.committed(group, TOPIC)
            == expected),
        "{group} committed {:?}, expected {expected:?}",
        broker.committed(group, TOPIC)
    );
}

fn metric(
    gateway: &Gateway,
    pick: impl Fn(&tidegate::metrics::KafkaMetrics) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    ShardMetrics::get(pick(gateway.kafka_metrics().expect("kafka metrics")))
}

fn each_subscription_reads_every_record_through_its_own_group_and_resumes_from_its_commits(
    driver: DriverChoice,
) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 2);
    let first = gateway(&broker, "", driver);
    let addr = first.local_addr();
    broker.produce(TOPIC, &records("a", 4));

    assert_eq!(
        read_values(addr, Naming::Header("billing"), 4),
        names("a", 4)
    );
    assert_eq!(read_values(addr, Naming::Query("audit"), 4), names("a", 4));
    let both = BTreeMap::from([(0, 2), (1, 2)]);
    await_committed(&broker, "shop.billing", both.clone());
    await_committed(&broker, "shop.audit", both.clone());
    assert_eq!(metric(&first, |m| &m.subscription_groups_open), 2);

    // Billing reads on: only what it has not had yet.
    broker.produce(TOPIC, &records("b", 4));
    assert_eq!(
        read_values(addr, Naming::Header("billing"), 4),
        names("b", 4)
    );
    await_committed(&broker, "shop.billing", BTreeMap::from([(0, 4), (1, 4)]));
    // Audit read nothing more, so its offsets did not move.
    assert_eq!(broker.committed("shop.audit", TOPIC), both);

    // A restarted gateway resumes each subscription from its own commits.
    first.shutdown();
    broker.produce(TOPIC, &records("c", 2));
    let second = gateway(&broker, "", driver);
    let addr = second.local_addr();
    let mut audit = names("b", 4);
    audit.extend(names("c", 2));
    audit.sort();
    assert_eq!(read_values(addr, Naming::Query("audit"), 6), audit);
    assert_eq!(
        read_values(addr, Naming::Header("billing"), 2),
        names("c", 2)
    );
    await_committed(&broker, "shop.audit", BTreeMap::from([(0, 5), (1, 5)]));
    await_committed(&broker, "shop.billing", BTreeMap::from([(0, 5), (1, 5)]));
    second.shutdown();
}
on_both_drivers!(
    each_subscription_reads_every_record_through_its_own_group_and_resumes_from_its_commits,
    each_subscription_reads_every_record_through_its_own_group_and_resumes_from_its_commits
);

fn a_client_names_a_valid_subscription_and_resumes_it_with_its_cursor(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let gateway = gateway(&broker, "", driver);
    let addr = gateway.local_addr();

    let response = get(addr, "/k", &[]);
    assert_eq!(response.status, 400);
    assert!(
        response.text().contains("X-Subscription"),
        "{}",
        response.text()
    );

    let response = get(addr, "/k?subscription=no%20spaces", &[]);
    assert_eq!(response.status, 400);
    assert!(
        response.text().contains("is not valid"),
        "{}",
        response.text()
    );

    let (response, _) = open_sse(addr, "/k", &[]);
    assert_eq!(response.status, 400, "SSE needs a subscription too");

    // A poll's cursor resumes the subscription after the records it had.
    broker.produce(TOPIC, &[record_to("p-0", 0)]);
    let first = poll_until_item(addr, "poller", None);
    assert_eq!(first["items"][0]["content"], "p-0");
    let cursor = first["pagination"]["nextCursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    broker.produce(TOPIC, &[record_to("p-1", 0)]);
    let next = poll_until_item(addr, "poller", Some(&cursor));
    let contents: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["content"].as_str())
        .collect();
    assert_eq!(contents, ["p-1"]);

    // SSE names it in the query (EventSource cannot set headers) and streams the records.
    broker.produce(TOPIC, &[record_to("s-0", 0)]);
    let (response, mut sse) = open_sse(addr, "/k?subscription=stream", &[]);
    assert_eq!(response.status, 200);
    let text = read_sse_until(&mut sse, |t| t.contains("data: s-0"));
    assert!(text.contains("data: s-0"), "{text}");
    gateway.shutdown();
}
on_both_drivers!(
    a_client_names_a_valid_subscription_and_resumes_it_with_its_cursor,
    a_client_names_a_valid_subscription_and_resumes_it_with_its_cursor
);

fn an_unused_subscription_group_is_left_and_their_number_is_bounded(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let gateway = gateway(
        &broker,
        "\n          maxSubscriptionGroups: 1\n          subscriptionIdleTimeoutMs: 1000",
        driver,
    );
    let addr = gateway.local_addr();

    let (response, sse) = open_sse(addr, "/k?subscription=first", &[]);
    assert_eq!(response.status, 200);
    let refused = get(addr, "/k?subscription=second", &[]);
    assert_eq!(refused.status, 503);
    assert!(
        refused.text().contains("maxSubscriptionGroups"),
        "{}",
        refused.text()
    );
    assert_eq!(
        metric(&gateway, |m| &m.subscription_groups_refused_total),
        1
    );
    assert_eq!(metric(&gateway, |m| &m.subscription_groups_open), 1);
    // Operators see them on the admin endpoint.
    let admin = gateway.admin_addr().expect("admin endpoint");
    let text = get(admin, "/metrics", &[]).text();
    for line in [
        "# TYPE tidegate_kafka_subscription_groups_open gauge",
        "tidegate_kafka_subscription_groups_open 1",
        "tidegate_kafka_subscription_groups_refused_total 1",
        "tidegate_kafka_bridge_queue_depth 0",
        "tidegate_kafka_feeds 1",
        "tidegate_kafka_feeds_started 1",
        "tidegate_kafka_producers 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    assert!(
        eventually(Duration::from_secs(30), || get(admin, "/metrics", &[])
            .text()
            .lines()
            .any(|l| l == "tidegate_kafka_producers_connected 1")),
        "the producer is not reported connected"
    );

    // Its last client leaves: a second later the group is left and the slot is free.
    drop(sse);
    assert!(
        eventually(Duration::from_secs(30), || metric(&gateway, |m| {
            &m.subscription_groups_open
        }) == 0),
        "the unused subscription group was not left"
    );
    broker.produce(TOPIC, &[record_to("x-0", 0)]);
    assert_eq!(read_values(addr, Naming::Query("second"), 1), ["x-0"]);
    gateway.shutdown();
}
on_both_drivers!(
    an_unused_subscription_group_is_left_and_their_number_is_bounded,
    an_unused_subscription_group_is_left_and_their_number_is_bounded
);

/// Polls as subscription `name` from `cursor` until an item arrives; every answer must be 200.
fn poll_until_item(addr: SocketAddr, name: &str, cursor: Option<&str>) -> Value {
    poll_until_item_on(&mut connect(addr), name, cursor)
}

/// One GET as subscription `name` on `stream`, kept alive.
fn poll_on(stream: &mut TcpStream, name: &str, target: &str) -> Response {
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\nX-Subscription: {name}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream.try_clone().unwrap()))
}

/// `poll_until_item` on `stream`, kept alive.
fn poll_until_item_on(stream: &mut TcpStream, name: &str, cursor: Option<&str>) -> Value {
    let target = match cursor {
        Some(cursor) => format!("/k?limit=10&cursor={cursor}"),
        None => "/k?limit=10".to_owned(),
    };
    for _ in 0..50 {
        let response = poll_on(stream, name, &target);
        assert_eq!(response.status, 200, "{}", response.text());
        let body = response.json();
        if body["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
        {
            return body;
        }
    }
    panic!("no item within 50 polls");
}

fn a_cursor_resumes_a_subscription_whose_group_was_left_while_it_rejoins(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let gateway = gateway(
        &broker,
        "\n          subscriptionIdleTimeoutMs: 1000",
        driver,
    );
    let addr = gateway.local_addr();
    broker.produce(TOPIC, &[record_to("r-0", 0)]);
    // The next poll on the same connection is read only once the gateway recorded what the
    // previous one delivered; on a new connection it could come first (the client has the
    // response before the gateway's bookkeeping ran) and be handed `r-0` again.
    let mut stream = connect(addr);
    let first = poll_until_item_on(&mut stream, "resumer", None);
    assert_eq!(first["items"][0]["content"], "r-0");
    let cursor = first["pagination"]["nextCursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    // A poll without a cursor that gets nothing still hands back where the subscription is.
    let empty = poll_on(&mut stream, "resumer", "/k?limit=10").json();
    drop(stream);
    assert_eq!(empty["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(empty["pagination"]["nextCursor"], cursor.as_str());
    assert!(
        eventually(Duration::from_secs(30), || metric(&gateway, |m| {
            &m.subscription_groups_open
        }) == 0),
        "the unused subscription group was not left"
    );

    // The next poll reopens the group; its cursor is served at once (not 503 while the group
    // joins), from the group's committed offsets, without the record it already had.
    broker.produce(TOPIC, &[record_to("r-1", 0)]);
    let next = poll_until_item(addr, "resumer", Some(&cursor));
    let contents: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["content"].as_str())
        .collect();
    assert_eq!(contents, ["r-1"]);
    gateway.shutdown();
}
on_both_drivers!(
    a_cursor_resumes_a_subscription_whose_group_was_left_while_it_rejoins,
    a_cursor_resumes_a_subscription_whose_group_was_left_while_it_rejoins
);
