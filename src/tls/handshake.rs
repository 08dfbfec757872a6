//! The TLS handshake of an accepted connection, on its shard, before the first request is read.
//! It runs within a deadline (`gateway.timeouts.headerReadMs`, the time a client has for its
//! first request head): a client that opens TCP and never completes a handshake holds a
//! connection slot (`maxConnectionsPerShard`) no longer than a slow request head would.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::time::Instant;
use rustls::{ServerConfig, ServerConnection};

use super::record_tail::RecordTail;
use super::session::{absorb, drain_output, TlsSession};
use crate::server::conn::READ_CHUNK_BYTES;
use crate::shard::io_buf::spare_capacity;

/// A completed handshake: the session, and the plaintext the client sent right after it (its
/// first request may arrive in the same packet as its Finished message).
pub struct Established {
    /// The session, ready for application data.
    pub session: TlsSession,
    /// Plaintext that arrived with the handshake's last flight.
    pub early_plaintext: BytesMut,
}

/// Why a handshake did not complete.
#[derive(Debug)]
pub enum HandshakeFailure {
    /// Not complete by the deadline.
    TimedOut,
    /// The client closed before completing it (e.g. a port scan, a health check).
    Closed,
    /// Invalid records, no shared version or cipher, a refused client certificate, no
    /// `http/1.1` among the client's ALPN protocols (rustls's reason).
    Failed(io::Error),
}

/// Completes the server side of a handshake on `stream` by `deadline`.
pub async fn accept(
    stream: &mut TcpStream,
    config: Arc<ServerConfig>,
    deadline: Instant,
) -> Result<Established, HandshakeFailure> {
    let mut conn = ServerConnection::new(config)
        .map_err(|error| HandshakeFailure::Failed(io::Error::other(error)))?;
    // What is queued for sending is bounded by the connection code's own writes (each batch is
    // encrypted and written before the next), so rustls need not cap it again.
    conn.set_buffer_limit(None);
    let mut tail = RecordTail::default();
    let handshake = handshake(stream, &mut conn, &mut tail);
    match monoio::time::timeout_at(deadline, handshake).await {
        Err(_elapsed) => Err(HandshakeFailure::TimedOut),
        Ok(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
            Err(HandshakeFailure::Closed)
        }
        Ok(Err(error)) => Err(HandshakeFailure::Failed(error)),
        Ok(Ok(early_plaintext)) => Ok(Established {
            session: TlsSession::new(conn, tail),
            early_plaintext,
        }),
    }
}

/// Reads and writes handshake records until the handshake is complete; returns the plaintext
/// that came with the last of them.
async fn handshake(
    stream: &mut TcpStream,
    conn: &mut ServerConnection,
    tail: &mut RecordTail,
) -> io::Result<BytesMut> {
    let mut cipher = BytesMut::new();
    let mut plain = BytesMut::new();
    let mut out = BytesMut::new();
    loop {
        drain_output(conn, &mut out)?;
        if !out.is_empty() {
            let (result, _) = stream.write_all(out.split().freeze()).await;
            result?;
        }
        if !conn.is_handshaking() {
            return Ok(plain);
        }
        let spare = spare_capacity(std::mem::take(&mut cipher), READ_CHUNK_BYTES);
        let (result, spare) = stream.read(spare).await;
        cipher = spare.into_inner();
        if result? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Err(error) = absorb(conn, tail, &mut cipher, &mut plain) {
            // The alert that says why (best effort: the client may be gone).
            if drain_output(conn, &mut out).is_ok() && !out.is_empty() {
                let _ = stream.write_all(out.split().freeze()).await;
            }
            return Err(error);
        }
    }
}
