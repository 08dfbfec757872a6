//! Server-Sent Events entrypoint: a `text/event-stream` of `id:`/`event: message`/`data:` events.
//!
//! The stream opens with `retry:`; a heartbeat comment goes out only when nothing was written for
//! `heartbeatIntervalInMs`; `Last-Event-ID` (or `?cursor=`, for clients that cannot set headers)
//! resumes right after that message. Over HTTP/1.1 the body is chunked, one chunk per write,
//! each carrying every event pending at that moment. Payloads that are not UTF-8 are sent as
//! base64 in an event named `message-base64` (so are payloads with a CR, which SSE parsing would
//! turn into a line break). On shutdown the client gets `event: goaway`, and so does a stream whose
//! API key or subscription stopped being valid (`crate::security::live`).

use std::rc::Rc;

use bytes::BytesMut;
use monoio::time::Instant;

use crate::codec::http_head::RequestHead;
use crate::codec::http_response::{BodyKind, ResponseHead};
use crate::codec::sse::{encode_event, encode_retry, SseEvent};
use crate::config::SseOptions;
use crate::delivery::OutboundQueue;
use crate::deployed::Api;
use crate::endpoint::EndpointError;
use crate::error;
use crate::message::{Message, MessageId};
use crate::rate_limit::Pacer;
use crate::server::conn::Conn;
use crate::server::duplex::{DiscardInbound, Duplex};
use crate::server::stream_read::ReaderParts;
use crate::server::write_batch::WriteBatch;
use crate::shard::{Lifeline, Shard};

use super::live_stream::{Live, Parts};

mod event;
mod hibernate;
mod stream;

use event::encode_message;
use stream::{frame_into, SseStream};

/// Reconnection delay advertised to clients in the first frame.
const RETRY_MS: u64 = 3000;

/// Streams events until the client leaves, the stream ends, or the gateway shuts down. The
/// request head is dropped once the stream starts.
pub async fn serve(
    conn: Conn,
    head: RequestHead,
    api: &Rc<Api>,
    options: &SseOptions,
    shard: &Rc<Shard>,
    lifeline: Lifeline,
) {
    // A local, dropped before the parameters: on an early return the socket closes before the
    // lifeline (the connection's slot and access-log record) goes.
    let mut conn = conn;
    let cursor = match resume_position(&head, api) {
        Ok(cursor) => cursor,
        Err(err) => {
            let _ = error::answer(&mut conn, &err.into(), true).await;
            return;
        }
    };
    if api.endpoint.is_exhausted_after(cursor.clone()) {
        // 204 tells EventSource to stop reconnecting: this finite stream has nothing more.
        conn.exchange().answered(204);
        let request_id = conn.request_id();
        conn.encode_head(&ResponseHead {
            status: 204,
            headers: &[("X-Request-Id", request_id.as_str())],
            body: BodyKind::None,
            close: true,
        });
        let _ = conn.flush().await;
        return;
    }
    let queue = Rc::new(OutboundQueue::new(
        &shard.gateway.outbound,
        shard.metrics.clone(),
    ));
    let (subscription, start) = match api.endpoint.subscribe(
        cursor.clone(),
        queue.clone(),
        super::subscription_name(&head).as_deref(),
    ) {
        Ok(subscribed) => subscribed,
        Err(err) => {
            let _ = error::answer(&mut conn, &err.into(), true).await;
            return;
        }
    };
    let chunked = head.version_minor() >= 1;
    drop(head);
    conn.exchange().answered(200);
    let request_id = conn.request_id();
    conn.encode_head(&ResponseHead {
        status: 200,
        headers: &[
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
            ("X-Request-Id", request_id.as_str()),
        ],
        body: if chunked {
            BodyKind::Chunked
        } else {
            BodyKind::None
        },
        close: !chunked,
    });
    // Ends the stream when its key or subscription stops being valid (revoked, expired, closed).
    let watch = Rc::new(shard.security.live.watch(conn.access.as_ref()));
    let pacer = Pacer::new(conn.meter.take());
    // Unpaced: while the writer waits, the fan-out writes the events itself, and a quiet stream
    // can hibernate.
    let direct = !pacer.paces();
    let hibernates = direct && !conn.is_tls() && shard.gateway.timeouts.sse_hibernate.is_some();
    let (duplex, pause) = if hibernates {
        let (duplex, pause) = Duplex::start_pausable(conn, DiscardInbound);
        (duplex, Some(pause))
    } else {
        (Duplex::start(conn, DiscardInbound), None)
    };
    let mut stream = SseStream {
        duplex,
        pause,
        chunked,
        scratch: BytesMut::new(),
        resume: start.or(cursor),
        last_write: Instant::now(),
        pacer,
        options: options.clone(),
    };
    if direct {
        let (options, metrics) = (options.clone(), shard.metrics.clone());
        let frame = move |batch: &mut WriteBatch, message: &Message| {
            let mut scratch = BytesMut::new();
            encode_message(
                batch,
                &mut scratch,
                message,
                &options,
                chunked,
                &metrics,
                true,
            );
        };
        stream.duplex.write_directly(&queue, Box::new(frame));
    }
    stream.frame(|dst| encode_retry(dst, RETRY_MS));
    if stream.duplex.flush().await.is_err() {
        return;
    }
    stream.duplex.exchange().stream_opened();
    let parts = Parts {
        queue,
        subscription: Some(subscription),
        watch,
        api: api.clone(),
        shard: shard.clone(),
        lifeline,
    };
    let live = Live::opened(parts, |metrics| &metrics.sse_streams_open);
    go_on(stream, live).await;
}

/// Runs `stream` until it ends (with its `goaway`) or hibernates (its tasks end; `hibernate`
/// wakes it).
async fn go_on(mut stream: SseStream, live: Live) {
    match stream.pump(&live).await {
        Exit::Hibernate(reader) => hibernate::fall_asleep(stream, *reader, live),
        Exit::End(end) => finish(stream, live, end).await,
    }
}

/// Ends the stream: unsubscribed, then the `goaway` (`None`: the client is gone) with the id to
/// resume from and the end of the chunked body; what the connection held (`Live`'s lifeline)
/// goes last.
async fn finish(mut stream: SseStream, mut live: Live, end: Option<&'static str>) {
    if let Some(id) = stream.duplex.take_direct_last() {
        stream.resume = Some(id);
    }
    tracing::debug!(api = %live.api.id, goaway = ?end, "sse stream ended");
    live.closing();
    if let Some(goodbye) = end {
        // The id is where to resume: EventSource sends it back as `Last-Event-ID`.
        let resume = stream.resume.as_ref().map(MessageId::to_string);
        let data = match &resume {
            Some(id) => format!("{goodbye}; reconnect with Last-Event-ID: {id}"),
            None => format!("{goodbye}; reconnect"),
        };
        stream.frame(|dst| {
            encode_event(
                dst,
                &SseEvent {
                    id: resume.as_deref(),
                    event: Some("goaway"),
                    data: data.as_bytes(),
                    comments: &[],
                },
            )
        });
        if stream.chunked {
            stream.duplex.write_buf.extend_from_slice(b"0\r\n\r\n");
        }
        let _ = stream.duplex.flush().await;
    }
    // The socket closes first, then what the connection held: its slot and access-log record.
    drop(stream);
    drop(live);
}

/// How `SseStream::pump` ended.
enum Exit {
    /// The stream ends: the `goaway` to send, or `None` when the client is gone.
    End(Option<&'static str>),
    /// The stream was quiet: its reader paused and gave back what it holds.
    Hibernate(Box<ReaderParts<DiscardInbound>>),
}

/// `Last-Event-ID` wins over `?cursor=`; both absent means "from now".
fn resume_position(head: &RequestHead, api: &Api) -> Result<Option<MessageId>, EndpointError> {
    // A resume position that cannot be read must not silently become "from now".
    let last_event_id = match head.header("last-event-id") {
        Some(raw) => Some(
            std::str::from_utf8(raw).map_err(|_| EndpointError::InvalidCursor {
                cursor: "Last-Event-ID".to_owned(),
                expected:
                    "Last-Event-ID must be UTF-8 text: send the id of the last event received",
            })?,
        ),
        None => None,
    };
    let given = last_event_id
        .map(str::to_owned)
        .or_else(|| head.query_param("cursor"));
    match given.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => api.endpoint.parse_cursor(text).map(Some),
    }
}

#[cfg(test)]
#[path = "sse/tests.rs"]
mod tests;

#[cfg(test)]
#[path = "sse/frame_tests.rs"]
mod frame_tests;
