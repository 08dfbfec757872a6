//! An MQTT 5 broker that sends UNSUBSCRIBE (a client-to-server packet) is disconnected like for
//! any packet a client never expects, and the gateway writes nothing to stderr about it. Before,
//! the packet went through mqttbytes' UNSUBSCRIBE reader, whose stray `dbg!` printed
//! `[…/v5/unsubscribe.rs:47:9] pkid = …` on the gateway's stderr for every such packet (found
//! by the `mqtt` fuzz target, whose captured output grew). Runs the real binary to see stderr.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::fake_mqtt::{FakeBroker, Script};
use common::mqtt_api::WAIT;
use common::*;
use tidegate::config::DriverChoice;

/// UNSUBSCRIBE (MQTT 5): packet id 1, no properties, filter `t`.
const UNSUBSCRIBE: [u8; 8] = [0xa2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b't'];

fn publish(payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x30, (4 + payload.len()) as u8, 0x00, 0x01, b't', 0x00];
    packet.extend_from_slice(payload);
    packet
}

fn unsubscribe_from_the_broker_is_refused_quietly(driver: DriverChoice) {
    let broker = FakeBroker::start(Script::sending_after_suback(
        |connection| match connection {
            0 => UNSUBSCRIBE.to_vec(),
            _ => publish(b"fresh"),
        },
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = match driver {
        DriverChoice::Epoll => "epoll",
        _ => "io-uring",
    };
    let yaml = format!(
        r#"
gateway:
  listen: "127.0.0.1:{port}"
  adminListen: off
  shards: 1
  pinShards: false
  driver: {driver}
apis:
  - id: mqtt-api
    name: MQTT API
    contextPaths: [/m]
    entrypoints:
      - type: sse
    endpoint:
      type: mqtt5
      configuration:
        serverHost: 127.0.0.1
        serverPort: {broker_port}
        reconnectBackoffMs: 100
        keepAliveSeconds: 0
        consumer:
          topic: t
          qos: 0
    plans:
      - name: Keyless
        security: keyless
"#,
        broker_port = broker.port
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["run", "-c"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gateway starts");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let up = eventually(WAIT, || std::net::TcpStream::connect(addr).is_ok());

    let delivered = up && {
        let (head, mut sse) = open_sse(addr, "/m", &[]);
        head.status == 200
            && read_sse_until(&mut sse, |t| t.contains("data: fresh")).contains("data: fresh")
    };
    let _ = gateway.kill();
    let _ = gateway.wait();
    let mut stderr = String::new();
    gateway
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(up, "the gateway did not listen: {stderr}");
    assert!(
        delivered,
        "no message after the broker's UNSUBSCRIBE: {stderr}"
    );
    assert!(
        broker.seen().closed >= 1,
        "the connection that sent UNSUBSCRIBE was kept"
    );
    assert!(
        !stderr.contains("pkid ="),
        "the gateway printed debug output:\n{stderr}"
    );
}

on_both_drivers!(
    unsubscribe_from_the_broker_is_refused_quietly,
    unsubscribe_from_the_broker_is_refused_quietly
);
