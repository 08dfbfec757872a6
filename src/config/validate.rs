//! Semantic checks: decoded sections → typed values, recording every rule that is broken.
//!
//! Each function always returns a value (a broken one falls back to something harmless) so the
//! caller can carry on and find the next problem; `load_str` discards the result when any
//! problem was recorded, so a fallback is never served.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::Bytes;

use super::defaults;
use super::model::{
    GatewayConfig, HttpGetOptions, HttpPostOptions, InMemoryOptions, Limits, MockOptions,
    OutboundConfig, SseOptions, Timeouts, WebSocketOptions,
};
use super::problem::{join, Problems};
use super::raw::{
    RawAdminListen, RawGateway, RawHttpGet, RawHttpPost, RawInMemory, RawLimits, RawMock,
    RawOutbound, RawShards, RawSse, RawTimeouts, RawWebSocket,
};
use super::virtual_hosts::ContextPath;
use crate::entrypoint::message_headers::{is_hop_by_hop, CREDENTIAL_HEADERS};

const MS: &str = " (ms)";

/// `gateway:` itself; its sub-sections (`limits`, `outbound`, `timeouts`) are left at their
/// defaults for the caller to fill in.
pub(crate) fn gateway(raw: RawGateway, p: &mut Problems) -> GatewayConfig {
    let parsed_listen = raw.listen.parse::<SocketAddr>().ok();
    let listen = parsed_listen.unwrap_or_else(|| {
        p.push(
            "gateway.listen",
            format!(
                "'{}' is not an IP address and port; write e.g. 0.0.0.0:8082 or [::]:8082",
                raw.listen
            ),
        );
        defaults::LISTEN
    });
    // An address that did not parse is reported as such, not as a collision.
    let apart = |admin: SocketAddr, p: &mut Problems| {
        if let Some(listen) = parsed_listen {
            super::listeners::check_apart(listen, admin, p);
        }
        admin
    };
    let admin_listen = match &raw.admin_listen {
        RawAdminListen::Enabled(false) => None,
        RawAdminListen::Address(text) if text.trim() == "off" => None,
        RawAdminListen::Enabled(true) => Some(apart(defaults::ADMIN_LISTEN, p)),
        RawAdminListen::Address(text) => match text.parse::<SocketAddr>() {
            Ok(admin) => Some(apart(admin, p)),
            Err(_) => {
                p.push(
                    "gateway.adminListen",
                    format!(
                        "'{text}' is not an IP address and port; write e.g. 127.0.0.1:18082, or `off` to disable the admin endpoint"
                    ),
                );
                Some(defaults::ADMIN_LISTEN)
            }
        },
    };
    let shards = match raw.shards {
        RawShards::Auto => None,
        RawShards::Count(count) => {
            let count = usize::try_from(count).ok().and_then(NonZeroUsize::new);
            if count.is_none() {
                p.push(
                    "gateway.shards",
                    "must be `auto` or a number of shards of at least 1",
                );
            }
            count
        }
    };
    if let Some(id) = &raw.node_id {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if id.is_empty() || id.len() > 64 || !id.chars().all(valid_char) {
            p.push(
                "gateway.nodeId",
                format!(
                    "'{id}' must be 1 to 64 letters, digits, '.', '_' or '-' (e.g. the host or pod name)"
                ),
            );
        }
    }
    GatewayConfig {
        listen,
        admin_listen,
        shards,
        driver: raw.driver,
        pin_shards: raw.pin_shards,
        node_id: raw.node_id,
        ..GatewayConfig::default()
    }
}

pub(crate) fn limits(raw: RawLimits, loc: &str, p: &mut Problems) -> Limits {
    let min_header = defaults::MIN_MAX_HEADER_BYTES as u64;
    p.require_at_least(
        &join(loc, "maxHeaderBytes"),
        raw.max_header_bytes as u64,
        min_header,
        " (bytes)",
    );
    for (key, value) in [
        ("maxHeaderCount", raw.max_header_count),
        ("maxBodyBytes", raw.max_body_bytes),
        ("maxConnectionsPerShard", raw.max_connections_per_shard),
        ("wsMaxFrameBytes", raw.ws_max_frame_bytes),
        ("wsMaxMessageBytes", raw.ws_max_message_bytes),
        (
            "wsMaxPartialBytesPerShard",
            raw.ws_max_partial_bytes_per_shard,
        ),
        (
            "maxGetReplyBytesPerShard",
            raw.max_get_reply_bytes_per_shard,
        ),
    ] {
        p.require_at_least(&join(loc, key), value as u64, 1, "");
    }
    if raw.ws_max_frame_bytes > raw.ws_max_message_bytes {
        p.push(
            join(loc, "wsMaxFrameBytes"),
            format!(
                "must not exceed wsMaxMessageBytes ({}), got {}: a frame is part of a message",
                raw.ws_max_message_bytes, raw.ws_max_frame_bytes
            ),
        );
    }
    if raw.ws_max_partial_bytes_per_shard < raw.ws_max_message_bytes {
        p.push(
            join(loc, "wsMaxPartialBytesPerShard"),
            format!(
                "must be at least wsMaxMessageBytes ({}), got {}: a shard must be able to receive one message of the largest size",
                raw.ws_max_message_bytes, raw.ws_max_partial_bytes_per_shard
            ),
        );
    }
    Limits {
        max_header_bytes: raw.max_header_bytes,
        max_header_count: raw.max_header_count,
        max_body_bytes: raw.max_body_bytes,
        max_connections_per_shard: raw.max_connections_per_shard,
        ws_max_frame_bytes: raw.ws_max_frame_bytes,
        ws_max_message_bytes: raw.ws_max_message_bytes,
        ws_max_partial_bytes_per_shard: raw.ws_max_partial_bytes_per_shard,
        max_get_reply_bytes_per_shard: raw.max_get_reply_bytes_per_shard,
    }
}

pub(crate) fn outbound(raw: RawOutbound, loc: &str, p: &mut Problems) -> OutboundConfig {
    p.require_at_least(
        &join(loc, "maxQueuedMessages"),
        raw.max_queued_messages as u64,
        1,
        "",
    );
    p.require_at_least(
        &join(loc, "maxQueuedBytes"),
        raw.max_queued_bytes as u64,
        1,
        "",
    );
    OutboundConfig {
        max_queued_messages: raw.max_queued_messages,
        max_queued_bytes: raw.max_queued_bytes,
        slow_client_policy: raw.slow_client_policy,
    }
}

pub(crate) fn timeouts(raw: RawTimeouts, loc: &str, p: &mut Problems) -> Timeouts {
    let mut ms = |key: &str, value: u64| {
        p.require_at_least(&join(loc, key), value, 1, MS);
        Duration::from_millis(value)
    };
    Timeouts {
        header_read: ms("headerReadMs", raw.header_read_ms),
        keep_alive_idle: ms("keepAliveIdleMs", raw.keep_alive_idle_ms),
        ws_ping_interval: ms("wsPingIntervalMs", raw.ws_ping_interval_ms),
        ws_message_read: ms("wsMessageReadMs", raw.ws_message_read_ms),
        shutdown: ms("shutdownMs", raw.shutdown_ms),
        stream_stall: ms("streamStallMs", raw.stream_stall_ms),
        reply_stall: ms("replyStallMs", raw.reply_stall_ms),
        ws_hibernate: hibernate_after("wsHibernateMs", raw.ws_hibernate_ms, loc, p),
        sse_hibernate: hibernate_after("sseHibernateMs", raw.sse_hibernate_ms, loc, p),
    }
}

/// `wsHibernateMs`, `sseHibernateMs` (`name`): 0 (never), or at least `MIN_HIBERNATE_MS`: a
/// stream that slept and woke every few milliseconds would spend more on it than it saves.
fn hibernate_after(name: &str, ms: u64, loc: &str, p: &mut Problems) -> Option<Duration> {
    const MIN_HIBERNATE_MS: u64 = 100;
    /// A day: longer is as good as never, and must not overflow a deadline.
    const MAX_HIBERNATE_MS: u64 = 86_400_000;
    if ms == 0 {
        return None;
    }
    if !(MIN_HIBERNATE_MS..=MAX_HIBERNATE_MS).contains(&ms) {
        p.push(
            join(loc, name),
            format!(
                "must be 0 (never hibernate) or at least {MIN_HIBERNATE_MS} ms and at most {MAX_HIBERNATE_MS} ms (a day), got {ms}"
            ),
        );
    }
    Some(Duration::from_millis(ms))
}

/// The characters of API ids and topic names: safe in logs, metric labels and broker names.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// An API's id: non-empty, `[a-zA-Z0-9._-]+` (it appears in logs and metric labels).
pub(crate) fn api_id(id: &str, loc: &str, p: &mut Problems) {
    if id.is_empty() {
        p.push(join(loc, "id"), "must not be empty");
    } else if !id.chars().all(is_name_char) {
        p.push(
            join(loc, "id"),
            format!("'{id}' may only contain letters, digits, '.', '_' and '-'"),
        );
    }
}

pub(crate) fn non_empty(value: &str, loc: &str, key: &str, p: &mut Problems) {
    if value.trim().is_empty() {
        p.push(join(loc, key), "must not be empty");
    }
}

/// Why `path` cannot be a context path, if it cannot.
pub(crate) fn context_path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("must start with '/'")
    } else if path.len() > 1 && path.ends_with('/') {
        Some("must not end with '/' (only the root path '/' may)")
    } else if path.contains("//") {
        Some("must not contain '//'")
    } else if path.contains(['?', '#']) {
        Some("must not contain '?' or '#'")
    } else if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not contain whitespace or control characters")
    } else if crate::codec::http_head::path_problem(path).is_some() {
        // Requests for such a path are refused before routing: the API would be unreachable.
        Some("must not contain '.' or '..' segments (also percent-encoded as %2e), an encoded '/' or '\\' (%2F, %5C), or a backslash")
    } else {
        None
    }
}

/// Records every context path that is malformed, listed twice in one API, or used by two APIs
/// on the same virtual host (the same path may serve different hosts). `apis` holds each decoded
/// API's location, id and paths.
pub(crate) fn context_paths(apis: &[(String, String, Vec<ContextPath>)], p: &mut Problems) {
    let mut owners: HashMap<(&str, Option<&str>), (&str, &str)> = HashMap::new();
    let mut ids: HashMap<&str, &str> = HashMap::new();
    for (loc, id, paths) in apis {
        if let Some(first) = ids.insert(id.as_str(), loc.as_str()) {
            if !id.is_empty() {
                p.push(
                    join(loc, "id"),
                    format!("duplicate API id '{id}' (also used by {first})"),
                );
            }
        }
        if paths.is_empty() {
            p.push(
                join(loc, "contextPaths"),
                "at least one context path is required, e.g. [/my-api]",
            );
        }
        for (index, entry) in paths.iter().enumerate() {
            let path_loc = format!("{}[{index}]", join(loc, "contextPaths"));
            let path = &entry.path;
            if let Some(why) = context_path_problem(path) {
                p.push(path_loc, format!("context path '{path}' {why}"));
                continue;
            }
            let path = &entry.to_string();
            let key = (entry.path.as_str(), entry.host.as_deref());
            match owners.get(&key) {
                Some((owner_loc, _)) if *owner_loc == loc.as_str() => {
                    p.push(path_loc, format!("context path '{path}' is listed twice"));
                }
                Some((owner_loc, owner_id)) => p.push(
                    path_loc,
                    format!(
                        "context path '{path}' is used by two APIs: '{owner_id}' ({owner_loc}) and '{id}' ({loc})"
                    ),
                ),
                None => {
                    owners.insert(key, (loc, id));
                }
            }
        }
    }
}

pub(crate) fn http_get(raw: RawHttpGet, loc: &str, p: &mut Problems) -> HttpGetOptions {
    let count_loc = join(loc, "messagesLimitCount");
    p.require_at_least(&count_loc, raw.messages_limit_count as u64, 1, "");
    let duration_loc = join(loc, "messagesLimitDurationMs");
    p.require_at_least(&duration_loc, raw.messages_limit_duration_ms, 1, MS);
    HttpGetOptions {
        messages_limit_count: raw.messages_limit_count,
        messages_limit_duration: Duration::from_millis(raw.messages_limit_duration_ms),
        headers_in_payload: raw.headers_in_payload,
        metadata_in_payload: raw.metadata_in_payload,
    }
}

pub(crate) fn http_post(raw: RawHttpPost, loc: &str, p: &mut Problems) -> HttpPostOptions {
    let mut credentials = Vec::new();
    for (index, name) in raw.credential_headers_to_message.iter().enumerate() {
        let lower = name.trim().to_ascii_lowercase();
        if CREDENTIAL_HEADERS.contains(&lower.as_str()) {
            if !credentials.contains(&lower) {
                credentials.push(lower);
            }
            continue;
        }
        let why = if is_hop_by_hop(&lower) {
            "is a hop-by-hop header: it describes one connection and is never copied into messages"
        } else {
            "is not withheld: every end-to-end header except the credential headers is copied already"
        };
        p.push(
            format!("{loc}.credentialHeadersToMessage[{index}]"),
            format!(
                "'{name}' {why}; list only credential headers ({})",
                CREDENTIAL_HEADERS.join(", ")
            ),
        );
    }
    if !credentials.is_empty() && !raw.request_headers_to_message {
        p.push(
            format!("{loc}.credentialHeadersToMessage"),
            "has no effect without `requestHeadersToMessage: true`",
        );
    }
    HttpPostOptions {
        request_headers_to_message: raw.request_headers_to_message,
        credential_headers_to_message: credentials,
    }
}

pub(crate) fn websocket(raw: RawWebSocket, loc: &str, p: &mut Problems) -> WebSocketOptions {
    if !raw.publisher.enabled && !raw.subscriber.enabled {
        p.push(
            loc,
            "publisher and subscriber are both disabled; enable at least one (or remove the entrypoint)",
        );
    }
    let allowed_origins = raw.allowed_origins.map(|origins| {
        let origins_loc = join(loc, "allowedOrigins");
        super::origins::allow_origin(&origins.into_list(), &origins_loc, p)
    });
    WebSocketOptions {
        publisher_enabled: raw.publisher.enabled,
        subscriber_enabled: raw.subscriber.enabled,
        allowed_origins,
        subprotocols: super::websocket::subprotocols(raw.subprotocols, loc, p),
        per_message_deflate: super::websocket::per_message_deflate(raw.per_message_deflate, loc, p),
        token_refresh: raw.token_refresh,
    }
}

pub(crate) fn sse(raw: RawSse, loc: &str, p: &mut Problems) -> SseOptions {
    p.require_at_least(
        &join(loc, "heartbeatIntervalInMs"),
        raw.heartbeat_interval_in_ms,
        defaults::MIN_HEARTBEAT_INTERVAL_IN_MS,
        MS,
    );
    SseOptions {
        heartbeat_interval: Duration::from_millis(raw.heartbeat_interval_in_ms),
        metadata_as_comment: raw.metadata_as_comment,
        headers_as_comment: raw.headers_as_comment,
    }
}

pub(crate) fn mock(raw: RawMock, loc: &str, p: &mut Problems) -> MockOptions {
    p.require_at_least(&join(loc, "messageInterval"), raw.message_interval, 1, MS);
    MockOptions {
        message_interval: Duration::from_millis(raw.message_interval),
        message_content: Bytes::from(raw.message_content),
        message_count: raw.message_count,
        headers: raw.headers.into_iter().collect(),
        metadata: raw.metadata.into_iter().collect(),
    }
}

pub(crate) fn in_memory(raw: RawInMemory, loc: &str, p: &mut Problems) -> InMemoryOptions {
    let topic_loc = join(loc, "topic");
    let topic = match raw.topic {
        None => {
            p.push(
                topic_loc,
                "required: the name of the in-memory topic, e.g. `topic: chat`",
            );
            String::new()
        }
        Some(topic) => {
            if let Some(why) = topic_problem(&topic) {
                p.push(topic_loc, why);
            }
            topic
        }
    };
    for (key, value) in [
        ("maxRetainedMessages", raw.max_retained_messages),
        ("maxRetainedBytes", raw.max_retained_bytes),
    ] {
        p.require_at_least(&join(loc, key), value as u64, 1, "");
    }
    InMemoryOptions {
        topic,
        max_retained_messages: raw.max_retained_messages,
        max_retained_bytes: raw.max_retained_bytes,
    }
}

/// Why `topic` cannot name an in-memory topic, if it cannot: `[a-zA-Z0-9._-]+`, at most 249
/// characters.
pub(crate) fn topic_problem(topic: &str) -> Option<String> {
    if topic.is_empty() {
        Some("must not be empty: name the in-memory topic, e.g. `topic: chat`".to_owned())
    } else if !topic.chars().all(is_name_char) {
        Some(format!(
            "topic '{topic}' may only contain letters, digits, '.', '_' and '-'"
        ))
    } else if topic.len() > defaults::MAX_TOPIC_NAME_CHARS {
        Some(format!(
            "the topic name is {} characters long; at most {} are allowed",
            topic.len(),
            defaults::MAX_TOPIC_NAME_CHARS
        ))
    } else {
        None
    }
}

/// One API's in-memory endpoint, for the shared-ring rule across APIs.
pub(crate) struct TopicUse {
    /// The API's location, e.g. `apis[1]`.
    pub api_loc: String,
    /// The API's id, when its head decoded.
    pub api_id: Option<String>,
    /// The endpoint's `configuration` location.
    pub loc: String,
    pub options: InMemoryOptions,
}

/// APIs naming one topic share one retention ring, so they must agree on its bounds: each later
/// API that disagrees with the topic's first user gets a problem naming that API.
pub(crate) fn shared_topics(uses: &[TopicUse], p: &mut Problems) {
    for (index, later) in uses.iter().enumerate() {
        let topic = later.options.topic.as_str();
        if topic.is_empty() {
            // Missing: already reported, and not a topic anyone shares.
            continue;
        }
        let Some(first) = uses[..index].iter().find(|u| u.options.topic == topic) else {
            continue;
        };
        let owner = match &first.api_id {
            Some(id) => format!("API '{id}' ({})", first.api_loc),
            None => first.api_loc.clone(),
        };
        for (key, first_value, value) in [
            (
                "maxRetainedMessages",
                first.options.max_retained_messages,
                later.options.max_retained_messages,
            ),
            (
                "maxRetainedBytes",
                first.options.max_retained_bytes,
                later.options.max_retained_bytes,
            ),
        ] {
            if first_value != value {
                p.push(
                    join(&later.loc, key),
                    format!(
                        "topic '{topic}' is also used by {owner} with {key} {first_value}, got {value}; \
                         APIs on one topic share one retention ring, so set the same value"
                    ),
                );
            }
        }
    }
}

/// The message for a `type` (or `security`) value that is not `supported`: "not supported by
/// this version" for kinds of the reference product not built yet, "unknown" otherwise.
pub(crate) fn unknown_kind(what: &str, kind: &str, supported: &[&str], planned: &[&str]) -> String {
    let supported = supported.join(", ");
    if planned.contains(&kind) {
        format!("{what} type '{kind}' is not supported by this version of tidegate (supported: {supported})")
    } else {
        format!("unknown {what} type '{kind}'; expected one of: {supported}")
    }
}
