//! The connection step, top of the data path: a connection the accept loop hands over
//! (`runtime::shard`) is read request by request, each one routed (`crate::deployed::Router`),
//! checked (CORS / Origin, the plan gate, rate limits) and handed to the entrypoint its shape
//! picks (`crate::entrypoint`), all in `connection`.
//!
//! Layering (`tests/module_layers.rs` checks it): `dispatch` sits above both the transport
//! building blocks (`crate::server`) and the entrypoints built on them; nothing but the runtime
//! names it, and nothing it names names it back.

pub mod connection;
