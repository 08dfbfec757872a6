//! A callback that refuses a message (4xx) is not retried: the message goes to the DLQ with the
//! failure as headers and the next one is delivered; without a DLQ the subscription stops on it
//! and delivers nothing more.

mod common;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{
    counters, dead_letters, fast_retry, publish, push, read, start, start_hook, wait_active, yaml,
    ALLOW_LOOPBACK,
};
use common::webhook_receiver::{Receiver, Step};
use tidegate::config::DriverChoice;

fn a_refused_message_is_dead_lettered_and_the_next_delivered(driver: DriverChoice) {
    let receiver = Receiver::start(&[Step::Status(422)], Step::Status(200));
    let configuration = format!(
        "{}      ordering: {{ mode: strict }}\n      dlq: {{ type: in-memory, topic: dead }}\n",
        fast_retry(5, 10, 2.0)
    );
    let gateway = start_hook(&receiver, &configuration, driver);
    publish(gateway.local_addr(), "malformed order");
    publish(gateway.local_addr(), "good order");
    let counters = counters(&gateway, "hook");
    assert!(eventually(Duration::from_secs(15), || read(
        &counters.delivered
    ) == 1));
    let bodies: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    assert_eq!(
        bodies,
        ["malformed order", "good order"],
        "a 4xx is not retried"
    );
    assert_eq!(read(&counters.dead_lettered), 1);
    assert_eq!(read(&counters.retried), 0);
    let letters = dead_letters(gateway.local_addr());
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["content"], "malformed order");
    let headers = &letters[0]["headers"];
    assert_eq!(headers["x-webhook-failure-status"][0], "422", "{headers}");
    assert_eq!(headers["x-webhook-failure-attempts"][0], "1");
    assert_eq!(headers["x-webhook-failure-error"][0], "HTTP 422");
    assert!(headers["x-webhook-failure-time"][0].as_str().is_some());
    assert_eq!(counters.state(), 1, "still active");
    gateway.shutdown();
}

on_both_drivers!(
    a_refused_message_is_dead_lettered_and_the_next_delivered,
    a_refused_message_is_dead_lettered_and_the_next_delivered
);

fn without_a_dlq_a_refusal_stops_the_subscription(driver: DriverChoice) {
    let receiver = Receiver::start(&[Step::Status(400)], Step::Status(200));
    let witness = Receiver::answering(200);
    let configuration = format!(
        "{}      ordering: {{ mode: strict }}\n",
        fast_retry(5, 10, 2.0)
    );
    let subscriptions = push("hook", &receiver.url("/in"), &configuration, "")
        + &push("witness", &witness.url("/in"), &configuration, "");
    let config = yaml(ALLOW_LOOPBACK, "", &subscriptions);
    let gateway = start(&config, driver);
    wait_active(&gateway, "hook");
    wait_active(&gateway, "witness");
    publish(gateway.local_addr(), "refused");
    let counters = counters(&gateway, "hook");
    assert!(
        eventually(Duration::from_secs(15), || counters.state() == 3),
        "state {} (3 = stopped)",
        counters.state()
    );
    publish(gateway.local_addr(), "after the stop");
    publish(gateway.local_addr(), "and another");
    // The witness subscription reads the same topic: once it has both, they were there to take.
    assert!(eventually(Duration::from_secs(15), || witness.count() == 3));
    let bodies: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    assert_eq!(
        bodies,
        ["refused"],
        "consumption stopped on the refused message"
    );
    assert_eq!(read(&counters.delivered), 0);
    assert_eq!(read(&counters.failed), 1);
    gateway.shutdown();
}

on_both_drivers!(
    without_a_dlq_a_refusal_stops_the_subscription,
    without_a_dlq_a_refusal_stops_the_subscription
);
