//! Subscriber sessions: WebSocket, SSE and HTTP GET polling, each a sans-IO state machine that
//! hands every delivered payload to the thread's [`Recorder`].

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tidegate::codec::sse::{ParsedEvent, SseParser};
use tidegate::codec::ws::{encode_client_frame, ClientFrameDecoder, Opcode, WsEvent, WsLimits};

use crate::chunked::Dechunker;
use crate::engine::{Session, SessionError};
use crate::http::{
    put_get, put_ws_upgrade_with, take_response_head, unexpected, ResponseHead, DEFLATE_OFFER,
};
use crate::recorder::Recorder;
use crate::sequence::SeqTracker;

/// How subscribers receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubProtocol {
    Ws,
    Sse,
    Get,
    /// Directly at an MQTT broker: a QoS 1 subscription to the topic named by the path (the
    /// broker's own fan-out, for comparison).
    Mqtt,
}

/// Frames larger than this from the server are a protocol error (ours are small).
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// What every subscriber of a run shares.
#[derive(Clone, Debug)]
pub struct SubTarget {
    pub protocol: SubProtocol,
    pub path: Arc<str>,
    pub host: Arc<str>,
    /// HTTP GET: the `limit` query parameter of each poll.
    pub get_limit: usize,
    /// WebSocket: offer permessage-deflate (only for idle connections: this client does not
    /// inflate).
    pub offer_deflate: bool,
    /// Extra header lines of every request, each ending in CRLF (`--header`).
    pub headers: Arc<str>,
}

enum Phase {
    /// Waiting for the response head (the handshake, or a GET poll's answer).
    Head,
    /// WebSocket frames.
    Ws(ClientFrameDecoder),
    /// An SSE stream; `None` when the body is not chunked.
    Sse(Option<Dechunker>, SseParser),
    /// A GET poll's body of this many bytes.
    GetBody(usize),
    /// MQTT packets.
    Mqtt,
    Closed,
}

/// One subscriber connection.
pub struct Subscriber {
    target: SubTarget,
    phase: Phase,
    /// One per publisher: this subscriber's view of each publisher's sequence.
    pub trackers: Vec<SeqTracker>,
    ready: bool,
    /// GET: the cursor to resume from on the next poll.
    cursor: Option<String>,
}

impl Subscriber {
    pub fn new(target: SubTarget, publishers: u32) -> Subscriber {
        Subscriber {
            target,
            phase: Phase::Head,
            trackers: vec![SeqTracker::default(); publishers as usize],
            ready: false,
            cursor: None,
        }
    }

    fn mark_ready(&mut self, ctx: &Recorder) {
        if !std::mem::replace(&mut self.ready, true) {
            ctx.progress()
                .subscribers_ready
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll(&self, out: &mut BytesMut) {
        let mut query = format!("{}?limit={}", self.target.path, self.target.get_limit);
        if let Some(cursor) = &self.cursor {
            query.push_str("&cursor=");
            query.push_str(cursor);
        }
        put_get(
            out,
            &query,
            &self.target.host,
            "application/json",
            &self.target.headers,
        );
    }

    fn on_head(
        &mut self,
        head: ResponseHead,
        inbound: &BytesMut,
        ctx: &Recorder,
    ) -> Result<(), SessionError> {
        let (expected, phase) = match self.target.protocol {
            SubProtocol::Ws => (
                101,
                Phase::Ws(ClientFrameDecoder::new(WsLimits {
                    max_frame_bytes: MAX_FRAME_BYTES,
                    max_message_bytes: MAX_FRAME_BYTES,
                })),
            ),
            SubProtocol::Sse => (
                200,
                Phase::Sse(head.chunked.then(Dechunker::default), SseParser::new()),
            ),
            SubProtocol::Get => (200, Phase::GetBody(head.content_length.unwrap_or(0))),
            SubProtocol::Mqtt => {
                return Err(SessionError::Protocol(
                    "an MQTT broker answered with HTTP".into(),
                ))
            }
        };
        if head.status != expected {
            return Err(unexpected(&head, inbound));
        }
        if self.target.protocol != SubProtocol::Get {
            self.mark_ready(ctx);
        }
        self.phase = phase;
        Ok(())
    }

    fn receive_ws(
        decoder: &mut ClientFrameDecoder,
        trackers: &mut [SeqTracker],
        inbound: &mut BytesMut,
        out: &mut BytesMut,
        ctx: &mut Recorder,
    ) -> Result<(), SessionError> {
        loop {
            let event = decoder
                .decode(inbound)
                .map_err(|err| SessionError::Protocol(err.to_string()))?;
            match event {
                None => return Ok(()),
                Some(WsEvent::Text(payload) | WsEvent::Binary(payload)) => {
                    ctx.deliver(trackers, &payload)
                }
                Some(WsEvent::Ping(payload)) => {
                    encode_client_frame(out, Opcode::Pong, true, &payload, [1, 2, 3, 4])
                }
                Some(WsEvent::Pong(_)) => {}
                Some(WsEvent::Close(reason)) => {
                    let (code, text) = reason.unwrap_or((1005, String::new()));
                    return Err(SessionError::Closed(format!(
                        "WebSocket close {code} {text}"
                    )));
                }
            }
        }
    }

    fn receive_sse(
        dechunker: &mut Option<Dechunker>,
        parser: &mut SseParser,
        trackers: &mut [SeqTracker],
        inbound: &mut BytesMut,
        ctx: &mut Recorder,
    ) -> Result<(), SessionError> {
        let mut data = std::mem::take(&mut ctx.scratch);
        data.clear();
        let ended = match dechunker {
            Some(dechunker) => dechunker
                .decode(inbound, &mut data)
                .map_err(|err| SessionError::Protocol(err.to_string()))?,
            None => {
                data.extend_from_slice(inbound);
                inbound.clear();
                false
            }
        };
        let mut events: Vec<ParsedEvent> = Vec::new();
        parser.feed(&data, &mut events);
        ctx.scratch = data;
        for event in &events {
            match event.event_type.as_str() {
                "message" => ctx.deliver(trackers, event.data.as_bytes()),
                "goaway" => return Err(SessionError::Closed(format!("SSE goaway {}", event.data))),
                _ => {}
            }
        }
        if ended {
            return Err(SessionError::Closed("SSE stream ended".into()));
        }
        Ok(())
    }

    /// Handles a complete GET poll body and sends the next poll.
    fn receive_batch(
        &mut self,
        body: &[u8],
        out: &mut BytesMut,
        ctx: &mut Recorder,
    ) -> Result<(), SessionError> {
        let batch: Batch<'_> = serde_json::from_slice(body)
            .map_err(|err| SessionError::Protocol(format!("GET body is not a batch: {err}")))?;
        for item in &batch.items {
            ctx.deliver(&mut self.trackers, item.content.as_bytes());
        }
        if let Some(next) = batch.pagination.next_cursor {
            self.cursor = Some(next.into_owned());
        }
        self.mark_ready(ctx);
        self.phase = Phase::Head;
        self.poll(out);
        Ok(())
    }
}

/// A GET poll's JSON answer (only the fields the harness reads).
#[derive(serde::Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    items: Vec<Item<'a>>,
    #[serde(borrow)]
    pagination: Pagination<'a>,
}

#[derive(serde::Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct Pagination<'a> {
    #[serde(rename = "nextCursor", borrow, default)]
    next_cursor: Option<Cow<'a, str>>,
}

impl Session for Subscriber {
    type Ctx = Recorder;

    fn start(&mut self, out: &mut BytesMut, _ctx: &mut Recorder) {
        match self.target.protocol {
            SubProtocol::Ws => {
                let deflate = if self.target.offer_deflate {
                    DEFLATE_OFFER
                } else {
                    ""
                };
                let extra = format!("{}{deflate}", self.target.headers);
                put_ws_upgrade_with(out, &self.target.path, &self.target.host, &extra)
            }
            SubProtocol::Sse => put_get(
                out,
                &self.target.path,
                &self.target.host,
                "text/event-stream",
                &self.target.headers,
            ),
            SubProtocol::Get => self.poll(out),
            SubProtocol::Mqtt => {
                let topic = self.target.path.trim_start_matches('/');
                crate::mqtt_client::put_connect_subscribe(out, topic);
                self.phase = Phase::Mqtt;
            }
        }
    }

    fn receive(
        &mut self,
        inbound: &mut BytesMut,
        out: &mut BytesMut,
        ctx: &mut Recorder,
    ) -> Result<(), SessionError> {
        loop {
            match &mut self.phase {
                Phase::Head => match take_response_head(inbound)? {
                    None => return Ok(()),
                    Some(head) => self.on_head(head, inbound, ctx)?,
                },
                Phase::Ws(decoder) => {
                    return Self::receive_ws(decoder, &mut self.trackers, inbound, out, ctx)
                }
                Phase::Sse(dechunker, parser) => {
                    return Self::receive_sse(dechunker, parser, &mut self.trackers, inbound, ctx)
                }
                Phase::GetBody(len) => {
                    let len = *len;
                    if inbound.len() < len {
                        return Ok(());
                    }
                    let body = inbound.split_to(len);
                    self.receive_batch(&body, out, ctx)?;
                }
                Phase::Mqtt => {
                    let subscribed =
                        crate::mqtt_client::receive(&mut self.trackers, inbound, out, ctx)?;
                    if subscribed {
                        self.mark_ready(ctx);
                    }
                    return Ok(());
                }
                Phase::Closed => {
                    inbound.advance(inbound.len());
                    return Ok(());
                }
            }
        }
    }

    fn closed(&mut self, error: &SessionError, ctx: &mut Recorder) {
        self.phase = Phase::Closed;
        ctx.count_error(error.to_string());
    }
}

impl Subscriber {
    /// Whether it ever became ready (its losses count only then).
    pub fn was_ready(&self) -> bool {
        self.ready
    }
}
