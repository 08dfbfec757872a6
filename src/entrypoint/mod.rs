//! Entrypoints: how clients talk to an API. Several share one context path; the request's shape
//! picks one (the most specific wins): WebSocket upgrade → `websocket`; GET with
//! `Accept: text/event-stream` → `sse`; other GET → `http_get`; POST → `http_post`.
//!
//! Layering (`tests/module_layers.rs` checks it): entrypoints are built on the transport blocks
//! of `crate::server` and read the API they serve from `crate::deployed`; the connection step that
//! routes a request to one (`crate::dispatch`, which calls [`choose`]) sits above them, and they
//! never name it.

mod hibernation;
pub mod http_get;
pub mod http_post;
mod live_stream;
pub mod message_headers;
pub mod sse;
pub mod websocket;

use crate::codec::http_head::{Method, RequestHead};
use crate::config::{HttpGetOptions, HttpPostOptions, SseOptions, WebSocketOptions};
use crate::deployed::Api;

/// The subscription a client names: the `X-Subscription` header, else the `subscription` query
/// parameter (for EventSource and browser WebSockets, which cannot set headers).
pub fn subscription_name(head: &RequestHead) -> Option<String> {
    head.header_str("x-subscription")
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| head.query_param("subscription"))
}

/// The entrypoint chosen for a request, with its options.
pub enum Choice<'a> {
    /// Upgrade to a WebSocket session.
    WebSocket(&'a WebSocketOptions),
    /// Stream Server-Sent Events.
    Sse(&'a SseOptions),
    /// Answer one batch of messages.
    HttpGet(&'a HttpGetOptions),
    /// Publish the body.
    HttpPost(&'a HttpPostOptions),
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
    let serves_get = api.http_get.is_some() || api.sse.is_some();
    let allowed = match (serves_get, api.http_post.is_some()) {
        (true, true) => "GET, POST, OPTIONS",
        (true, false) => "GET, OPTIONS",
        (false, true) => "POST, OPTIONS",
        (false, false) => {
            return Choice::NoEntrypoint(
                "this API has no entrypoint for plain HTTP requests; connect with a WebSocket",
            )
        }
    };
    match head.method() {
        Method::Post => match &api.http_post {
            Some(options) => Choice::HttpPost(options),
            None => Choice::MethodNotAllowed(allowed),
        },
        Method::Get => match (&api.sse, &api.http_get) {
            (Some(options), _) if head.accepts_event_stream() => Choice::Sse(options),
            (_, Some(options)) => Choice::HttpGet(options),
            (Some(_), None) => Choice::NoEntrypoint(
                "this API streams Server-Sent Events only; send 'Accept: text/event-stream'",
            ),
            (None, None) => Choice::MethodNotAllowed(allowed),
        },
        _ => Choice::MethodNotAllowed(allowed),
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
