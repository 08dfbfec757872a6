//! Request paths that could make the gateway and a proxy in front of it (or a client's idea of
//! the URL) disagree about which API a request is for: dot segments, raw or percent-encoded in
//! any case, and encoded slashes. Routing matches the raw path, so each is refused with 400.

mod common;

use common::topic_api::chat_yaml;
use common::*;
use tidegate::config::DriverChoice;

/// `/chat` (an in-memory topic: POST and GET) and `/mock` (a Mock generator: GET).
fn yaml() -> String {
    let entrypoints = r#"      - type: http-post
      - type: http-get
        configuration:
          messagesLimitDurationMs: 100"#;
    chat_yaml("", entrypoints) + MOCK_API
}

const MOCK_API: &str = r#"  - id: mock
    name: Mock
    contextPaths: [/mock]
    entrypoints:
      - type: http-get
        configuration:
          messagesLimitCount: 1
    endpoint:
      type: mock
      configuration:
        messageInterval: 10
    plans:
      - name: Keyless
        security: keyless
"#;

/// Paths that must be refused, and the word the refusal must contain.
const REFUSED: &[(&str, &str)] = &[
    ("/mock/../chat", "dot segment"),
    ("/chat/%2e%2e/mock", "dot segment"),
    ("/chat/%2E%2E/mock", "dot segment"),
    ("/chat/.%2e/mock", "dot segment"),
    ("/chat/%2e./mock", "dot segment"),
    ("/chat/./x", "dot segment"),
    ("/chat/%2e/x", "dot segment"),
    ("/chat/..", "dot segment"),
    ("/chat/.", "dot segment"),
    ("/..", "dot segment"),
    ("/chat%2f..%2fmock", "encoded"),
    ("/chat%2F..%2Fmock", "encoded"),
    ("/chat/a%2fb", "encoded"),
    ("/chat/a%5cb", "encoded"),
    ("/chat\\..\\mock", "backslash"),
];

fn dot_segments_and_encoded_separators_are_refused(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    for (path, why) in REFUSED {
        let response = get(addr, path, &[]);
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert!(
            response.text().contains(why),
            "{path}: the refusal should say '{why}': {}",
            response.text()
        );
        let post = post(addr, path, "x", "");
        assert_eq!(post.status, 400, "POST {path}: {}", post.text());
    }
}
on_both_drivers!(
    dot_segments_and_encoded_separators_are_refused,
    dot_segments_and_encoded_separators_are_refused
);

fn names_that_merely_contain_dots_still_route(driver: DriverChoice) {
    let gateway = start(test_config(&yaml(), driver));
    let addr = gateway.local_addr();
    for path in [
        "/chat/..foo",
        "/chat/.well-known",
        "/chat/a.b",
        "/chat/...",
        "/chat?cursor=&x=../mock",
        "/chat/%41",
    ] {
        let response = get(addr, path, &[("Accept", "application/json")]);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert!(
            response.text().contains("\"items\""),
            "{path} must be served by /chat: {}",
            response.text()
        );
    }
    // The Mock API is still reached by its own path.
    assert_eq!(get(addr, "/mock", &[]).status, 200);
}
on_both_drivers!(
    names_that_merely_contain_dots_still_route,
    names_that_merely_contain_dots_still_route
);
