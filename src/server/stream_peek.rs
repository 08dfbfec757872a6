//! What a hibernating stream takes off its socket without its reader task: bytes its handler
//! would read and ignore (a WebSocket client's pongs, whatever an SSE client sends), looked at
//! with a short peek and taken only when all of them are such bytes.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use crate::server::stream_read::ReaderParts;

impl<H> ReaderParts<H> {
    /// For a hibernating stream the socket woke: when what the socket holds is only bytes its
    /// handler would read and ignore (`ignorable`: a WebSocket client's pongs), takes them off
    /// the socket (counted as read): the stream sleeps on, its reader task not started.
    /// `Wake` when the reader must run: other bytes, more than `PEEK_BYTES`, the end of the
    /// stream or an error. Plain TCP only (a TLS stream always wakes).
    pub fn discard_if(&self, ignorable: impl Fn(&[u8]) -> bool) -> Discarded {
        if self.reader.tls.is_some() {
            return Discarded::Wake;
        }
        let fd = self.reader.stream().as_raw_fd();
        let mut peeked = [0u8; PEEK_BYTES];
        let Some(count) = recv_now(fd, &mut peeked, libc::MSG_PEEK) else {
            return Discarded::Nothing;
        };
        if count == 0 || count == PEEK_BYTES || !ignorable(&peeked[..count]) {
            return Discarded::Wake;
        }
        // The same bytes, now taken: a stream socket keeps what a peek saw for its one reader.
        if recv_now(fd, &mut peeked[..count], 0) != Some(count) {
            return Discarded::Wake;
        }
        self.exchange.read(count);
        Discarded::Taken
    }
}

/// What `ReaderParts::discard_if` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Discarded {
    /// Took ignorable bytes off the socket: the client was heard from.
    Taken,
    /// Found nothing waiting after all.
    Nothing,
    /// Took nothing: the reader must run.
    Wake,
}

/// Most bytes a hibernating stream looks at without its reader task (`discard_if`): a few
/// pongs; a client that sent more wakes its reader.
const PEEK_BYTES: usize = 256;

/// One non-blocking `recv` into `buf` with `flags`: the count (0: the peer closed), or `None`
/// when nothing is waiting; an error other than that reads as the end (`Some(0)`), which
/// wakes the reader to meet it.
fn recv_now(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> Option<usize> {
    loop {
        // SAFETY: `buf` is valid for `buf.len()` bytes of writes; `fd` is the stream's socket,
        // open while its reader's parts exist. MSG_DONTWAIT: the shard never blocks on it.
        let got = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags | libc::MSG_DONTWAIT,
            )
        };
        if got >= 0 {
            return Some(got as usize);
        }
        match io::Error::last_os_error().kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return None,
            _ => return Some(0),
        }
    }
}
