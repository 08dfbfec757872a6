//! How a connection's output reaches its socket: as it is (plaintext, the gathered `writev` of
//! shared payloads), or encrypted by its TLS session first. Both go through the same
//! stall-bounded `StallWriter`, so `replyStallMs` and `streamStallMs` hold over TLS too.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::CancelableAsyncWriteRent;

use crate::server::stall_write::StallWriter;
use crate::server::write_batch::WriteBatch;
use crate::tls::{PeerCertificates, TlsSession};

/// The writing side of a connection's transport.
pub enum Transport {
    /// Bytes go to the socket as they are.
    Plain,
    /// Bytes are encrypted first (boxed: a plaintext connection, idle streams included, holds
    /// no room for it).
    Tls(Box<TlsWrites>),
}

/// The writing side of a TLS connection.
pub struct TlsWrites {
    session: TlsSession,
    /// Records a stalled write left unsent: whatever is written next goes after them.
    unsent: WriteBatch,
    /// A write is under way (its records may be half sent: no close_notify then).
    writing: bool,
    /// The socket, for the close_notify sent when the connection ends; open for as long as this
    /// lives (the owner declares it before the socket, so it is dropped first).
    fd: RawFd,
}

impl Transport {
    /// The TLS transport of a session on socket `fd`.
    pub fn tls(session: TlsSession, fd: RawFd) -> Transport {
        Transport::Tls(Box::new(TlsWrites {
            session,
            unsent: WriteBatch::new(),
            writing: false,
            fd,
        }))
    }

    /// The TLS session, when there is one (the reading side shares it).
    pub fn session(&self) -> Option<&TlsSession> {
        match self {
            Transport::Plain => None,
            Transport::Tls(tls) => Some(&tls.session),
        }
    }

    /// The verified client certificate chain of a TLS connection that presented one.
    pub fn peer_certificates(&self) -> Option<&PeerCertificates> {
        self.session()
            .and_then(TlsSession::peer_certificates)
            .map(|peer| &**peer)
    }

    /// Writes all of `batch` with `writes`' no-progress deadline `stall`. Returns what was not
    /// written: for plaintext, exactly those bytes (the caller may append last words after them);
    /// for TLS nothing, since the unsent records are kept here and go out before the next write.
    pub async fn write_all<W: CancelableAsyncWriteRent>(
        &mut self,
        writes: &mut StallWriter,
        writer: &mut W,
        batch: WriteBatch,
        stall: Duration,
    ) -> (io::Result<()>, WriteBatch) {
        match self {
            Transport::Plain => writes.write_all(writer, batch, stall).await,
            Transport::Tls(tls) => {
                let result = tls.write_all(writes, writer, batch, stall).await;
                (result, WriteBatch::new())
            }
        }
    }
}

impl TlsWrites {
    async fn write_all<W: CancelableAsyncWriteRent>(
        &mut self,
        writes: &mut StallWriter,
        writer: &mut W,
        mut batch: WriteBatch,
        stall: Duration,
    ) -> io::Result<()> {
        let plain = batch.take_parts();
        let plain_bytes: usize = plain.iter().map(|part| part.len()).sum();
        // Records add a few dozen bytes per 16 KiB.
        let mut cipher = BytesMut::with_capacity(plain_bytes + plain_bytes / 256 + 64);
        self.session.seal(&plain, &mut cipher)?;
        let mut out = std::mem::take(&mut self.unsent);
        out.push_part(cipher.freeze());
        if out.is_empty() {
            return Ok(());
        }
        self.writing = true;
        let (result, rest) = writes.write_all(writer, out, stall).await;
        self.writing = false;
        if result.is_err() {
            self.unsent = rest;
        }
        result
    }
}

impl Drop for TlsWrites {
    /// Ends the session with close_notify (best effort, never waiting): a client reading to the
    /// end of the stream then knows it was not cut. Skipped when records are unsent or half sent.
    fn drop(&mut self) {
        if self.writing || !self.unsent.is_empty() {
            return;
        }
        let alert = self.session.close_notify();
        if alert.is_empty() {
            return;
        }
        // SAFETY: `fd` is the connection's socket, still open (the owner drops this before the
        // socket); `send` reads `alert.len()` bytes from a live buffer. MSG_DONTWAIT: a full send
        // buffer drops the alert instead of blocking the shard. monoio's sockets expose no
        // borrowed descriptor for a safe wrapper (socket2) to use.
        unsafe {
            libc::send(
                self.fd,
                alert.as_ptr().cast(),
                alert.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
        }
    }
}
