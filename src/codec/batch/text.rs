//! The text/plain body: `items`, then `item` / `id:` / `content:` lines per message, then
//! `pagination`. UTF-8 content is written raw (referenced from the payload by sinks that can).

use super::*;

pub(super) fn item(sink: &mut impl BodySink, index: usize, message: &Message, opts: &BatchOptions) {
    if index > 0 {
        sink.put_str("\n");
    }
    sink.put_str(&format!("item\nid: {}\ncontent: ", message.id));
    let content = Content::of(&message.payload, |_| true);
    match &content {
        Content::Text(_) => sink.put_payload(&message.payload, 0..message.payload.len()),
        Content::Base64(encoded) => sink.put_str(encoded),
    }
    sink.put_str("\n");
    if content.is_base64() {
        sink.put_str("encoding: base64\n");
    }
    if opts.headers_in_payload {
        let groups: Vec<String> = grouped(&message.headers)
            .into_iter()
            .map(|(name, values)| format!("{name}=[{}]", values.join(", ")))
            .collect();
        sink.put_str(&format!("headers: {{{}}}\n", groups.join(", ")));
    }
    if opts.metadata_in_payload {
        let entries: Vec<String> = deduplicated(&message.metadata)
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        sink.put_str(&format!("metadata: {{{}}}\n", entries.join(", ")));
    }
}

pub(super) fn close(sink: &mut impl BodySink, next: Option<&str>, limit: &str) {
    sink.put_str("\npagination");
    if let Some(cursor) = next {
        sink.put_str(&format!("\nnextCursor: {cursor}"));
    }
    sink.put_str(&format!("\nlimit: {limit}"));
}
