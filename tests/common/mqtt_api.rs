//! Helpers for the MQTT test files: an API over a test broker, WebSocket clients, waiting for
//! the gateway's broker subscription.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tidegate::metrics::{total, ShardMetrics};
use tidegate::runtime::Gateway;
use tungstenite::{Message, WebSocket};

use super::connect;
use super::eventually;
use super::mosquitto::Mosquitto;

pub type Client = WebSocket<TcpStream>;

pub const WAIT: Duration = Duration::from_secs(60);

/// An API on `/m` over the broker on `port`; `endpoint` is the rest of the endpoint
/// configuration (indented for `configuration:`).
pub fn api_yaml(port: u16, entrypoints: &str, endpoint: &str) -> String {
    format!(
        r#"
apis:
  - id: mqtt-api
    name: MQTT API
    contextPaths: [/m]
    entrypoints:
{entrypoints}
    endpoint:
      type: mqtt5
      configuration:
        serverHost: 127.0.0.1
        serverPort: {port}
        reconnectBackoffMs: 100
        reconnectBackoffMaxMs: 500
{endpoint}
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

pub const CONSUMING: &str = r#"      - type: http-get
        configuration:
          messagesLimitCount: 2
          messagesLimitDurationMs: 15000
          headersInPayload: true
          metadataInPayload: true
      - type: sse
      - type: websocket
        configuration:
          publisher: { enabled: false }"#;

/// A WebSocket entrypoint for subscribers only.
pub const WEBSOCKET_SUBSCRIBER: &str = r#"      - type: websocket
        configuration:
          publisher: { enabled: false }"#;

pub fn ws(addr: SocketAddr, path: &str) -> Client {
    tungstenite::client::client(format!("ws://{addr}{path}"), connect(addr))
        .expect("handshake")
        .0
}

pub fn next_text(socket: &mut Client) -> String {
    loop {
        match socket.read().expect("read") {
            Message::Text(text) => return text.to_string(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

pub fn metric(
    gateway: &Gateway,
    pick: impl Fn(&ShardMetrics) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    total(gateway.metrics(), pick)
}

/// Waits until every broker subscription the gateway holds has been granted by the broker.
pub fn wait_subscribed(gateway: &Gateway, broker: &Mosquitto) {
    assert!(
        eventually(WAIT, || {
            let subs = metric(gateway, |m| &m.mqtt_subscriptions_active) as usize;
            let granted = broker.log_count("Sending SUBACK to")
                - broker.log_count("Sending SUBACK to check-");
            subs > 0 && granted >= subs
        }),
        "the gateway did not subscribe; broker log:\n{}",
        broker.log()
    );
}
