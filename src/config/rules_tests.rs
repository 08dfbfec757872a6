//! Validation rules: minimums, entrypoint and plan types, identity and context-path rules, and
//! property tests that values within the rules load unchanged.

use std::time::Duration;

use proptest::prelude::*;

use super::tests::{api_with_entrypoints, only_problem, problems, ONE_API};
use super::*;

#[test]
fn limit_minimums_and_frame_within_message() {
    let found = problems(
        "gateway:\n  limits: { maxHeaderBytes: 1023, maxHeaderCount: 0, wsMaxFrameBytes: 10, wsMaxMessageBytes: 5 }\n  outbound: { maxQueuedBytes: 0 }\n  timeouts: { shutdownMs: 0 }\napis: []",
    );
    let locations: Vec<&str> = found.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(
        locations,
        [
            "gateway.limits.maxHeaderBytes",
            "gateway.limits.maxHeaderCount",
            "gateway.limits.wsMaxFrameBytes",
            "gateway.outbound.maxQueuedBytes",
            "gateway.timeouts.shutdownMs",
        ]
    );
    assert_eq!(found[0].1, "must be at least 1024 (bytes), got 1023");
    assert_eq!(found[4].1, "must be at least 1 (ms), got 0");
}

#[test]
fn entrypoint_types_unknown_and_not_yet_supported() {
    let (location, message) = only_problem(&api_with_entrypoints("[{ type: http-post }]"));
    assert_eq!(location, "apis[0].entrypoints[0].type");
    assert_eq!(
        message,
        "entrypoint type 'http-post' is not supported by this version of tidegate (supported: http-get, websocket, sse)"
    );
    let (_, message) = only_problem(&api_with_entrypoints("[{ type: foo }]"));
    assert_eq!(
        message,
        "unknown entrypoint type 'foo'; expected one of: http-get, websocket, sse"
    );
    let (location, message) = only_problem(&ONE_API.replace("type: mock", "type: kafka"));
    assert_eq!(location, "apis[0].endpoint.type");
    assert!(
        message.contains("'kafka' is not supported by this version"),
        "{message}"
    );
    let (location, message) = only_problem(&ONE_API.replace("security: keyless", "security: jwt"));
    assert_eq!(location, "apis[0].plans[0].security");
    assert!(message.contains("'jwt' is not supported"), "{message}");
}

#[test]
fn entrypoint_rules() {
    let (location, message) = only_problem(&api_with_entrypoints("[{ type: sse }, { type: sse }]"));
    assert_eq!(location, "apis[0].entrypoints[1].type");
    assert!(
        message.contains("first at apis[0].entrypoints[0]"),
        "{message}"
    );
    let (location, _) = only_problem(&api_with_entrypoints("[]"));
    assert_eq!(location, "apis[0].entrypoints");
    let both_off = "[{ type: websocket, configuration: { publisher: { enabled: false }, subscriber: { enabled: false } } }]";
    assert_eq!(
        only_problem(&api_with_entrypoints(both_off)).0,
        "apis[0].entrypoints[0].configuration"
    );
    let publish_only = "[{ type: websocket, configuration: { subscriber: { enabled: false } } }]";
    let config = load_str(&api_with_entrypoints(publish_only), "t").unwrap();
    let expected = EntrypointConfig::WebSocket(WebSocketOptions {
        publisher_enabled: true,
        subscriber_enabled: false,
    });
    assert_eq!(config.apis[0].entrypoints, [expected]);
    let (location, message) = only_problem(&api_with_entrypoints(
        "[{ type: sse, configuration: { heartbeatIntervalInMs: 1999 } }]",
    ));
    assert_eq!(
        location,
        "apis[0].entrypoints[0].configuration.heartbeatIntervalInMs"
    );
    assert_eq!(message, "must be at least 2000 (ms), got 1999");
}

#[test]
fn api_identity_rules() {
    let second = "  - id: a\n    name: ''\n    contextPaths: [/a, /b/]\n    entrypoints: [{ type: sse }]\n    endpoint: { type: mock }\n    plans: []\n";
    let found = problems(&format!("{ONE_API}{second}"));
    let expected: Vec<(String, String)> = [
        ("apis[1].name", "must not be empty"),
        (
            "apis[1].plans",
            "at least one plan is required, e.g. [{ name: Keyless, security: keyless }]",
        ),
        ("apis[1].id", "duplicate API id 'a' (also used by apis[0])"),
        (
            "apis[1].contextPaths[0]",
            "context path '/a' is used by two APIs: 'a' (apis[0]) and 'a' (apis[1])",
        ),
        (
            "apis[1].contextPaths[1]",
            "context path '/b/' must not end with '/' (only the root path '/' may)",
        ),
    ]
    .iter()
    .map(|(at, msg)| (at.to_string(), msg.to_string()))
    .collect();
    assert_eq!(found, expected);
    assert_eq!(
        only_problem(&ONE_API.replace("id: a", "id: 'a b'")).0,
        "apis[0].id"
    );
    assert_eq!(
        only_problem(&ONE_API.replace("[/a]", "[/a, /a]")).0,
        "apis[0].contextPaths[1]"
    );
    assert_eq!(
        only_problem(&ONE_API.replace("[/a]", "[]")).0,
        "apis[0].contextPaths"
    );
    assert_eq!(
        only_problem(&ONE_API.replace("    endpoint: { type: mock }\n", "")).0,
        "apis[0].endpoint"
    );
}

#[test]
fn context_path_shapes() {
    for good in ["/", "/a", "/a/b", "/a-b.c_d~e", "/%20"] {
        assert_eq!(validate::context_path_problem(good), None, "{good}");
    }
    for bad in [
        "", "a", "/a/", "//", "/a//b", "/a?b", "/a#b", "/a b", "/a\tb", "/a/../b", "/.",
    ] {
        assert!(validate::context_path_problem(bad).is_some(), "{bad:?}");
    }
}

proptest! {
    /// Any values within the rules survive text → Config unchanged.
    #[test]
    fn gateway_numbers_round_trip(
        header in 1024usize..1 << 40,
        frame in 1usize..1 << 30,
        extra in 0usize..1 << 30,
        queued in 1usize..1 << 40,
        heartbeat in 2000u64..1 << 50,
        timeout in 1u64..1 << 50,
    ) {
        let text = format!(
            "gateway:\n  limits: {{ maxHeaderBytes: {header}, wsMaxFrameBytes: {frame}, wsMaxMessageBytes: {} }}\n  outbound: {{ maxQueuedMessages: {queued} }}\n  timeouts: {{ shutdownMs: {timeout} }}\n{}",
            frame + extra,
            api_with_entrypoints(&format!("[{{ type: sse, configuration: {{ heartbeatIntervalInMs: {heartbeat} }} }}]")),
        );
        let config = load_str(&text, "t").unwrap();
        prop_assert_eq!(config.gateway.limits.max_header_bytes, header);
        prop_assert_eq!(config.gateway.limits.ws_max_frame_bytes, frame);
        prop_assert_eq!(config.gateway.limits.ws_max_message_bytes, frame + extra);
        prop_assert_eq!(config.gateway.outbound.max_queued_messages, queued);
        prop_assert_eq!(config.gateway.timeouts.shutdown, Duration::from_millis(timeout));
        let sse = EntrypointConfig::Sse(SseOptions { heartbeat_interval: Duration::from_millis(heartbeat), ..SseOptions::default() });
        prop_assert_eq!(&config.apis[0].entrypoints, &vec![sse]);
    }

    /// Well-formed context paths are accepted and kept exactly.
    #[test]
    fn context_paths_round_trip(segments in proptest::collection::vec("[a-zA-Z0-9][a-zA-Z0-9._~-]{0,7}", 1..5)) {
        let path = format!("/{}", segments.join("/"));
        let config = load_str(&ONE_API.replace("[/a]", &format!("['{path}']")), "t").unwrap();
        prop_assert_eq!(&config.apis[0].context_paths, &vec![path]);
    }

    /// Arbitrary text never panics the loader.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = load_str(&text, "t");
    }
}
