//! The ApiView's `stats` are this node's per-API metrics: requests served by the gateway show up
//! in the management API's view of the same API id.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::management::{self, expect};
use serde_json::{json, Value};
use tidegate::config::DriverChoice;
use tidegate::manage::service::stats_from;
use tidegate::manage::store::{MemoryStore, Store};

#[test]
fn api_view_stats_count_the_gateway_requests_of_that_api() {
    // one driver: the management plane's stats (requests run on both drivers elsewhere).
    let gateway = common::start(common::test_config(
        &common::mock_api_yaml(20),
        DriverChoice::Epoll,
    ));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mgmt = management::start_with_stats(
        store,
        Value::Null,
        stats_from(gateway.api_metrics().to_vec()),
    );
    let definition = json!({
        "id": "mock-api", "name": "Mock API", "contextPaths": ["/mock"],
        "entrypoints": [{"type": "http-get"}], "endpoint": {"type": "mock"},
        "plans": [{"name": "Keyless", "security": "keyless"}],
    });
    expect(
        &mgmt.call("POST", "/apis", Some(&json!({ "definition": definition }))),
        201,
    );
    let requests = || {
        mgmt.call("GET", "/apis/mock-api", None).json()["stats"]["requests"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(requests(), 0);
    for _ in 0..3 {
        assert_eq!(
            common::get(gateway.local_addr(), "/mock?limit=1", &[]).status,
            200
        );
    }
    assert!(
        common::eventually(Duration::from_secs(60), || requests() == 3),
        "{}",
        requests()
    );
    let other = mgmt.call(
        "POST",
        "/apis",
        Some(&json!({ "definition": {
            "id": "other", "name": "Other", "contextPaths": ["/other"],
            "entrypoints": [{"type": "http-get"}], "endpoint": {"type": "mock"},
            "plans": [{"name": "Keyless", "security": "keyless"}],
        }})),
    );
    expect(&other, 201);
    assert_eq!(other.json()["stats"]["requests"], 0, "counted per API id");
}
