//! HTTP POST entrypoint: the request body is one message.
//!
//! Answers `202 Accepted` once the endpoint has taken the message, and (beyond the reference)
//! says where it went: the `X-Message-Id` header always, and `{"id":"…"}` when the client accepts
//! JSON. With `requestHeadersToMessage` the request's end-to-end headers become message headers,
//! credentials and hop-by-hop headers excepted (`message_headers`).

use std::sync::Arc;

use bytes::Bytes;

use crate::codec::http_head::RequestHead;
use crate::codec::http_response::{BodyKind, ResponseHead};
use crate::config::HttpPostOptions;
use crate::deployed::Api;
use crate::endpoint::PublishOptions;
use crate::entrypoint::message_headers::message_headers;
use crate::error::{self, DataError, Kind};
use crate::message::{MessageId, PayloadKind};
use crate::observe::api_metrics::EntrypointKind;
use crate::server::conn::Conn;
use crate::shard::Shard;

/// Publishes `body`. Returns false when the connection must close.
pub async fn serve(
    conn: &mut Conn,
    head: &RequestHead,
    body: Bytes,
    api: &Api,
    options: &HttpPostOptions,
    shard: &Shard,
    keep_alive: bool,
) -> bool {
    if shard.shutdown.is_fired() {
        let reason = "the gateway is shutting down; send the message again (to another instance)";
        let shutting_down = DataError::new(Kind::ShuttingDown, reason);
        return error::answer(conn, &shutting_down, true).await.is_ok();
    }
    if api.drain.is_retired(EntrypointKind::HttpPost) {
        // Routed before a live apply stopped or redeployed the API: nothing was published.
        let reason = "this API is being stopped or redeployed; send the message again";
        let retired = DataError::new(Kind::Retired, reason);
        return error::answer(conn, &retired, !keep_alive).await.is_ok();
    }
    let headers = if options.request_headers_to_message {
        let headers = message_headers(head, &options.credential_headers_to_message);
        // A plan's own API key header is a credential too: never published unless named.
        shard.security.view.with(|plans| {
            let secret = |name: &str| {
                plans
                    .key_headers(&api.id)
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name))
                    && !options
                        .credential_headers_to_message
                        .contains(&name.to_ascii_lowercase())
            };
            if headers.iter().any(|(name, _)| secret(name)) {
                headers
                    .iter()
                    .filter(|(name, _)| !secret(name))
                    .cloned()
                    .collect()
            } else {
                headers
            }
        })
    } else {
        Arc::from(Vec::new())
    };
    // Endpoints that let a request choose the topic (mqtt5 `allowTopicFromRequest`) read it
    // from `?topic=` or an `X-Topic` header; the others answer a request that names one `400`.
    // Kafka partitions by the key (`X-Message-Key` or `?key=`); the others ignore it.
    let topic = head
        .query_param("topic")
        .or_else(|| head.header_str("x-topic").map(str::to_owned));
    let key = head
        .header("x-message-key")
        .map(Bytes::copy_from_slice)
        .or_else(|| head.query_param("key").map(Bytes::from));
    let chosen = PublishOptions {
        topic: topic.as_deref(),
        key,
        kind: declared_kind(head.header_str("content-type"), &body),
    };
    let published = api.endpoint.publish_with(body, headers, chosen);
    let id = match conn.flush_held_unless_ready(published).await {
        Ok(id) => id,
        Err(err) => {
            return error::answer(conn, &err.into(), !keep_alive).await.is_ok();
        }
    };
    let wants_json = head
        .header_str("accept")
        .is_some_and(|accept| accept.contains("json") || accept.contains("*/*"));
    let record = match id {
        MessageId::KafkaRecord { partition, offset } => {
            Some((partition.to_string(), offset.to_string()))
        }
        _ => None,
    };
    let id = id.to_string();
    let body = match (&record, wants_json) {
        (Some((partition, offset)), true) => {
            format!("{{\"id\":\"{id}\",\"partition\":{partition},\"offset\":{offset}}}")
        }
        (None, true) => format!("{{\"id\":\"{id}\"}}"),
        (_, false) => String::new(),
    };
    conn.exchange().published(1);
    conn.exchange().answered(202);
    let request_id = conn.request_id();
    let mut headers = vec![
        ("X-Message-Id", id.as_str()),
        ("X-Request-Id", request_id.as_str()),
    ];
    if let Some((partition, offset)) = &record {
        headers.push(("X-Kafka-Partition", partition.as_str()));
        headers.push(("X-Kafka-Offset", offset.as_str()));
    }
    if wants_json {
        headers.push(("Content-Type", "application/json"));
    }
    conn.encode_head(&ResponseHead {
        status: 202,
        headers: &headers,
        body: BodyKind::Length(body.len()),
        close: !keep_alive,
    });
    conn.write_buf.extend_from_slice(body.as_bytes());
    if !keep_alive {
        let _ = conn.flush().await;
        return false;
    }
    conn.flush_unless_pipelined().await.is_ok()
}

/// What the body's `Content-Type` says it is, so a WebSocket subscriber gets the frame type the
/// publisher meant: `application/octet-stream` is binary; `text/*`, JSON and XML types are text
/// (when the body is UTF-8, as a text frame must be); anything else, or none, leaves it to the
/// bytes (UTF-8 is sent as text), which is also what `curl -d` (form-urlencoded) gets.
fn declared_kind(content_type: Option<&str>, body: &[u8]) -> PayloadKind {
    let Some(content_type) = content_type else {
        return PayloadKind::Unspecified;
    };
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_text = media.starts_with("text/")
        || ["application/json", "application/xml"].contains(&media.as_str())
        || media.ends_with("+json")
        || media.ends_with("+xml");
    if media == "application/octet-stream" {
        PayloadKind::Binary
    } else if is_text {
        PayloadKind::text_if_utf8(body)
    } else {
        PayloadKind::Unspecified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_declares_the_kind() {
        let cases = [
            (None, &b"hi"[..], PayloadKind::Unspecified),
            (Some("application/octet-stream"), b"hi", PayloadKind::Binary),
            (
                Some("Application/Octet-Stream; x=1"),
                b"",
                PayloadKind::Binary,
            ),
            (Some("text/plain; charset=utf-8"), b"hi", PayloadKind::Text),
            (Some("text/plain"), b"\xff", PayloadKind::Binary),
            (Some("application/json"), b"{}", PayloadKind::Text),
            (
                Some("application/cloudevents+json"),
                b"{}",
                PayloadKind::Text,
            ),
            (
                Some("application/x-www-form-urlencoded"),
                b"a=1",
                PayloadKind::Unspecified,
            ),
        ];
        for (content_type, body, kind) in cases {
            assert_eq!(declared_kind(content_type, body), kind, "{content_type:?}");
        }
    }
}
