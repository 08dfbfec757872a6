//! Which request headers become message headers (`requestHeadersToMessage`).
//!
//! A published message reaches every subscriber (and a Kafka record's headers, an MQTT 5
//! message's user properties), so only the request's end-to-end, non-secret headers are copied:
//!
//! - never hop-by-hop headers (RFC 9110 §7.6.1): `Connection`, `Keep-Alive`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`, every `Proxy-*` header (`Proxy-Authorization` included) and
//!   every header the request's `Connection` names; nor those that frame or route the request:
//!   `Host`, `Content-Length`, `X-Message-Key` (the Kafka record key);
//! - not credentials, unless the entrypoint's `credentialHeadersToMessage` names them:
//!   `Authorization`, `Cookie`, `X-Gravitee-Api-Key`, `X-Api-Key`.

use crate::codec::http_head::RequestHead;
use crate::message::Fields;

/// Hop-by-hop and framing headers: never copied (lower case).
const HOP_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    // The record key (Kafka), not a header of the message.
    "x-message-key",
];

/// Headers that carry a client's credentials: copied only when the configuration names them
/// (lower case).
pub const CREDENTIAL_HEADERS: &[&str] =
    &["authorization", "cookie", "x-gravitee-api-key", "x-api-key"];

/// True for a hop-by-hop header name (whatever the request's `Connection` says).
pub fn is_hop_by_hop(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("proxy-") || HOP_HEADERS.contains(&name.as_str())
}

/// The request's headers that become the message's: `allowed_credentials` (lower case) are the
/// credential headers the entrypoint lets through.
pub fn message_headers(head: &RequestHead, allowed_credentials: &[String]) -> Fields {
    let named_by_connection: Vec<String> = head
        .headers_named("connection")
        .flat_map(|value| {
            String::from_utf8_lossy(value)
                .split(',')
                .map(|token| token.trim().to_ascii_lowercase())
                .filter(|token| !token.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    head.headers()
        .filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            !is_hop_by_hop(&lower)
                && !named_by_connection.contains(&lower)
                && (!CREDENTIAL_HEADERS.contains(&lower.as_str())
                    || allowed_credentials.contains(&lower))
        })
        .map(|(name, value)| (name.to_owned(), String::from_utf8_lossy(value).into_owned()))
        .collect::<Vec<_>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::http_head::{parse_request_head, HeadLimits};
    use bytes::BytesMut;

    fn head(lines: &str) -> RequestHead {
        let mut buf = BytesMut::from(format!("POST /p HTTP/1.1\r\n{lines}\r\n").as_str());
        let limits = HeadLimits {
            max_header_bytes: 8192,
            max_header_count: 64,
        };
        parse_request_head(&mut buf, &limits)
            .expect("valid head")
            .expect("complete head")
    }

    fn names(fields: &Fields) -> Vec<&str> {
        fields.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_behind() {
        let head = head(
            "Host: h\r\nContent-Length: 0\r\nAuthorization: Bearer s3cret\r\nCookie: sid=1\r\n\
             X-Gravitee-Api-Key: k\r\nX-Api-Key: k2\r\nProxy-Authorization: Basic x\r\n\
             Proxy-Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\
             Trailer: X-Sum\r\nUpgrade: h2c\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\
             X-Message-Key: k\r\nX-Trace: abc\r\nContent-Type: text/plain\r\n",
        );
        let kept = message_headers(&head, &[]);
        assert_eq!(names(&kept), ["X-Trace", "Content-Type"]);
    }

    #[test]
    fn named_credential_headers_are_let_through() {
        let head = head("Authorization: Bearer t\r\nCookie: c\r\nProxy-Authorization: p\r\n");
        let kept = message_headers(&head, &["authorization".to_owned()]);
        assert_eq!(names(&kept), ["Authorization"]);
        assert_eq!(kept[0].1, "Bearer t");
    }
}
