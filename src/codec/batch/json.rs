//! The JSON body: `{"items":[…],"pagination":{…}}`. Content strings are escaped in place: the
//! runs between escapes are ranges of the payload, referenced by sinks that can.

use super::*;

pub(super) fn item(sink: &mut impl BodySink, index: usize, message: &Message, opts: &BatchOptions) {
    if index > 0 {
        sink.put_str(",");
    }
    sink.put_str("{\"id\":");
    string(sink, &message.id.to_string());
    sink.put_str(",\"content\":");
    let content = Content::of(&message.payload, |_| true);
    match &content {
        Content::Text(_) => payload_string(sink, &message.payload),
        // Base64 needs no escaping.
        Content::Base64(encoded) => {
            sink.put_str("\"");
            sink.put_str(encoded);
            sink.put_str("\"");
        }
    }
    if content.is_base64() {
        sink.put_str(",\"encoding\":\"base64\"");
    }
    if opts.headers_in_payload {
        sink.put_str(",\"headers\":{");
        for (i, (name, values)) in grouped(&message.headers).into_iter().enumerate() {
            sink.put_str(if i > 0 { "," } else { "" });
            string(sink, name);
            sink.put_str(":[");
            for (j, value) in values.into_iter().enumerate() {
                sink.put_str(if j > 0 { "," } else { "" });
                string(sink, value);
            }
            sink.put_str("]");
        }
        sink.put_str("}");
    }
    if opts.metadata_in_payload {
        sink.put_str(",\"metadata\":{");
        for (i, (key, value)) in deduplicated(&message.metadata).into_iter().enumerate() {
            sink.put_str(if i > 0 { "," } else { "" });
            string(sink, key);
            sink.put_str(":");
            string(sink, value);
        }
        sink.put_str("}");
    }
    sink.put_str("}");
}

pub(super) fn close(sink: &mut impl BodySink, next: Option<&str>, limit: &str) {
    sink.put_str("],\"pagination\":{");
    if let Some(cursor) = next {
        sink.put_str("\"nextCursor\":");
        string(sink, cursor);
        sink.put_str(",");
    }
    sink.put_str("\"limit\":");
    string(sink, limit);
    sink.put_str("}}");
}

/// A JSON string literal, escaped by serde_json (ids, header names and values: short).
fn string(sink: &mut impl BodySink, value: &str) {
    // Serializing a `str` cannot fail; the fallback keeps the document well-formed anyway.
    sink.put_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned()));
}

/// A UTF-8 payload as a JSON string literal, escaped exactly as serde_json escapes (`"`, `\`,
/// and the control characters U+0000..U+001F), with the unescaped runs taken from the payload.
pub(super) fn payload_string(sink: &mut impl BodySink, payload: &Bytes) {
    sink.put_str("\"");
    let mut run_start = 0;
    for (at, &byte) in payload.iter().enumerate() {
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => b"",
            _ => continue,
        };
        if run_start < at {
            sink.put_payload(payload, run_start..at);
        }
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let escaped = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ];
            sink.put_slice(&escaped);
        } else {
            sink.put_slice(short);
        }
        run_start = at + 1;
    }
    if run_start < payload.len() {
        sink.put_payload(payload, run_start..payload.len());
    }
    sink.put_str("\"");
}
