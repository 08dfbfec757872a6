//! Hibernation tests' view of a gateway: a shard metric summed over its shards, and a wait that
//! says which metrics stood where when it gave up.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tidegate::metrics::{total, ShardMetrics};
use tidegate::runtime::Gateway;

use super::eventually;

/// A shard metric, picked from its `ShardMetrics`.
pub type Pick = fn(&ShardMetrics) -> &AtomicU64;

/// `pick` summed over the gateway's shards.
pub fn metric(gateway: &Gateway, pick: Pick) -> u64 {
    total(gateway.metrics(), pick)
}

/// Waits up to 30 s for `ok`; a failure names `what` and the value of each of `shown`.
pub fn wait_until(
    gateway: &Gateway,
    what: &str,
    ok: impl Fn(&Gateway) -> bool,
    shown: &[(&str, Pick)],
) {
    if eventually(Duration::from_secs(30), || ok(gateway)) {
        return;
    }
    let values: Vec<String> = shown
        .iter()
        .map(|(name, pick)| format!("{name} {}", metric(gateway, *pick)))
        .collect();
    panic!("{what}: {}", values.join(", "));
}
