//! Why a produce failed, as the client should hear it: the broker refused the record (502: the
//! same record would be refused again) or the brokers could not take it now (503: retry).

use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::producer::Error as ProducerError;

use crate::cross_shard::kafka_link::ProduceFailure;
use crate::endpoint::fault::error_chain;
use crate::endpoint::Fault;

/// Sorts an error of rskafka's batch producer. Errors rskafka retries itself (leadership moves,
/// lost connections) that still came back, timeouts and anything unknown stay retryable.
pub(super) fn produce_failure(error: &ProducerError) -> ProduceFailure {
    let refused = match error {
        ProducerError::Client(client) => match &**client {
            ClientError::ServerError { protocol_error, .. } => refuses_the_record(protocol_error),
            _ => false,
        },
        _ => false,
    };
    // The client hears the category; the broker's error code goes to the log.
    let detail = error_chain(error);
    if refused {
        ProduceFailure::Refused(
            Fault::new("the Kafka brokers refused the record").with_detail(detail),
        )
    } else {
        ProduceFailure::Unavailable(
            Fault::new("the Kafka brokers did not acknowledge the record").with_detail(detail),
        )
    }
}

/// Broker answers about the record or the client's rights, not about the broker's state.
fn refuses_the_record(error: &ProtocolError) -> bool {
    matches!(
        error,
        ProtocolError::CorruptMessage
            | ProtocolError::MessageTooLarge
            | ProtocolError::RecordListTooLarge
            | ProtocolError::InvalidTopicException
            | ProtocolError::InvalidRequiredAcks
            | ProtocolError::TopicAuthorizationFailed
            | ProtocolError::ClusterAuthorizationFailed
            | ProtocolError::InvalidTimestamp
            | ProtocolError::UnsupportedForMessageFormat
            | ProtocolError::PolicyViolation
            | ProtocolError::UnsupportedCompressionType
            | ProtocolError::InvalidRecord
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rskafka::client::error::RequestContext;

    use super::*;

    fn server_error(protocol_error: ProtocolError) -> ProducerError {
        ProducerError::Client(Arc::new(ClientError::ServerError {
            protocol_error,
            error_message: None,
            request: RequestContext::Partition("t".to_owned(), 0),
            response: None,
            is_virtual: false,
        }))
    }

    #[test]
    fn records_the_broker_refuses_are_refusals_and_the_rest_retryable() {
        for refusal in [
            ProtocolError::InvalidRecord,
            ProtocolError::MessageTooLarge,
            ProtocolError::TopicAuthorizationFailed,
            ProtocolError::PolicyViolation,
        ] {
            let failure = produce_failure(&server_error(refusal));
            assert!(matches!(failure, ProduceFailure::Refused(_)), "{failure}");
        }
        for transient in [
            ProtocolError::NotEnoughReplicas,
            ProtocolError::RequestTimedOut,
            ProtocolError::NotLeaderOrFollower,
            ProtocolError::KafkaStorageError,
        ] {
            let failure = produce_failure(&server_error(transient));
            assert!(
                matches!(failure, ProduceFailure::Unavailable(_)),
                "{failure}"
            );
        }
        let timeout = ProducerError::Client(Arc::new(ClientError::Timeout));
        assert!(matches!(
            produce_failure(&timeout),
            ProduceFailure::Unavailable(_)
        ));
    }

    #[test]
    fn the_broker_s_reason_goes_to_the_log_not_to_the_client() {
        let ProduceFailure::Refused(fault) =
            produce_failure(&server_error(ProtocolError::InvalidRecord))
        else {
            panic!("an invalid record is a refusal");
        };
        assert!(!fault.to_string().contains("InvalidRecord"), "{fault}");
        let detail = fault.detail().unwrap_or_default();
        assert!(detail.contains("InvalidRecord"), "{detail}");
    }
}
