//! Receiving a request body: `Expect: 100-continue`, `maxBodyBytes`, and the body deadline.
//!
//! The connection decides from the head alone whether it will use the body (`wanted`): a request
//! that will be refused anyway (no API, no entrypoint for its method) and that asked
//! `Expect: 100-continue` is answered without its body ever being sent (RFC 9110 §10.1.1); the
//! connection then closes, since the body may still come. Without `Expect`, a refused request's
//! body is read and dropped as before, which keeps the connection usable.

use bytes::Bytes;
use monoio::time::Instant;

use crate::codec::http_body::BodyDecoder;
use crate::codec::http_head::{BodyFraming, RequestHead};
use crate::codec::http_response::encode_continue;
use crate::server::conn::Conn;
use crate::shard::Shard;

/// What became of a request's body.
pub enum Body {
    /// The whole body (empty when the request has none).
    Received(Bytes),
    /// The client waits for `100 Continue` before sending a body the request does not need:
    /// answer the final status and close.
    Unread,
    /// The connection must close: the peer left, or the problem was answered (413, 400, 408).
    Closed,
}

/// Receives the body `head` announces, within `maxBodyBytes` (413) and `headerReadMs` for the
/// whole body (408). With `Expect: 100-continue` on HTTP/1.1, `100 Continue` goes out once the
/// body is known to be acceptable (a `Content-Length` over the bound is answered 413 instead)
/// and no byte of it has arrived yet.
pub async fn receive(conn: &mut Conn, head: &RequestHead, wanted: bool, shard: &Shard) -> Body {
    let framing = head.body_framing();
    if framing == BodyFraming::Empty {
        return Body::Received(Bytes::new());
    }
    let expects_continue = expects_continue(head);
    if expects_continue && !wanted {
        return Body::Unread;
    }
    let mut decoder = BodyDecoder::new(framing, shard.gateway.limits.max_body_bytes);
    // A client that sent body bytes without waiting needs no 100 (RFC 9110 §10.1.1 allows
    // omitting it).
    let mut continue_owed = expects_continue && conn.read_buf.is_empty();
    // One deadline for the whole body: a trickle of bytes cannot hold the connection forever.
    let deadline = Instant::now() + shard.gateway.timeouts.header_read;
    loop {
        match decoder.decode(&mut conn.read_buf) {
            Ok(Some(body)) => return Body::Received(body),
            Ok(None) => {}
            Err(err) => {
                let _ = conn
                    .respond_text(err.status(), &err.to_string(), true)
                    .await;
                return Body::Closed;
            }
        }
        if std::mem::take(&mut continue_owed) {
            encode_continue(&mut conn.write_buf);
            if conn.flush().await.is_err() {
                return Body::Closed;
            }
        }
        match monoio::time::timeout_at(deadline, conn.read_more()).await {
            Ok(Ok(read)) if read > 0 => {}
            Ok(_) => return Body::Closed,
            Err(_elapsed) => {
                let message = "request body not received in time: send the whole body within gateway.timeouts.headerReadMs";
                let _ = conn.respond_text(408, message, true).await;
                return Body::Closed;
            }
        }
    }
}

/// `Expect: 100-continue` (case-insensitive) on HTTP/1.1; HTTP/1.0 clients cannot be sent a
/// 1xx, so there it is ignored (RFC 9110 §10.1.1).
fn expects_continue(head: &RequestHead) -> bool {
    head.version_minor() >= 1
        && head.headers_named("expect").any(|value| {
            value
                .split(|&b| b == b',')
                .any(|item| item.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
        })
}
