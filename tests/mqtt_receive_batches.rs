//! What one broker read brings reaches the fan-out as one batch: the PUBLISHes of a read go
//! into the node ring under one lock with one wake of every shard, so each subscriber gets them
//! in one gathered write instead of one write per message (issue 16: 1,000 SSE clients at
//! 500 msg/s cost 1.9-2.7 µs per delivery, each message reaching the fan-out alone). The
//! broker here sends 200 PUBLISHes in one write; they must arrive complete and in order, in far
//! fewer ring batches than messages (`tidegate_mqtt_receive_batches_total`); and QoS 1 PUBACKs
//! go back in the order the PUBLISHes came.

mod common;

use common::fake_mqtt::{FakeBroker, Script};
use common::mqtt_api::{api_yaml, metric, WAIT};
use common::*;
use tidegate::config::DriverChoice;

const MESSAGES: usize = 200;

/// An MQTT 5 PUBLISH of `payload` to `t`: QoS 0, or QoS 1 with packet id `pkid`.
fn publish(payload: &[u8], pkid: Option<u16>) -> Vec<u8> {
    let id_bytes = if pkid.is_some() { 2 } else { 0 };
    let remaining = 2 + 1 + id_bytes + 1 + payload.len();
    let header = if pkid.is_some() { 0x32 } else { 0x30 };
    let mut packet = vec![header, remaining as u8, 0x00, 0x01, b't'];
    if let Some(pkid) = pkid {
        packet.extend_from_slice(&pkid.to_be_bytes());
    }
    packet.push(0x00); // no properties
    packet.extend_from_slice(payload);
    packet
}

fn burst(qos1: bool) -> Vec<u8> {
    (0..MESSAGES)
        .flat_map(|i| publish(format!("m{i:03}").as_bytes(), qos1.then_some(i as u16 + 1)))
        .collect()
}

fn a_burst_from_the_broker_is_fanned_out_in_batches(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::sending_after_suback(|_| burst(false)));
    let endpoint =
        "        keepAliveSeconds: 0\n        consumer:\n          topic: t\n          qos: 0\n";
    let yaml = api_yaml(broker.port, "      - type: sse", endpoint);
    let gateway = start(test_config(&yaml, driver));
    let (head, mut sse) = open_sse(gateway.local_addr(), "/m", &[]);
    assert_eq!(head.status, 200);
    let last = format!("data: m{:03}\n", MESSAGES - 1);
    let text = read_sse_until(&mut sse, |text| text.contains(&last));
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i:03}")).collect();
    assert_eq!(data, expected, "every message, in order");

    let received = metric(&gateway, |m| &m.mqtt_messages_received_total);
    let batches = metric(&gateway, |m| &m.mqtt_receive_batches_total);
    assert_eq!(received, MESSAGES as u64);
    // 200 packets of 10 bytes are one write of the broker: one read, or a few when TCP splits it.
    assert!(
        (1..=20).contains(&batches),
        "{batches} ring batches for {received} messages read together"
    );
}

on_both_drivers!(
    a_burst_from_the_broker_is_fanned_out_in_batches,
    a_burst_from_the_broker_is_fanned_out_in_batches
);

fn qos1_pubacks_of_a_batch_go_back_in_order(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::sending_after_suback(|_| burst(true)));
    let endpoint =
        "        keepAliveSeconds: 0\n        consumer:\n          topic: t\n          qos: 1\n";
    let yaml = api_yaml(broker.port, "      - type: sse", endpoint);
    let gateway = start(test_config(&yaml, driver));
    let (head, mut sse) = open_sse(gateway.local_addr(), "/m", &[]);
    assert_eq!(head.status, 200);
    let last = format!("data: m{:03}\n", MESSAGES - 1);
    read_sse_until(&mut sse, |text| text.contains(&last));
    assert!(
        eventually(WAIT, || broker.seen().pubacks.len() == MESSAGES),
        "PUBACKs: {:?}",
        broker.seen().pubacks.len()
    );
    let expected: Vec<u16> = (1..=MESSAGES as u16).collect();
    assert_eq!(broker.seen().pubacks, expected);
}
on_both_drivers!(
    qos1_pubacks_of_a_batch_go_back_in_order,
    qos1_pubacks_of_a_batch_go_back_in_order
);
