//! Loading end to end: text in, `Config` or every problem out.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::Bytes;

use super::*;

/// A valid API with one entrypoint, to which tests append or substitute parts.
pub(super) const ONE_API: &str = "
apis:
  - id: a
    name: A
    contextPaths: [/a]
    entrypoints: [{ type: sse }]
    endpoint: { type: mock }
    plans: [{ name: Keyless, security: keyless }]
";

pub(super) fn problems(text: &str) -> Vec<(String, String)> {
    match load_str(text, "t.yaml") {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(error) => error
            .problems
            .into_iter()
            .map(|problem| (problem.location, problem.message))
            .collect(),
    }
}

/// The single problem `text` has, as (location, message).
pub(super) fn only_problem(text: &str) -> (String, String) {
    let mut found = problems(text);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

pub(super) fn api_with_entrypoints(entrypoints: &str) -> String {
    ONE_API.replace("[{ type: sse }]", entrypoints)
}

#[test]
fn embedded_default_is_valid_and_is_the_quickstart() {
    let config = load_str(DEFAULT_YAML, DEFAULT_ORIGIN).expect("default.yaml must be valid");
    assert_eq!(config, quickstart());
    assert_eq!(embedded_default(), quickstart());
}

#[test]
fn every_key_is_decoded_into_typed_values() {
    let text = "
gateway:
  listen: 127.0.0.1:9000
  shards: 3
  driver: io-uring
  pinShards: false
  limits: { maxHeaderBytes: 2048, maxHeaderCount: 10, maxBodyBytes: 11,
            maxConnectionsPerShard: 12, wsMaxFrameBytes: 13, wsMaxMessageBytes: 14,
            maxGetReplyBytesPerShard: 23 }
  outbound: { maxQueuedMessages: 15, maxQueuedBytes: 16, slowClientPolicy: disconnect }
  timeouts: { headerReadMs: 17, keepAliveIdleMs: 18, wsPingIntervalMs: 19, shutdownMs: 20,
              streamStallMs: 21, replyStallMs: 22 }
apis:
  - id: my.api_1-x
    name: Mine
    state: stopped
    contextPaths: [/x, /y/z, /]
    entrypoints:
      - type: http-get
        configuration: { messagesLimitCount: 7, messagesLimitDurationMs: 8,
                         headersInPayload: true, metadataInPayload: true }
      - type: http-post
        configuration: { requestHeadersToMessage: true }
      - type: websocket
        configuration: { publisher: { enabled: false }, subscriber: { enabled: true } }
      - type: sse
        configuration: { heartbeatIntervalInMs: 2000, metadataAsComment: true, headersAsComment: true }
    endpoint:
      type: mock
      configuration:
        messageInterval: 1
        messageContent: hello
        messageCount: 42
        headers: { z: '1', a: '2' }
        metadata: { k: v }
    plans: [{ name: Free, security: keyless }]
";
    let config = load_str(text, "t.yaml").expect("valid");
    let gateway = &config.gateway;
    assert_eq!(
        gateway.listen,
        "127.0.0.1:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(gateway.shards, NonZeroUsize::new(3));
    assert_eq!(gateway.driver, DriverChoice::IoUring);
    assert!(!gateway.pin_shards);
    let expected_limits = Limits {
        max_header_bytes: 2048,
        max_header_count: 10,
        max_body_bytes: 11,
        max_connections_per_shard: 12,
        ws_max_frame_bytes: 13,
        ws_max_message_bytes: 14,
        ws_max_partial_bytes_per_shard: 64 * 1024 * 1024,
        max_get_reply_bytes_per_shard: 23,
    };
    assert_eq!(gateway.limits, expected_limits);
    assert_eq!(gateway.outbound.max_queued_messages, 15);
    assert_eq!(gateway.outbound.max_queued_bytes, 16);
    assert_eq!(
        gateway.outbound.slow_client_policy,
        SlowClientPolicy::Disconnect
    );
    assert_eq!(gateway.timeouts.header_read, Duration::from_millis(17));
    assert_eq!(gateway.timeouts.keep_alive_idle, Duration::from_millis(18));
    assert_eq!(gateway.timeouts.ws_ping_interval, Duration::from_millis(19));
    assert_eq!(gateway.timeouts.shutdown, Duration::from_millis(20));
    assert_eq!(gateway.timeouts.stream_stall, Duration::from_millis(21));
    assert_eq!(gateway.timeouts.reply_stall, Duration::from_millis(22));

    let api = &config.apis[0];
    assert_eq!((api.id.as_str(), api.name.as_str()), ("my.api_1-x", "Mine"));
    assert_eq!(api.state, ApiState::Stopped);
    assert_eq!(api.context_paths, ["/x", "/y/z", "/"]);
    let expected_entrypoints = vec![
        EntrypointConfig::HttpGet(HttpGetOptions {
            messages_limit_count: 7,
            messages_limit_duration: Duration::from_millis(8),
            headers_in_payload: true,
            metadata_in_payload: true,
        }),
        EntrypointConfig::HttpPost(HttpPostOptions {
            request_headers_to_message: true,
            credential_headers_to_message: Vec::new(),
        }),
        EntrypointConfig::WebSocket(WebSocketOptions {
            publisher_enabled: false,
            subscriber_enabled: true,
            ..WebSocketOptions::default()
        }),
        EntrypointConfig::Sse(SseOptions {
            heartbeat_interval: Duration::from_millis(2000),
            metadata_as_comment: true,
            headers_as_comment: true,
        }),
    ];
    assert_eq!(api.entrypoints, expected_entrypoints);
    let expected_mock = MockOptions {
        message_interval: Duration::from_millis(1),
        message_content: Bytes::from_static(b"hello"),
        message_count: Some(42),
        headers: vec![("a".into(), "2".into()), ("z".into(), "1".into())],
        metadata: vec![("k".into(), "v".into())],
    };
    assert_eq!(api.endpoint, EndpointConfig::Mock(expected_mock));
    let expected_plan = PlanConfig {
        id: "Free".into(),
        name: "Free".into(),
        security: PlanSecurity::Keyless,
        status: crate::config::PlanStatus::Published,
        validation: crate::config::PlanValidation::Auto,
        policies: Default::default(),
    };
    assert_eq!(api.plans, vec![expected_plan]);
}

#[test]
fn absent_or_empty_sections_take_defaults() {
    let config = load_str("apis: []", "t").unwrap();
    assert_eq!(config.gateway, GatewayConfig::default());
    assert!(config.apis.is_empty());
    let config = load_str("gateway:\n  limits:\n  timeouts: {}\napis:\n", "t").unwrap();
    assert_eq!(config.gateway, GatewayConfig::default());
    assert!(config.apis.is_empty());
    let config = load_str(
        &ONE_API.replace("mock }", "mock, configuration: null }"),
        "t",
    )
    .unwrap();
    assert_eq!(
        config.apis[0].endpoint,
        EndpointConfig::Mock(MockOptions::default())
    );
    assert_eq!(config.apis[0].state, ApiState::Started);

    let text = api_with_entrypoints("[{ type: http-post }, { type: http-get, configuration: {} }]")
        .replace(
            "{ type: mock }",
            "{ type: in-memory, configuration: { topic: t } }",
        );
    let api = &load_str(&text, "t").unwrap().apis[0];
    let expected_entrypoints = [
        EntrypointConfig::HttpPost(HttpPostOptions::default()),
        EntrypointConfig::HttpGet(HttpGetOptions::default()),
    ];
    assert_eq!(api.entrypoints, expected_entrypoints);
    assert!(!HttpPostOptions::default().request_headers_to_message);
    let expected_endpoint = InMemoryOptions {
        topic: "t".into(),
        max_retained_messages: 10_000,
        max_retained_bytes: 64 * 1024 * 1024,
    };
    assert_eq!(api.endpoint, EndpointConfig::InMemory(expected_endpoint));
    let defaults = InMemoryOptions::default();
    assert_eq!(defaults.max_retained_messages, 10_000);
    assert_eq!(defaults.max_retained_bytes, 64 * 1024 * 1024);
}

#[test]
fn yaml_syntax_error_is_located_by_line_and_column() {
    let (location, message) = only_problem("apis:\n  - id: [\n");
    assert!(location.starts_with("line "), "{location}");
    assert!(location.contains(" column "), "{location}");
    assert!(message.starts_with("invalid YAML: "), "{message}");
    let (location, message) = only_problem("apis: []\napis: []\n");
    assert_eq!(location, "line 2 column 1");
    assert!(message.contains("each key may appear once"), "{message}");
}

#[test]
fn unknown_keys_are_named_with_the_allowed_keys() {
    let found = problems("apis: []\ngateway:\n  limits: { foo: 1 }\n  bar: 2\nextra: 3\n");
    let expected_gateway =
        "unknown key `bar`; allowed keys: `listen`, `adminListen`, `shards`, `driver`, \
         `pinShards`, `nodeId`, `limits`, `outbound`, `timeouts`, `rateLimit`, `tls`, `accessLog`, \
         `webhook`";
    assert!(
        found.contains(&("gateway.bar".into(), expected_gateway.into())),
        "{found:?}"
    );
    assert!(found.contains(&(
        "extra".into(),
        "unknown key `extra`; allowed keys: `gateway`, `apis`, `applications`, `subscriptions`, `management`"
            .into()
    )));
    assert!(found
        .iter()
        .any(|(at, msg)| at == "gateway.limits.foo" && msg.contains("`maxHeaderBytes`")));
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn missing_apis_and_empty_file_are_explained() {
    assert_eq!(
        only_problem("gateway: {}\n"),
        ("top level".into(), "missing key `apis`".into())
    );
    assert_eq!(only_problem("").0, "top level");
}

#[test]
fn shards_accepts_auto_or_positive_count() {
    let shards = |value: &str| load_str(&format!("gateway: {{ shards: {value} }}\napis: []"), "t");
    assert_eq!(shards("auto").unwrap().gateway.shards, None);
    assert_eq!(shards("4").unwrap().gateway.shards, NonZeroUsize::new(4));
    for bad in ["0", "-1", "many", "1.5"] {
        let error = shards(bad).unwrap_err();
        assert_eq!(error.problems.len(), 1, "{bad}: {error}");
        assert_eq!(error.problems[0].location, "gateway.shards");
    }
}

#[test]
fn enum_values_list_the_choices() {
    let (location, message) = only_problem("gateway: { driver: kqueue }\napis: []");
    assert_eq!(location, "gateway.driver");
    assert!(message.contains("`auto`, `io-uring`, `epoll`"), "{message}");
    let (location, _) =
        only_problem("gateway: { outbound: { slowClientPolicy: block } }\napis: []");
    assert_eq!(location, "gateway.outbound.slowClientPolicy");
}

#[test]
fn bad_listen_address_says_what_to_write() {
    let (location, message) = only_problem("gateway: { listen: 'localhost:80' }\napis: []");
    assert_eq!(location, "gateway.listen");
    assert!(message.contains("0.0.0.0:8082"), "{message}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "
gateway:
  listen: nowhere
  limits: { maxBodyBytes: many }
  timeouts: { headerReadMs: 0 }
apis:
  - id: a
    name: A
    contextPaths: [/a]
    entrypoints:
      - type: sse
        configuration: { heartbeatIntervalInMs: 10 }
      - type: grpc
      - { type: http-get, configuration: { bogus: 1 } }
    endpoint: { type: mock, configuration: { messageInterval: 0 } }
    plans: [{ name: P, security: oauth2 }]
";
    let locations: Vec<String> = problems(text).into_iter().map(|(at, _)| at).collect();
    assert_eq!(
        locations,
        [
            "gateway.listen",
            "gateway.limits.maxBodyBytes",
            "gateway.timeouts.headerReadMs",
            "apis[0].entrypoints[0].configuration.heartbeatIntervalInMs",
            "apis[0].entrypoints[1].type",
            "apis[0].entrypoints[2].configuration.bogus",
            "apis[0].endpoint.configuration.messageInterval",
            "apis[0].plans[0].security",
        ]
    );
}

#[test]
fn error_display_prefixes_origin_on_every_line() {
    let error = load_str("gateway: { shards: 0, driver: x }\napis: 5", "my.yaml").unwrap_err();
    let text = error.to_string();
    assert_eq!(text.lines().count(), error.problems.len());
    assert!(
        text.lines().all(|line| line.starts_with("my.yaml: ")),
        "{text}"
    );
}

#[test]
fn load_file_reads_and_reports_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, DEFAULT_YAML).unwrap();
    assert_eq!(load_file(&path).unwrap(), quickstart());
    let missing = dir.path().join("missing.yaml");
    let error = load_file(&missing).unwrap_err();
    assert_eq!(error.origin, missing.display().to_string());
    assert_eq!(error.problems[0].location, "file");
}

#[test]
fn every_problem_of_a_section_is_reported_in_one_run() {
    // Two unknown keys, two wrong types and a rule broken, all in one gateway section.
    let found = problems(
        "apis: []\ngateway:\n  pinShard: true\n  listen: 42\n  shards: many\n  colour: red\n  limits: { maxHeaderBytes: 100, maxHeaderCount: lots }\n",
    );
    let locations: Vec<&str> = found.iter().map(|(l, _)| l.as_str()).collect();
    for expected in [
        "gateway.pinShard",
        "gateway.listen",
        "gateway.shards",
        "gateway.colour",
        "gateway.limits.maxHeaderCount",
        "gateway.limits.maxHeaderBytes",
    ] {
        assert!(
            locations.contains(&expected),
            "{expected} missing from {found:?}"
        );
    }
}

#[test]
fn entrypoint_qos_is_checked() {
    let found = problems(&ONE_API.replace("[{ type: sse }]", "[{ type: sse, qos: exactly-once }]"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].0.ends_with("entrypoints[0].qos"), "{found:?}");
    assert!(
        found[0].1.contains("at-least-once"),
        "the message lists the levels: {found:?}"
    );
    load_str(
        &ONE_API.replace("[{ type: sse }]", "[{ type: sse, qos: at-least-once }]"),
        "t",
    )
    .unwrap();
}

#[test]
fn ws_hibernate_is_off_at_zero_and_otherwise_at_least_100_ms() {
    let with = |timeouts: &str| {
        load_str(
            &format!(
                "gateway:\n  timeouts: {{ {timeouts} }}\napis:\n  - id: a\n    name: A\n    contextPaths: [/a]\n    entrypoints: [{{ type: sse }}]\n    endpoint: {{ type: mock }}\n    plans: [{{ name: P, security: keyless }}]\n"
            ),
            "t.yaml",
        )
    };
    let default = with("").expect("valid");
    assert_eq!(
        default.gateway.timeouts.ws_hibernate,
        Some(Duration::from_millis(1000))
    );
    let off = with("wsHibernateMs: 0").expect("valid");
    assert_eq!(off.gateway.timeouts.ws_hibernate, None);
    let set = with("wsHibernateMs: 250").expect("valid");
    assert_eq!(
        set.gateway.timeouts.ws_hibernate,
        Some(Duration::from_millis(250))
    );
    let err = with("wsHibernateMs: 5").unwrap_err().to_string();
    assert!(err.contains("gateway.timeouts.wsHibernateMs"), "{err}");
    assert!(
        err.contains(
            "0 (never hibernate) or at least 100 ms and at most 86400000 ms (a day), got 5"
        ),
        "{err}"
    );
    // The same rule for SSE streams, on their own setting.
    assert_eq!(
        default.gateway.timeouts.sse_hibernate,
        Some(Duration::from_millis(1000))
    );
    let off = with("sseHibernateMs: 0").expect("valid");
    assert_eq!(off.gateway.timeouts.sse_hibernate, None);
    assert!(off.gateway.timeouts.ws_hibernate.is_some());
    let err = with("sseHibernateMs: 99").unwrap_err().to_string();
    assert!(
        err.contains("gateway.timeouts.sseHibernateMs")
            && err.contains("at least 100 ms and at most 86400000 ms (a day), got 99"),
        "{err}"
    );
    let err = with("sseHibernateMs: 18446744073709551615")
        .unwrap_err()
        .to_string();
    assert!(err.contains("(a day), got 18446744073709551615"), "{err}");
}
