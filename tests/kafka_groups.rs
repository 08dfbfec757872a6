//! Kafka consumer groups against a real broker (tansu) with an independent client
//! (confluent-kafka): a gateway whose API sets `consumer.groupId` commits the group's offsets
//! only once records were written to a client, a restarted gateway resumes from them, members
//! split the partitions and take over from each other, and a member survives a broker restart.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use kafka_broker::*;
use serde_json::Value;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

const TOPIC: &str = "payments";
const GROUP: &str = "tidegate-payments";

fn group_gateway(broker: &Broker, driver: DriverChoice) -> Gateway {
    let yaml = kafka_api_yaml(
        &broker.bootstrap(),
        TOPIC,
        &format!("groupId: {GROUP}\n          autoOffsetReset: earliest"),
    );
    start(test_config(&yaml, driver))
}

/// Polls GET until `count` record values arrived; returns them sorted.
fn read_values(addr: SocketAddr, count: usize) -> Vec<String> {
    read_contents(addr, "", &[], count)
}

fn fetched(gateway: &Gateway) -> u64 {
    ShardMetrics::get(
        &gateway
            .kafka_metrics()
            .expect("kafka metrics")
            .records_fetched_total,
    )
}

fn heartbeats(gateway: &Gateway) -> u64 {
    ShardMetrics::get(
        &gateway
            .kafka_metrics()
            .expect("kafka metrics")
            .group_heartbeats_total,
    )
}

fn records(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| record_to(&format!("{prefix}-{i}"), (i % 2) as i64))
        .collect()
}

fn group_mode_commits_offsets_only_after_delivery_and_resumes_after_a_restart(
    driver: DriverChoice,
) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 2);
    let first = group_gateway(&broker, driver);
    let addr = first.local_addr();
    broker.produce(TOPIC, &records("a", 4));
    assert!(
        eventually(Duration::from_secs(60), || fetched(&first) == 4),
        "the group member did not fetch the records"
    );
    // No client has had them: after two more heartbeats (each follows a commit round, so a
    // whole round ran after the fetch) nothing is committed.
    let beats = heartbeats(&first);
    assert!(
        eventually(Duration::from_secs(60), || heartbeats(&first) >= beats + 2),
        "the group member stopped heartbeating"
    );
    assert_eq!(broker.committed(GROUP, TOPIC), BTreeMap::new());

    let delivered = read_values(addr, 4);
    let mut sorted = delivered.clone();
    sorted.sort();
    assert_eq!(sorted, ["a-0", "a-1", "a-2", "a-3"]);
    let expected = BTreeMap::from([(0, 2), (1, 2)]);
    await_committed(&broker, expected.clone());

    let metrics = first.kafka_metrics().expect("kafka metrics");
    assert_eq!(ShardMetrics::get(&metrics.group_joins_total), 1);
    assert!(ShardMetrics::get(&metrics.group_commits_total) >= 1);

    // Fetched by the first gateway while no client reads: not delivered, so not committed.
    broker.produce(TOPIC, &records("b", 6));
    assert!(
        eventually(Duration::from_secs(60), || fetched(&first) == 10),
        "the group member did not fetch the new records"
    );
    first.shutdown();
    assert_eq!(broker.committed(GROUP, TOPIC), expected);

    let second = group_gateway(&broker, driver);
    let mut resumed = read_values(second.local_addr(), 6);
    resumed.sort();
    assert_eq!(resumed, ["b-0", "b-1", "b-2", "b-3", "b-4", "b-5"]);
    await_committed(&broker, BTreeMap::from([(0, 5), (1, 5)]));
    second.shutdown();
}
on_both_drivers!(
    group_mode_commits_offsets_only_after_delivery_and_resumes_after_a_restart,
    group_mode_commits_offsets_only_after_delivery_and_resumes_after_a_restart
);

fn fetch_loops(gateway: &Gateway) -> u64 {
    ShardMetrics::get(
        &gateway
            .kafka_metrics()
            .expect("kafka metrics")
            .fetch_loops_running,
    )
}

fn two_gateways_in_a_group_split_the_partitions_and_one_takes_over_when_the_other_leaves(
    driver: DriverChoice,
) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 2);
    let first = group_gateway(&broker, driver);
    assert!(
        eventually(Duration::from_secs(60), || fetch_loops(&first) == 2),
        "the first member did not get both partitions"
    );
    let second = group_gateway(&broker, driver);
    assert!(
        eventually(Duration::from_secs(60), || fetch_loops(&first) == 1
            && fetch_loops(&second) == 1),
        "the partitions were not split: {} and {} fetch loops",
        fetch_loops(&first),
        fetch_loops(&second)
    );

    // Records "a-0", "a-2" go to partition 0, "a-1", "a-3" to partition 1.
    broker.produce(TOPIC, &records("a", 4));
    let mut from_first = read_values(first.local_addr(), 2);
    let mut from_second = read_values(second.local_addr(), 2);
    from_first.sort();
    from_second.sort();
    let halves = [vec!["a-0", "a-2"], vec!["a-1", "a-3"]];
    assert!(
        (from_first == halves[0] && from_second == halves[1])
            || (from_first == halves[1] && from_second == halves[0]),
        "first: {from_first:?}, second: {from_second:?}"
    );
    await_committed(&broker, BTreeMap::from([(0, 2), (1, 2)]));

    // The second leaves the group at shutdown: the first takes its partition over from the
    // committed offset (nothing delivered again).
    second.shutdown();
    assert!(
        eventually(Duration::from_secs(60), || fetch_loops(&first) == 2),
        "the first member did not take over the partition"
    );
    broker.produce(TOPIC, &records("b", 2));
    let mut after = read_values(first.local_addr(), 2);
    after.sort();
    assert_eq!(after, ["b-0", "b-1"]);
    first.shutdown();
}
on_both_drivers!(
    two_gateways_in_a_group_split_the_partitions_and_one_takes_over_when_the_other_leaves,
    two_gateways_in_a_group_split_the_partitions_and_one_takes_over_when_the_other_leaves
);

fn a_group_member_rejoins_after_a_broker_restart_and_keeps_committing(driver: DriverChoice) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 2);
    let gateway = group_gateway(&broker, driver);
    let addr = gateway.local_addr();
    broker.produce(TOPIC, &records("a", 2));
    let mut before = read_values(addr, 2);
    before.sort();
    assert_eq!(before, ["a-0", "a-1"]);
    await_committed(&broker, BTreeMap::from([(0, 1), (1, 1)]));

    broker.restart();
    broker.produce(TOPIC, &records("b", 2));
    let mut after = read_values(addr, 2);
    after.sort();
    assert_eq!(after, ["b-0", "b-1"]);
    let expected = BTreeMap::from([(0, 2), (1, 2)]);
    assert!(
        eventually(Duration::from_secs(60), || broker.committed(GROUP, TOPIC)
            == expected),
        "committed after the restart: {:?}",
        broker.committed(GROUP, TOPIC)
    );
    // The coordinator connection died with the broker: committing again took a new membership.
    let metrics = gateway.kafka_metrics().expect("kafka metrics");
    assert!(ShardMetrics::get(&metrics.group_joins_total) >= 2);
    gateway.shutdown();
}
on_both_drivers!(
    a_group_member_rejoins_after_a_broker_restart_and_keeps_committing,
    a_group_member_rejoins_after_a_broker_restart_and_keeps_committing
);

/// Waits until the group's committed offsets are `expected`.
fn await_committed(broker: &Broker, expected: BTreeMap<i64, i64>) {
    assert!(
        eventually(Duration::from_secs(30), || broker.committed(GROUP, TOPIC)
            == expected),
        "committed: {:?}, expected {expected:?}",
        broker.committed(GROUP, TOPIC)
    );
}

/// `group_gateway` on `bootstrap` with the endpoint's `security` (YAML flow mapping).
fn secured_group_gateway(bootstrap: &str, security: &str, driver: DriverChoice) -> Gateway {
    let yaml = kafka_api_yaml(
        bootstrap,
        TOPIC,
        &format!("groupId: {GROUP}\n          autoOffsetReset: earliest"),
    );
    start(test_config(&with_security(&yaml, security), driver))
}

/// Produces four records over both partitions, reads them from `gateway` and waits for the
/// group's commit of both partitions.
fn delivers_and_commits(broker: &Broker, gateway: &Gateway) {
    broker.produce(TOPIC, &records("a", 4));
    let mut values = read_values(gateway.local_addr(), 4);
    values.sort();
    assert_eq!(values, ["a-0", "a-1", "a-2", "a-3"]);
    await_committed(broker, BTreeMap::from([(0, 2), (1, 2)]));
    let metrics = gateway.kafka_metrics().expect("kafka metrics");
    assert!(ShardMetrics::get(&metrics.group_joins_total) >= 1);
}

fn a_group_member_authenticates_with_scram_and_commits(driver: DriverChoice) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 2);
    broker.create_user("alice", "secret", "scram512");
    broker.restart_with_authentication();
    broker.authenticate_client("SCRAM-SHA-512", "alice", "secret");
    let gateway = secured_group_gateway(
        &broker.bootstrap(),
        "{ protocol: SASL_PLAINTEXT, sasl: { mechanism: SCRAM-SHA-512, username: alice, password: secret } }", driver,
    );
    delivers_and_commits(&broker, &gateway);
    gateway.shutdown();
}
on_both_drivers!(
    a_group_member_authenticates_with_scram_and_commits,
    a_group_member_authenticates_with_scram_and_commits
);

fn a_group_member_talks_tls_to_the_coordinator_and_commits(driver: DriverChoice) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let (front, trusted) = broker.restart_behind_tls_trusted(dir.path());
    broker.client_through(&front, &trusted);
    let gateway = secured_group_gateway(
        &front.addr.to_string(),
        &format!(
            "{{ protocol: SSL, ssl: {{ trustStore: {{ path: '{}' }} }} }}",
            trusted.display()
        ),
        driver,
    );
    delivers_and_commits(&broker, &gateway);
    gateway.shutdown();
}
on_both_drivers!(
    a_group_member_talks_tls_to_the_coordinator_and_commits,
    a_group_member_talks_tls_to_the_coordinator_and_commits
);

fn a_group_with_a_topic_pattern_reads_and_commits_every_matching_topic(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic("pat.a", 2);
    broker.create_topic("pat.b", 1);
    broker.create_topic("other", 1);
    let yaml = kafka_api_yaml(
        &broker.bootstrap(),
        "pat.a",
        &format!("groupId: {GROUP}\n          autoOffsetReset: earliest"),
    )
    .replacen("topics: [pat.a]", "topicPattern: 'pat\\..*'", 1);
    let gateway = start(test_config(&yaml, driver));
    broker.produce("pat.a", &records("a", 2));
    broker.produce("pat.b", &[record("b-0")]);
    broker.produce("other", &[record("o-0")]);
    let mut values = read_values(gateway.local_addr(), 3);
    values.sort();
    assert_eq!(values, ["a-0", "a-1", "b-0"]);
    let expected = (BTreeMap::from([(0, 1), (1, 1)]), BTreeMap::from([(0, 1)]));
    assert!(
        eventually(Duration::from_secs(30), || (
            broker.committed(GROUP, "pat.a"),
            broker.committed(GROUP, "pat.b")
        ) == expected),
        "committed: {:?} and {:?}",
        broker.committed(GROUP, "pat.a"),
        broker.committed(GROUP, "pat.b")
    );
    assert_eq!(broker.committed(GROUP, "other"), BTreeMap::new());
    gateway.shutdown();
}
on_both_drivers!(
    a_group_with_a_topic_pattern_reads_and_commits_every_matching_topic,
    a_group_with_a_topic_pattern_reads_and_commits_every_matching_topic
);
