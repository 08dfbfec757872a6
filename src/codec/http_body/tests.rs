use super::*;
use crate::codec::http_response::{encode_chunk, encode_last_chunk};
use proptest::prelude::*;

fn decode_all(
    framing: BodyFraming,
    max: usize,
    input: &[u8],
) -> (Result<Option<Bytes>, BodyError>, BytesMut) {
    let mut buf = BytesMut::from(input);
    let result = BodyDecoder::new(framing, max).decode(&mut buf);
    (result, buf)
}

fn chunked(input: &str) -> Result<Option<Bytes>, BodyError> {
    decode_all(BodyFraming::Chunked, 64, input.as_bytes()).0
}

#[test]
fn content_length_leaves_the_next_request() {
    let (body, rest) = decode_all(BodyFraming::Length(5), 64, b"helloGET /");
    assert_eq!(body, Ok(Some(Bytes::from_static(b"hello"))));
    assert_eq!(&rest[..], b"GET /");
    for framing in [BodyFraming::Empty, BodyFraming::Length(0)] {
        let (body, rest) = decode_all(framing, 64, b"");
        assert_eq!(body, Ok(Some(Bytes::new())));
        assert!(rest.is_empty());
    }
}

#[test]
fn content_length_too_large_fails_before_reading() {
    let mut decoder = BodyDecoder::new(BodyFraming::Length(65), 64);
    let error = decoder.decode(&mut BytesMut::new()).unwrap_err();
    assert_eq!(error, BodyError::TooLarge { max_body_bytes: 64 });
    assert_eq!(error.status(), 413);
    assert_eq!(error.to_string(), "request body exceeds 64 bytes");
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let input =
        "5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nTrailer: t\r\nOther: o\r\n\r\nNEXT";
    let (body, rest) = decode_all(BodyFraming::Chunked, 64, input.as_bytes());
    assert_eq!(body, Ok(Some(Bytes::from_static(b"hello world"))));
    assert_eq!(&rest[..], b"NEXT");
    assert_eq!(
        chunked("A\r\n0123456789\r\n0\r\n\r\n"),
        Ok(Some(Bytes::from_static(b"0123456789")))
    );
    assert_eq!(chunked("0\r\n\r\n"), Ok(Some(Bytes::new())));
}

#[test]
fn chunked_errors() {
    let malformed = |input: &str| match chunked(input) {
        Err(error @ BodyError::Malformed(_)) => error.status(),
        other => panic!("{input:?} gave {other:?}"),
    };
    for input in [
        "\r\n",                  // empty size
        "g\r\n",                 // not hex
        "-1\r\n",                // sign
        ";ext\r\n",              // extension without size
        "5 x\r\nhello\r\n",      // junk after the size
        "5\nhello\r\n",          // bare LF
        "5\rxhello",             // CR without LF
        "5\r\nhelloXX0\r\n\r\n", // data not followed by CRLF
        "10000000000000000\r\n", // 17 hex digits: overflows u64
        "0\r\nTrailer: t\n\r\n", // bare LF in trailers
    ] {
        assert_eq!(malformed(input), 400, "{input:?}");
    }
    let long_extension = format!("1;{}\r\n", "x".repeat(MAX_CHUNK_EXTENSION_BYTES + 1));
    assert_eq!(malformed(&long_extension), 400);
    let long_trailer = format!("0\r\nT: {}\r\n\r\n", "x".repeat(MAX_TRAILER_BYTES));
    assert_eq!(malformed(&long_trailer), 400);
}

#[test]
fn chunked_cumulative_limit() {
    // 40 + 30 > 64: refused when the second size is read, before its data arrives.
    let input = format!("28\r\n{}\r\n1E\r\n", "a".repeat(40));
    assert_eq!(
        chunked(&input),
        Err(BodyError::TooLarge { max_body_bytes: 64 })
    );
    let exact = format!(
        "28\r\n{}\r\n18\r\n{}\r\n0\r\n\r\n",
        "a".repeat(40),
        "b".repeat(24)
    );
    assert_eq!(chunked(&exact).unwrap().unwrap().len(), 64);
}

#[test]
fn errors_are_sticky() {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, 64);
    assert!(decoder.decode(&mut BytesMut::from("zz")).is_err());
    let again = decoder.decode(&mut BytesMut::from("0\r\n\r\n"));
    assert_eq!(
        again,
        Err(BodyError::Malformed("chunk size is not hexadecimal"))
    );
}

fn encode_chunked(body: &[u8], sizes: &[usize]) -> BytesMut {
    let mut wire = BytesMut::new();
    let mut rest = body;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let take = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        encode_chunk(&mut wire, &rest[..take]);
        rest = &rest[take..];
    }
    encode_last_chunk(&mut wire);
    wire
}

proptest! {
    #[test]
    fn any_split_decodes_the_same(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        sizes in proptest::collection::vec(1usize..40, 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        chunked in any::<bool>(),
    ) {
        let (framing, mut wire) = if chunked {
            (BodyFraming::Chunked, encode_chunked(&body, &sizes))
        } else {
            (BodyFraming::Length(body.len() as u64), BytesMut::from(&body[..]))
        };
        wire.extend_from_slice(b"NEXT");
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.sort_unstable();
        points.push(wire.len());
        let mut decoder = BodyDecoder::new(framing, 300);
        let mut buf = BytesMut::new();
        let mut start = 0;
        let mut decoded = None;
        for point in points {
            buf.extend_from_slice(&wire[start..point]);
            start = point;
            if let Some(done) = decoder.decode(&mut buf).unwrap() {
                decoded = Some(done);
                break;
            }
        }
        buf.extend_from_slice(&wire[start..]);
        prop_assert_eq!(decoded.as_deref(), Some(&body[..]));
        prop_assert_eq!(&buf[..], b"NEXT");
    }

    #[test]
    fn one_byte_at_a_time(body in proptest::collection::vec(any::<u8>(), 1..100)) {
        let wire = encode_chunked(&body, &[7, 1, 13]);
        let mut decoder = BodyDecoder::new(BodyFraming::Chunked, 100);
        let mut buf = BytesMut::new();
        let mut decoded = None;
        for &byte in wire.iter() {
            prop_assert!(decoded.is_none());
            buf.extend_from_slice(&[byte]);
            decoded = decoder.decode(&mut buf).unwrap();
        }
        prop_assert_eq!(decoded.as_deref(), Some(&body[..]));
    }
}
