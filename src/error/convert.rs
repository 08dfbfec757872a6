//! The endpoints' errors as data-path errors: each variant's kind; the text the client is shown
//! is the endpoint's own message (unchanged), the broker's details stay for the log.

use super::{DataError, Kind};
use crate::endpoint::{EndpointError, PublishError};

impl From<EndpointError> for DataError {
    fn from(error: EndpointError) -> DataError {
        let kind = match &error {
            EndpointError::InvalidCursor { .. } => Kind::InvalidCursor,
            EndpointError::Gone { .. } => Kind::CursorGone,
            EndpointError::CursorAhead { .. } => Kind::CursorAhead,
            EndpointError::StaleCursor { .. } => Kind::CursorStale,
            EndpointError::NotSupported(_) => Kind::NotSupported,
            EndpointError::Unavailable(_) => Kind::BrokerUnavailable,
            EndpointError::BadRequest(_) => Kind::BadRequest,
        };
        DataError::new(kind, error.to_string()).with_detail(error.detail())
    }
}

impl From<PublishError> for DataError {
    fn from(error: PublishError) -> DataError {
        let kind = match &error {
            PublishError::NotSupported(_) => Kind::NotSupported,
            PublishError::TooLarge { .. } => Kind::TooLarge,
            PublishError::Unavailable(_) => Kind::BrokerUnavailable,
            PublishError::Refused(_) => Kind::BrokerRefused,
            PublishError::BadTopic(_) => Kind::BadTopic,
        };
        DataError::new(kind, error.to_string()).with_detail(error.detail())
    }
}
