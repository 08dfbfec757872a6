//! The one place where a kind of error becomes an answer: its fault, HTTP status, `Retry-After`,
//! WebSocket close code, SSE ending and log level. `docs/errors.md` is this table for clients.

use super::{Fault, Kind};

/// Seconds a client is told to wait (`Retry-After`) before retrying a 503: the conditions behind
/// them (a feed starting, a broker reconnecting, a redeploy, a full reply budget) pass in about
/// that time, and a client that retries sooner only adds load.
pub(crate) const RETRY_AFTER_SECONDS: u32 = crate::deployed::drain::RETRY_AFTER_SECONDS;

/// How an SSE client learns of the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEnding {
    /// Before the stream opens: the HTTP status, like any GET (EventSource does not reconnect
    /// after a 4xx; after a 503 the application decides).
    Status,
    /// The open stream ends with `event: goaway`, whose `id:` is the position to resume from
    /// (EventSource sends it back as `Last-Event-ID` when it reconnects).
    Goaway,
}

/// The log level an occurrence is logged at: a client's mistake is no operator's concern
/// (debug), the operator's own settings refusing a request is worth knowing (info), a broker
/// failing is (warn). No kind here is an `error`: the gateway's states listed (busy, shutting
/// down, redeploying) are not failures; real failures (a panicked task, a shard down) have their
/// own log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// A client's own mistake.
    Debug,
    /// The operator's settings refused the request.
    Info,
    /// A broker failed.
    Warn,
}

/// How every entrypoint answers one kind of error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Whose fault it is.
    pub fault: Fault,
    /// The `kind` label of `tidegate_errors_total`.
    pub label: &'static str,
    /// The HTTP status when it refuses a request (a GET, a POST, an SSE request, a WebSocket
    /// upgrade). `None`: it only ever ends a stream that is already open.
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with that status (every 503).
    pub retry_after: Option<u32>,
    /// The WebSocket close code when it ends an open session (RFC 6455 §7.4.1): 1001 going away,
    /// 1008 policy violation (do not retry as is), 1009 too big, 1013 try again later.
    pub close_code: u16,
    /// How an SSE client learns of it.
    pub sse: SseEnding,
    /// What its log line is logged at.
    pub log: LogLevel,
}

impl Answer {
    /// Whether the same request can succeed later unchanged (the client should retry, with the
    /// same cursor): a 503, a close 1001 / 1013.
    pub fn retryable(&self) -> bool {
        self.retry_after.is_some() || matches!(self.close_code, 1001 | 1013)
    }
}

const fn row(
    fault: Fault,
    label: &'static str,
    status: Option<u16>,
    close_code: u16,
    sse: SseEnding,
    log: LogLevel,
) -> Answer {
    let retry_after = match status {
        Some(503) => Some(RETRY_AFTER_SECONDS),
        _ => None,
    };
    Answer {
        fault,
        label,
        status,
        retry_after,
        close_code,
        sse,
        log,
    }
}

impl Kind {
    /// How every entrypoint answers this kind.
    pub const fn answer(self) -> Answer {
        use Fault::{Broker, Client, Configuration, Gateway};
        use LogLevel::{Debug, Info, Warn};
        use SseEnding::{Goaway, Status};
        match self {
            Kind::BadRequest => row(Client, "bad_request", Some(400), 1008, Status, Debug),
            Kind::InvalidCursor => row(Client, "invalid_cursor", Some(400), 1008, Status, Debug),
            Kind::CursorAhead => row(Client, "cursor_ahead", Some(400), 1008, Status, Debug),
            Kind::CursorGone => row(Client, "cursor_gone", Some(410), 1008, Status, Debug),
            Kind::CursorStale => row(Client, "cursor_stale", Some(410), 1008, Status, Debug),
            Kind::BadTopic => row(Client, "bad_topic", Some(400), 1008, Status, Debug),
            Kind::TooLarge => row(Client, "too_large", Some(413), 1009, Status, Debug),
            Kind::NotSupported => row(
                Configuration,
                "not_supported",
                Some(405),
                1008,
                Status,
                Info,
            ),
            Kind::BrokerUnavailable => {
                row(Broker, "broker_unavailable", Some(503), 1013, Status, Warn)
            }
            // A broker's refusal of one message: sending it again as is will be refused again.
            Kind::BrokerRefused => row(Broker, "broker_refused", Some(502), 1008, Status, Warn),
            // Under load every refused poll would log: the metric counts them, info tells.
            Kind::Busy => row(Gateway, "busy", Some(503), 1013, Status, Info),
            Kind::Retired => row(Gateway, "retired", Some(503), 1013, Goaway, Info),
            Kind::ShuttingDown => row(Gateway, "shutting_down", Some(503), 1001, Goaway, Info),
            Kind::SlowClient => row(Client, "slow_client", None, 1013, Goaway, Debug),
            Kind::ClientStalled => row(Client, "client_stalled", None, 1013, Goaway, Debug),
            Kind::AccessEnded => row(Client, "access_ended", None, 1008, Goaway, Info),
            Kind::MessageDeadline => row(Client, "message_deadline", None, 1008, Goaway, Debug),
        }
    }
}
