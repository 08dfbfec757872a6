//! Endpoints: where an API's messages come from. A client subscribes with an optional resume
//! position and an outbound queue; the endpoint pushes into that queue until the returned
//! `Subscription` is dropped.

pub mod mock;

use std::cell::Cell;
use std::rc::Rc;

use crate::config::EndpointConfig;
use crate::delivery::OutboundQueue;
use crate::message::MessageId;

/// An API's endpoint on one shard.
pub enum Endpoint {
    /// The Mock generator.
    Mock(mock::MockEndpoint),
}

/// A problem with what the client asked of the endpoint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    /// The resume cursor is not a position of this endpoint.
    #[error("invalid cursor '{cursor}': {expected}")]
    InvalidCursor {
        /// What the client sent (truncated).
        cursor: String,
        /// What a valid cursor looks like.
        expected: &'static str,
    },
}

impl EndpointError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            EndpointError::InvalidCursor { .. } => 400,
        }
    }
}

impl Endpoint {
    /// The shard-local endpoint for a validated configuration.
    pub fn new(config: &EndpointConfig) -> Endpoint {
        match config {
            EndpointConfig::Mock(options) => Endpoint::Mock(mock::MockEndpoint::new(options)),
        }
    }

    /// Parses a client's resume cursor (`?cursor=`, `Last-Event-ID`).
    pub fn parse_cursor(&self, cursor: &str) -> Result<MessageId, EndpointError> {
        match self {
            Endpoint::Mock(_) => mock::parse_cursor(cursor),
        }
    }

    /// Starts delivering messages after `after` (from the start when `None`) into `queue`.
    pub fn subscribe(&self, after: Option<MessageId>, queue: Rc<OutboundQueue>) -> Subscription {
        let cancelled = Rc::new(Cell::new(false));
        match self {
            Endpoint::Mock(mock) => mock.subscribe(after, queue, cancelled.clone()),
        }
        Subscription { cancelled }
    }
}

/// A live subscription; dropping it stops delivery into the client's queue.
pub struct Subscription {
    cancelled: Rc<Cell<bool>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancelled.set(true);
    }
}
