//! One socket write's worth of output, gathered for `writev`: framing bytes are copied into a
//! small buffer, while payloads of at least `ZERO_COPY_MIN_BYTES` are referenced as shared `Bytes`,
//! so a message fanned out to many sockets is never copied per subscriber.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use monoio::buf::IoVecBuf;

use crate::codec::batch::BodySink;

/// Payloads smaller than this are copied: an iovec entry costs more than copying a few hundred
/// bytes.
pub const ZERO_COPY_MIN_BYTES: usize = 512;
/// Most parts handed to one `writev`, which accepts at most IOV_MAX (1024) entries; a batch with
/// more is written in several calls (`seal` after each `advance` exposes the next ones).
const MAX_IOVECS: usize = 1000;

/// Bytes to write with one `writev`.
#[derive(Default)]
pub struct WriteBatch {
    /// Frozen parts, in order.
    parts: Vec<Bytes>,
    /// Total length of `parts` (kept, so `len` is O(1) for budget checks while rendering).
    parts_bytes: usize,
    /// Bytes copied since the last frozen part.
    tail: BytesMut,
    /// `iovec`s pointing into `parts`; built by `seal`, valid while `parts` is unchanged.
    iovecs: Vec<libc::iovec>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Appends copied bytes (framing, small payloads).
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
    }

    /// The copy buffer, for encoders that write into a `BytesMut`.
    pub fn tail_mut(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Appends a payload: by reference when large, by copy when small.
    pub fn put_shared(&mut self, payload: &Bytes) {
        if payload.len() < ZERO_COPY_MIN_BYTES {
            self.tail.extend_from_slice(payload);
            return;
        }
        self.push_part(payload.clone());
    }

    /// Appends bytes by reference, whatever their size (an already encoded block, e.g. a
    /// response head).
    pub fn push_part(&mut self, part: Bytes) {
        if part.is_empty() {
            return;
        }
        self.freeze_tail();
        self.parts_bytes += part.len();
        self.parts.push(part);
    }

    /// Puts bytes before everything pending (a response head rendered after its body).
    pub fn prepend(&mut self, part: Bytes) {
        if part.is_empty() {
            return;
        }
        self.parts_bytes += part.len();
        self.parts.insert(0, part);
    }

    /// Keeps only the first `len` bytes (drops what was appended after a mark taken with
    /// `len`). Nothing is copied; only bookkeeping is undone.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.parts_bytes {
            self.tail.truncate(len - self.parts_bytes);
            return;
        }
        self.tail.clear();
        let mut kept = 0;
        let mut count = 0;
        for part in &mut self.parts {
            if kept + part.len() >= len {
                part.truncate(len - kept);
                kept = len;
                count += 1;
                break;
            }
            kept += part.len();
            count += 1;
        }
        self.parts.truncate(count);
        self.parts.retain(|part| !part.is_empty());
        self.parts_bytes = kept;
    }

    /// Puts `front`'s bytes before everything pending (the rest of a direct write, which the
    /// socket already has the start of).
    pub fn prepend_batch(&mut self, mut front: WriteBatch) {
        front.freeze_tail();
        if front.parts.is_empty() {
            return;
        }
        self.parts_bytes += front.parts_bytes;
        self.parts.splice(0..0, front.parts);
    }

    /// The sealed window of parts (`seal`), for a write made without monoio.
    pub fn iovecs(&self) -> &[libc::iovec] {
        &self.iovecs
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.tail.is_empty()
    }

    /// Total bytes pending.
    pub fn len(&self) -> usize {
        self.parts_bytes + self.tail.len()
    }

    /// Freezes the copied bytes and builds the iovec array (of the first `MAX_IOVECS` parts);
    /// call before handing it to `writev`.
    pub fn seal(&mut self) {
        self.freeze_tail();
        self.iovecs.clear();
        self.iovecs
            .extend(self.parts.iter().take(MAX_IOVECS).map(|part| libc::iovec {
                iov_base: part.as_ptr() as *mut libc::c_void,
                iov_len: part.len(),
            }));
    }

    /// Drops the first `written` bytes after a partial write and re-seals what is left.
    /// (We do this ourselves: monoio 0.2.4's `write_vectored_all` does not advance the base of a
    /// partially written iovec.)
    pub fn advance(&mut self, mut written: usize) {
        self.parts_bytes -= written.min(self.parts_bytes);
        let mut done = 0;
        for part in &mut self.parts {
            if written >= part.len() {
                written -= part.len();
                done += 1;
            } else {
                bytes::Buf::advance(part, written);
                break;
            }
        }
        self.parts.drain(..done);
        self.seal();
    }

    /// Empties the batch after it was written, keeping its allocations.
    pub fn clear(&mut self) {
        self.parts.clear();
        self.parts_bytes = 0;
        self.iovecs.clear();
        self.tail.clear();
    }

    /// Takes every pending part out (copied bytes frozen into one), leaving the batch empty: for
    /// a TLS connection, which encrypts them instead of handing them to `writev`.
    pub fn take_parts(&mut self) -> Vec<Bytes> {
        self.freeze_tail();
        self.parts_bytes = 0;
        self.iovecs.clear();
        std::mem::take(&mut self.parts)
    }

    fn freeze_tail(&mut self) {
        if !self.tail.is_empty() {
            let part = self.tail.split().freeze();
            self.parts_bytes += part.len();
            self.parts.push(part);
        }
    }
}

/// A GET batch renders into a `WriteBatch` directly: framing is copied, payload runs of at least
/// `ZERO_COPY_MIN_BYTES` are referenced.
impl BodySink for WriteBatch {
    fn put_slice(&mut self, bytes: &[u8]) {
        WriteBatch::put_slice(self, bytes);
    }
    fn put_payload(&mut self, payload: &Bytes, range: Range<usize>) {
        if range.len() < ZERO_COPY_MIN_BYTES {
            self.tail.extend_from_slice(&payload[range]);
        } else {
            self.push_part(payload.slice(range));
        }
    }
    fn len(&self) -> usize {
        WriteBatch::len(self)
    }
    fn truncate(&mut self, len: usize) {
        WriteBatch::truncate(self, len);
    }
}

// SAFETY: the iovecs point into `parts`, whose `Bytes` keep their heap data alive and in place for
// as long as the batch lives; `seal` rebuilds them after every change, and the batch is not
// changed while monoio owns it for the write.
unsafe impl IoVecBuf for WriteBatch {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iovecs.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iovecs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered(batch: &WriteBatch) -> Vec<u8> {
        let mut out = Vec::new();
        for iovec in &batch.iovecs {
            // SAFETY: sealed iovecs point into the batch's live parts.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(iovec.iov_base as *const u8, iovec.iov_len)
            });
        }
        out
    }

    #[test]
    fn large_payloads_are_referenced_small_ones_copied_and_order_is_kept() {
        let large = Bytes::from(vec![b'L'; ZERO_COPY_MIN_BYTES]);
        let mut batch = WriteBatch::new();
        batch.put_slice(b"h1");
        batch.put_shared(&Bytes::from_static(b"small"));
        batch.put_slice(b"h2");
        batch.put_shared(&large);
        batch.put_slice(b"end");
        batch.seal();
        assert_eq!(
            batch.parts.len(),
            3,
            "copied prefix, shared payload, copied suffix"
        );
        assert_eq!(
            batch.parts[1].as_ptr(),
            large.as_ptr(),
            "the payload is not copied"
        );
        let mut expected = b"h1smallh2".to_vec();
        expected.extend_from_slice(&large);
        expected.extend_from_slice(b"end");
        assert_eq!(gathered(&batch), expected);
        assert_eq!(batch.len(), expected.len());
        batch.clear();
        assert!(batch.is_empty());
    }

    #[test]
    fn truncate_prepend_and_push_part_keep_order_and_length() {
        let large = Bytes::from(vec![b'L'; ZERO_COPY_MIN_BYTES]);
        let mut batch = WriteBatch::new();
        batch.put_slice(b"a");
        batch.put_shared(&large);
        let mark = batch.len();
        batch.put_slice(b"dropped");
        batch.put_shared(&large);
        batch.truncate(mark);
        assert_eq!(batch.len(), 1 + large.len());
        batch.put_slice(b"z");
        batch.prepend(Bytes::from_static(b"head"));
        batch.push_part(Bytes::from_static(b"!"));
        batch.seal();
        let mut expected = b"heada".to_vec();
        expected.extend_from_slice(&large);
        expected.extend_from_slice(b"z!");
        assert_eq!(gathered(&batch), expected);
        assert_eq!(batch.len(), expected.len());
        for cut in [0, 2, 4, 5, 6, expected.len() - 1] {
            let mut copy = WriteBatch::new();
            copy.push_part(Bytes::copy_from_slice(&expected[..4]));
            copy.put_slice(&expected[4..5]);
            copy.put_shared(&large);
            copy.put_slice(b"z!");
            copy.truncate(cut);
            copy.seal();
            assert_eq!(gathered(&copy), expected[..cut].to_vec(), "cut at {cut}");
            assert_eq!(copy.len(), cut);
        }
    }

    #[test]
    fn more_parts_than_one_writev_takes_are_exposed_a_window_at_a_time() {
        let large = Bytes::from(vec![b'L'; ZERO_COPY_MIN_BYTES]);
        let mut batch = WriteBatch::new();
        for _ in 0..MAX_IOVECS + 10 {
            batch.put_shared(&large);
        }
        batch.seal();
        assert_eq!(batch.iovecs.len(), MAX_IOVECS, "no payload was copied");
        batch.advance(MAX_IOVECS * large.len());
        assert_eq!(batch.iovecs.len(), 10);
        assert_eq!(batch.len(), 10 * large.len());
    }

    #[test]
    fn advance_after_a_partial_write_leaves_exactly_the_rest() {
        let large = Bytes::from((0..2000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let mut batch = WriteBatch::new();
        batch.put_slice(b"head");
        batch.put_shared(&large);
        batch.put_slice(b"tail");
        batch.seal();
        let all = gathered(&batch);
        for written in [0, 3, 4, 5, 1000, 2004, 2005, all.len()] {
            let mut copy = WriteBatch::new();
            copy.put_slice(b"head");
            copy.put_shared(&large);
            copy.put_slice(b"tail");
            copy.seal();
            copy.advance(written);
            assert_eq!(
                gathered(&copy),
                all[written..].to_vec(),
                "after {written} bytes"
            );
            assert_eq!(copy.len(), all.len() - written);
        }
    }
}
