//! TLS on the client listener (`gateway.tls`): the server configuration (certificates by SNI,
//! versions, ALPN, client certificates), the handshake and the session driven sans-IO on the
//! shards, the client certificate kept for request handling, and reloading certificates without
//! a restart. client_trust.rs: what tidegate's own TLS clients (MQTT, PostgreSQL) trust.
//!
//! ```text
//! accept (TLS listener) → handshake (deadline headerReadMs) → server::Conn over a TlsSession
//!   reads: socket → ciphertext → TlsSession::absorb → plaintext read buffer (same parsers)
//!   writes: WriteBatch → TlsSession::seal → ciphertext → the same stall-bounded socket write
//! ```

pub mod client_trust;
pub mod handshake;
pub mod peer;
mod record_tail;
pub mod reload;
pub mod server_config;
pub mod session;

pub use handshake::{accept, Established, HandshakeFailure};
pub use peer::PeerCertificates;
pub use reload::{TlsMetrics, TlsStore};
pub use session::TlsSession;
