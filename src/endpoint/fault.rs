//! Failures on the broker's side, told twice: a short reason for the client, the details for the
//! operator.
//!
//! A broker's address, a library's error chain or a broker's reason code name (`BadUserNamePassword`)
//! tells a client nothing it can act on and an attacker a lot. A [`Fault`] therefore keeps the
//! reason a client is shown (which may name the category of the failure and the config key that
//! bounds it, never an address or foreign error text) apart from its `detail`, which only the log
//! gets, under the request id the client was given (`server::conn::Conn::respond_error`).

use std::borrow::Cow;
use std::fmt;

/// Why the gateway has no working connection to a broker, as far as a client may know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerProblem {
    /// No connection attempt has ended yet.
    Connecting,
    /// No TCP connection, or no answer within the connect timeout.
    Unreachable,
    /// The broker refused the gateway's username, password or SASL exchange.
    CredentialsRefused,
    /// The broker answered the connection with a refusal other than credentials.
    ConnectionRefused,
    /// The TLS handshake failed (certificate not trusted, client certificate refused, …).
    TlsFailed,
    /// An established connection broke.
    ConnectionLost,
    /// The broker does not have the topic the API uses.
    TopicMissing,
}

impl BrokerProblem {
    /// The category as clients see it, e.g. in "… not connected to the MQTT broker (broker
    /// unreachable)".
    pub fn reason(self) -> &'static str {
        match self {
            BrokerProblem::Connecting => "still connecting",
            BrokerProblem::Unreachable => "broker unreachable",
            BrokerProblem::CredentialsRefused => "broker refused credentials",
            BrokerProblem::ConnectionRefused => "broker refused the connection",
            BrokerProblem::TlsFailed => "TLS handshake with the broker failed",
            BrokerProblem::ConnectionLost => "connection to the broker lost",
            BrokerProblem::TopicMissing => "topic not found",
        }
    }
}

/// Why a connection to a broker failed: the category and the full story (addresses, library
/// errors) for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerFailure {
    /// The category: all a client is told of it (`Fault::not_connected`).
    pub problem: BrokerProblem,
    /// Addresses, library and broker error text: for the log only.
    pub detail: String,
}

impl BrokerFailure {
    /// A failure of kind `problem`, with `detail` for the operator.
    pub fn new(problem: BrokerProblem, detail: impl Into<String>) -> BrokerFailure {
        BrokerFailure {
            problem,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for BrokerFailure {
    /// For logs only: the category, then the details.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem.reason(), self.detail)
    }
}

/// A failure answered to a client: `Display` is the reason it is shown; [`Fault::detail`] is
/// for the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    reason: Cow<'static, str>,
    detail: Option<String>,
}

impl Fault {
    /// A fault whose reason is all there is to say. The reason must hold no internals: no
    /// address, no library or broker error text.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Fault {
        Fault {
            reason: reason.into(),
            detail: None,
        }
    }

    /// Adds what the operator needs to find the cause (logged, never sent).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Fault {
        self.detail = Some(detail.into());
        self
    }

    /// "the gateway is not connected to the {broker} ({category}); retry later", with the
    /// failure's details for the log.
    pub fn not_connected(broker: &str, failure: &BrokerFailure) -> Fault {
        Fault::new(format!(
            "the gateway is not connected to the {broker} ({}); retry later",
            failure.problem.reason()
        ))
        .with_detail(failure.detail.clone())
    }

    /// The details for the log, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// An error and its sources, as one line: the detail for the log of a failure a library
/// reported (the client is told the category, never this text).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_sees_the_category_and_the_log_gets_the_rest() {
        let failure = BrokerFailure::new(
            BrokerProblem::CredentialsRefused,
            "10.0.0.7:1883: CONNACK BadUserNamePassword",
        );
        let fault = Fault::not_connected("MQTT broker", &failure);
        let shown = fault.to_string();
        assert!(shown.contains("broker refused credentials"), "{shown}");
        assert!(!shown.contains("10.0.0.7") && !shown.contains("BadUserNamePassword"));
        assert_eq!(fault.detail(), Some(failure.detail.as_str()));
    }
}
