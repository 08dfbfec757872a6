//! SASL_SSL (SCRAM over TLS, through a TLS front before tansu) for the producer, the feed and a
//! consumer group's coordinator connection: the other Kafka security tests have SASL and TLS
//! only apart. (PLAIN is in kafka_sasl_plain.rs: tansu does not check PLAIN passwords.)

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kafka_broker::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

const TOPIC: &str = "secured";
const GROUP: &str = "tidegate-secured";

/// A gateway on `/k` reading `TOPIC` as group `GROUP` with `security`.
fn gateway(bootstrap: &str, security: &str, driver: DriverChoice) -> Gateway {
    let consumer = format!("groupId: {GROUP}\n          autoOffsetReset: earliest");
    let yaml = with_security(&kafka_api_yaml(bootstrap, TOPIC, &consumer), security);
    start(test_config(&yaml, driver))
}

/// Opens SSE on `/k` once the feed answers (503 while it starts).
fn loop_until_200(
    addr: std::net::SocketAddr,
) -> (Response, std::io::BufReader<std::net::TcpStream>) {
    let mut opened = None;
    assert!(
        eventually(Duration::from_secs(60), || {
            let (head, sse) = open_sse(addr, "/k", &[]);
            let ok = head.status == 200;
            if ok {
                opened = Some((head, sse));
            }
            ok
        }),
        "the feed did not start"
    );
    opened.unwrap()
}

fn sasl_ssl_carries_the_producer_the_feed_and_the_group_coordinator(driver: DriverChoice) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 2);
    broker.create_user("alice", "secret", "scram512");
    broker.restart_with_authentication();
    let dir = tempfile::tempdir().unwrap();
    let (front, trusted) = broker.restart_behind_tls_trusted(dir.path());
    broker.client_sasl_through(&front, &trusted, ("SCRAM-SHA-512", "alice", "secret"));
    let security = format!(
        "{{ protocol: SASL_SSL, sasl: {{ mechanism: SCRAM-SHA-512, username: alice, password: secret }}, ssl: {{ trustStore: {{ path: '{}' }} }} }}",
        trusted.display()
    );
    let gateway = gateway(&front.addr.to_string(), &security, driver);
    // The group member: joins through the coordinator connection, reads, commits.
    broker.produce(TOPIC, &[record_to("g-0", 0), record_to("g-1", 1)]);
    let values = read_contents(gateway.local_addr(), "", &[], 2);
    assert_eq!(values, ["g-0", "g-1"]);
    assert!(
        eventually(Duration::from_secs(60), || broker.committed(GROUP, TOPIC)
            == BTreeMap::from([(0, 1), (1, 1)])),
        "committed: {:?}",
        broker.committed(GROUP, TOPIC)
    );
    let metrics = gateway.kafka_metrics().expect("kafka metrics");
    assert!(ShardMetrics::get(&metrics.group_joins_total) >= 1);
    assert_eq!(ShardMetrics::get(&metrics.sasl_failures_total), 0);
    // The producer, over the same security.
    let (head, mut sse) = loop_until_200(gateway.local_addr());
    assert_eq!(head.status, 200);
    assert!(
        eventually(Duration::from_secs(60), || post(
            gateway.local_addr(),
            "/k",
            "over-sasl-ssl",
            ""
        )
        .status
            == 202),
        "the producer did not connect"
    );
    let seen = read_sse_until(&mut sse, |t| t.contains("data: over-sasl-ssl"));
    assert!(seen.contains("data: over-sasl-ssl"), "{seen}");
    gateway.shutdown();
}
on_both_drivers!(
    sasl_ssl_carries_the_producer_the_feed_and_the_group_coordinator,
    sasl_ssl_carries_the_producer_the_feed_and_the_group_coordinator
);
