//! Unit tests of the per-API metrics table and its rendering.

use super::*;

#[test]
fn histogram_buckets_are_cumulative_and_shards_summed() {
    let yaml = "apis:\n  - id: a\n    name: A\n    contextPaths: [/a]\n    entrypoints: [{ type: http-get }]\n    endpoint: { type: mock }\n    plans: [{ name: K, security: keyless }]\n";
    let config = crate::config::load_str(yaml, "t").unwrap();
    let a = Arc::new(ApiMetrics::new(&config.apis));
    let b = Arc::new(ApiMetrics::new(&config.apis));
    let get_a = a
        .register(&config.apis[0])
        .entrypoint(EntrypointKind::HttpGet);
    get_a.finished(200, Duration::from_millis(3), false);
    b.register(&config.apis[0])
        .entrypoint(EntrypointKind::HttpGet)
        .finished(503, Duration::from_secs(100), false);
    a.unrouted(EntrypointKind::None)
        .finished(404, Duration::from_millis(1), false);
    let text = render_api_metrics(&[a, b]);
    let api = "api=\"a\",entrypoint=\"http-get\"";
    assert!(text.contains(&format!(
        "tidegate_api_responses_total{{{api},status=\"2xx\"}} 1"
    )));
    assert!(text.contains(&format!(
        "tidegate_api_responses_total{{{api},status=\"5xx\"}} 1"
    )));
    assert!(text.contains(&format!(
        "tidegate_api_request_duration_seconds_bucket{{{api},le=\"0.0025\"}} 0"
    )));
    assert!(text.contains(&format!(
        "tidegate_api_request_duration_seconds_bucket{{{api},le=\"0.005\"}} 1"
    )));
    assert!(text.contains(&format!(
        "tidegate_api_request_duration_seconds_bucket{{{api},le=\"60\"}} 1"
    )));
    assert!(text.contains(&format!(
        "tidegate_api_request_duration_seconds_bucket{{{api},le=\"+Inf\"}} 2"
    )));
    assert!(text.contains(&format!(
        "tidegate_api_request_duration_seconds_count{{{api}}} 2"
    )));
    assert!(text
        .contains("tidegate_api_responses_total{api=\"-\",entrypoint=\"none\",status=\"4xx\"} 1"));
    // Undeclared entrypoints are not rendered.
    assert!(!text.contains("api=\"a\",entrypoint=\"websocket\""));
}

#[test]
fn an_api_registered_later_is_rendered_and_totalled() {
    let yaml = "apis:\n  - id: a\n    name: A\n    contextPaths: [/a]\n    entrypoints: [{ type: http-post }]\n    endpoint: { type: in-memory, configuration: { topic: a } }\n    plans: [{ name: K, security: keyless }]\n";
    let config = crate::config::load_str(yaml, "t").unwrap();
    let shards = [
        Arc::new(ApiMetrics::new(&[])),
        Arc::new(ApiMetrics::new(&[])),
    ];
    assert_eq!(api_totals(&shards, "a"), None);
    assert!(!render_api_metrics(&shards).contains("api=\"a\""));
    // Deployed live on the second shard only so far.
    let post = shards[1]
        .register(&config.apis[0])
        .entrypoint(EntrypointKind::HttpPost);
    post.messages_in(2);
    post.finished(202, Duration::from_millis(1), false);
    let text = render_api_metrics(&shards);
    assert!(
        text.contains("tidegate_api_messages_in_total{api=\"a\",entrypoint=\"http-post\"} 2"),
        "{text}"
    );
    // The unrouted row stays last.
    let a = text.find("api=\"a\"").unwrap();
    let unrouted = text.find("api=\"-\"").unwrap();
    assert!(a < unrouted, "{text}");
    let totals = api_totals(&shards, "a").unwrap();
    assert_eq!(
        (totals.messages_in, totals.requests, totals.open_streams),
        (2, 1, 0)
    );
}
