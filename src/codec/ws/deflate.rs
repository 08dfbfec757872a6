//! permessage-deflate's data path (RFC 7692 §7.2), sans-IO: a message's payload deflated for the
//! client, a client's compressed message inflated within the message size limit.
//!
//! Memory is per shard, not per connection, wherever the protocol allows:
//! - The gateway always compresses without context takeover (`deflate_offer.rs`), so each shard
//!   thread keeps one compressor per window size in use (zlib's deflate state is ~256 KiB at
//!   15 bits) and every connection borrows it for one message at a time; none of them awaits.
//! - The last few messages deflated are remembered with their source payload, so a message fanned
//!   out to many clients of a shard is deflated once and its compressed bytes shared by every
//!   write, as the uncompressed payload is.
//! - A client that compresses without context takeover (asked by default) has its messages
//!   inflated by the shard's one inflater; only a client allowed context takeover owns an
//!   inflater (~7 KiB of state plus its 2^bits window) for the life of its connection.
//!
//! "Per shard" is per thread: shards are threads, so the shared state lives in a thread local
//! and needs no lock.

use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The empty stored block a sync flush ends with; taken off each sent message and put back
/// before inflating a received one (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Deflated messages remembered per shard for fan-out (each holds its source payload and its
/// compressed bytes alive).
const RECENT_MESSAGES: usize = 16;
/// Most bytes (sources and compressed copies) the remembered messages may hold alive per shard;
/// a message larger than this is deflated for each connection instead of remembered.
pub const RECENT_MAX_BYTES: usize = 4 << 20;
/// Smallest window zlib deflates with; index 0 of the per-shard compressors.
const MIN_WINDOW_BITS: u8 = 9;
/// zlib's default level: a fan-out message is compressed once per shard, so its cost is small
/// next to the bytes it saves on every connection.
const LEVEL: u32 = 6;

thread_local! {
    static SHARD: RefCell<ShardDeflate> = RefCell::new(ShardDeflate::default());
}

/// One shard's compressors, inflater and recently deflated messages.
#[derive(Default)]
struct ShardDeflate {
    /// One per window size 9..=15, created on first use.
    compressors: [Option<Compress>; 7],
    /// For clients without context takeover; 15 bits reads any client's window.
    inflater: Option<Decompress>,
    recent: VecDeque<Recent>,
    /// Bytes `recent` holds alive (at most `RECENT_MAX_BYTES`).
    recent_bytes: usize,
}

/// A payload deflated with one window size.
struct Recent {
    source: Bytes,
    window_bits: u8,
    compressed: Bytes,
}

impl Recent {
    fn bytes(&self) -> usize {
        self.source.len() + self.compressed.len()
    }
}

/// A message deflated for sending: the frame payload to send with RSV1 set.
pub struct Deflated {
    /// The deflated payload without its final `00 00 ff ff` (RFC 7692 §7.2.1), shared by every
    /// connection on the shard that sends this message with the same window.
    pub payload: Bytes,
    /// The shard had already deflated this very payload (a fan-out): nothing was compressed.
    pub reused: bool,
    /// Bytes the shard's remembered messages hold alive now (for the
    /// `websocket_deflate_recent_bytes` gauge).
    pub recent_bytes: usize,
}

/// Deflates a payload shared between connections, once per shard and window size: the same
/// `Bytes` (same allocation) deflated recently is answered from memory. `None` when zlib
/// failed, which cannot happen on memory buffers: the caller then sends it uncompressed.
pub fn deflate_shared(payload: &Bytes, window_bits: u8) -> Option<Deflated> {
    SHARD.with(|shard| {
        let mut shard = shard.borrow_mut();
        let found = shard.recent.iter().find(|r| {
            r.window_bits == window_bits
                && r.source.len() == payload.len()
                && r.source.as_ptr() == payload.as_ptr()
        });
        if let Some(recent) = found {
            return Some(Deflated {
                payload: recent.compressed.clone(),
                reused: true,
                recent_bytes: shard.recent_bytes,
            });
        }
        let compressed = shard.deflate(payload, window_bits)?;
        shard.remember(Recent {
            source: payload.clone(),
            window_bits,
            compressed: compressed.clone(),
        });
        Some(Deflated {
            payload: compressed,
            reused: false,
            recent_bytes: shard.recent_bytes,
        })
    })
}

/// Deflates a payload of this connection alone (e.g. its JSON envelope), not remembered.
pub fn deflate(payload: &[u8], window_bits: u8) -> Option<Bytes> {
    SHARD.with(|shard| shard.borrow_mut().deflate(payload, window_bits))
}

impl ShardDeflate {
    /// Remembers a deflated message, forgetting the oldest ones to stay within
    /// `RECENT_MESSAGES` and `RECENT_MAX_BYTES`; one larger than the budget is not remembered.
    fn remember(&mut self, recent: Recent) {
        if recent.bytes() > RECENT_MAX_BYTES {
            return;
        }
        while self.recent.len() >= RECENT_MESSAGES
            || self.recent_bytes + recent.bytes() > RECENT_MAX_BYTES
        {
            let Some(oldest) = self.recent.pop_front() else {
                break;
            };
            self.recent_bytes -= oldest.bytes();
        }
        self.recent_bytes += recent.bytes();
        self.recent.push_back(recent);
    }

    fn deflate(&mut self, payload: &[u8], window_bits: u8) -> Option<Bytes> {
        let bits = window_bits.clamp(MIN_WINDOW_BITS, 15);
        let compressor =
            self.compressors[usize::from(bits - MIN_WINDOW_BITS)].get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::new(LEVEL), false, bits)
            });
        compressor.reset();
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let before = compressor.total_in();
            compressor
                .compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync)
                .ok()?;
            consumed += (compressor.total_in() - before) as usize;
            // A sync flush is complete once input is all taken and output room is left.
            if consumed == payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        Some(Bytes::from(out))
    }
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates to more than the message limit (a zip bomb is refused at the limit, never
    /// inflated whole).
    TooLarge,
    /// Not valid deflate data.
    Corrupt,
}

/// How one connection's compressed messages are inflated.
#[derive(Debug)]
pub enum Inflater {
    /// The client resets its compressor per message: the shard's inflater serves it.
    Shared,
    /// The client keeps its compression context: so does this connection's own inflater.
    Own(Box<Decompress>),
}

impl Inflater {
    /// The inflater for what was agreed with a client (`client_window_bits` 9..=15).
    pub fn new(client_window_bits: u8, client_no_context_takeover: bool) -> Inflater {
        if client_no_context_takeover {
            Inflater::Shared
        } else {
            let bits = client_window_bits.clamp(MIN_WINDOW_BITS, 15);
            Inflater::Own(Box::new(Decompress::new_with_window_bits(false, bits)))
        }
    }

    /// Inflates one whole message (its frames' payloads joined), to at most `limit_bytes`.
    pub fn inflate(
        &mut self,
        compressed: &[u8],
        limit_bytes: usize,
    ) -> Result<Vec<u8>, InflateError> {
        match self {
            Inflater::Own(inflater) => inflate_into(inflater, compressed, limit_bytes),
            Inflater::Shared => SHARD.with(|shard| {
                let mut shard = shard.borrow_mut();
                let inflater = shard
                    .inflater
                    .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
                inflater.reset(false);
                inflate_into(inflater, compressed, limit_bytes)
            }),
        }
    }
}

/// Runs `inflater` over `compressed` and the sync-flush tail, growing the output no further than
/// one byte past `limit_bytes`.
fn inflate_into(
    inflater: &mut Decompress,
    compressed: &[u8],
    limit_bytes: usize,
) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    for input in [compressed, &TAIL[..]] {
        let mut consumed = 0;
        loop {
            if out.len() == out.capacity() {
                let room = out.capacity().max(1024).min(limit_bytes + 1 - out.len());
                out.reserve_exact(room);
            }
            let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
            let status = inflater
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            consumed += (inflater.total_in() - before_in) as usize;
            if out.len() > limit_bytes {
                return Err(InflateError::TooLarge);
            }
            if status == Status::StreamEnd {
                // A final block (BFINAL) ends the stream: what follows is the tail; a context
                // kept for the next message starts afresh.
                inflater.reset(false);
                return Ok(out);
            }
            let progressed = inflater.total_in() != before_in || inflater.total_out() != before_out;
            if (consumed == input.len() && out.len() < out.capacity()) || !progressed {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;
