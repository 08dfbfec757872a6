//! The validated, typed configuration the rest of the gateway uses.
//!
//! Values here have passed validation: durations are `Duration`, addresses are `SocketAddr`,
//! sizes are at least 1, context paths are well formed and unique. Code outside `config` trusts
//! them and never re-checks.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

pub use super::applications::ApplicationConfig;
use super::defaults;
pub use super::plan::{ApiKeyPlanOptions, PlanConfig, PlanSecurity, PlanStatus, PlanValidation};
use super::rate_limit::RateLimitConfig;
pub use super::subscriptions::{ApiKeyConfig, KeyHash, SubscriptionConfig, SubscriptionStatus};
use super::tls_listener::TlsListenerConfig;

/// The whole configuration: gateway-wide settings and the APIs it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `gateway:` (optional, every key defaulted): listeners, limits, timeouts, logs.
    pub gateway: GatewayConfig,
    /// May be empty: the gateway then answers 404 on every path.
    pub apis: Vec<ApiConfig>,
    /// Consumers of the APIs (`applications:`).
    pub applications: Vec<ApplicationConfig>,
    /// Which application may use which API through which plan (`subscriptions:`).
    pub subscriptions: Vec<SubscriptionConfig>,
    /// `management:`: the store holds APIs, applications and subscriptions (`None`: the file).
    pub management: Option<super::management::ManagementConfig>,
}

/// Settings of the gateway process itself (the `gateway:` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// `listen` (default `0.0.0.0:8082`): the plaintext data-path listener every shard accepts on.
    pub listen: SocketAddr,
    /// Where the admin endpoint (`/metrics`, `/health`) listens; `None` = disabled.
    pub admin_listen: Option<SocketAddr>,
    /// Number of shards (threads); `None` = one per available core.
    pub shards: Option<NonZeroUsize>,
    /// `driver` (default `auto`): the I/O driver of every shard's runtime.
    pub driver: DriverChoice,
    /// Pin each shard's thread to one core.
    pub pin_shards: bool,
    /// This gateway's stable name among its peers (`[a-zA-Z0-9._-]`, 1 to 64 characters): MQTT
    /// client ids derive from it, so broker sessions survive a restart instead of piling up.
    pub node_id: Option<String>,
    /// `gateway.limits`: bounds on request heads, bodies, connections and WebSocket messages.
    pub limits: Limits,
    /// `gateway.outbound`: each client's outbound queue bound and slow-client policy.
    pub outbound: OutboundConfig,
    /// `gateway.timeouts`: every deadline a connection is held to.
    pub timeouts: Timeouts,
    /// Where rate-limit counters live (`gateway.rateLimit`).
    pub rate_limit: RateLimitConfig,
    /// The TLS listener (`gateway.tls`), served next to `listen`.
    pub tls: Option<TlsListenerConfig>,
    /// `gateway.accessLog`.
    pub access_log: super::access_log::AccessLogConfig,
    /// `gateway.webhook` (the callbacks' SSRF allow-list).
    pub webhook: super::webhook::WebhookGatewayConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: defaults::LISTEN,
            admin_listen: Some(defaults::ADMIN_LISTEN),
            shards: None,
            driver: DriverChoice::Auto,
            pin_shards: defaults::PIN_SHARDS,
            node_id: None,
            limits: Limits::default(),
            outbound: OutboundConfig::default(),
            timeouts: Timeouts::default(),
            rate_limit: RateLimitConfig::default(),
            tls: None,
            access_log: Default::default(),
            webhook: Default::default(),
        }
    }
}

/// Which I/O driver each shard's runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriverChoice {
    /// io_uring where the kernel allows it, epoll otherwise (e.g. under Docker's seccomp profile).
    Auto,
    /// io_uring or fail at startup.
    IoUring,
    /// epoll always (to compare; `auto` already falls back to it where io_uring is refused).
    Epoll,
}

/// Bounds on what one client may send or hold; every one is at least 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line + headers); at least 1024.
    pub max_header_bytes: usize,
    /// `maxHeaderCount` (default 64): most headers in one request head (431 beyond).
    pub max_header_count: usize,
    /// `maxBodyBytes` (default 1 MiB): largest request body; a larger one is refused before
    /// it reaches the endpoint.
    pub max_body_bytes: usize,
    /// `maxConnectionsPerShard` (default 65536): open connections one shard holds; one more is
    /// closed at once, unanswered.
    pub max_connections_per_shard: usize,
    /// Largest single WebSocket frame payload; never above `ws_max_message_bytes`.
    pub ws_max_frame_bytes: usize,
    /// Largest reassembled WebSocket message.
    pub ws_max_message_bytes: usize,
    /// Most payload bytes of unfinished WebSocket messages one shard holds, all its connections
    /// together; never below `ws_max_message_bytes`.
    pub ws_max_partial_bytes_per_shard: usize,
    /// Most bytes of HTTP GET replies being written at once on one shard (framing plus the
    /// payloads they reference); beyond it a poll gets a smaller batch, or 503.
    pub max_get_reply_bytes_per_shard: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
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

/// The bound of each client's outbound queue and what happens when a client hits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// `maxQueuedMessages` (default 1024): messages one client's queue holds.
    pub max_queued_messages: usize,
    /// `maxQueuedBytes` (default 4 MiB): payload bytes one client's queue holds; whichever
    /// bound is reached first applies.
    pub max_queued_bytes: usize,
    /// `slowClientPolicy` (default `drop-oldest`): what a full queue does.
    pub slow_client_policy: SlowClientPolicy,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            max_queued_messages: defaults::MAX_QUEUED_MESSAGES,
            max_queued_bytes: defaults::MAX_QUEUED_BYTES,
            slow_client_policy: SlowClientPolicy::DropOldest,
        }
    }
}

/// What a full outbound queue does with the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlowClientPolicy {
    /// Drop the oldest queued message; the client sees a gap in ids.
    DropOldest,
    /// Close the connection (with the last delivered id, so the client can resume).
    Disconnect,
}

/// Time limits; every one is at least 1 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Time allowed to receive a complete request head.
    pub header_read: Duration,
    /// Idle time before a keep-alive connection is closed.
    pub keep_alive_idle: Duration,
    /// `wsPingIntervalMs` (default 30 s): how often an open WebSocket is pinged.
    pub ws_ping_interval: Duration,
    /// Time a WebSocket client gets to finish a message it has begun (all its fragments).
    pub ws_message_read: Duration,
    /// `wsHibernateMs` (default 1 s; 0 = never): a plain-TCP WebSocket with nothing to write and
    /// a silent client for this long gives up its tasks and waits as plain state
    /// (`entrypoint::websocket::hibernate`). `None` when 0.
    pub ws_hibernate: Option<Duration>,
    /// `sseHibernateMs` (default 1 s; 0 = never): the same for a plain-TCP SSE stream with
    /// nothing to write (`entrypoint::sse::hibernate`). `None` when 0.
    pub sse_hibernate: Option<Duration>,
    /// Time connections get to drain at shutdown before they are cut.
    pub shutdown: Duration,
    /// A WebSocket or SSE write that makes no progress (no byte accepted) for this long ends
    /// the stream, after a best-effort close 1013 / `goaway` with the resume position.
    pub stream_stall: Duration,
    /// The same for an HTTP answer (GET batch, POST acknowledgement, errors): shorter, since a
    /// stalled GET reply holds part of the shard's reply budget.
    pub reply_stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_millis(defaults::HEADER_READ_MS),
            keep_alive_idle: Duration::from_millis(defaults::KEEP_ALIVE_IDLE_MS),
            ws_ping_interval: Duration::from_millis(defaults::WS_PING_INTERVAL_MS),
            ws_message_read: Duration::from_millis(defaults::WS_MESSAGE_READ_MS),
            ws_hibernate: Some(Duration::from_millis(defaults::WS_HIBERNATE_MS)),
            sse_hibernate: Some(Duration::from_millis(defaults::SSE_HIBERNATE_MS)),
            shutdown: Duration::from_millis(defaults::SHUTDOWN_MS),
            stream_stall: Duration::from_millis(defaults::STREAM_STALL_MS),
            reply_stall: Duration::from_millis(defaults::REPLY_STALL_MS),
        }
    }
}

/// One message API: where clients reach it, how, and where its messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Unique, `[a-zA-Z0-9._-]+`.
    pub id: String,
    /// `name` (required): human-readable, non-empty; ids, not names, identify the API.
    pub name: String,
    /// `state` (default `started`): whether the API receives traffic.
    pub state: ApiState,
    /// At least one; each path starts with `/`, and no (host, path) belongs to two APIs.
    pub context_paths: Vec<super::ContextPath>,
    /// At least one, at most one of each kind.
    pub entrypoints: Vec<EntrypointConfig>,
    /// `endpoint`: where the API's messages come from and go to.
    pub endpoint: EndpointConfig,
    /// At least one.
    pub plans: Vec<PlanConfig>,
    /// `cors:` when enabled; `None` = no CORS answers (cross-origin pages cannot read replies).
    pub cors: Option<super::CorsConfig>,
    /// `accessLog.enabled`: its requests are written to the access log (when that is enabled).
    pub access_log: bool,
}

/// A stopped API is validated and keeps its context paths reserved, but receives no traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiState {
    /// `started` (the default): routed and served.
    Started,
    /// `stopped`: its paths answer as if no API served them, yet no other API may take them.
    Stopped,
}

/// How clients receive messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntrypointConfig {
    /// `type: http-get`: batch poll of the messages since a cursor.
    HttpGet(HttpGetOptions),
    /// `type: http-post`: each request body published as one message.
    HttpPost(HttpPostOptions),
    /// `type: websocket`: a session that receives and/or publishes messages.
    WebSocket(WebSocketOptions),
    /// `type: sse`: a Server-Sent Events stream of messages.
    Sse(SseOptions),
    /// Push subscriptions delivered to callbacks (no client connection).
    Webhook(super::webhook::WebhookOptions),
}

impl EntrypointConfig {
    /// The YAML `type` of this entrypoint, e.g. `http-get`.
    pub fn type_name(&self) -> &'static str {
        match self {
            EntrypointConfig::HttpGet(_) => "http-get",
            EntrypointConfig::HttpPost(_) => "http-post",
            EntrypointConfig::WebSocket(_) => "websocket",
            EntrypointConfig::Sse(_) => "sse",
            EntrypointConfig::Webhook(_) => "webhook",
        }
    }
}

/// HTTP GET batch poll: a request returns when `messages_limit_count` messages are gathered or
/// `messages_limit_duration` has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGetOptions {
    /// `messagesLimitCount` (default 500): most messages in one answer (`?limit=` may lower it).
    pub messages_limit_count: usize,
    /// `messagesLimitDurationMs` (default 5 s): longest a poll waits for messages.
    pub messages_limit_duration: Duration,
    /// `headersInPayload` (default `false`): each item carries its message's headers.
    pub headers_in_payload: bool,
    /// `metadataInPayload` (default `false`): each item carries its message's metadata.
    pub metadata_in_payload: bool,
}

impl Default for HttpGetOptions {
    fn default() -> Self {
        HttpGetOptions {
            messages_limit_count: defaults::MESSAGES_LIMIT_COUNT,
            messages_limit_duration: Duration::from_millis(defaults::MESSAGES_LIMIT_DURATION_MS),
            headers_in_payload: defaults::HEADERS_IN_PAYLOAD,
            metadata_in_payload: defaults::METADATA_IN_PAYLOAD,
        }
    }
}

/// HTTP POST: each request body is one message published to the endpoint.
///
/// Allowed with any endpoint; one that cannot take messages (Mock) is answered 405 at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPostOptions {
    /// Copy the request's end-to-end headers into the message's headers (otherwise the message
    /// has none); credentials and hop-by-hop headers stay behind (`entrypoint::message_headers`).
    pub request_headers_to_message: bool,
    /// Credential headers copied all the same (lower case; each one of
    /// `entrypoint::message_headers::CREDENTIAL_HEADERS`): the subscribers are trusted with them.
    pub credential_headers_to_message: Vec<String>,
}

impl Default for HttpPostOptions {
    fn default() -> Self {
        HttpPostOptions {
            request_headers_to_message: defaults::REQUEST_HEADERS_TO_MESSAGE,
            credential_headers_to_message: Vec::new(),
        }
    }
}

/// WebSocket; at least one direction is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketOptions {
    /// Clients may send messages to the endpoint.
    pub publisher_enabled: bool,
    /// Clients receive the endpoint's messages.
    pub subscriber_enabled: bool,
    /// Origins whose pages may upgrade, as configured (`allowedOrigins`); `None` = the API's
    /// CORS origins when CORS is on, else any.
    pub allowed_origins: Option<super::AllowOrigin>,
    /// Subprotocols the gateway agrees to, the client's first match chosen (empty: none).
    pub subprotocols: Vec<String>,
    /// permessage-deflate, when enabled.
    pub per_message_deflate: Option<super::websocket::DeflateOptions>,
    /// A text message `{"type":"auth","token":"<JWT>"}` renews the session's bearer token
    /// instead of being published (JWT plans; `crate::security::jwt::refresh_message`).
    pub token_refresh: bool,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            publisher_enabled: defaults::PUBLISHER_ENABLED,
            subscriber_enabled: defaults::SUBSCRIBER_ENABLED,
            allowed_origins: None,
            subprotocols: Vec::new(),
            per_message_deflate: None,
            token_refresh: false,
        }
    }
}

/// Server-Sent Events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseOptions {
    /// A heartbeat comment is written when nothing else was in this interval; at least 2 s.
    pub heartbeat_interval: Duration,
    /// `metadataAsComment` (default `false`): each event is preceded by its metadata as comments.
    pub metadata_as_comment: bool,
    /// `headersAsComment` (default `false`): each event is preceded by its headers as comments.
    pub headers_as_comment: bool,
}

impl Default for SseOptions {
    fn default() -> Self {
        SseOptions {
            heartbeat_interval: Duration::from_millis(defaults::HEARTBEAT_INTERVAL_IN_MS),
            metadata_as_comment: defaults::METADATA_AS_COMMENT,
            headers_as_comment: defaults::HEADERS_AS_COMMENT,
        }
    }
}

/// Where messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointConfig {
    /// `type: mock`: a generated stream per client; takes no published messages.
    Mock(MockOptions),
    /// `type: in-memory`: a topic held by the gateway itself.
    InMemory(InMemoryOptions),
    /// Each WebSocket connection's own messages, sent back to it (no settings).
    Echo,
    /// An MQTT broker (3.1.1 or 5).
    Mqtt(Box<super::mqtt::MqttOptions>),
    /// A Kafka cluster.
    Kafka(Box<super::kafka::KafkaOptions>),
}

/// The Mock endpoint: a generated stream per consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockOptions {
    /// Time between two messages; at least 1 ms.
    pub message_interval: Duration,
    /// `messageContent` (default `mock message`): the payload of every message.
    pub message_content: Bytes,
    /// Messages per stream; `None` = unlimited.
    pub message_count: Option<u64>,
    /// Sorted by name (the YAML mapping's order is not kept).
    pub headers: Vec<(String, String)>,
    /// Sorted by name (the YAML mapping's order is not kept).
    pub metadata: Vec<(String, String)>,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            message_interval: Duration::from_millis(defaults::MESSAGE_INTERVAL_MS),
            message_content: Bytes::from_static(defaults::MESSAGE_CONTENT.as_bytes()),
            message_count: None,
            headers: Vec::new(),
            metadata: Vec::new(),
        }
    }
}

/// The in-memory endpoint: a topic held by the gateway itself, with a bounded retention ring
/// from which subscribers replay and resume.
///
/// APIs naming the same `topic` share one ring, so validation guarantees they agree on both
/// bounds. Ids are positions in the topic, starting at 1; the oldest message is evicted first
/// when either bound is exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InMemoryOptions {
    /// `[a-zA-Z0-9._-]+`, 1 to 249 characters. Required in YAML: `Default` leaves it empty.
    pub topic: String,
    /// Messages kept for replay; at least 1.
    pub max_retained_messages: usize,
    /// Payload bytes kept for replay; at least 1.
    pub max_retained_bytes: usize,
}

impl Default for InMemoryOptions {
    /// The retention defaults with an empty (invalid) topic: set `topic` before use.
    fn default() -> Self {
        InMemoryOptions {
            topic: String::new(),
            max_retained_messages: defaults::MAX_RETAINED_MESSAGES,
            max_retained_bytes: defaults::MAX_RETAINED_BYTES,
        }
    }
}
