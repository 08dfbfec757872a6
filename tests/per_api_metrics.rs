//! Per-API metrics on the admin endpoint: answers by status class, messages in and out, open
//! streams and duration histograms move per API and entrypoint as requests are made; requests
//! no API served count under `api="-"`.

mod common;

use std::time::Duration;

use common::admin::metrics_text;
use common::observe::series_value;
use common::topic_api::chat_yaml;
use common::{eventually, get, open_sse, post, read_sse_until, start};
use tidegate::config::DriverChoice;

fn value(admin: std::net::SocketAddr, series: &str) -> f64 {
    series_value(&metrics_text(admin), series).unwrap_or_else(|| panic!("no series {series}"))
}

fn per_api_series_move_with_requests(driver: DriverChoice) {
    let mut yaml = chat_yaml(
        "",
        "      - type: http-get\n      - type: http-post\n      - type: sse\n",
    );
    yaml.push_str(
        "  - id: other
    name: Other
    contextPaths: [/other]
    entrypoints: [{ type: http-post }]
    endpoint: { type: in-memory, configuration: { topic: o } }
    plans: [{ name: K, security: keyless }]
",
    );
    let gateway = start(common::test_config(&yaml, driver));
    let (addr, admin) = (gateway.local_addr(), gateway.admin_addr().unwrap());
    let chat_post = "api=\"chat\",entrypoint=\"http-post\"";
    assert_eq!(
        value(
            admin,
            &format!("api_responses_total{{{chat_post},status=\"2xx\"}}")
        ),
        0.0
    );

    let (head, mut sse) = open_sse(addr, "/chat", &[]);
    assert_eq!(head.status, 200);
    read_sse_until(&mut sse, |text| text.contains("retry:"));
    let chat_sse = "api=\"chat\",entrypoint=\"sse\"";
    // Counted open just after its first bytes are written.
    let open = eventually(Duration::from_secs(20), || {
        value(admin, &format!("api_streams_open{{{chat_sse}}}")) == 1.0
    });
    assert!(open, "the stream is not counted open");
    for _ in 0..3 {
        assert_eq!(post(addr, "/chat", "m", "").status, 202);
    }
    assert_eq!(post(addr, "/other", "m", "").status, 202);
    assert_eq!(
        get(addr, "/chat", &[("Accept", "application/x")]).status,
        400
    );
    assert_eq!(get(addr, "/missing", &[]).status, 404);
    read_sse_until(&mut sse, |text| text.matches("data:").count() >= 3);

    // A request is counted just after its answer is written: wait for the last one.
    let unrouted = "api_responses_total{api=\"-\",entrypoint=\"none\",status=\"4xx\"}";
    let counted = eventually(Duration::from_secs(20), || value(admin, unrouted) == 1.0);
    assert!(counted, "the last request is not counted");
    let text = metrics_text(admin);
    let at =
        |series: &str| series_value(&text, series).unwrap_or_else(|| panic!("no {series}\n{text}"));
    assert_eq!(
        at(&format!(
            "api_responses_total{{{chat_post},status=\"2xx\"}}"
        )),
        3.0
    );
    assert_eq!(
        at("api_responses_total{api=\"other\",entrypoint=\"http-post\",status=\"2xx\"}"),
        1.0
    );
    assert_eq!(
        at("api_responses_total{api=\"chat\",entrypoint=\"http-get\",status=\"4xx\"}"),
        1.0
    );
    assert_eq!(
        at("api_responses_total{api=\"-\",entrypoint=\"none\",status=\"4xx\"}"),
        1.0
    );
    assert_eq!(at(&format!("api_messages_in_total{{{chat_post}}}")), 3.0);
    assert_eq!(
        at("api_messages_in_total{api=\"other\",entrypoint=\"http-post\"}"),
        1.0
    );
    assert_eq!(at(&format!("api_messages_out_total{{{chat_sse}}}")), 3.0);
    assert_eq!(
        at(&format!(
            "api_request_duration_seconds_count{{{chat_post}}}"
        )),
        3.0
    );
    assert_eq!(
        at(&format!(
            "api_request_duration_seconds_bucket{{{chat_post},le=\"+Inf\"}}"
        )),
        3.0
    );
    assert_eq!(
        at(&format!("api_stream_duration_seconds_count{{{chat_sse}}}")),
        0.0
    );
    // An entrypoint the API does not declare has no series.
    assert!(!text.contains("api=\"other\",entrypoint=\"sse\""));

    drop(sse);
    let closed = eventually(Duration::from_secs(20), || {
        value(admin, &format!("api_streams_open{{{chat_sse}}}")) == 0.0
    });
    assert!(closed, "the stream is still counted open");
    assert_eq!(
        value(
            admin,
            &format!("api_stream_duration_seconds_count{{{chat_sse}}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            admin,
            &format!("api_responses_total{{{chat_sse},status=\"2xx\"}}")
        ),
        1.0
    );
    gateway.shutdown();
}
on_both_drivers!(per_api_series, per_api_series_move_with_requests);
