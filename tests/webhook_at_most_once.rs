//! `qos: at-most-once` on the webhook entrypoint: each message is acknowledged to its source
//! before its only try. A callback answering 500 gets exactly one try per message (the retry
//! policy would allow five), the failures are counted as dropped, the subscription keeps
//! consuming, and a restarted runner (the subscription changed by a live apply) does not deliver
//! the dropped messages again.

mod common;

use std::time::Duration;

use common::webhook_api::ALLOW_LOOPBACK;
use common::webhook_api::{counters, fast_retry, publish, push, read, wait_active, yaml};
use common::webhook_receiver::{Receiver, Step};
use common::{eventually, get};
use tidegate::config::DriverChoice;

fn at_most_once_yaml(receiver: &Receiver, configuration: &str) -> String {
    let configuration = format!(
        "      ordering: {{ mode: strict }}\n{}{configuration}",
        fast_retry(5, 10, 1.0)
    );
    let item = push("hook", &receiver.url("/in"), &configuration, "");
    yaml(ALLOW_LOOPBACK, "", &item).replace(
        "      - type: webhook\n",
        "      - type: webhook\n        qos: at-most-once\n",
    )
}

fn bodies(receiver: &Receiver) -> Vec<String> {
    receiver.received().iter().map(|r| r.body_text()).collect()
}

fn one_try_per_message_and_the_failures_are_dropped(driver: DriverChoice) {
    let receiver = Receiver::answering(500);
    let gateway = common::start(common::test_config(
        &at_most_once_yaml(&receiver, ""),
        driver,
    ));
    wait_active(&gateway, "hook");
    let addr = gateway.local_addr();
    let hook = counters(&gateway, "hook");
    for body in ["one", "two", "three"] {
        publish(addr, body);
    }
    assert!(
        eventually(Duration::from_secs(15), || read(&hook.dropped) == 3),
        "dropped {}",
        read(&hook.dropped)
    );
    assert_eq!(bodies(&receiver), ["one", "two", "three"], "one try each");
    assert_eq!(read(&hook.failed), 3);
    assert_eq!(read(&hook.retried), 0);
    assert_eq!(read(&hook.delivered), 0);
    assert_eq!(hook.state(), 1, "still consuming");
    let admin = gateway.admin_addr().expect("admin endpoint");
    let metrics = get(admin, "/metrics", &[]).text();
    assert!(
        metrics.contains("tidegate_webhook_dropped_total{api=\"orders\",subscription=\"hook\"} 3"),
        "{metrics}"
    );

    // The subscription changes (a header): its new runner starts after what was acknowledged,
    // so the dropped messages are not delivered again.
    receiver.set_otherwise(Step::Status(200));
    let changed = at_most_once_yaml(&receiver, "      headers: { X-Version: \"2\" }\n");
    gateway
        .apply(common::test_config(&changed, driver))
        .expect("apply accepted");
    publish(addr, "four");
    assert!(eventually(Duration::from_secs(15), || read(
        &hook.delivered
    ) == 1));
    assert_eq!(bodies(&receiver), ["one", "two", "three", "four"]);
    assert_eq!(read(&hook.dropped), 3);
    gateway.shutdown();
}

on_both_drivers!(
    one_try_per_message_and_the_failures_are_dropped,
    one_try_per_message_and_the_failures_are_dropped
);
