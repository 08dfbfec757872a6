//! The admin endpoint: Prometheus metrics and health.

mod common;

use common::*;
use tidegate::config::DriverChoice;

#[test]
fn metrics_and_health() {
    // one driver: the admin endpoint runs on threads of its own, whatever the shards' driver.
    let gateway = start(test_config(&mock_api_yaml(10), DriverChoice::Epoll));
    let admin = gateway.admin_addr().expect("admin enabled in tests");
    // Some traffic first, so counters move.
    assert_eq!(get(gateway.local_addr(), "/mock?limit=1", &[]).status, 200);

    let metrics = get(admin, "/metrics", &[]);
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("# TYPE tidegate_connections_open gauge"),
        "{text}"
    );
    assert!(
        text.contains("tidegate_outbound_queued_messages{shard=\"1\"}"),
        "{text}"
    );
    let requests: u64 = text
        .lines()
        .filter(|l| l.starts_with("tidegate_http_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(requests, 1);

    let health = get(admin, "/health", &[]).json();
    assert_eq!(health["status"], "up");
    assert_eq!(health["drivers"], serde_json::json!(["epoll", "epoll"]));

    assert_eq!(get(admin, "/nope", &[]).status, 404);
}

#[test]
fn admin_can_be_turned_off_and_bad_addresses_are_config_errors() {
    let yaml = mock_api_yaml(10).replace("apis:", "gateway:\n  adminListen: off\napis:");
    let config = tidegate::config::load_str(&yaml, "test").unwrap();
    assert_eq!(config.gateway.admin_listen, None);
    let bad = mock_api_yaml(10).replace("apis:", "gateway:\n  adminListen: localhost\napis:");
    let err = tidegate::config::load_str(&bad, "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("gateway.adminListen"), "{err}");
}
