//! `type: kafka` endpoint configuration: its YAML shape, its rules and its typed form.
//!
//! Names follow the reference product: `bootstrapServers`; `consumer.enabled`, `topics` (or
//! `topicPattern`), `autoOffsetReset`, `encodeMessageId`; `producer.enabled`, `topics`,
//! `compressionType`; `security.protocol`, `security.sasl` and `security.ssl` (checked in
//! `security.rs`). What this version cannot do (PKCS12/JKS key stores, several producer
//! topics) is rejected with what to write instead.
//!
//! Laid out like `config/mqtt/`: the YAML shape (`raw.rs`), the `security` section (`security.rs`)
//! and, here, the typed options and the rules between them.

mod raw;
mod security;

use std::time::Duration;

use super::endpoint_sides::EndpointSides;
use super::problem::{join, Problems};
use super::validate::topic_problem;
use super::{ApiConfig, EndpointConfig};
pub(crate) use raw::RawKafka;
use raw::{RawConsumer, RawProducer};
use security::security;

/// `sessionTimeoutMs` bounds: a heartbeat goes every second, so below 1 s every member would
/// be dropped; above 30 minutes a killed node's partitions would wait longer than any broker
/// allows by default.
const MIN_SESSION_TIMEOUT_MS: u64 = 1_000;
const MAX_SESSION_TIMEOUT_MS: u64 = 1_800_000;

pub use security::{KafkaSasl, KafkaSecurity, SaslMechanism};

/// A validated Kafka endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaOptions {
    /// At least one `host:port`.
    pub bootstrap_servers: Vec<String>,
    /// `security`: protocol (default `PLAINTEXT`), SASL credentials and TLS stores.
    pub security: KafkaSecurity,
    /// Consuming, when enabled.
    pub consumer: Option<KafkaConsumer>,
    /// Producing, when enabled.
    pub producer: Option<KafkaProducer>,
}

/// Where a consumer starts when a client brings no cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutoOffsetReset {
    /// Only records produced from now on.
    Latest,
    /// Everything the broker still has.
    Earliest,
}

/// The consuming side: one feed per node, broadcast to every client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaConsumer {
    /// Sorted and deduplicated; at least one unless `topic_pattern` is given.
    pub topics: Vec<String>,
    /// `topicPattern`, anchored (`^(?:…)$`) and checked to compile: the topics whose whole name
    /// matches, found when the feed starts (internal `__` topics excluded).
    pub topic_pattern: Option<String>,
    /// `autoOffsetReset` (default `latest`): where a client without a cursor starts (with a
    /// group: only for partitions without a committed offset).
    pub auto_offset_reset: AutoOffsetReset,
    /// `encodeMessageId` (default `true`): ids and cursors in the compact base64 form;
    /// `false`: as `topic:partition:nextOffset,...` text. Both forms are read back.
    pub encode_message_id: bool,
    /// `groupId`: the node consumes as a member of this consumer group (assigned partitions
    /// only, offsets committed once delivered); `None`: every partition, nothing committed.
    pub group_id: Option<String>,
    /// `groupScope: subscription`: one group per client subscription (`{groupId}.{name}`)
    /// instead of one per API.
    pub subscription_groups: Option<SubscriptionGroups>,
    /// `sessionTimeoutMs`: how long the group coordinator keeps a member it no longer hears
    /// from; a node killed without leaving holds its partitions that long (unless it comes back
    /// as the same static member, see `group_instance_id`).
    pub session_timeout: Duration,
    /// The static group membership (KIP-345 `group.instance.id`) of this node in its groups:
    /// `tidegate-<gateway.nodeId>`, so a restarted node (even after `kill -9`) takes its own
    /// partitions back at once instead of waiting for the session timeout. `None` without a
    /// `nodeId`: a new member at every start.
    pub group_instance_id: Option<String>,
    /// `maxRetainedMessages` (default 10000): the node's buffer of this feed, in records of all
    /// its partitions; at least 1.
    pub max_retained_messages: usize,
    /// `maxRetainedBytes` (default 64 MiB): the same buffer's bound in bytes; at least 1.
    pub max_retained_bytes: usize,
    /// `maxCatchUps`: catch-up readers (clients resuming before the buffer share one per
    /// position) a node runs for this feed at once; beyond it clients get 503. At least 1.
    pub max_catch_ups: usize,
    /// `paceWaitMs`: how long a fetch waits for the slowest reader to make room in a buffer
    /// before that reader's slow-client policy applies (0: fetches never wait).
    pub pace_wait: Duration,
}

impl KafkaConsumer {
    /// Read only through per-subscription consumer groups (`groupScope: subscription`): the
    /// feed fetches nothing of its own; each subscription's group member does.
    pub fn per_subscription_groups(&self) -> bool {
        self.group_id.is_some() && self.subscription_groups.is_some()
    }
}

/// `groupScope: subscription`: each subscription a client names gets its own consumer group,
/// joined by the node while the subscription has clients (and `idle_timeout` after).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionGroups {
    /// `maxSubscriptionGroups`: groups one node keeps joined for the API; at least 1.
    pub max: usize,
    /// `subscriptionIdleTimeoutMs`: how long a group stays joined after its last client left.
    pub idle_timeout: Duration,
}

/// The producing side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaProducer {
    /// Exactly one topic in this version.
    pub topic: String,
    /// `compressionType` (default `none`): how produced record batches are compressed.
    pub compression: Compression,
    /// How long a publish waits for the broker's acknowledgement before answering 503.
    pub request_timeout: Duration,
}

/// `producer.compressionType`: the codec the producer compresses its record batches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `none`: batches sent as they are (the default).
    None,
    /// `gzip`: small batches at the highest CPU cost.
    Gzip,
    /// `lz4`: fast, with a lighter compression.
    Lz4,
    /// `snappy`: fast, with a lighter compression (common with older clients).
    Snappy,
    /// `zstd`: about gzip's ratio at a lower CPU cost (brokers from Kafka 2.1 on).
    Zstd,
}

pub(crate) fn kafka(raw: RawKafka, loc: &str, p: &mut Problems) -> KafkaOptions {
    let bootstrap_servers: Vec<String> = raw
        .bootstrap_servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if bootstrap_servers.is_empty() {
        p.push(
            join(loc, "bootstrapServers"),
            "required: the brokers to start from, e.g. `bootstrapServers: kafka-1:9092,kafka-2:9092`",
        );
    }
    for server in &bootstrap_servers {
        let port_ok = server
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            p.push(
                join(loc, "bootstrapServers"),
                format!("'{server}' is not host:port"),
            );
        }
    }
    let security = security(raw.security, &join(loc, "security"), p);
    let consumer = consumer(raw.consumer, &join(loc, "consumer"), p);
    let producer = producer(raw.producer, &join(loc, "producer"), p);
    if consumer.is_none() && producer.is_none() {
        p.push(
            loc,
            "neither `consumer.enabled` nor `producer.enabled` is true: the endpoint would do nothing",
        );
    }
    KafkaOptions {
        bootstrap_servers,
        security,
        consumer,
        producer,
    }
}

/// Which sides the endpoint has, for the rule every broker endpoint shares
/// (`endpoint_sides.rs`).
pub(crate) fn sides(options: &KafkaOptions) -> EndpointSides {
    EndpointSides {
        kind: "kafka",
        consumer: options.consumer.is_some(),
        producer: options.producer.is_some(),
        enable_consumer: "set `consumer.enabled: true` with `topics`",
        enable_producer: "set `producer.enabled: true` with `topics: [one-topic]`",
    }
}

fn topics(list: &[String], loc: &str, p: &mut Problems) {
    for (index, topic) in list.iter().enumerate() {
        if let Some(why) = topic_problem(topic) {
            p.push(format!("{loc}[{index}]"), why);
        }
    }
}

fn consumer(raw: RawConsumer, loc: &str, p: &mut Problems) -> Option<KafkaConsumer> {
    if !raw.enabled {
        return None;
    }
    match (&raw.topic_pattern, raw.topics.is_empty()) {
        (Some(_), false) => p.push(
            join(loc, "topicPattern"),
            "give either `topics` or `topicPattern`, not both",
        ),
        (Some(pattern), true) => {
            if let Err(error) = regex::Regex::new(&anchored(pattern)) {
                p.push(
                    join(loc, "topicPattern"),
                    format!("'{pattern}' is not a valid regular expression: {error}"),
                );
            }
        }
        (None, true) => p.push(
            join(loc, "topics"),
            "required when the consumer is enabled (or `topicPattern`): the topics to read, e.g. `topics: [orders]`",
        ),
        (None, false) => {}
    }
    if raw.group_id.as_deref().is_some_and(|g| g.trim().is_empty()) {
        p.push(
            join(loc, "groupId"),
            "must not be empty: the consumer group this API's gateway nodes join, e.g. `groupId: orders-gateway`",
        );
    }
    let subscription_groups = subscription_groups(&raw, loc, p);
    topics(&raw.topics, &join(loc, "topics"), p);
    let auto_offset_reset = match raw.auto_offset_reset.as_str() {
        "latest" => AutoOffsetReset::Latest,
        "earliest" => AutoOffsetReset::Earliest,
        other => {
            p.push(
                join(loc, "autoOffsetReset"),
                format!("'{other}' is not one of: latest, earliest"),
            );
            AutoOffsetReset::Latest
        }
    };
    for (key, value) in [
        ("maxRetainedMessages", raw.max_retained_messages),
        ("maxRetainedBytes", raw.max_retained_bytes),
        ("maxCatchUps", raw.max_catch_ups),
    ] {
        p.require_at_least(&join(loc, key), value as u64, 1, "");
    }
    let session_timeout_ms = raw.session_timeout_ms;
    if !(MIN_SESSION_TIMEOUT_MS..=MAX_SESSION_TIMEOUT_MS).contains(&session_timeout_ms) {
        p.push(
            join(loc, "sessionTimeoutMs"),
            format!(
                "must be between {MIN_SESSION_TIMEOUT_MS} and {MAX_SESSION_TIMEOUT_MS} (ms), got \
                 {session_timeout_ms}; Kafka brokers accept 6000 to 1800000 by default \
                 (group.min/max.session.timeout.ms)"
            ),
        );
    }
    let mut topics = raw.topics;
    topics.sort();
    topics.dedup();
    Some(KafkaConsumer {
        topics,
        topic_pattern: raw.topic_pattern.as_deref().map(anchored),
        auto_offset_reset,
        encode_message_id: raw.encode_message_id,
        group_id: raw.group_id,
        subscription_groups,
        session_timeout: Duration::from_millis(session_timeout_ms),
        group_instance_id: None,
        max_retained_messages: raw.max_retained_messages,
        max_retained_bytes: raw.max_retained_bytes,
        max_catch_ups: raw.max_catch_ups,
        pace_wait: Duration::from_millis(raw.pace_wait_ms),
    })
}

/// Gives every Kafka consumer of a node with `gateway.nodeId` its static group membership
/// (`tidegate-<nodeId>`); called once the gateway section is read.
pub(crate) fn settle_members(node_id: Option<&str>, apis: &mut [ApiConfig]) {
    let Some(node) = node_id else {
        return;
    };
    for api in apis {
        if let EndpointConfig::Kafka(options) = &mut api.endpoint {
            if let Some(consumer) = &mut options.consumer {
                consumer.group_instance_id = Some(format!("tidegate-{node}"));
            }
        }
    }
}

/// `groupScope` and the bounds of per-subscription groups.
fn subscription_groups(
    raw: &RawConsumer,
    loc: &str,
    p: &mut Problems,
) -> Option<SubscriptionGroups> {
    match raw.group_scope.as_str() {
        "api" => None,
        "subscription" => {
            if raw.group_id.is_none() {
                p.push(
                    join(loc, "groupScope"),
                    "`groupScope: subscription` needs `groupId`, the prefix of every subscription's group (e.g. `groupId: orders` makes subscription `billing` consume as group `orders.billing`)",
                );
            }
            p.require_at_least(
                &join(loc, "maxSubscriptionGroups"),
                raw.max_subscription_groups as u64,
                1,
                "",
            );
            p.require_at_least(
                &join(loc, "subscriptionIdleTimeoutMs"),
                raw.subscription_idle_timeout_ms,
                1,
                " (ms)",
            );
            Some(SubscriptionGroups {
                max: raw.max_subscription_groups,
                idle_timeout: Duration::from_millis(raw.subscription_idle_timeout_ms),
            })
        }
        other => {
            p.push(
                join(loc, "groupScope"),
                format!("'{other}' is not one of: api (one consumer group for the API, shared by its gateway nodes), subscription (one group per subscription a client names)"),
            );
            None
        }
    }
}

/// A topic pattern matches whole topic names, as Kafka clients' subscriptions do.
fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

fn producer(raw: RawProducer, loc: &str, p: &mut Problems) -> Option<KafkaProducer> {
    if !raw.enabled {
        return None;
    }
    topics(&raw.topics, &join(loc, "topics"), p);
    if raw.topics.len() != 1 {
        p.push(
            join(loc, "topics"),
            format!(
                "the producer needs exactly one topic in this version of tidegate, got {}",
                raw.topics.len()
            ),
        );
    }
    let compression = match raw.compression_type.as_str() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "lz4" => Compression::Lz4,
        "snappy" => Compression::Snappy,
        "zstd" => Compression::Zstd,
        other => {
            p.push(
                join(loc, "compressionType"),
                format!("'{other}' is not one of: none, gzip, lz4, snappy, zstd"),
            );
            Compression::None
        }
    };
    p.require_at_least(
        &join(loc, "requestTimeoutMs"),
        raw.request_timeout_ms,
        1,
        " (ms)",
    );
    Some(KafkaProducer {
        topic: raw.topics.into_iter().next().unwrap_or_default(),
        compression,
        request_timeout: Duration::from_millis(raw.request_timeout_ms),
    })
}

#[cfg(test)]
mod tests;
