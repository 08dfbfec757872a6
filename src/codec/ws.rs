//! WebSocket frames (RFC 6455), sans-IO: client frames in, server frames out.
//!
//! Header parsing and the opcode/close-code tables come from tungstenite; its blocking
//! `WebSocket<Stream>` wrapper is never used. Masking, reassembly and validation live here because
//! tungstenite keeps them private or tied to its stream type.
//!
//! One [`FrameDecoder`] per connection turns client frames into [`WsEvent`]s, reassembling
//! fragmented messages. Any protocol violation is a [`WsError`] that knows the close code to send;
//! after an error or a `Close` event the caller stops decoding. [`ClientFrameDecoder`] is the same
//! machine with the masking rule reversed, for tests and the load-test harness.

pub mod deflate;
pub mod deflate_offer;
mod encode;
mod partial;
pub mod pongs;
pub mod subprotocol;

use std::io::Cursor;

use bytes::{Bytes, BytesMut};
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD_BYTES: usize = 125;
/// Largest close reason: a control payload minus the two-byte code.
const MAX_CLOSE_REASON_BYTES: usize = MAX_CONTROL_PAYLOAD_BYTES - 2;
/// Longest frame header: 2 bytes, a 64-bit length and a mask.
const MAX_HEADER_BYTES: usize = 14;
/// A payload shorter than this is copied out of the read buffer instead of split from it: the
/// buffer is a pooled one (`server::read_pool`) that a small message kept in retention would
/// otherwise pin whole, and keep from going back to the pool.
const COPY_PAYLOAD_BELOW_BYTES: usize = 1024;

use deflate::Inflater;
use encode::apply_mask;
pub use encode::{
    encode_binary, encode_client_frame, encode_close, encode_compressed_frame_header,
    encode_frame_header, encode_ping, encode_pong, encode_text,
};
use partial::Partial;

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(sec_websocket_key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(sec_websocket_key)
}

/// Size bounds checked against each frame header before its payload is buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest payload of one data frame.
    pub max_frame_bytes: usize,
    /// Largest reassembled message (sum of its fragments).
    pub max_message_bytes: usize,
}

/// One complete thing a peer said: a whole (reassembled) message or a control frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// A text message; the payload is valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; answer with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong (unsolicited or answering our ping).
    Pong(Bytes),
    /// The peer closes: its code and reason, or `None` when the frame had no payload.
    Close(Option<(u16, String)>),
}

/// Frame opcodes a sender may use (the reserved ones are rejected on input, never produced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// A further fragment of the message begun by a text or binary frame with FIN unset.
    Continuation = 0x0,
    /// The first (or only) frame of a text message; the whole message must be UTF-8.
    Text = 0x1,
    /// The first (or only) frame of a binary message.
    Binary = 0x2,
    /// The closing handshake: an optional code and UTF-8 reason.
    Close = 0x8,
    /// A keep-alive probe the peer answers with a pong.
    Ping = 0x9,
    /// The answer to a ping, echoing its payload.
    Pong = 0xA,
}

/// A WebSocket protocol violation by the peer; each maps to the close code to answer with.
///
/// The `Display` text is short enough (≤ 123 bytes) to be sent as the close reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A client frame without a mask (RFC 6455 §5.1 requires one; 1002).
    #[error("client frame is not masked")]
    UnmaskedClientFrame,
    /// A server frame with a mask (§5.1 forbids one; seen only by [`ClientFrameDecoder`]; 1002).
    #[error("server frame is masked")]
    MaskedServerFrame,
    /// RSV2 or RSV3 set, or RSV1 where permessage-deflate does not allow it (not negotiated, or
    /// not a message's first frame; 1002).
    #[error("RSV bits set without a negotiated extension")]
    ReservedBits,
    /// An opcode RFC 6455 reserves (0x3–0x7, 0xB–0xF), with its value (1002).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A close, ping or pong frame without FIN: control frames are never fragmented (1002).
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame announcing more than 125 payload bytes, with the length announced (1002).
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlTooLong(u64),
    /// A continuation frame while no fragmented message is under way (1002).
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A text or binary frame before the fragmented message under way ended (1002).
    #[error("new data frame inside a fragmented message")]
    InterleavedDataFrame,
    /// A close payload of exactly one byte: too short for a code (1002).
    #[error("close payload of 1 byte")]
    InvalidClosePayload,
    /// A close code a peer may not send: unassigned or reserved, or 1005/1006/1015, which only
    /// report a local condition (1002).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A message marked compressed whose payload does not inflate (1007).
    #[error("compressed message is not valid deflate data")]
    InvalidDeflate,
    /// A text message, or the fragments of one so far, that is not UTF-8 (1007).
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    /// A close frame whose reason is not UTF-8 (1007).
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// A data frame announcing more than [`WsLimits::max_frame_bytes`], refused from its header
    /// before any of its payload is buffered (1009).
    #[error("frame of {len_bytes} bytes exceeds the limit of {limit_bytes}")]
    FrameTooLarge {
        /// The payload length the frame header announced.
        len_bytes: u64,
        /// The limit it exceeds: [`WsLimits::max_frame_bytes`].
        limit_bytes: usize,
    },
    /// A message whose fragments, or whose inflated payload, exceed
    /// [`WsLimits::max_message_bytes`] (1009).
    #[error("message exceeds the limit of {limit_bytes} bytes")]
    MessageTooLarge {
        /// The limit it exceeds: [`WsLimits::max_message_bytes`].
        limit_bytes: usize,
    },
}

impl WsError {
    /// The close code to send before closing the connection (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::InvalidUtf8 | WsError::InvalidCloseReason | WsError::InvalidDeflate => 1007,
            WsError::FrameTooLarge { .. } | WsError::MessageTooLarge { .. } => 1009,
            _ => 1002,
        }
    }
}

/// Which side's frames are decoded: clients must mask, servers must not (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    Client,
    Server,
}

/// Decodes frames sent by one peer; holds the reassembly state of a fragmented message.
#[derive(Debug)]
struct Decoder {
    sender: Sender,
    limits: WsLimits,
    /// Boxed: only a message that spans frames has one, and every open session holds the room.
    partial: Option<Box<Partial>>,
    /// Size (header and payload) of the frame whose header was parsed but whose payload has not
    /// all arrived; 0 when no frame is under way. What the caller must make room for.
    pending_frame_bytes: usize,
    /// That frame's payload size.
    pending_payload_bytes: usize,
    /// Set when permessage-deflate was negotiated: RSV1 on a message's first frame then marks it
    /// compressed, and it is inflated whole, within `max_message_bytes`.
    inflater: Option<Inflater>,
    /// The last message's compressed and inflated sizes, until taken (for metrics).
    inflated: Option<(usize, usize)>,
}

/// Decodes a client's frames on the server side (one per connection).
#[derive(Debug)]
pub struct FrameDecoder(Decoder);

impl FrameDecoder {
    /// A decoder for a session without permessage-deflate: any RSV bit is a protocol error.
    pub fn new(limits: WsLimits) -> Self {
        FrameDecoder(Decoder {
            sender: Sender::Client,
            limits,
            partial: None,
            pending_frame_bytes: 0,
            pending_payload_bytes: 0,
            inflater: None,
            inflated: None,
        })
    }

    /// A decoder for a session that negotiated permessage-deflate (RFC 7692).
    pub fn with_deflate(limits: WsLimits, inflater: Inflater) -> Self {
        let mut decoder = FrameDecoder::new(limits);
        decoder.0.inflater = Some(inflater);
        decoder
    }

    /// Decodes the next complete event from client frames; `Ok(None)` = need more bytes.
    ///
    /// Consumes the frames it decodes from `buf`. Control frames inside a fragmented message are
    /// returned as soon as they arrive.
    ///
    /// Never grows `buf`: a frame still arriving is announced by [`Self::pending_frame_bytes`],
    /// so the caller can check its memory budget before reserving room for it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<WsEvent>, WsError> {
        self.0.decode(buf)
    }

    /// Payload bytes of the unfinished message, held or announced: its fragments so far plus the
    /// whole payload of the frame still arriving. 0 between messages. (A frame header, at most 14
    /// bytes, is not counted.)
    pub fn held_bytes(&self) -> usize {
        let partial = self.0.partial.as_ref().map_or(0, |p| p.payload.len());
        partial + self.0.pending_payload_bytes
    }

    /// True while a message has begun but not ended: fragments received, or a frame (of any
    /// kind) partly in `buffered_bytes`.
    pub fn is_unfinished(&self, buffered_bytes: usize) -> bool {
        self.0.partial.is_some() || buffered_bytes > 0
    }

    /// The compressed and inflated payload sizes of the message just returned, if it came
    /// compressed; taken once.
    pub fn take_inflated(&mut self) -> Option<(usize, usize)> {
        self.0.inflated.take()
    }

    /// Size of the frame under way (header and payload) once its header has arrived, else 0.
    pub fn pending_frame_bytes(&self) -> usize {
        self.0.pending_frame_bytes
    }
}

/// Decodes a server's (unmasked) frames: the client side, for tests and the load tester.
#[derive(Debug)]
pub struct ClientFrameDecoder(Decoder);

impl ClientFrameDecoder {
    /// A decoder of uncompressed server frames within `limits`.
    pub fn new(limits: WsLimits) -> Self {
        ClientFrameDecoder(Decoder {
            sender: Sender::Server,
            limits,
            partial: None,
            pending_frame_bytes: 0,
            pending_payload_bytes: 0,
            inflater: None,
            inflated: None,
        })
    }

    /// Decodes the next complete event from server frames; `Ok(None)` = need more bytes (room
    /// for a frame under way is reserved in `buf`).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<WsEvent>, WsError> {
        let event = self.0.decode(buf);
        if let Ok(None) = event {
            buf.reserve(self.0.pending_frame_bytes.saturating_sub(buf.len()));
        }
        event
    }
}

impl Decoder {
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<WsEvent>, WsError> {
        loop {
            let Some((header, payload)) = self.next_frame(buf)? else {
                return Ok(None);
            };
            if let Some(event) = self.on_frame(&header, payload)? {
                return Ok(Some(event));
            }
        }
    }

    /// Splits the next whole frame off `buf`, unmasked, after validating its header.
    fn next_frame(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<(FrameHeader, BytesMut)>, WsError> {
        self.pending_frame_bytes = 0;
        self.pending_payload_bytes = 0;
        let mut cursor = Cursor::new(&buf[..]);
        let (header, len_bytes) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            // Reading from an in-memory cursor cannot fail, so the only error is the opcode.
            Err(_) => return Err(WsError::ReservedOpcode(buf.first().map_or(0, |b| b & 0x0F))),
        };
        // The header fits in `buf`, so its length fits in usize.
        let header_bytes = cursor.position() as usize;
        self.check_header(&header, len_bytes)?;
        // check_header bounded len_bytes by a usize limit (or 125), so this cannot truncate.
        let payload_bytes = len_bytes as usize;
        let frame_bytes = header_bytes + payload_bytes;
        if buf.len() < frame_bytes {
            self.pending_frame_bytes = frame_bytes;
            self.pending_payload_bytes = payload_bytes;
            return Ok(None);
        }
        bytes::Buf::advance(buf, header_bytes);
        let mut payload = if payload_bytes < COPY_PAYLOAD_BELOW_BYTES {
            let copy = BytesMut::from(&buf[..payload_bytes]);
            bytes::Buf::advance(buf, payload_bytes);
            copy
        } else {
            buf.split_to(payload_bytes)
        };
        if let Some(mask) = header.mask {
            apply_mask(&mut payload, mask);
        }
        Ok(Some((header, payload)))
    }

    /// Every check that needs only the header, so oversized frames are refused unbuffered.
    fn check_header(&self, header: &FrameHeader, len_bytes: u64) -> Result<(), WsError> {
        // RSV1 is permessage-deflate's "compressed" bit, on a message's first frame only.
        let compressed_start = self.inflater.is_some()
            && matches!(header.opcode, OpCode::Data(Data::Text | Data::Binary));
        if (header.rsv1 && !compressed_start) || header.rsv2 || header.rsv3 {
            return Err(WsError::ReservedBits);
        }
        match (self.sender, header.mask.is_some()) {
            (Sender::Client, false) => return Err(WsError::UnmaskedClientFrame),
            (Sender::Server, true) => return Err(WsError::MaskedServerFrame),
            _ => {}
        }
        match header.opcode {
            OpCode::Control(_) => {
                if !header.is_final {
                    return Err(WsError::FragmentedControl);
                }
                if len_bytes > MAX_CONTROL_PAYLOAD_BYTES as u64 {
                    return Err(WsError::ControlTooLong(len_bytes));
                }
            }
            OpCode::Data(data) => {
                match (data, &self.partial) {
                    (Data::Continue, None) => return Err(WsError::UnexpectedContinuation),
                    (Data::Text | Data::Binary, Some(_)) => {
                        return Err(WsError::InterleavedDataFrame)
                    }
                    _ => {}
                }
                let limit_bytes = self.limits.max_frame_bytes;
                if len_bytes > limit_bytes as u64 {
                    return Err(WsError::FrameTooLarge {
                        len_bytes,
                        limit_bytes,
                    });
                }
                let buffered_bytes = self.partial.as_ref().map_or(0, |p| p.payload.len());
                let limit_bytes = self.limits.max_message_bytes;
                if buffered_bytes as u64 + len_bytes > limit_bytes as u64 {
                    return Err(WsError::MessageTooLarge { limit_bytes });
                }
            }
        }
        Ok(())
    }

    fn on_frame(
        &mut self,
        header: &FrameHeader,
        payload: BytesMut,
    ) -> Result<Option<WsEvent>, WsError> {
        match header.opcode {
            OpCode::Control(Control::Ping) => Ok(Some(WsEvent::Ping(payload.freeze()))),
            OpCode::Control(Control::Pong) => Ok(Some(WsEvent::Pong(payload.freeze()))),
            OpCode::Control(Control::Close) => decode_close(&payload).map(Some),
            OpCode::Control(Control::Reserved(op)) | OpCode::Data(Data::Reserved(op)) => {
                Err(WsError::ReservedOpcode(op))
            }
            OpCode::Data(Data::Continue) => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(WsError::UnexpectedContinuation);
                };
                partial.payload.extend_from_slice(&payload);
                partial.check_utf8(header.is_final)?;
                if !header.is_final {
                    return Ok(None);
                }
                match self.partial.take() {
                    Some(partial) => self.finish(*partial).map(Some),
                    None => Err(WsError::UnexpectedContinuation),
                }
            }
            OpCode::Data(data) => {
                let mut partial = Partial {
                    is_text: data == Data::Text,
                    compressed: header.rsv1,
                    payload,
                    utf8_valid_bytes: 0,
                };
                partial.check_utf8(header.is_final)?;
                if header.is_final {
                    return self.finish(partial).map(Some);
                }
                self.partial = Some(Box::new(partial));
                Ok(None)
            }
        }
    }
}

impl Decoder {
    /// The event for a whole message, inflated first when it came compressed.
    fn finish(&mut self, partial: Partial) -> Result<WsEvent, WsError> {
        match (&mut self.inflater, partial.compressed) {
            (Some(inflater), true) => {
                let limit_bytes = self.limits.max_message_bytes;
                let inflated = inflater
                    .inflate(&partial.payload, limit_bytes)
                    .map_err(|err| match err {
                        deflate::InflateError::TooLarge => WsError::MessageTooLarge { limit_bytes },
                        deflate::InflateError::Corrupt => WsError::InvalidDeflate,
                    })?;
                self.inflated = Some((partial.payload.len(), inflated.len()));
                Partial::inflated(partial.is_text, inflated)
            }
            _ => Ok(partial.into_event()),
        }
    }
}

/// Parses a close payload: empty, or a sendable code followed by a UTF-8 reason (§5.5.1, §7.4).
fn decode_close(payload: &[u8]) -> Result<WsEvent, WsError> {
    match payload {
        [] => Ok(WsEvent::Close(None)),
        [_] => Err(WsError::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !CloseCode::from(code).is_allowed() {
                return Err(WsError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidCloseReason)?;
            Ok(WsEvent::Close(Some((code, reason.to_owned()))))
        }
    }
}

/// Round trips, byte-by-byte feeding and every protocol error (kept apart to keep this file short).
#[cfg(test)]
mod tests;
