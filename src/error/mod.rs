//! Errors on the data path, and what each one means to a client.
//!
//! Every refusal or ending a client can get from an entrypoint is a [`DataError`]: a [`Kind`]
//! (what went wrong, a bounded set), the reason the client is shown (what to fix or when to come
//! back, never an address or foreign error text) and, for the log only, the details. Whose fault
//! it is ([`Fault`]) and how each entrypoint answers it (HTTP status and `Retry-After`, WebSocket
//! close code, SSE ending, log level, the `tidegate_errors_total` series) are decided in one
//! place, [`Kind::answer`] (`table.rs`); entrypoints never choose a status code themselves, so
//! GET, SSE, WebSocket and POST answer one error alike. `respond.rs` writes the answer.

mod convert;
mod counts;
mod respond;
mod table;

use std::borrow::Cow;
use std::fmt;

pub use counts::{render_prometheus as render_error_counts, ErrorCounts};
pub use respond::{answer, record_ending};
pub use table::{Answer, LogLevel, SseEnding};

/// Whose fault an error is: who has to act for the next attempt to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The request or the client's behaviour: it must change what it sends or how it reads.
    Client,
    /// The API's configuration does not allow what was asked: the operator (or a different
    /// request shape) fixes it.
    Configuration,
    /// The broker behind the endpoint is not there, not ready, or refused: retrying later may work.
    Broker,
    /// The gateway itself (busy, shutting down, the API being redeployed): retry, maybe elsewhere.
    Gateway,
}

impl Fault {
    /// The `fault` label of `tidegate_errors_total`.
    pub fn label(self) -> &'static str {
        match self {
            Fault::Client => "client",
            Fault::Configuration => "configuration",
            Fault::Broker => "broker",
            Fault::Gateway => "gateway",
        }
    }
}

/// What went wrong, as a bounded set (each one a `kind` label of `tidegate_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The request is malformed or lacks something (a bad `limit`, a missing subscription name,
    /// an unusable WebSocket upgrade).
    BadRequest,
    /// The resume cursor is not a position of this endpoint.
    InvalidCursor,
    /// The resume cursor is past the newest message.
    CursorAhead,
    /// The resume cursor's next message is no longer retained.
    CursorGone,
    /// The resume cursor belongs to an earlier stream of the endpoint.
    CursorStale,
    /// The request names a topic the endpoint cannot write to.
    BadTopic,
    /// The message can never fit (the topic's retention, a WebSocket message bound).
    TooLarge,
    /// The API's endpoint does not do what was asked (publish to a Mock, subscribe to a
    /// producer-only endpoint).
    NotSupported,
    /// The broker is not connected, not ready or not confirming in time; or a bound on the
    /// endpoint's broker-side resources is reached.
    BrokerUnavailable,
    /// The broker refused the message.
    BrokerRefused,
    /// The gateway has no room for the reply now (the shard's GET reply budget).
    Busy,
    /// The API was stopped or redeployed by a live apply while the request was under way.
    Retired,
    /// The gateway is shutting down.
    ShuttingDown,
    /// A stream's client did not keep up with its messages (`slowClientPolicy`).
    SlowClient,
    /// A stream's client stopped reading (`streamStallMs`).
    ClientStalled,
    /// The stream's API key or subscription stopped being valid.
    AccessEnded,
    /// A WebSocket client's message was not finished in time (`wsMessageReadMs`).
    MessageDeadline,
}

impl Kind {
    /// Every kind, in the order of the metric's series.
    pub const ALL: [Kind; 17] = [
        Kind::BadRequest,
        Kind::InvalidCursor,
        Kind::CursorAhead,
        Kind::CursorGone,
        Kind::CursorStale,
        Kind::BadTopic,
        Kind::TooLarge,
        Kind::NotSupported,
        Kind::BrokerUnavailable,
        Kind::BrokerRefused,
        Kind::Busy,
        Kind::Retired,
        Kind::ShuttingDown,
        Kind::SlowClient,
        Kind::ClientStalled,
        Kind::AccessEnded,
        Kind::MessageDeadline,
    ];

    /// Its index in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whose fault it is.
    pub fn fault(self) -> Fault {
        self.answer().fault
    }
}

/// An error on the data path: its kind, the client's reason and the log's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    kind: Kind,
    reason: Cow<'static, str>,
    detail: Option<String>,
}

impl DataError {
    /// An error whose `reason` the client is shown: it must hold no internals (no address, no
    /// library or broker error text).
    pub fn new(kind: Kind, reason: impl Into<Cow<'static, str>>) -> DataError {
        DataError {
            kind,
            reason: reason.into(),
            detail: None,
        }
    }

    /// Adds what the operator needs to find the cause (logged, never sent).
    pub fn with_detail(mut self, detail: Option<&str>) -> DataError {
        self.detail = detail.map(str::to_owned);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whose fault it is.
    pub fn fault(&self) -> Fault {
        self.kind.fault()
    }

    /// How every entrypoint answers it.
    pub fn answer(&self) -> Answer {
        self.kind.answer()
    }

    /// What the client is shown.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The details for the log, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests;
