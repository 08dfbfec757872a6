//! The HTTP/1.1 bits a client needs: request heads and response heads (httparse).

use bytes::{Buf, BytesMut};

use crate::engine::SessionError;

/// Most response headers we accept (nginx and tidegate send fewer than ten).
const MAX_RESPONSE_HEADERS: usize = 32;

/// The `Sec-WebSocket-Key` every harness client sends; the server's answer is not checked
/// (the harness tests throughput, not handshake conformance; tests/websocket.rs does that).
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A parsed response head: what framing follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub content_length: Option<usize>,
    pub chunked: bool,
}

/// Splits a complete response head off `buf`; `Ok(None)` = need more bytes.
pub fn take_response_head(buf: &mut BytesMut) -> Result<Option<ResponseHead>, SessionError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_bytes = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(SessionError::Protocol(format!("bad response head: {err}"))),
    };
    let mut head = ResponseHead {
        status: response.code.unwrap_or(0),
        content_length: None,
        chunked: false,
    };
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).unwrap_or("");
            head.content_length = text.trim().parse().ok();
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = header.value.eq_ignore_ascii_case(b"chunked");
        }
    }
    buf.advance(head_bytes);
    Ok(Some(head))
}

/// The error for an unexpected status, with the start of the body as detail.
pub fn unexpected(head: &ResponseHead, body: &[u8]) -> SessionError {
    let end = body.len().min(200);
    SessionError::Status {
        status: head.status,
        detail: String::from_utf8_lossy(&body[..end]).trim().to_owned(),
    }
}

/// Appends a WebSocket upgrade request.
pub fn put_ws_upgrade(out: &mut BytesMut, path: &str, host: &str) {
    put_ws_upgrade_with(out, path, host, "");
}

/// The permessage-deflate offer of `tidegate-load idle --ws-deflate` (browsers send the same).
pub const DEFLATE_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// Appends a WebSocket upgrade request with `extra` header lines (each ending in CRLF).
pub fn put_ws_upgrade_with(out: &mut BytesMut, path: &str, host: &str, extra: &str) {
    out.extend_from_slice(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .as_bytes(),
    );
}

/// Appends a GET request with an `Accept` header.
pub fn put_get(out: &mut BytesMut, path_and_query: &str, host: &str, accept: &str) {
    out.extend_from_slice(
        format!("GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n\r\n")
            .as_bytes(),
    );
}

/// Appends a POST request carrying `body`.
pub fn put_post(out: &mut BytesMut, path: &str, host: &str, body: &[u8]) {
    out.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_and_leaves_the_body() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\nX-Message-Id: 9\r\n\r\nbody"[..],
        );
        let head = take_response_head(&mut buf).unwrap().unwrap();
        assert_eq!(
            (head.status, head.content_length, head.chunked),
            (202, Some(4), false)
        );
        assert_eq!(&buf[..], b"body");
    }

    #[test]
    fn waits_for_the_whole_head() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"[..]);
        assert_eq!(take_response_head(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r\n");
        assert!(take_response_head(&mut buf).unwrap().unwrap().chunked);
    }
}
