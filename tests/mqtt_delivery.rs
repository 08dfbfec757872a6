//! The MQTT endpoint's delivery guarantees against a real mosquitto: TLS to the broker, consumer
//! groups spread over gateways, and `qos: at-least-once` acknowledging only after delivery.

mod common;

use std::time::Duration;

use common::mosquitto::Mosquitto;
use common::mqtt_api::*;
use common::*;
use tidegate::config::{self, DriverChoice};
use tidegate::runtime::Gateway;
use tungstenite::Message;

/// A one-shard gateway whose API on `/m` publishes to and consumes `secure/1` over TLS (`tls`
/// is the endpoint's `tls:` block).
fn tls_gateway(tls: &str, broker: &Mosquitto, driver: DriverChoice) -> Gateway {
    let entrypoints = r#"      - type: http-post
      - type: websocket
        configuration:
          publisher: { enabled: false }"#;
    let endpoint = format!(
        "        consumer:\n          topic: secure/1\n        producer:\n          topic: secure/1\n        tls:\n{tls}"
    );
    start_one_shard(&api_yaml(broker.port, entrypoints, &endpoint), driver)
}

/// `POST /m` → broker → the same API's consumer → a WebSocket client, all over TLS.
fn round_trip_over_tls(
    tls: &str,
    broker: &Mosquitto,
    driver: DriverChoice,
) -> (Gateway, Option<u16>) {
    let gateway = tls_gateway(tls, broker, driver);
    let addr = gateway.local_addr();
    let mut last = None;
    let accepted = eventually(Duration::from_secs(5), || {
        let response = post(addr, "/m", "warm-up", "");
        last = Some(response.status);
        response.status == 202
    });
    if !accepted {
        return (gateway, last);
    }
    let mut socket = ws(addr, "/m");
    wait_subscribed(&gateway, broker);
    assert_eq!(post(addr, "/m", "sealed", "").status, 202);
    assert_eq!(next_text(&mut socket), "sealed");
    (gateway, Some(202))
}

/// Checks that a gateway with `tls` has its connections refused: first a failed attempt is
/// counted (so a gateway still connecting cannot pass for one refused) while none succeeded,
/// then a publish is answered 503.
fn assert_refused_over_tls(tls: &str, broker: &Mosquitto, why: &str, driver: DriverChoice) {
    let gateway = tls_gateway(tls, broker, driver);
    // The first publish starts the connection if nothing has yet.
    let first = post(gateway.local_addr(), "/m", "refused", "");
    assert_eq!(first.status, 503, "{why}: {}", first.text());
    assert!(
        eventually(WAIT, || metric(&gateway, |m| &m
            .mqtt_connection_losses_total)
            >= 2),
        "{why}: no failed connection attempt was counted; broker log:\n{}",
        broker.log()
    );
    assert_eq!(
        metric(&gateway, |m| &m.mqtt_connects_total),
        0,
        "{why}: the gateway connected; broker log:\n{}",
        broker.log()
    );
    let response = post(gateway.local_addr(), "/m", "refused", "");
    assert_eq!(response.status, 503, "{why}: {}", response.text());
}

fn tls_to_the_broker_with_a_trusted_ca(driver: DriverChoice) {
    let (broker, ca) = Mosquitto::start_tls();
    let tls = format!(
        "          enabled: true\n          caFile: {}\n",
        ca.display()
    );
    let (_gateway, status) = round_trip_over_tls(&tls, &broker, driver);
    assert_eq!(status, Some(202), "broker log:\n{}", broker.log());
}
on_both_drivers!(
    tls_to_the_broker_with_a_trusted_ca,
    tls_to_the_broker_with_a_trusted_ca
);

fn tls_refuses_an_untrusted_certificate_unless_told_to_skip_verification(driver: DriverChoice) {
    let (broker, _ca) = Mosquitto::start_tls();
    // Without caFile only public roots are trusted: the test CA is not, so nothing connects.
    assert_refused_over_tls(
        "          enabled: true\n",
        &broker,
        "a certificate from an untrusted CA",
        driver,
    );
    let (_gateway, status) = round_trip_over_tls(
        "          enabled: true\n          insecureSkipVerify: true\n",
        &broker,
        driver,
    );
    assert_eq!(status, Some(202), "broker log:\n{}", broker.log());
}
on_both_drivers!(
    tls_refuses_an_untrusted_certificate_unless_told_to_skip_verification,
    tls_refuses_an_untrusted_certificate_unless_told_to_skip_verification
);

fn tls_presents_the_client_certificate_a_broker_requires(driver: DriverChoice) {
    let (broker, ca, (cert, key)) = Mosquitto::start_mtls();
    let without = format!(
        "          enabled: true\n          caFile: {}\n",
        ca.display()
    );
    assert_refused_over_tls(&without, &broker, "without a client certificate", driver);
    let with = format!(
        "{without}          certFile: {}\n          keyFile: {}\n",
        cert.display(),
        key.display()
    );
    let (_gateway, status) = round_trip_over_tls(&with, &broker, driver);
    assert_eq!(status, Some(202), "broker log:\n{}", broker.log());
}
on_both_drivers!(
    tls_presents_the_client_certificate_a_broker_requires,
    tls_presents_the_client_certificate_a_broker_requires
);

#[test]
fn an_unreadable_ca_file_is_a_config_problem() {
    let yaml = api_yaml(1883, CONSUMING, "        consumer:\n          topic: a/b\n        tls:\n          enabled: true\n          caFile: /nonexistent/ca.pem\n");
    let err = config::load_str(&yaml, "t.yaml").unwrap_err().to_string();
    assert!(
        err.contains("tls.caFile") && err.contains("cannot read /nonexistent/ca.pem"),
        "{err}"
    );
}

#[test]
fn a_client_certificate_needs_its_key_file() {
    let yaml = api_yaml(1883, CONSUMING, "        consumer:\n          topic: a/b\n        tls:\n          enabled: true\n          certFile: /nonexistent/client.pem\n");
    let err = config::load_str(&yaml, "t.yaml").unwrap_err().to_string();
    assert!(
        err.contains("tls.keyFile: required with `certFile`"),
        "{err}"
    );
}

/// Two gateways in one consumer group split the stream: every message reaches exactly one of
/// them (MQTT 5 shared subscription `$share/<group>/<filter>`).
fn a_consumer_group_spreads_messages_over_gateways(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let endpoint = "        consumer:\n          topic: jobs/1\n          group: workers\n";
    let gateways: Vec<Gateway> = (0..2)
        .map(|_| start_one_shard(&api_yaml(broker.port, CONSUMING, endpoint), driver))
        .collect();
    let mut sockets: Vec<Client> = gateways.iter().map(|g| ws(g.local_addr(), "/m")).collect();
    assert!(
        eventually(WAIT, || broker.log_count("$share/workers/jobs/1") >= 2),
        "both gateways joined the group; broker log:\n{}",
        broker.log()
    );
    for n in 0..20 {
        broker.publish("jobs/1", &format!("job-{n}"), &[]);
    }
    let mut received: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    assert!(eventually(WAIT, || {
        for (socket, got) in sockets.iter_mut().zip(received.iter_mut()) {
            socket
                .get_ref()
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            while let Ok(message) = socket.read() {
                if let Message::Text(text) = message {
                    got.push(text.to_string());
                }
            }
        }
        received.iter().map(Vec::len).sum::<usize>() >= 20
    }));
    let mut all: Vec<String> = received.concat();
    all.sort_by_key(|job| job[4..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..20).map(|n| format!("job-{n}")).collect();
    assert_eq!(all, expected, "every message exactly once across the group");
    assert!(
        received.iter().all(|got| !got.is_empty()),
        "both members got a share: {received:?}"
    );
}
on_both_drivers!(
    a_consumer_group_spreads_messages_over_gateways,
    a_consumer_group_spreads_messages_over_gateways
);

/// `qos: at-least-once` on an entrypoint: the gateway acknowledges a QoS 1 message to the broker
/// only once it has been written to the local clients due it. A client that stops reading holds
/// the PUBACKs back (the broker keeps the rest); once it reads, everything arrives and is acked.
///
/// The client reads nothing while 400 `mosquitto_pub` runs publish and the broker settles, which
/// on a loaded machine takes longer than the stream stall deadline and two ping intervals (30 s
/// each by default; tungstenite answers pings only inside a read): both are set far apart here,
/// the client's socket reads with a generous timeout, and the waits are generous.
fn at_least_once_acknowledges_only_after_delivery(driver: DriverChoice) {
    const SETTLE: Duration = Duration::from_secs(180);
    let broker = Mosquitto::start();
    let entrypoints = r#"      - type: websocket
        qos: at-least-once
        configuration:
          publisher: { enabled: false }"#;
    let endpoint = "        consumer:\n          topic: alo/1\n          qos: 1\n";
    let yaml = api_yaml(broker.port, entrypoints, endpoint).replacen(
        "apis:",
        "gateway:\n  timeouts:\n    wsPingIntervalMs: 600000\n    streamStallMs: 600000\napis:",
        1,
    );
    let gateway = start_one_shard(&yaml, driver);
    let mut socket = ws(gateway.local_addr(), "/m");
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    wait_subscribed(&gateway, &broker);
    let gateway_acks = || broker.log_count("Received PUBACK from tidegate-");
    let broker_sends = || broker.log_count("Sending PUBLISH to tidegate-");
    // PUBACKs the gateway may have sent: one per message written to the client, plus those
    // forced out past MAX_PENDING_ACKS (counted). The delivery counter goes up before the PUBACK
    // goes out, so reading the broker's log first and the counters second never overcounts.
    let allowed = || {
        metric(&gateway, |m| &m.messages_delivered_total)
            + metric(&gateway, |m| &m.mqtt_acks_forced_total)
    };
    // 400 × 64 KiB: more than the socket buffers and the client's queue can hold unread.
    let payload = "p".repeat(64 * 1024);
    const COUNT: usize = 400;
    // mosquitto's default `max_inflight_messages`: unacknowledged QoS 1 messages it sends a client.
    const BROKER_WINDOW: usize = 20;
    for _ in 0..COUNT {
        broker.publish("alo/1", &payload, &[]);
    }
    // The client reads nothing: wait until the broker has sent all it will (everything, or its
    // in-flight window past the acknowledged ones), checking the promise on the way.
    let mut seen = (0, 0, 0);
    let settled = eventually(SETTLE, || {
        let acks = gateway_acks();
        let allowed = allowed() as usize;
        let sends = broker_sends();
        seen = (acks, allowed, sends);
        assert!(
            acks <= allowed,
            "{acks} PUBACKs for {allowed} messages written to the client"
        );
        sends == COUNT || sends >= acks + BROKER_WINDOW
    });
    assert!(
        settled,
        "the broker kept sending: (acks, allowed, sends) = {seen:?}"
    );
    let (acks, allowed_now, _) = seen;
    assert!(
        acks <= allowed_now && allowed_now < COUNT,
        "the unread client held messages back, and their PUBACKs with them: {seen:?}"
    );
    for n in 0..COUNT {
        assert_eq!(next_text(&mut socket).len(), payload.len(), "message {n}");
    }
    assert!(
        eventually(SETTLE, || gateway_acks() >= COUNT),
        "every message acknowledged once delivered ({} of {COUNT})",
        gateway_acks()
    );
}
on_both_drivers!(
    at_least_once_acknowledges_only_after_delivery,
    at_least_once_acknowledges_only_after_delivery
);
