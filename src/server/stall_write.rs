//! Socket writes with a no-progress deadline.
//!
//! A client that stops reading makes our writes pend forever, pinning what they carry. The
//! deadline is on *progress*, not on the whole write: it restarts whenever the client takes any
//! byte, so a slow reader that keeps reading is never cut, and one that stopped is cut after the
//! stall timeout. Progress is either a write completing or, while one waits, the socket's send
//! queue shrinking (the client acknowledged bytes): the kernel wakes a blocked writer only once
//! half its send buffer (autotuned up to megabytes) is free, so a slow reader could otherwise go
//! a long time without a completed write. The write that times out is cancelled and its outcome
//! awaited (never just dropped: with io_uring the kernel may have sent part of it), so the
//! caller knows exactly which bytes are still unsent and can append last words after them (a
//! WebSocket close, an SSE `goaway`).

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::RawFd;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use monoio::io::{CancelableAsyncWriteRent, Canceller};
use monoio::time::{Instant, Sleep};

use crate::server::write_batch::WriteBatch;

/// `ECANCELED`: what a cancelled operation completes with, on both drivers.
const OPERATION_CANCELED: i32 = 125;
/// How long a write may take before its send queue is first looked at. With io_uring every
/// write completes on a later turn of the event loop, so every write waits a little; only one
/// still waiting after this pays for reading the queue (a system call), and the stall deadline
/// runs from then.
const FIRST_LOOK: Duration = Duration::from_millis(50);

/// Where a waiting write is in its deadline.
enum Watch {
    /// Armed for `FIRST_LOOK`.
    Waiting,
    /// Armed for the stall timeout, with the send queue's length when it was last armed.
    Watching(Option<u64>),
}

/// The error of a write cut by the stall timeout, inside an `io::Error` of kind `TimedOut`
/// (a socket's own ETIMEDOUT has that kind too, and is not a stall).
#[derive(Debug)]
struct Stalled;

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client accepted no bytes within the stall timeout")
    }
}

impl std::error::Error for Stalled {}

/// Writes batches to one socket, each `writev` bounded by the stall timeout.
///
/// Holds nothing but the socket's descriptor: each `writev` gets a canceller of its own (two
/// small allocations, freed when it completes, next to a system call), so an idle connection
/// keeps no canceller alive.
pub struct StallWriter {
    /// The socket, to read its send queue's length while a write waits.
    fd: RawFd,
}

/// The error of a write cut by the stall timeout.
pub fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, Stalled)
}

/// True for the error `StallWriter::write_all` reports when the client stopped reading.
pub fn is_stall(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<Stalled>())
}

impl StallWriter {
    /// A writer for the socket `fd` (which must outlive it).
    pub fn new(fd: RawFd) -> StallWriter {
        StallWriter { fd }
    }

    /// The socket it writes to.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Writes all of `batch`; fails with a stall error (`is_stall`) once no byte was accepted
    /// for `stall`. The batch comes back holding exactly the bytes not written (sealed), so
    /// more can be appended and written after them.
    pub async fn write_all<W: CancelableAsyncWriteRent>(
        &mut self,
        writer: &mut W,
        mut batch: WriteBatch,
        stall: Duration,
    ) -> (io::Result<()>, WriteBatch) {
        batch.seal();
        while !batch.is_empty() {
            let (result, returned) = self.write_once(writer, batch, stall).await;
            batch = returned;
            match result {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), batch),
                Ok(written) => batch.advance(written),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), batch),
            }
        }
        (Ok(()), batch)
    }

    /// One `writev`, cancelled when the client takes nothing for `stall` (counted from
    /// `FIRST_LOOK` after it started waiting). The timer is armed only when the write has to
    /// wait; when it fires, a send queue shorter than when it was armed is progress and re-arms
    /// it.
    async fn write_once<W: CancelableAsyncWriteRent>(
        &mut self,
        writer: &mut W,
        batch: WriteBatch,
        stall: Duration,
    ) -> (io::Result<usize>, WriteBatch) {
        let canceller = Canceller::new();
        let mut write = pin!(writer.cancelable_writev(batch, canceller.handle()));
        let mut timer = pin!(None::<Sleep>);
        let mut watch = Watch::Waiting;
        let fd = self.fd;
        let finished = poll_fn(|cx| {
            if let Poll::Ready(done) = write.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            if timer.is_none() {
                timer.set(Some(monoio::time::sleep(FIRST_LOOK.min(stall))));
            }
            let Some(mut sleep) = timer.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            while sleep.as_mut().poll(cx).is_ready() {
                let now = send_queue_bytes(fd);
                match (&watch, now) {
                    (Watch::Waiting, _) => watch = Watch::Watching(now),
                    (Watch::Watching(Some(before)), Some(after)) if after < *before => {
                        watch = Watch::Watching(now);
                    }
                    (Watch::Watching(_), _) => return Poll::Ready(None),
                }
                sleep.as_mut().reset(Instant::now() + stall);
            }
            Poll::Pending
        })
        .await;
        if let Some(done) = finished {
            return done;
        }
        canceller.cancel();
        match write.await {
            (Err(err), batch) if err.raw_os_error() == Some(OPERATION_CANCELED) => {
                (Err(stalled()), batch)
            }
            // It completed before the cancellation took effect: that is progress.
            done => done,
        }
    }
}

/// Bytes in the socket's send queue (sent but not acknowledged, and not sent yet); `None` where
/// the platform cannot tell (then only completed writes count as progress).
#[cfg(target_os = "linux")]
fn send_queue_bytes(fd: RawFd) -> Option<u64> {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int through the pointer, which points to a live
    // local; `fd` is the connection's socket, open for as long as its writer exists. No safe
    // wrapper exists in our dependencies (socket2 has none for it).
    let result = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
    (result == 0).then_some(queued.max(0) as u64)
}

#[cfg(not(target_os = "linux"))]
fn send_queue_bytes(_fd: RawFd) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_deadline_is_a_stall() {
        assert!(is_stall(&stalled()));
        let socket_timeout = io::Error::from_raw_os_error(libc::ETIMEDOUT);
        assert_eq!(socket_timeout.kind(), io::ErrorKind::TimedOut);
        assert!(!is_stall(&socket_timeout));
    }
}
