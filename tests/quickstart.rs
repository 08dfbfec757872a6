//! The README's quickstart, end to end on the embedded default configuration.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tidegate::config::{embedded_default, DriverChoice};

fn quickstart_config(driver: DriverChoice) -> tidegate::config::Config {
    on_loopback(embedded_default(), driver)
}

fn quickstart_get_returns_four_mock_messages_after_five_seconds(driver: DriverChoice) {
    let gateway = start(quickstart_config(driver));
    let started = Instant::now();
    let response = get(
        gateway.local_addr(),
        "/qs-message-api",
        &[("Accept", "application/json")],
    );
    let elapsed = started.elapsed();
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{body}");
    for item in items {
        assert_eq!(item["content"], "mock message");
    }
    assert_eq!(item_ids(&body), vec![0, 1, 2, 3]);
    assert_eq!(body["pagination"]["nextCursor"], "3");
    assert!(
        elapsed >= Duration::from_millis(4900),
        "answered after {elapsed:?}, before messagesLimitDurationMs"
    );
}
on_both_drivers!(
    quickstart_get,
    quickstart_get_returns_four_mock_messages_after_five_seconds
);

fn limit_returns_early(driver: DriverChoice) {
    let gateway = start(quickstart_config(driver));
    let started = Instant::now();
    let response = get(
        gateway.local_addr(),
        "/qs-message-api?limit=2",
        &[("Accept", "*/*")],
    );
    let elapsed = started.elapsed();
    let body = response.json();
    assert_eq!(item_ids(&body), vec![0, 1]);
    // Two messages at 1 s and 2 s; the poll's own deadline is 5 s. Compare, don't time-box.
    assert!(
        elapsed < Duration::from_millis(4500),
        "limit=2 should not wait for the 5 s deadline ({elapsed:?})"
    );
}
on_both_drivers!(quickstart_limit, limit_returns_early);

#[test]
fn unknown_paths_answer_the_reference_404() {
    let gateway = start(quickstart_config(DriverChoice::Auto));
    for path in ["/", "/nope", "/qs-message-apix"] {
        let response = get(gateway.local_addr(), path, &[]);
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.text(), "No context-path matches the request URI.");
    }
}
