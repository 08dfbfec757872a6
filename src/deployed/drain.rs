//! Draining one deployed version of an API: a live apply that stops, removes or redeploys an API
//! fires the signal of each entrypoint whose streams must end. Open streams end with a resume
//! cursor (SSE `event: goaway` with the last id, WebSocket close 1013 Try Again Later with the
//! cursor in its reason), pending GETs are answered with what they have, and a POST that was routed
//! to the drained version but has not published yet gets 503 with `Retry-After`. New requests no
//! longer reach the drained version: the shard's new routing table has replaced it.

use std::cell::Cell;

use crate::observe::api_metrics::EntrypointKind;
use crate::shard::LocalSignal;

/// Why a stream ended when its API was stopped or removed.
pub const STOPPED: &str = "API stopped";
/// Why a stream ended when its API was redeployed without its entrypoint (or with another
/// endpoint): reconnecting reaches the new definition.
pub const REDEPLOYED: &str = "API redeployed";
/// What a POST routed to a draining API is told to wait before trying again.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// One signal per entrypoint kind of one deployed API version.
#[derive(Default)]
pub struct Drain {
    http_get: LocalSignal,
    http_post: LocalSignal,
    sse: LocalSignal,
    websocket: LocalSignal,
    reason: Cell<&'static str>,
}

impl Drain {
    fn signal(&self, kind: EntrypointKind) -> Option<&LocalSignal> {
        match kind {
            EntrypointKind::HttpGet => Some(&self.http_get),
            EntrypointKind::HttpPost => Some(&self.http_post),
            EntrypointKind::Sse => Some(&self.sse),
            EntrypointKind::WebSocket => Some(&self.websocket),
            EntrypointKind::None => None,
        }
    }

    /// Ends `kind`'s streams and requests on this version, telling clients `reason`.
    pub fn retire(&self, kind: EntrypointKind, reason: &'static str) {
        if let Some(signal) = self.signal(kind) {
            if !signal.is_fired() {
                self.reason.set(reason);
            }
            signal.fire();
        }
    }

    /// Ends every entrypoint's streams and requests on this version.
    pub fn retire_all(&self, reason: &'static str) {
        for kind in [
            EntrypointKind::HttpGet,
            EntrypointKind::HttpPost,
            EntrypointKind::Sse,
            EntrypointKind::WebSocket,
        ] {
            self.retire(kind, reason);
        }
    }

    /// True once `kind` was retired.
    pub fn is_retired(&self, kind: EntrypointKind) -> bool {
        self.signal(kind).is_some_and(LocalSignal::is_fired)
    }

    /// Resolves once `kind` is retired. Cancel-safe.
    pub async fn retired(&self, kind: EntrypointKind) {
        match self.signal(kind) {
            Some(signal) => signal.wait().await,
            None => std::future::pending().await,
        }
    }

    /// What clients are told (once retired).
    pub fn reason(&self) -> &'static str {
        match self.reason.get() {
            "" => STOPPED,
            reason => reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retiring_one_entrypoint_leaves_the_others() {
        let drain = Drain::default();
        drain.retire(EntrypointKind::WebSocket, REDEPLOYED);
        assert!(drain.is_retired(EntrypointKind::WebSocket));
        assert!(!drain.is_retired(EntrypointKind::Sse));
        assert_eq!(drain.reason(), REDEPLOYED);
        // The first reason stays: a stream already ending was told why.
        drain.retire_all(STOPPED);
        assert!(drain.is_retired(EntrypointKind::Sse));
        assert!(!drain.is_retired(EntrypointKind::None));
    }
}
