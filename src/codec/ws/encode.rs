//! Frame encoding, sans-IO: server frames (a header alone, so a shared payload can follow by
//! writev, or a whole frame), masked client frames for tests and the load tester, and the XOR
//! masking both directions use. Kept apart from the decoder to keep `ws.rs` short.

use bytes::{BufMut, BytesMut};

use super::{Opcode, MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD_BYTES, MAX_HEADER_BYTES};

/// XORs `buf` with the 4-byte `mask`, eight bytes at a time.
///
/// The mask phase restarts at the first byte of each frame's payload, so a buffer holding exactly
/// one payload is unmasked by starting at phase 0.
pub(super) fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let mask_word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ mask_word).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, hence at mask phase 0.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Appends a frame header: FIN as given, no RSV bits, the shortest length encoding, then the mask.
///
/// Reserves room for the header only: a header-only caller writes the payload elsewhere (writev).
fn put_header(
    dst: &mut BytesMut,
    opcode: Opcode,
    fin: bool,
    payload_len: usize,
    mask: Option<[u8; 4]>,
) {
    let fin_bit = if fin { 0x80 } else { 0 };
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    dst.reserve(MAX_HEADER_BYTES);
    dst.put_u8(fin_bit | opcode as u8);
    if payload_len <= MAX_CONTROL_PAYLOAD_BYTES {
        dst.put_u8(mask_bit | payload_len as u8);
    } else if let Ok(len16) = u16::try_from(payload_len) {
        dst.put_u8(mask_bit | 126);
        dst.put_u16(len16);
    } else {
        dst.put_u8(mask_bit | 127);
        dst.put_u64(payload_len as u64);
    }
    if let Some(mask) = mask {
        dst.put_slice(&mask);
    }
}

/// Appends just a final, unmasked frame header, so a shared payload can follow by writev.
pub fn encode_frame_header(dst: &mut BytesMut, opcode: Opcode, payload_len: usize) {
    put_header(dst, opcode, true, payload_len, None);
}

/// Appends a final, unmasked frame header with RSV1 set: the payload that follows is deflated
/// (permessage-deflate, RFC 7692 §6).
pub fn encode_compressed_frame_header(dst: &mut BytesMut, opcode: Opcode, payload_len: usize) {
    let start = dst.len();
    put_header(dst, opcode, true, payload_len, None);
    dst[start] |= 0x40;
}

fn encode_server_frame(dst: &mut BytesMut, opcode: Opcode, payload: &[u8]) {
    dst.reserve(MAX_HEADER_BYTES + payload.len());
    encode_frame_header(dst, opcode, payload.len());
    dst.put_slice(payload);
}

/// Appends a text frame; the caller guarantees `payload` is UTF-8.
pub fn encode_text(dst: &mut BytesMut, payload: &[u8]) {
    encode_server_frame(dst, Opcode::Text, payload);
}

/// Appends a binary frame, header and payload copied (for payloads not shared by writev).
pub fn encode_binary(dst: &mut BytesMut, payload: &[u8]) {
    encode_server_frame(dst, Opcode::Binary, payload);
}

/// Appends a ping; `payload` must be at most 125 bytes (longer is a protocol error for the peer).
pub fn encode_ping(dst: &mut BytesMut, payload: &[u8]) {
    encode_server_frame(dst, Opcode::Ping, payload);
}

/// Appends a pong; `payload` must be at most 125 bytes (it echoes a ping's, which is).
pub fn encode_pong(dst: &mut BytesMut, payload: &[u8]) {
    encode_server_frame(dst, Opcode::Pong, payload);
}

/// Appends a close frame; `reason` is cut on a char boundary to fit the 123-byte limit.
pub fn encode_close(dst: &mut BytesMut, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    encode_frame_header(dst, Opcode::Close, 2 + reason.len());
    dst.put_u16(code);
    dst.put_slice(reason);
}

/// Appends a masked frame as a client sends it (tests and the load-test harness).
pub fn encode_client_frame(
    dst: &mut BytesMut,
    opcode: Opcode,
    fin: bool,
    payload: &[u8],
    mask: [u8; 4],
) {
    dst.reserve(MAX_HEADER_BYTES + payload.len());
    put_header(dst, opcode, fin, payload.len(), Some(mask));
    let start = dst.len();
    dst.put_slice(payload);
    apply_mask(&mut dst[start..], mask);
}
