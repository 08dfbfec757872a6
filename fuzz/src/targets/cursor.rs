//! Resume cursors of sequence endpoints (Mock, in-memory, MQTT), as clients send them: the
//! `Last-Event-ID` header and the percent-encoded `?cursor=` query parameter.
//!
//! Properties: a cursor survives the trip through a request head (percent-encoding and
//! `query_param` decoding are inverse; a header value comes back trimmed); a parsed cursor is a
//! resumable id whose own text parses back to it; a refused cursor is a 400 whose message quotes
//! at most 64 characters of it; a raw query of any bytes decodes without panicking.

use bytes::BytesMut;
use tidegate::codec::http_head::{parse_request_head, HeadLimits, RequestHead};
use tidegate::config::MockOptions;
use tidegate::endpoint::mock::MockEndpoint;
use tidegate::endpoint::{Endpoint, EndpointError};
use tidegate::message::MessageId;

const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 64 * 1024,
    max_header_count: 16,
};

pub fn run(data: &[u8]) {
    let endpoint = Endpoint::Mock(MockEndpoint::new(&MockOptions::default()));
    let text = String::from_utf8_lossy(data);
    check_cursor(&endpoint, &text);

    // `?cursor=` percent-encoded: `query_param` hands back exactly what was encoded.
    let request = format!(
        "GET /api?a=1&cursor={}&b HTTP/1.1\r\n\r\n",
        percent_encode(data)
    );
    let head = parse(request.as_bytes()).expect("a percent-encoded query always parses");
    assert_eq!(head.query_param("cursor").as_deref(), Some(&*text));
    assert_eq!(head.query_param("b").as_deref(), Some(""));

    // `Last-Event-ID`: any bytes a header value may hold, minus the whitespace around them.
    let value: Vec<u8> = data
        .iter()
        .copied()
        .filter(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
        .collect();
    let mut request = b"GET /api HTTP/1.1\r\nLast-Event-ID: ".to_vec();
    request.extend_from_slice(&value);
    request.extend_from_slice(b"\r\n\r\n");
    let head = parse(&request).expect("a header of visible bytes always parses");
    assert_eq!(head.header("last-event-id"), Some(value.trim_ascii()));
    if let Some(given) = head.header_str("last-event-id") {
        // What the SSE entrypoint does: an empty id means "from now".
        let given = given.trim();
        if !given.is_empty() {
            check_cursor(&endpoint, given);
        }
    }

    // A raw query of the input's own bytes (where a request target may hold them).
    if let Some(query) = as_target_bytes(data) {
        let mut request = b"GET /api?".to_vec();
        request.extend_from_slice(&query);
        request.extend_from_slice(b" HTTP/1.1\r\n\r\n");
        if let Some(head) = parse(&request) {
            if let Some(cursor) = head.query_param("cursor") {
                check_cursor(&endpoint, &cursor);
            }
        }
    }
}

fn check_cursor(endpoint: &Endpoint, text: &str) {
    match endpoint.parse_cursor(text) {
        Ok(MessageId::Sequence(n)) => {
            assert!(
                n < u64::MAX,
                "the largest id has no successor to resume from"
            );
            assert_eq!(
                text.trim().trim_start_matches('+').trim_start_matches('0'),
                {
                    let digits = n.to_string();
                    if n == 0 {
                        String::new()
                    } else {
                        digits
                    }
                }
            );
            let again = endpoint.parse_cursor(&MessageId::Sequence(n).to_string());
            assert!(
                matches!(again, Ok(MessageId::Sequence(m)) if m == n),
                "{again:?}"
            );
        }
        Ok(other) => panic!("a sequence endpoint parsed {other:?}"),
        Err(error) => {
            assert_eq!(error.status(), 400);
            let EndpointError::InvalidCursor { cursor, .. } = &error else {
                panic!("unexpected error {error:?}");
            };
            assert!(cursor.chars().count() <= 64);
            assert!(text.starts_with(cursor.as_str()));
        }
    }
}

fn parse(request: &[u8]) -> Option<RequestHead> {
    parse_request_head(&mut BytesMut::from(request), &LIMITS)
        .ok()
        .flatten()
}

/// Every byte but the unreserved ones (RFC 3986 §2.3) as `%XX`.
fn percent_encode(data: &[u8]) -> String {
    data.iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The input as a query string, when it has no byte that ends or breaks a request target.
fn as_target_bytes(data: &[u8]) -> Option<Vec<u8>> {
    data.iter()
        .all(|&b| (b'!'..=b'~').contains(&b) && b != b'#')
        .then(|| data.to_vec())
}
