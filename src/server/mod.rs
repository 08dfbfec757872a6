//! The transport building blocks a request is served with, below the entrypoints: the
//! connection (`conn`: reads, answers, gathered and stall-bounded writes over plaintext or TLS),
//! a stream's split into reader and writer (`duplex`, `stream_read`, `read_pool`; `stream_peek`
//! for a hibernating stream without its reader), the write path
//! (`write_batch`, `stall_write`, `transport`), request ids, the request body (`request_body`) and
//! the CORS / Origin rules (`cors`).
//!
//! Layering (`tests/module_layers.rs` checks it): `server` knows nothing of what is served on
//! it, so it names neither the entrypoints (`crate::entrypoint`), nor the connection step above
//! them (`crate::dispatch`), nor the deployed APIs (`crate::deployed`). The entrypoints are built
//! on these blocks; `dispatch` drives a connection through them and hands it to an entrypoint.

pub mod conn;
pub mod cors;
pub mod direct_write;
pub mod duplex;
pub mod read_pool;
pub mod request_body;
pub mod request_id;
pub mod stall_write;
pub mod stream_peek;
pub mod stream_read;
pub mod transport;
pub mod write_batch;
