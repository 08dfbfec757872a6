//! How the MQTT endpoint keeps its broker connection, against a scripted broker:
//! `keepAliveSeconds` (PINGREQs go out; a broker that stops answering them is dropped and
//! reconnected to) and `reconnectAttempts` (the endpoint gives up after that many failed
//! reconnects and tries again only when a client uses it).

mod common;

use std::time::Duration;

use common::fake_mqtt::{FakeBroker, Script};
use common::mqtt_api::*;
use common::*;
use mqttbytes::v5::ConnectReturnCode;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

/// A one-shard gateway publishing to `broker` on `POST /m`; `options` are added to the
/// endpoint configuration.
fn gateway_with(broker: &FakeBroker, options: &str, driver: DriverChoice) -> Gateway {
    let endpoint = format!("{options}        producer:\n          topic: out/1\n");
    start_one_shard(
        &api_yaml(broker.port, "      - type: http-post", &endpoint),
        driver,
    )
}

fn answered_pings_keep_the_connection_and_unanswered_ones_drop_it(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::default());
    let gateway = gateway_with(&broker, "        keepAliveSeconds: 1\n", driver);
    let _ = post(gateway.local_addr(), "/m", "start", "");
    // The broker answers: pings keep coming on the one connection.
    assert!(
        eventually(Duration::from_secs(60), || broker.seen().pingreqs >= 3),
        "no PINGREQs: {:?}",
        broker.seen()
    );
    let seen = broker.seen();
    assert_eq!(seen.connects.len(), 1, "{seen:?}");
    assert_eq!(seen.connects[0].keep_alive_s, 1, "announced in CONNECT");
    assert_eq!(metric(&gateway, |m| &m.mqtt_connection_losses_total), 0);

    // The broker stops answering: the connection is dropped and made again.
    broker.set_script(Script {
        answer_pings: false,
        ..Script::default()
    });
    assert!(
        eventually(Duration::from_secs(60), || metric(&gateway, |m| &m
            .mqtt_connection_losses_total)
            >= 1),
        "an unanswered PINGREQ did not drop the connection: {:?}",
        broker.seen()
    );
    assert!(
        eventually(Duration::from_secs(60), || broker.seen().connects.len()
            >= 2),
        "the gateway did not reconnect: {:?}",
        broker.seen()
    );
}
on_both_drivers!(
    answered_pings_keep_the_connection_and_unanswered_ones_drop_it,
    answered_pings_keep_the_connection_and_unanswered_ones_drop_it
);

fn reconnects_stop_after_reconnect_attempts_until_a_client_uses_the_api(driver: DriverChoice) {
    let broker = FakeBroker::start(Script {
        connack: ConnectReturnCode::ServerUnavailable,
        ..Script::default()
    });
    let gateway = gateway_with(&broker, "        reconnectAttempts: 2\n", driver);
    let response = post(gateway.local_addr(), "/m", "start", "");
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(
        eventually(Duration::from_secs(60), || metric(&gateway, |m| &m
            .mqtt_connections_down)
            == 1),
        "the endpoint did not give up: {:?}",
        broker.seen()
    );
    // The first attempt and two reconnects, all made before the endpoint is marked down.
    assert_eq!(broker.seen().connects.len(), 3, "{:?}", broker.seen());
    assert_eq!(metric(&gateway, |m| &m.mqtt_connection_losses_total), 3);

    // A client using the API starts a new round, which now succeeds: the publish waits for
    // that attempt (at most connectTimeoutMs) and goes through.
    broker.set_script(Script::default());
    let response = post(gateway.local_addr(), "/m", "again", "");
    assert_eq!(response.status, 202, "{}", response.text());
    assert!(
        eventually(Duration::from_secs(60), || metric(&gateway, |m| &m
            .mqtt_connections_connected)
            == 1),
        "the endpoint did not connect again: {:?}",
        broker.seen()
    );
    assert_eq!(metric(&gateway, |m| &m.mqtt_connections_down), 0);
    assert_eq!(broker.seen().connects.len(), 4);
    assert_eq!(post(gateway.local_addr(), "/m", "through", "").status, 202);
}
on_both_drivers!(
    reconnects_stop_after_reconnect_attempts_until_a_client_uses_the_api,
    reconnects_stop_after_reconnect_attempts_until_a_client_uses_the_api
);
