//! Request bodies (`codec::http_body`): `Content-Length` and chunked.
//!
//! The input picks the framing and `max_body_bytes`, then is the stream after the head.
//! Properties: any split of the stream gives the same body (or error) and leaves the same bytes
//! for the next request; a body never exceeds the limit and a `Content-Length` body is exactly
//! its bytes; errors repeat; a length declared beyond the limit is refused, not allocated; and
//! bodies we chunk-encode ourselves (sizes, extensions, trailers all chosen by the input) decode
//! back to what was encoded.

use bytes::{Bytes, BytesMut};
use tidegate::codec::http_body::{BodyDecoder, BodyError};
use tidegate::codec::http_head::BodyFraming;

use crate::alloc_guard;
use crate::input::{pieces, ByteReader, Split};

pub fn run(data: &[u8]) {
    let mut input = ByteReader::new(data);
    let selector = input.u8();
    let max_body_bytes = usize::from(input.u16() % 4097);
    let framing = match selector % 4 {
        0 => BodyFraming::Empty,
        1 if selector & 0x80 == 0 => BodyFraming::Length(u64::from(input.u16())),
        1 => BodyFraming::Length(input.u64()),
        _ => BodyFraming::Chunked,
    };
    let stream = input.rest();
    let whole = decode(framing, max_body_bytes, stream, None);
    for split in [Split::ByteByByte, Split::Random] {
        let read = decode(framing, max_body_bytes, stream, Some(split));
        assert_eq!(
            read, whole,
            "reading in pieces ({split:?}) changed the result"
        );
    }
    if let (BodyFraming::Length(len), Outcome::Body { body, .. }) = (framing, &whole) {
        assert_eq!(body.len() as u64, len);
        assert_eq!(&body[..], &stream[..body.len()]);
    }
    round_trip(stream, max_body_bytes);
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Body { body: Bytes, consumed: usize },
    NeedMore,
    Error(BodyError),
}

/// Feeds `stream` whole (`split: None`) or in pieces, as `dispatch::connection` does.
fn decode(
    framing: BodyFraming,
    max_body_bytes: usize,
    stream: &[u8],
    split: Option<Split>,
) -> Outcome {
    let mut decoder = BodyDecoder::new(framing, max_body_bytes);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    // Like `read_body`, decode before the first read too (the head's read may hold the body).
    let reads = match split {
        Some(split) => [&[][..]].into_iter().chain(pieces(stream, split)).collect(),
        None => vec![stream],
    };
    // The body buffer grows by doubling up to the limit; the reads themselves are outside.
    let bound = 2 * max_body_bytes + 1024;
    for piece in reads {
        buf.extend_from_slice(piece);
        fed += piece.len();
        let result =
            alloc_guard::bounded("BodyDecoder::decode", bound, || decoder.decode(&mut buf));
        match result {
            Ok(None) => assert!(buf.is_empty(), "the decoder wants more but left bytes"),
            Ok(Some(body)) => {
                assert!(body.len() <= max_body_bytes, "body over max_body_bytes");
                let after = decoder.decode(&mut buf);
                assert_eq!(
                    after,
                    Ok(Some(Bytes::new())),
                    "a finished body is handed out once"
                );
                return Outcome::Body {
                    body,
                    consumed: fed - buf.len(),
                };
            }
            Err(error) => {
                assert_eq!(
                    decoder.decode(&mut buf),
                    Err(error.clone()),
                    "errors repeat"
                );
                assert!(matches!(error.status(), 400 | 413));
                return Outcome::Error(error);
            }
        }
    }
    Outcome::NeedMore
}

/// Chunk-encodes a body described by `data`, decodes it, and expects it back.
fn round_trip(data: &[u8], max_body_bytes: usize) {
    let mut input = ByteReader::new(data);
    let mut body = Vec::new();
    let mut wire = Vec::new();
    while !input.is_empty() {
        let style = input.u8();
        let size = usize::from(input.u8() & 0x3f) + 1;
        let chunk = input.bytes(size);
        if chunk.is_empty() {
            break;
        }
        let hex = format!("{:x}", chunk.len());
        let hex = match style % 3 {
            0 => hex,
            1 => hex.to_uppercase(),
            _ => format!("000{hex}"),
        };
        wire.extend_from_slice(hex.as_bytes());
        if style & 0x10 != 0 {
            wire.extend_from_slice(b" ;name=\"value\";flag");
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
        body.extend_from_slice(chunk);
    }
    wire.extend_from_slice(b"0\r\n");
    if data.first().is_some_and(|b| b & 0x20 != 0) {
        wire.extend_from_slice(b"Trailer-Field: yes\r\nAnother: 1\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    let encoded_len = wire.len();
    wire.extend_from_slice(b"GET /next HTTP/1.1\r\n");
    let expected = if body.len() <= max_body_bytes {
        Outcome::Body {
            body: Bytes::from(body),
            consumed: encoded_len,
        }
    } else {
        Outcome::Error(BodyError::TooLarge { max_body_bytes })
    };
    for split in [None, Some(Split::ByteByByte), Some(Split::Random)] {
        let decoded = decode(BodyFraming::Chunked, max_body_bytes, &wire, split);
        assert_eq!(decoded, expected, "a body we chunk-encoded ({split:?})");
    }
}
