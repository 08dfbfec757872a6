//! Every default value, named after its YAML key, in one place.
//!
//! The serde structs (`raw.rs`) and the typed model's `Default` impls (`model.rs`) both read these,
//! so a default changes in exactly one line; docs/configuration.md lists the same values.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

// gateway
pub(super) const LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8082));
/// The admin endpoint (metrics, health): loopback only, on the technical port 18082 (8083 is the
/// management API's, as in Gravitee).
pub(super) const ADMIN_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 18082));
pub(super) const PIN_SHARDS: bool = true;

// gateway.limits
pub(super) const MAX_HEADER_BYTES: usize = 16 * 1024;
pub(super) const MAX_HEADER_COUNT: usize = 64;
pub(super) const MAX_BODY_BYTES: usize = 1024 * 1024;
pub(super) const MAX_CONNECTIONS_PER_SHARD: usize = 65_536;
/// 16 MiB, frames and messages alike: the largest the Autobahn TestSuite sends (cases 9.1.6,
/// 9.2.6); what a shard holds of unfinished messages is bounded by the budget below.
pub(super) const WS_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
pub(super) const WS_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Four largest messages arriving at once on one shard.
pub(super) const WS_MAX_PARTIAL_BYTES_PER_SHARD: usize = 64 * 1024 * 1024;
/// 64 MiB: sixteen replies of the largest default batch (`maxQueuedBytes`) in flight per shard.
pub(super) const MAX_GET_REPLY_BYTES_PER_SHARD: usize = 64 * 1024 * 1024;

// gateway.outbound
pub(super) const MAX_QUEUED_MESSAGES: usize = 1024;
pub(super) const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

// gateway.timeouts
pub(super) const HEADER_READ_MS: u64 = 10_000;
pub(super) const KEEP_ALIVE_IDLE_MS: u64 = 60_000;
pub(super) const WS_PING_INTERVAL_MS: u64 = 30_000;
pub(super) const WS_MESSAGE_READ_MS: u64 = 30_000;
pub(super) const WS_HIBERNATE_MS: u64 = 1_000;
pub(super) const SSE_HIBERNATE_MS: u64 = 1_000;
pub(super) const SHUTDOWN_MS: u64 = 10_000;
pub(super) const STREAM_STALL_MS: u64 = 30_000;
pub(super) const REPLY_STALL_MS: u64 = 10_000;

// http-get entrypoint
pub(super) const MESSAGES_LIMIT_COUNT: usize = 500;
pub(super) const MESSAGES_LIMIT_DURATION_MS: u64 = 5_000;
pub(super) const HEADERS_IN_PAYLOAD: bool = false;
pub(super) const METADATA_IN_PAYLOAD: bool = false;

// http-post entrypoint
pub(super) const REQUEST_HEADERS_TO_MESSAGE: bool = false;

// websocket entrypoint
pub(super) const PUBLISHER_ENABLED: bool = true;
pub(super) const SUBSCRIBER_ENABLED: bool = true;

// sse entrypoint
pub(super) const HEARTBEAT_INTERVAL_IN_MS: u64 = 5_000;
pub(super) const METADATA_AS_COMMENT: bool = false;
pub(super) const HEADERS_AS_COMMENT: bool = false;

// mock endpoint
pub(super) const MESSAGE_INTERVAL_MS: u64 = 1_000;
pub(super) const MESSAGE_CONTENT: &str = "mock message";

// in-memory endpoint
pub(super) const MAX_RETAINED_MESSAGES: usize = 10_000;
pub(super) const MAX_RETAINED_BYTES: usize = 64 * 1024 * 1024;

// validation minimums
/// Below this a browser's ordinary request head no longer fits.
pub(super) const MIN_MAX_HEADER_BYTES: usize = 1024;
/// The reference product's floor: faster heartbeats only cost bandwidth.
pub(super) const MIN_HEARTBEAT_INTERVAL_IN_MS: u64 = 2_000;

// validation maximums
/// Kafka's limit on a topic name, kept so a topic name stays portable to a broker endpoint.
pub(super) const MAX_TOPIC_NAME_CHARS: usize = 249;
