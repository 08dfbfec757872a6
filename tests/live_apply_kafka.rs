//! A Kafka API deployed into a running gateway that started without one: the Kafka bridge starts
//! with that apply, and the API consumes and produces like one configured at start.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::live_apis::{api, config_of, for_running, status};
use common::{eventually, get};
use kafka_broker::{kafka_api_yaml, Broker};
use serde_json::json;
use tidegate::config::{self, DriverChoice};

fn first_kafka_api_deployed_live(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic("live-orders", 1);
    let other = api("other", "other", &["http-get"], true);
    let gateway = common::start(config_of(std::slice::from_ref(&other), driver));
    let addr = gateway.local_addr();
    assert!(
        gateway.kafka_metrics().is_none(),
        "no bridge before a Kafka API"
    );

    let yaml = format!(
        "{}{other}",
        kafka_api_yaml(&broker.bootstrap(), "live-orders", "")
    );
    let config = for_running(&gateway, config::load_str(&yaml, "t").unwrap());
    let report = gateway.apply(config).expect("apply accepted");
    assert_eq!(report.added, ["kafka-api"]);
    assert!(report.restart_needed.is_empty(), "{report:?}");
    assert!(gateway.kafka_metrics().is_some(), "the bridge started");
    assert_eq!(status(addr, "/k"), 204);
    let json = [("Accept", "application/json")];
    assert!(
        eventually(Duration::from_secs(60), || get(addr, "/k?limit=1", &json)
            .status
            == 200),
        "the Kafka feed did not start"
    );
    // Consumes what the broker gets after "now" (an empty poll's cursor).
    let now = next_cursor(addr, "/k?limit=1");
    broker.produce("live-orders", &[json!({"value": "from-kafka"})]);
    poll_until(addr, &format!("/k?limit=10&cursor={now}"), "from-kafka");
    // Produces.
    let answer = common::post(addr, "/k", "from-the-gateway", "");
    assert_eq!(answer.status, 202, "{}", answer.text());
    // The bridge is on /metrics as one started with the gateway is.
    let admin = gateway.admin_addr().expect("admin listener");
    let metrics = common::admin::metrics_text(admin);
    for line in ["tidegate_kafka_feeds 1", "tidegate_kafka_feeds_started 1"] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    let produced = common::admin::plain_metric(&metrics, "kafka_records_produced_total");
    assert!(produced >= Some(1), "{metrics}");
    let records = broker.consume("live-orders", 2);
    assert!(
        records.iter().any(|r| r["value"] == "from-the-gateway"),
        "{records:?}"
    );

    // A second Kafka API on another topic was not in the bridge's plan: it needs a restart,
    // and the rest of the apply still happens.
    let second = kafka_api_yaml(&broker.bootstrap(), "other-orders", "")
        .replace("apis:\n", "")
        .replace("id: kafka-api", "id: kafka-two")
        .replace("[/k]", "[/k2]");
    let yaml = format!("{yaml}{second}");
    let config = for_running(&gateway, config::load_str(&yaml, "t").unwrap());
    let report = gateway.apply(config).expect("apply accepted");
    assert_eq!(
        report.restart_needed,
        ["apis[kafka-two] (a Kafka endpoint the gateway did not start with)"]
    );
    assert_eq!(status(addr, "/k2"), 404);
    assert_eq!(status(addr, "/k"), 204);
}
on_both_drivers!(first_kafka_api_deployed_live, first_kafka_api_deployed_live);

/// The bridge's gauge or counter `name` (`tidegate_kafka_…`) on `gateway`'s /metrics.
fn kafka_metric(gateway: &tidegate::runtime::Gateway, name: &str) -> u64 {
    let admin = gateway.admin_addr().expect("admin listener");
    let text = common::admin::metrics_text(admin);
    common::admin::plain_metric(&text, &format!("kafka_{name}"))
        .unwrap_or_else(|| panic!("tidegate_kafka_{name} in:\n{text}"))
}

/// True when `name` does not move for a second (a feed that fetches counts a request at least
/// every fetch wait, 250 ms).
fn still(gateway: &tidegate::runtime::Gateway, name: &str) -> bool {
    let before = kafka_metric(gateway, name);
    std::thread::sleep(Duration::from_millis(1200));
    kafka_metric(gateway, name) == before
}

/// A Kafka API removed (or stopped) by a live apply: its feed stops fetching, and the feed, its
/// producer and its catch-up readers close their broker connections; deployed (or started)
/// again, it fetches, catches up and produces again.
fn removed_api_feed_stops_and_comes_back(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic("paused-orders", 2);
    let other = api("other", "other", &["http-get"], true);
    let kafka = kafka_api_yaml(&broker.bootstrap(), "paused-orders", "");
    let with_kafka = format!("{kafka}{other}");
    let gateway = common::start(common::test_config(&with_kafka, driver));
    let addr = gateway.local_addr();
    let json = [("Accept", "application/json")];
    let served = || get(addr, "/k?limit=1", &json).status == 200;
    assert!(
        eventually(Duration::from_secs(60), served),
        "the feed did not start"
    );
    assert_eq!(kafka_metric(&gateway, "feeds_running"), 1);
    assert_eq!(kafka_metric(&gateway, "fetch_loops_running"), 2);
    assert!(
        eventually(Duration::from_secs(30), || kafka_metric(
            &gateway,
            "producers_connected"
        ) == 1),
        "the producer did not connect"
    );
    let connected = broker.connections_from_this_process();
    assert!(
        !still(&gateway, "fetch_requests_total"),
        "a running feed fetches"
    );
    // A client's position before the pause, with one record read.
    let start = next_cursor(addr, "/k?limit=1");
    broker.produce("paused-orders", &[json!({"value": "before-the-pause"})]);
    let mut seen = poll_until(
        addr,
        &format!("/k?limit=10&cursor={start}"),
        "before-the-pause",
    );
    let before = serde_json::from_str::<serde_json::Value>(&seen).unwrap()["pagination"]
        ["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_owned();

    // Removed: its feed stops, its partition and metadata connections close.
    let only_other = config_of(std::slice::from_ref(&other), driver);
    let report = gateway
        .apply(for_running(&gateway, only_other))
        .expect("apply accepted");
    assert_eq!(report.removed, ["kafka-api"]);
    assert_eq!(status(addr, "/k"), 404);
    assert_feed_stopped(&gateway, 10, "the fetch loops did not end");
    assert!(
        still(&gateway, "fetch_requests_total"),
        "a stopped feed fetches"
    );
    // The feed's (metadata, two partitions) and the producer's all close.
    assert_no_broker_connections(&broker, &gateway, connected);
    broker.produce("paused-orders", &[json!({"value": "during-the-pause"})]);

    // Deployed again: it fetches again, from now (`autoOffsetReset: latest`, as at a start).
    let report = apply_yaml(&gateway, &with_kafka);
    assert_eq!(report.added, ["kafka-api"]);
    // Its producer started connecting before the shards routed to the API: the first publish
    // waits for that, it is not refused.
    let answer = common::post(addr, "/k", "after-the-redeploy", "");
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert!(
        fetch_loops_reach(&gateway, 2, 60),
        "the feed did not start again"
    );
    assert_eq!(kafka_metric(&gateway, "feeds_running"), 1);
    assert!(eventually(Duration::from_secs(10), served));
    // The client resumes where it was before the pause: what the broker got meanwhile comes
    // from the brokers (the node buffer no longer holds its position), nothing skipped.
    seen = poll_until(
        addr,
        &format!("/k?limit=10&cursor={before}"),
        "during-the-pause",
    );
    assert!(!seen.contains("before-the-pause"), "{seen}");
    assert!(kafka_metric(&gateway, "catch_up_connections") > 0);
    let now = next_cursor(addr, "/k?limit=1");
    broker.produce("paused-orders", &[json!({"value": "after-the-pause"})]);
    poll_until(
        addr,
        &format!("/k?limit=10&cursor={now}"),
        "after-the-pause",
    );

    // Stopped (still deployed): its feed stops too.
    let stopped = with_kafka.replace(
        "  - id: kafka-api\n",
        "  - id: kafka-api\n    state: stopped\n",
    );
    assert_ne!(stopped, with_kafka);
    let report = apply_yaml(&gateway, &stopped);
    assert_eq!(report.stopped, ["kafka-api"]);
    assert_feed_stopped(&gateway, 10, "the fetch loops of a stopped API did not end");
    // The catch-up readers' shared connections close too.
    assert_no_broker_connections(&broker, &gateway, connected);
    assert_eq!(kafka_metric(&gateway, "catch_up_connections"), 0);
}

/// Within 10 s (the producer lingers for its `requestTimeoutMs`, 3 s), `gateway` holds no
/// connection to `broker` (it held `before`) and counts no connected producer.
fn assert_no_broker_connections(
    broker: &Broker,
    gateway: &tidegate::runtime::Gateway,
    before: usize,
) {
    let mut now = before;
    assert!(
        eventually(Duration::from_secs(10), || {
            now = broker.connections_from_this_process();
            now == 0
        }),
        "{before} broker connections before, {now} after"
    );
    assert_eq!(kafka_metric(gateway, "producers_connected"), 0);
}
on_both_drivers!(
    removed_api_feed_stops_and_comes_back,
    removed_api_feed_stops_and_comes_back
);

/// A consumer group member whose API is removed commits what it read and leaves the group:
/// its heartbeats stop, and the group's offsets cover the records its clients had.
fn removed_api_group_member_leaves(driver: DriverChoice) {
    const GROUP: &str = "paused-group";
    let broker = Broker::start();
    broker.create_topic("paused-group-orders", 1);
    let other = api("other", "other", &["http-get"], true);
    let kafka = kafka_api_yaml(
        &broker.bootstrap(),
        "paused-group-orders",
        &format!("groupId: {GROUP}\n          autoOffsetReset: earliest"),
    );
    broker.produce(
        "paused-group-orders",
        &[json!({"value": "one"}), json!({"value": "two"})],
    );
    let with_kafka = format!("{kafka}{other}");
    let gateway = common::start(common::test_config(&with_kafka, driver));
    let addr = gateway.local_addr();
    poll_until(addr, "/k?limit=10", "two");
    assert!(
        eventually(Duration::from_secs(30), || kafka_metric(
            &gateway,
            "group_heartbeats_total"
        ) > 0),
        "the member did not join"
    );

    let only_other = config_of(std::slice::from_ref(&other), driver);
    gateway
        .apply(for_running(&gateway, only_other))
        .expect("apply accepted");
    assert_feed_stopped(&gateway, 20, "the member's fetch loop did not end");
    assert!(
        still(&gateway, "group_heartbeats_total"),
        "a member that left heartbeats"
    );
    assert!(kafka_metric(&gateway, "group_commits_total") > 0);
    let committed = broker.committed(GROUP, "paused-group-orders");
    assert_eq!(committed.get(&0), Some(&2), "{committed:?}");

    // Deployed again, the member rejoins from the group's offsets: a client gets what was
    // produced meanwhile, and nothing it had before again.
    broker.produce("paused-group-orders", &[json!({"value": "three"})]);
    gateway
        .apply(for_running(
            &gateway,
            common::test_config(&with_kafka, driver),
        ))
        .expect("apply accepted");
    let seen = poll_until(addr, "/k?limit=10", "three");
    assert!(!seen.contains("two"), "{seen}");
    assert_eq!(kafka_metric(&gateway, "feeds_running"), 1);
}
on_both_drivers!(
    removed_api_group_member_leaves,
    removed_api_group_member_leaves
);

/// The `nextCursor` of a poll of `path` (JSON).
fn next_cursor(addr: std::net::SocketAddr, path: &str) -> String {
    get(addr, path, &[("Accept", "application/json")]).json()["pagination"]["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_owned()
}

/// Polls `path` (JSON) until an answer holds `needle` (at most 60 s); returns that answer.
fn poll_until(addr: std::net::SocketAddr, path: &str, needle: &str) -> String {
    let mut seen = String::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            seen = get(addr, path, &[("Accept", "application/json")]).text();
            seen.contains(needle)
        }),
        "no {needle:?} in {seen}"
    );
    seen
}

/// Applies `yaml` to the running `gateway`.
fn apply_yaml(gateway: &tidegate::runtime::Gateway, yaml: &str) -> tidegate::runtime::ApplyReport {
    let config = config::load_str(yaml, "t").unwrap();
    gateway
        .apply(for_running(gateway, config))
        .expect("apply accepted")
}

/// True once the bridge runs `count` fetch loops, within `seconds`.
fn fetch_loops_reach(gateway: &tidegate::runtime::Gateway, count: u64, seconds: u64) -> bool {
    eventually(Duration::from_secs(seconds), || {
        kafka_metric(gateway, "fetch_loops_running") == count
    })
}

/// The feed stops within `seconds`: no fetch loop, not running, no start (its clients get 503).
fn assert_feed_stopped(gateway: &tidegate::runtime::Gateway, seconds: u64, what: &str) {
    assert!(fetch_loops_reach(gateway, 0, seconds), "{what}");
    assert_eq!(kafka_metric(gateway, "feeds_running"), 0);
    assert_eq!(kafka_metric(gateway, "feeds_started"), 0);
}
