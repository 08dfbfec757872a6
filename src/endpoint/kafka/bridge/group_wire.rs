//! One Kafka connection for the consumer-group requests (bridge thread only): FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetFetch and OffsetCommit, whose wire forms
//! come from the `kafka-protocol` crate (rskafka has no groups). Requests go one at a time, so
//! a response is always the answer to the request just sent. The connection is secured like
//! rskafka's: TLS with the endpoint's rustls settings (trust and key store), then SASL.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{
    encode_request_header_into_buffer, Decodable, HeaderVersion, Request, StrBytes,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::connect::tls_config;
use super::group_sasl::authenticate;
use crate::config::kafka::KafkaSecurity;

/// Largest response accepted (group answers are small; this bounds a broken peer).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How long one request may take (JoinGroup waits for the rebalance, bounded by its timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a group request failed at the connection (the caller reconnects).
#[derive(Debug, thiserror::Error)]
pub(super) enum WireError {
    #[error("connection to the group coordinator failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the group coordinator did not answer within {0:?}")]
    Timeout(Duration),
    #[error("malformed Kafka message: {0}")]
    Codec(String),
    #[error("the broker answered error code {0} ({name})", name = error_name(*.0))]
    Broker(i16),
    #[error("TLS to the group coordinator: {0}")]
    Tls(String),
    #[error("SASL authentication to the group coordinator failed: {0}")]
    Sasl(String),
}

/// A byte stream to a broker: plain TCP or TLS over it.
trait Transport: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> Transport for T {}

/// A connection to one broker.
pub(super) struct GroupConnection {
    stream: Box<dyn Transport>,
    correlation: i32,
}

impl GroupConnection {
    /// Connects to `address` (`host:port`) with the endpoint's `security`: TLS, then SASL.
    pub(super) async fn connect(
        address: &str,
        security: &KafkaSecurity,
    ) -> Result<GroupConnection, WireError> {
        let tcp = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| WireError::Timeout(REQUEST_TIMEOUT))??;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Transport> = match &security.tls_trust_pem {
            None => Box::new(tcp),
            Some(_) => {
                let config = tls_config(security)
                    .ok_or_else(|| WireError::Tls("the TLS settings are unusable".to_owned()))?;
                let host = address
                    .rsplit_once(':')
                    .map_or(address, |(host, _)| host)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|error| WireError::Tls(format!("'{host}': {error}")))?;
                let handshake = TlsConnector::from(config).connect(name, tcp);
                let tls = tokio::time::timeout(REQUEST_TIMEOUT, handshake)
                    .await
                    .map_err(|_| WireError::Timeout(REQUEST_TIMEOUT))?
                    .map_err(|error| WireError::Tls(error.to_string()))?;
                Box::new(tls)
            }
        };
        let mut connection = GroupConnection {
            stream,
            correlation: 0,
        };
        if let Some(sasl) = &security.sasl {
            authenticate(&mut connection, sasl).await?;
        }
        Ok(connection)
    }

    /// Sends `request` at `version` and reads its response.
    pub(super) async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, WireError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request, version))
            .await
            .map_err(|_| WireError::Timeout(REQUEST_TIMEOUT))?
    }

    async fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, WireError> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("tidegate")));
        let mut body = BytesMut::new();
        encode_request_header_into_buffer(&mut body, &header).map_err(codec)?;
        request.encode(&mut body, version).map_err(codec)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await?;
        self.stream.flush().await?;

        let length = self.stream.read_u32().await? as usize;
        if length > MAX_RESPONSE_BYTES {
            return Err(WireError::Codec(format!(
                "a response of {length} bytes exceeds {MAX_RESPONSE_BYTES}"
            )));
        }
        let mut response = vec![0; length];
        self.stream.read_exact(&mut response).await?;
        let mut buf = bytes::Bytes::from(response);
        let header_version = R::Response::header_version(version);
        let header = ResponseHeader::decode(&mut buf, header_version).map_err(codec)?;
        if header.correlation_id != self.correlation {
            return Err(WireError::Codec(format!(
                "response to request {} arrived for request {}",
                header.correlation_id, self.correlation
            )));
        }
        let decoded = R::Response::decode(&mut buf, version).map_err(codec)?;
        if buf.has_remaining() {
            tracing::debug!(left = buf.remaining(), "bytes left after a group response");
        }
        Ok(decoded)
    }
}

/// Kafka's name and description of an error code (e.g. 27: the group is rebalancing).
fn error_name(code: i16) -> String {
    kafka_protocol::error::ResponseError::try_from_code(code)
        .map_or_else(|| "no error".to_owned(), |error| error.to_string())
}

fn codec(error: impl std::fmt::Display) -> WireError {
    WireError::Codec(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::WireError;

    #[test]
    fn broker_errors_are_named() {
        let text = WireError::Broker(27).to_string();
        assert!(text.contains("error code 27"), "{text}");
        assert!(text.to_lowercase().contains("rebalanc"), "{text}");
    }
}
