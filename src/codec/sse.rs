//! Server-Sent Events (HTML Living Standard §9.2 "Server-sent events"), sans-IO.
//!
//! Encoders append `text/event-stream` bytes to a `BytesMut`; [`SseParser`] implements the
//! client's parsing algorithm so tests and the load tester read streams the way browsers do.
//!
//! SSE is a UTF-8 text protocol whose parser turns `\r\n`, `\r` and `\n` alike into line ends. So
//! a `data:` payload comes back to the client exactly, except that each `\r\n` or lone `\r` becomes
//! `\n`. Payloads that are not UTF-8 cannot be carried at all: the entrypoint checks
//! [`needs_base64`], base64-encodes such payloads and marks the event; [`encode_event`] writes the
//! data as given.

use bytes::{BufMut, BytesMut};

/// Appends the reconnection delay the client should use: `retry: 5000\n\n`.
pub fn encode_retry(dst: &mut BytesMut, retry_ms: u64) {
    dst.put_slice(b"retry: ");
    dst.put_slice(retry_ms.to_string().as_bytes());
    dst.put_slice(b"\n\n");
}

/// Appends `text` as comment lines (`: line`), one per line of `text`; no blank line follows, so
/// the comment joins whatever is written next.
pub fn encode_comment(dst: &mut BytesMut, text: &str) {
    for_each_line(text.as_bytes(), |line| put_field(dst, b"", line));
}

/// Appends an empty comment and a blank line (`:\n\n`): keeps proxies from timing the stream out
/// and lets the server notice a dead client, without dispatching an event.
pub fn encode_heartbeat(dst: &mut BytesMut) {
    dst.put_slice(b":\n\n");
}

/// One event to encode.
#[derive(Clone, Copy, Debug)]
pub struct SseEvent<'a> {
    /// The `id:` field, the client's `Last-Event-ID` on reconnect; CR, LF and NUL are stripped.
    pub id: Option<&'a str>,
    /// The `event:` field (the event type); CR and LF are stripped.
    pub event: Option<&'a str>,
    /// The payload: UTF-8 expected (see [`needs_base64`]); split into one `data:` line per line.
    pub data: &'a [u8],
    /// Rendered as `: name: value` comment lines before the fields (headers/metadata as comments);
    /// CR and LF are stripped.
    pub comments: &'a [(String, String)],
}

/// Whether `data` must be base64-encoded before [`encode_event`]: SSE carries only UTF-8 text.
pub fn needs_base64(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_err()
}

/// Appends one event: its comments, `id:`, `event:`, the `data:` lines and a blank line.
///
/// Every line terminator in `data` starts a new `data:` line, so `n` terminators give `n + 1`
/// lines; a trailing newline thus yields a final empty `data` line. The client joins the lines
/// with `\n` and strips one trailing `\n`, which reconstructs the payload exactly (modulo CR).
pub fn encode_event(dst: &mut BytesMut, ev: &SseEvent<'_>) {
    encode_event_head(dst, ev);
    dst.reserve(ev.data.len() + 8);
    for_each_line(ev.data, |line| put_field(dst, b"data", line));
    dst.put_u8(b'\n');
}

/// Writes what precedes an event's data: its comment, `id:` and `event:` lines (`ev.data` is
/// not read). With `data_lines`, lets a writer reference the payload instead of copying it.
pub fn encode_event_head(dst: &mut BytesMut, ev: &SseEvent<'_>) {
    for (name, value) in ev.comments {
        dst.put_u8(b':');
        dst.put_u8(b' ');
        put_stripped(dst, name.as_bytes(), b"\r\n");
        dst.put_slice(b": ");
        put_stripped(dst, value.as_bytes(), b"\r\n");
        dst.put_u8(b'\n');
    }
    if let Some(id) = ev.id {
        put_field_stripped(dst, b"id", id.as_bytes(), b"\r\n\0");
    }
    if let Some(event) = ev.event {
        put_field_stripped(dst, b"event", event.as_bytes(), b"\r\n");
    }
}

/// The byte ranges of `data`'s lines, split as `encode_event` splits them (`\r\n`, `\r` or `\n`
/// end a line; the text after the last terminator is the last line). Each line is sent as
/// `data: <line>\n`, or `data\n` when empty, and the event ends with a blank line.
pub fn data_lines(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let base = data.as_ptr() as usize;
    for_each_line(data, |line| {
        let start = line.as_ptr() as usize - base;
        ranges.push(start..start + line.len());
    });
    ranges
}

/// Calls `f` with each line of `text`, where `\r\n`, `\r` and `\n` all end a line; the text after
/// the last terminator (possibly empty) is the last line.
fn for_each_line(text: &[u8], mut f: impl FnMut(&[u8])) {
    let mut rest = text;
    while let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        f(&rest[..end]);
        let terminator_bytes = if rest[end..].starts_with(b"\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + terminator_bytes..];
    }
    f(rest);
}

/// Appends `name: value\n`, or just `name\n` when the value is empty (the same to the parser).
fn put_field(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.put_slice(name);
    if !value.is_empty() {
        dst.put_slice(b": ");
        dst.put_slice(value);
    } else if name.is_empty() {
        dst.put_u8(b':');
    }
    dst.put_u8(b'\n');
}

fn put_field_stripped(dst: &mut BytesMut, name: &[u8], value: &[u8], forbidden: &[u8]) {
    dst.put_slice(name);
    if !value.is_empty() {
        dst.put_slice(b": ");
        put_stripped(dst, value, forbidden);
    }
    dst.put_u8(b'\n');
}

/// Appends `value` without the `forbidden` bytes (all ASCII, so UTF-8 stays valid).
fn put_stripped(dst: &mut BytesMut, value: &[u8], forbidden: &[u8]) {
    for chunk in value.split(|b| forbidden.contains(b)) {
        dst.put_slice(chunk);
    }
}

/// An event as a client's `EventSource` would dispatch it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The event type; `message` when the stream named none.
    pub event_type: String,
    /// The event's `data:` lines joined with `\n` (the final newline removed); events without
    /// data are not dispatched.
    pub data: String,
    /// The last `id` seen in the stream so far (ids persist across events).
    pub last_event_id: String,
    /// Comment lines since the previous blank line, without the `:` and one leading space.
    pub comments: Vec<String>,
}

/// Incremental `text/event-stream` parser following the spec's interpretation algorithm.
///
/// For tests and the load tester, which read our own server: a line is buffered until it ends,
/// without a length bound.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The current, not yet terminated line.
    line: Vec<u8>,
    /// The previous byte was CR, so an LF right after it ends no further line.
    after_cr: bool,
    /// A first line was seen (a UTF-8 BOM is stripped only before it).
    started: bool,
    data: String,
    event_type: String,
    last_event_id: String,
    comments: Vec<String>,
    retry_ms: Option<u64>,
    comment_lines: u64,
}

impl SseParser {
    /// A parser at the start of a stream: no line seen, no last event id, no retry delay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds stream bytes, cut anywhere; appends every event they complete to `events`.
    pub fn feed(&mut self, input: &[u8], events: &mut Vec<ParsedEvent>) {
        for &byte in input {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, events);
                }
                _ => self.line.push(byte),
            }
        }
    }

    /// The reconnection delay from the last valid `retry:` field.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// The last `id` seen in the stream so far: what a reconnecting `EventSource` would send as
    /// `Last-Event-ID` ("" before any id).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Comment lines seen so far (heartbeats included).
    pub fn comment_lines(&self) -> u64 {
        self.comment_lines
    }

    fn process_line(&mut self, mut line: &[u8], events: &mut Vec<ParsedEvent>) {
        if !std::mem::replace(&mut self.started, true) {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            return self.dispatch(events);
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"" => {
                self.comment_lines += 1;
                self.comments.push(value.into_owned());
            }
            b"event" => self.event_type = value.into_owned(),
            b"data" => {
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"id" if !value.contains('\0') => self.last_event_id = value.into_owned(),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(retry_ms) = value.parse() {
                    self.retry_ms = Some(retry_ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<ParsedEvent>) {
        let mut data = std::mem::take(&mut self.data);
        let event_type = std::mem::take(&mut self.event_type);
        let comments = std::mem::take(&mut self.comments);
        if data.is_empty() {
            return;
        }
        if data.ends_with('\n') {
            data.pop();
        }
        let event_type = if event_type.is_empty() {
            "message".to_owned()
        } else {
            event_type
        };
        let last_event_id = self.last_event_id.clone();
        events.push(ParsedEvent {
            event_type,
            data,
            last_event_id,
            comments,
        });
    }
}

#[cfg(test)]
mod tests;
