//! WebSocket frames (`codec::ws`) as raw bytes, through both decoders (client frames on the
//! server, server frames on the client).
//!
//! Properties: any split of the stream gives the same events and the same final error; events
//! respect the protocol (UTF-8 text, control payloads ≤ 125 bytes, messages within the limit,
//! sendable close codes); every error's text fits a close reason; every event, encoded again by
//! our own encoder, decodes to itself; a frame header announcing more than the limits is refused
//! before its payload is buffered or allocated.

use bytes::BytesMut;
use tidegate::codec::ws::{
    encode_binary, encode_client_frame, encode_close, encode_ping, encode_pong, encode_text,
    ClientFrameDecoder, FrameDecoder, Opcode, WsError, WsEvent, WsLimits,
};

use crate::alloc_guard;
use crate::input::{pieces, ByteReader, Split};

const MASK: [u8; 4] = [0xa5, 0x01, 0x7e, 0xc3];

pub fn run(data: &[u8]) {
    let mut input = ByteReader::new(data);
    let max_frame_bytes = usize::from(input.u16() % 4096);
    let limits = WsLimits {
        max_frame_bytes,
        max_message_bytes: max_frame_bytes + usize::from(input.u16() % 8192),
    };
    let stream = input.rest();
    for side in [Side::Server, Side::Client] {
        let whole = decode(side, limits, stream, None);
        for split in [Split::ByteByByte, Split::Random] {
            let read = decode(side, limits, stream, Some(split));
            assert_eq!(
                read, whole,
                "{side:?}: reading in pieces ({split:?}) changed the result"
            );
        }
        for event in &whole.events {
            check_event(event, &limits);
            re_encode(side, limits, event);
        }
        if let End::Error(error) = &whole.end {
            assert!(
                error.to_string().len() <= 123,
                "error text too long for a close reason"
            );
            assert!(matches!(error.close_code(), 1002 | 1007 | 1009));
        }
    }
}

/// Which decoder: the server's (of client frames) or the client's (of server frames).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    Server,
    Client,
}

enum Decoder {
    Server(FrameDecoder),
    Client(ClientFrameDecoder),
}

impl Decoder {
    fn new(side: Side, limits: WsLimits) -> Self {
        match side {
            Side::Server => Decoder::Server(FrameDecoder::new(limits)),
            Side::Client => Decoder::Client(ClientFrameDecoder::new(limits)),
        }
    }

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<WsEvent>, WsError> {
        match self {
            Decoder::Server(decoder) => decoder.decode(buf),
            Decoder::Client(decoder) => decoder.decode(buf),
        }
    }
}

/// Everything a peer's bytes came to: the events, then how the stream ended.
#[derive(Debug, PartialEq)]
pub(crate) struct Decoded {
    pub events: Vec<WsEvent>,
    pub end: End,
}

#[derive(Debug, PartialEq)]
pub(crate) enum End {
    /// The bytes ran out (possibly inside a frame or a fragmented message).
    NeedMore,
    /// A close frame: the caller stops reading.
    Closed,
    /// A protocol violation: the caller closes with its code.
    Error(WsError),
}

/// Decodes `stream` whole (`split: None`) or in pieces, until a close, an error or the end.
pub(crate) fn decode(side: Side, limits: WsLimits, stream: &[u8], split: Option<Split>) -> Decoded {
    let mut decoder = Decoder::new(side, limits);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let reads = match split {
        Some(split) => pieces(stream, split),
        None => vec![stream],
    };
    // At most one frame (header + payload) is reserved ahead; a message grows by doubling.
    let bound = 2 * (stream.len() + limits.max_frame_bytes + limits.max_message_bytes) + 1024;
    for piece in reads {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match alloc_guard::bounded("ws decode", bound, || decoder.decode(&mut buf)) {
                Ok(Some(event)) => {
                    let closed = matches!(event, WsEvent::Close(_));
                    events.push(event);
                    if closed {
                        return Decoded {
                            events,
                            end: End::Closed,
                        };
                    }
                }
                Ok(None) => {
                    assert!(buf.len() <= before, "decoding added bytes");
                    break;
                }
                Err(error) => {
                    return Decoded {
                        events,
                        end: End::Error(error),
                    }
                }
            }
        }
    }
    Decoded {
        events,
        end: End::NeedMore,
    }
}

pub(crate) fn check_event(event: &WsEvent, limits: &WsLimits) {
    match event {
        WsEvent::Text(text) => {
            assert!(std::str::from_utf8(text).is_ok(), "text event is not UTF-8");
            assert!(text.len() <= limits.max_message_bytes);
        }
        WsEvent::Binary(data) => assert!(data.len() <= limits.max_message_bytes),
        WsEvent::Ping(data) | WsEvent::Pong(data) => assert!(data.len() <= 125),
        WsEvent::Close(None) => {}
        WsEvent::Close(Some((code, reason))) => {
            assert!(
                matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999),
                "close code {code}"
            );
            assert!(reason.len() <= 123);
        }
    }
}

/// Encodes `event` as its sender would and decodes it again: it must come back unchanged.
fn re_encode(side: Side, limits: WsLimits, event: &WsEvent) {
    if let WsEvent::Text(p) | WsEvent::Binary(p) = event {
        if p.len() > limits.max_frame_bytes {
            // A reassembled message can outgrow one frame; it would be sent fragmented.
            return;
        }
    }
    let mut wire = BytesMut::new();
    match side {
        Side::Server => {
            let (opcode, payload) = match event {
                WsEvent::Text(p) => (Opcode::Text, p.to_vec()),
                WsEvent::Binary(p) => (Opcode::Binary, p.to_vec()),
                WsEvent::Ping(p) => (Opcode::Ping, p.to_vec()),
                WsEvent::Pong(p) => (Opcode::Pong, p.to_vec()),
                WsEvent::Close(None) => (Opcode::Close, Vec::new()),
                WsEvent::Close(Some((code, reason))) => {
                    let mut payload = code.to_be_bytes().to_vec();
                    payload.extend_from_slice(reason.as_bytes());
                    (Opcode::Close, payload)
                }
            };
            encode_client_frame(&mut wire, opcode, true, &payload, MASK);
        }
        Side::Client => match event {
            WsEvent::Text(p) => encode_text(&mut wire, p),
            WsEvent::Binary(p) => encode_binary(&mut wire, p),
            WsEvent::Ping(p) => encode_ping(&mut wire, p),
            WsEvent::Pong(p) => encode_pong(&mut wire, p),
            // Our encoder always sends a code; an empty close is re-sent as the empty frame.
            WsEvent::Close(None) => wire.extend_from_slice(&[0x88, 0x00]),
            WsEvent::Close(Some((code, reason))) => encode_close(&mut wire, *code, reason),
        },
    }
    let again = decode(side, limits, &wire, None);
    let expected_end = match event {
        WsEvent::Close(_) => End::Closed,
        _ => End::NeedMore,
    };
    assert_eq!(
        again,
        Decoded {
            events: vec![event.clone()],
            end: expected_end
        },
        "re-encoded"
    );
}
