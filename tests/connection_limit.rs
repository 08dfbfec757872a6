//! `maxConnectionsPerShard`: past it a shard closes new connections at once (counted in
//! `connections_rejected_total`) without serving them, and takes new ones again once a
//! connection has left.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;

fn connections_over_the_shard_bound_are_closed_unserved_until_one_leaves(driver: DriverChoice) {
    let yaml = mock_api_yaml(60_000).replace(
        "apis:",
        "gateway:\n  limits:\n    maxConnectionsPerShard: 2\napis:",
    );
    let gateway = start_one_shard(&yaml, driver);
    let addr = gateway.local_addr();
    let metric = |pick: fn(&tidegate::metrics::ShardMetrics) -> &std::sync::atomic::AtomicU64| {
        total(gateway.metrics(), pick)
    };

    let (head, first) = open_sse(addr, "/mock", &[]);
    assert_eq!(head.status, 200);
    let (head, _second) = open_sse(addr, "/mock", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(metric(|m| &m.connections_open), 2);

    // The third is closed before anything is read from it: no response at all.
    let mut third = connect(addr);
    let _ = third.write_all(b"GET /mock HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = third.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "a connection over the bound was served: {}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(metric(|m| &m.connections_rejected_total), 1);
    assert_eq!(metric(|m| &m.connections_open), 2);

    // Once one leaves, a new connection is served.
    drop(first);
    assert!(
        eventually(Duration::from_secs(30), || metric(|m| &m.connections_open)
            == 1),
        "the closed stream still counts"
    );
    let (head, _again) = open_sse(addr, "/mock", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(metric(|m| &m.connections_rejected_total), 1);
}
on_both_drivers!(
    connections_over_the_shard_bound_are_closed_unserved_until_one_leaves,
    connections_over_the_shard_bound_are_closed_unserved_until_one_leaves
);
