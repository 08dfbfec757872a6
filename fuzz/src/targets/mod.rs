//! One module per decoder; each exposes `run(&[u8])`, which panics when a property fails.

pub mod config;
pub mod cursor;
pub mod http_body;
pub mod http_head;
pub mod kafka_compact_id;
pub mod kafka_cursor;
pub mod mqtt;
pub mod ws_frames;
pub mod ws_messages;
