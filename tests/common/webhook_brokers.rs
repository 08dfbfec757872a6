//! Push subscriptions over Kafka and MQTT APIs, for the at-least-once and dead-letter tests:
//! one API `orders` with a webhook entrypoint (`qos: at-least-once`) over a broker, and one push
//! subscription `billing` to a callback, loopback allow-listed. The gateway runs as the real
//! binary (`binary::Binary`) so a test can SIGKILL it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::binary::gateway_yaml;
use super::eventually;
use super::mosquitto::Mosquitto;

/// The push subscription's id (its Kafka group is `hooks.billing`).
pub const SUBSCRIPTION: &str = "billing";

/// The configuration: `gateway` extra keys (indented two spaces), the API's `endpoint` section
/// (indented four spaces), the subscription's `callback` and extra `configuration` lines
/// (indented six spaces, e.g. a `dlq`).
fn yaml(gateway: &str, endpoint: &str, callback: &str, extra: &str) -> String {
    format!(
        r#"{gateway}apis:
  - id: orders
    name: Orders
    contextPaths: [/orders]
    entrypoints:
      - type: webhook
        qos: at-least-once
        # A callback that hangs stays in flight until the test kills the gateway.
        configuration: {{ readTimeout: 600000 }}
{endpoint}    plans:
      - {{ id: push, name: Push, security: keyless }}
applications:
  - {{ id: app, name: App }}
subscriptions:
  - id: {SUBSCRIPTION}
    api: orders
    plan: push
    application: app
    type: push
    configuration:
      callbackUrl: {callback}
      retry: {{ attempts: 2, initialDelayMs: 50, maxDelayMs: 100, multiplier: 2, jitter: 0, maxElapsedMs: 600000 }}
{extra}"#,
        gateway = gateway_yaml(&format!(
            "  webhook:\n    allowedNetworks: [127.0.0.0/8]\n{gateway}"
        )),
    )
}

/// Over the Kafka `topic` on `bootstrap`, each subscription in a group of its own.
pub fn kafka_yaml(bootstrap: &str, topic: &str, callback: &str, extra: &str) -> String {
    yaml("", &kafka_endpoint(bootstrap, topic), callback, extra)
}

/// As `kafka_yaml`, with the consumer group's `sessionTimeoutMs`, on a node with `node_id`
/// when given (its group memberships are then static: `group.instance.id`).
pub fn kafka_yaml_with_session(
    node_id: Option<&str>,
    session_timeout_ms: u64,
    bootstrap: &str,
    topic: &str,
    callback: &str,
) -> String {
    let gateway = node_id.map_or(String::new(), |node| format!("  nodeId: {node}\n"));
    let endpoint = format!(
        "{}          sessionTimeoutMs: {session_timeout_ms}\n",
        kafka_endpoint(bootstrap, topic)
    );
    yaml(&gateway, &endpoint, callback, "")
}

fn kafka_endpoint(bootstrap: &str, topic: &str) -> String {
    format!(
        "    endpoint:\n      type: kafka\n      configuration:\n        bootstrapServers: {bootstrap}\n        consumer:\n          enabled: true\n          topics: [{topic}]\n          groupId: hooks\n          groupScope: subscription\n          autoOffsetReset: earliest\n"
    )
}

/// Over the MQTT filter `orders/#` of the broker on `port`, with a stable session (`nodeId`).
pub fn mqtt_yaml(port: u16, callback: &str, extra: &str) -> String {
    let endpoint = format!(
        "    endpoint:\n      type: mqtt5\n      configuration:\n        serverHost: 127.0.0.1\n        serverPort: {port}\n        reconnectBackoffMs: 100\n        reconnectBackoffMaxMs: 500\n        consumer:\n          topic: orders/#\n          qos: 1\n"
    );
    yaml("  nodeId: hooks-node\n", &endpoint, callback, extra)
}

/// Waits until the gateway's broker subscription was granted `times` times in all.
pub fn wait_mqtt_subscribed(broker: &Mosquitto, times: usize) {
    let granted = eventually(Duration::from_secs(30), || {
        broker.log_count("Sending SUBACK to tidegate-hooks-node-orders") >= times
    });
    assert!(granted, "the gateway never subscribed:\n{}", broker.log());
}

/// `(topic, payload, user properties)` of each line `mosquitto_sub -F '%t|%p|%P'` printed.
pub fn parse_sub_lines(lines: &[String]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .map(|line| {
            let mut parts = line.splitn(3, '|');
            let mut next = || parts.next().unwrap_or_default().to_owned();
            (next(), next(), next())
        })
        .collect()
}

/// `p<partition>-<n>` → `(partition, n)`.
pub fn parse_partition_body(body: &str) -> (i64, usize) {
    let (partition, n) = body
        .strip_prefix('p')
        .and_then(|rest| rest.split_once('-'))
        .unwrap_or_else(|| panic!("unexpected body {body:?}"));
    (partition.parse().unwrap(), n.parse().unwrap())
}

/// Asserts that `bodies` (`p<partition>-<n>`, one gateway run) are in order per partition.
pub fn assert_in_order_per_partition(bodies: &[String], run: &str) {
    let mut last: BTreeMap<i64, usize> = BTreeMap::new();
    for body in bodies {
        let (partition, n) = parse_partition_body(body);
        if let Some(previous) = last.insert(partition, n) {
            assert!(
                n > previous,
                "{run}: p{partition}-{n} came after p{partition}-{previous}: {bodies:?}"
            );
        }
    }
}

/// Waits until `receiver` has more than `acked` deliveries (its script hangs the next one), then
/// until the subscription's group, as `committed` reads it (partition → next offset), has
/// committed exactly the `acked` acknowledged records and never the one in flight.
pub fn wait_acked_then_committed(
    receiver: &super::webhook_receiver::Receiver,
    gateway: &super::binary::Binary,
    acked: usize,
    committed: impl Fn() -> BTreeMap<i64, i64>,
) {
    let wait = Duration::from_secs(60);
    assert!(
        eventually(wait, || receiver.count() > acked),
        "the receiver got {} deliveries:\n{}",
        receiver.count(),
        gateway.log()
    );
    let mut seen = BTreeMap::new();
    let settled = eventually(wait, || {
        seen = committed();
        seen.values().sum::<i64>() == acked as i64
    });
    assert!(
        settled,
        "the group committed {seen:?}, not the {acked} acknowledged records"
    );
}
