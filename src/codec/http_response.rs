//! HTTP/1.1 response encoding into a `BytesMut`: status line, header fields, framing, chunks.
//!
//! The encoder writes what it is told; framing is chosen by the caller through [`BodyKind`] so
//! one place decides between `Content-Length`, chunked, and "ends when the connection closes"
//! (101 upgrades, SSE on HTTP/1.0). Header names and values come from our own code and config,
//! never verbatim from a client, but CR, LF and NUL are still replaced by spaces so that no value
//! can ever start a new header line (response splitting).

use bytes::{BufMut, BytesMut};

/// The status line and header fields of a response.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    /// The status code; its reason phrase comes from [`reason_phrase`].
    pub status: u16,
    /// Extra header fields, written in order; framing and `Connection` are added from the
    /// other fields, so do not pass `Content-Length`, `Transfer-Encoding` or `Connection` here.
    pub headers: &'a [(&'a str, &'a str)],
    /// How the body is delimited: decides the `Content-Length` or `Transfer-Encoding` field.
    pub body: BodyKind,
    /// Adds `Connection: close`; the caller closes after writing the body.
    pub close: bool,
}

/// How the body that follows the head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `Content-Length: n` (use `Length(0)` for an empty body).
    Length(usize),
    /// `Transfer-Encoding: chunked`; write [`encode_chunk`]s then [`encode_last_chunk`].
    Chunked,
    /// No framing header: 101, 204, 304, or a body that ends when the connection closes.
    None,
}

/// The reason phrase for `status`; "" for codes we never send (the phrase is optional).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes the status line, header fields, framing header, `Connection: close` and the blank line.
pub fn encode_response_head(dst: &mut BytesMut, head: &ResponseHead<'_>) {
    dst.reserve(
        64 + head
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>(),
    );
    // Three digits always: a status outside 100..=999 would make the status line unparsable.
    let status = head.status.clamp(100, 999);
    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(status.to_string().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(reason_phrase(status).as_bytes());
    dst.put_slice(b"\r\n");
    for (name, value) in head.headers {
        put_field(dst, name, value);
    }
    match head.body {
        BodyKind::Length(len) => put_field(dst, "Content-Length", &len.to_string()),
        BodyKind::Chunked => put_field(dst, "Transfer-Encoding", "chunked"),
        BodyKind::None => {}
    }
    if head.close {
        put_field(dst, "Connection", "close");
    }
    dst.put_slice(b"\r\n");
}

/// The interim `100 Continue` (RFC 9110 §15.2.1): the client may send the body it announced.
pub fn encode_continue(dst: &mut BytesMut) {
    dst.put_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// One chunk of a chunked body. Empty data writes nothing: a zero-size chunk would end the body.
pub fn encode_chunk(dst: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    dst.reserve(data.len() + 20);
    dst.put_slice(format!("{:X}\r\n", data.len()).as_bytes());
    dst.put_slice(data);
    dst.put_slice(b"\r\n");
}

/// The terminating zero-size chunk with no trailers.
pub fn encode_last_chunk(dst: &mut BytesMut) {
    dst.put_slice(b"0\r\n\r\n");
}

/// A complete response with a short plain-text body: every error answer goes through here, so
/// clients always get a sentence saying what went wrong (e.g. 404 "No context-path matches the
/// request URI.").
pub fn encode_text_response(dst: &mut BytesMut, status: u16, body: &str, close: bool) {
    let head = ResponseHead {
        status,
        headers: &[("Content-Type", "text/plain; charset=utf-8")],
        body: BodyKind::Length(body.len()),
        close,
    };
    encode_response_head(dst, &head);
    dst.put_slice(body.as_bytes());
}

fn put_field(dst: &mut BytesMut, name: &str, value: &str) {
    put_sanitized(dst, name.as_bytes());
    dst.put_slice(b": ");
    put_sanitized(dst, value.as_bytes());
    dst.put_slice(b"\r\n");
}

fn put_sanitized(dst: &mut BytesMut, text: &[u8]) {
    if text.iter().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
        dst.extend(text.iter().map(|&b| match b {
            b'\r' | b'\n' | b'\0' => b' ',
            other => other,
        }));
    } else {
        dst.put_slice(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> (u16, String, Vec<(String, String)>, usize) {
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut slots);
        let len = match response.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!("not a complete response head: {other:?}"),
        };
        let headers = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let reason = response.reason.unwrap_or_default().to_owned();
        (response.code.unwrap_or_default(), reason, headers, len)
    }

    #[test]
    fn text_response_is_exact() {
        let mut dst = BytesMut::new();
        encode_text_response(
            &mut dst,
            404,
            "No context-path matches the request URI.",
            false,
        );
        assert_eq!(
            &dst[..],
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 40\r\n\r\nNo context-path matches the request URI."
        );
    }

    #[test]
    fn round_trips_through_httparse() {
        for status in [
            100, 101, 200, 202, 204, 400, 401, 404, 405, 406, 410, 411, 413, 415, 429, 431, 500,
            501, 503, 505,
        ] {
            for (body, close) in [
                (BodyKind::Length(3), true),
                (BodyKind::Chunked, false),
                (BodyKind::None, false),
            ] {
                let mut dst = BytesMut::new();
                let headers = [("Content-Type", "application/json"), ("X-A", "b c")];
                encode_response_head(
                    &mut dst,
                    &ResponseHead {
                        status,
                        headers: &headers,
                        body,
                        close,
                    },
                );
                let (code, reason, fields, len) = parse(&dst);
                assert_eq!(code, status);
                assert_eq!(reason, reason_phrase(status));
                assert!(!reason.is_empty(), "{status} has no reason phrase");
                assert_eq!(len, dst.len());
                let mut expected: Vec<(String, String)> = headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                match body {
                    BodyKind::Length(n) => expected.push(("Content-Length".into(), n.to_string())),
                    BodyKind::Chunked => {
                        expected.push(("Transfer-Encoding".into(), "chunked".into()))
                    }
                    BodyKind::None => {}
                }
                if close {
                    expected.push(("Connection".into(), "close".into()));
                }
                assert_eq!(fields, expected);
            }
        }
    }

    #[test]
    fn unknown_status_and_injection_attempts_stay_parsable() {
        let mut dst = BytesMut::new();
        let headers = [("X-Evil", "a\r\nSet-Cookie: x"), ("X-Nul", "v\0")];
        encode_response_head(
            &mut dst,
            &ResponseHead {
                status: 299,
                headers: &headers,
                body: BodyKind::None,
                close: false,
            },
        );
        assert!(dst.starts_with(b"HTTP/1.1 299 \r\n"));
        let (code, _, fields, _) = parse(&dst);
        assert_eq!(code, 299);
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].1, "a  Set-Cookie: x");
        assert_eq!(fields[1].1, "v");
    }

    #[test]
    fn chunks() {
        let mut dst = BytesMut::new();
        encode_chunk(&mut dst, b"hello world, this is 31 bytes!!");
        encode_chunk(&mut dst, b"");
        encode_last_chunk(&mut dst);
        assert_eq!(
            &dst[..],
            b"1F\r\nhello world, this is 31 bytes!!\r\n0\r\n\r\n"
        );
    }
}
