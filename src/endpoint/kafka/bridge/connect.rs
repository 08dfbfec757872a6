//! Connecting to the brokers (bridge thread only): rskafka clients with the API's TLS and SASL,
//! each request bounded so a failure reaches the log with its cause, and that cause sorted into
//! a `BrokerProblem` (unreachable, credentials refused, TLS failed) for the metrics and for what
//! clients are told.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::BackoffConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::kafka::{KafkaSecurity, SaslMechanism};
use crate::endpoint::fault::error_chain;
use crate::endpoint::kafka::plan::Brokers;
use crate::endpoint::{BrokerFailure, BrokerProblem};
use crate::metrics::KafkaMetrics;
use crate::tls::client_trust;

/// How long rskafka retries one request (a connection, a fetch) before it reports the error:
/// the feeds log it and retry on their own, so a wrong password or a dead broker shows in the
/// log with its reason.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// How long to wait between rskafka's own retries of one request, for at most `deadline`.
fn backoff(deadline: Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(deadline),
    }
}

/// Connects to `brokers`, retrying until they answer (each try bounded by `REQUEST_DEADLINE`).
pub(super) async fn connect(brokers: &Brokers, metrics: &KafkaMetrics) -> Client {
    let mut delay = Duration::from_millis(100);
    loop {
        match try_connect(brokers, REQUEST_DEADLINE, metrics).await {
            Ok(client) => return client,
            Err(failure) => {
                tracing::warn!(error = %failure, servers = ?brokers.servers, "cannot connect to the Kafka brokers; retrying");
            }
        }
        crate::metrics::ShardMetrics::inc(&metrics.fetch_errors_total);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// One attempt to connect to `brokers`; its requests are retried for at most `deadline`. A
/// refused SASL authentication is counted in `metrics`.
pub(super) async fn try_connect(
    brokers: &Brokers,
    deadline: Duration,
    metrics: &KafkaMetrics,
) -> Result<Client, BrokerFailure> {
    let mut builder = ClientBuilder::new(brokers.servers.clone())
        .client_id("tidegate")
        .backoff_config(backoff(deadline));
    if let Some(tls) = tls_config(&brokers.security) {
        builder = builder.tls_config(tls);
    }
    if let Some(sasl) = &brokers.security.sasl {
        let credentials =
            Credentials::new(sasl.username.clone(), sasl.password.expose().to_owned());
        builder = builder.sasl_config(match sasl.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(credentials),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
        });
    }
    // rskafka gives up after `deadline`; the margin covers its last attempt.
    match tokio::time::timeout(deadline * 2, builder.build()).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => {
            let detail = error_chain(&error);
            if sasl_refused(&error) {
                crate::metrics::ShardMetrics::inc(&metrics.sasl_failures_total);
                return Err(BrokerFailure::new(
                    BrokerProblem::CredentialsRefused,
                    detail,
                ));
            }
            Err(BrokerFailure::new(connect_problem(&detail), detail))
        }
        Err(_) => Err(BrokerFailure::new(
            BrokerProblem::Unreachable,
            format!("no answer within {deadline:?}"),
        )),
    }
}

/// The category of a failed rskafka connection, read from its error text: rskafka wraps the
/// cause in retry errors that do not expose it as a `source`, so the text is all there is.
/// SASL comes first (its handshake is not TLS's); anything unrecognized counts as unreachable.
fn connect_problem(detail: &str) -> BrokerProblem {
    let text = detail.to_ascii_lowercase();
    if text.contains("sasl") {
        BrokerProblem::CredentialsRefused
    } else if ["tls", "certificate", "handshake", "alert"]
        .iter()
        .any(|word| text.contains(word))
    {
        BrokerProblem::TlsFailed
    } else {
        BrokerProblem::Unreachable
    }
}

/// True when `error` is, or after rskafka's retries wraps, a failed SASL exchange. rskafka folds
/// the errors of its retries into one message (of a type it does not export), so past the
/// first level the kind is read from its wording, here only; a unit test pins that wording.
fn sasl_refused(error: &rskafka::client::error::Error) -> bool {
    match error {
        rskafka::client::error::Error::Connection(rskafka::ConnectionError::SaslFailed(_)) => true,
        other => other.to_string().contains(SASL_FAILED_WORDING),
    }
}

/// How rskafka's `ConnectionError::SaslFailed` begins.
const SASL_FAILED_WORDING: &str = "Sasl handshake failed";

/// rustls settings trusting the configured authorities (validated to hold a certificate) and
/// presenting the key store's client certificate, if any; shared by rskafka's connections and
/// the consumer-group connection.
pub(super) fn tls_config(security: &KafkaSecurity) -> Option<Arc<rustls::ClientConfig>> {
    let pem = security.tls_trust_pem.as_ref()?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
        if let Err(error) = roots.add(cert) {
            tracing::warn!(%error, "a trust store certificate was not accepted");
        }
    }
    let config = client_trust::client_builder().and_then(|builder| {
        let builder = builder.with_root_certificates(roots);
        client_trust::presenting(builder, security.tls_identity.as_ref())
    });
    match config {
        Ok(config) => Some(Arc::new(config)),
        Err(error) => {
            // Connecting without TLS would fail at the broker anyway: say why here.
            tracing::error!(%error, "cannot set up TLS to the Kafka brokers");
            None
        }
    }
}

#[cfg(test)]
mod connect_problem_tests {
    use super::*;

    #[test]
    fn rskafka_failures_fall_into_their_category() {
        let sasl = "Connection error: all retries failed: Retry exceeded deadline. Source: Sasl handshake failed: API error: SaslAuthenticationFailed";
        assert_eq!(connect_problem(sasl), BrokerProblem::CredentialsRefused);
        let tls = "Connection error: error connecting to broker \"b:9093\": IO Error: invalid peer certificate: UnknownIssuer";
        assert_eq!(connect_problem(tls), BrokerProblem::TlsFailed);
        let refused = "Connection error: error connecting to broker \"127.0.0.1:9092\": IO Error: Connection refused (os error 111)";
        assert_eq!(connect_problem(refused), BrokerProblem::Unreachable);
    }
}

#[cfg(test)]
mod sasl_tests {
    use rskafka::client::error::Error;
    use rskafka::{ConnectionError, SaslError};

    use super::sasl_refused;

    #[test]
    fn a_failed_sasl_exchange_is_recognised_directly_and_inside_retries() {
        let sasl = ConnectionError::SaslFailed(SaslError::UnsupportedSaslMechanism);
        // The wording the check relies on, as rskafka writes it.
        assert!(
            sasl.to_string().starts_with(super::SASL_FAILED_WORDING),
            "{sasl}"
        );
        assert!(sasl_refused(&Error::Connection(sasl)));
        // What a wrong SCRAM password gives once rskafka's retries ran out (seen with tansu).
        let retried = Error::InvalidResponse("Connection error: all retries failed: Retry exceeded deadline. Source: Sasl handshake failed: Sasl session error: internal mechanism error: SCRAM outcome error: invalid proof".to_owned());
        assert!(sasl_refused(&retried));
        assert!(!sasl_refused(&Error::InvalidResponse(
            "error connecting to broker \"127.0.0.1:1\": IO Error: Connection refused".to_owned()
        )));
    }
}
