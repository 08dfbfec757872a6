use super::*;
use proptest::prelude::*;

const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 256,
    max_header_count: 8,
};

fn parse(text: &str) -> Result<Option<RequestHead>, HeadError> {
    parse_request_head(&mut BytesMut::from(text), &LIMITS)
}

fn err(text: &str) -> HeadError {
    match parse(text) {
        Err(error) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn parse_ok(text: &str) -> RequestHead {
    match parse(text) {
        Ok(Some(head)) => head,
        other => panic!("expected a head, got {other:?}"),
    }
}

fn status_of(text: &str) -> u16 {
    match parse(text) {
        Err(error) => error.status(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn splits_head_and_keeps_the_rest() {
    let mut buf = BytesMut::from(
        "GET /qs-message-api/x?limit=3&cursor=a%2Bb+c HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\n\r\nNEXT",
    );
    let head = parse_request_head(&mut buf, &LIMITS).unwrap().unwrap();
    assert_eq!(&buf[..], b"NEXT");
    assert_eq!(head.method(), &Method::Get);
    assert_eq!(head.path(), "/qs-message-api/x");
    assert_eq!(head.query(), Some("limit=3&cursor=a%2Bb+c"));
    assert_eq!(head.query_param("limit").as_deref(), Some("3"));
    assert_eq!(head.query_param("cursor").as_deref(), Some("a+b c"));
    assert_eq!(head.query_param("missing"), None);
    assert_eq!(head.version_minor(), 1);
    assert_eq!(head.header("ACCEPT"), Some(&b"application/json"[..]));
    assert_eq!(head.header_str("host"), Some("h"));
    let names: Vec<&str> = head.headers().map(|(n, _)| n).collect();
    assert_eq!(names, ["Host", "Accept"]);
    assert_eq!(head.body_framing(), BodyFraming::Empty);
    assert!(head.keep_alive());
}

#[test]
fn incomplete_then_complete() {
    let full = b"POST /p HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    let mut buf = BytesMut::new();
    for (i, &byte) in full.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        let parsed = parse_request_head(&mut buf, &LIMITS).unwrap();
        if i + 1 < full.len() - 2 {
            assert!(parsed.is_none(), "complete too early at {i}");
        } else {
            let head = parsed.unwrap();
            assert_eq!(head.body_framing(), BodyFraming::Length(2));
            assert_eq!(head.method(), &Method::Post);
            break;
        }
    }
    assert!(buf.is_empty());
}

#[test]
fn limits_answer_431() {
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(300));
    assert_eq!(
        err(&long),
        HeadError::TooLarge {
            max_header_bytes: 256
        }
    );
    // Still incomplete, but already over the limit.
    assert_eq!(
        status_of(&format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(300))),
        431
    );
    let many: String = (0..9).map(|i| format!("H{i}: v\r\n")).collect();
    let error = parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err();
    assert_eq!(
        error,
        HeadError::TooManyHeaders {
            max_header_count: 8
        }
    );
    assert_eq!(error.to_string(), "request has more than 8 header fields");
    assert!(error.closes_connection());
}

#[test]
fn keep_alive_rules() {
    assert!(!parse_ok("GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keep_alive());
    assert!(!parse_ok("GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(parse_ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    assert_eq!(parse_ok("GET / HTTP/1.0\r\n\r\n").version_minor(), 0);
}

#[test]
fn websocket_and_sse_selectors() {
    let ws = "GET /ws HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n";
    assert!(parse_ok(ws).is_websocket_upgrade());
    assert!(!parse_ok(&ws.replace("GET", "POST")).is_websocket_upgrade());
    assert!(!parse_ok("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").is_websocket_upgrade());
    let sse = "GET / HTTP/1.1\r\nAccept: text/html\r\nAccept: Text/Event-Stream;q=0.9\r\n\r\n";
    assert!(parse_ok(sse).accepts_event_stream());
    assert!(!parse_ok("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n").accepts_event_stream());
}

#[test]
fn framing_table() {
    let framing = |headers: &str| {
        parse(&format!("POST / HTTP/1.1\r\n{headers}\r\n")).map(|h| h.unwrap().body_framing())
    };
    assert_eq!(
        framing("Content-Length: 10\r\n"),
        Ok(BodyFraming::Length(10))
    );
    assert_eq!(
        framing("Content-Length: 7\r\nContent-Length: 7\r\n"),
        Ok(BodyFraming::Length(7))
    );
    assert_eq!(
        framing("Content-Length: 7, 7\r\n"),
        Ok(BodyFraming::Length(7))
    );
    assert_eq!(
        framing("Transfer-Encoding: Chunked\r\n"),
        Ok(BodyFraming::Chunked)
    );
    use HeadError::*;
    assert_eq!(
        framing("Content-Length: 7\r\nContent-Length: 8\r\n"),
        Err(InvalidContentLength)
    );
    assert_eq!(framing("Content-Length: -1\r\n"), Err(InvalidContentLength));
    assert_eq!(framing("Content-Length: +1\r\n"), Err(InvalidContentLength));
    assert_eq!(framing("Content-Length: \r\n"), Err(InvalidContentLength));
    assert_eq!(
        framing("Content-Length: 99999999999999999999\r\n"),
        Err(InvalidContentLength)
    );
    assert_eq!(
        framing("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
        Err(LengthAndTransferEncoding)
    );
    assert_eq!(
        framing("Transfer-Encoding: chunked, gzip\r\n"),
        Err(ChunkedNotFinal)
    );
    assert_eq!(
        framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        Err(ChunkedNotFinal)
    );
    assert_eq!(framing("Transfer-Encoding: \r\n"), Err(ChunkedNotFinal));
    let gzip = framing("Transfer-Encoding: gzip, chunked\r\n").unwrap_err();
    assert_eq!(gzip, UnsupportedTransferCoding("gzip".into()));
    assert_eq!(gzip.status(), 501);
    assert_eq!(
        framing("Transfer-Encoding: gzip\r\n").unwrap_err().status(),
        501
    );
    let http10 = parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(http10.unwrap_err(), TransferEncodingInHttp10);
}

#[test]
fn rejects_bad_heads() {
    assert_eq!(
        err("GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n"),
        HeadError::ObsFold
    );
    assert_eq!(
        err("GET / HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n"),
        HeadError::ObsFold
    );
    assert_eq!(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
    assert_eq!(status_of("GET / HTTP/1.2\r\n\r\n"), 505);
    assert_eq!(
        err("GET http://h/ HTTP/1.1\r\n\r\n"),
        HeadError::TargetNotOriginForm
    );
    assert_eq!(
        err("OPTIONS * HTTP/1.1\r\n\r\n"),
        HeadError::TargetNotOriginForm
    );
    assert_eq!(status_of("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n"), 400);
    assert_eq!(status_of("GET  HTTP/1.1\r\n\r\n"), 400);
    // A body that happens to contain "\n " must not be reported as obs-fold.
    assert!(!has_obs_fold(b"GET / HTTP/1.1\r\nA: b\r\n\r\nx\n y"));
}

#[test]
fn methods_and_query_decoding() {
    assert_eq!(
        parse_ok("PATCH / HTTP/1.1\r\n\r\n").method(),
        &Method::Patch
    );
    assert_eq!(
        parse_ok("PURGE / HTTP/1.1\r\n\r\n").method(),
        &Method::Other("PURGE".into())
    );
    assert_eq!(percent_decode("a%20b%zz%+1%4"), "a b%zz% 1%4");
    assert_eq!(percent_decode("%C3%A9+%FF"), "é \u{FFFD}");
    let head = parse_ok("GET /?flag&x=1&x=2&na%6De=v HTTP/1.1\r\n\r\n");
    assert_eq!(head.query_param("flag").as_deref(), Some(""));
    assert_eq!(head.query_param("x").as_deref(), Some("1"));
    assert_eq!(head.query_param("name").as_deref(), Some("v"));
}

proptest! {
    #[test]
    fn headers_round_trip(
        fields in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,10}", "[!-~]([ -~]{0,20}[!-~])?"), 0..8),
        path in "/[a-z0-9/._-]{0,20}",
        split in any::<prop::sample::Index>(),
    ) {
        // Dot segments and a second Host are refused (see `confusing_paths_are_refused_...`).
        prop_assume!(!path.split('/').any(|segment| segment == "." || segment == ".."));
        prop_assume!(fields.iter().filter(|(name, _)| name.eq_ignore_ascii_case("host")).count() < 2);
        let mut text = format!("GET {path} HTTP/1.1\r\n");
        for (name, value) in &fields {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let cut = split.index(text.len());
        let mut buf = BytesMut::from(&text.as_bytes()[..cut]);
        let limits = HeadLimits { max_header_bytes: 4096, max_header_count: 8 };
        prop_assert!(parse_request_head(&mut buf, &limits).unwrap().is_none());
        buf.extend_from_slice(&text.as_bytes()[cut..]);
        let head = parse_request_head(&mut buf, &limits).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(head.path(), path.as_str());
        let parsed: Vec<(String, Vec<u8>)> =
            head.headers().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
        let expected: Vec<(String, Vec<u8>)> =
            fields.iter().map(|(n, v)| (n.clone(), v.clone().into_bytes())).collect();
        prop_assert_eq!(parsed, expected);
    }
}

#[test]
fn head_terminated_finds_the_blank_line_only_in_new_bytes_plus_overlap() {
    let head = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    assert!(head_terminated(head, 0));
    assert!(!head_terminated(&head[..head.len() - 1], 0));
    // The terminator straddles the previous search boundary.
    assert!(head_terminated(head, head.len() - 2));
    assert!(
        head_terminated(b"GET / HTTP/1.1\nHost: t\n\n", 10),
        "bare LF line ends"
    );
    assert!(!head_terminated(b"GET / HTTP/1.1\r\nHost: t\r\n", 0));
}

#[test]
fn bare_cr_and_duplicate_host_are_refused() {
    assert_eq!(err("GET / HTTP/1.1\rHost: a\r\n"), HeadError::BareCr);
    assert_eq!(
        err("GET / HTTP/1.1\r\nHost: a\rX: b\r\n"),
        HeadError::BareCr
    );
    assert_eq!(
        err("GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n"),
        HeadError::BareCr
    );
    assert_eq!(err("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), HeadError::BareCr);
    // A CR in the body is the body's business.
    let mut buf = BytesMut::from("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na\rb");
    assert!(parse_request_head(&mut buf, &LIMITS).unwrap().is_some());
    assert_eq!(
        err("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
        HeadError::DuplicateHost
    );
    assert_eq!(
        status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        400
    );
}

#[test]
fn confusing_paths_are_refused_before_routing() {
    assert_eq!(
        err("GET /a/../b?x=1 HTTP/1.1\r\n\r\n"),
        HeadError::DotSegmentInPath
    );
    assert_eq!(
        err("GET /a%2Fb HTTP/1.1\r\n\r\n"),
        HeadError::EncodedSeparatorInPath
    );
    // Dots in the query are not path segments.
    assert_eq!(parse_ok("GET /a?x=/../b HTTP/1.1\r\n\r\n").path(), "/a");
}
