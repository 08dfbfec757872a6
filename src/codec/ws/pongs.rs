//! Recognising a client's keep-alive answers without a decoder: a hibernating session
//! (`entrypoint::websocket::hibernate`) takes bytes that are nothing but whole pongs off the
//! socket itself, and wakes its reader for anything else.

/// FIN set, no reserved bits, opcode 0xA (pong).
const PONG_FIRST_BYTE: u8 = 0x8A;
/// The mask bit of the second byte; a client's frames must be masked (RFC 6455 §5.1).
const MASK_BIT: u8 = 0x80;
/// The mask key after the two header bytes.
const MASK_KEY_BYTES: usize = 4;

/// True when `bytes` is one or more whole client pong frames (masked, payload of at most 125
/// bytes in the one-byte length) and nothing else: what a decoder would read and ignore.
/// Anything else (a data frame, a ping, a close, a frame cut short, an unmasked or oversized
/// pong) is false, for the decoder to read, refuse or wait for the rest of.
pub fn only_pongs(mut bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    while let [first, second, rest @ ..] = bytes {
        if *first != PONG_FIRST_BYTE || second & MASK_BIT == 0 {
            return false;
        }
        // The 7-bit length: 126 and 127 announce longer lengths, which no control frame has.
        let length = usize::from(second & !MASK_BIT);
        if length > super::MAX_CONTROL_PAYLOAD_BYTES {
            return false;
        }
        let Some(after) = rest.get(MASK_KEY_BYTES + length..) else {
            return false;
        };
        bytes = after;
    }
    bytes.is_empty()
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
