//! The life of a connection (`connection`), the routing table (`router`) and the per-shard view
//! of a Gateway API (`api`).

pub mod api;
pub mod conn;
pub mod connection;
pub mod cors;
pub mod direct_write;
pub mod drain;
pub mod duplex;
pub mod read_pool;
pub mod request_body;
pub mod request_id;
pub mod router;
pub mod stall_write;
pub mod stream_read;
pub mod transport;
pub mod write_batch;

pub use api::Api;
pub use router::Router;
