//! Sans-IO codecs: functions from bytes to values and back, no sockets, no `.await`.
//!
//! Decoders take `&mut BytesMut` and return `Ok(None)` when they need more bytes.

pub mod batch;
pub mod http_body;
pub mod http_head;
pub mod http_response;
pub mod sse;
pub mod ws;
pub mod ws_envelope;
