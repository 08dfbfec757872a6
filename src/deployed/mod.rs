//! The APIs a shard serves, as deployed: each started API version (`Api`: its entrypoints'
//! options, its endpoint, plan limits, CORS settings), the shard's routing table over them
//! (`Router`: virtual host, then longest context path) and how one version ends (`Drain`).
//!
//! This is what is served, not how: both the entrypoints and the connection step that routes to
//! them (`crate::dispatch`) read it, and a live apply (`runtime::shard_apply`) builds it. It names
//! none of them, nor the transport (`crate::server`), so it sits below all three without a cycle
//! (`tests/module_layers.rs`).

pub mod api;
pub mod drain;
pub mod router;

pub use api::{Api, PlanLimits, SharedEndpoint};
pub use drain::Drain;
pub use router::Router;
