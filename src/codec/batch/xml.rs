//! The XML body: `<response><items><item>…</item></items><pagination>…</pagination></response>`.
//! Content goes in CDATA; its runs are referenced from the payload by sinks that can.

use super::*;

pub(super) fn item(sink: &mut impl BodySink, message: &Message, opts: &BatchOptions) {
    sink.put_str("<item><id>");
    text(sink, &message.id.to_string());
    sink.put_str("</id><content>");
    let content = Content::of(&message.payload, is_xml_char);
    match &content {
        Content::Text(payload) => cdata(sink, &message.payload, payload),
        // Base64 holds neither `]` nor CR.
        Content::Base64(encoded) => {
            sink.put_str("<![CDATA[");
            sink.put_str(encoded);
            sink.put_str("]]>");
        }
    }
    sink.put_str("</content>");
    if content.is_base64() {
        sink.put_str("<encoding>base64</encoding>");
    }
    if opts.headers_in_payload {
        sink.put_str("<headers>");
        for (name, values) in grouped(&message.headers) {
            element(sink, name, &values.join(","));
        }
        sink.put_str("</headers>");
    }
    if opts.metadata_in_payload {
        sink.put_str("<metadata>");
        for (key, value) in deduplicated(&message.metadata) {
            element(sink, key, value);
        }
        sink.put_str("</metadata>");
    }
    sink.put_str("</item>");
}

pub(super) fn close(sink: &mut impl BodySink, next: Option<&str>, limit: &str) {
    sink.put_str("</items><pagination>");
    if let Some(cursor) = next {
        element(sink, "nextCursor", cursor);
    }
    element(sink, "limit", limit);
    sink.put_str("</pagination></response>");
}

/// Characters XML 1.0 allows in a document (`Char` production); `char` excludes surrogates.
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `<name>value</name>`, or `<entry name="…">value</entry>` when `name` is not an XML name.
fn element(sink: &mut impl BodySink, name: &str, value: &str) {
    let valid = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic()
            || c == '_'
            || (i > 0 && (c.is_ascii_digit() || c == '-' || c == '.'))
    });
    if valid && !name.is_empty() {
        sink.put_str(&format!("<{name}>"));
        text(sink, value);
        sink.put_str(&format!("</{name}>"));
    } else {
        sink.put_str("<entry name=\"");
        text(sink, name);
        sink.put_str("\">");
        text(sink, value);
        sink.put_str("</entry>");
    }
}

/// Escaped character data, also valid inside a double-quoted attribute.
fn text(sink: &mut impl BodySink, value: &str) {
    let mut out = String::with_capacity(value.len());
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
    sink.put_str(&out);
}

/// CDATA that survives any (already XML-legal) text: `]]>` is split across two sections and
/// CR goes outside CDATA as `&#13;`, since parsers turn a literal CR into LF. `value` is
/// `payload` as text; the runs between those spots are ranges of `payload`.
fn cdata(sink: &mut impl BodySink, payload: &Bytes, value: &str) {
    sink.put_str("<![CDATA[");
    let mut at = 0;
    let mut run_start = 0;
    while let Some(found) = value[at..].find(['\r', ']']) {
        let spot = at + found;
        let rest = &value[spot..];
        let (escape, skip) = if rest.starts_with("]]>") {
            ("]]]]><![CDATA[>", 3)
        } else if rest.starts_with('\r') {
            ("]]>&#13;<![CDATA[", 1)
        } else {
            // A lone `]` stays in the run.
            at = spot + 1;
            continue;
        };
        if run_start < spot {
            sink.put_payload(payload, run_start..spot);
        }
        sink.put_str(escape);
        at = spot + skip;
        run_start = at;
    }
    if run_start < value.len() {
        sink.put_payload(payload, run_start..value.len());
    }
    sink.put_str("]]>");
}
