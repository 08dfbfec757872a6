use bytes::BytesMut;

use super::*;
use crate::codec::http_head::{parse_request_head, HeadLimits};
use crate::config;

fn head(lines: &str) -> RequestHead {
    let text = format!("{lines}\r\n\r\n")
        .replace('\n', "\r\n")
        .replace("\r\r\n", "\r\n");
    let limits = HeadLimits {
        max_header_bytes: 64 * 1024,
        max_header_count: 64,
    };
    parse_request_head(&mut BytesMut::from(text.as_str()), &limits)
        .expect("a valid head")
        .expect("a complete head")
}

fn cors(yaml: &str) -> CorsConfig {
    let text = format!(
        "apis:\n  - id: a\n    name: A\n    contextPaths: [/a]\n    entrypoints: [{{ type: http-get }}]\n    endpoint: {{ type: mock }}\n    plans: [{{ name: K, security: keyless }}]\n    cors: {yaml}\n"
    );
    let config = config::load_str(&text, "t.yaml").expect("a valid configuration");
    config.apis[0].cors.clone().expect("cors on")
}

fn header<'a>(headers: &'a AnswerHeaders, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn no_origin_is_not_cors() {
    let c = cors("{ allowOrigin: [\"https://a.test\"] }");
    assert_eq!(
        check(Some(&c), &head("GET /a HTTP/1.1\nHost: x")),
        Verdict::NotCors
    );
    assert_eq!(
        check(
            None,
            &head("GET /a HTTP/1.1\nHost: x\nOrigin: https://b.test")
        ),
        Verdict::NotCors
    );
}

#[test]
fn allowed_request_gets_origin_and_expose_headers() {
    let c = cors("{ allowOrigin: [\"https://a.test\"], allowCredentials: true }");
    let Verdict::Allowed(headers) = check(
        Some(&c),
        &head("POST /a HTTP/1.1\nHost: x\nOrigin: https://a.test"),
    ) else {
        panic!("allowed");
    };
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://a.test")
    );
    assert_eq!(
        header(&headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(header(&headers, "access-control-expose-headers")
        .unwrap()
        .contains("X-Message-Id"));
}

#[test]
fn preflight_checks_method_and_headers() {
    let c =
        cors("{ allowOrigin: [\"https://a.test\"], allowHeaders: [Content-Type], maxAge: 600 }");
    let ok = head("OPTIONS /a HTTP/1.1\nHost: x\nOrigin: https://a.test\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: content-type");
    let Verdict::Preflight(headers) = check(Some(&c), &ok) else {
        panic!("preflight");
    };
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    let put = head(
        "OPTIONS /a HTTP/1.1\nHost: x\nOrigin: https://a.test\nAccess-Control-Request-Method: PUT",
    );
    assert_eq!(check(Some(&c), &put), Verdict::Refused(METHOD_NOT_ALLOWED));
    let other = head("OPTIONS /a HTTP/1.1\nHost: x\nOrigin: https://a.test\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: x-secret");
    assert_eq!(
        check(Some(&c), &other),
        Verdict::Refused(HEADER_NOT_ALLOWED)
    );
}

#[test]
fn malformed_and_repeated_origins_are_refused() {
    let c = cors("{ allowOrigin: \"*\" }");
    for bad in [
        "Origin: a b",
        "Origin: https://a.test\nOrigin: https://a.test",
        "Origin: ",
    ] {
        let request = head(&format!("GET /a HTTP/1.1\nHost: x\n{bad}"));
        assert_eq!(
            check(Some(&c), &request),
            Verdict::Refused(MALFORMED_ORIGIN),
            "{bad}"
        );
    }
}

#[test]
fn too_many_requested_headers_are_refused() {
    let c = cors("{ allowOrigin: \"*\", allowHeaders: [\"*\"] }");
    let names: Vec<String> = (0..=MAX_REQUESTED_HEADERS)
        .map(|i| format!("x-h{i}"))
        .collect();
    let request = head(&format!(
        "OPTIONS /a HTTP/1.1\nHost: x\nOrigin: https://a.test\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: {}",
        names.join(",")
    ));
    assert_eq!(
        check(Some(&c), &request),
        Verdict::Refused(TOO_MANY_HEADERS)
    );
}
