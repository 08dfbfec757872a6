//! A broker packet whose fields run past its own end (here an MQTT 5 PUBLISH whose property
//! length is cut short) is malformed: the gateway drops that broker connection and reconnects.
//! Before, the codec took such a packet for "need more bytes" after consuming it, so the
//! connection sat waiting for bytes that belonged to no packet, and messages already read
//! behind it stayed undelivered (found by the `mqtt` fuzz target, fuzz/regressions/mqtt/).

mod common;

use common::fake_mqtt::{FakeBroker, Script};
use common::mqtt_api::{api_yaml, WAIT};
use common::*;
use tidegate::config::DriverChoice;

/// PUBLISH (QoS 0) to `t`: the topic, then a property length whose continuation bit promises a
/// byte the packet does not have.
const PROPERTY_LENGTH_CUT_SHORT: [u8; 6] = [0x30, 0x04, 0x00, 0x01, b't', 0x80];

/// A well-formed MQTT 5 PUBLISH (QoS 0, no properties) of `payload` to `t`.
fn publish(payload: &[u8]) -> Vec<u8> {
    let remaining = 2 + 1 + 1 + payload.len();
    let mut packet = vec![0x30, remaining as u8, 0x00, 0x01, b't', 0x00];
    packet.extend_from_slice(payload);
    packet
}

fn malformed_packet_drops_the_broker_connection(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::sending_after_suback(
        |connection| match connection {
            0 => [&PROPERTY_LENGTH_CUT_SHORT[..], &publish(b"stuck")].concat(),
            _ => publish(b"fresh"),
        },
    ));
    // No keep-alive: nothing but the malformed packet can end the first connection.
    let endpoint =
        "        keepAliveSeconds: 0\n        consumer:\n          topic: t\n          qos: 0\n";
    let yaml = api_yaml(broker.port, "      - type: sse", endpoint);
    let gateway = start(test_config(&yaml, driver));
    let (head, mut sse) = open_sse(gateway.local_addr(), "/m", &[]);
    assert_eq!(head.status, 200);

    assert!(
        eventually(WAIT, || broker.seen().closed >= 1),
        "the gateway kept the connection that sent a malformed packet ({} accepted)",
        broker.seen().accepted
    );
    let text = read_sse_until(&mut sse, |text| text.contains("data: fresh"));
    assert!(text.contains("data: fresh\n"), "after reconnecting: {text}");
    assert!(!text.contains("stuck"), "{text}");
}

on_both_drivers!(
    malformed_packet_drops_the_broker_connection,
    malformed_packet_drops_the_broker_connection
);
