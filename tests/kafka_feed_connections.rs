//! How many broker connections a Kafka API holds at rest: its feed one for metadata and one per
//! topic-partition (each partition's long-polling fetch on its own), its producer one for
//! metadata and one per partition of its topic; the same whatever the number of clients
//! (docs/kafka-replay.md). Each partition's fetch loop used to open a whole rskafka client of its
//! own, whose bootstrap connection then sat idle next to the partition's: 1 + 2 × partitions for
//! the feed.

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::time::Duration;

use common::*;
use kafka::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;

const TOPIC: &str = "rest";
const PARTITIONS: usize = 3;

fn at_rest(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, PARTITIONS as u32);
    let gateway = started_gateway(&broker, TOPIC, "autoOffsetReset: earliest", driver);
    let metrics = gateway.kafka_metrics().expect("kafka metrics").clone();
    // The feed announces itself once all its partitions are connected; the producer counts
    // itself connected once its partitions are.
    assert!(
        eventually(Duration::from_secs(60), || {
            ShardMetrics::get(&metrics.fetch_loops_running) == PARTITIONS as u64
                && ShardMetrics::get(&metrics.producers_connected) == 1
        }),
        "the feed and the producer did not connect"
    );
    let feed = 1 + PARTITIONS;
    let producer = 1 + PARTITIONS;
    assert_eq!(
        broker.connections_from_this_process(),
        feed + producer,
        "expected {feed} connections for the feed and {producer} for the producer"
    );
    // Clients add none.
    let addr = gateway.local_addr();
    let clients: Vec<_> = (0..20).map(|_| open_sse(addr, "/k", &[]).1).collect();
    assert_eq!(broker.connections_from_this_process(), feed + producer);
    drop(clients);
}
on_both_drivers!(
    a_kafka_api_at_rest_holds_one_connection_per_partition_and_one_for_metadata_per_client,
    at_rest
);
