//! The JSON envelope a WebSocket subscriber can ask for (`?envelope=json` on the upgrade): each
//! message becomes one text frame holding its id, so the client knows the cursor to resume
//! from (`?cursor=`), which a bare frame cannot tell it.
//!
//! The object is an HTTP GET JSON item (`codec::batch`), so one parser reads both:
//!
//! ```text
//! {"id":"42","content":"hello"}                          text (or unspecified, UTF-8) payload
//! {"id":"43","content":"AAEC","encoding":"base64"}       binary payload, or one that is not UTF-8
//! ```
//!
//! A message published as binary is always base64, even when its bytes are UTF-8, so the frame
//! type it was sent with is not lost; `content` is otherwise the payload as a JSON string.

use base64::Engine;
use bytes::{BufMut, BytesMut};

use crate::codec::ws::{encode_frame_header, Opcode};
use crate::message::Message;

/// Appends `message` as one final text frame holding its envelope.
pub fn encode_envelope_frame(dst: &mut BytesMut, message: &Message) {
    let envelope = render(message);
    encode_frame_header(dst, Opcode::Text, envelope.len());
    dst.put_slice(envelope.as_bytes());
}

/// The envelope of `message` as JSON text.
pub fn render(message: &Message) -> String {
    let id = message.id.to_string();
    let text = message
        .kind
        .is_text(&message.payload)
        .then(|| std::str::from_utf8(&message.payload).ok())
        .flatten();
    let mut out = String::with_capacity(32 + id.len() + message.payload.len() * 4 / 3);
    out.push_str("{\"id\":");
    string(&mut out, &id);
    out.push_str(",\"content\":");
    match text {
        Some(text) => string(&mut out, text),
        None => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&message.payload);
            string(&mut out, &encoded);
            out.push_str(",\"encoding\":\"base64\"");
        }
    }
    out.push('}');
    out
}

/// A JSON string literal, escaped by serde_json.
fn string(out: &mut String, value: &str) {
    // Serializing a `str` cannot fail; the fallback keeps the document well-formed anyway.
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned()));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::message::{MessageId, PayloadKind};

    fn message(id: u64, payload: &[u8], kind: PayloadKind) -> Message {
        Message {
            id: MessageId::Sequence(id),
            payload: Bytes::copy_from_slice(payload),
            kind,
            headers: Arc::from(Vec::new()),
            metadata: Arc::from(Vec::new()),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn text_is_a_string_and_binary_is_base64() {
        let cases = [
            (
                b"say \"hi\"\n" as &[u8],
                PayloadKind::Text,
                r#"{"id":"7","content":"say \"hi\"\n"}"#,
            ),
            (
                b"plain",
                PayloadKind::Unspecified,
                r#"{"id":"7","content":"plain"}"#,
            ),
            (
                b"bin",
                PayloadKind::Binary,
                r#"{"id":"7","content":"Ymlu","encoding":"base64"}"#,
            ),
            (
                b"",
                PayloadKind::Binary,
                r#"{"id":"7","content":"","encoding":"base64"}"#,
            ),
            (
                b"\xff\x00",
                PayloadKind::Unspecified,
                r#"{"id":"7","content":"/wA=","encoding":"base64"}"#,
            ),
        ];
        for (payload, kind, expected) in cases {
            assert_eq!(render(&message(7, payload, kind)), expected);
        }
    }

    #[test]
    fn the_frame_is_one_final_text_frame() {
        let mut frame = BytesMut::new();
        encode_envelope_frame(&mut frame, &message(1, b"x", PayloadKind::Text));
        let body = br#"{"id":"1","content":"x"}"#;
        assert_eq!(frame[0], 0x81);
        assert_eq!(frame[1] as usize, body.len());
        assert_eq!(&frame[2..], body);
    }
}
