//! Every example in `config/` must load; a broken file must report all its problems at once.

mod common;

use std::path::Path;

use common::examples::example_files;
use tidegate::config::{self, EndpointConfig, EntrypointConfig, InMemoryOptions};

#[test]
fn every_example_loads() {
    let files = example_files();
    assert!(
        files.len() >= 9,
        "expected the example files, found {files:?}"
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| config::load_file(path).err().map(|error| error.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "invalid examples:\n{}",
        failures.join("\n")
    );
}

#[test]
fn quickstart_example_is_the_embedded_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/quickstart.yaml");
    assert_eq!(
        config::load_file(&path).unwrap(),
        config::embedded_default()
    );
}

#[test]
fn examples_show_what_they_promise() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let load = |name: &str| config::load_file(&dir.join(name)).unwrap();

    let multi = load("multi-api.yaml");
    assert_eq!(multi.apis.len(), 2);
    assert!(multi
        .apis
        .iter()
        .any(|api| api.state == config::ApiState::Stopped));
    assert!(multi.apis.iter().all(|api| api.context_paths.len() >= 2));

    for (name, type_name) in [
        ("http-get.yaml", "http-get"),
        ("websocket.yaml", "websocket"),
        ("sse.yaml", "sse"),
    ] {
        let example = load(name);
        let kinds: Vec<&str> = example.apis[0]
            .entrypoints
            .iter()
            .map(EntrypointConfig::type_name)
            .collect();
        assert_eq!(kinds, [type_name], "{name}");
    }
    // Every value is the default but the two ports (each example has its own).
    let defaults = config::GatewayConfig::default();
    let tuning = load("gateway-tuning.yaml").gateway;
    assert_eq!(
        config::GatewayConfig {
            listen: defaults.listen,
            admin_listen: defaults.admin_listen,
            ..tuning
        },
        defaults
    );

    let kinds = |api: &config::ApiConfig| -> Vec<&'static str> {
        api.entrypoints
            .iter()
            .map(EntrypointConfig::type_name)
            .collect()
    };
    let in_memory = |api: &config::ApiConfig| -> InMemoryOptions {
        match &api.endpoint {
            EndpointConfig::InMemory(options) => options.clone(),
            other => panic!("{}: expected an in-memory endpoint, got {other:?}", api.id),
        }
    };

    let post = load("http-post.yaml");
    assert_eq!(kinds(&post.apis[0]), ["http-post", "http-get", "sse"]);
    assert!(post.apis[0]
        .entrypoints
        .contains(&EntrypointConfig::HttpPost(config::HttpPostOptions {
            request_headers_to_message: true,
            ..Default::default()
        })));
    assert_eq!(in_memory(&post.apis[0]).topic, "chat");

    // Two APIs on one topic, with the retention they must share.
    let shared = load("in-memory.yaml");
    assert_eq!(shared.apis.len(), 2);
    assert_eq!(in_memory(&shared.apis[0]), in_memory(&shared.apis[1]));
    assert_eq!(kinds(&shared.apis[0]), ["http-post"]);

    // The echo route: one websocket that both publishes and subscribes, on the echo endpoint
    // (each connection gets back what it sent), with the limits Autobahn needs.
    let echo = load("echo.yaml");
    let api = &echo.apis[0];
    assert_eq!(api.id, "echo");
    assert_eq!(api.context_paths, ["/echo"]);
    let both_ways = config::WebSocketOptions {
        publisher_enabled: true,
        subscriber_enabled: true,
        ..Default::default()
    };
    assert_eq!(api.entrypoints, [EntrypointConfig::WebSocket(both_ways)]);
    assert_eq!(api.endpoint, EndpointConfig::Echo);
    assert!(echo.gateway.limits.ws_max_message_bytes >= 16 * 1024 * 1024);

    // CORS for a page origin and a subdomain pattern, with credentials, and a WebSocket list.
    let cors = load("cors.yaml");
    let settings = cors.apis[0].cors.as_ref().expect("CORS on");
    assert!(settings.allow_credentials && !settings.allow_origin.any);
    assert!(settings.allow_origin.allows("https://app.example.com"));
    assert!(settings.allow_origin.allows("https://shop.example.com"));
    assert!(!settings.allow_origin.allows("https://example.com.evil.net"));
    assert!(cors.apis[0].entrypoints.iter().any(|entrypoint| matches!(
        entrypoint,
        EntrypointConfig::WebSocket(options) if options.allowed_origins.is_some()
    )));

    // Two APIs on one path, told apart by host, and one for any host.
    let hosts = load("virtual-hosts.yaml");
    let bound: Vec<String> = hosts
        .apis
        .iter()
        .flat_map(|api| api.context_paths.iter().map(ToString::to_string))
        .collect();
    assert_eq!(
        bound,
        ["eu.example.com/events", "us.example.com/events", "/status"]
    );
}

#[test]
fn invalid_file_reports_every_problem_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "gateway:\n  limits: { maxHeaderBytes: 100 }\n  colour: blue\napis:\n  - id: demo\n    name: Demo\n    contextPaths: [demo]\n    entrypoints:\n      - type: sse\n        configuration: { heartbeatIntervalInMs: 500 }\n      - type: grpc\n    endpoint: { type: rabbitmq }\n    plans: []\n",
    )
    .unwrap();
    let error = config::load_file(&path).unwrap_err();
    let locations: Vec<&str> = error.problems.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(
        locations,
        [
            "gateway.colour",
            "gateway.limits.maxHeaderBytes",
            "apis[0].entrypoints[0].configuration.heartbeatIntervalInMs",
            "apis[0].entrypoints[1].type",
            "apis[0].endpoint.type",
            "apis[0].plans",
            "apis[0].contextPaths[0]",
        ]
    );
    let text = error.to_string();
    let origin = path.display().to_string();
    assert_eq!(text.lines().count(), 7);
    assert!(
        text.lines()
            .all(|line| line.starts_with(&format!("{origin}: "))),
        "{text}"
    );
    assert!(
        text.contains("heartbeatIntervalInMs: must be at least 2000 (ms), got 500"),
        "{text}"
    );
    assert!(text.contains("unknown entrypoint type 'grpc'"), "{text}");
}
