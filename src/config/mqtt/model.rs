//! The typed options of a `type: mqtt5` endpoint, as the rest of the gateway sees them.

use std::time::Duration;

/// The connection to the broker, shared by the consumer and producer sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttOptions {
    /// Host name or IP address of the broker.
    pub server_host: String,
    /// `serverPort` (default 1883): the broker's TCP port.
    pub server_port: u16,
    /// `protocolVersion` (default `5`): the protocol level spoken to the broker.
    pub protocol: MqttProtocol,
    /// Base client id; each shard connects as `<clientId>-<shard>`. Without `clientId` in the
    /// file it is `tidegate-<gateway.nodeId>-<api id>` when the gateway has a node id, else `None`:
    /// generated per process (`tidegate-<api id>-<shard>-<random>`), and then the session is never
    /// kept past the connection (`config::mqtt::sessions`).
    pub client_id: Option<String>,
    /// `username`: sent in CONNECT when set.
    pub username: Option<String>,
    /// `password` (only with `username`): sent in CONNECT, never logged.
    pub password: Option<super::super::Secret>,
    /// PINGREQ interval; zero turns keep-alive off.
    pub keep_alive: Duration,
    /// `cleanStart` (default `false` with a stable client id, else `true`): `false` resumes the
    /// broker session (subscriptions, queued QoS 1 messages) across reconnects and restarts.
    pub clean_start: bool,
    /// Whether the file set `cleanStart` (the session rule tells a choice from the default).
    pub clean_start_given: bool,
    /// MQTT 5 only: how long the broker keeps the session after a disconnect, in seconds.
    pub session_expiry_interval_s: u32,
    /// Reconnects after a lost or failed connection before giving up; `None` = forever.
    pub reconnect_attempts: Option<u32>,
    /// First pause before a reconnect; doubled after each failure up to `reconnect_backoff_max`.
    pub reconnect_backoff: Duration,
    /// `reconnectBackoffMaxMs` (default 30 s): the longest pause between reconnects.
    pub reconnect_backoff_max: Duration,
    /// Time allowed for TCP connect + CONNACK.
    pub connect_timeout: Duration,
    /// Largest packet accepted from the broker (announced to MQTT 5 brokers).
    pub max_packet_bytes: usize,
    /// `consumer`, when present and enabled: messages from the broker to clients.
    pub consumer: Option<MqttConsumerOptions>,
    /// `producer`, when present and enabled: messages from clients to the broker.
    pub producer: Option<MqttProducerOptions>,
    /// TLS to the broker, when `tls.enabled`.
    pub tls: Option<MqttTlsOptions>,
}

/// Protocol level spoken to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttProtocol {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.
    V5,
}

/// Messages from the broker to the gateway's clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConsumerOptions {
    /// Topic filter; `+` and `#` allowed.
    pub topic: String,
    /// 0 or 1.
    pub qos: u8,
    /// Shared-subscription group: subscribes to `$share/<group>/<topic>`.
    pub group: Option<String>,
    /// `maxRetainedMessages` (default 10000): messages the node's subscription keeps for
    /// resume (one ring per node, read by every shard).
    pub max_retained_messages: usize,
    /// `maxRetainedBytes` (default 16 MiB): payload bytes that ring keeps; a larger message is
    /// dropped and counted.
    pub max_retained_bytes: usize,
    /// How long the broker subscription outlives its last local client.
    pub unsubscribe_delay: Duration,
    /// QoS 1: send PUBACK only once every local client due the message has been written it
    /// (an entrypoint of the API has `qos: at-least-once`), instead of once it is in the ring.
    pub acknowledge_after_delivery: bool,
}

impl MqttConsumerOptions {
    /// The filter sent in SUBSCRIBE (with the shared-subscription prefix when grouped).
    pub fn subscribe_filter(&self) -> String {
        match &self.group {
            Some(group) => format!("$share/{group}/{}", self.topic),
            None => self.topic.clone(),
        }
    }
}

/// Messages from the gateway's clients to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttProducerOptions {
    /// Topic name (no wildcards).
    pub topic: String,
    /// 0 or 1.
    pub qos: u8,
    /// `retained` (default `false`): published messages carry the retain flag.
    pub retained: bool,
    /// MQTT 5 only; `None` = the message never expires.
    pub message_expiry_interval_s: Option<u32>,
    /// A request may choose the topic with `?topic=` or an `X-Topic` header.
    pub allow_topic_from_request: bool,
    /// How long a QoS 1 publish waits for its PUBACK before the client gets 503.
    pub ack_timeout: Duration,
    /// Bound on publishes awaiting PUBACK per connection; over it, 503.
    pub max_in_flight: usize,
}

/// `tls` of an MQTT endpoint: how the broker's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTlsOptions {
    /// PEM file of the CA certificates to trust (checked to parse at load); `None` = the Mozilla
    /// root set (webpki-roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any certificate (tests and lab brokers only: no protection against interception).
    pub insecure_skip_verify: bool,
    /// `certFile` + `keyFile`: the client certificate presented when the broker asks for one
    /// (read and checked at load).
    pub client_identity: Option<crate::config::ClientIdentity>,
}
