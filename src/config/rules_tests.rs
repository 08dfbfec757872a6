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
    let config = crate::config::load_str(&api_with_entrypoints("[{ type: webhook }]"), "t");
    let entrypoints = &config.expect("webhook is supported").apis[0].entrypoints;
    assert_eq!(entrypoints[0].type_name(), "webhook");
    let (location, message) = only_problem(&api_with_entrypoints("[{ type: foo }]"));
    assert_eq!(location, "apis[0].entrypoints[0].type");
    assert_eq!(
        message,
        "unknown entrypoint type 'foo'; expected one of: http-get, http-post, websocket, sse, webhook"
    );
    let (_, message) = only_problem(&ONE_API.replace("type: mock", "type: redis"));
    assert_eq!(
        message,
        "unknown endpoint type 'redis'; expected one of: mock, in-memory, echo, mqtt5, kafka"
    );
    let (location, message) = only_problem(&ONE_API.replace("type: mock", "type: rabbitmq"));
    assert_eq!(location, "apis[0].endpoint.type");
    assert!(
        message.contains("'rabbitmq' is not supported by this version"),
        "{message}"
    );
    let (location, message) =
        only_problem(&ONE_API.replace("security: keyless", "security: oauth2"));
    assert_eq!(location, "apis[0].plans[0].security");
    assert!(message.contains("'oauth2' is not supported"), "{message}");
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
    let text = api_with_entrypoints(publish_only).replace(
        "{ type: mock }",
        "{ type: in-memory, configuration: { topic: t } }",
    );
    let config = load_str(&text, "t").unwrap();
    let expected = EntrypointConfig::WebSocket(WebSocketOptions {
        publisher_enabled: true,
        subscriber_enabled: false,
        ..WebSocketOptions::default()
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
        "",
        "a",
        "/a/",
        "//",
        "/a//b",
        "/a?b",
        "/a#b",
        "/a b",
        "/a\tb",
        "/a/../b",
        "/.",
        "/a/%2e%2E",
        "/%2e",
        "/a%2fb",
        "/a%5Cb",
        "/a\\b",
    ] {
        assert!(validate::context_path_problem(bad).is_some(), "{bad:?}");
    }
}

#[test]
fn http_post_rules() {
    // Allowed with the Mock endpoint: the runtime, not the config, refuses the POST (405).
    let config = load_str(&api_with_entrypoints("[{ type: http-post }]"), "t").unwrap();
    let expected = EntrypointConfig::HttpPost(HttpPostOptions::default());
    assert_eq!(config.apis[0].entrypoints, [expected]);
    assert_eq!(
        config.apis[0].endpoint,
        EndpointConfig::Mock(MockOptions::default())
    );
    let (location, message) = only_problem(&api_with_entrypoints(
        "[{ type: http-post, configuration: { requestHeaders: true } }]",
    ));
    assert_eq!(
        location,
        "apis[0].entrypoints[0].configuration.requestHeaders"
    );
    assert_eq!(
        message,
        "unknown key `requestHeaders`; allowed keys: `requestHeadersToMessage`, `credentialHeadersToMessage`"
    );
    let (location, _) = only_problem(&api_with_entrypoints(
        "[{ type: http-post, configuration: { requestHeadersToMessage: 1 } }]",
    ));
    assert_eq!(
        location,
        "apis[0].entrypoints[0].configuration.requestHeadersToMessage"
    );
    let (location, message) = only_problem(&api_with_entrypoints(
        "[{ type: http-post }, { type: sse }, { type: http-post }]",
    ));
    assert_eq!(location, "apis[0].entrypoints[2].type");
    assert_eq!(
        message,
        "entrypoint type 'http-post' appears twice (first at apis[0].entrypoints[0]); keep one"
    );
}

/// `ONE_API` as the API `id` on `/<id>` with an in-memory endpoint; `configuration` is YAML
/// flow text, or `None` for no `configuration` key.
fn in_memory_api(id: &str, configuration: Option<&str>) -> String {
    let endpoint = match configuration {
        Some(configuration) => format!("{{ type: in-memory, configuration: {configuration} }}"),
        None => "{ type: in-memory }".to_owned(),
    };
    ONE_API
        .replace("\napis:\n", "")
        .replace("id: a", &format!("id: {id}"))
        .replace("[/a]", &format!("[/{id}]"))
        .replace("{ type: mock }", &endpoint)
}

fn apis(items: &[String]) -> String {
    format!("apis:\n{}", items.concat())
}

#[test]
fn in_memory_topic_is_required_and_well_formed() {
    let required = (
        "apis[0].endpoint.configuration.topic".to_owned(),
        "required: the name of the in-memory topic, e.g. `topic: chat`".to_owned(),
    );
    for configuration in [
        None,
        Some("{}"),
        Some("null"),
        Some("{ maxRetainedMessages: 5 }"),
    ] {
        let text = apis(&[in_memory_api("a", configuration)]);
        assert_eq!(only_problem(&text), required, "{configuration:?}");
    }
    let longest = "t".repeat(249);
    for good in ["chat", "a.b_c-D9", "-", longest.as_str()] {
        let text = apis(&[in_memory_api("a", Some(&format!("{{ topic: '{good}' }}")))]);
        let config = load_str(&text, "t").unwrap();
        let EndpointConfig::InMemory(options) = &config.apis[0].endpoint else {
            panic!("{:?}", config.apis[0].endpoint);
        };
        assert_eq!(options.topic, good);
    }
    let too_long = "t".repeat(250);
    for (bad, expected) in [
        (
            "",
            "must not be empty: name the in-memory topic, e.g. `topic: chat`",
        ),
        (
            "a b",
            "topic 'a b' may only contain letters, digits, '.', '_' and '-'",
        ),
        (
            "a/b",
            "topic 'a/b' may only contain letters, digits, '.', '_' and '-'",
        ),
        (
            "é",
            "topic 'é' may only contain letters, digits, '.', '_' and '-'",
        ),
        (
            &too_long,
            "the topic name is 250 characters long; at most 249 are allowed",
        ),
    ] {
        let text = apis(&[in_memory_api("a", Some(&format!("{{ topic: '{bad}' }}")))]);
        let (location, message) = only_problem(&text);
        assert_eq!(location, "apis[0].endpoint.configuration.topic");
        assert_eq!(message, expected);
    }
}

#[test]
fn in_memory_retention_minimums() {
    let text = apis(&[in_memory_api(
        "a",
        Some("{ topic: t, maxRetainedMessages: 0, maxRetainedBytes: 0, extra: 1 }"),
    )]);
    let found = problems(&text);
    assert_eq!(
        found.len(),
        3,
        "the unknown key and both minimums, at once: {found:?}"
    );
    assert!(found[0].1.contains("unknown key `extra`"), "{found:?}");
    let text = apis(&[in_memory_api(
        "a",
        Some("{ topic: t, maxRetainedMessages: 0, maxRetainedBytes: 0 }"),
    )]);
    let expected: Vec<(String, String)> = ["maxRetainedMessages", "maxRetainedBytes"]
        .iter()
        .map(|key| {
            let at = format!("apis[0].endpoint.configuration.{key}");
            (at, "must be at least 1, got 0".to_owned())
        })
        .collect();
    assert_eq!(problems(&text), expected);
}

#[test]
fn apis_sharing_a_topic_share_its_retention() {
    let text = apis(&[
        in_memory_api("a", Some("{ topic: chat }")),
        in_memory_api("b", Some("{ topic: chat, maxRetainedMessages: 5 }")),
        in_memory_api("c", Some("{ topic: chat, maxRetainedMessages: 10000 }")),
        in_memory_api("d", Some("{ topic: other, maxRetainedBytes: 7 }")),
        in_memory_api(
            "e",
            Some("{ topic: other, maxRetainedMessages: 9, maxRetainedBytes: 8 }"),
        ),
    ]);
    let expected: Vec<(String, String)> = [
        (
            "apis[1].endpoint.configuration.maxRetainedMessages",
            "topic 'chat' is also used by API 'a' (apis[0]) with maxRetainedMessages 10000, got 5; \
             APIs on one topic share one retention ring, so set the same value",
        ),
        (
            "apis[4].endpoint.configuration.maxRetainedMessages",
            "topic 'other' is also used by API 'd' (apis[3]) with maxRetainedMessages 10000, got 9; \
             APIs on one topic share one retention ring, so set the same value",
        ),
        (
            "apis[4].endpoint.configuration.maxRetainedBytes",
            "topic 'other' is also used by API 'd' (apis[3]) with maxRetainedBytes 7, got 8; \
             APIs on one topic share one retention ring, so set the same value",
        ),
    ]
    .iter()
    .map(|(at, msg)| (at.to_string(), msg.to_string()))
    .collect();
    assert_eq!(problems(&text), expected);

    let agreeing = apis(&[
        in_memory_api("a", Some("{ topic: chat, maxRetainedBytes: 9 }")),
        in_memory_api("b", Some("{ topic: chat, maxRetainedBytes: 9 }")),
    ]);
    let config = load_str(&agreeing, "t").unwrap();
    assert_eq!(config.apis[0].endpoint, config.apis[1].endpoint);

    // Still checked when the earlier API is broken elsewhere: it is named by location.
    let broken_head = in_memory_api("a", Some("{ topic: chat }")).replace("    name: A\n", "");
    let later = in_memory_api("b", Some("{ topic: chat, maxRetainedBytes: 1 }"));
    let found = problems(&apis(&[broken_head, later]));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0], ("apis[0]".into(), "missing key `name`".into()));
    assert_eq!(
        found[1].0,
        "apis[1].endpoint.configuration.maxRetainedBytes"
    );
    assert!(
        found[1]
            .1
            .starts_with("topic 'chat' is also used by apis[0] with"),
        "{found:?}"
    );

    // A missing topic is reported once per API, not as a shared topic.
    let found = problems(&apis(&[
        in_memory_api("a", None),
        in_memory_api("b", Some("{ maxRetainedBytes: 1 }")),
    ]));
    let locations: Vec<&str> = found.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(
        locations,
        [
            "apis[0].endpoint.configuration.topic",
            "apis[1].endpoint.configuration.topic"
        ]
    );
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
            "gateway:\n  limits: {{ maxHeaderBytes: {header}, wsMaxFrameBytes: {frame}, wsMaxMessageBytes: {0}, wsMaxPartialBytesPerShard: {0} }}\n  outbound: {{ maxQueuedMessages: {queued} }}\n  timeouts: {{ shutdownMs: {timeout} }}\n{1}",
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

    /// Any in-memory options within the rules survive text → Config unchanged.
    #[test]
    fn in_memory_round_trip(
        topic in "[a-zA-Z0-9._-]{1,249}",
        messages in 1usize..1 << 40,
        bytes in 1usize..1 << 40,
        request_headers_to_message: bool,
    ) {
        let endpoint = format!(
            "{{ type: in-memory, configuration: {{ topic: '{topic}', maxRetainedMessages: {messages}, maxRetainedBytes: {bytes} }} }}"
        );
        let entrypoints = format!(
            "[{{ type: http-post, configuration: {{ requestHeadersToMessage: {request_headers_to_message} }} }}]"
        );
        let text = api_with_entrypoints(&entrypoints).replace("{ type: mock }", &endpoint);
        let config = load_str(&text, "t").unwrap();
        let expected = InMemoryOptions { topic, max_retained_messages: messages, max_retained_bytes: bytes };
        prop_assert_eq!(&config.apis[0].endpoint, &EndpointConfig::InMemory(expected));
        let post = EntrypointConfig::HttpPost(HttpPostOptions { request_headers_to_message, ..Default::default() });
        prop_assert_eq!(&config.apis[0].entrypoints, &vec![post]);
    }

    /// Arbitrary text never panics the loader.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = load_str(&text, "t");
    }
}

#[test]
fn a_negative_duration_or_size_names_the_range_and_unit() {
    let found = problems(
        "gateway:\n  limits: { maxBodyBytes: -1 }\n  timeouts: { shutdownMs: -5 }\napis: []",
    );
    assert_eq!(
        found,
        [
            (
                "gateway.limits.maxBodyBytes".to_owned(),
                "must be a non-negative whole number of bytes, got -1".to_owned()
            ),
            (
                "gateway.timeouts.shutdownMs".to_owned(),
                "must be a non-negative whole number of milliseconds, got -5".to_owned()
            ),
        ]
    );
}
