//! A session's outbound permessage-deflate: each message deflated (RSV1 set) when it is worth it,
//! a fan-out payload once per shard (`codec::ws::deflate`), and the bytes counted before and after.

use std::sync::Arc;

use crate::codec::ws::deflate::{deflate, deflate_shared, Deflated};
use crate::codec::ws::{encode_compressed_frame_header, Opcode};
use crate::codec::ws_envelope::render;
use crate::message::Message;
use crate::metrics::ShardMetrics;
use crate::server::write_batch::WriteBatch;

/// Outbound compression agreed with one client; counted in `websocket_deflate_sessions_open`
/// while it lives.
pub(super) struct DeflateOut {
    window_bits: u8,
    min_message_bytes: usize,
    metrics: Arc<ShardMetrics>,
}

impl DeflateOut {
    pub(super) fn new(
        window_bits: u8,
        min_message_bytes: usize,
        metrics: Arc<ShardMetrics>,
    ) -> Self {
        ShardMetrics::inc(&metrics.websocket_deflate_sessions_open);
        DeflateOut {
            window_bits,
            min_message_bytes,
            metrics,
        }
    }

    /// Appends `message` deflated, as its payload or its JSON envelope; false when it goes
    /// uncompressed instead (shorter than `minMessageBytes`), for the caller to frame as usual.
    pub(super) fn frame(&self, batch: &mut WriteBatch, message: &Message, envelope: bool) -> bool {
        let (opcode, plain_len, deflated) = if envelope {
            let json = render(message);
            if json.len() < self.min_message_bytes {
                return false;
            }
            let deflated = deflate(json.as_bytes(), self.window_bits).map(|payload| Deflated {
                payload,
                reused: false,
                recent_bytes: ShardMetrics::get(&self.metrics.websocket_deflate_recent_bytes)
                    as usize,
            });
            (Opcode::Text, json.len(), deflated)
        } else {
            let payload = &message.payload;
            if payload.len() < self.min_message_bytes {
                return false;
            }
            let opcode = if message.kind.is_text(payload) {
                Opcode::Text
            } else {
                Opcode::Binary
            };
            (
                opcode,
                payload.len(),
                deflate_shared(payload, self.window_bits),
            )
        };
        let Some(deflated) = deflated else {
            return false;
        };
        encode_compressed_frame_header(batch.tail_mut(), opcode, deflated.payload.len());
        batch.put_shared(&deflated.payload);
        let metrics = &self.metrics;
        ShardMetrics::add(&metrics.websocket_deflate_bytes_in_total, plain_len as u64);
        let out = deflated.payload.len() as u64;
        ShardMetrics::add(&metrics.websocket_deflate_bytes_out_total, out);
        if deflated.reused {
            ShardMetrics::inc(&metrics.websocket_deflate_shared_total);
        }
        // Only this shard's thread writes its gauge.
        let recent = deflated.recent_bytes as u64;
        metrics
            .websocket_deflate_recent_bytes
            .store(recent, std::sync::atomic::Ordering::Relaxed);
        true
    }
}

impl Drop for DeflateOut {
    fn drop(&mut self) {
        ShardMetrics::sub(&self.metrics.websocket_deflate_sessions_open, 1);
    }
}
