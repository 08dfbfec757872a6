//! SASL PLAIN (`security.sasl.mechanism: PLAIN`) against a listener that checks it (tansu does
//! not check PLAIN passwords): the gateway asks for PLAIN and sends the configured user and
//! password; refused credentials are counted as a SASL failure and publishes are 503.

mod common;

use std::time::Duration;

use common::fake_kafka_sasl::FakeSaslBroker;
use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

fn gateway(broker: &FakeSaslBroker, password: &str, driver: DriverChoice) -> Gateway {
    let yaml = format!(
        r#"
apis:
  - id: plain
    name: Plain
    contextPaths: [/k]
    entrypoints:
      - type: http-post
    endpoint:
      type: kafka
      configuration:
        bootstrapServers: {addr}
        security: {{ protocol: SASL_PLAINTEXT, sasl: {{ mechanism: PLAIN, username: alice, password: {password} }} }}
        producer: {{ enabled: true, topics: [t], requestTimeoutMs: 2000 }}
    plans:
      - name: Keyless
        security: keyless
"#,
        addr = broker.addr
    );
    start(test_config(&yaml, driver))
}

fn plain_sends_the_configured_credentials(driver: DriverChoice) {
    let broker = FakeSaslBroker::start("alice", "secret");
    let gateway = gateway(&broker, "secret", driver);
    assert!(
        eventually(Duration::from_secs(60), || !broker.seen().plain.is_empty()),
        "no PLAIN exchange: {:?}",
        broker.seen()
    );
    let seen = broker.seen();
    assert!(seen.mechanisms.iter().all(|m| m == "PLAIN"), "{seen:?}");
    // PLAIN's message: authorization id (none), user, password, NUL-separated.
    assert_eq!(seen.plain[0], b"\0alice\0secret");
    // Accepted: whatever fails next (this listener serves nothing more) is not a SASL failure.
    let metrics = gateway.kafka_metrics().expect("kafka metrics");
    assert_eq!(ShardMetrics::get(&metrics.sasl_failures_total), 0);
}
on_both_drivers!(
    plain_sends_the_configured_credentials,
    plain_sends_the_configured_credentials
);

fn refused_plain_credentials_are_counted_and_publishes_are_503(driver: DriverChoice) {
    let broker = FakeSaslBroker::start("alice", "secret");
    let gateway = gateway(&broker, "wrong", driver);
    let metrics = gateway.kafka_metrics().expect("kafka metrics");
    assert!(
        eventually(Duration::from_secs(60), || {
            ShardMetrics::get(&metrics.sasl_failures_total) > 0
        }),
        "no refused SASL authentication was counted: {:?}",
        broker.seen()
    );
    assert_eq!(broker.seen().plain[0], b"\0alice\0wrong");
    let response = post(gateway.local_addr(), "/k", "refused", "");
    assert_eq!(response.status, 503, "{}", response.text());
}
on_both_drivers!(
    refused_plain_credentials_are_counted_and_publishes_are_503,
    refused_plain_credentials_are_counted_and_publishes_are_503
);
