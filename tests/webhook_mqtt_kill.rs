//! At-least-once webhooks over MQTT across a gateway `kill -9` (issue 15 part 3): the node's
//! broker session persists (`gateway.nodeId`: a stable client id, `cleanStart: false`), messages
//! come with QoS 1, and each PUBACK waits until the push subscription acknowledged the message.
//! After a SIGKILL the broker hands what was not PUBACKed (and what was published meanwhile) to
//! the restarted gateway: every message reaches the receiver at least once, in order.
//!
//! One driver: a `kill -9` needs a process of its own, the binary on `auto`; webhook
//! delivery runs on both drivers in-process (tests/webhook_delivery.rs).

mod common;

use std::time::Duration;

use common::binary::Binary;
use common::eventually;
use common::mosquitto::Mosquitto;
use common::webhook_brokers::{mqtt_yaml, wait_mqtt_subscribed};
use common::webhook_receiver::{Receiver, Step};

const WAIT: Duration = Duration::from_secs(60);
/// Messages published before the kill.
const BEFORE: usize = 10;
/// Messages published while the gateway is down.
const WHILE_DOWN: usize = 3;
/// Messages the receiver acknowledges before it hangs (the gateway is killed then).
const ACKED: usize = 4;

fn numbers(bodies: &[String]) -> Vec<usize> {
    bodies
        .iter()
        .map(|body| {
            body.strip_prefix("m-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected body {body:?}"))
        })
        .collect()
}

fn assert_in_order(numbers: &[usize], run: &str) {
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "{run}: not in order: {numbers:?}"
    );
}

#[test]
fn every_message_reaches_the_callback_after_a_kill_in_order() {
    let broker = Mosquitto::start();
    let mut script = vec![Step::Status(200); ACKED];
    script.push(Step::Hang);
    let receiver = Receiver::start(&script, Step::Status(200));
    let yaml = mqtt_yaml(broker.port, &receiver.url("/hook"), "");
    let mut gateway = Binary::start(&yaml);
    wait_mqtt_subscribed(&broker, 1);
    for n in 0..BEFORE {
        broker.publish("orders/new", &format!("m-{n}"), &[]);
    }
    assert!(
        eventually(WAIT, || receiver.count() > ACKED),
        "the receiver got {} deliveries:\n{}",
        receiver.count(),
        gateway.log()
    );
    gateway.signal("KILL");
    assert!(gateway.wait_exit(WAIT).is_some(), "the gateway did not die");
    drop(gateway);
    let before: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    let before = numbers(&before);
    assert_in_order(&before, "before the kill");
    let hung = *before.last().unwrap();
    for n in BEFORE..BEFORE + WHILE_DOWN {
        broker.publish("orders/new", &format!("m-{n}"), &[]);
    }

    let gateway = Binary::start(&yaml);
    let total = BEFORE + WHILE_DOWN;
    let all = || {
        let bodies: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
        let mut seen = numbers(&bodies);
        seen.sort();
        seen.dedup();
        seen.len() == total
    };
    assert!(
        eventually(WAIT, all),
        "after the restart the receiver has {:?}, not every one of the {total} messages:\n{}",
        numbers(
            &receiver
                .received()
                .iter()
                .map(|r| r.body_text())
                .collect::<Vec<_>>()
        ),
        gateway.log()
    );
    let after: Vec<String> = receiver.received()[before.len()..]
        .iter()
        .map(|r| r.body_text())
        .collect();
    let after = numbers(&after);
    assert_in_order(&after, "after the restart");
    assert!(
        after.contains(&hung),
        "the message in flight at the kill (m-{hung}) was delivered again: {after:?}"
    );
}
