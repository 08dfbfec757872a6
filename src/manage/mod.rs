//! The management plane: with a `management:` section the store, not the file, holds the APIs,
//! applications and subscriptions; every node follows it.
//!
//! - `store/`: the document store (APIs, applications, subscriptions, revisions, audit, admin
//!   tokens) behind one trait; in memory (tests), SQLite (one embedded file) or PostgreSQL
//!   (shared by several nodes). Blocking: used from management threads and the follower thread,
//!   never from a shard.
//! - `service/`: typed views over the store's documents and the lifecycle rules (deploy, start,
//!   stop, deprecate, delete …); one validator, `config::load_str` of the candidate configuration.
//! - `api/`: the management REST API on `management.listen` (routes, bearer tokens, JSON errors,
//!   the OpenAPI document).
//! - `seed.rs`: an empty store gets the file's APIs, applications and subscriptions once;
//! - `desired.rs`: the store's content as the configuration a node runs;
//! - `follower.rs`: a thread per node that polls the store's generation and applies changes.
//! - `export.rs`: the store back as a configuration file (`tidegate export`);
//! - `cli.rs`: the CLI's client of the management API (`tidegate apis …`);
//! - `node.rs`: a node in management mode from start to stop (store, seed, gateway, follower, API).

#![allow(
    clippy::disallowed_types,
    reason = "the management plane runs on threads of its own (API, follower, store clients), blocking, never on a shard"
)]
pub mod api;
pub mod cli;
pub mod desired;
pub mod export;
pub mod follower;
pub mod node;
pub mod seed;
pub mod service;
pub mod store;
