//! CORS per API over real sockets: preflights allowed and refused, the headers on every answer
//! type (GET batch, POST 202, SSE head, error answers), and refusal of a page from another
//! origin before anything is published.

mod common;

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tidegate::config::DriverChoice;
use tidegate::metrics::total;

const PAGE: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example.net";

/// `/topic` (POST, GET, SSE) on an in-memory topic with CORS for `PAGE` and `*.example.com`
/// (credentials on); `/open` the same with `allowOrigin: "*"`; `/plain` without CORS.
fn yaml() -> String {
    let api = |id: &str, path: &str, cors: &str| {
        format!(
            r#"
  - id: {id}
    name: {id}
    contextPaths: [{path}]
    {cors}
    entrypoints:
      - type: http-post
      - type: http-get
        configuration: {{ messagesLimitDurationMs: 200 }}
      - type: sse
    endpoint:
      type: in-memory
      configuration: {{ topic: {id} }}
    plans: [{{ name: Keyless, security: keyless }}]
"#
        )
    };
    let listed = r#"cors: { allowOrigin: ["https://app.example.com", 'https://[a-z]+\.example\.com'], allowCredentials: true, maxAge: 600, allowHeaders: [Content-Type, X-Gravitee-Api-Key] }"#;
    format!(
        "apis:{}{}{}",
        api("topic", "/topic", listed),
        api("open", "/open", r#"cors: { allowOrigin: "*" }"#),
        api("plain", "/plain", "")
    )
}

fn request(addr: SocketAddr, text: &str) -> Response {
    raw(addr, text.replace('\n', "\r\n").as_bytes())
}

fn preflight(addr: SocketAddr, origin: &str, method: &str, headers: &str) -> Response {
    request(
        addr,
        &format!(
            "OPTIONS /topic HTTP/1.1\nHost: t\nConnection: close\nOrigin: {origin}\nAccess-Control-Request-Method: {method}\nAccess-Control-Request-Headers: {headers}\n\n"
        ),
    )
}

fn assert_cors_headers(response: &Response, what: &str) {
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some(PAGE),
        "{what}: {:?}",
        response.headers
    );
    assert_eq!(
        response.header("access-control-allow-credentials"),
        Some("true"),
        "{what}"
    );
    assert_eq!(response.header("vary"), Some("Origin"), "{what}");
    let exposed = response
        .header("access-control-expose-headers")
        .unwrap_or_default();
    for name in ["X-Message-Id", "X-Request-Id", "Retry-After"] {
        assert!(
            exposed.contains(name),
            "{what}: {name} not exposed in {exposed:?}"
        );
    }
}

fn preflights_are_answered_or_refused(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();

    let ok = preflight(addr, PAGE, "POST", "content-type, x-gravitee-api-key");
    assert_eq!(ok.status, 204, "{}", ok.text());
    assert_eq!(ok.header("access-control-allow-origin"), Some(PAGE));
    assert_eq!(ok.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        ok.header("access-control-allow-headers"),
        Some("Content-Type, X-Gravitee-Api-Key")
    );
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert!(ok
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("vary") && v == "Origin"));
    assert!(ok.body.is_empty());

    // A pattern entry: any lower-case subdomain, anchored (no suffix after it).
    let sub = preflight(addr, "https://shop.example.com", "POST", "content-type");
    assert_eq!(sub.status, 204);
    assert_eq!(
        sub.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    let suffixed = preflight(
        addr,
        "https://shop.example.com.evil.net",
        "POST",
        "content-type",
    );
    assert_eq!(suffixed.status, 403);

    for (origin, method, headers, why) in [
        (EVIL, "POST", "content-type", "cors.allowOrigin"),
        (PAGE, "PUT", "content-type", "cors.allowMethods"),
        (PAGE, "POST", "x-secret", "cors.allowHeaders"),
    ] {
        let refused = preflight(addr, origin, method, headers);
        assert_eq!(refused.status, 403, "{origin} {method} {headers}");
        assert!(refused.text().contains(why), "{}", refused.text());
        assert_eq!(refused.header("access-control-allow-origin"), None);
    }

    // `*` without credentials answers `*`.
    let open = request(
        addr,
        &format!("OPTIONS /open HTTP/1.1\nHost: t\nConnection: close\nOrigin: {EVIL}\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: content-type\n\n"),
    );
    assert_eq!(open.status, 204);
    assert_eq!(open.header("access-control-allow-origin"), Some("*"));
}
on_both_drivers!(preflights, preflights_are_answered_or_refused);

fn every_answer_type_carries_the_cors_headers(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    let origin = format!("Origin: {PAGE}\r\n");

    // A JSON POST from a page: preflight, then the POST, on one kept-alive connection.
    let mut stream = connect(addr);
    stream
        .write_all(
            format!("OPTIONS /topic HTTP/1.1\r\nHost: t\r\n{origin}Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader).status, 204);
    let posted = post_on(
        &mut stream,
        "/topic",
        br#"{"a":1}"#,
        &format!("{origin}Content-Type: application/json\r\nAccept: application/json\r\n"),
    );
    assert_eq!(posted.status, 202, "{}", posted.text());
    assert_cors_headers(&posted, "POST 202");
    assert!(posted.header("x-message-id").is_some());

    let batch = get(
        addr,
        "/topic?cursor=0",
        &[("Origin", PAGE), ("Accept", "application/json")],
    );
    assert_eq!(batch.status, 200);
    assert_cors_headers(&batch, "GET batch");
    assert_eq!(item_ids(&batch.json()).len(), 1);

    let (sse, _reader) = open_sse(addr, "/topic", &[("Origin", PAGE)]);
    assert_eq!(sse.status, 200);
    assert_cors_headers(&sse, "SSE head");

    // Error answers too, so the page can read why.
    let bad_cursor = get(addr, "/topic?cursor=nope", &[("Origin", PAGE)]);
    assert_eq!(bad_cursor.status, 400, "{}", bad_cursor.text());
    assert_cors_headers(&bad_cursor, "400");
    let put = request(
        addr,
        &format!("PUT /topic HTTP/1.1\nHost: t\nConnection: close\nOrigin: {PAGE}\nContent-Length: 0\n\n"),
    );
    assert_eq!(put.status, 405);
    assert_cors_headers(&put, "405");
    assert_eq!(put.header("allow"), Some("GET, POST, OPTIONS"));

    // Without an Origin nothing changes.
    let plain = get(addr, "/topic?cursor=0", &[]);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("access-control-allow-origin"), None);
}
on_both_drivers!(answer_types, every_answer_type_carries_the_cors_headers);

fn a_page_from_another_origin_publishes_nothing(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    let (head, mut sse) = open_sse(addr, "/topic", &[]);
    assert_eq!(head.status, 200);
    assert!(eventually(Duration::from_secs(60), || total(
        gateway.metrics(),
        |m| &m.sse_streams_open
    ) == 1));

    let refused = post(addr, "/topic", "forged", &format!("Origin: {EVIL}\r\n"));
    assert_eq!(refused.status, 403);
    assert!(
        refused.text().contains("cors.allowOrigin"),
        "{}",
        refused.text()
    );
    assert_eq!(refused.header("access-control-allow-origin"), None);
    // A GET or SSE from that page is refused as well (before subscribing).
    let read = get(addr, "/topic?cursor=0", &[("Origin", EVIL)]);
    assert_eq!(read.status, 403);
    let (stream, _) = open_sse(addr, "/topic", &[("Origin", EVIL)]);
    assert_eq!(stream.status, 403);

    let refusals = total(gateway.metrics(), |m| &m.origin_refusals_total);
    assert_eq!(refusals, 3);

    let allowed = post(addr, "/topic", "genuine", &format!("Origin: {PAGE}\r\n"));
    assert_eq!(allowed.status, 202);
    let seen = read_sse_until(&mut sse, |text| text.contains("genuine"));
    assert!(seen.contains("genuine"), "{seen}");
    assert!(!seen.contains("forged"), "{seen}");
    let retained = get(addr, "/topic?cursor=0", &[("Accept", "application/json")]).json();
    assert_eq!(item_ids(&retained).len(), 1, "{retained}");
    assert!(!retained.to_string().contains("forged"));
}
on_both_drivers!(
    refused_before_publishing,
    a_page_from_another_origin_publishes_nothing
);

fn malformed_origins_and_huge_header_lists_are_refused(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    for origins in [
        format!("Origin: {PAGE}\nOrigin: {PAGE}\n"),
        "Origin: https://app.example.com extra\n".to_owned(),
        "Origin: https://app.\u{e9}xample.com\n".to_owned(),
        "Origin: null\n".to_owned(),
        format!("Origin: {PAGE}/\n"),
    ] {
        let answer = request(
            addr,
            &format!("GET /topic HTTP/1.1\nHost: t\nConnection: close\n{origins}\n"),
        );
        assert_eq!(answer.status, 403, "{origins:?}: {}", answer.text());
        assert_eq!(answer.header("access-control-allow-origin"), None);
    }

    // Many requested header names (well within the head size limit): refused, not compared one
    // by one against the list, and the gateway goes on serving.
    let names: Vec<String> = (0..1000).map(|i| format!("x-{i}")).collect();
    let many = preflight(addr, PAGE, "POST", &names.join(","));
    assert_eq!(many.status, 403);
    assert!(many.text().contains("too many"), "{}", many.text());
    let names: Vec<String> = (0..64).map(|_| "content-type".to_owned()).collect();
    let at_limit = preflight(addr, PAGE, "POST", &names.join(", "));
    assert_eq!(at_limit.status, 204, "{}", at_limit.text());
    let malformed = preflight(addr, PAGE, "POST", "content type");
    assert_eq!(malformed.status, 403);
}
on_both_drivers!(
    malformed,
    malformed_origins_and_huge_header_lists_are_refused
);

fn options_without_cors_lists_the_methods(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    // CORS off: a preflight gets no Access-Control-* (the browser then blocks the call) but a
    // well-formed OPTIONS answer; a page's Origin does not change the API's other answers.
    let options = request(
        addr,
        &format!("OPTIONS /plain HTTP/1.1\nHost: t\nConnection: close\nOrigin: {PAGE}\nAccess-Control-Request-Method: POST\n\n"),
    );
    assert_eq!(options.status, 204);
    assert_eq!(options.header("allow"), Some("GET, POST, OPTIONS"));
    assert_eq!(options.header("access-control-allow-origin"), None);
    let posted = post(addr, "/plain", "x", &format!("Origin: {EVIL}\r\n"));
    assert_eq!(posted.status, 202);
    assert_eq!(posted.header("access-control-allow-origin"), None);
}
on_both_drivers!(cors_off, options_without_cors_lists_the_methods);
