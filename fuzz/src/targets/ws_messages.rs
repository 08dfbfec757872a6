//! WebSocket message assembly (`codec::ws`), against a reference model.
//!
//! The input describes a sequence of client frames (opcode, FIN, mask, payload: raw bytes,
//! ASCII, or UTF-8 text cut anywhere, so characters straddle fragments); they are encoded with
//! `encode_client_frame`, decoded whole and in pieces, and the events and final error must be
//! exactly what RFC 6455 reassembly gives (`model`): fragments joined in order, control frames
//! delivered between fragments, text checked as UTF-8 across fragment boundaries, frame and
//! message limits applied before payloads are buffered.

use bytes::{Bytes, BytesMut};
use tidegate::codec::ws::{encode_client_frame, Opcode, WsError, WsEvent, WsLimits};

use super::ws_frames::{check_event, decode, Decoded, End, Side};
use crate::input::{ByteReader, Split};

/// Text with 1- to 4-byte characters, cut at arbitrary byte offsets.
const TEXT: &str = "aé€𝄞 tidegate ünïcödé ✓ 日本語 🌊 end";
/// Close codes on both sides of every boundary of the sendable set.
const CLOSE_CODES: [u16; 16] = [
    0, 999, 1000, 1003, 1004, 1005, 1006, 1007, 1011, 1013, 1014, 1015, 2999, 3000, 4999, 5000,
];

struct Frame {
    opcode: Opcode,
    fin: bool,
    payload: Vec<u8>,
    mask: [u8; 4],
}

pub fn run(data: &[u8]) {
    let mut input = ByteReader::new(data);
    let max_frame_bytes = usize::from(input.u8()) * 2;
    let limits = WsLimits {
        max_frame_bytes,
        max_message_bytes: max_frame_bytes + usize::from(input.u8()) * 4,
    };
    let mut frames = Vec::new();
    while !input.is_empty() && frames.len() < 32 {
        frames.push(frame(&mut input));
    }
    let mut wire = BytesMut::new();
    for f in &frames {
        encode_client_frame(&mut wire, f.opcode, f.fin, &f.payload, f.mask);
    }
    let expected = model(&frames, &limits);
    for split in [None, Some(Split::ByteByByte), Some(Split::Random)] {
        let decoded = decode(Side::Server, limits, &wire, split);
        assert_eq!(decoded, expected, "decoder and model disagree ({split:?})");
    }
    expected
        .events
        .iter()
        .for_each(|event| check_event(event, &limits));
}

fn frame(input: &mut ByteReader<'_>) -> Frame {
    let kind = input.u8();
    let opcode = [
        Opcode::Continuation,
        Opcode::Text,
        Opcode::Binary,
        Opcode::Close,
        Opcode::Ping,
        Opcode::Pong,
    ][usize::from(kind % 6)];
    let fin = kind & 0x80 == 0;
    let len = usize::from(input.u8());
    let mut payload = match (kind >> 3) & 3 {
        0 => input.bytes(len).to_vec(),
        1 => vec![b'x'; len],
        _ => {
            let start = usize::from(input.u8()) % TEXT.len();
            TEXT.as_bytes()[start..]
                .iter()
                .copied()
                .cycle()
                .take(len)
                .collect()
        }
    };
    if opcode == Opcode::Close && kind & 0x40 != 0 && payload.len() >= 2 {
        let code = CLOSE_CODES[usize::from(input.u8() % 16)];
        payload[..2].copy_from_slice(&code.to_be_bytes());
    }
    let mask = [input.u8(), input.u8(), input.u8(), input.u8()];
    Frame {
        opcode,
        fin,
        payload,
        mask,
    }
}

/// What RFC 6455 says these frames mean, one frame at a time, checks in the decoder's order.
fn model(frames: &[Frame], limits: &WsLimits) -> Decoded {
    let mut events = Vec::new();
    // The message being reassembled: whether it is text, and its bytes so far.
    let mut partial: Option<(bool, Vec<u8>)> = None;
    let fail = |events, error| Decoded {
        events,
        end: End::Error(error),
    };
    for f in frames {
        let len = f.payload.len();
        let is_control = matches!(f.opcode, Opcode::Close | Opcode::Ping | Opcode::Pong);
        if is_control {
            if !f.fin {
                return fail(events, WsError::FragmentedControl);
            }
            if len > 125 {
                return fail(events, WsError::ControlTooLong(len as u64));
            }
        } else {
            match (f.opcode, &partial) {
                (Opcode::Continuation, None) => {
                    return fail(events, WsError::UnexpectedContinuation)
                }
                (Opcode::Text | Opcode::Binary, Some(_)) => {
                    return fail(events, WsError::InterleavedDataFrame)
                }
                _ => {}
            }
            if len > limits.max_frame_bytes {
                let error = WsError::FrameTooLarge {
                    len_bytes: len as u64,
                    limit_bytes: limits.max_frame_bytes,
                };
                return fail(events, error);
            }
            let buffered = partial.as_ref().map_or(0, |(_, bytes)| bytes.len());
            if buffered + len > limits.max_message_bytes {
                let error = WsError::MessageTooLarge {
                    limit_bytes: limits.max_message_bytes,
                };
                return fail(events, error);
            }
        }
        let payload = Bytes::from(f.payload.clone());
        match f.opcode {
            Opcode::Ping => events.push(WsEvent::Ping(payload)),
            Opcode::Pong => events.push(WsEvent::Pong(payload)),
            Opcode::Close => {
                return match close(&f.payload) {
                    Ok(event) => {
                        events.push(event);
                        Decoded {
                            events,
                            end: End::Closed,
                        }
                    }
                    Err(error) => fail(events, error),
                };
            }
            _ => {
                let (is_text, bytes) =
                    partial.get_or_insert((f.opcode == Opcode::Text, Vec::new()));
                bytes.extend_from_slice(&f.payload);
                if *is_text {
                    if let Err(e) = std::str::from_utf8(bytes) {
                        // A character cut at the end may be completed by the next fragment.
                        if e.error_len().is_some() || f.fin {
                            return fail(events, WsError::InvalidUtf8);
                        }
                    }
                }
                if f.fin {
                    let (is_text, bytes) = partial.take().unwrap_or_default();
                    let bytes = Bytes::from(bytes);
                    events.push(if is_text {
                        WsEvent::Text(bytes)
                    } else {
                        WsEvent::Binary(bytes)
                    });
                }
            }
        }
    }
    Decoded {
        events,
        end: End::NeedMore,
    }
}

/// A close payload (RFC 6455 §5.5.1, §7.4): empty, or a sendable code and a UTF-8 reason.
fn close(payload: &[u8]) -> Result<WsEvent, WsError> {
    match payload {
        [] => Ok(WsEvent::Close(None)),
        [_] => Err(WsError::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999) {
                return Err(WsError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidCloseReason)?;
            Ok(WsEvent::Close(Some((code, reason.to_owned()))))
        }
    }
}
