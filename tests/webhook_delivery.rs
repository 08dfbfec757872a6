//! Push subscriptions deliver an API's messages to their callback over real sockets: in order,
//! with the Standard Webhooks headers, on one pooled keep-alive connection.

mod common;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{
    counters, publish, push, read, start, wait_active, yaml, ALLOW_LOOPBACK,
};
use common::webhook_receiver::Receiver;
use tidegate::config::DriverChoice;

fn messages_arrive_in_order_on_one_connection(driver: DriverChoice) {
    let receiver = Receiver::answering(200);
    let config = yaml(
        ALLOW_LOOPBACK,
        "",
        &push(
            "hook",
            &receiver.url("/in?source=orders"),
            "      headers: { X-Team: blue }\n      ordering: { mode: strict }\n",
            "",
        ),
    );
    let gateway = start(&config, driver);
    wait_active(&gateway, "hook");
    let addr = gateway.local_addr();
    for n in 0..20 {
        publish(addr, &format!("order {n}"));
    }
    assert!(
        eventually(Duration::from_secs(15), || receiver.count() >= 20),
        "received {} of 20",
        receiver.count()
    );
    let received = receiver.received();
    let bodies: Vec<String> = received.iter().map(|r| r.body_text()).collect();
    let expected: Vec<String> = (0..20).map(|n| format!("order {n}")).collect();
    assert_eq!(bodies, expected, "every message once, in order");
    let first = &received[0];
    assert_eq!(first.target, "/in?source=orders");
    assert_eq!(first.header("x-team"), Some("blue"));
    assert_eq!(
        first.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(first
        .header("webhook-id")
        .is_some_and(|id| id.starts_with("msg_hook_")));
    assert!(first.header("webhook-timestamp").is_some());
    assert_eq!(
        first.header("webhook-signature"),
        None,
        "no secret, no signature"
    );
    let ids: std::collections::HashSet<&str> = received
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(ids.len(), 20, "one id per message");
    assert_eq!(
        receiver.connections(),
        1,
        "keep-alive: one pooled connection carried all"
    );
    let counters = counters(&gateway, "hook");
    assert!(eventually(Duration::from_secs(5), || read(
        &counters.delivered
    ) == 20));
    assert_eq!(read(&counters.failed), 0);
    assert!(eventually(Duration::from_secs(5), || read(&counters.lag) == 0));
    gateway.shutdown();
}

on_both_drivers!(
    messages_arrive_in_order_on_one_connection,
    messages_arrive_in_order_on_one_connection
);

fn concurrent_deliveries_are_bounded_by_max_concurrent(driver: DriverChoice) {
    let receiver = Receiver::answering(200);
    let configuration = "      ordering: { mode: concurrent, maxConcurrent: 4 }\n";
    let config = yaml(
        ALLOW_LOOPBACK,
        "",
        &push("wide", &receiver.url("/in"), configuration, ""),
    );
    let gateway = start(&config, driver);
    wait_active(&gateway, "wide");
    for n in 0..40 {
        publish(gateway.local_addr(), &format!("order {n}"));
    }
    let counters = counters(&gateway, "wide");
    assert!(eventually(Duration::from_secs(15), || read(
        &counters.delivered
    ) == 40));
    let mut bodies: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    bodies.sort_by_key(|b| b[6..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..40).map(|n| format!("order {n}")).collect();
    assert_eq!(bodies, expected, "every message exactly once");
    assert!(
        receiver.connections() <= 4,
        "at most maxConcurrent connections at once, pooled: {}",
        receiver.connections()
    );
    assert!(eventually(Duration::from_secs(5), || read(
        &counters.in_flight
    ) == 0));
    gateway.shutdown();
}

on_both_drivers!(
    concurrent_deliveries_are_bounded_by_max_concurrent,
    concurrent_deliveries_are_bounded_by_max_concurrent
);
