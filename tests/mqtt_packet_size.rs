//! `maxPacketBytes` against mosquitto: an MQTT 5 broker told the limit in CONNECT drops larger
//! messages for the gateway, and one from an MQTT 3.1.1 broker (which cannot be told) is skipped
//! by the gateway; either way the connection stays and the messages after it are delivered.

mod common;

use common::mosquitto::Mosquitto;
use common::mqtt_api::*;
use common::*;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

/// A one-shard gateway consuming `sized/1` at QoS `qos` over `protocol` with `maxPacketBytes`
/// 2048, with a WebSocket entrypoint.
fn gateway(broker: &Mosquitto, protocol: &str, qos: u8, driver: DriverChoice) -> Gateway {
    let endpoint = format!(
        "        protocolVersion: {protocol}\n        maxPacketBytes: 2048\n        consumer:\n          topic: sized/1\n          qos: {qos}\n"
    );
    start_one_shard(
        &api_yaml(broker.port, WEBSOCKET_SUBSCRIBER, &endpoint),
        driver,
    )
}

fn an_mqtt5_broker_drops_larger_messages_for_the_gateway(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let gateway = gateway(&broker, "5", 1, driver);
    let mut socket = ws(gateway.local_addr(), "/m");
    wait_subscribed(&gateway, &broker);
    broker.publish("sized/1", &"x".repeat(4096), &[]);
    broker.publish("sized/1", "small", &[]);
    assert_eq!(next_text(&mut socket), "small");
    assert_eq!(metric(&gateway, |m| &m.mqtt_connection_losses_total), 0);
    assert_eq!(metric(&gateway, |m| &m.mqtt_messages_received_total), 1);
    assert_eq!(
        metric(&gateway, |m| &m.mqtt_messages_dropped_total),
        0,
        "the broker dropped it: the gateway never saw it"
    );
}
on_both_drivers!(
    an_mqtt5_broker_drops_larger_messages_for_the_gateway,
    an_mqtt5_broker_drops_larger_messages_for_the_gateway
);

/// A 3.1.1 broker cannot be told the limit: the gateway skips the message, acknowledges it (a
/// persistent QoS 1 session would otherwise send it again on every connection, forever) and
/// counts it dropped; the connection stays.
fn an_mqtt311_broker_sending_a_larger_message_has_it_skipped_and_acknowledged(
    driver: DriverChoice,
) {
    let broker = Mosquitto::start();
    let gateway = gateway(&broker, "\"3.1.1\"", 1, driver);
    let mut socket = ws(gateway.local_addr(), "/m");
    wait_subscribed(&gateway, &broker);
    broker.publish("sized/1", &"x".repeat(64 * 1024), &[]);
    broker.publish("sized/1", "small", &[]);
    assert_eq!(next_text(&mut socket), "small");
    assert_eq!(metric(&gateway, |m| &m.mqtt_messages_dropped_total), 1);
    assert_eq!(metric(&gateway, |m| &m.mqtt_messages_received_total), 1);
    assert_eq!(metric(&gateway, |m| &m.mqtt_connection_losses_total), 0);
    assert!(
        eventually(WAIT, || broker.log_count("Received PUBACK from tidegate-")
            == 2),
        "both messages acknowledged; broker log:\n{}",
        broker.log()
    );
}
on_both_drivers!(
    an_mqtt311_broker_sending_a_larger_message_has_it_skipped_and_acknowledged,
    an_mqtt311_broker_sending_a_larger_message_has_it_skipped_and_acknowledged
);
