//! SSE entrypoint over real sockets: framing, heartbeat, resume.

mod common;

use common::*;
use tidegate::config::DriverChoice;

fn ids_in(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

fn streams_events(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(20), driver));
    let (head, mut reader) = open_sse(gateway.local_addr(), "/mock", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    let text = read_sse_until(&mut reader, |t| ids_in(t).len() >= 3);
    assert!(text.starts_with("retry:"), "first frame is retry: {text:?}");
    assert!(text.contains("event: message\n"), "{text:?}");
    assert!(text.contains("data: hello\n"), "{text:?}");
    assert_eq!(ids_in(&text)[..3], [0, 1, 2]);
}
on_both_drivers!(stream, streams_events);

fn resumes_after_last_event_id(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(20), driver));
    let (_, mut reader) = open_sse(gateway.local_addr(), "/mock", &[("Last-Event-ID", "5")]);
    let text = read_sse_until(&mut reader, |t| ids_in(t).len() >= 2);
    assert_eq!(ids_in(&text)[..2], [6, 7]);
    let (_, mut reader) = open_sse(gateway.local_addr(), "/mock?cursor=9", &[]);
    let text = read_sse_until(&mut reader, |t| !ids_in(t).is_empty());
    assert_eq!(ids_in(&text)[0], 10);
}
on_both_drivers!(resume, resumes_after_last_event_id);

fn heartbeat_comment_when_idle(driver: DriverChoice) {
    // One message every 60 s: the stream is quiet, so the 2 s heartbeat must show up first.
    let gateway = start(test_config(&mock_api_yaml(60_000), driver));
    let (_, mut reader) = open_sse(gateway.local_addr(), "/mock", &[]);
    let text = read_sse_until(&mut reader, |t| t.lines().any(|l| l.starts_with(':')));
    // The helper returns what it had when the read times out: the comment must be there.
    assert!(
        text.contains("\n:\n\n"),
        "a heartbeat comment (`:` and a blank line) on a quiet stream: {text:?}"
    );
    assert!(ids_in(&text).is_empty(), "no message yet: {text:?}");
}
on_both_drivers!(heartbeat_comment_when_idle, heartbeat_comment_when_idle);

fn invalid_last_event_id_is_a_400(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(20), driver));
    let response = get(
        gateway.local_addr(),
        "/mock",
        &[("Accept", "text/event-stream"), ("Last-Event-ID", "nope")],
    );
    assert_eq!(response.status, 400);
    assert!(response.text().contains("cursor"), "{}", response.text());
}
on_both_drivers!(
    invalid_last_event_id_is_a_400,
    invalid_last_event_id_is_a_400
);
