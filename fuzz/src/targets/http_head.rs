//! Request heads (`codec::http_head`), read the way a connection reads them.
//!
//! Properties: parsing the input as the connection does (after each read, only once
//! `head_terminated` or the limit is reached), in reads of one byte or of random sizes, never
//! misses a complete head and decides a full window; whatever it decides is what parsing the
//! whole input at once decides (it may decide later: a bad request line is only reported once a
//! blank line or the limit arrives, by design); a head never exceeds the limits; its
//! accessors agree with its framing; no allocation beyond a small multiple of the window.

use bytes::BytesMut;
use tidegate::codec::http_head::{
    head_terminated, parse_request_head, BodyFraming, HeadError, HeadLimits, RequestHead,
};

use crate::alloc_guard;
use crate::input::{pieces, Split};

/// A small window (the stack path for header slots) and a large one (the heap path).
const LIMITS: [HeadLimits; 2] = [
    HeadLimits {
        max_header_bytes: 1024,
        max_header_count: 8,
    },
    HeadLimits {
        max_header_bytes: 16 * 1024,
        max_header_count: 100,
    },
];

pub fn run(data: &[u8]) {
    for limits in &LIMITS {
        let whole = parse_whole(data, limits);
        for split in [Split::ByteByByte, Split::Random] {
            let read = parse_as_connection(data, limits, split);
            match (&read, &whole) {
                (Outcome::Incomplete, Outcome::Head { .. }) => {
                    panic!("reading in pieces ({split:?}) missed a complete head: {whole:?}")
                }
                (Outcome::Incomplete, _) => assert!(
                    data.len() < limits.max_header_bytes,
                    "a full window is always decided"
                ),
                _ => assert_eq!(
                    &read, &whole,
                    "reading in pieces ({split:?}) changed the result"
                ),
            }
        }
    }
}

/// What one parse came to; heads are compared by what their accessors return.
#[derive(Debug, PartialEq)]
enum Outcome {
    Head { head: Summary, consumed: usize },
    Incomplete,
    Error(HeadError),
}

#[derive(Debug, PartialEq)]
struct Summary {
    method: String,
    path: String,
    query: Option<String>,
    version_minor: u8,
    headers: Vec<(String, Vec<u8>)>,
    framing: BodyFraming,
}

fn parse_whole(data: &[u8], limits: &HeadLimits) -> Outcome {
    let mut buf = BytesMut::from(data);
    let result = parse(&mut buf, limits);
    outcome(result, data, data.len() - buf.len(), limits)
}

/// `dispatch::connection::read_head`'s loop, minus the socket.
fn parse_as_connection(data: &[u8], limits: &HeadLimits, split: Split) -> Outcome {
    let mut buf = BytesMut::new();
    let mut searched = 0;
    let mut fed = 0;
    for piece in pieces(data, split) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        let complete_or_too_long =
            head_terminated(&buf, searched) || buf.len() >= limits.max_header_bytes;
        searched = buf.len();
        if !complete_or_too_long {
            continue;
        }
        match parse(&mut buf, limits) {
            Ok(None) => {}
            result => return outcome(result, data, fed - buf.len(), limits),
        }
    }
    Outcome::Incomplete
}

fn parse(buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<RequestHead>, HeadError> {
    let before = buf.len();
    // The head is copied out of the window; header bookkeeping is a few words per byte at most.
    let bound = 32 * limits.max_header_bytes.min(before) + 8 * 1024;
    let result = alloc_guard::bounded("parse_request_head", bound, || {
        parse_request_head(buf, limits)
    });
    if !matches!(result, Ok(Some(_))) {
        assert_eq!(
            buf.len(),
            before,
            "a head that was not parsed consumed bytes"
        );
    }
    result
}

fn outcome(
    result: Result<Option<RequestHead>, HeadError>,
    data: &[u8],
    consumed: usize,
    limits: &HeadLimits,
) -> Outcome {
    match result {
        Ok(Some(head)) => Outcome::Head {
            head: check_head(&head, &data[..consumed], limits),
            consumed,
        },
        Ok(None) => {
            assert!(
                data.len() < limits.max_header_bytes,
                "a full window must parse or fail"
            );
            Outcome::Incomplete
        }
        Err(error) => {
            assert!(matches!(error.status(), 400 | 431 | 501 | 505));
            Outcome::Error(error)
        }
    }
}

/// The head's invariants; returns what its accessors say.
fn check_head(head: &RequestHead, raw: &[u8], limits: &HeadLimits) -> Summary {
    assert!(raw.len() <= limits.max_header_bytes, "head over the limit");
    assert!(head_terminated(raw, 0), "a head ends with its blank line");
    assert!(head.path().starts_with('/') && !head.path().contains('?'));
    assert!(head.version_minor() <= 1);
    let headers: Vec<(String, Vec<u8>)> = head
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_vec()))
        .collect();
    assert!(headers.len() <= limits.max_header_count);
    for (name, value) in &headers {
        assert!(!name.is_empty());
        let first = head.header(name).expect("a listed header is found by name");
        let first_listed = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        assert_eq!(Some(first), first_listed.map(|(_, v)| v.as_slice()));
        assert!(head.headers_named(name).any(|v| v == value.as_slice()));
    }
    let named = |wanted: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(wanted));
    match head.body_framing() {
        BodyFraming::Empty => assert!(!named("content-length") && !named("transfer-encoding")),
        BodyFraming::Length(_) => assert!(named("content-length") && !named("transfer-encoding")),
        BodyFraming::Chunked => {
            assert!(named("transfer-encoding") && !named("content-length"));
            assert_eq!(head.version_minor(), 1);
        }
    }
    // Everything the router and the entrypoints ask of a head.
    let _ = (
        head.keep_alive(),
        head.is_websocket_upgrade(),
        head.accepts_event_stream(),
    );
    let _ = (head.query_param("cursor"), head.header_str("last-event-id"));
    Summary {
        method: format!("{:?}", head.method()),
        path: head.path().to_owned(),
        query: head.query().map(str::to_owned),
        version_minor: head.version_minor(),
        headers,
        framing: head.body_framing(),
    }
}
