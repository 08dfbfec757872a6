//! What an open WebSocket session or SSE stream holds besides its socket, awake or hibernating
//! (`Live`), and the events from outside its own traffic that end it (`ended_by`).

use std::rc::Rc;

use crate::delivery::OutboundQueue;
use crate::deployed::{Api, Drain};
use crate::endpoint::Subscription;
use crate::error::Kind;
use crate::observe::api_metrics::EntrypointKind;
use crate::security::live::StreamWatch;
use crate::shard::{Lifeline, LocalSignal, Shard};

use super::hibernation::{InGauge, Pick};

/// What a stream holds besides its socket and writer state. Dropped in field order: the
/// lifeline (the connection's slot and access-log record) last.
pub(super) struct Live {
    pub(super) queue: Rc<OutboundQueue>,
    subscription: Option<Subscription>,
    pub(super) watch: Rc<StreamWatch>,
    pub(super) api: Rc<Api>,
    pub(super) shard: Rc<Shard>,
    /// In the kind's open gauge until the stream closes, however it ends (its task dropped
    /// while it sleeps included).
    open: Option<InGauge>,
    #[expect(
        dead_code,
        reason = "held, never read: what the connection keeps alive"
    )]
    lifeline: Lifeline,
}

/// The parts of a stream that has just opened (`Live::opened`).
pub(super) struct Parts {
    pub(super) queue: Rc<OutboundQueue>,
    pub(super) subscription: Option<Subscription>,
    pub(super) watch: Rc<StreamWatch>,
    pub(super) api: Rc<Api>,
    pub(super) shard: Rc<Shard>,
    pub(super) lifeline: Lifeline,
}

impl Live {
    /// A stream that has opened, counted in its kind's `open` gauge from now.
    pub(super) fn opened(parts: Parts, open: Pick) -> Live {
        Live {
            open: Some(InGauge::enter(&parts.shard.metrics, open)),
            queue: parts.queue,
            subscription: parts.subscription,
            watch: parts.watch,
            api: parts.api,
            shard: parts.shard,
            lifeline: parts.lifeline,
        }
    }

    /// The stream is closing: it is unsubscribed and no longer counted open, though its last
    /// words (a close frame, a `goaway`) may still be on their way.
    pub(super) fn closing(&mut self) {
        drop(self.subscription.take());
        drop(self.open.take());
    }
}

/// What ended a stream from outside its own traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The client went away: nothing more can be sent.
    PeerGone,
    /// The gateway is shutting down.
    ShuttingDown,
    /// The stream's credential (API key, subscription, token) ended.
    AccessEnded,
    /// The stream's API version stopped serving this entrypoint.
    Retired,
}

impl End {
    /// The error kind and the reason the client is told; `None` for a client that is gone.
    pub(super) fn error(self, watch: &StreamWatch, drain: &Drain) -> Option<(Kind, &'static str)> {
        match self {
            End::PeerGone => None,
            End::ShuttingDown => Some((Kind::ShuttingDown, "gateway shutting down")),
            End::AccessEnded => Some((Kind::AccessEnded, watch.reason())),
            End::Retired => Some((Kind::Retired, drain.reason())),
        }
    }
}

/// Resolves with the first of a stream's end events: its client gone (`peer_closed`), the
/// gateway shutting down, its credential ended, its API version retired for `kind`. A writer
/// loop makes it once and polls it on every pass: made again per pass, it would take and give
/// back a waiter slot of each of those signals per message.
pub(super) async fn ended_by(
    peer_closed: &LocalSignal,
    shard: &Shard,
    watch: &StreamWatch,
    drain: &Drain,
    kind: EntrypointKind,
) -> End {
    monoio::select! {
        biased;
        // First: a client that is gone is told nothing.
        _ = peer_closed.wait() => End::PeerGone,
        _ = shard.shutdown.wait() => End::ShuttingDown,
        _ = watch.ended() => End::AccessEnded,
        _ = drain.retired(kind) => End::Retired,
    }
}
