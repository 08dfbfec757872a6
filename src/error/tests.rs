//! The table of answers: every kind's status, close code, retryability and fault.

use super::{DataError, Fault, Kind, LogLevel, SseEnding};
use crate::endpoint::{EndpointError, Fault as BrokerFault, PublishError};

/// The contract clients rely on (`docs/errors.md`): kind, fault, HTTP status, close code,
/// retryable.
const TABLE: [(Kind, Fault, Option<u16>, u16, bool); 17] = [
    (Kind::BadRequest, Fault::Client, Some(400), 1008, false),
    (Kind::InvalidCursor, Fault::Client, Some(400), 1008, false),
    (Kind::CursorAhead, Fault::Client, Some(400), 1008, false),
    (Kind::CursorGone, Fault::Client, Some(410), 1008, false),
    (Kind::CursorStale, Fault::Client, Some(410), 1008, false),
    (Kind::BadTopic, Fault::Client, Some(400), 1008, false),
    (Kind::TooLarge, Fault::Client, Some(413), 1009, false),
    (
        Kind::NotSupported,
        Fault::Configuration,
        Some(405),
        1008,
        false,
    ),
    (
        Kind::BrokerUnavailable,
        Fault::Broker,
        Some(503),
        1013,
        true,
    ),
    (Kind::BrokerRefused, Fault::Broker, Some(502), 1008, false),
    (Kind::Busy, Fault::Gateway, Some(503), 1013, true),
    (Kind::Retired, Fault::Gateway, Some(503), 1013, true),
    (Kind::ShuttingDown, Fault::Gateway, Some(503), 1001, true),
    (Kind::SlowClient, Fault::Client, None, 1013, true),
    (Kind::ClientStalled, Fault::Client, None, 1013, true),
    (Kind::AccessEnded, Fault::Client, None, 1008, false),
    (Kind::MessageDeadline, Fault::Client, None, 1008, false),
];

#[test]
fn every_kind_answers_as_the_table_says() {
    assert_eq!(TABLE.len(), Kind::ALL.len());
    for (i, (kind, fault, status, close_code, retryable)) in TABLE.into_iter().enumerate() {
        assert_eq!(Kind::ALL[i], kind, "ALL is in the metric's order");
        assert_eq!(kind.index(), i);
        let answer = kind.answer();
        assert_eq!(answer.fault, fault, "{kind:?}");
        assert_eq!(answer.status, status, "{kind:?}");
        assert_eq!(answer.close_code, close_code, "{kind:?}");
        assert_eq!(answer.retryable(), retryable, "{kind:?}");
    }
}

#[test]
fn the_answers_agree_with_each_other() {
    let mut labels = std::collections::HashSet::new();
    for kind in Kind::ALL {
        let answer = kind.answer();
        assert!(labels.insert(answer.label), "{kind:?}: labels are unique");
        assert!(
            answer
                .label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{kind:?}: a Prometheus-friendly label"
        );
        // Every 503 says when to come back; nothing else does.
        assert_eq!(
            answer.retry_after.is_some(),
            answer.status == Some(503),
            "{kind:?}"
        );
        // A client's mistake is a 4xx (or ends a stream); the others are 4xx only when the
        // configuration forbids the request.
        match (answer.fault, answer.status) {
            (Fault::Client, Some(status)) => assert!((400..500).contains(&status), "{kind:?}"),
            (Fault::Configuration, Some(status)) => assert_eq!(status, 405, "{kind:?}"),
            (Fault::Broker | Fault::Gateway, Some(status)) => {
                assert!((500..600).contains(&status), "{kind:?}")
            }
            (_, None) => assert_eq!(answer.sse, SseEnding::Goaway, "{kind:?} ends streams"),
        }
        // A client's mistake is no operator's concern; a broker's failure is, with its details.
        match answer.fault {
            Fault::Client => assert!(answer.log <= LogLevel::Info, "{kind:?}"),
            Fault::Broker => assert_eq!(answer.log, LogLevel::Warn, "{kind:?}"),
            Fault::Configuration | Fault::Gateway => {
                assert_eq!(answer.log, LogLevel::Info, "{kind:?}")
            }
        }
        // A retryable error is never a policy violation, and a 1013 is always retryable.
        assert!(
            [1001, 1008, 1009, 1013].contains(&answer.close_code),
            "{kind:?}: codes a server may send (RFC 6455 §7.4.1)"
        );
        if answer.close_code == 1013 {
            assert!(answer.retryable(), "{kind:?}");
        }
        if answer.close_code == 1008 {
            assert!(!answer.retryable(), "{kind:?}");
        }
    }
}

#[test]
fn endpoint_errors_keep_their_status_text_and_details() {
    let unavailable = EndpointError::Unavailable(
        BrokerFault::new("the Kafka feed has not started; retry later")
            .with_detail("10.0.0.7:9092 refused"),
    );
    let old_status = unavailable.status();
    let error = DataError::from(unavailable);
    assert_eq!(error.kind(), Kind::BrokerUnavailable);
    assert_eq!(error.answer().status, Some(old_status));
    assert_eq!(
        error.reason(),
        "the Kafka feed has not started; retry later"
    );
    assert_eq!(error.detail(), Some("10.0.0.7:9092 refused"));

    let cursor = EndpointError::InvalidCursor {
        cursor: "x".to_owned(),
        expected: "a number",
    };
    let text = cursor.to_string();
    let error = DataError::from(cursor);
    assert_eq!(
        (error.kind(), error.reason()),
        (Kind::InvalidCursor, text.as_str())
    );
    assert_eq!(error.fault(), Fault::Client);
}

#[test]
fn every_endpoint_and_publish_error_keeps_its_status() {
    let endpoint_errors = [
        EndpointError::InvalidCursor {
            cursor: "x".into(),
            expected: "n",
        },
        EndpointError::Gone {
            cursor: "1".into(),
            oldest: "5".into(),
        },
        EndpointError::CursorAhead {
            cursor: "9".into(),
            latest: "5".into(),
        },
        EndpointError::StaleCursor {
            cursor: "1".into(),
            why: "renewed",
        },
        EndpointError::NotSupported("producer only"),
        EndpointError::Unavailable(BrokerFault::new("down")),
        EndpointError::BadRequest("name the subscription".into()),
    ];
    for err in endpoint_errors {
        let status = err.status();
        assert_eq!(DataError::from(err).answer().status, Some(status));
    }
    let publish_errors = [
        PublishError::NotSupported("mock"),
        PublishError::TooLarge { max_bytes: 1 },
        PublishError::Unavailable(BrokerFault::new("down")),
        PublishError::Refused(BrokerFault::new("refused")),
        PublishError::BadTopic("no".into()),
    ];
    for err in publish_errors {
        let status = err.status();
        assert_eq!(DataError::from(err).answer().status, Some(status));
    }
}
