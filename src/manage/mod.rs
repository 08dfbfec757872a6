//! The management plane: with a `management:` section the store, not the file, holds the APIs,
//! applications and subscriptions; every node follows it.
//!
//! - `store/`: the document store (APIs, applications, subscriptions, revisions, audit, admin
//!   tokens) behind one trait; in memory (tests), SQLite (one embedded file) or PostgreSQL
//!   (shared by several nodes). Blocking: used from management threads and the follower thread,
//!   never from a shard.
//! - `service/`: typed views over the store's documents and the lifecycle rules.
//! - `api/`: the REST API on `management.listen`.

pub mod api;
pub mod service;
pub mod store;
