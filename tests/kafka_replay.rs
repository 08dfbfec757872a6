//! Replaying a Kafka backlog ten times the node buffer to 100 SSE clients at once: every client
//! gets every record exactly once and in order per partition (nothing silently dropped because
//! the gateway fetched faster than its clients read), and the gateway's broker connections stay
//! bounded whatever the number of clients (the catch-ups share their fetches and connections).

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::sse_replay::{check_exactly_once_in_order, read_records, read_records_then};
use common::*;
use kafka::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;

const TOPIC: &str = "replay";
const PARTITIONS: u64 = 3;
const PER_PARTITION: u64 = 1667;
/// The node buffer: a tenth of the backlog.
const RING: u64 = 500;
const CLIENTS: usize = 100;
const RECORD_BYTES: usize = 100;
/// Connections the node's catch-up readers may add to those the gateway held before the replay
/// (its feed, its producer): one set for all of them, metadata and one per partition.
const CATCH_UP_CONNECTIONS: usize = 1 + PARTITIONS as usize;

/// The feed's consumer: a buffer of `RING`, and fetches that wait for the readers as long as a
/// loaded test machine may need (a client thread can be descheduled for seconds).
fn consumer(reset: &str) -> String {
    format!(
        "autoOffsetReset: {reset}\n          maxRetainedMessages: {RING}\n          paceWaitMs: 60000"
    )
}

/// Prints the gateway's Kafka and slow-client counters (the replay's numbers).
fn print_counters(gateway: &tidegate::runtime::Gateway, label: &str) {
    let admin = gateway.admin_addr().expect("admin endpoint");
    let text = get(admin, "/metrics", &[]).text();
    for line in text.lines().filter(|l| {
        !l.starts_with('#')
            && (l.starts_with("tidegate_kafka_") || l.contains("dropped_slow_client"))
    }) {
        eprintln!("{label}: {line}");
    }
}

fn produce_backlog(broker: &Broker) {
    broker.create_topic(TOPIC, PARTITIONS as u32);
    let out = broker.client(
        &[
            "produce-many",
            TOPIC,
            &PARTITIONS.to_string(),
            &PER_PARTITION.to_string(),
            &RECORD_BYTES.to_string(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "produce-many failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `CLIENTS` SSE clients on `target` at once, each expecting the records from `from[p]` on;
/// asserts each got exactly those, and returns the most broker connections seen meanwhile.
fn replay_to_clients(
    broker: &Broker,
    gateway: &tidegate::runtime::Gateway,
    target: &str,
    from: &[u64],
) {
    let addr = gateway.local_addr();
    let expected = from.iter().map(|f| (PER_PARTITION - f) as usize).sum();
    let deadline = Instant::now() + Duration::from_secs(90);
    // The most of a few reads: one read may miss a socket (see common/broker_sockets).
    let before = (0..3)
        .map(|_| broker.connections_from_this_process())
        .max()
        .unwrap_or(0);
    // The catch-up set may be open already (a poll while the gateway started needed it).
    let metrics = gateway.kafka_metrics().expect("kafka metrics").clone();
    let catch_up_before = ShardMetrics::get(&metrics.catch_up_connections) as usize;
    let done = AtomicBool::new(false);
    let began = Instant::now();
    let (results, most_connections) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut most = 0;
            while !done.load(Ordering::Acquire) {
                most = most.max(broker.connections_from_this_process());
                std::thread::sleep(Duration::from_millis(20));
            }
            most
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| scope.spawn(move || read_records(addr, target, expected, deadline)))
            .collect();
        let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        done.store(true, Ordering::Release);
        (results, sampler.join().unwrap())
    });
    let delivered: usize = results.iter().map(|r| r.records.len()).sum();
    eprintln!(
        "{target}: {delivered} of {} records to {CLIENTS} clients in {:?}, at most {most_connections} broker connections ({before} before)",
        expected * CLIENTS,
        began.elapsed()
    );
    print_counters(gateway, target);
    let mut failures = Vec::new();
    for (client, received) in results.iter().enumerate() {
        if received.status != 200 {
            failures.push(format!("client {client}: status {}", received.status));
        } else if let Err(why) = check_exactly_once_in_order(received, from, PER_PARTITION) {
            failures.push(format!("client {client}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients did not get the backlog exactly once in order, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Every catch-up reader shares one set of CATCH_UP_CONNECTIONS, opened by the first and kept.
    // (Broker connections are counted by socket: /proc/net/tcp may list one twice on a busy
    // machine, which once looked like up to ~20 extra connections; see common/broker_sockets.)
    assert!(
        most_connections <= before - catch_up_before + CATCH_UP_CONNECTIONS,
        "the gateway held {most_connections} connections to the broker during the replay of \
         {CLIENTS} clients, {before} before it, {catch_up_before} of them for catch-ups \
         (expected at most {CATCH_UP_CONNECTIONS} for catch-ups: one set for every catch-up, \
         not one per client)"
    );
    assert_eq!(
        ShardMetrics::get(&metrics.catch_up_connections),
        CATCH_UP_CONNECTIONS as u64,
        "tidegate_kafka_catch_up_connections"
    );
}

fn replay_from_earliest(driver: DriverChoice) {
    let broker = Broker::start();
    produce_backlog(&broker);
    let gateway = started_gateway(&broker, TOPIC, &consumer("earliest"), driver);
    replay_to_clients(&broker, &gateway, "/k", &[0; PARTITIONS as usize]);
}
on_both_drivers!(
    replay_from_earliest_is_exact_for_every_client,
    replay_from_earliest
);

fn replay_from_a_cursor_is_exact_for_every_client(driver: DriverChoice) {
    let broker = Broker::start();
    produce_backlog(&broker);
    let gateway = started_gateway(&broker, TOPIC, &consumer("earliest"), driver);
    let cursor = format!("/k?cursor={TOPIC}:0:100,{TOPIC}:1:200,{TOPIC}:2:300");
    replay_to_clients(&broker, &gateway, &cursor, &[100, 200, 300]);
}
on_both_drivers!(
    replay_from_a_cursor_is_exact_for_every_client,
    replay_from_a_cursor_is_exact_for_every_client
);

/// Clients connected before the backlog arrives read it through the shared feed: its fetches
/// must not outrun them (a fetch may bring more records than the buffer holds).
fn a_backlog_arriving_at_once_reaches_connected_clients_exactly_once(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, PARTITIONS as u32);
    let gateway = started_gateway(&broker, TOPIC, &consumer("latest"), driver);
    let addr = gateway.local_addr();
    let expected = (PARTITIONS * PER_PARTITION) as usize;
    let deadline = Instant::now() + Duration::from_secs(90);
    let opened = AtomicUsize::new(0);
    let opened = &opened;
    let results: Vec<_> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(move || {
                    read_records_then(addr, "/k", expected, deadline, || {
                        opened.fetch_add(1, Ordering::AcqRel);
                    })
                })
            })
            .collect();
        assert!(
            eventually(Duration::from_secs(30), || opened.load(Ordering::Acquire)
                >= CLIENTS),
            "the clients did not all connect"
        );
        produce_backlog_into_existing(&broker);
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    print_counters(&gateway, "connected");
    for (client, received) in results.iter().enumerate() {
        check_exactly_once_in_order(received, &[0; PARTITIONS as usize], PER_PARTITION)
            .unwrap_or_else(|why| panic!("client {client}: {why}"));
    }
}
on_both_drivers!(
    a_backlog_arriving_at_once_reaches_connected_clients_exactly_once,
    a_backlog_arriving_at_once_reaches_connected_clients_exactly_once
);

fn produce_backlog_into_existing(broker: &Broker) {
    let out = broker.client(
        &[
            "produce-many",
            TOPIC,
            &PARTITIONS.to_string(),
            &PER_PARTITION.to_string(),
            &RECORD_BYTES.to_string(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
