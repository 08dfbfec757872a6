//! The connection task's timing decisions, sans-IO (the task in `connection.rs` only sleeps and
//! acts on them): how long to wait before reconnecting and when to give up, when to ping and
//! when the broker's silence means it is gone.

use std::time::Duration;

use monoio::time::Instant;

use crate::config::MqttOptions;

/// Reconnect pacing: the pause after each failure doubles from `reconnectBackoffMs` up to
/// `reconnectBackoffMaxMs`; a connection that got its CONNACK starts both over; after
/// `reconnectAttempts` failed reconnects in a row the endpoint gives up.
#[derive(Debug)]
pub(super) struct Reconnect {
    attempts: Option<u32>,
    first: Duration,
    max: Duration,
    /// Reconnects made since the last connection that got its CONNACK.
    failures: u32,
    backoff: Duration,
}

/// What to do after a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterLoss {
    /// Wait this long, then connect again.
    Wait(Duration),
    /// `reconnectAttempts` ran out: stop until the endpoint is used again.
    GiveUp,
}

impl Reconnect {
    pub(super) fn new(options: &MqttOptions) -> Reconnect {
        Reconnect {
            attempts: options.reconnect_attempts,
            first: options.reconnect_backoff,
            max: options.reconnect_backoff_max,
            failures: 0,
            backoff: options.reconnect_backoff,
        }
    }

    /// A connection ended; `connected` says whether it had got its CONNACK.
    pub(super) fn after_loss(&mut self, connected: bool) -> AfterLoss {
        if connected {
            self.failures = 0;
            self.backoff = self.first;
        }
        if self.attempts.is_some_and(|max| self.failures >= max) {
            return AfterLoss::GiveUp;
        }
        self.failures += 1;
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.max);
        AfterLoss::Wait(wait)
    }
}

/// Keep-alive on a connected session: a PINGREQ every `keepAliveSeconds`; when the next one is
/// due and nothing was heard since the last one, the broker is gone.
#[derive(Debug)]
pub(super) struct KeepAlive {
    interval: Duration,
    next_ping: Instant,
    ping_sent: Option<Instant>,
}

/// What the keep-alive timer says when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PingStep {
    /// Send PINGREQ.
    Ping,
    /// The last PINGREQ went unanswered for a whole interval: the connection is lost.
    Unanswered,
}

impl KeepAlive {
    /// Keep-alive for a session connected at `now`; an `interval` of zero turns it off.
    pub(super) fn new(interval: Duration, now: Instant) -> KeepAlive {
        KeepAlive {
            interval,
            next_ping: now + interval,
            ping_sent: None,
        }
    }

    /// When the timer fires next; `None` when keep-alive is off.
    pub(super) fn next_ping(&self) -> Option<Instant> {
        (!self.interval.is_zero()).then_some(self.next_ping)
    }

    /// The timer fired at `now`; `last_heard` is when the broker last sent anything.
    pub(super) fn on_timer(&mut self, now: Instant, last_heard: Instant) -> PingStep {
        if self.ping_sent.is_some_and(|sent| last_heard < sent) {
            return PingStep::Unanswered;
        }
        self.ping_sent = Some(now);
        self.next_ping = now + self.interval;
        PingStep::Ping
    }
}

#[cfg(test)]
#[path = "upkeep/tests.rs"]
mod tests;
