//! `username` / `password` against a mosquitto that admits only known users, and a publish its
//! ACL denies: MQTT 5 brokers say so in the PUBACK, which the gateway answers with 502.

mod common;

use std::time::Duration;

use common::mosquitto::Mosquitto;
use common::mqtt_api::*;
use common::*;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

const ACL: &str = "user alice\ntopic readwrite creds/#\n";

/// A one-shard gateway on `/m` consuming and producing `topic` as `credentials` (endpoint
/// lines, possibly none).
fn gateway_as(broker: &Mosquitto, credentials: &str, topic: &str, driver: DriverChoice) -> Gateway {
    let entrypoints = format!("      - type: http-post\n{WEBSOCKET_SUBSCRIBER}");
    let endpoint = format!(
        "{credentials}        consumer:\n          topic: {topic}\n        producer:\n          topic: {topic}\n"
    );
    start_one_shard(&api_yaml(broker.port, &entrypoints, &endpoint), driver)
}

fn known_credentials_are_admitted_and_others_refused(driver: DriverChoice) {
    let broker = Mosquitto::start_with_users(&[("alice", "secret")], ACL);
    let alice = gateway_as(
        &broker,
        "        username: alice\n        password: secret\n",
        "creds/1",
        driver,
    );
    let addr = alice.local_addr();
    assert!(
        eventually(WAIT, || post(addr, "/m", "warm-up", "").status == 202),
        "alice was not admitted; broker log:\n{}",
        broker.log()
    );
    let mut socket = ws(addr, "/m");
    wait_subscribed(&alice, &broker);
    assert_eq!(post(addr, "/m", "as alice", "").status, 202);
    assert_eq!(next_text(&mut socket), "as alice");
    let not_authorised = || broker.log_count("disconnected, not authorised");

    for (credentials, who) in [
        (
            "        username: alice\n        password: wrong\n",
            "a wrong password",
        ),
        ("", "no credentials"),
    ] {
        let before = not_authorised();
        let refused = gateway_as(&broker, credentials, "creds/1", driver);
        let response = post(refused.local_addr(), "/m", "refused", "");
        assert_eq!(response.status, 503, "{who}: {}", response.text());
        assert!(
            eventually(WAIT, || metric(&refused, |m| &m
                .mqtt_connection_losses_total)
                >= 1),
            "{who}: no refused attempt was counted; broker log:\n{}",
            broker.log()
        );
        assert_eq!(metric(&refused, |m| &m.mqtt_connects_total), 0, "{who}");
        // The broker refused it for its credentials, not for anything else.
        assert!(
            eventually(Duration::from_secs(60), || not_authorised() > before),
            "{who}: the broker did not refuse the credentials; its log:\n{}",
            broker.log()
        );
        let response = post(refused.local_addr(), "/m", "refused", "");
        assert_eq!(response.status, 503, "{who}: {}", response.text());
    }
}
on_both_drivers!(
    known_credentials_are_admitted_and_others_refused,
    known_credentials_are_admitted_and_others_refused
);

fn a_publish_the_broker_denies_is_a_502(driver: DriverChoice) {
    let broker = Mosquitto::start_with_users(&[("alice", "secret")], ACL);
    let gateway = gateway_as(
        &broker,
        "        username: alice\n        password: secret\n",
        "forbidden/1",
        driver,
    );
    let addr = gateway.local_addr();
    let mut last = 0;
    assert!(
        eventually(WAIT, || {
            last = post(addr, "/m", "not allowed", "").status;
            last != 503
        }),
        "the gateway did not connect; broker log:\n{}",
        broker.log()
    );
    assert_eq!(last, 502, "broker log:\n{}", broker.log());
    assert!(
        broker.log_count("Denied PUBLISH from tidegate-") >= 1,
        "the broker's ACL denied it; broker log:\n{}",
        broker.log()
    );
    assert_eq!(metric(&gateway, |m| &m.mqtt_connection_losses_total), 0);
}
on_both_drivers!(
    a_publish_the_broker_denies_is_a_502,
    a_publish_the_broker_denies_is_a_502
);
