//! The YAML file's shape, as serde structs: camelCase keys, unknown keys rejected, explicit
//! defaults.
//!
//! Each struct is one *section* that is decoded on its own (see `sections.rs`), so one mistake
//! does not hide the others. A section's sub-sections appear here as `IgnoredAny`: listed so an
//! unknown key's message names every allowed key, but decoded separately from the tree.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

use super::defaults;
use super::model::{ApiState, DriverChoice, SlowClientPolicy};

/// The top level: only to reject unknown keys and require `apis`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with keys `gateway` (optional), `apis`, `applications` (optional), `subscriptions` (optional) and `management` (optional)"
)]
pub(crate) struct RawRoot {
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub gateway: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub apis: IgnoredAny,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub applications: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub subscriptions: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub management: Option<IgnoredAny>,
}

/// `gateway:` without its `limits`, `outbound` and `timeouts` sub-sections.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the gateway settings mapping"
)]
pub(crate) struct RawGateway {
    /// Kept as text so a bad address gets our own message.
    pub listen: String,
    pub admin_listen: RawAdminListen,
    pub shards: RawShards,
    pub driver: DriverChoice,
    pub pin_shards: bool,
    /// Kept as text so a bad id gets our own message.
    pub node_id: Option<String>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub limits: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub outbound: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub timeouts: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub rate_limit: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub tls: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub access_log: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    pub webhook: Option<IgnoredAny>,
}

impl Default for RawGateway {
    fn default() -> Self {
        RawGateway {
            listen: defaults::LISTEN.to_string(),
            admin_listen: RawAdminListen::Address(defaults::ADMIN_LISTEN.to_string()),
            shards: RawShards::Auto,
            driver: DriverChoice::Auto,
            pin_shards: defaults::PIN_SHARDS,
            node_id: None,
            limits: None,
            outbound: None,
            timeouts: None,
            rate_limit: None,
            tls: None,
            access_log: None,
            webhook: None,
        }
    }
}

/// `adminListen`: an address (kept as text for our own message), or `off` — which YAML reads as
/// the boolean `false`, so booleans are accepted (`true` = the default address).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "an IP address and port such as 127.0.0.1:18082, or `off`"
)]
pub(crate) enum RawAdminListen {
    /// `true` / `false` (`off`).
    Enabled(bool),
    /// An address, or the string `off`.
    Address(String),
}

/// `shards: auto` or a count (checked to be >= 1 by validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawShards {
    Auto,
    Count(u64),
}

impl<'de> Deserialize<'de> for RawShards {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShardsVisitor)
    }
}

struct ShardsVisitor;

impl Visitor<'_> for ShardsVisitor {
    type Value = RawShards;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`auto` or a number of shards (at least 1)")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<RawShards, E> {
        if text == "auto" {
            Ok(RawShards::Auto)
        } else {
            Err(E::invalid_value(de::Unexpected::Str(text), &self))
        }
    }

    fn visit_u64<E: de::Error>(self, count: u64) -> Result<RawShards, E> {
        Ok(RawShards::Count(count))
    }

    fn visit_i64<E: de::Error>(self, count: i64) -> Result<RawShards, E> {
        u64::try_from(count)
            .map(RawShards::Count)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(count), &self))
    }
}

/// `gateway.limits`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the limits mapping"
)]
pub(crate) struct RawLimits {
    pub max_header_bytes: usize,
    pub max_header_count: usize,
    pub max_body_bytes: usize,
    pub max_connections_per_shard: usize,
    pub ws_max_frame_bytes: usize,
    pub ws_max_message_bytes: usize,
    pub ws_max_partial_bytes_per_shard: usize,
    pub max_get_reply_bytes_per_shard: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_header_bytes: defaults::MAX_HEADER_BYTES,
            max_header_count: defaults::MAX_HEADER_COUNT,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            max_connections_per_shard: defaults::MAX_CONNECTIONS_PER_SHARD,
            ws_max_frame_bytes: defaults::WS_MAX_FRAME_BYTES,
            ws_max_message_bytes: defaults::WS_MAX_MESSAGE_BYTES,
            ws_max_partial_bytes_per_shard: defaults::WS_MAX_PARTIAL_BYTES_PER_SHARD,
            max_get_reply_bytes_per_shard: defaults::MAX_GET_REPLY_BYTES_PER_SHARD,
        }
    }
}

/// `gateway.outbound`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the outbound queue mapping"
)]
pub(crate) struct RawOutbound {
    pub max_queued_messages: usize,
    pub max_queued_bytes: usize,
    pub slow_client_policy: SlowClientPolicy,
}

impl Default for RawOutbound {
    fn default() -> Self {
        RawOutbound {
            max_queued_messages: defaults::MAX_QUEUED_MESSAGES,
            max_queued_bytes: defaults::MAX_QUEUED_BYTES,
            slow_client_policy: SlowClientPolicy::DropOldest,
        }
    }
}

/// `gateway.timeouts`, in milliseconds.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the timeouts mapping"
)]
pub(crate) struct RawTimeouts {
    pub header_read_ms: u64,
    pub keep_alive_idle_ms: u64,
    pub ws_ping_interval_ms: u64,
    pub ws_message_read_ms: u64,
    pub ws_hibernate_ms: u64,
    pub sse_hibernate_ms: u64,
    pub shutdown_ms: u64,
    pub stream_stall_ms: u64,
    pub reply_stall_ms: u64,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        RawTimeouts {
            header_read_ms: defaults::HEADER_READ_MS,
            keep_alive_idle_ms: defaults::KEEP_ALIVE_IDLE_MS,
            ws_ping_interval_ms: defaults::WS_PING_INTERVAL_MS,
            ws_message_read_ms: defaults::WS_MESSAGE_READ_MS,
            ws_hibernate_ms: defaults::WS_HIBERNATE_MS,
            sse_hibernate_ms: defaults::SSE_HIBERNATE_MS,
            shutdown_ms: defaults::SHUTDOWN_MS,
            stream_stall_ms: defaults::STREAM_STALL_MS,
            reply_stall_ms: defaults::REPLY_STALL_MS,
        }
    }
}

/// One entry of `apis:` without its `entrypoints`, `endpoint` and `plans` sub-sections.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "an API mapping (id, name, state, contextPaths, entrypoints, endpoint, plans, cors)"
)]
pub(crate) struct RawApi {
    pub id: String,
    pub name: String,
    #[serde(default = "default_api_state")]
    pub state: ApiState,
    /// Defaults to empty so the "at least one" rule, not serde, explains a missing list.
    #[serde(default)]
    pub context_paths: Vec<super::virtual_hosts::RawContextPath>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub entrypoints: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub endpoint: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub plans: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub cors: Option<IgnoredAny>,
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    #[serde(default)]
    pub access_log: Option<IgnoredAny>,
}

fn default_api_state() -> ApiState {
    ApiState::Started
}

/// An entrypoint or endpoint: a `type` and its optional `configuration`, decoded by type.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `type` and optional `configuration`"
)]
pub(crate) struct RawTyped {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub configuration: Option<serde_json::Value>,
}

/// An entrypoint: its `type`, the delivery guarantee it asks for (`qos`, as in the reference:
/// none | auto | at-most-once | at-least-once) and its `configuration`, decoded by type.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `type`, optional `qos` and optional `configuration`"
)]
pub(crate) struct RawEntrypoint {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub qos: EntrypointQos,
    #[serde(default)]
    pub configuration: Option<serde_json::Value>,
}

/// `qos` of an entrypoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum EntrypointQos {
    /// May lose messages.
    None,
    /// The endpoint decides (the default).
    #[default]
    Auto,
    /// Acknowledged upstream on receipt.
    AtMostOnce,
    /// Acknowledged upstream only after delivery to the clients.
    AtLeastOnce,
}

/// `type: http-get` configuration.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the http-get configuration mapping"
)]
pub(crate) struct RawHttpGet {
    pub messages_limit_count: usize,
    pub messages_limit_duration_ms: u64,
    pub headers_in_payload: bool,
    pub metadata_in_payload: bool,
}

impl Default for RawHttpGet {
    fn default() -> Self {
        RawHttpGet {
            messages_limit_count: defaults::MESSAGES_LIMIT_COUNT,
            messages_limit_duration_ms: defaults::MESSAGES_LIMIT_DURATION_MS,
            headers_in_payload: defaults::HEADERS_IN_PAYLOAD,
            metadata_in_payload: defaults::METADATA_IN_PAYLOAD,
        }
    }
}

/// `type: http-post` configuration.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the http-post configuration mapping"
)]
pub(crate) struct RawHttpPost {
    pub request_headers_to_message: bool,
    pub credential_headers_to_message: Vec<String>,
}

impl Default for RawHttpPost {
    fn default() -> Self {
        RawHttpPost {
            request_headers_to_message: defaults::REQUEST_HEADERS_TO_MESSAGE,
            credential_headers_to_message: Vec::new(),
        }
    }
}

/// `type: websocket` configuration.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the websocket configuration mapping"
)]
pub(crate) struct RawWebSocket {
    pub publisher: RawToggle,
    pub subscriber: RawToggle,
    /// Origins whose pages may open a WebSocket; absent = the API's CORS `allowOrigin`.
    #[serde(rename = "allowedOrigins")]
    pub allowed_origins: Option<super::origins::RawOrigins>,
    pub subprotocols: Vec<String>,
    pub per_message_deflate: super::websocket::RawPerMessageDeflate,
    /// `{"type":"auth","token":…}` text messages renew the session's JWT (docs/jwt.md).
    #[serde(rename = "tokenRefresh")]
    pub token_refresh: bool,
}

impl Default for RawWebSocket {
    fn default() -> Self {
        RawWebSocket {
            publisher: RawToggle {
                enabled: defaults::PUBLISHER_ENABLED,
            },
            subscriber: RawToggle {
                enabled: defaults::SUBSCRIBER_ENABLED,
            },
            allowed_origins: None,
            subprotocols: Vec::new(),
            per_message_deflate: Default::default(),
            token_refresh: false,
        }
    }
}

/// `{ enabled: bool }` (websocket publisher / subscriber).
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping `{ enabled: true|false }`"
)]
pub(crate) struct RawToggle {
    pub enabled: bool,
}

impl Default for RawToggle {
    /// A direction written as `{}` is enabled: only `enabled: false` turns it off.
    fn default() -> Self {
        RawToggle { enabled: true }
    }
}

/// `type: sse` configuration.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the sse configuration mapping"
)]
pub(crate) struct RawSse {
    pub heartbeat_interval_in_ms: u64,
    pub metadata_as_comment: bool,
    pub headers_as_comment: bool,
}

impl Default for RawSse {
    fn default() -> Self {
        RawSse {
            heartbeat_interval_in_ms: defaults::HEARTBEAT_INTERVAL_IN_MS,
            metadata_as_comment: defaults::METADATA_AS_COMMENT,
            headers_as_comment: defaults::HEADERS_AS_COMMENT,
        }
    }
}

/// `type: mock` endpoint configuration.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the mock configuration mapping"
)]
pub(crate) struct RawMock {
    /// Milliseconds between messages.
    pub message_interval: u64,
    pub message_content: String,
    pub message_count: Option<u64>,
    pub headers: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
}

impl Default for RawMock {
    fn default() -> Self {
        RawMock {
            message_interval: defaults::MESSAGE_INTERVAL_MS,
            message_content: defaults::MESSAGE_CONTENT.to_owned(),
            message_count: None,
            headers: BTreeMap::new(),
            metadata: BTreeMap::new(),
        }
    }
}

/// `type: in-memory` endpoint configuration.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the in-memory configuration mapping"
)]
pub(crate) struct RawInMemory {
    /// Required, but optional here so validation, not serde, explains a missing topic (and an
    /// absent `configuration` reaches the same explanation).
    pub topic: Option<String>,
    pub max_retained_messages: usize,
    pub max_retained_bytes: usize,
}

impl Default for RawInMemory {
    fn default() -> Self {
        RawInMemory {
            topic: None,
            max_retained_messages: defaults::MAX_RETAINED_MESSAGES,
            max_retained_bytes: defaults::MAX_RETAINED_BYTES,
        }
    }
}
