//! Live apply of an MQTT API against a real broker: deployed into a running gateway it connects
//! and delivers; removed, its broker connections say goodbye (the broker's session count goes
//! back to what it was), while the other APIs keep their connections.

mod common;

use common::live_apis::{api, for_running, status};
use common::mosquitto::Mosquitto;
use common::mqtt_api::{api_yaml, metric, next_text, wait_subscribed, ws, WAIT};
use common::ws_client::close_frame;
use common::{eventually, open_sse, read_sse_until};
use tidegate::config::{self, DriverChoice};
use tungstenite::protocol::frame::coding::CloseCode;

const ENTRYPOINTS: &str = r#"      - type: http-post
      - type: websocket
        configuration:
          publisher: { enabled: false }"#;

fn deploy_and_remove_mqtt_api(driver: DriverChoice) {
    let broker = Mosquitto::start();
    let other = format!(
        "apis:\n{}",
        api("other", "other", &["http-post", "sse"], true)
    );
    let start = common::on_loopback(config::load_str(&other, "t").unwrap(), driver);
    let gateway = common::start(start.clone());
    let addr = gateway.local_addr();
    let (_, mut other_sse) = open_sse(addr, "/other", &[]);
    assert_eq!(broker.established_connections(), 0);

    // Deploy an MQTT API that publishes and consumes.
    let endpoint =
        "        producer:\n          topic: live/t\n        consumer:\n          topic: live/t\n";
    let with_mqtt = format!(
        "{other}{}",
        api_yaml(broker.port, ENTRYPOINTS, endpoint).replace("apis:\n", "")
    );
    let config = for_running(&gateway, config::load_str(&with_mqtt, "t").unwrap());
    let report = gateway.apply(config).expect("apply accepted");
    assert_eq!(report.added, ["mqtt-api"]);
    assert!(
        eventually(WAIT, || broker.established_connections() == 2),
        "each shard connects (one publishes, one also holds the subscription): {}; broker log:\n{}",
        broker.established_connections(),
        broker.log()
    );
    let mut socket = ws(addr, "/m");
    wait_subscribed(&gateway, &broker);
    let answer = common::post(addr, "/m", "through-the-broker", "");
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert_eq!(next_text(&mut socket), "through-the-broker");

    // Remove it: its client is told to come back, the broker sees its sessions end.
    let config = for_running(&gateway, start);
    let report = gateway.apply(config).expect("remove accepted");
    assert_eq!(report.removed, ["mqtt-api"]);
    let (code, _) = close_frame(&mut socket);
    assert_eq!(code, CloseCode::Again);
    assert_eq!(status(addr, "/m"), 404);
    assert!(
        eventually(WAIT, || broker.established_connections() == 0),
        "the removed API's broker connections closed: {} left",
        broker.established_connections()
    );
    assert!(
        eventually(WAIT, || broker.log_count("disconnected.") >= 2
            || broker.log_count("Received DISCONNECT") >= 2),
        "DISCONNECT sent; broker log:\n{}",
        broker.log()
    );
    assert_eq!(metric(&gateway, |m| &m.mqtt_connections_connected), 0);

    // The other API was not touched.
    let answer = common::post(addr, "/other", "still-flowing", "");
    assert_eq!(answer.status, 202);
    let text = read_sse_until(&mut other_sse, |text| text.contains("still-flowing"));
    assert!(text.contains("still-flowing"), "{text}");
}
on_both_drivers!(mqtt_api_deployed_then_removed, deploy_and_remove_mqtt_api);
