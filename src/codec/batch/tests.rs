use super::*;
use crate::message::{MessageId, PayloadKind};
use std::sync::Arc;

fn message(id: u64, payload: &[u8]) -> Message {
    Message {
        id: MessageId::Sequence(id),
        payload: Bytes::copy_from_slice(payload),
        kind: PayloadKind::Unspecified,
        headers: Arc::from(vec![]),
        metadata: Arc::from(vec![]),
        timestamp_ms: 0,
    }
}

fn with_fields(mut m: Message, headers: &[(&str, &str)], metadata: &[(&str, &str)]) -> Message {
    let owned = |f: &[(&str, &str)]| -> Fields {
        f.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into()
    };
    m.headers = owned(headers);
    m.metadata = owned(metadata);
    m
}

fn quickstart() -> Vec<Message> {
    (0..4).map(|id| message(id, b"mock message")).collect()
}

fn render(format: BatchFormat, items: &[Message], opts: BatchOptions) -> String {
    let body = render_batch(format, items, Some("3"), 500, &opts);
    String::from_utf8(body.to_vec()).unwrap()
}

const OFF: BatchOptions = BatchOptions {
    headers_in_payload: false,
    metadata_in_payload: false,
};
const ON: BatchOptions = BatchOptions {
    headers_in_payload: true,
    metadata_in_payload: true,
};

#[test]
fn quickstart_json() {
    let item = |id| format!(r#"{{"id":"{id}","content":"mock message"}}"#);
    let expected = format!(
        r#"{{"items":[{},{},{},{}],"pagination":{{"nextCursor":"3","limit":"500"}}}}"#,
        item(0),
        item(1),
        item(2),
        item(3)
    );
    assert_eq!(render(BatchFormat::Json, &quickstart(), OFF), expected);
}

#[test]
fn quickstart_xml() {
    let items: String = (0..4)
        .map(|id| format!("<item><id>{id}</id><content><![CDATA[mock message]]></content></item>"))
        .collect();
    let expected = format!(
        "<response><items>{items}</items><pagination><nextCursor>3</nextCursor><limit>500</limit></pagination></response>"
    );
    assert_eq!(render(BatchFormat::Xml, &quickstart(), OFF), expected);
}

#[test]
fn quickstart_text() {
    let expected =
        "items\nitem\nid: 0\ncontent: mock message\n\nitem\nid: 1\ncontent: mock message\n\
        \nitem\nid: 2\ncontent: mock message\n\nitem\nid: 3\ncontent: mock message\n\
        \npagination\nnextCursor: 3\nlimit: 500";
    assert_eq!(render(BatchFormat::Text, &quickstart(), OFF), expected);
}

#[test]
fn empty_batch_without_cursor() {
    let json = render_batch(BatchFormat::Json, &[], None, 10, &OFF);
    assert_eq!(&json[..], br#"{"items":[],"pagination":{"limit":"10"}}"#);
    let xml = render_batch(BatchFormat::Xml, &[], None, 10, &OFF);
    assert_eq!(
        &xml[..],
        b"<response><items></items><pagination><limit>10</limit></pagination></response>"
    );
    let text = render_batch(BatchFormat::Text, &[], None, 10, &OFF);
    assert_eq!(&text[..], b"items\n\npagination\nlimit: 10");
}

#[test]
fn headers_and_metadata() {
    let m = with_fields(
        message(7, b"x"),
        &[("X-A", "1"), ("x-a", "2"), ("X-B", "3")],
        &[("topic", "t"), ("partition", "0"), ("topic", "u")],
    );
    assert_eq!(
        render(BatchFormat::Json, std::slice::from_ref(&m), ON),
        r#"{"items":[{"id":"7","content":"x","headers":{"X-A":["1","2"],"X-B":["3"]},"metadata":{"topic":"u","partition":"0"}}],"pagination":{"nextCursor":"3","limit":"500"}}"#
    );
    assert!(
        render(BatchFormat::Xml, std::slice::from_ref(&m), ON).contains(
            "<content><![CDATA[x]]></content><headers><X-A>1,2</X-A><X-B>3</X-B></headers>\
         <metadata><topic>u</topic><partition>0</partition></metadata></item>"
        )
    );
    assert!(render(BatchFormat::Text, std::slice::from_ref(&m), ON).starts_with(
        "items\nitem\nid: 7\ncontent: x\nheaders: {X-A=[1, 2], X-B=[3]}\nmetadata: {topic=u, partition=0}\n\n"
    ));
    let only_headers = BatchOptions {
        headers_in_payload: true,
        metadata_in_payload: false,
    };
    let json = render(BatchFormat::Json, &[m], only_headers);
    assert!(json.contains(r#""headers":{"#) && !json.contains("metadata"));
}

#[test]
fn json_escaping_round_trips() {
    let payload = "quote \" backslash \\ newline \n tab \t nul \u{0} é 😀";
    let body = render_batch(
        BatchFormat::Json,
        &[message(0, payload.as_bytes())],
        None,
        1,
        &OFF,
    );
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["items"][0]["content"], payload);
    assert!(value["items"][0].get("encoding").is_none());
}

#[test]
fn binary_payloads_become_base64() {
    let binary = [0xff, 0x00, 0xfe, b'a'];
    let json = render(BatchFormat::Json, &[message(0, &binary)], OFF);
    assert!(
        json.contains(r#"{"id":"0","content":"/wD+YQ==","encoding":"base64"}"#),
        "{json}"
    );
    let xml = render(BatchFormat::Xml, &[message(0, &binary)], OFF);
    assert!(xml.contains("<content><![CDATA[/wD+YQ==]]></content><encoding>base64</encoding>"));
    let text = render(BatchFormat::Text, &[message(0, &binary)], OFF);
    assert!(text.contains("content: /wD+YQ==\nencoding: base64\n"));
    // UTF-8 with a control character XML 1.0 forbids: base64 in XML only.
    let bell = message(1, b"ding\x07");
    assert!(render(BatchFormat::Xml, std::slice::from_ref(&bell), OFF)
        .contains("<content><![CDATA[ZGluZwc=]]></content><encoding>base64</encoding>"));
    assert!(render(BatchFormat::Json, &[bell], OFF).contains(r#""content":"ding\u0007"}"#));
}

#[test]
fn xml_escaping() {
    let m = with_fields(
        message(0, b"a]]>b\r\nc<&>"),
        &[("X-Q", "<\"&\">")],
        &[("1bad name", "v\u{1}")],
    );
    let xml = render(BatchFormat::Xml, &[m], ON);
    assert!(
        xml.contains(
            "<content><![CDATA[a]]]]><![CDATA[>b]]>&#13;<![CDATA[\nc<&>]]></content>\
         <headers><X-Q>&lt;&quot;&amp;&quot;&gt;</X-Q></headers>\
         <metadata><entry name=\"1bad name\">v\u{FFFD}</entry></metadata>"
        ),
        "{xml}"
    );
}

#[test]
fn negotiation_table() {
    use BatchFormat::*;
    let cases: &[(Option<&str>, BatchFormat)] = &[
        (None, Text),
        (Some(""), Text),
        (Some("  "), Text),
        (Some("*/*"), Json),
        (Some("application/json"), Json),
        (Some("Application/JSON; charset=utf-8"), Json),
        (Some("application/xml"), Xml),
        (Some("text/xml"), Xml),
        (Some("text/plain"), Text),
        (Some("text/*"), Text),
        (Some("application/grpc, application/json"), Json),
        (
            Some("application/grpc, application/xml, application/json"),
            Xml,
        ),
        (Some("application/grpc;q=0.8, */*;q=0.9"), Json),
        (
            Some("application/grpc;q=0.9, application/jwt;q=0.8, text/plain;q=0.1"),
            Text,
        ),
        (Some("application/json;q=0.5, application/xml;q=0.6"), Xml),
        (Some("application/json;q=0, text/plain"), Text),
        (
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Xml,
        ),
        (Some("application/json;q=abc, text/plain;q=0.2"), Text),
    ];
    for (accept, expected) in cases {
        assert_eq!(
            negotiate(accept.map(str::as_bytes)),
            Ok(*expected),
            "{accept:?}"
        );
    }
}

#[test]
fn negotiation_failures() {
    for accept in [
        &b"application/grpc"[..],
        b"application/grpc,application/jwt",
        b"application/grpc;q=0.9,application/jwt;q=0.8, application/atom+xml;q=0.1",
        b"application/json;q=0",
        b"\xff\xfe",
    ] {
        let error = negotiate(Some(accept)).unwrap_err();
        assert_eq!(error.status(), 400);
    }
    let error = negotiate(Some(b"application/grpc")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Unsupported Accept header: application/grpc; supported media types: application/json, application/xml, text/plain"
    );
}

#[test]
fn content_types() {
    assert_eq!(BatchFormat::Json.content_type(), "application/json");
    assert_eq!(BatchFormat::Xml.content_type(), "application/xml");
    assert_eq!(
        BatchFormat::Text.content_type(),
        "text/plain; charset=utf-8"
    );
}

/// A sink that records which payload ranges were handed over by reference.
#[derive(Default)]
struct Recording {
    bytes: BytesMut,
    referenced: Vec<(*const u8, usize)>,
}

impl BodySink for Recording {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }
    fn put_payload(&mut self, payload: &Bytes, range: Range<usize>) {
        self.referenced
            .push((payload[range.clone()].as_ptr(), range.len()));
        self.bytes.extend_from_slice(&payload[range]);
    }
    fn len(&self) -> usize {
        self.bytes.len()
    }
    fn truncate(&mut self, len: usize) {
        self.bytes.truncate(len);
    }
}

fn rendered_by_items(format: BatchFormat, items: &[Message]) -> Recording {
    let mut sink = Recording::default();
    render_open(format, &mut sink);
    for (index, message) in items.iter().enumerate() {
        render_item(format, &mut sink, index, message, &OFF);
    }
    render_close(format, &mut sink, Some("3"), 500);
    sink
}

/// Content that needs no escaping is handed to the sink as the payload itself (a sink such as
/// `WriteBatch` then references it instead of copying); the output is the same as rendering
/// the whole batch at once.
#[test]
fn plain_content_is_passed_by_reference_in_every_format() {
    let payload = Bytes::from(vec![b'p'; 4096]);
    let items = [Message {
        payload: payload.clone(),
        ..message(0, b"")
    }];
    for format in [BatchFormat::Json, BatchFormat::Xml, BatchFormat::Text] {
        let sink = rendered_by_items(format, &items);
        assert_eq!(
            sink.referenced,
            vec![(payload.as_ptr(), payload.len())],
            "{format:?}"
        );
        assert_eq!(
            sink.bytes.freeze(),
            render_batch(format, &items, Some("3"), 500, &OFF),
            "{format:?}"
        );
    }
}

/// Escapes split the content into runs of the payload; JSON escapes are serde_json's, byte for
/// byte, and XML's CDATA splitting is unchanged.
#[test]
fn escaped_content_is_runs_of_the_payload_around_the_escapes() {
    let payload = Bytes::from_static(b"ab\"cd\x01ef]]>gh\ri");
    let items = [Message {
        payload: payload.clone(),
        ..message(0, b"")
    }];
    let json = rendered_by_items(BatchFormat::Json, &items);
    let text = std::str::from_utf8(&payload).unwrap();
    assert!(String::from_utf8_lossy(&json.bytes).contains(&format!(
        "\"content\":{}",
        serde_json::to_string(text).unwrap()
    )));
    assert!(json.referenced.iter().all(|(ptr, len)| {
        let start = *ptr as usize - payload.as_ptr() as usize;
        start + len <= payload.len()
    }));
    assert_eq!(json.referenced.len(), 4, "ab | cd | ef]]>gh | i");
    // XML: U+0001 is not allowed at all (base64), so without it.
    let payload = Bytes::from_static(b"ab\"cdef]]>gh\ri");
    let items = [Message {
        payload: payload.clone(),
        ..message(0, b"")
    }];
    let xml = rendered_by_items(BatchFormat::Xml, &items);
    assert!(String::from_utf8_lossy(&xml.bytes)
        .contains("<![CDATA[ab\"cdef]]]]><![CDATA[>gh]]>&#13;<![CDATA[i]]>"));
    assert_eq!(xml.referenced.len(), 3, "ab\"cdef | gh | i");
}

proptest::proptest! {
    /// Any UTF-8 content is escaped exactly as serde_json escapes it.
    #[test]
    fn json_content_matches_serde_json(text in "\\PC*|[\\x00-\\x7f]*") {
        let items = [message(0, text.as_bytes())];
        let body = render_batch(BatchFormat::Json, &items, None, 1, &OFF);
        let expected = format!(
            "{{\"items\":[{{\"id\":\"0\",\"content\":{}}}],\"pagination\":{{\"limit\":\"1\"}}}}",
            serde_json::to_string(&text).unwrap()
        );
        proptest::prop_assert_eq!(String::from_utf8(body.to_vec()).unwrap(), expected);
    }
}
