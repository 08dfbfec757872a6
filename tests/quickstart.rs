//! The README's quickstart, end to end on the embedded default configuration.

mod common;

use std::io::{BufReader, Write};
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
    let addr = gateway.local_addr();
    let polls_open = || tidegate::metrics::total(gateway.metrics(), |m| &m.http_get_polls_open);
    // A poll without a limit, opened first, waits for the 5 s deadline (messages at 1 s, 2 s...).
    let mut full = connect(addr);
    full.write_all(b"GET /qs-message-api HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(eventually(Duration::from_secs(60), || polls_open() == 1));
    let response = get(addr, "/qs-message-api?limit=2", &[("Accept", "*/*")]);
    let body = response.json();
    assert_eq!(item_ids(&body), vec![0, 1]);
    // Compare, don't time-box: limit=2 was answered while the deadline-bound poll still waits.
    assert_eq!(
        polls_open(),
        1,
        "limit=2 should not wait for the deadline that the poll opened before it waits for"
    );
    let full = read_response(&mut BufReader::new(full));
    assert_eq!(item_ids(&full.json()), vec![0, 1, 2, 3]);
    assert_eq!(
        tidegate::metrics::total(gateway.metrics(), |m| &m.http_get_poll_messages_held),
        0,
        "answered polls hold nothing"
    );
}
on_both_drivers!(quickstart_limit, limit_returns_early);

fn unknown_paths_answer_the_reference_404(driver: DriverChoice) {
    let gateway = start(quickstart_config(driver));
    for path in ["/", "/nope", "/qs-message-apix"] {
        let response = get(gateway.local_addr(), path, &[]);
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.text(), "No context-path matches the request URI.");
    }
}
on_both_drivers!(
    unknown_paths_answer_the_reference_404,
    unknown_paths_answer_the_reference_404
);
