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

use base64::Engine;
use bytes::Bytes;
use thiserror::Error;

use crate::message::{Fields, Message};

/// One of the three body formats of the HTTP GET entrypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    Json,
    Xml,
    Text,
}

impl BatchFormat {
    pub fn content_type(self) -> &'static str {
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
    pub headers_in_payload: bool,
    pub metadata_in_payload: bool,
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
    let mut out = String::with_capacity(estimate);
    let limit = limit.to_string();
    match format {
        BatchFormat::Json => json::render(&mut out, items, next_cursor, &limit, opts),
        BatchFormat::Xml => xml::render(&mut out, items, next_cursor, &limit, opts),
        BatchFormat::Text => text::render(&mut out, items, next_cursor, &limit, opts),
    }
    Bytes::from(out)
}

/// A payload as it goes on the wire.
enum Content<'a> {
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

    fn as_str(&self) -> &str {
        match self {
            Content::Text(text) => text,
            Content::Base64(encoded) => encoded,
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

mod json {
    use super::*;

    pub(super) fn render(
        out: &mut String,
        items: &[Message],
        next: Option<&str>,
        limit: &str,
        opts: &BatchOptions,
    ) {
        out.push_str("{\"items\":[");
        for (index, message) in items.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str("{\"id\":");
            string(out, &message.id.to_string());
            let content = Content::of(&message.payload, |_| true);
            out.push_str(",\"content\":");
            string(out, content.as_str());
            if content.is_base64() {
                out.push_str(",\"encoding\":\"base64\"");
            }
            if opts.headers_in_payload {
                out.push_str(",\"headers\":{");
                for (i, (name, values)) in grouped(&message.headers).into_iter().enumerate() {
                    out.push_str(if i > 0 { "," } else { "" });
                    string(out, name);
                    out.push_str(":[");
                    for (j, value) in values.into_iter().enumerate() {
                        out.push_str(if j > 0 { "," } else { "" });
                        string(out, value);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            if opts.metadata_in_payload {
                out.push_str(",\"metadata\":{");
                for (i, (key, value)) in deduplicated(&message.metadata).into_iter().enumerate() {
                    out.push_str(if i > 0 { "," } else { "" });
                    string(out, key);
                    out.push(':');
                    string(out, value);
                }
                out.push('}');
            }
            out.push('}');
        }
        out.push_str("],\"pagination\":{");
        if let Some(cursor) = next {
            out.push_str("\"nextCursor\":");
            string(out, cursor);
            out.push(',');
        }
        out.push_str("\"limit\":");
        string(out, limit);
        out.push_str("}}");
    }

    /// A JSON string literal, escaped by serde_json.
    fn string(out: &mut String, value: &str) {
        // Serializing a `str` cannot fail; the fallback keeps the document well-formed anyway.
        out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned()));
    }
}

mod xml {
    use super::*;

    pub(super) fn render(
        out: &mut String,
        items: &[Message],
        next: Option<&str>,
        limit: &str,
        opts: &BatchOptions,
    ) {
        out.push_str("<response><items>");
        for message in items {
            out.push_str("<item><id>");
            text(out, &message.id.to_string());
            out.push_str("</id><content>");
            let content = Content::of(&message.payload, is_xml_char);
            cdata(out, content.as_str());
            out.push_str("</content>");
            if content.is_base64() {
                out.push_str("<encoding>base64</encoding>");
            }
            if opts.headers_in_payload {
                out.push_str("<headers>");
                for (name, values) in grouped(&message.headers) {
                    element(out, name, &values.join(","));
                }
                out.push_str("</headers>");
            }
            if opts.metadata_in_payload {
                out.push_str("<metadata>");
                for (key, value) in deduplicated(&message.metadata) {
                    element(out, key, value);
                }
                out.push_str("</metadata>");
            }
            out.push_str("</item>");
        }
        out.push_str("</items><pagination>");
        if let Some(cursor) = next {
            element(out, "nextCursor", cursor);
        }
        element(out, "limit", limit);
        out.push_str("</pagination></response>");
    }

    /// Characters XML 1.0 allows in a document (`Char` production); `char` excludes surrogates.
    pub(super) fn is_xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }

    /// `<name>value</name>`, or `<entry name="…">value</entry>` when `name` is not an XML name.
    fn element(out: &mut String, name: &str, value: &str) {
        let valid = name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic()
                || c == '_'
                || (i > 0 && (c.is_ascii_digit() || c == '-' || c == '.'))
        });
        if valid && !name.is_empty() {
            out.push_str(&format!("<{name}>"));
            text(out, value);
            out.push_str(&format!("</{name}>"));
        } else {
            out.push_str("<entry name=\"");
            text(out, name);
            out.push_str("\">");
            text(out, value);
            out.push_str("</entry>");
        }
    }

    /// Escaped character data, also valid inside a double-quoted attribute.
    fn text(out: &mut String, value: &str) {
        for c in value.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\r' => out.push_str("&#13;"),
                c if is_xml_char(c) => out.push(c),
                _ => out.push('\u{FFFD}'),
            }
        }
    }

    /// CDATA that survives any (already XML-legal) text: `]]>` is split across two sections and
    /// CR goes outside CDATA as `&#13;`, since parsers turn a literal CR into LF.
    fn cdata(out: &mut String, value: &str) {
        out.push_str("<![CDATA[");
        let mut rest = value;
        while let Some(pos) = rest.find(['\r', ']']) {
            out.push_str(&rest[..pos]);
            rest = &rest[pos..];
            if let Some(after) = rest.strip_prefix("]]>") {
                out.push_str("]]]]><![CDATA[>");
                rest = after;
            } else if let Some(after) = rest.strip_prefix('\r') {
                out.push_str("]]>&#13;<![CDATA[");
                rest = after;
            } else {
                out.push(']');
                rest = &rest[1..];
            }
        }
        out.push_str(rest);
        out.push_str("]]>");
    }
}

mod text {
    use super::*;

    pub(super) fn render(
        out: &mut String,
        items: &[Message],
        next: Option<&str>,
        limit: &str,
        opts: &BatchOptions,
    ) {
        out.push_str("items\n");
        for (index, message) in items.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            let content = Content::of(&message.payload, |_| true);
            out.push_str(&format!(
                "item\nid: {}\ncontent: {}\n",
                message.id,
                content.as_str()
            ));
            if content.is_base64() {
                out.push_str("encoding: base64\n");
            }
            if opts.headers_in_payload {
                let groups: Vec<String> = grouped(&message.headers)
                    .into_iter()
                    .map(|(name, values)| format!("{name}=[{}]", values.join(", ")))
                    .collect();
                out.push_str(&format!("headers: {{{}}}\n", groups.join(", ")));
            }
            if opts.metadata_in_payload {
                let entries: Vec<String> = deduplicated(&message.metadata)
                    .into_iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect();
                out.push_str(&format!("metadata: {{{}}}\n", entries.join(", ")));
            }
        }
        out.push_str("\npagination");
        if let Some(cursor) = next {
            out.push_str(&format!("\nnextCursor: {cursor}"));
        }
        out.push_str(&format!("\nlimit: {limit}"));
    }
}

#[cfg(test)]
mod tests;
