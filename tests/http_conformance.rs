//! HTTP/1.1 request rules (RFC 9110, RFC 9112) over real sockets: duplicate `Host`,
//! `Expect: 100-continue`, a body that stalls, a bare CR in the head, a `Last-Event-ID` that is not
//! text, and a POST without framing.

mod common;

use std::io::{BufRead, BufReader, Write};

use common::http_raw::RawConn;
use common::topic_api::chat_yaml;
use common::*;
use tidegate::config::DriverChoice;

/// `/chat` (an in-memory topic: POST, GET, SSE) and `/mock` (a Mock generator: GET only), with a
/// short `headerReadMs` (it also bounds how long a body may take).
fn yaml(header_read_ms: u64) -> String {
    let gateway = format!(
        "gateway:\n  limits:\n    maxBodyBytes: 1024\n  timeouts:\n    headerReadMs: {header_read_ms}"
    );
    let entrypoints = r#"      - type: http-post
      - type: http-get
        configuration:
          messagesLimitDurationMs: 100
      - type: sse"#;
    chat_yaml(&gateway, entrypoints) + MOCK_API
}

const MOCK_API: &str = r#"  - id: mock
    name: Mock
    contextPaths: [/mock]
    entrypoints:
      - type: http-get
    endpoint:
      type: mock
    plans:
      - name: Keyless
        security: keyless
"#;

fn gateway(driver: DriverChoice) -> tidegate::runtime::Gateway {
    start(test_config(&yaml(300), driver))
}

fn two_host_fields_are_refused(driver: DriverChoice) {
    let gateway = gateway(driver);
    let response = raw(
        gateway.local_addr(),
        b"GET /chat HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.text().contains("Host"), "{}", response.text());
    // The same name in another case is the same field.
    let response = raw(
        gateway.local_addr(),
        b"GET /chat HTTP/1.1\r\nHost: a\r\nhost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 400, "{}", response.text());
}
on_both_drivers!(two_host_fields_are_refused, two_host_fields_are_refused);

fn expect_continue_is_answered_before_the_body(driver: DriverChoice) {
    let gateway = gateway(driver);
    let mut conn = RawConn::open(gateway.local_addr());
    conn.send(
        b"POST /chat HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(
        conn.interim_status(),
        100,
        "the client waits for 100 Continue"
    );
    conn.send(b"hello");
    let response = conn.response();
    assert_eq!(response.status, 202, "{}", response.text());
    // The connection stays usable: a second request without Expect is served as usual.
    conn.send(b"POST /chat HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(conn.response().status, 202);
    // `100-continue` is case-insensitive (RFC 9110 §10.1.1).
    conn.send(
        b"POST /chat HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n",
    );
    assert_eq!(conn.interim_status(), 100);
    conn.send(b"!");
    assert_eq!(conn.response().status, 202);
}
on_both_drivers!(
    expect_continue_is_answered_before_the_body,
    expect_continue_is_answered_before_the_body
);

fn a_refused_expect_continue_gets_the_final_status_without_sending_the_body(driver: DriverChoice) {
    let gateway = gateway(driver);
    for (head, status) in [
        (
            "POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            404,
        ),
        (
            "POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            405,
        ),
        (
            "POST /chat HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
            413,
        ),
    ] {
        let mut conn = RawConn::open(gateway.local_addr());
        conn.send(head.as_bytes());
        // The body is never sent: the answer must come without it.
        let response = conn.response();
        assert_eq!(response.status, status, "{head}: {}", response.text());
        assert_eq!(response.header("connection"), Some("close"), "{head}");
        assert!(conn.closed_by_peer(), "{head}: the unread body ends the connection");
    }
}
on_both_drivers!(
    a_refused_expect_continue_gets_the_final_status_without_sending_the_body,
    a_refused_expect_continue_gets_the_final_status_without_sending_the_body
);

fn a_stalled_body_is_answered_408(driver: DriverChoice) {
    let gateway = gateway(driver);
    for head in [
        "POST /chat HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
        "POST /chat HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let mut conn = RawConn::open(gateway.local_addr());
        conn.send(head.as_bytes());
        let response = conn.response();
        assert_eq!(response.status, 408, "{head}: {}", response.text());
        assert!(
            response.text().contains("body"),
            "the answer says what was late: {}",
            response.text()
        );
        assert_eq!(response.header("connection"), Some("close"));
    }
}
on_both_drivers!(
    a_stalled_body_is_answered_408,
    a_stalled_body_is_answered_408
);

fn a_bare_cr_in_the_head_is_refused_at_once(driver: DriverChoice) {
    // A long headerReadMs: an answer that waited for it would be 408, not 400.
    let yaml = yaml(60_000);
    let gateway = start(test_config(&yaml, driver));
    for head in [
        &b"GET /chat HTTP/1.1\rHost: t\r\n"[..],
        b"GET /chat HTTP/1.1\r\nHost: t\rX-A: b\r\n",
        b"GET /chat HTTP/1.1\r\nHost: t\r\nX-A: b\rc\r\n",
    ] {
        let mut conn = RawConn::open(gateway.local_addr());
        // The head is not finished (no blank line): only the bare CR can end it.
        conn.send(head);
        let response = conn.response();
        assert_eq!(
            response.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(head),
            response.text()
        );
        assert!(response.text().contains("CR"), "{}", response.text());
    }
}
on_both_drivers!(
    a_bare_cr_in_the_head_is_refused_at_once,
    a_bare_cr_in_the_head_is_refused_at_once
);

fn a_last_event_id_that_is_not_utf8_is_refused(driver: DriverChoice) {
    let gateway = gateway(driver);
    let mut stream = connect(gateway.local_addr());
    stream
        .write_all(b"GET /chat HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\nLast-Event-ID: \xff\xfe1\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 400"),
        "a resume position that cannot be read must not start a stream from now: {status_line}"
    );
    let response = read_response_after_status(&mut reader, 400).text();
    assert!(response.contains("Last-Event-ID"), "{response}");
}
on_both_drivers!(
    a_last_event_id_that_is_not_utf8_is_refused,
    a_last_event_id_that_is_not_utf8_is_refused
);

fn a_post_without_framing_is_411(driver: DriverChoice) {
    let gateway = gateway(driver);
    let addr = gateway.local_addr();
    for head in [
        &b"POST /chat HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"[..],
        b"POST /chat HTTP/1.0\r\n\r\n",
    ] {
        let response = raw(addr, head);
        assert_eq!(response.status, 411, "{}", response.text());
        assert!(
            response.text().contains("Content-Length"),
            "{}",
            response.text()
        );
    }
    // An empty message is still publishable when framed.
    let response = raw(
        addr,
        b"POST /chat HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 202, "{}", response.text());
    // Nothing unframed was published.
    let polled = get(
        addr,
        "/chat?cursor=0&limit=10",
        &[("Accept", "application/json")],
    )
    .json();
    assert_eq!(
        polled["items"].as_array().map(Vec::len),
        Some(1),
        "{polled}"
    );
}
on_both_drivers!(a_post_without_framing_is_411, a_post_without_framing_is_411);
