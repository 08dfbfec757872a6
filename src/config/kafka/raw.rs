//! The `type: kafka` configuration's YAML shape (camelCase, unknown keys rejected, defaults).

use crate::config::Secret;
use serde::Deserialize;

/// Node buffer of a consumed feed, per feed (every partition of its topics together).
const DEFAULT_MAX_RETAINED_MESSAGES: usize = 10_000;
const DEFAULT_MAX_RETAINED_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Subscription consumer groups one node keeps joined per API (`groupScope: subscription`).
const DEFAULT_MAX_SUBSCRIPTION_GROUPS: usize = 100;
/// Catch-up readers (replays from before the node buffer) one node runs per feed at once.
const DEFAULT_MAX_CATCH_UPS: usize = 64;
/// How long a fetch waits for the slowest reader to make room in the buffer.
const DEFAULT_PACE_WAIT_MS: u64 = 5000;
/// How long a subscription's group stays joined after its last client left (polls come back).
const DEFAULT_SUBSCRIPTION_IDLE_TIMEOUT_MS: u64 = 60_000;
/// How long the group coordinator keeps a member it no longer hears from (its partitions wait).
pub(crate) const DEFAULT_SESSION_TIMEOUT_MS: u64 = 10_000;

/// `type: kafka` configuration, as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the kafka configuration mapping"
)]
pub(crate) struct RawKafka {
    /// `host:port`, several joined by `,`.
    #[serde(default)]
    pub bootstrap_servers: String,
    #[serde(default)]
    pub security: RawSecurity,
    #[serde(default)]
    pub consumer: RawConsumer,
    #[serde(default)]
    pub producer: RawProducer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "`{ protocol, sasl, ssl }`")]
pub(crate) struct RawSecurity {
    pub protocol: String,
    pub sasl: Option<RawSasl>,
    pub ssl: Option<RawSsl>,
}

impl Default for RawSecurity {
    fn default() -> Self {
        RawSecurity {
            protocol: "PLAINTEXT".to_owned(),
            sasl: None,
            ssl: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "`{ trustStore: { type: PEM, path | content }, keyStore?: { type: PEM, certPath | certContent, keyPath | keyContent } }`"
)]
pub(crate) struct RawSsl {
    pub trust_store: RawTrustStore,
    /// The client certificate, for brokers that require one.
    pub key_store: Option<RawKeyStore>,
}

/// `keyStore` as written: PEM halves by path or content, or a PKCS12/JKS store (refused with
/// how to convert it).
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "`{ type: PEM, certPath: FILE, keyPath: FILE }` or `{ type: PEM, certContent: PEM text, keyContent: PEM text }`"
)]
pub(crate) struct RawKeyStore {
    #[serde(rename = "type", default = "pem")]
    pub kind: String,
    pub cert_path: Option<String>,
    pub cert_content: Option<String>,
    pub key_path: Option<String>,
    pub key_content: Option<Secret>,
    /// PKCS12/JKS keys, accepted only to explain they need converting.
    pub path: Option<String>,
    pub content: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "`{ type: PEM, path: FILE }` or `{ type: PEM, content: PEM text }`"
)]
pub(crate) struct RawTrustStore {
    #[serde(rename = "type", default = "pem")]
    pub kind: String,
    pub path: Option<String>,
    pub content: Option<String>,
}

fn pem() -> String {
    "PEM".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "`{ mechanism, username, password }`")]
pub(crate) struct RawSasl {
    pub mechanism: String,
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the kafka consumer mapping"
)]
pub(crate) struct RawConsumer {
    pub enabled: bool,
    pub topics: Vec<String>,
    pub topic_pattern: Option<String>,
    pub auto_offset_reset: String,
    pub encode_message_id: bool,
    pub group_id: Option<String>,
    pub group_scope: String,
    pub max_subscription_groups: usize,
    pub subscription_idle_timeout_ms: u64,
    pub session_timeout_ms: u64,
    pub max_retained_messages: usize,
    pub max_retained_bytes: usize,
    pub max_catch_ups: usize,
    pub pace_wait_ms: u64,
}

impl Default for RawConsumer {
    fn default() -> Self {
        RawConsumer {
            enabled: false,
            topics: Vec::new(),
            topic_pattern: None,
            auto_offset_reset: "latest".to_owned(),
            encode_message_id: true,
            group_id: None,
            group_scope: "api".to_owned(),
            max_subscription_groups: DEFAULT_MAX_SUBSCRIPTION_GROUPS,
            subscription_idle_timeout_ms: DEFAULT_SUBSCRIPTION_IDLE_TIMEOUT_MS,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            max_retained_messages: DEFAULT_MAX_RETAINED_MESSAGES,
            max_retained_bytes: DEFAULT_MAX_RETAINED_BYTES,
            max_catch_ups: DEFAULT_MAX_CATCH_UPS,
            pace_wait_ms: DEFAULT_PACE_WAIT_MS,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the kafka producer mapping"
)]
pub(crate) struct RawProducer {
    pub enabled: bool,
    pub topics: Vec<String>,
    pub compression_type: String,
    pub request_timeout_ms: u64,
}

impl Default for RawProducer {
    fn default() -> Self {
        RawProducer {
            enabled: false,
            topics: Vec::new(),
            compression_type: "none".to_owned(),
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
        }
    }
}
