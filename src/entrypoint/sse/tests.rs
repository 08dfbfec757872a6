//! Where an SSE stream resumes.

use super::resume_position;
use crate::entrypoint::test_support::{head, mock_api};
use crate::message::MessageId;

fn position(request: &str) -> Result<Option<MessageId>, String> {
    resume_position(&head(request), &mock_api(&["sse"])).map_err(|error| {
        assert_eq!(
            error.status(),
            400,
            "a malformed cursor is the client's fault"
        );
        error.to_string()
    })
}

#[test]
fn last_event_id_wins_over_the_cursor_parameter() {
    let both = "GET /a?cursor=3 HTTP/1.1\r\nHost: t\r\nLast-Event-ID: 7\r\n\r\n";
    assert_eq!(position(both), Ok(Some(MessageId::Sequence(7))));
    let query = "GET /a?cursor=3 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_eq!(position(query), Ok(Some(MessageId::Sequence(3))));
}

#[test]
fn no_or_blank_position_means_from_now_and_a_bad_one_is_refused() {
    assert_eq!(position("GET /a HTTP/1.1\r\nHost: t\r\n\r\n"), Ok(None));
    let blank = "GET /a?cursor=5 HTTP/1.1\r\nHost: t\r\nLast-Event-ID:  \r\n\r\n";
    assert_eq!(position(blank), Ok(None), "an empty Last-Event-ID resets");
    let bad = position("GET /a HTTP/1.1\r\nHost: t\r\nLast-Event-ID: nope\r\n\r\n");
    assert!(bad.unwrap_err().contains("cursor"));
}
