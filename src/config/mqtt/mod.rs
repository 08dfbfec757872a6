//! `type: mqtt5` endpoint configuration: the YAML shape (`raw.rs`), the typed options
//! (`model.rs`) and, here, the validation between them.
//!
//! Kept apart so the MQTT endpoint's many keys do not crowd the shared config files. The endpoint
//! mapping is decoded in four sections (the connection head, `tls`, `consumer`, `producer`), so
//! a mistake in one does not hide the others.

mod model;
mod raw;
mod sessions;

use std::time::Duration;

use serde_json::Value;

use super::endpoint_sides::EndpointSides;
use super::problem::{join, Problems};
use super::sections::{decode, decode_or_default};
use super::tls_identity::identity_files;

pub use model::{
    MqttConsumerOptions, MqttOptions, MqttProducerOptions, MqttProtocol, MqttTlsOptions,
};
use raw::{RawConsumer, RawMqtt, RawProducer, RawTls};
pub(crate) use sessions::settle_sessions;

/// Decodes and validates a `type: mqtt5` configuration (`None` when a section did not decode).
pub(crate) fn read(config: Option<&Value>, loc: &str, p: &mut Problems) -> Option<MqttOptions> {
    let part = |key: &str| config.and_then(|c| c.get(key));
    let head = decode_or_default::<RawMqtt>(config, loc, p);
    let tls = decode_or_default::<RawTls>(part("tls"), &join(loc, "tls"), p);
    let consumer_loc = join(loc, "consumer");
    let consumer = match part("consumer") {
        None | Some(Value::Null) => Some(None),
        Some(value) => decode::<RawConsumer>(value, &consumer_loc, p)
            .map(|raw| consumer(raw, &consumer_loc, p)),
    };
    let producer_loc = join(loc, "producer");
    let producer = match part("producer") {
        None | Some(Value::Null) => Some(None),
        Some(value) => decode::<RawProducer>(value, &producer_loc, p)
            .map(|raw| producer(raw, &producer_loc, p)),
    };
    let tls = tls.map(|raw| tls_options(raw, &join(loc, "tls"), p));
    let (head, consumer, producer, tls) = (head?, consumer?, producer?, tls?);
    if consumer.is_none() && producer.is_none() {
        p.push(
            loc,
            "enable `consumer` (messages to clients), `producer` (messages from clients) or both, \
             e.g. `consumer: { topic: sensors/# }`",
        );
    }
    let mut options = connection(head, consumer, producer, loc, p);
    options.tls = tls;
    Some(options)
}

/// `tls`: `None` when disabled; the CA file must exist and hold at least one PEM certificate, and
/// a client certificate needs both `certFile` and `keyFile`, matching.
fn tls_options(raw: RawTls, loc: &str, p: &mut Problems) -> Option<MqttTlsOptions> {
    if !raw.enabled {
        return None;
    }
    let ca_file = raw
        .ca_file
        .map(|path| super::tls_identity::ca_file(&path, &join(loc, "caFile"), p));
    let client_identity =
        identity_files(raw.cert_file, raw.key_file, ("certFile", "keyFile"), loc, p);
    Some(MqttTlsOptions {
        ca_file,
        insecure_skip_verify: raw.insecure_skip_verify,
        client_identity,
    })
}

fn connection(
    raw: RawMqtt,
    consumer: Option<MqttConsumerOptions>,
    producer: Option<MqttProducerOptions>,
    loc: &str,
    p: &mut Problems,
) -> MqttOptions {
    let server_host = match raw.server_host {
        Some(host) if !host.trim().is_empty() => host.trim().to_owned(),
        _ => {
            p.push(
                join(loc, "serverHost"),
                "required: the broker's host name or IP address, e.g. `serverHost: localhost`",
            );
            String::new()
        }
    };
    let server_port = match u16::try_from(raw.server_port) {
        Ok(port) if port > 0 => port,
        _ => {
            p.push(
                join(loc, "serverPort"),
                format!("must be a TCP port, 1 to 65535, got {}", raw.server_port),
            );
            1883
        }
    };
    let protocol = match &raw.protocol_version {
        Value::Number(n) if n.as_u64() == Some(5) => MqttProtocol::V5,
        Value::String(s) if s == "5" || s == "5.0" => MqttProtocol::V5,
        Value::String(s) if s == "3.1.1" => MqttProtocol::V311,
        other => {
            p.push(
                join(loc, "protocolVersion"),
                format!("must be 5 or \"3.1.1\", got {other}"),
            );
            MqttProtocol::V5
        }
    };
    if let Some(id) = &raw.client_id {
        if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
            p.push(
                join(loc, "clientId"),
                "must be 1 to 128 printable ASCII characters without spaces (each shard appends \
                 `-<shard>`); leave it out to have one generated",
            );
        }
    }
    if raw.password.is_some() && raw.username.is_none() {
        p.push(join(loc, "password"), "needs `username` as well");
    }
    if raw.keep_alive_seconds > u64::from(u16::MAX) {
        p.push(
            join(loc, "keepAliveSeconds"),
            format!(
                "must be at most 65535 (0 = off), got {}",
                raw.keep_alive_seconds
            ),
        );
    }
    let session_expiry_interval_s =
        u32::try_from(raw.session_expiry_interval).unwrap_or_else(|_| {
            p.push(
                join(loc, "sessionExpiryInterval"),
                "must be at most 4294967295 (seconds; 4294967295 = never expires)",
            );
            0
        });
    let reconnect_attempts = match raw.reconnect_attempts {
        -1 => None,
        n => u32::try_from(n).map(Some).unwrap_or_else(|_| {
            p.push(
                join(loc, "reconnectAttempts"),
                format!("must be -1 (forever) or a count from 0, got {n}"),
            );
            None
        }),
    };
    p.require_at_least(
        &join(loc, "reconnectBackoffMs"),
        raw.reconnect_backoff_ms,
        1,
        " (ms)",
    );
    if raw.reconnect_backoff_max_ms < raw.reconnect_backoff_ms {
        p.push(
            join(loc, "reconnectBackoffMaxMs"),
            format!(
                "must be at least reconnectBackoffMs ({}), got {}",
                raw.reconnect_backoff_ms, raw.reconnect_backoff_max_ms
            ),
        );
    }
    p.require_at_least(
        &join(loc, "connectTimeoutMs"),
        raw.connect_timeout_ms,
        1,
        " (ms)",
    );
    p.require_at_least(
        &join(loc, "maxPacketBytes"),
        raw.max_packet_bytes as u64,
        64,
        "",
    );
    if protocol == MqttProtocol::V311 {
        if let Some(producer) = &producer {
            if producer.message_expiry_interval_s.is_some() {
                p.push(
                    join(loc, "producer.messageExpiryInterval"),
                    "needs MQTT 5 (`protocolVersion: 5`); MQTT 3.1.1 messages cannot expire",
                );
            }
        }
    }
    MqttOptions {
        server_host,
        server_port,
        protocol,
        client_id: raw.client_id,
        username: raw.username,
        password: raw.password,
        keep_alive: Duration::from_secs(raw.keep_alive_seconds.min(u64::from(u16::MAX))),
        clean_start: raw.clean_start.unwrap_or(false),
        clean_start_given: raw.clean_start.is_some(),
        session_expiry_interval_s,
        reconnect_attempts,
        reconnect_backoff: Duration::from_millis(raw.reconnect_backoff_ms.max(1)),
        reconnect_backoff_max: Duration::from_millis(raw.reconnect_backoff_max_ms.max(1)),
        connect_timeout: Duration::from_millis(raw.connect_timeout_ms.max(1)),
        max_packet_bytes: raw.max_packet_bytes,
        consumer,
        producer,
        tls: None,
    }
}

fn qos(value: u64, loc: &str, p: &mut Problems) -> u8 {
    match value {
        0 | 1 => value as u8,
        2 => {
            p.push(
                loc,
                "QoS 2 is not supported; use 1 (at least once) or 0 (at most once)",
            );
            1
        }
        other => {
            p.push(loc, format!("must be 0 or 1, got {other}"));
            1
        }
    }
}

/// Why `topic` cannot be a PUBLISH topic name, if it cannot.
pub fn topic_name_problem(topic: &str) -> Option<&'static str> {
    if topic.is_empty() {
        Some("must not be empty")
    } else if topic.len() > usize::from(u16::MAX) {
        Some("must be at most 65535 bytes")
    } else if topic.contains(['+', '#']) {
        Some("wildcards (+, #) are not allowed in a topic to publish to")
    } else if topic.contains('\0') {
        Some("must not contain NUL characters")
    } else {
        None
    }
}

/// MQTT filter rules: `+` fills a whole level, `#` is a whole last level.
fn is_valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    levels
        .iter()
        .enumerate()
        .all(|(index, level)| match *level {
            "#" => index == levels.len() - 1,
            "+" => true,
            other => !other.contains(['+', '#', '\0']),
        })
}

fn consumer(raw: RawConsumer, loc: &str, p: &mut Problems) -> Option<MqttConsumerOptions> {
    let topic = match raw.topic {
        None => {
            p.push(
                join(loc, "topic"),
                "required: the topic filter to subscribe to, e.g. `topic: sensors/+/temperature`",
            );
            String::new()
        }
        Some(topic) => {
            if topic.is_empty() || topic.len() > usize::from(u16::MAX) || !is_valid_filter(&topic) {
                p.push(
                    join(loc, "topic"),
                    format!(
                        "'{topic}' is not a valid MQTT topic filter: `+` must fill a whole level, \
                         `#` only as the last level (e.g. a/+/c, a/#)"
                    ),
                );
            }
            if topic.starts_with("$share/") {
                p.push(
                    join(loc, "topic"),
                    "write the group in `group:` instead of a `$share/` prefix",
                );
            }
            topic
        }
    };
    if let Some(group) = &raw.group {
        if group.is_empty() || group.contains(['/', '+', '#']) {
            p.push(
                join(loc, "group"),
                "must be a non-empty name without `/`, `+` or `#`",
            );
        }
    }
    for (key, value) in [
        ("maxRetainedMessages", raw.max_retained_messages),
        ("maxRetainedBytes", raw.max_retained_bytes),
    ] {
        p.require_at_least(&join(loc, key), value as u64, 1, "");
    }
    let options = MqttConsumerOptions {
        topic,
        qos: qos(raw.qos, &join(loc, "qos"), p),
        group: raw.group,
        max_retained_messages: raw.max_retained_messages,
        max_retained_bytes: raw.max_retained_bytes,
        unsubscribe_delay: Duration::from_millis(raw.unsubscribe_delay_ms),
        acknowledge_after_delivery: false,
    };
    raw.enabled.then_some(options)
}

fn producer(raw: RawProducer, loc: &str, p: &mut Problems) -> Option<MqttProducerOptions> {
    let topic = match raw.topic {
        None => {
            p.push(
                join(loc, "topic"),
                "required: the topic to publish to, e.g. `topic: commands/lamp`",
            );
            String::new()
        }
        Some(topic) => {
            if let Some(why) = topic_name_problem(&topic) {
                p.push(join(loc, "topic"), format!("'{topic}': {why}"));
            }
            topic
        }
    };
    let message_expiry_interval_s = match raw.message_expiry_interval {
        -1 => None,
        n => u32::try_from(n).ok().filter(|n| *n > 0).or_else(|| {
            p.push(
                join(loc, "messageExpiryInterval"),
                format!("must be -1 (never expires) or 1 to 4294967295 seconds, got {n}"),
            );
            None
        }),
    };
    p.require_at_least(&join(loc, "ackTimeoutMs"), raw.ack_timeout_ms, 1, " (ms)");
    if raw.max_in_flight == 0 || raw.max_in_flight > 65_000 {
        p.push(
            join(loc, "maxInFlight"),
            format!(
                "must be 1 to 65000 (MQTT packet ids), got {}",
                raw.max_in_flight
            ),
        );
    }
    let options = MqttProducerOptions {
        topic,
        qos: qos(raw.qos, &join(loc, "qos"), p),
        retained: raw.retained,
        message_expiry_interval_s,
        allow_topic_from_request: raw.allow_topic_from_request,
        ack_timeout: Duration::from_millis(raw.ack_timeout_ms.max(1)),
        max_in_flight: raw.max_in_flight.clamp(1, 65_000),
    };
    raw.enabled.then_some(options)
}

/// Which sides the endpoint has, for the rule every broker endpoint shares
/// (`endpoint_sides.rs`).
pub(crate) fn sides(options: &MqttOptions) -> EndpointSides {
    EndpointSides {
        kind: "mqtt5",
        consumer: options.consumer.is_some(),
        producer: options.producer.is_some(),
        enable_consumer: "add `consumer: { topic: ... }` with the topic filter to read",
        enable_producer: "add `producer: { topic: ... }` with the topic to publish to",
    }
}
