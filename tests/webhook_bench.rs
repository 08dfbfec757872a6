//! Throughput harness (ignored by default): deliveries per second to 1,000 push subscriptions
//! and the gateway's CPU per delivery. Run it in release, on an otherwise idle machine:
//!
//! ```text
//! cargo test --release --test webhook_bench -- --ignored --nocapture
//! WEBHOOK_BENCH_SUBSCRIPTIONS=1000 WEBHOOK_BENCH_MESSAGES=20 (the defaults)
//! ```
//!
//! One in-memory API; N push subscriptions (strict ordering, no secret; a second run signs with
//! one secret) to one receiver on loopback (tests/common/webhook_receiver.rs: a thread per
//! connection); M messages published, each delivered N times. Printed: deliveries, seconds,
//! deliveries/s, and the shard threads' CPU (utime + stime from /proc) per delivery. The
//! receiver and the publisher share the machine, so deliveries/s is a floor.

mod common;

use std::time::{Duration, Instant};

use common::eventually;
use common::webhook_api::{publish, push, yaml, ALLOW_LOOPBACK};
use common::webhook_receiver::Receiver;
use tidegate::config::DriverChoice;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used so far by this process's shard threads.
fn shard_cpu_seconds() -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("tidegate-shard") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields after the name: state is [0]; utime is field 14 of stat, [11] here; stime [12].
        let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        total += (utime + stime) / ticks;
    }
    total
}

fn run(subscriptions: usize, messages: usize, signed: bool) {
    let receiver = Receiver::answering(200);
    let mut configuration = "      ordering: { mode: strict }\n".to_owned();
    if signed {
        configuration.push_str("      secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]\n");
    }
    let items: String = (0..subscriptions)
        .map(|n| push(&format!("s{n}"), &receiver.url("/in"), &configuration, ""))
        .collect();
    let entrypoint = format!("          maxIdleConnectionsPerHost: {subscriptions}\n");
    // one driver: a benchmark (run by hand, --ignored) measures what a deployment runs: auto.
    let config = common::test_config(
        &yaml(ALLOW_LOOPBACK, &entrypoint, &items),
        DriverChoice::Auto,
    );
    let gateway = common::start_on_one_driver(config, "a benchmark of the default driver");
    let metrics = gateway.webhook_metrics().unwrap().clone();
    assert!(eventually(Duration::from_secs(60), || metrics
        .all()
        .iter()
        .all(|c| c.state() == 1)));
    let delivered = || -> u64 {
        metrics
            .all()
            .iter()
            .map(|c| c.delivered.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    };
    let expected = (subscriptions * messages) as u64;
    let (cpu_before, started) = (shard_cpu_seconds(), Instant::now());
    for n in 0..messages {
        publish(
            gateway.local_addr(),
            &format!("{{\"order\":{n},\"pad\":\"{}\"}}", "x".repeat(64)),
        );
    }
    assert!(
        eventually(Duration::from_secs(600), || delivered() >= expected),
        "delivered {} of {expected}",
        delivered()
    );
    let seconds = started.elapsed().as_secs_f64();
    let cpu = shard_cpu_seconds() - cpu_before;
    println!(
        "webhook_bench subscriptions={subscriptions} messages={messages} signed={signed} deliveries={expected} seconds={seconds:.2} deliveries_per_s={:.0} shard_cpu_us_per_delivery={:.1} receiver_connections={}",
        expected as f64 / seconds,
        cpu * 1e6 / expected as f64,
        receiver.connections()
    );
    gateway.shutdown();
}

#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn deliveries_per_second_to_many_subscriptions() {
    let subscriptions = env("WEBHOOK_BENCH_SUBSCRIPTIONS", 1000);
    let messages = env("WEBHOOK_BENCH_MESSAGES", 20);
    run(subscriptions, messages, false);
    run(subscriptions, messages, true);
}
