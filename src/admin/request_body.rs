//! Reading a request body on the gateway's own HTTP server: `Content-Length` only, bounded, by
//! the whole-request deadline. These endpoints take small JSON documents; a chunked body is
//! refused (411) rather than decoded, so one rule bounds every body: its declared length.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::reply::Reply;
use crate::codec::http_head::{BodyFraming, RequestHead};

/// Why a body could not be read.
pub(super) enum BodyFailure {
    /// Answer this (413, 411) without reading further.
    Refused(Reply),
    /// The whole-request deadline passed.
    TimedOut,
    /// The peer closed, or the socket failed.
    Gone,
}

/// Reads the body `head` announces: the bytes already in `buf` (read with the head) and the rest
/// from `stream`, by `deadline`.
pub(super) fn read_body(
    stream: &mut TcpStream,
    head: &RequestHead,
    mut buf: BytesMut,
    max_body_bytes: usize,
    deadline: Instant,
) -> Result<Bytes, BodyFailure> {
    let length =
        match head.body_framing() {
            BodyFraming::Empty => return Ok(Bytes::new()),
            BodyFraming::Chunked => return Err(BodyFailure::Refused(Reply::text(
                411,
                "a chunked request body is not accepted here; send the body with Content-Length",
            ))),
            BodyFraming::Length(length) => length,
        };
    if length > max_body_bytes as u64 {
        return Err(BodyFailure::Refused(Reply::text(
            413,
            format!(
                "the request body is {length} bytes; this endpoint takes at most {max_body_bytes}"
            ),
        )));
    }
    // At most `max_body_bytes`, checked above.
    let length = length as usize;
    buf.truncate(length);
    let mut chunk = [0u8; 4096];
    while buf.len() < length {
        let left = super::http_server::time_left(deadline).ok_or(BodyFailure::TimedOut)?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| BodyFailure::Gone)?;
        let wanted = (length - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..wanted]) {
            Ok(0) => return Err(BodyFailure::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(err) if super::http_server::is_timeout(&err) => return Err(BodyFailure::TimedOut),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(BodyFailure::Gone),
        }
    }
    Ok(buf.freeze())
}
