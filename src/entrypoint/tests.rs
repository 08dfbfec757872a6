//! Which entrypoint a request shape picks, for every combination of declared entrypoints.

use super::test_support::{head, mock_api};
use super::*;

const GET: &str = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";
const GET_SSE: &str = "GET /a HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n";
const POST: &str = "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
const PUT: &str = "PUT /a HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
const UPGRADE: &str = "GET /a HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAccept: text/event-stream\r\n\r\n";

/// A short name of what `request` picks on an API with `entrypoints`.
fn picked(entrypoints: &[&str], request: &str) -> String {
    let api = mock_api(entrypoints);
    match choose(&head(request), &api) {
        Choice::WebSocket(_) => "websocket".to_owned(),
        Choice::Sse(_) => "sse".to_owned(),
        Choice::HttpGet(_) => "http-get".to_owned(),
        Choice::HttpPost(_) => "http-post".to_owned(),
        Choice::MethodNotAllowed(allow) => format!("405 {allow}"),
        Choice::NoEntrypoint(_) => "404".to_owned(),
    }
}

#[test]
fn the_most_specific_entrypoint_wins() {
    let all = ["http-get", "http-post", "websocket", "sse"];
    assert_eq!(picked(&all, UPGRADE), "websocket", "upgrade beats SSE");
    assert_eq!(picked(&all, GET_SSE), "sse");
    assert_eq!(picked(&all, GET), "http-get");
    assert_eq!(picked(&all, POST), "http-post");
    assert_eq!(picked(&all, PUT), "405 GET, POST, OPTIONS");
}

#[test]
fn a_shape_without_its_entrypoint_is_404_or_405() {
    // No websocket entrypoint: an upgrade is 404, not served as SSE or GET.
    assert_eq!(picked(&["http-get", "sse"], UPGRADE), "404");
    // Only WebSocket: every plain request is 404.
    for request in [GET, GET_SSE, POST, PUT] {
        assert_eq!(picked(&["websocket"], request), "404", "{request:?}");
    }
    // Only SSE: a GET without the event-stream Accept is 404; POST is 405 naming GET.
    assert_eq!(picked(&["sse"], GET), "404");
    assert_eq!(picked(&["sse"], POST), "405 GET, OPTIONS");
    // Only GET: SSE requests get the batch; POST is 405.
    assert_eq!(picked(&["http-get"], GET_SSE), "http-get");
    assert_eq!(picked(&["http-get"], POST), "405 GET, OPTIONS");
    // Only POST: GET is 405 naming POST.
    assert_eq!(picked(&["http-post"], GET), "405 POST, OPTIONS");
    assert_eq!(
        picked(&["http-post", "websocket"], GET),
        "405 POST, OPTIONS"
    );
}

#[test]
fn the_subscription_is_named_by_header_first_then_query() {
    let both = head("GET /a?subscription=q HTTP/1.1\r\nHost: t\r\nX-Subscription: h\r\n\r\n");
    assert_eq!(subscription_name(&both).as_deref(), Some("h"));
    let query = head("GET /a?subscription=q HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(subscription_name(&query).as_deref(), Some("q"));
    let blank = head("GET /a?subscription=q HTTP/1.1\r\nHost: t\r\nX-Subscription:  \r\n\r\n");
    assert_eq!(subscription_name(&blank).as_deref(), Some("q"));
    assert_eq!(subscription_name(&head(GET)), None);
}
