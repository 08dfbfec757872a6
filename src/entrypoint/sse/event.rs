//! One message as one SSE event (and, over HTTP/1.1, one chunk): built once per shard and shared
//! by its subscribers, or appended piecewise when too large to share.

use std::cell::RefCell;
use std::sync::Arc;

use base64::Engine as _;
use bytes::BytesMut;

use crate::codec::sse::{data_lines, encode_event, encode_event_head, needs_base64, SseEvent};
use crate::config::SseOptions;
use crate::delivery::frame_cache::{self, FrameCache};
use crate::message::Message;
use crate::metrics::ShardMetrics;
use crate::server::write_batch::WriteBatch;

/// The `(chunked, headersAsComment, metadataAsComment)` an event's bytes depend on besides the
/// message.
type EventShape = (bool, bool, bool);

thread_local! {
    /// This shard's events of recent messages, built once and shared by every subscriber.
    static EVENTS: RefCell<FrameCache<EventShape>> = RefCell::new(FrameCache::default());
}

/// Appends one message as one event (and, when chunked, as one HTTP chunk) to `batch`. The
/// event is built once per shard and shared by every subscriber (`delivery::frame_cache`); a
/// payload too large for that cache has its lines referenced, not copied
/// (`WriteBatch::put_shared`), and only the framing written out. `scratch` is a reusable buffer
/// for the event head. `by_reference`: a shared event is referenced even when small (a direct
/// write of an event or two: no copy at all), else small events are copied into the batch.
pub(super) fn encode_message(
    batch: &mut WriteBatch,
    scratch: &mut BytesMut,
    message: &Message,
    options: &SseOptions,
    chunked: bool,
    metrics: &Arc<ShardMetrics>,
    by_reference: bool,
) {
    if message.payload.len() <= frame_cache::MAX_PAYLOAD_BYTES {
        let shape = (
            chunked,
            options.headers_as_comment,
            options.metadata_as_comment,
        );
        let framed = frame_cache::with_cache(&EVENTS, |cache| {
            cache.framed(message, shape, metrics, |dst| {
                encode_whole(dst, message, options, chunked)
            })
        });
        if by_reference {
            batch.push_part(framed);
        } else {
            batch.put_shared(&framed);
        }
        return;
    }
    encode_piecewise(batch, scratch, message, options, chunked);
}

/// Appends one message's event with its payload lines referenced, not copied.
pub(super) fn encode_piecewise(
    batch: &mut WriteBatch,
    scratch: &mut BytesMut,
    message: &Message,
    options: &SseOptions,
    chunked: bool,
) {
    let id = message.id.to_string();
    let comments = comments(message, options);
    scratch.clear();
    if needs_base64(&message.payload) || message.payload.contains(&b'\r') {
        // Rare: the encoded text is new bytes anyway, so the plain encoder writes it.
        let encoded = base64::engine::general_purpose::STANDARD.encode(&message.payload);
        let event = SseEvent {
            id: Some(&id),
            event: Some("message-base64"),
            data: encoded.as_bytes(),
            comments: &comments,
        };
        encode_event(scratch, &event);
        put_chunk_header(batch, scratch.len(), chunked);
        batch.put_slice(scratch);
    } else {
        let event = SseEvent {
            id: Some(&id),
            event: Some("message"),
            data: &[],
            comments: &comments,
        };
        encode_event_head(scratch, &event);
        let lines = data_lines(&message.payload);
        let data_bytes: usize = lines
            .iter()
            .map(|line| if line.is_empty() { 5 } else { 7 + line.len() })
            .sum();
        put_chunk_header(batch, scratch.len() + data_bytes + 1, chunked);
        batch.put_slice(scratch);
        for line in lines {
            if line.is_empty() {
                batch.put_slice(b"data\n");
            } else {
                batch.put_slice(b"data: ");
                batch.put_shared(&message.payload.slice(line));
                batch.put_slice(b"\n");
            }
        }
        batch.put_slice(b"\n");
    }
    if chunked {
        batch.put_slice(b"\r\n");
    }
}

/// Writes one message's whole event (with its chunk framing when chunked) into `dst`: the same
/// bytes `encode_piecewise` appends.
pub(super) fn encode_whole(
    dst: &mut BytesMut,
    message: &Message,
    options: &SseOptions,
    chunked: bool,
) {
    let id = message.id.to_string();
    let comments = comments(message, options);
    let mut event = BytesMut::with_capacity(message.payload.len() + 64);
    if needs_base64(&message.payload) || message.payload.contains(&b'\r') {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&message.payload);
        let data = encoded.as_bytes();
        encode_event(
            &mut event,
            &SseEvent {
                id: Some(&id),
                event: Some("message-base64"),
                data,
                comments: &comments,
            },
        );
    } else {
        let data = &message.payload[..];
        encode_event(
            &mut event,
            &SseEvent {
                id: Some(&id),
                event: Some("message"),
                data,
                comments: &comments,
            },
        );
    }
    if chunked {
        dst.extend_from_slice(format!("{:x}\r\n", event.len()).as_bytes());
    }
    dst.extend_from_slice(&event);
    if chunked {
        dst.extend_from_slice(b"\r\n");
    }
}

/// The comment lines an event carries (`headersAsComment`, `metadataAsComment`).
fn comments(message: &Message, options: &SseOptions) -> Vec<(String, String)> {
    let mut comments = Vec::new();
    if options.headers_as_comment {
        comments.extend(message.headers.iter().cloned());
    }
    if options.metadata_as_comment {
        comments.extend(message.metadata.iter().cloned());
    }
    comments
}

fn put_chunk_header(batch: &mut WriteBatch, size: usize, chunked: bool) {
    if chunked {
        batch.put_slice(format!("{size:x}\r\n").as_bytes());
    }
}
