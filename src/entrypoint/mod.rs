//! Entrypoints: how clients receive an API's messages. Several share one context path; the
//! request's shape picks one (the most specific wins):
//! WebSocket upgrade → `websocket`; GET with `Accept: text/event-stream` → `sse`; other GET →
//! `http_get`.

pub mod http_get;
pub mod sse;
pub mod websocket;

use crate::codec::http_head::{Method, RequestHead};
use crate::config::{HttpGetOptions, SseOptions, WebSocketOptions};
use crate::server::Api;

/// The entrypoint chosen for a request, with its options.
pub enum Choice<'a> {
    /// Upgrade to a WebSocket session.
    WebSocket(&'a WebSocketOptions),
    /// Stream Server-Sent Events.
    Sse(&'a SseOptions),
    /// Answer one batch of messages.
    HttpGet(&'a HttpGetOptions),
    /// The API exists but has no entrypoint for this method; the value lists allowed methods.
    MethodNotAllowed(&'static str),
    /// The API exists but none of its entrypoints serves this request shape.
    NoEntrypoint(&'static str),
}

/// Picks the entrypoint of `api` that serves `head`.
pub fn choose<'a>(head: &RequestHead, api: &'a Api) -> Choice<'a> {
    if head.is_websocket_upgrade() {
        return match &api.websocket {
            Some(options) => Choice::WebSocket(options),
            None => Choice::NoEntrypoint("this API has no websocket entrypoint"),
        };
    }
    if *head.method() != Method::Get {
        return if api.http_get.is_some() || api.sse.is_some() {
            Choice::MethodNotAllowed("GET")
        } else {
            Choice::NoEntrypoint(
                "this API has no entrypoint for plain HTTP requests; connect with a WebSocket",
            )
        };
    }
    match (&api.sse, &api.http_get) {
        (Some(options), _) if head.accepts_event_stream() => Choice::Sse(options),
        (_, Some(options)) => Choice::HttpGet(options),
        (Some(_), None) => Choice::NoEntrypoint(
            "this API streams Server-Sent Events only; send 'Accept: text/event-stream'",
        ),
        (None, None) => Choice::NoEntrypoint(
            "this API has no entrypoint for GET requests; connect with a WebSocket",
        ),
    }
}
