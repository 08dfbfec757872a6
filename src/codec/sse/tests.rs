/// What a zero-copy writer builds from `encode_event_head` and `data_lines` is exactly what
/// `encode_event` writes.
#[test]
fn head_plus_data_lines_equals_encode_event() {
    for data in [
        &b""[..],
        b"one",
        b"a\nb",
        b"a\r\nb\rc\n",
        b"\n\n",
        b"tail\n",
    ] {
        let comments = vec![("k".to_owned(), "v".to_owned())];
        let ev = super::SseEvent {
            id: Some("7"),
            event: Some("message"),
            data,
            comments: &comments,
        };
        let mut whole = bytes::BytesMut::new();
        super::encode_event(&mut whole, &ev);
        let mut parts = bytes::BytesMut::new();
        super::encode_event_head(&mut parts, &ev);
        for line in super::data_lines(data) {
            if line.is_empty() {
                parts.extend_from_slice(b"data\n");
            } else {
                parts.extend_from_slice(b"data: ");
                parts.extend_from_slice(&data[line]);
                parts.extend_from_slice(b"\n");
            }
        }
        parts.extend_from_slice(b"\n");
        assert_eq!(whole, parts, "{data:?}");
    }
}

use proptest::prelude::*;

use super::*;

fn encode(id: Option<&str>, event: Option<&str>, data: &[u8]) -> BytesMut {
    let mut dst = BytesMut::new();
    encode_event(
        &mut dst,
        &SseEvent {
            id,
            event,
            data,
            comments: &[],
        },
    );
    dst
}

fn parse(stream: &[u8]) -> Vec<ParsedEvent> {
    let mut events = Vec::new();
    SseParser::new().feed(stream, &mut events);
    events
}

/// What the spec's parser makes of a payload: every line terminator becomes `\n`.
fn normalize_newlines(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

#[test]
fn control_lines_have_exact_bytes() {
    let mut dst = BytesMut::new();
    encode_retry(&mut dst, 5000);
    encode_heartbeat(&mut dst);
    encode_comment(&mut dst, "one\r\ntwo\n");
    assert_eq!(&dst[..], b"retry: 5000\n\n:\n\n: one\n: two\n:\n");
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.feed(&dst, &mut events);
    assert!(events.is_empty());
    assert_eq!(parser.retry_ms(), Some(5000));
    assert_eq!(parser.comment_lines(), 4);
}

#[test]
fn event_has_exact_bytes() {
    let comments = [("content-type".to_owned(), "text/plain\r\n".to_owned())];
    let mut dst = BytesMut::new();
    let ev = SseEvent {
        id: Some("4\r\n2\0"),
        event: Some("mess\nage"),
        data: b"a\r\nb\rc\n\nd\n",
        comments: &comments,
    };
    encode_event(&mut dst, &ev);
    assert_eq!(
        &dst[..],
        &b": content-type: text/plain\nid: 42\nevent: message\n\
           data: a\ndata: b\ndata: c\ndata\ndata: d\ndata\n\n"[..]
    );
    let events = parse(&dst);
    assert_eq!(
        events,
        vec![ParsedEvent {
            event_type: "message".into(),
            data: "a\nb\nc\n\nd\n".into(),
            last_event_id: "42".into(),
            comments: vec!["content-type: text/plain".into()],
        }]
    );
}

#[test]
fn empty_data_is_still_dispatched() {
    assert_eq!(&encode(None, None, b"")[..], b"data\n\n");
    let events = parse(&encode(None, None, b""));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "");
    assert_eq!(events[0].event_type, "message");
}

#[test]
fn leading_spaces_and_colons_in_data_survive() {
    let data = "  indented: yes\n: not a comment\n";
    assert_eq!(parse(&encode(None, None, data.as_bytes()))[0].data, data);
}

#[test]
fn ids_persist_and_an_empty_id_resets() {
    let mut stream = encode(Some("7"), None, b"x");
    stream.extend_from_slice(&encode(None, None, b"y"));
    stream.extend_from_slice(&encode(Some(""), None, b"z"));
    let ids: Vec<_> = parse(&stream)
        .into_iter()
        .map(|e| e.last_event_id)
        .collect();
    assert_eq!(ids, ["7", "7", ""]);
}

#[test]
fn needs_base64_only_for_non_utf8() {
    assert!(!needs_base64("plain ✓\r\n".as_bytes()));
    assert!(needs_base64(&[0x80, b'a']));
}

#[test]
fn parser_handles_bom_and_cr_split_from_lf() {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.feed(b"\xEF\xBB\xBFdata: a\r", &mut events);
    parser.feed(b"\ndata: b\r", &mut events);
    parser.feed(b"\r", &mut events);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "a\nb");
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a :\r\n\u{0}é]{0,40}"]
}

proptest! {
    #[test]
    fn events_round_trip_through_the_spec_parser(
        events in proptest::collection::vec(
            (proptest::option::of(arb_text()), proptest::option::of(arb_text()), arb_text()),
            1..5,
        ),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = BytesMut::new();
        encode_retry(&mut stream, 3000);
        let mut expected = Vec::new();
        let mut last_event_id = String::new();
        for (id, event, data) in &events {
            encode_heartbeat(&mut stream);
            stream.extend_from_slice(&encode(id.as_deref(), event.as_deref(), data.as_bytes()));
            if let Some(id) = id {
                last_event_id = id.replace(['\r', '\n', '\0'], "");
            }
            let event_type = event.as_deref().unwrap_or("").replace(['\r', '\n'], "");
            expected.push(ParsedEvent {
                event_type: if event_type.is_empty() { "message".into() } else { event_type },
                data: normalize_newlines(data),
                last_event_id: last_event_id.clone(),
                comments: Vec::new(),
            });
        }
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(stream.len())).collect();
        offsets.push(stream.len());
        offsets.sort_unstable();
        let mut parser = SseParser::new();
        let mut parsed = Vec::new();
        let mut start = 0;
        for end in offsets {
            parser.feed(&stream[start..end], &mut parsed);
            start = end;
        }
        prop_assert_eq!(parsed, expected);
        prop_assert_eq!(parser.retry_ms(), Some(3000));
    }

    #[test]
    fn data_without_cr_round_trips_exactly(data in "[a \n:]{0,40}|\\PC{0,40}") {
        prop_assume!(!data.contains('\r'));
        let events = parse(&encode(None, None, data.as_bytes()));
        prop_assert_eq!(&events[0].data, &data);
    }
}
