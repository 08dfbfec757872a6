//! When a stream looks at whether it has been quiet enough to hibernate (WebSocket sessions,
//! `websocket::hibernate`; SSE streams, `sse::hibernate`).

use std::time::Duration;

use monoio::time::Instant;

use crate::shard::{Alarm, Alarms};

/// When a stream looks at whether it has been quiet: armed at the start of a quiet spell, the
/// stream hibernates if its writer made no other pass and its reader read nothing since. On the
/// shard's `Alarms` (a monoio timer would add 640 bytes to every awake session).
pub(super) struct Quiet<'a> {
    alarms: &'a Alarms,
    alarm: Alarm<'a>,
    after: Duration,
    /// The writer's pass count and the reader's read count when armed.
    passes: u64,
    reads: u64,
}

impl<'a> Quiet<'a> {
    /// Armed at the stream's start (its writer's first pass is 1).
    pub(super) fn new(alarms: &'a Alarms, after: Duration, reads: u64) -> Quiet<'a> {
        Quiet {
            alarms,
            alarm: alarms.at(Instant::now() + after),
            after,
            passes: 0,
            reads,
        }
    }

    /// True when, since it was armed, the writer's only pass is the one the check woke, and
    /// the client sent nothing.
    pub(super) fn was_quiet(&self, passes: u64, reads: u64) -> bool {
        passes == self.passes + 1 && reads == self.reads
    }

    /// Arms the next check.
    pub(super) fn arm(&mut self, passes: u64, reads: u64) {
        self.passes = passes;
        self.reads = reads;
        self.alarm = self.alarms.at(Instant::now() + self.after);
    }
}

/// Resolves when the quiet check is due; never when there is none.
pub(super) async fn due(quiet: &mut Option<Quiet<'_>>) {
    match quiet {
        Some(quiet) => (&mut quiet.alarm).await,
        None => std::future::pending().await,
    }
}
