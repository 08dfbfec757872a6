//! A data message whose first fragment arrived but not its last, and how a whole one becomes an
//! event (kept apart from the decoder to keep `ws.rs` short).

use bytes::BytesMut;

use super::{WsError, WsEvent};

#[derive(Debug)]
pub(super) struct Partial {
    pub(super) is_text: bool,
    /// RSV1 was set on its first frame (permessage-deflate): the payload is deflate data, whose
    /// UTF-8 is checked once inflated.
    pub(super) compressed: bool,
    pub(super) payload: BytesMut,
    /// Prefix of `payload` already known to be valid UTF-8, so each fragment is checked once and
    /// invalid text fails as soon as it arrives rather than at the final fragment.
    pub(super) utf8_valid_bytes: usize,
}

impl Partial {
    /// Validates the UTF-8 received so far; a sequence cut at the end is fine unless `is_final`.
    pub(super) fn check_utf8(&mut self, is_final: bool) -> Result<(), WsError> {
        if !self.is_text || self.compressed {
            return Ok(());
        }
        let unchecked = &self.payload[self.utf8_valid_bytes..];
        match std::str::from_utf8(unchecked) {
            Ok(_) => {
                self.utf8_valid_bytes = self.payload.len();
                Ok(())
            }
            Err(e) if e.error_len().is_none() && !is_final => {
                self.utf8_valid_bytes += e.valid_up_to();
                Ok(())
            }
            Err(_) => Err(WsError::InvalidUtf8),
        }
    }

    pub(super) fn into_event(self) -> WsEvent {
        let payload = self.payload.freeze();
        if self.is_text {
            WsEvent::Text(payload)
        } else {
            WsEvent::Binary(payload)
        }
    }

    /// The event for an inflated message, its text checked as UTF-8 now.
    pub(super) fn inflated(is_text: bool, payload: Vec<u8>) -> Result<WsEvent, WsError> {
        if !is_text {
            return Ok(WsEvent::Binary(payload.into()));
        }
        if std::str::from_utf8(&payload).is_err() {
            return Err(WsError::InvalidUtf8);
        }
        Ok(WsEvent::Text(payload.into()))
    }
}
