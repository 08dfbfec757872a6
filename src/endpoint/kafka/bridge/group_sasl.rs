//! SASL authentication of a consumer-group connection (bridge thread only), as rskafka does it
//! for its own connections: SaslHandshake names the mechanism, then SaslAuthenticate requests
//! carry the exchange `rsasl` computes (PLAIN: one message; SCRAM-SHA-256/512: two rounds).

use bytes::Bytes;
use kafka_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use kafka_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use kafka_protocol::protocol::StrBytes;
use rsasl::prelude::{Mechname, SASLClient, SASLConfig};

use super::group_wire::{GroupConnection, WireError};
use crate::config::kafka::{KafkaSasl, SaslMechanism};

// Version 1 of both: the exchange travels in SaslAuthenticate requests (not raw bytes).
const SASL_HANDSHAKE_VERSION: i16 = 1;
const SASL_AUTHENTICATE_VERSION: i16 = 1;

/// The mechanism's name on the wire.
fn mechanism_name(mechanism: SaslMechanism) -> &'static str {
    match mechanism {
        SaslMechanism::Plain => "PLAIN",
        SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
        SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
    }
}

fn sasl_error(error: impl std::fmt::Display) -> WireError {
    WireError::Sasl(error.to_string())
}

/// Authenticates `connection` (fresh: nothing else sent yet) with `sasl`.
pub(super) async fn authenticate(
    connection: &mut GroupConnection,
    sasl: &KafkaSasl,
) -> Result<(), WireError> {
    let name = mechanism_name(sasl.mechanism);
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(name));
    let answer = connection.call(&handshake, SASL_HANDSHAKE_VERSION).await?;
    if answer.error_code != 0 {
        let offered: Vec<String> = answer.mechanisms.iter().map(|m| m.to_string()).collect();
        return Err(WireError::Sasl(format!(
            "the broker does not accept {name} (error code {}; it offers {offered:?})",
            answer.error_code
        )));
    }
    let config = SASLConfig::with_credentials(
        None,
        sasl.username.clone(),
        sasl.password.expose().to_owned(),
    )
    .map_err(sasl_error)?;
    let mechanism = Mechname::parse(name.as_bytes()).map_err(sasl_error)?;
    let mut session = SASLClient::new(config)
        .start_suggested(&[mechanism])
        .map_err(sasl_error)?;
    let mut received: Option<Bytes> = None;
    loop {
        let mut message = Vec::new();
        let state = session
            .step(received.as_deref(), &mut message)
            .map_err(sasl_error)?;
        if state.has_sent_message() {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
            let answer = connection.call(&request, SASL_AUTHENTICATE_VERSION).await?;
            if answer.error_code != 0 {
                let why = answer
                    .error_message
                    .map_or_else(|| "no reason given".to_owned(), |m| m.to_string());
                return Err(WireError::Sasl(format!(
                    "the broker refused the credentials of '{}' (error code {}: {why})",
                    sasl.username, answer.error_code
                )));
            }
            received = Some(answer.auth_bytes);
        }
        if state.is_finished() {
            return Ok(());
        }
        if !state.has_sent_message() {
            // Stepping again with the same input would not move either.
            return Err(WireError::Sasl(format!(
                "the {name} exchange stalled: the mechanism sent nothing and did not finish"
            )));
        }
    }
}
