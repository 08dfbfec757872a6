//! WebSocket entrypoint: RFC 6455 upgrade, then every message as a frame of the type it was
//! published with (text or binary; a source that does not say gets text when UTF-8), or, with
//! `?envelope=json`, as a text frame `{"id":…,"content":…}` that tells the client its cursor.
//!
//! The reader task (`inbound`) decodes client frames and records what the writer must act on
//! (pings to answer, a close, a protocol error, a message under way); the writer sends messages,
//! pongs and keep-alive pings. A peer that stays silent for a whole ping interval after a ping is
//! dropped; a message not finished within `wsMessageReadMs` closes the session with 1008.
//! `?cursor=` on the upgrade URL resumes after that message id (the reference cannot resume), and
//! a close the gateway starts carries the cursor to resume from in its reason.

mod deflate_out;
mod frames;
mod hibernate;
mod inbound;
mod negotiate;
mod session;
mod token_renewal;

use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;

use crate::codec::http_head::RequestHead;
use crate::codec::http_response::{BodyKind, ResponseHead};
use crate::codec::ws::deflate::Inflater;
use crate::codec::ws::{FrameDecoder, WsLimits};
use crate::config::WebSocketOptions;
use crate::delivery::OutboundQueue;
use crate::deployed::Api;
use crate::error::{self, DataError, Kind};
use crate::message::Message;
use crate::metrics::ShardMetrics;
use crate::rate_limit::Pacer;
use crate::server::conn::Conn;
use crate::server::duplex::Duplex;
use crate::server::write_batch::WriteBatch;
use crate::shard::{Lifeline, Shard};
use deflate_out::DeflateOut;
use frames::frame_plain;
use inbound::{Inbound, PartialHold, Publisher, WsReader};
use negotiate::{handshake, Envelope};
use session::{go_on, Ping, Session};

use super::live_stream::{Live, Parts};

/// Performs the upgrade and runs the session until either side closes. The request head is
/// dropped once the session starts: an idle session keeps only what it took from it. A session
/// that hibernates (`hibernate`) goes on in tasks of its own, holding `lifeline`.
pub async fn serve(
    conn: Conn,
    head: RequestHead,
    api: &Rc<Api>,
    options: &WebSocketOptions,
    shard: &Rc<Shard>,
    lifeline: Lifeline,
) {
    // A local, dropped before the parameters: on an early return the socket closes before the
    // lifeline (the connection's slot and access-log record) goes.
    let mut conn = conn;
    let accept = match handshake(&head) {
        Ok(accept) => accept,
        Err((426, message)) => {
            // RFC 6455 §4.4: name the version we speak.
            let answer = conn.respond_with_header(426, ("Sec-WebSocket-Version", "13"), message);
            let _ = answer.await;
            return;
        }
        Err((_, message)) => {
            let _ =
                error::answer(&mut conn, &DataError::new(Kind::BadRequest, message), true).await;
            return;
        }
    };
    let negotiated = match negotiate::negotiate(&head, options) {
        Ok(negotiated) => negotiated,
        Err(message) => {
            let _ =
                error::answer(&mut conn, &DataError::new(Kind::BadRequest, message), true).await;
            return;
        }
    };
    if negotiated.subprotocol_unmatched {
        ShardMetrics::inc(&shard.metrics.websocket_subprotocol_unmatched_total);
        tracing::debug!(api = %api.id, "websocket upgrade asked only for subprotocols not configured; answered without one");
    }
    let cursor = match head.query_param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => match api.endpoint.parse_cursor(&text) {
            Ok(id) => Some(id),
            Err(err) => {
                let _ = error::answer(&mut conn, &err.into(), true).await;
                return;
            }
        },
    };
    // A publisher naming a topic its endpoint cannot take would be closed at its first message;
    // refusing the upgrade says why at once.
    let topic = head.query_param("topic").filter(|topic| !topic.is_empty());
    if options.publisher_enabled {
        if let Some(problem) = api.endpoint.request_topic_problem(topic.as_deref()) {
            let _ = error::answer(&mut conn, &problem.into(), true).await;
            return;
        }
    }
    let envelope = match Envelope::requested(&head) {
        Ok(envelope) => envelope,
        Err(message) => {
            let _ =
                error::answer(&mut conn, &DataError::new(Kind::BadRequest, message), true).await;
            return;
        }
    };
    let queue = Rc::new(OutboundQueue::new(
        &shard.gateway.outbound,
        shard.metrics.clone(),
    ));
    let (subscription, start) = if options.subscriber_enabled {
        match api.endpoint.subscribe(
            cursor.clone(),
            queue.clone(),
            super::subscription_name(&head).as_deref(),
        ) {
            Ok((subscription, start)) => (Some(subscription), start),
            Err(err) => {
                let _ = error::answer(&mut conn, &err.into(), true).await;
                return;
            }
        }
    } else {
        (None, None)
    };
    conn.exchange().answered(101);
    let request_id = conn.request_id();
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept.as_str()),
        ("X-Request-Id", request_id.as_str()),
    ];
    if let Some(protocol) = &negotiated.subprotocol {
        headers.push(("Sec-WebSocket-Protocol", protocol));
    }
    if let Some(agreed) = &negotiated.deflate {
        headers.push(("Sec-WebSocket-Extensions", &agreed.response));
    }
    // With the request's answer headers (`X-RateLimit-*`).
    conn.encode_head(&ResponseHead {
        status: 101,
        headers: &headers,
        body: BodyKind::None,
        close: false,
    });
    let echo = subscription.as_ref().and_then(|s| s.echo());
    let meter = conn.meter.take();
    let publisher = options.publisher_enabled.then(|| {
        Box::new(Publisher {
            meter: meter.clone(),
            api: api.clone(),
            echo: echo.clone(),
            no_headers: Arc::from(Vec::new()),
            topic,
            key: head.query_param("key").map(bytes::Bytes::from),
            exchange: conn.exchange().clone(),
        })
    });
    let inbound = Rc::new(Inbound::new(shard.metrics.clone()));
    let limits = &shard.gateway.limits;
    let ws_limits = WsLimits {
        max_frame_bytes: limits.ws_max_frame_bytes,
        max_message_bytes: limits.ws_max_message_bytes,
    };
    let decoder = match &negotiated.deflate {
        Some(agreed) => FrameDecoder::with_deflate(
            ws_limits,
            Inflater::new(agreed.client_window_bits, agreed.client_no_context_takeover),
        ),
        None => FrameDecoder::new(ws_limits),
    };
    let deflate = negotiated.deflate.as_ref().map(|agreed| {
        let min_bytes = options
            .per_message_deflate
            .map_or(0, |d| d.min_message_bytes);
        Box::new(DeflateOut::new(
            agreed.server_window_bits,
            min_bytes,
            shard.metrics.clone(),
        ))
    });
    // Ends the session when its credential stops being valid (revoked, expired, closed).
    let watch = Rc::new(shard.security.live.watch(conn.access.as_ref()));
    let renewal = options.token_refresh.then(|| {
        Box::new(token_renewal::TokenRenewal {
            api: api.clone(),
            shard: shard.clone(),
            watch: watch.clone(),
        })
    });
    let reader = WsReader {
        decoder,
        inbound: inbound.clone(),
        publisher,
        hold: PartialHold::new(shard.metrics.clone(), limits.ws_max_partial_bytes_per_shard),
        renewal,
    };
    drop(head);
    let pacer = Pacer::new(meter);
    // Plain frames, unpaced: while the writer waits, the fan-out writes them itself, and a
    // quiet session can hibernate.
    let direct = deflate.is_none() && envelope == Envelope::None && !pacer.paces();
    let hibernates = direct && !conn.is_tls() && shard.gateway.timeouts.ws_hibernate.is_some();
    let (mut duplex, pause) = if hibernates {
        let (duplex, pause) = Duplex::start_pausable(conn, reader);
        (duplex, Some(pause))
    } else {
        (Duplex::start(conn, reader), None)
    };
    if direct {
        let metrics = shard.metrics.clone();
        duplex.write_directly(
            &queue,
            Box::new(move |batch: &mut WriteBatch, message: &Message| {
                frame_plain(batch, message, &metrics, true)
            }),
        );
    }
    let mut session = Session {
        duplex,
        pause,
        inbound,
        // Without a cursor, the position the subscription started after: resuming from it
        // loses nothing even before the first message.
        last_delivered: cursor.or(start),
        // An echo's ids are the connection's own: nothing to resume with.
        resumable: subscription.is_some() && echo.is_none(),
        echoes: echo.is_some(),
        envelope,
        pacer,
        deflate,
    };
    if session.duplex.flush().await.is_err() {
        return;
    }
    // What is left of the answer head's allocation: messages go out through the batch, this
    // buffer only carries pings, pongs and the close, so an idle session need not keep it.
    session.duplex.write_buf = BytesMut::new();
    session.duplex.exchange().stream_opened();
    let parts = Parts {
        queue,
        subscription,
        watch,
        api: api.clone(),
        shard: shard.clone(),
        lifeline,
    };
    let live = Live::opened(parts, |metrics| &metrics.websocket_sessions_open);
    let ping = Ping::starting(shard.gateway.timeouts.ws_ping_interval);
    go_on(session, live, ping).await;
}

#[cfg(test)]
#[path = "websocket/tests.rs"]
mod tests;
