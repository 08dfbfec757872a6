//! The MQTT producer's bounds and refusals against a scripted broker: `producer.ackTimeoutMs`
//! (no PUBACK in time: 503), `producer.maxInFlight` (more publishes awaiting PUBACK: 503 at
//! once, nothing sent), and a PUBACK with an error reason code (502, the broker refused it).

mod common;

use common::fake_mqtt::{FakeBroker, PubAckMode, Script};
use common::mqtt_api::*;
use common::*;
use mqttbytes::v5::PubAckReason;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

/// A one-shard gateway publishing QoS 1 to `broker` on `POST /m`; `producer` is added to the
/// producer section.
fn producer_gateway(broker: &FakeBroker, producer: &str, driver: DriverChoice) -> Gateway {
    let endpoint =
        format!("        producer:\n          topic: out/1\n          qos: 1\n{producer}");
    start_one_shard(
        &api_yaml(broker.port, "      - type: http-post", &endpoint),
        driver,
    )
}

/// Publishes until the connection is up (the first publish starts it).
fn wait_connected(gateway: &Gateway, broker: &FakeBroker) {
    let _ = post(gateway.local_addr(), "/m", "warm-up", "");
    assert!(
        eventually(WAIT, || metric(gateway, |m| &m.mqtt_connects_total) == 1),
        "the gateway did not connect to the scripted broker: {:?}",
        broker.seen()
    );
}

fn a_publish_without_puback_within_ack_timeout_is_a_503_and_the_connection_stays(
    driver: DriverChoice,
) {
    let broker = FakeBroker::start(Script::default());
    let gateway = producer_gateway(&broker, "          ackTimeoutMs: 300\n", driver);
    wait_connected(&gateway, &broker);
    broker.set_script(Script {
        puback: PubAckMode::Hold,
        ..Script::default()
    });
    let rejected = metric(&gateway, |m| &m.mqtt_publishes_rejected_total);
    let published = broker.seen().publishes;

    let response = post(gateway.local_addr(), "/m", "unacknowledged", "");
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(broker.seen().publishes, published + 1, "it was sent");
    assert_eq!(
        metric(&gateway, |m| &m.mqtt_publishes_rejected_total),
        rejected + 1
    );
    assert_eq!(
        metric(&gateway, |m| &m.mqtt_publishes_in_flight),
        0,
        "the timed-out publish no longer counts as in flight"
    );
    // A missing PUBACK is not a lost connection: the next publish goes through on it.
    broker.set_script(Script::default());
    assert_eq!(post(gateway.local_addr(), "/m", "acked", "").status, 202);
    assert_eq!(metric(&gateway, |m| &m.mqtt_connection_losses_total), 0);
    assert_eq!(broker.seen().connects.len(), 1);
}
on_both_drivers!(
    a_publish_without_puback_within_ack_timeout_is_a_503_and_the_connection_stays,
    a_publish_without_puback_within_ack_timeout_is_a_503_and_the_connection_stays
);

fn publishes_over_max_in_flight_are_refused_at_once_and_not_sent(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::default());
    let gateway = producer_gateway(
        &broker,
        "          ackTimeoutMs: 60000\n          maxInFlight: 2\n",
        driver,
    );
    wait_connected(&gateway, &broker);
    broker.set_script(Script {
        puback: PubAckMode::Hold,
        ..Script::default()
    });
    let addr = gateway.local_addr();
    let waiting: Vec<_> = (0..2)
        .map(|n| std::thread::spawn(move || post(addr, "/m", format!("held-{n}"), "").status))
        .collect();
    assert!(
        eventually(WAIT, || metric(&gateway, |m| &m.mqtt_publishes_in_flight)
            == 2),
        "two publishes wait for their PUBACK"
    );
    let sent = broker.seen().publishes;
    let rejected = metric(&gateway, |m| &m.mqtt_publishes_rejected_total);

    let response = post(addr, "/m", "one too many", "");
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(
        metric(&gateway, |m| &m.mqtt_publishes_rejected_total),
        rejected + 1
    );
    assert_eq!(
        broker.seen().publishes,
        sent,
        "a refused publish is not sent"
    );

    // Once the broker acknowledges, the held publishes are accepted and room is back.
    broker.set_script(Script::default());
    broker.ack_held();
    for thread in waiting {
        assert_eq!(thread.join().unwrap(), 202);
    }
    assert_eq!(post(addr, "/m", "room again", "").status, 202);
}
on_both_drivers!(
    publishes_over_max_in_flight_are_refused_at_once_and_not_sent,
    publishes_over_max_in_flight_are_refused_at_once_and_not_sent
);

fn a_puback_with_an_error_reason_is_a_502(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::default());
    let gateway = producer_gateway(&broker, "", driver);
    wait_connected(&gateway, &broker);
    broker.set_script(Script {
        puback: PubAckMode::Refuse(PubAckReason::QuotaExceeded),
        ..Script::default()
    });
    let response = post(gateway.local_addr(), "/m", "refused", "");
    assert_eq!(response.status, 502, "{}", response.text());
    // The broker answered, so the connection is fine and the next publish is accepted.
    broker.set_script(Script::default());
    assert_eq!(post(gateway.local_addr(), "/m", "accepted", "").status, 202);
    assert_eq!(metric(&gateway, |m| &m.mqtt_connection_losses_total), 0);
}
on_both_drivers!(
    a_puback_with_an_error_reason_is_a_502,
    a_puback_with_an_error_reason_is_a_502
);

fn maximum_packet_size_is_announced_in_connect(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::default());
    let endpoint = "        maxPacketBytes: 4096\n        producer:\n          topic: out/1\n";
    let gateway = start_one_shard(
        &api_yaml(broker.port, "      - type: http-post", endpoint),
        driver,
    );
    wait_connected(&gateway, &broker);
    let connect = broker.seen().connects[0].clone();
    assert_eq!(connect.max_packet_size, Some(4096), "{connect:?}");
}
on_both_drivers!(
    maximum_packet_size_is_announced_in_connect,
    maximum_packet_size_is_announced_in_connect
);
