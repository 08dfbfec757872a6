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
    let now = get(addr, "/k?limit=1", &json).json()["pagination"]["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_owned();
    broker.produce("live-orders", &[json!({"value": "from-kafka"})]);
    let mut seen = String::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            seen = get(addr, &format!("/k?limit=10&cursor={now}"), &json).text();
            seen.contains("from-kafka")
        }),
        "{seen}"
    );
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
