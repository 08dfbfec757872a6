//! A message as one plain WebSocket frame of its own type (text or binary): built once per shard
//! for payloads up to the frame cache's limit and shared by every subscriber, by the writer's
//! batches and by the fan-out's direct writes alike.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::BytesMut;

use crate::codec::ws::{encode_frame_header, Opcode};
use crate::delivery::frame_cache::{self, FrameCache};
use crate::message::Message;
use crate::metrics::ShardMetrics;
use crate::server::write_batch::WriteBatch;

/// Longest server frame header (64-bit length, no mask).
const MAX_FRAME_HEADER_BYTES: usize = 10;

thread_local! {
    /// This shard's frames of recent messages, built once and shared by every subscriber.
    static FRAMES: RefCell<FrameCache<()>> = RefCell::new(FrameCache::default());
}

/// Appends `message` as one frame of its own type (text or binary), built once per shard for
/// payloads up to the frame cache's limit. `by_reference`: the shared frame is referenced even
/// when small (a direct write of a message or two: no copy at all), else small frames are copied
/// into the batch (a writer's batch of many, gathered into few iovecs).
pub(super) fn frame_plain(
    batch: &mut WriteBatch,
    message: &Message,
    metrics: &Arc<ShardMetrics>,
    by_reference: bool,
) {
    let payload = &message.payload;
    let encode = |dst: &mut BytesMut| {
        let opcode = if message.kind.is_text(payload) {
            Opcode::Text
        } else {
            Opcode::Binary
        };
        encode_frame_header(dst, opcode, payload.len());
    };
    if payload.len() > frame_cache::MAX_PAYLOAD_BYTES {
        // Shared zero-copy already; its header is a few bytes.
        encode(batch.tail_mut());
        batch.put_shared(payload);
        return;
    }
    // Framed (and UTF-8 checked) by the first subscriber of the shard that writes it.
    let framed = frame_cache::with_cache(&FRAMES, |cache| {
        cache.framed(message, (), metrics, |dst| {
            dst.reserve(MAX_FRAME_HEADER_BYTES + payload.len());
            encode(dst);
            dst.extend_from_slice(payload);
        })
    });
    if by_reference {
        batch.push_part(framed);
    } else {
        batch.put_shared(&framed);
    }
}
