//! HTTP GET entrypoint: one batch of messages per request.
//!
//! Returns as soon as `limit` messages (query `limit`, at most `messagesLimitCount`) are there,
//! or when `messagesLimitDurationMs` has passed, whichever comes first. `?cursor=` resumes right
//! after a message id; `pagination.nextCursor` is the id to send next time, so consecutive polls
//! see every message once, with no gap and no duplicate.
//!
//! The reply is rendered straight into a gathered write (`WriteBatch`): framing is copied,
//! payloads are referenced from the retention ring, never copied into a rendered body and again
//! into a write buffer. The shard's reply budget (`maxGetReplyBytesPerShard`) bounds what
//! replies being written pin at once: a reply that does not fit carries fewer messages (the
//! client goes on from its `nextCursor`), one that cannot carry any is answered 503 with
//! `Retry-After`. A reply the client does not read is abandoned after `replyStallMs`.

use std::rc::Rc;

use monoio::time::Instant;

use bytes::BytesMut;

use crate::codec::batch::{negotiate, render_close, render_item, render_open, BatchOptions};
use crate::codec::http_head::RequestHead;
use crate::codec::http_response::{encode_response_head, BodyKind, ResponseHead};
use crate::config::HttpGetOptions;
use crate::delivery::{OutboundQueue, ReplyBudget, ReplyPermit};
use crate::deployed::Api;
use crate::deployed::Drain;
use crate::error::{self, DataError, Kind};
use crate::message::{Message, MessageId};
use crate::metrics::ShardMetrics;
use crate::observe::api_metrics::EntrypointKind;
use crate::server::conn::{with_answer_headers, Conn};
use crate::server::cors::AnswerHeaders;
use crate::server::request_id::RequestId;
use crate::server::write_batch::WriteBatch;
use crate::shard::Shard;

/// Serves one poll. Returns false when the connection must close.
pub async fn serve(
    conn: &mut Conn,
    head: &RequestHead,
    api: &Api,
    options: &HttpGetOptions,
    shard: &Rc<Shard>,
    keep_alive: bool,
) -> bool {
    let started = Instant::now();
    let request = match Poll::from_request(head, api, options) {
        Ok(request) => request,
        Err(error) => return error::answer(conn, &error, !keep_alive).await.is_ok(),
    };
    let queue = Rc::new(OutboundQueue::with_capacity(
        &shard.gateway.outbound,
        request.limit,
        shard.metrics.clone(),
    ));
    let (subscription, start) = match api.endpoint.subscribe(
        request.cursor.clone(),
        queue.clone(),
        super::subscription_name(head).as_deref(),
    ) {
        Ok(subscribed) => subscribed,
        Err(err) => {
            return error::answer(conn, &err.into(), !keep_alive).await.is_ok();
        }
    };
    let polled = collect(&request, &queue, options, shard, &api.drain, started);
    let items = conn.flush_held_unless_ready(polled).await;
    let close = !keep_alive || shard.shutdown.is_fired();
    let answer_headers = conn.answer_headers().clone();
    let reply = Reply {
        request: &request,
        options,
        start,
        close,
        answer_headers: &answer_headers,
        request_id: conn.request_id(),
    };
    let Some((body, sent, _permit)) = reply.render_within(&items, &shard.reply_budget) else {
        ShardMetrics::inc(&shard.metrics.http_get_replies_refused_total);
        drop(subscription);
        let busy = "the gateway is busy writing other replies; poll again with the same cursor";
        let _ = error::answer(conn, &DataError::new(Kind::Busy, busy), true).await;
        return false;
    };
    if sent < items.len() {
        ShardMetrics::inc(&shard.metrics.http_get_replies_trimmed_total);
    }
    // The body references what it sends; messages cut from it are let go before the write.
    let last_sent = items[..sent].last().map(|message| message.id.clone());
    drop(items);
    conn.exchange().answered(200);
    let written = conn.flush_with(body).await.is_ok();
    if written {
        ShardMetrics::add(&shard.metrics.messages_delivered_total, sent as u64);
        conn.exchange().delivered(sent as u64);
        if let Some(last) = last_sent {
            queue.mark_delivered(last);
        }
    }
    // Held until the response is written, so an at-least-once endpoint acknowledges only then.
    drop(subscription);
    written && !close
}

/// Room kept for the response head and the body's closing part while items are added.
const HEAD_AND_CLOSE_RESERVE_BYTES: usize = 512;

/// What a poll's reply needs besides its items.
struct Reply<'a> {
    request: &'a Poll,
    options: &'a HttpGetOptions,
    /// The position the subscription started after: `nextCursor` when no item is sent.
    start: Option<MessageId>,
    close: bool,
    /// The request's answer headers (CORS).
    answer_headers: &'a AnswerHeaders,
    /// Echoed in `X-Request-Id`.
    request_id: RequestId,
}

impl Reply<'_> {
    /// Renders head and body with as many of `items` as `budget` allows, and takes their bytes
    /// from it. Returns the reply, how many items it carries, and the permit to hold while it is
    /// written; `None` when not even an empty reply fits.
    fn render_within<'b>(
        &self,
        items: &[Message],
        budget: &'b ReplyBudget,
    ) -> Option<(WriteBatch, usize, ReplyPermit<'b>)> {
        let format = self.request.format;
        let opts = BatchOptions {
            headers_in_payload: self.options.headers_in_payload,
            metadata_in_payload: self.options.metadata_in_payload,
        };
        let room = budget.available();
        let mut body = WriteBatch::new();
        render_open(format, &mut body);
        // `marks[i]`: the body's length before item `i`.
        let mut marks = Vec::with_capacity(items.len());
        for (index, message) in items.iter().enumerate() {
            let mark = body.len();
            render_item(format, &mut body, index, message, &opts);
            if body.len().saturating_add(HEAD_AND_CLOSE_RESERVE_BYTES) > room {
                body.truncate(mark);
                break;
            }
            marks.push(mark);
        }
        loop {
            let sent = marks.len();
            let next_cursor = items[..sent]
                .last()
                .map(|message| &message.id)
                .or(self.start.as_ref())
                .map(MessageId::to_string);
            render_close(
                format,
                &mut body,
                next_cursor.as_deref(),
                self.request.limit,
            );
            let mut head = BytesMut::new();
            encode_response_head(
                &mut head,
                &ResponseHead {
                    status: 200,
                    headers: &with_answer_headers(
                        &[
                            ("Content-Type", format.content_type()),
                            ("Cache-Control", "no-store"),
                            ("X-Request-Id", self.request_id.as_str()),
                        ],
                        self.answer_headers,
                    ),
                    body: BodyKind::Length(body.len()),
                    close: self.close,
                },
            );
            if let Some(permit) = budget.try_acquire(head.len() + body.len()) {
                body.prepend(head.freeze());
                return Some((body, sent, permit));
            }
            // Rare (a long cursor outgrew the reserve): one item fewer.
            let mark = marks.pop()?;
            body.truncate(mark);
        }
    }
}

/// What one poll asks for, checked.
struct Poll {
    format: crate::codec::batch::BatchFormat,
    limit: usize,
    cursor: Option<MessageId>,
}

impl Poll {
    fn from_request(
        head: &RequestHead,
        api: &Api,
        options: &HttpGetOptions,
    ) -> Result<Poll, DataError> {
        let format = negotiate(head.header("accept"))
            .map_err(|err| DataError::new(Kind::BadRequest, err.to_string()))?;
        let limit = match head.query_param("limit") {
            None => options.messages_limit_count,
            Some(text) => match digits_saturating(&text) {
                Some(n) if n >= 1 => n.min(options.messages_limit_count),
                _ => {
                    return Err(DataError::new(Kind::BadRequest, format!(
                        "query parameter 'limit' must be a whole number of at least 1 (values above messagesLimitCount, {}, are lowered to it), got '{text}'",
                        options.messages_limit_count
                    )))
                }
            },
        };
        let cursor = match head.query_param("cursor") {
            None => None,
            Some(text) if text.is_empty() => None,
            // Its status: a cursor can also be unreadable for now (503: the feed has not started).
            Some(text) => Some(api.endpoint.parse_cursor(&text).map_err(DataError::from)?),
        };
        Ok(Poll {
            format,
            limit,
            cursor,
        })
    }
}

/// A decimal number, saturating at `usize::MAX` (a huge `limit` just means "as many as allowed").
fn digits_saturating(text: &str) -> Option<usize> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<usize>().unwrap_or(usize::MAX))
}

/// Waits for up to `limit` messages until the poll's deadline (or gateway shutdown, or a live
/// apply that stops the API, which answers with what has arrived so far).
async fn collect(
    request: &Poll,
    queue: &OutboundQueue,
    options: &HttpGetOptions,
    shard: &Rc<Shard>,
    drain: &Drain,
    started: Instant,
) -> Vec<Message> {
    let mut open = PollGauge::new(&shard.metrics);
    let deadline = started + options.messages_limit_duration;
    let mut items = Vec::with_capacity(request.limit.min(1024));
    // One response holds at most `maxQueuedBytes` of payload, whatever the count allows.
    let max_bytes = shard.gateway.outbound.max_queued_bytes;
    let mut bytes = 0;
    let mut deadline_timer = std::pin::pin!(monoio::time::sleep_until(deadline));
    // Kept across passes, like the timer: one waiter slot per signal for the whole poll.
    let mut shutdown = std::pin::pin!(shard.shutdown.wait());
    let mut retired = std::pin::pin!(drain.retired(EntrypointKind::HttpGet));
    while items.len() < request.limit && bytes < max_bytes {
        monoio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = &mut retired => break,
            _ = &mut deadline_timer => break,
            ready = queue.ready() => match ready {
                Ok(()) => {
                    let before = items.len();
                    queue.drain_into(request.limit - items.len(), &mut items);
                    bytes += items[before..].iter().map(|m| m.payload.len()).sum::<usize>();
                    open.hold(items.len() - before);
                }
                Err(_end) => break,
            },
        }
    }
    items
}

/// Counts an open poll in `http_get_polls_open`, and the messages it collected in
/// `http_get_poll_messages_held`, while it lives.
struct PollGauge<'a> {
    metrics: &'a ShardMetrics,
    held: usize,
}

impl<'a> PollGauge<'a> {
    fn new(metrics: &'a ShardMetrics) -> Self {
        ShardMetrics::inc(&metrics.http_get_polls_open);
        PollGauge { metrics, held: 0 }
    }

    /// Counts `n` more collected messages.
    fn hold(&mut self, n: usize) {
        self.held += n;
        ShardMetrics::add(&self.metrics.http_get_poll_messages_held, n as u64);
    }
}

impl Drop for PollGauge<'_> {
    fn drop(&mut self) {
        ShardMetrics::sub(&self.metrics.http_get_polls_open, 1);
        ShardMetrics::sub(&self.metrics.http_get_poll_messages_held, self.held as u64);
    }
}

#[cfg(test)]
#[path = "http_get/tests.rs"]
mod tests;
