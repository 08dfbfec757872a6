//! Publisher sessions: HTTP POST (pipelined on a keep-alive connection, one message per
//! request, each acknowledged by a 2xx) and WebSocket publish (one text frame per message, no
//! acknowledgement). Messages are written when the open-loop [`Schedule`] says they are due.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tidegate::codec::ws::{encode_client_frame, ClientFrameDecoder, Opcode, WsEvent, WsLimits};

use std::time::{Duration, Instant};

use crate::engine::{Engine, Session, SessionError};
use crate::error::LoadError;
use crate::http::{put_post, put_ws_upgrade_with, take_response_head, unexpected, ResponseHead};
use crate::latency::Latency;
use crate::recorder::Progress;
use crate::recorder::Window;
use crate::run::{Workload, DRAIN_MAX};
use crate::schedule::{Clock, Schedule};
use crate::stamp::Stamp;

/// How publishers send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PubProtocol {
    Post,
    Ws,
}

/// What every publisher of a run shares; the publisher thread's context.
pub struct PubCtx {
    pub clock: Clock,
    pub schedule: Schedule,
    pub protocol: PubProtocol,
    pub path: Arc<str>,
    pub host: Arc<str>,
    /// Extra header lines of every request, each ending in CRLF (`--header`).
    pub headers: Arc<str>,
    pub size_bytes: usize,
    /// POST: most requests awaiting their answer on one connection; WebSocket: most messages'
    /// worth of unwritten bytes. Beyond it due messages wait (keeping their due times).
    pub max_in_flight: u64,
    pub progress: Arc<Progress>,
    /// Reused payload buffer.
    pub text: String,
    /// How late the harness itself wrote each message (actual − intended): the floor under
    /// every latency it reports.
    pub send_lag: Latency,
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    /// WebSocket: upgrade sent, waiting for 101.
    Handshake,
    Ready,
    Closed,
}

/// One publisher connection and its counts.
pub struct Publisher {
    pub index: u32,
    phase: Phase,
    next_seq: u64,
    /// POST requests sent and not yet answered.
    in_flight: u64,
    pub sent: u64,
    /// POST: answered 2xx. WebSocket: equal to `sent` (no acknowledgements exist).
    pub acknowledged: u64,
    /// POST: answered with another status.
    pub refused: u64,
    pub error: Option<String>,
    /// The frame decoder of a WebSocket publisher (for pings and the close).
    ws: Option<ClientFrameDecoder>,
    /// POST: the answer whose body is still being skipped.
    body_left: Option<(ResponseHead, usize)>,
    /// WebSocket: when the close frame went out (after the last message). The publisher then
    /// waits for the server to close, so that its last messages are not lost to a reset: a
    /// socket closed with unread data (nchan answers every publish) sends RST, and the server
    /// may discard what it had not read yet.
    close_sent_ns: Option<u64>,
}

/// How long a WebSocket publisher waits for the server to answer its close.
const CLOSE_GRACE_NS: u64 = 2_000_000_000;

impl Publisher {
    pub fn new(index: u32) -> Publisher {
        Publisher {
            index,
            phase: Phase::Connecting,
            next_seq: 0,
            in_flight: 0,
            sent: 0,
            acknowledged: 0,
            refused: 0,
            error: None,
            ws: None,
            body_left: None,
            close_sent_ns: None,
        }
    }

    /// Whether this publisher has nothing more to send or wait for (a WebSocket publisher: its
    /// close answered, or not answered within [`CLOSE_GRACE_NS`]).
    pub fn finished(&self, schedule: &Schedule, now_ns: u64) -> bool {
        let done = !schedule.has(self.index, self.next_seq) && self.in_flight == 0;
        match (self.ws.is_some(), self.close_sent_ns) {
            _ if self.phase == Phase::Closed => true,
            (false, _) => done,
            (true, Some(sent_ns)) => now_ns.saturating_sub(sent_ns) > CLOSE_GRACE_NS,
            (true, None) => false,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// When its next message is due, if it has one.
    pub fn next_due_ns(&self, schedule: &Schedule) -> Option<u64> {
        schedule
            .has(self.index, self.next_seq)
            .then(|| schedule.due_ns(self.index, self.next_seq))
    }

    /// Appends every message that is due by now (within the in-flight bound) to `out`.
    pub fn write_due(&mut self, out: &mut BytesMut, ctx: &mut PubCtx) {
        if self.phase != Phase::Ready {
            return;
        }
        let now_ns = ctx.clock.now_ns();
        let mut written = 0;
        while let Some(due_ns) = self.next_due_ns(&ctx.schedule) {
            let unwritten_bytes = out.len() as u64;
            let ws_backlogged = ctx.protocol == PubProtocol::Ws
                && unwritten_bytes >= ctx.max_in_flight * ctx.size_bytes as u64;
            if due_ns > now_ns || self.in_flight >= ctx.max_in_flight || ws_backlogged {
                break;
            }
            let stamp = Stamp {
                publisher: self.index,
                seq: self.next_seq,
                intended_ns: due_ns,
            };
            stamp.encode(ctx.size_bytes, &mut ctx.text);
            ctx.send_lag.record_us((now_ns - due_ns) / 1_000);
            match ctx.protocol {
                PubProtocol::Post => {
                    put_post(out, &ctx.path, &ctx.host, &ctx.headers, ctx.text.as_bytes());
                    self.in_flight += 1;
                }
                PubProtocol::Ws => {
                    let mask = (self.next_seq as u32).to_le_bytes();
                    encode_client_frame(out, Opcode::Text, true, ctx.text.as_bytes(), mask);
                    self.acknowledged += 1;
                }
            }
            self.next_seq += 1;
            self.sent += 1;
            written += 1;
        }
        ctx.progress.published.fetch_add(written, Ordering::Relaxed);
        if self.ws.is_some()
            && self.close_sent_ns.is_none()
            && !ctx.schedule.has(self.index, self.next_seq)
        {
            let mask = (self.next_seq as u32).to_le_bytes();
            encode_client_frame(out, Opcode::Close, true, &1000u16.to_be_bytes(), mask);
            self.close_sent_ns = Some(now_ns);
        }
        if ctx.protocol == PubProtocol::Ws {
            ctx.progress
                .acknowledged
                .fetch_add(written, Ordering::Relaxed);
        }
    }

    fn receive_answers(
        &mut self,
        inbound: &mut BytesMut,
        ctx: &mut PubCtx,
    ) -> Result<(), SessionError> {
        loop {
            if let Some((head, left)) = self.body_left.take() {
                let take = left.min(inbound.len());
                if head.status >= 300 && self.error.is_none() {
                    self.error = Some(unexpected(&head, &inbound[..take]).to_string());
                }
                inbound.advance(take);
                if take < left {
                    self.body_left = Some((head, left - take));
                    return Ok(());
                }
                continue;
            }
            let Some(head) = take_response_head(inbound)? else {
                return Ok(());
            };
            if head.chunked {
                return Err(SessionError::Protocol(
                    "chunked POST answers are not supported".into(),
                ));
            }
            self.in_flight = self.in_flight.saturating_sub(1);
            if (200..300).contains(&head.status) {
                self.acknowledged += 1;
                ctx.progress.acknowledged.fetch_add(1, Ordering::Relaxed);
            } else {
                self.refused += 1;
            }
            self.body_left = Some((head, head.content_length.unwrap_or(0)));
        }
    }

    fn receive_frames(
        &mut self,
        inbound: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<(), SessionError> {
        let Some(decoder) = self.ws.as_mut() else {
            return Ok(());
        };
        loop {
            match decoder
                .decode(inbound)
                .map_err(|err| SessionError::Protocol(err.to_string()))?
            {
                None => return Ok(()),
                Some(WsEvent::Ping(payload)) => {
                    encode_client_frame(out, Opcode::Pong, true, &payload, [9, 8, 7, 6])
                }
                Some(WsEvent::Close(reason)) => {
                    let (code, text) = reason.unwrap_or((1005, String::new()));
                    return Err(SessionError::Closed(format!(
                        "WebSocket close {code} {text}"
                    )));
                }
                Some(_) => {}
            }
        }
    }
}

impl Session for Publisher {
    type Ctx = PubCtx;

    fn start(&mut self, out: &mut BytesMut, ctx: &mut PubCtx) {
        match ctx.protocol {
            PubProtocol::Post => self.phase = Phase::Ready,
            PubProtocol::Ws => {
                put_ws_upgrade_with(out, &ctx.path, &ctx.host, &ctx.headers);
                self.phase = Phase::Handshake;
            }
        }
    }

    fn receive(
        &mut self,
        inbound: &mut BytesMut,
        out: &mut BytesMut,
        ctx: &mut PubCtx,
    ) -> Result<(), SessionError> {
        if self.phase == Phase::Handshake {
            let Some(head) = take_response_head(inbound)? else {
                return Ok(());
            };
            if head.status != 101 {
                return Err(unexpected(&head, inbound));
            }
            self.phase = Phase::Ready;
            self.ws = Some(ClientFrameDecoder::new(WsLimits {
                max_frame_bytes: 1 << 20,
                max_message_bytes: 1 << 20,
            }));
        }
        match ctx.protocol {
            PubProtocol::Post => self.receive_answers(inbound, ctx),
            PubProtocol::Ws => self.receive_frames(inbound, out),
        }
    }

    fn closed(&mut self, error: &SessionError, ctx: &mut PubCtx) {
        self.phase = Phase::Closed;
        if self.close_sent_ns.is_some() {
            // The end of the close handshake we started.
            return;
        }
        self.error.get_or_insert_with(|| error.to_string());
        ctx.progress
            .connections_failed
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// What the publisher thread hands back: its publishers and the harness's send lag.
pub type Published = Result<(Vec<Publisher>, Latency), LoadError>;

/// The publisher thread: connect, then publish on schedule until every message is sent and
/// answered (or [`DRAIN_MAX`] after the end).
pub fn publish_on_schedule(
    w: &Workload,
    clock: Clock,
    window: &Window,
    progress: Arc<Progress>,
) -> Published {
    let sessions = (0..w.publishers).map(Publisher::new).collect();
    let mut engine = Engine::new(w.target, w.source_ips, sessions)
        .map_err(|err| LoadError::Setup(format!("publishers: {err}")))?;
    let mut ctx = PubCtx {
        clock,
        schedule: Schedule::new(
            u64::MAX / 4,
            w.warmup,
            w.duration,
            w.rate_per_s,
            w.publishers,
        ),
        protocol: w.publish,
        path: w.pub_path.as_str().into(),
        host: w.target.to_string().into(),
        headers: crate::http::header_lines(&w.headers)
            .map_err(LoadError::Options)?
            .into(),
        size_bytes: w.size_bytes,
        max_in_flight: w.max_in_flight,
        progress,
        text: String::new(),
        send_lag: Latency::new(),
    };
    let connect_by = Instant::now() + Duration::from_secs(10);
    while !engine.sessions().all(|p| p.is_ready() || p.is_closed()) {
        if Instant::now() > connect_by {
            return Err(LoadError::Setup(
                "publishers not connected after 10 s".into(),
            ));
        }
        engine
            .turn(Duration::from_millis(5), &mut ctx)
            .map_err(|err| LoadError::Setup(err.to_string()))?;
    }
    if let Some(p) = engine.sessions().find(|p| p.is_closed()) {
        return Err(LoadError::Setup(format!(
            "publisher {} failed: {}",
            p.index,
            p.error.as_deref().unwrap_or("?")
        )));
    }
    ctx.schedule = Schedule::new(
        clock.now_ns() + 20_000_000,
        w.warmup,
        w.duration,
        w.rate_per_s,
        w.publishers,
    );
    window.set(ctx.schedule.warmup_end_ns, ctx.schedule.end_ns);
    let give_up_ns = ctx.schedule.end_ns + DRAIN_MAX.as_nanos() as u64;
    loop {
        engine.pump(&mut ctx, |publisher, out, ctx| {
            publisher.write_due(out, ctx)
        });
        let now_ns = clock.now_ns();
        if engine.sessions().all(|p| p.finished(&ctx.schedule, now_ns)) {
            break;
        }
        if now_ns > give_up_ns {
            break;
        }
        let next_due = engine
            .sessions()
            .filter_map(|p| p.next_due_ns(&ctx.schedule))
            .min();
        // Still due after the pump means blocked on the in-flight bound: an answer frees it.
        let wait_ns = next_due.map_or(10_000_000, |due| match due.checked_sub(now_ns) {
            Some(ahead_ns) if ahead_ns > 0 => ahead_ns.min(10_000_000),
            _ => 1_000_000,
        });
        engine
            .turn(Duration::from_nanos(wait_ns), &mut ctx)
            .map_err(|err| LoadError::Setup(err.to_string()))?;
    }
    let send_lag = std::mem::take(&mut ctx.send_lag);
    Ok((engine.into_sessions(), send_lag))
}
