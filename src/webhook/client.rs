//! One HTTP/1.1 connection to a callback, on the shard: connect (the SSRF guard checks the
//! address connected to), TLS driven sans-IO by the MQTT endpoint's `TlsSession`, one request
//! and its answer at a time (no pipelining), reused while the answers allow keep-alive.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::time::Instant;

use super::http::{Answer, AnswerError, AnswerReader};
use crate::config::push_model::CallbackUrl;
use crate::config::webhook::IpNetwork;
use crate::endpoint::mqtt::tls::TlsSession;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Why a try failed without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryError {
    /// The callback's address is refused by the SSRF guard (never retried... but a DNS answer
    /// may change, so it is retried like a connection error, and logged).
    Refused(String),
    /// Name resolution, connection or TLS setup failed.
    Connect(String),
    /// No complete answer within the read timeout.
    ReadTimeout,
    /// The connection broke, or the answer was malformed or too large.
    Broken(String),
}

impl std::fmt::Display for TryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryError::Refused(why) => write!(f, "callback address refused: {why}"),
            TryError::Connect(why) => write!(f, "cannot connect: {why}"),
            TryError::ReadTimeout => f.write_str("read timeout"),
            TryError::Broken(why) => write!(f, "connection broken: {why}"),
        }
    }
}

/// An open connection to a callback.
pub struct Connection {
    stream: TcpStream,
    tls: Option<TlsSession>,
    /// Plaintext read and not yet consumed.
    plain: BytesMut,
    /// When it was last returned to the pool.
    pub idle_since: Instant,
    /// The address connected to.
    pub peer: SocketAddr,
}

/// Resolves `url`'s host off the shard, refuses guarded addresses, and connects to the first
/// allowed address that answers within `timeout`.
pub async fn connect(
    url: &CallbackUrl,
    allowed: &[IpNetwork],
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Connection, TryError> {
    let lookup = crate::cross_shard::lookup_host(&url.host, url.port);
    let addrs = match monoio::time::timeout(timeout, lookup).await {
        Ok(Ok(addrs)) => addrs,
        Ok(Err(error)) => {
            return Err(TryError::Connect(format!(
                "cannot resolve '{}': {error}",
                url.host
            )))
        }
        Err(_) => {
            return Err(TryError::Connect(format!(
                "cannot resolve '{}' within connectTimeout",
                url.host
            )))
        }
    };
    let mut refused = None;
    let mut last_error = None;
    for addr in addrs {
        if let Some(why) = super::ssrf::refusal(addr.ip(), allowed) {
            refused = Some(format!(
                "{} resolves to {}, {why}; allow it in gateway.webhook.allowedNetworks if intended",
                url.host,
                addr.ip()
            ));
            continue;
        }
        match monoio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let tls = match tls {
                    None => None,
                    Some(config) => Some(
                        TlsSession::new(config.clone(), &url.host).map_err(TryError::Connect)?,
                    ),
                };
                return Ok(Connection {
                    stream,
                    tls,
                    plain: BytesMut::new(),
                    idle_since: Instant::now(),
                    peer: addr,
                });
            }
            Ok(Err(error)) => last_error = Some(format!("{addr}: {error}")),
            Err(_) => last_error = Some(format!("{addr}: no connection within connectTimeout")),
        }
    }
    match (last_error, refused) {
        (Some(error), _) => Err(TryError::Connect(error)),
        (None, Some(why)) => Err(TryError::Refused(why)),
        (None, None) => Err(TryError::Connect(format!("'{}' has no address", url.host))),
    }
}

impl Connection {
    /// Sends one request (`head` then `body`) and reads its answer within `read_timeout`
    /// (from the request's start). `Err` leaves the connection unusable.
    pub async fn exchange(
        &mut self,
        head: Bytes,
        body: Bytes,
        read_timeout: Duration,
        max_answer_bytes: usize,
    ) -> Result<Answer, TryError> {
        let deadline = Instant::now() + read_timeout;
        let work = async {
            self.send(head).await?;
            self.send(body).await?;
            let mut reader = AnswerReader::new(max_answer_bytes);
            loop {
                match reader.advance(&mut self.plain) {
                    Ok(Some(answer)) => return Ok(answer),
                    Ok(None) => {}
                    Err(AnswerError::TooLarge) => {
                        return Err(TryError::Broken(format!(
                            "the answer exceeds {max_answer_bytes} bytes"
                        )))
                    }
                    Err(AnswerError::Malformed(why)) => return Err(TryError::Broken(why)),
                }
                if self.read_some().await? == 0 {
                    return match reader.at_close() {
                        Some(answer) => Ok(answer),
                        None => Err(TryError::Broken(
                            "closed before a complete answer".to_owned(),
                        )),
                    };
                }
            }
        };
        match monoio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(TryError::ReadTimeout),
        }
    }

    async fn send(&mut self, data: Bytes) -> Result<(), TryError> {
        if data.is_empty() {
            return Ok(());
        }
        let out = match &mut self.tls {
            None => data,
            Some(tls) => {
                tls.encrypt(&data).map_err(TryError::Broken)?;
                let mut out = BytesMut::new();
                tls.outgoing(&mut out).map_err(TryError::Broken)?;
                out.freeze()
            }
        };
        self.write_raw(out).await
    }

    async fn write_raw(&mut self, data: Bytes) -> Result<(), TryError> {
        if data.is_empty() {
            return Ok(());
        }
        let (result, _) = self.stream.write_all(data).await;
        result
            .map(|_| ())
            .map_err(|error| TryError::Broken(format!("write failed: {error}")))
    }

    /// Reads once; appends the plaintext to `plain`. 0 = the peer closed.
    async fn read_some(&mut self) -> Result<usize, TryError> {
        loop {
            let buf = Vec::with_capacity(READ_CHUNK);
            let (result, buf) = self.stream.read(buf).await;
            let n = result
                .map_err(|error: io::Error| TryError::Broken(format!("read failed: {error}")))?;
            if n == 0 {
                return Ok(0);
            }
            let Some(tls) = &mut self.tls else {
                self.plain.extend_from_slice(&buf[..n]);
                return Ok(n);
            };
            let before = self.plain.len();
            let mut cipher = BytesMut::from(&buf[..n]);
            tls.decrypt(&mut cipher, &mut self.plain)
                .map_err(TryError::Broken)?;
            // Handshake records (and the request queued behind the handshake) go out now.
            let mut out = BytesMut::new();
            tls.outgoing(&mut out).map_err(TryError::Broken)?;
            self.write_raw(out.freeze()).await?;
            if self.plain.len() > before {
                return Ok(self.plain.len() - before);
            }
        }
    }

    /// True when nothing unexpected is buffered (a connection with stray bytes is not reused).
    pub fn is_clean(&self) -> bool {
        self.plain.is_empty()
    }
}
