//! Plans, applications, subscriptions and API keys at run time.
//!
//! - `registry`: the node-wide, versioned snapshot built from the configuration's plans,
//!   applications and subscriptions; each shard's lock-free view of it.
//! - `select`: plan selection by the credential presented (401 / 403 decisions).
//! - `gate`: the check every routed request passes before its entrypoint runs.
//! - `mtls`: a client certificate's fingerprint and subject (mTLS plans).
//! - `api_key`: key generation, hashing, where a request carries its key, constant-time compare.
//! - `live`: live SSE / WebSocket streams ended within a second of their credential's end.
//! - `reload`: SIGHUP re-reads the file's plans, applications and subscriptions.
//! - `principal`: who a request runs as (for rate limits and access logs).
//! - `metrics`: 401 / 403 per API, grants per plan and application.
//! - `jwt`: the JWT verifier (signatures, claims, JWKS refresh) behind JWT plans.

pub mod api_key;
pub mod gate;
pub mod jwt;
pub mod live;
pub mod metrics;
pub mod mtls;
pub mod principal;
pub mod registry;
pub mod reload;
pub mod select;

#[cfg(test)]
mod select_tests;

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use principal::{Access, Credential, Principal};
pub use registry::{Registry, ShardView, Snapshot};

/// One shard's security state.
pub struct ShardSecurity {
    /// The shard's view of the registry.
    pub view: ShardView,
    /// The shard's live streams, checked again on every registry change.
    pub live: Rc<live::LiveStreams>,
    /// The shard's JWT verifiers (per JWT plan of the current registry version).
    pub jwt: jwt::ShardVerifiers,
}

impl ShardSecurity {
    /// The state of a new shard reading `registry`.
    pub fn new(registry: Arc<Registry>) -> ShardSecurity {
        ShardSecurity {
            view: ShardView::new(registry),
            live: Rc::default(),
            jwt: jwt::ShardVerifiers::default(),
        }
    }

    fn count_streams_ended(&self, count: u64) {
        let metrics = self.view.registry().metrics();
        metrics.streams_ended.fetch_add(count, Ordering::Relaxed);
    }
}
