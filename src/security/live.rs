//! Live streams (SSE, WebSocket) whose credential stops being valid end within a second: a
//! revoked or expired key, a closed, paused or ended subscription, a plan closed by a reload.
//!
//! Each stream registers its credential with its shard's [`LiveStreams`]; a shard task wakes every
//! [`CHECK_INTERVAL`] and, only when the registry changed or a stream's own end date passed,
//! checks every registered stream again and fires the end signal of those refused. The stream's
//! loop ends on that signal: SSE with `event: goaway`, WebSocket with close 1008.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::principal::{Access, Credential};
use super::ShardSecurity;
use crate::shard::LocalSignal;

/// How often a shard looks for registry changes and end dates: well under the one second the
/// issue allows between a revocation and the end of its streams.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// The reason a stream ended by the check gives the client.
pub const ENDED_REASON: &str = "credential no longer valid";

/// The reason given instead when the credential was a JWT past its `exp`.
pub const TOKEN_EXPIRED_REASON: &str = "token expired";

/// A watched stream's end: fired by the check, with the reason it gives the client.
struct Ending {
    signal: LocalSignal,
    reason: Cell<&'static str>,
}

struct Watched {
    api: Arc<str>,
    credential: Credential,
    valid_until: Option<SystemTime>,
    ending: Rc<Ending>,
}

/// One shard's live streams and the registry version they were last checked against.
#[derive(Default)]
pub struct LiveStreams {
    /// Boxed: the map's table is kept at up to twice the streams it holds, in slots this big.
    streams: RefCell<HashMap<u64, Box<Watched>>>,
    next_id: Cell<u64>,
    checked_version: Cell<u64>,
}

/// A registered stream; dropping it unregisters. A stream without an access (none was checked:
/// a keyless plan) is never ended by the check, and holds nothing.
pub struct StreamWatch {
    watched: Option<Registered>,
}

/// A stream in its shard's registry.
struct Registered {
    live: Rc<LiveStreams>,
    id: u64,
    ending: Rc<Ending>,
}

impl StreamWatch {
    /// Resolves once the stream's credential is no longer valid (never for a stream without
    /// one). Cancel-safe.
    pub async fn ended(&self) {
        match &self.watched {
            Some(watched) => watched.ending.signal.wait().await,
            None => std::future::pending().await,
        }
    }

    /// Why the stream ended (for the close frame or `goaway`), once [`Self::ended`] resolved.
    pub fn reason(&self) -> &'static str {
        self.watched
            .as_ref()
            .map_or(ENDED_REASON, |watched| watched.ending.reason.get())
    }

    /// Runs the stream as `access` from now on (a WebSocket that renewed its token): its new
    /// credential and end date are what the next checks use.
    pub fn renew(&self, access: &Access) {
        if let Some(Registered { live, id, .. }) = &self.watched {
            if let Some(watched) = live.streams.borrow_mut().get_mut(id) {
                watched.credential = access.credential.clone();
                watched.valid_until = access.valid_until;
            }
        }
    }

    /// The credential the stream runs with now, if it was checked.
    pub fn credential(&self) -> Option<Credential> {
        let Registered { live, id, .. } = self.watched.as_ref()?;
        let streams = live.streams.borrow();
        streams.get(id).map(|watched| watched.credential.clone())
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        if let Some(Registered { live, id, .. }) = &self.watched {
            live.streams.borrow_mut().remove(id);
        }
    }
}

impl LiveStreams {
    /// Registers a stream that runs as `access` (if any) on `api`.
    pub fn watch(self: &Rc<Self>, access: Option<&Access>) -> StreamWatch {
        let Some(access) = access else {
            return StreamWatch { watched: None };
        };
        let ending = Rc::new(Ending {
            signal: LocalSignal::new(),
            reason: Cell::new(ENDED_REASON),
        });
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.streams.borrow_mut().insert(
            id,
            Box::new(Watched {
                api: access.principal.api.clone(),
                credential: access.credential.clone(),
                valid_until: access.valid_until,
                ending: ending.clone(),
            }),
        );
        StreamWatch {
            watched: Some(Registered {
                live: self.clone(),
                id,
                ending,
            }),
        }
    }

    /// Live streams registered now.
    pub fn len(&self) -> usize {
        self.streams.borrow().len()
    }

    /// True when no stream is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the streams again if the registry changed or an end date passed; returns how
    /// many were ended.
    pub fn check(&self, security: &ShardSecurity, now: SystemTime) -> usize {
        let version = security.view.registry().version();
        let mut streams = self.streams.borrow_mut();
        let date_passed = streams
            .values()
            .any(|s| !s.ending.signal.is_fired() && s.valid_until.is_some_and(|at| at <= now));
        if version == self.checked_version.get() && !date_passed {
            return 0;
        }
        self.checked_version.set(version);
        let mut ended = 0;
        security.view.with(|snapshot| {
            for stream in streams.values_mut().filter(|s| !s.ending.signal.is_fired()) {
                match snapshot.decide(&stream.api, &stream.credential, now, false) {
                    Ok(access) => stream.valid_until = access.valid_until,
                    Err(_) => {
                        if matches!(&stream.credential, Credential::Jwt(jwt) if jwt.expires_at <= now) {
                            stream.ending.reason.set(TOKEN_EXPIRED_REASON);
                        }
                        stream.ending.signal.fire();
                        ended += 1;
                    }
                }
            }
        });
        ended
    }
}

/// The shard task that runs [`LiveStreams::check`] every [`CHECK_INTERVAL`] until shutdown.
pub async fn watch_streams(security: Rc<ShardSecurity>, shutdown: Rc<LocalSignal>) {
    security
        .live
        .checked_version
        .set(security.view.registry().version());
    loop {
        monoio::select! {
            _ = shutdown.wait() => return,
            _ = monoio::time::sleep(CHECK_INTERVAL) => {}
        }
        let ended = security.live.check(&security, SystemTime::now());
        if ended > 0 {
            tracing::info!(
                streams = ended,
                "ended live streams whose credential is no longer valid"
            );
            security.count_streams_ended(ended as u64);
        }
    }
}
