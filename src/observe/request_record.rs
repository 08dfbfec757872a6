//! The guard the connection holds for each request: created before the head is read, told what
//! the request turned out to be, and on drop — answer written, stream ended, connection closed,
//! whichever way the request's code returned — it counts the request in the per-API metrics and
//! writes its access-log line. A request that got no answer (the client closed while idle) is
//! neither counted nor logged.

use std::net::SocketAddr;
use std::rc::Rc;

use crate::codec::http_head::RequestHead;
use crate::deployed::Api;
use crate::observe::access_line::{AccessLine, MAX_PATH_BYTES, MAX_USER_AGENT_BYTES};
use crate::observe::api_metrics::{EntrypointKind, UNROUTED_API};
use crate::observe::exchange::Exchange;
use crate::shard::Shard;

/// What the access log needs of the request head (copied only when the log is on).
struct HeadFields {
    method: String,
    path: String,
    user_agent: String,
}

/// One request, until it ends.
pub struct RequestRecord {
    shard: Rc<Shard>,
    exchange: Rc<Exchange>,
    client: Option<SocketAddr>,
    head: Option<HeadFields>,
    api: Option<Rc<Api>>,
    entrypoint: EntrypointKind,
}

impl RequestRecord {
    /// A request starting on a connection from `client`.
    pub fn begin(shard: Rc<Shard>, exchange: Rc<Exchange>, client: Option<SocketAddr>) -> Self {
        RequestRecord {
            shard,
            exchange,
            client,
            head: None,
            api: None,
            entrypoint: EntrypointKind::None,
        }
    }

    /// The head is parsed: takes the client's request id (when sane) and what the log shows.
    pub fn head(&mut self, head: &RequestHead) {
        self.exchange.adopt_request_id(head.header("x-request-id"));
        if self.shard.observer.access_log.is_some() {
            let bounded = |text: &str, max: usize| text[..floor_boundary(text, max)].to_owned();
            self.head = Some(HeadFields {
                method: head.method().to_string(),
                // `path()` is the target without its query string: credentials stay out.
                path: bounded(head.path(), MAX_PATH_BYTES),
                user_agent: bounded(
                    head.header_str("user-agent").unwrap_or("-"),
                    MAX_USER_AGENT_BYTES,
                ),
            });
        }
    }

    /// The request was routed to `api` (`None`: no API serves its path) and `entrypoint`.
    pub fn route(&mut self, api: Option<&Rc<Api>>, entrypoint: EntrypointKind) {
        self.api = api.cloned();
        self.entrypoint = entrypoint;
        let series = match api {
            Some(api) => api.series.entrypoint(entrypoint),
            None => self.shard.observer.api_metrics.unrouted(entrypoint),
        };
        self.exchange.attach(series);
    }
}

/// The largest index ≤ `max` that is a character boundary of `text`.
fn floor_boundary(text: &str, max: usize) -> usize {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let status = self.exchange.status();
        if status == 0 {
            return;
        }
        let duration = self.exchange.started().elapsed();
        let stream = self.exchange.is_stream();
        let observer = &self.shard.observer;
        let series = match self.exchange.series() {
            Some(series) => {
                if stream {
                    series.stream_closed();
                }
                series.clone()
            }
            None => observer.api_metrics.unrouted(EntrypointKind::None),
        };
        series.finished(status, duration, stream);
        let Some(log) = &observer.access_log else {
            return;
        };
        if self.api.as_ref().is_some_and(|api| !api.access_log) || !log.samples(status) {
            return;
        }
        let (method, path, user_agent) = match &self.head {
            Some(head) => (
                head.method.as_str(),
                head.path.as_str(),
                head.user_agent.as_str(),
            ),
            None => ("-", "-", "-"),
        };
        let id = self.exchange.request_id();
        let subscriber = self.exchange.subscriber();
        let line = AccessLine::new(
            id.as_str(),
            self.client,
            self.api
                .as_ref()
                .map_or(UNROUTED_API, |api| api.id.as_str()),
            self.entrypoint.name(),
            method,
            path,
            status,
            self.exchange.counts(),
            duration,
            user_agent,
            subscriber.as_ref(),
        );
        log.send(line.render(log.format()));
    }
}
