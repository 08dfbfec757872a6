//! Recognising a client's keep-alive answers without a decoder: a hibernating session
//! (`entrypoint::websocket::hibernate`) takes bytes that are nothing but whole pongs off the
//! socket itself, and wakes its reader for anything else.

use std::io::Cursor;

use tungstenite::protocol::frame::coding::{Control, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// True when `bytes` is one or more whole client pong frames (masked, no reserved bits, payload
/// of at most 125 bytes) and nothing else: what the decoder would read and ignore. Headers are
/// parsed as the decoder parses them (tungstenite's `FrameHeader`). Anything else (a data frame,
/// a ping, a close, a frame cut short, an unmasked or oversized pong) is false, for the decoder
/// to read, refuse or wait for the rest of.
pub fn only_pongs(bytes: &[u8]) -> bool {
    let mut cursor = Cursor::new(bytes);
    let mut pongs = 0;
    while cursor.position() < bytes.len() as u64 {
        let Ok(Some((header, length))) = FrameHeader::parse(&mut cursor) else {
            return false;
        };
        let pong = header.is_final
            && !(header.rsv1 || header.rsv2 || header.rsv3)
            && header.opcode == OpCode::Control(Control::Pong)
            && header.mask.is_some()
            && length <= super::MAX_CONTROL_PAYLOAD_BYTES as u64;
        let end = cursor.position() + length;
        if !pong || end > bytes.len() as u64 {
            return false;
        }
        cursor.set_position(end);
        pongs += 1;
    }
    pongs > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ws::{encode_client_frame, Opcode};
    use bytes::BytesMut;

    fn frame(opcode: Opcode, payload: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        encode_client_frame(&mut out, opcode, true, payload, [1, 2, 3, 4]);
        out
    }

    #[test]
    fn whole_masked_pongs_only() {
        let mut two = frame(Opcode::Pong, b"tidegate");
        two.extend_from_slice(&frame(Opcode::Pong, b""));
        assert!(only_pongs(&two));
        assert!(only_pongs(&frame(Opcode::Pong, &[7; 125])));
        // Cut short anywhere: the rest is the decoder's to wait for.
        for cut in 0..two.len() {
            if cut != frame(Opcode::Pong, b"tidegate").len() {
                assert!(!only_pongs(&two[..cut]), "cut at {cut}");
            }
        }
    }

    #[test]
    fn anything_else_is_the_decoders() {
        let mut pong_then_text = frame(Opcode::Pong, b"x");
        pong_then_text.extend_from_slice(&frame(Opcode::Text, b"hello"));
        assert!(!only_pongs(&pong_then_text));
        assert!(!only_pongs(&frame(Opcode::Ping, b"x")));
        assert!(!only_pongs(&frame(Opcode::Close, &[3, 232])));
        assert!(!only_pongs(&frame(Opcode::Binary, b"x")));
        // Unmasked, fragmented, with a reserved bit, or longer than a control frame may be.
        assert!(!only_pongs(&[0x8A, 0x00]));
        assert!(!only_pongs(&[0x0A, 0x80, 1, 2, 3, 4]));
        assert!(!only_pongs(&[0xCA, 0x80, 1, 2, 3, 4]));
        let mut long = vec![0x8A, 0x80 | 126, 0, 200, 1, 2, 3, 4];
        long.extend_from_slice(&[0; 200]);
        assert!(!only_pongs(&long));
    }
}
