//! The HTTP GET entrypoint's response body: a batch of messages as JSON, XML or plain text,
//! chosen from the `Accept` header. Shapes follow Gravitee's http-get entrypoint so its clients
//! keep working (quickstart: four "mock message" items):
//!
//! ```text
//! JSON  {"items":[{"id":"0","content":"mock message"}],"pagination":{"nextCursor":"3","limit":"500"}}
//! XML   <response><items><item><id>0</id><content><![CDATA[mock message]]></content></item></items>
//!       <pagination><nextCursor>3</nextCursor><limit>500</limit></pagination></response>
//! text  "items\nitem\nid: 0\ncontent: mock message\n" then "\nitem\n…" per further item, then
//!       "\npagination\nnextCursor: 3\nlimit: 500" (no final newline)
//! ```
//! (the XML is one line.)
//! With `headersInPayload`, `headers` maps each name to its list of values (JSON
//! `{"X-A":["1"]}`, XML `<X-A>1</X-A>` with values joined by `,`, text `{X-A=[1]}`); with
//! `metadataInPayload`, `metadata` maps each key to its value.
//!
//! Where we differ from the reference, on purpose:
//! - Binary safety. A payload that is valid UTF-8 is rendered as a string; otherwise as base64,
//!   and the item says so: JSON `"encoding":"base64"`, XML `<encoding>base64</encoding>`, text
//!   `encoding: base64`, right after the content. XML additionally switches to base64 for UTF-8
//!   payloads holding characters XML 1.0 forbids (controls other than tab, LF, CR; U+FFFE/FFFF).
//!   XML content stays in CDATA like the reference, but `]]>` is split across two sections and
//!   CR is written as `&#13;` outside CDATA, so a parser returns exactly the payload.
//! - Header and metadata names that are not XML names become `<entry name="…">value</entry>`;
//!   forbidden characters in XML names/values become U+FFFD (they are labels, not payloads).
//! - `pagination` is always present with `limit`; `nextCursor` only when there is one (the
//!   reference drops the whole object when nothing was delivered, and `limit` unless the client
//!   sent `?limit=`).
//! - text/plain is labelled `charset=utf-8`. Negotiation takes the highest q-value among the
//!   supported types, wildcards included (the reference considers `*/*` only when nothing else
//!   matched).
//! - text/plain writes UTF-8 content raw, newlines included, like the reference: it is for
//!   people reading a terminal, not for parsing. The reference's per-batch `error` element is not
//!   rendered here (an endpoint failure is answered with a status code instead).

use std::ops::Range;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use thiserror::Error;

use crate::message::{Fields, Message};

/// One of the three body formats of the HTTP GET entrypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// `{"items":[…],"pagination":{…}}`, for `application/json` and the `*/*` and
    /// `application/*` wildcards.
    Json,
    /// `<response><items>…</items><pagination>…</pagination></response>` on one line, for
    /// `application/xml` and `text/xml`.
    Xml,
    /// One `name: value` line per field, for people at a terminal: `text/plain`, `text/*`, and
    /// the answer when `Accept` is missing or empty.
    Text,
}

impl BatchFormat {
    /// The reply's `Content-Type` for this format (text is labelled `charset=utf-8`).
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            BatchFormat::Json => "application/json",
            BatchFormat::Xml => "application/xml",
            BatchFormat::Text => "text/plain; charset=utf-8",
        }
    }
}

/// No supported media type in `Accept`; the client's fault, answered with 400.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("Unsupported Accept header: {accept}; supported media types: application/json, application/xml, text/plain")]
pub struct NegotiationError {
    /// The header as sent (lossy UTF-8, truncated), echoed so the client sees what it sent.
    pub accept: String,
}

impl NegotiationError {
    /// The HTTP status this error is answered with: always 400 (the client's `Accept` is at
    /// fault).
    pub fn status(&self) -> u16 {
        400
    }
}

/// Longest `Accept` value echoed back in a [`NegotiationError`].
const MAX_ECHOED_ACCEPT_CHARS: usize = 200;

/// Picks the body format from the `Accept` header.
///
/// Missing or empty → text; `*/*` and `application/*` → JSON; `text/*` → text; the supported
/// range with the highest q-value wins, the earliest on a tie; `q=0` excludes a range.
/// Several `Accept` fields should be joined with `,` by the caller.
pub fn negotiate(accept: Option<&[u8]>) -> Result<BatchFormat, NegotiationError> {
    let Some(raw) = accept else {
        return Ok(BatchFormat::Text);
    };
    let unsupported = || NegotiationError {
        accept: String::from_utf8_lossy(raw)
            .chars()
            .take(MAX_ECHOED_ACCEPT_CHARS)
            .collect(),
    };
    let text = std::str::from_utf8(raw).map_err(|_| unsupported())?;
    if text.trim().is_empty() {
        return Ok(BatchFormat::Text);
    }
    let mut best: Option<(f32, BatchFormat)> = None;
    for range in text.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let Some(format) = format_of(&media) else {
            continue;
        };
        let Some(quality) = quality_of(parts) else {
            continue;
        };
        if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, format));
        }
    }
    best.map(|(_, format)| format).ok_or_else(unsupported)
}

fn format_of(media: &str) -> Option<BatchFormat> {
    match media {
        "application/json" | "*/*" | "application/*" => Some(BatchFormat::Json),
        "application/xml" | "text/xml" => Some(BatchFormat::Xml),
        "text/plain" | "text/*" => Some(BatchFormat::Text),
        _ => None,
    }
}

/// The `q` parameter (default 1); `None` when it is not a number in 0..=1.
fn quality_of<'a>(params: impl Iterator<Item = &'a str>) -> Option<f32> {
    for param in params {
        if let Some((name, value)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("q") {
                return value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q));
            }
        }
    }
    Some(1.0)
}

/// The entrypoint's `headersInPayload` / `metadataInPayload` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchOptions {
    /// Render each message's headers as a `headers` element, every value of a name listed
    /// (`headersInPayload`, default `false`).
    pub headers_in_payload: bool,
    /// Render each message's metadata as a `metadata` element, one value per key
    /// (`metadataInPayload`, default `false`).
    pub metadata_in_payload: bool,
}

/// Where a batch body is rendered: bytes to copy (framing, ids, escapes), and ranges of a payload
/// that a sink may reference instead of copying (`server::write_batch::WriteBatch` does, for
/// large ones), so a reply shares the payloads the retention ring already holds.
pub trait BodySink {
    /// Appends copied bytes.
    fn put_slice(&mut self, bytes: &[u8]);
    /// Appends `payload[range]`, by reference where the sink can.
    fn put_payload(&mut self, payload: &Bytes, range: Range<usize>);
    /// Bytes appended so far.
    fn len(&self) -> usize;
    /// Drops what was appended after the first `len` bytes (undoing an item that did not fit).
    fn truncate(&mut self, len: usize);
    /// True when nothing was appended.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends a string, copied.
    fn put_str(&mut self, text: &str) {
        self.put_slice(text.as_bytes());
    }
}

impl BodySink for BytesMut {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_payload(&mut self, payload: &Bytes, range: Range<usize>) {
        self.extend_from_slice(&payload[range]);
    }
    fn len(&self) -> usize {
        BytesMut::len(self)
    }
    fn truncate(&mut self, len: usize) {
        BytesMut::truncate(self, len);
    }
}

/// Renders a whole batch response body. `limit` is the effective message count limit.
pub fn render_batch(
    format: BatchFormat,
    items: &[Message],
    next_cursor: Option<&str>,
    limit: usize,
    opts: &BatchOptions,
) -> Bytes {
    let estimate = 96
        + items
            .iter()
            .map(|m| 64 + m.payload.len() * 4 / 3)
            .sum::<usize>();
    let mut out = BytesMut::with_capacity(estimate);
    render_open(format, &mut out);
    for (index, message) in items.iter().enumerate() {
        render_item(format, &mut out, index, message, opts);
    }
    render_close(format, &mut out, next_cursor, limit);
    out.freeze()
}

/// The start of a body, before its first item.
pub fn render_open(format: BatchFormat, sink: &mut impl BodySink) {
    sink.put_str(match format {
        BatchFormat::Json => "{\"items\":[",
        BatchFormat::Xml => "<response><items>",
        BatchFormat::Text => "items\n",
    });
}

/// Item number `index` (from 0) of a body. Item by item, so a caller can stop at a byte budget
/// and truncate the sink back to before an item that did not fit.
pub fn render_item(
    format: BatchFormat,
    sink: &mut impl BodySink,
    index: usize,
    message: &Message,
    opts: &BatchOptions,
) {
    match format {
        BatchFormat::Json => json::item(sink, index, message, opts),
        BatchFormat::Xml => xml::item(sink, message, opts),
        BatchFormat::Text => text::item(sink, index, message, opts),
    }
}

/// The end of a body: pagination with `next_cursor` (when there is one) and `limit`.
pub fn render_close(
    format: BatchFormat,
    sink: &mut impl BodySink,
    next_cursor: Option<&str>,
    limit: usize,
) {
    let limit = limit.to_string();
    match format {
        BatchFormat::Json => json::close(sink, next_cursor, &limit),
        BatchFormat::Xml => xml::close(sink, next_cursor, &limit),
        BatchFormat::Text => text::close(sink, next_cursor, &limit),
    }
}

/// A payload as it goes on the wire.
enum Content<'a> {
    /// Valid UTF-8, written as is (escaped as the format needs); the `str` views the payload.
    Text(&'a str),
    Base64(String),
}

impl<'a> Content<'a> {
    /// Text when the payload is UTF-8 and `allowed` accepts every character, else base64.
    fn of(payload: &'a [u8], allowed: impl Fn(char) -> bool) -> Content<'a> {
        match std::str::from_utf8(payload) {
            Ok(text) if text.chars().all(allowed) => Content::Text(text),
            _ => Content::Base64(base64::engine::general_purpose::STANDARD.encode(payload)),
        }
    }

    fn is_base64(&self) -> bool {
        matches!(self, Content::Base64(_))
    }
}

/// Header fields grouped by name (case-insensitive, first spelling kept, order of first
/// appearance), as the reference's multi-value header map renders them.
fn grouped(fields: &Fields) -> Vec<(&str, Vec<&str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value) in fields.iter() {
        match groups
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, values)) => values.push(value),
            None => groups.push((name, vec![value])),
        }
    }
    groups
}

/// Metadata as a map: one entry per key at its first position, the last value winning.
fn deduplicated(fields: &Fields) -> Vec<(&str, &str)> {
    let mut entries: Vec<(&str, &str)> = Vec::new();
    for (key, value) in fields.iter() {
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    entries
}

mod json;
mod text;
mod xml;

#[cfg(test)]
mod tests;
