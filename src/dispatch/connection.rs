//! The life of a connection, top to bottom:
//! accept → read the request head → route by host and context path (`crate::deployed::Router`)
//! → choose the entrypoint by request shape → CORS / Origin check (`server::cors`) → plan check
//! (`crate::security`: the credential decides the plan; 401 / 403) → receive the body (only now:
//! a request refused from its head alone never has to send it, see `server::request_body`) →
//! serve it (`crate::entrypoint`) → (keep-alive) next request.
//!
//! HTTP GET polls keep the connection for further requests; WebSocket and SSE take it over.

use std::rc::Rc;

use bytes::Bytes;
use monoio::net::TcpStream;
use monoio::time::Instant;

use crate::codec::http_head::{
    bare_cr_after, head_terminated, parse_request_head, BodyFraming, HeadLimits, Method,
    RequestHead,
};
use crate::codec::http_response::{BodyKind, ResponseHead};
use crate::entrypoint::{self, Choice};
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::observe::exchange::Subscriber;
use crate::observe::request_record::RequestRecord;
use crate::rate_limit;
use crate::security;
use crate::server::conn::Conn;
use crate::server::cors::{self, Verdict};
use crate::server::request_body::{self, Body};
use crate::shard::{Lifeline, Shard};
use crate::tls::Established;

/// The 404 body of the reference product, for a path no started API serves.
pub const NO_CONTEXT_PATH: &str = "No context-path matches the request URI.";

/// The 411 body: a POST publishes its body, so it must say where the body ends.
const POST_NEEDS_FRAMING: &str = "a POST must frame its body with Content-Length (Content-Length: 0 for an empty message) or Transfer-Encoding: chunked";
/// The 403 of a page's request to an API with an mtls plan and no origin allow-list.
const PAGES_NEED_AN_ORIGIN_LIST: &str = "this API accepts client certificates, which browsers send by themselves: web pages may use it only from the origins its cors.allowOrigin (WebSocket: allowedOrigins) lists";

/// Serves one accepted connection (a TLS one once its handshake is done) until it closes.
/// `lifeline` holds what must live as long as the connection (a stream that hibernates takes
/// it along).
pub async fn serve(
    stream: TcpStream,
    tls: Option<Established>,
    shard: Rc<Shard>,
    mut lifeline: Lifeline,
) {
    // A keyless plan's rate limits count by the client's address.
    let client_ip = stream.peer_addr().ok().map(|addr| addr.ip());
    let mut conn = Conn::new(stream, tls, shard.metrics.clone(), &shard.gateway.timeouts);
    let mut first_request = true;
    loop {
        conn.begin_request();
        // Counts and logs the request whichever way this pass ends (answered, streamed, closed).
        let mut record = RequestRecord::begin(shard.clone(), conn.exchange().clone(), conn.peer());
        let Some(head) = read_head(&mut conn, &shard, first_request).await else {
            return;
        };
        record.head(&head);
        first_request = false;
        conn.answer_head_request(*head.method() == Method::Head);
        ShardMetrics::inc(&shard.metrics.http_requests_total);
        if head.version_minor() >= 1 && head.header("host").is_none() {
            // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
            let _ = conn
                .respond_text(400, "HTTP/1.1 requests need a Host header", true)
                .await;
            return;
        }
        let upgrade = head.is_websocket_upgrade();
        if upgrade && !matches!(head.body_framing(), BodyFraming::Empty) {
            // Its bytes would otherwise be read as the next request (request smuggling).
            let _ = conn
                .respond_text(
                    400,
                    "a WebSocket upgrade request must not have a body",
                    true,
                )
                .await;
            return;
        }
        // An upgrade request that is not upgraded ends the connection: whatever follows it on
        // the wire was meant for a WebSocket.
        let mut keep_alive = head.keep_alive() && !shard.shutdown.is_fired() && !upgrade;
        // Route before the body: a request refused anyway need not send it (`Expect`).
        let api = shard
            .router()
            .route(head.header_str("host"), head.path())
            .cloned();
        let choice = api.as_deref().map(|api| entrypoint::choose(&head, api));
        record.route(
            api.as_ref(),
            choice.as_ref().map_or(EntrypointKind::None, kind_of),
        );
        // Before anything is published or subscribed: a page from another origin may not.
        let verdict = match (api.as_deref(), &choice) {
            // Browsers send client certificates by themselves, to any page's requests: on an
            // API that trusts them (an mtls plan), a page's request needs an allow-list that
            // names its origin (cross-site request forgery, cross-site WebSocket hijacking).
            (Some(api), Some(choice))
                if api.has_mtls_plan
                    && head.header_str("origin").is_some()
                    && match choice {
                        Choice::WebSocket(_) => api.websocket_origins.is_none(),
                        _ => api.cors.is_none(),
                    } =>
            {
                Verdict::Refused(PAGES_NEED_AN_ORIGIN_LIST)
            }
            (Some(api), Some(Choice::WebSocket(_))) => {
                match cors::websocket_origin(api.websocket_origins.as_ref(), &head) {
                    Ok(()) => Verdict::NotCors,
                    Err(reason) => Verdict::Refused(reason),
                }
            }
            (Some(api), Some(_)) => cors::check(api.cors.as_ref(), &head),
            _ => Verdict::NotCors,
        };
        match &verdict {
            Verdict::Allowed(headers) => conn.set_answer_headers(headers.clone()),
            Verdict::Refused(_) => conn.set_answer_headers(vec![("Vary", "Origin".to_owned())]),
            Verdict::NotCors | Verdict::Preflight(_) => {}
        }
        let answered_by_cors = matches!(verdict, Verdict::Refused(_) | Verdict::Preflight(_));
        if !answered_by_cors
            && matches!(choice, Some(Choice::HttpPost(_)))
            && head.body_framing() == BodyFraming::Empty
        {
            // RFC 9112 §6.3: without framing a request has no body; publishing "nothing" by
            // accident (a client that forgot Content-Length) is refused instead.
            if conn
                .respond_text(411, POST_NEEDS_FRAMING, !keep_alive)
                .await
                .is_err()
                || !keep_alive
            {
                return;
            }
            continue;
        }
        // The plan check needs only the head: a refused request's body is never read. A CORS
        // preflight is not checked: browsers never send credentials on one. On the TLS listener
        // the client certificate is a credential for mtls plans.
        let gate = match api.as_deref() {
            Some(api) if !answered_by_cors => {
                let peer = conn.peer_certificate().map(|der| der.as_ref());
                Some(security::gate::check(&head, &api.id, &shard.security, peer).await)
            }
            _ => None,
        };
        let refused = matches!(gate, Some(Err(_)));
        // The selected plan's policies, counted per subscription (per client address on a
        // keyless plan), also before the body: a client over its limit uploads nothing.
        let served = choice.as_ref().is_some_and(|choice| {
            !matches!(
                choice,
                Choice::MethodNotAllowed(_) | Choice::NoEntrypoint(_)
            )
        });
        let over_limit = match (api.as_deref(), &gate) {
            (Some(api), Some(Ok(access))) if served => {
                let limiter = &shard.rate_limiter;
                match rate_limit::subject_for(api, Some(access), client_ip, limiter) {
                    Some(meter) => {
                        let publishes = matches!(choice, Some(Choice::HttpPost(_)));
                        rate_limit::count(&mut conn, meter, publishes).await
                    }
                    None => None,
                }
            }
            _ => None,
        };
        let wanted = !answered_by_cors
            && !refused
            && over_limit.is_none()
            && matches!(
                choice,
                Some(Choice::HttpPost(_) | Choice::HttpGet(_) | Choice::Sse(_))
            );
        let body = match request_body::receive(&mut conn, &head, wanted, &shard).await {
            Body::Received(body) => body,
            Body::Unread => {
                keep_alive = false;
                Bytes::new()
            }
            Body::Closed => return,
        };
        let (Some(api), Some(choice)) = (api.as_ref(), choice) else {
            if conn
                .respond_text(404, NO_CONTEXT_PATH, !keep_alive)
                .await
                .is_err()
                || !keep_alive
            {
                return;
            }
            continue;
        };
        match verdict {
            Verdict::Refused(reason) => {
                ShardMetrics::inc(&shard.metrics.origin_refusals_total);
                let refused = conn.respond_text(403, reason, !keep_alive).await;
                if refused.is_err() || !keep_alive {
                    return;
                }
                continue;
            }
            Verdict::Preflight(headers) => {
                conn.set_answer_headers(headers);
                if !no_content(&mut conn, None, keep_alive).await || !keep_alive {
                    return;
                }
                continue;
            }
            Verdict::NotCors | Verdict::Allowed(_) => {}
        }
        match gate {
            Some(Ok(access)) => {
                let principal = &access.principal;
                conn.exchange().set_subscriber(Subscriber {
                    plan: principal.plan.to_string(),
                    application: principal.application.as_deref().map(str::to_owned),
                    subscription: principal.subscription.as_deref().map(str::to_owned),
                });
                conn.access = Some(access);
            }
            Some(Err(refused)) => {
                if refused.answer(&mut conn, !keep_alive).await.is_err() || !keep_alive {
                    return;
                }
                continue;
            }
            None => {}
        }
        if let Some(verdict) = over_limit {
            if !rate_limit::refuse(&mut conn, &verdict, !keep_alive).await {
                return;
            }
            continue;
        }
        let keep_going = match choice {
            // A stream takes the head: it keeps only what it needs of it for its lifetime.
            Choice::WebSocket(options) => {
                // Written when the session ends, also when it hibernated meanwhile.
                lifeline.hold(record);
                entrypoint::websocket::serve(conn, head, api, options, &shard, lifeline).await;
                return;
            }
            Choice::Sse(options) => {
                // Written when the stream ends, also when it hibernated meanwhile.
                lifeline.hold(record);
                entrypoint::sse::serve(conn, head, api, options, &shard, lifeline).await;
                return;
            }
            Choice::HttpGet(options) => {
                entrypoint::http_get::serve(&mut conn, &head, api, options, &shard, keep_alive)
                    .await
            }
            Choice::HttpPost(options) => {
                let post = entrypoint::http_post::serve(
                    &mut conn, &head, body, api, options, &shard, keep_alive,
                );
                post.await
            }
            // RFC 9110 §9.3.7: OPTIONS (not a CORS preflight) says which methods the API serves.
            Choice::MethodNotAllowed(allow) if *head.method() == Method::Options => {
                no_content(&mut conn, Some(allow), keep_alive).await
            }
            Choice::MethodNotAllowed(allow) => {
                let method = head.method().to_string();
                let answer = conn.respond_method_not_allowed(&method, allow, !keep_alive);
                answer.await.is_ok()
            }
            Choice::NoEntrypoint(why) => conn.respond_text(404, why, !keep_alive).await.is_ok(),
        };
        if !keep_going || !keep_alive {
            return;
        }
    }
}

/// Answers 204 with the request's answer headers (and `Allow`, when given); false when the
/// connection failed.
async fn no_content(conn: &mut Conn, allow: Option<&str>, keep_alive: bool) -> bool {
    let allow: Vec<(&str, &str)> = allow.map(|allow| ("Allow", allow)).into_iter().collect();
    conn.encode_head(&ResponseHead {
        status: 204,
        headers: &allow,
        body: BodyKind::None,
        close: !keep_alive,
    });
    if keep_alive {
        conn.flush_unless_pipelined().await.is_ok()
    } else {
        conn.flush().await.is_ok()
    }
}

/// The metrics and access-log name of a chosen entrypoint.
fn kind_of(choice: &Choice<'_>) -> EntrypointKind {
    match choice {
        Choice::WebSocket(_) => EntrypointKind::WebSocket,
        Choice::Sse(_) => EntrypointKind::Sse,
        Choice::HttpGet(_) => EntrypointKind::HttpGet,
        Choice::HttpPost(_) => EntrypointKind::HttpPost,
        Choice::MethodNotAllowed(_) | Choice::NoEntrypoint(_) => EntrypointKind::None,
    }
}

/// Reads the next request head. `None` when the connection should close: the peer closed, it sat
/// idle past `keepAliveIdleMs` between requests (or `headerReadMs` before its first one), the head
/// took longer than `headerReadMs`, the gateway is shutting down between requests, or the head was
/// invalid (after answering it).
async fn read_head(conn: &mut Conn, shard: &Shard, first_request: bool) -> Option<RequestHead> {
    let limits = HeadLimits {
        max_header_bytes: shard.gateway.limits.max_header_bytes,
        max_header_count: shard.gateway.limits.max_header_count,
    };
    let timeouts = &shard.gateway.timeouts;
    let mut header_deadline = None;
    let mut searched = 0;
    loop {
        // A bare CR makes the head invalid at once: no need to wait for its end.
        let complete_or_too_long = head_terminated(&conn.read_buf, searched)
            || bare_cr_after(&conn.read_buf, searched)
            || conn.read_buf.len() >= limits.max_header_bytes;
        searched = conn.read_buf.len();
        let parsed = if complete_or_too_long {
            parse_request_head(&mut conn.read_buf, &limits)
        } else {
            Ok(None)
        };
        match parsed {
            Ok(Some(head)) => return Some(head),
            Ok(None) => {}
            Err(err) => {
                let _ = conn
                    .respond_text(err.status(), &err.to_string(), true)
                    .await;
                return None;
            }
        }
        let deadline = if conn.read_buf.is_empty() && !first_request {
            Instant::now() + timeouts.keep_alive_idle
        } else if conn.read_buf.is_empty() {
            // A new connection that sends nothing is held no longer than a slow head.
            *header_deadline.get_or_insert_with(|| Instant::now() + timeouts.header_read)
        } else {
            *header_deadline.get_or_insert_with(|| Instant::now() + timeouts.header_read)
        };
        let idle = conn.read_buf.is_empty();
        monoio::select! {
            _ = shard.shutdown.wait(), if idle => return None,
            read = monoio::time::timeout_at(deadline, conn.read_more()) => match read {
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(_)) => {}
                Err(_elapsed) if idle => return None,
                Err(_elapsed) => {
                    let _ = conn.respond_text(408, "request header not received in time", true).await;
                    return None;
                }
            }
        }
    }
}
