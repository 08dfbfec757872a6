//! Dead letters: a message that could not be delivered, written with its failure as headers to
//! the subscription's `dlq` endpoint. The subscription acknowledges the message only once the
//! write succeeded (`Outcome::DeadLettered`).
//!
//! In-memory topics are written here; Kafka and MQTT topics are written by the broker modules
//! through [`DeadLetterFactory`] (until one is installed, a subscription with such a DLQ stops
//! at its first dead letter rather than lose it).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::push_model::DeadLetterTarget;
use crate::endpoint::{Endpoint, LocalTopics};
use crate::message::{Fields, Message};

/// Header: the last HTTP status the callback answered (absent when none came).
pub const FAILURE_STATUS: &str = "x-webhook-failure-status";
/// Header: how many tries were made.
pub const FAILURE_ATTEMPTS: &str = "x-webhook-failure-attempts";
/// Header: the last error, in words (`HTTP 404`, `read timeout`, `connection refused`).
pub const FAILURE_ERROR: &str = "x-webhook-failure-error";
/// Header: when the message was given up (RFC 3339, UTC).
pub const FAILURE_TIME: &str = "x-webhook-failure-time";
/// Header: the subscription the message was for.
pub const FAILURE_SUBSCRIPTION: &str = "x-webhook-subscription";

/// The failure a dead letter carries.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The push subscription's id (written as `x-webhook-subscription`).
    pub subscription: String,
    /// The callback's last HTTP status; `None` when no try got an answer (timeout, connection
    /// error, refused address).
    pub status: Option<u16>,
    /// Tries made, the first included.
    pub attempts: u32,
    /// The last try's error, in words for an operator (`HTTP 404`, `read timeout`).
    pub error: String,
}

/// A boxed future of a dead-letter write (shard-local, not `Send`).
pub type WriteFuture = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// Where one subscription's dead letters go.
pub trait DeadLetterSink {
    /// Writes `letter` (the message, its headers extended with the failure's); `Err` says why
    /// in words for the log.
    fn write(&self, letter: Message) -> WriteFuture;
}

/// Builds the sink for a Kafka or MQTT dead-letter target on `endpoint`, the API's own.
pub type DeadLetterFactory =
    Rc<dyn Fn(&DeadLetterTarget, &Endpoint) -> Option<Rc<dyn DeadLetterSink>>>;

/// The message with the failure appended to its headers.
pub fn letter(message: &Message, failure: &Failure) -> Message {
    let mut headers: Vec<(String, String)> = message.headers.iter().cloned().collect();
    if let Some(status) = failure.status {
        headers.push((FAILURE_STATUS.to_owned(), status.to_string()));
    }
    headers.push((FAILURE_ATTEMPTS.to_owned(), failure.attempts.to_string()));
    headers.push((FAILURE_ERROR.to_owned(), failure.error.clone()));
    headers.push((FAILURE_TIME.to_owned(), rfc3339_now()));
    headers.push((
        FAILURE_SUBSCRIPTION.to_owned(),
        failure.subscription.clone(),
    ));
    let headers: Fields = headers.into();
    Message {
        headers,
        ..message.clone()
    }
}

/// The sink for `target`: in-memory topics from the shard's `topics`, the others from
/// `factory`. `None` when it cannot be built (the subscription stops at its first dead letter).
pub fn sink(
    target: &DeadLetterTarget,
    topics: &LocalTopics,
    endpoint: &Endpoint,
    factory: Option<&DeadLetterFactory>,
) -> Option<Rc<dyn DeadLetterSink>> {
    match target {
        DeadLetterTarget::InMemory { topic } => topics
            .get(topic)
            .map(|topic| Rc::new(InMemoryDeadLetters(topic.clone())) as Rc<dyn DeadLetterSink>),
        DeadLetterTarget::Kafka { .. } | DeadLetterTarget::Mqtt { .. } => {
            factory.and_then(|factory| factory(target, endpoint))
        }
    }
}

struct InMemoryDeadLetters(Rc<crate::endpoint::LocalTopic>);

impl DeadLetterSink for InMemoryDeadLetters {
    fn write(&self, letter: Message) -> WriteFuture {
        let result = self
            .0
            .publish(letter.payload, letter.kind, letter.headers)
            .map(|_| ())
            .map_err(|error| error.to_string());
        Box::pin(async move { result })
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (year, month, day) = crate::civil_date::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
