//! The YAML shape of a `type: mqtt5` endpoint: serde structs with their defaults. The head
//! lists `tls`, `consumer` and `producer` as `IgnoredAny`: they are decoded as sections of
//! their own (see `mod.rs`).

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

pub(super) mod defaults {
    pub(crate) const SERVER_PORT: u64 = 1883;
    pub(crate) const KEEP_ALIVE_SECONDS: u64 = 30;
    pub(crate) const SESSION_EXPIRY_INTERVAL: u64 = 86_400;
    pub(crate) const RECONNECT_BACKOFF_MS: u64 = 500;
    pub(crate) const RECONNECT_BACKOFF_MAX_MS: u64 = 30_000;
    pub(crate) const CONNECT_TIMEOUT_MS: u64 = 10_000;
    pub(crate) const MAX_PACKET_BYTES: usize = 1024 * 1024;
    pub(crate) const QOS: u64 = 1;
    pub(crate) const MAX_RETAINED_MESSAGES: usize = 10_000;
    pub(crate) const MAX_RETAINED_BYTES: usize = 16 * 1024 * 1024;
    pub(crate) const UNSUBSCRIBE_DELAY_MS: u64 = 30_000;
    pub(crate) const ACK_TIMEOUT_MS: u64 = 10_000;
    pub(crate) const MAX_IN_FLIGHT: usize = 1_000;
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the mqtt5 configuration mapping"
)]
pub(super) struct RawMqtt {
    pub(super) server_host: Option<String>,
    pub(super) server_port: u64,
    /// `5` or `3.1.1`; a number or a string in YAML, so kept loose.
    pub(super) protocol_version: Value,
    pub(super) client_id: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<crate::config::Secret>,
    pub(super) keep_alive_seconds: u64,
    /// `None`: not in the file (the default depends on the client id: `sessions.rs`).
    pub(super) clean_start: Option<bool>,
    pub(super) session_expiry_interval: u64,
    pub(super) reconnect_attempts: i64,
    pub(super) reconnect_backoff_ms: u64,
    pub(super) reconnect_backoff_max_ms: u64,
    pub(super) connect_timeout_ms: u64,
    pub(super) max_packet_bytes: usize,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub(super) tls: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub(super) consumer: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub(super) producer: Option<IgnoredAny>,
}

impl Default for RawMqtt {
    fn default() -> Self {
        RawMqtt {
            server_host: None,
            server_port: defaults::SERVER_PORT,
            protocol_version: Value::from(5),
            client_id: None,
            username: None,
            password: None,
            keep_alive_seconds: defaults::KEEP_ALIVE_SECONDS,
            clean_start: None,
            session_expiry_interval: defaults::SESSION_EXPIRY_INTERVAL,
            reconnect_attempts: -1,
            reconnect_backoff_ms: defaults::RECONNECT_BACKOFF_MS,
            reconnect_backoff_max_ms: defaults::RECONNECT_BACKOFF_MAX_MS,
            connect_timeout_ms: defaults::CONNECT_TIMEOUT_MS,
            max_packet_bytes: defaults::MAX_PACKET_BYTES,
            tls: None,
            consumer: None,
            producer: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the tls mapping `{ enabled, caFile, insecureSkipVerify, certFile, keyFile }`"
)]
pub(super) struct RawTls {
    pub(super) enabled: bool,
    pub(super) ca_file: Option<String>,
    pub(super) insecure_skip_verify: bool,
    /// Client certificate (chain), PEM, with `key_file`.
    pub(super) cert_file: Option<String>,
    /// The client certificate's private key, PEM.
    pub(super) key_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the consumer mapping"
)]
pub(super) struct RawConsumer {
    pub(super) enabled: bool,
    pub(super) topic: Option<String>,
    pub(super) qos: u64,
    pub(super) group: Option<String>,
    pub(super) max_retained_messages: usize,
    pub(super) max_retained_bytes: usize,
    pub(super) unsubscribe_delay_ms: u64,
}

impl Default for RawConsumer {
    fn default() -> Self {
        RawConsumer {
            enabled: true,
            topic: None,
            qos: defaults::QOS,
            group: None,
            max_retained_messages: defaults::MAX_RETAINED_MESSAGES,
            max_retained_bytes: defaults::MAX_RETAINED_BYTES,
            unsubscribe_delay_ms: defaults::UNSUBSCRIBE_DELAY_MS,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the producer mapping"
)]
pub(super) struct RawProducer {
    pub(super) enabled: bool,
    pub(super) topic: Option<String>,
    pub(super) qos: u64,
    pub(super) retained: bool,
    pub(super) message_expiry_interval: i64,
    pub(super) allow_topic_from_request: bool,
    pub(super) ack_timeout_ms: u64,
    pub(super) max_in_flight: usize,
}

impl Default for RawProducer {
    fn default() -> Self {
        RawProducer {
            enabled: true,
            topic: None,
            qos: defaults::QOS,
            retained: false,
            message_expiry_interval: -1,
            allow_topic_from_request: false,
            ack_timeout_ms: defaults::ACK_TIMEOUT_MS,
            max_in_flight: defaults::MAX_IN_FLIGHT,
        }
    }
}
