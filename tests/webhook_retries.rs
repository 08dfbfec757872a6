//! Failed deliveries are retried by the subscription's policy: counted, in order, the same
//! `webhook-id` each time, with delays that grow by the multiplier (compared as ratios of one
//! run, never against wall-clock thresholds); a callback that never answers is a read timeout,
//! retried on a new connection.

mod common;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{
    counters, dead_letters, fast_retry, publish, push, read, start, start_hook, wait_active, yaml,
    ALLOW_LOOPBACK,
};
use common::webhook_receiver::{Receiver, Step};
use tidegate::config::DriverChoice;

fn server_errors_are_retried_with_growing_delays(driver: DriverChoice) {
    let script = [
        Step::Status(500),
        Step::Status(503),
        Step::Status(500),
        Step::Status(502),
    ];
    let receiver = Receiver::start(&script, Step::Status(200));
    let configuration = format!(
        "{}      ordering: {{ mode: strict }}\n",
        fast_retry(6, 40, 3.0)
    );
    let gateway = start_hook(&receiver, &configuration, driver);
    publish(gateway.local_addr(), "first");
    publish(gateway.local_addr(), "second");
    assert!(
        eventually(Duration::from_secs(20), || receiver.count() >= 6),
        "received {}",
        receiver.count()
    );
    let received = receiver.received();
    let bodies: Vec<String> = received.iter().map(|r| r.body_text()).collect();
    assert_eq!(
        bodies,
        ["first", "first", "first", "first", "first", "second"],
        "retries come before the next message"
    );
    let first_id = received[0].header("webhook-id").unwrap().to_owned();
    assert!(
        received[..5]
            .iter()
            .all(|r| r.header("webhook-id") == Some(first_id.as_str())),
        "one id across retries"
    );
    assert_ne!(received[5].header("webhook-id"), Some(first_id.as_str()));
    let gaps: Vec<f64> = received[..5]
        .windows(2)
        .map(|pair| pair[1].at.duration_since(pair[0].at).as_secs_f64())
        .collect();
    // Policy: 40, 120, 360, 1080 ms (multiplier 3, no jitter): each gap clearly above the last.
    for pair in gaps.windows(2) {
        assert!(
            pair[1] / pair[0] > 1.8,
            "delays must grow by the multiplier: {gaps:?}"
        );
    }
    let counters = counters(&gateway, "hook");
    assert!(eventually(Duration::from_secs(5), || read(
        &counters.delivered
    ) == 2));
    assert_eq!(read(&counters.retried), 4);
    assert_eq!(read(&counters.failed), 4);
    assert_eq!(read(&counters.dead_lettered), 0);
    gateway.shutdown();
}

on_both_drivers!(
    server_errors_are_retried_with_growing_delays,
    server_errors_are_retried_with_growing_delays
);

fn exhausted_retries_go_to_the_dead_letter_topic(driver: DriverChoice) {
    let receiver = Receiver::answering(500);
    let configuration = format!(
        "{}      dlq: {{ type: in-memory, topic: dead }}\n",
        fast_retry(3, 10, 2.0)
    );
    let gateway = start_hook(&receiver, &configuration, driver);
    publish(gateway.local_addr(), "doomed");
    let counters = counters(&gateway, "hook");
    assert!(eventually(Duration::from_secs(15), || read(
        &counters.dead_lettered
    ) == 1));
    assert_eq!(receiver.count(), 3, "attempts: 3 tries in all");
    let letters = dead_letters(gateway.local_addr());
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["content"], "doomed");
    let headers = &letters[0]["headers"];
    assert_eq!(headers["x-webhook-failure-status"][0], "500", "{headers}");
    assert_eq!(headers["x-webhook-failure-attempts"][0], "3");
    assert_eq!(headers["x-webhook-failure-error"][0], "HTTP 500");
    assert_eq!(headers["x-webhook-subscription"][0], "hook");
    assert!(headers["x-webhook-failure-time"][0]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    gateway.shutdown();
}

on_both_drivers!(
    exhausted_retries_go_to_the_dead_letter_topic,
    exhausted_retries_go_to_the_dead_letter_topic
);

fn a_callback_that_hangs_times_out_and_is_retried(driver: DriverChoice) {
    let receiver = Receiver::start(&[Step::Hang], Step::Status(200));
    let config = yaml(
        ALLOW_LOOPBACK,
        "          readTimeout: 300\n",
        &push("hook", &receiver.url("/in"), &fast_retry(3, 10, 2.0), ""),
    );
    let config = config.replace("          readTimeout: 10000\n", "");
    let gateway = start(&config, driver);
    wait_active(&gateway, "hook");
    publish(gateway.local_addr(), "patience");
    let counters = counters(&gateway, "hook");
    assert!(eventually(Duration::from_secs(15), || read(
        &counters.delivered
    ) == 1));
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].answered, Step::Hang);
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    assert_ne!(
        received[0].connection, received[1].connection,
        "the timed-out connection is not reused"
    );
    assert_eq!(read(&counters.failed), 1);
    assert_eq!(read(&counters.retried), 1);
    gateway.shutdown();
}

on_both_drivers!(
    a_callback_that_hangs_times_out_and_is_retried,
    a_callback_that_hangs_times_out_and_is_retried
);
