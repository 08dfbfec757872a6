//! What one poll asks for: its format, limit and cursor.

use super::{digits_saturating, Poll};
use crate::entrypoint::test_support::{head, mock_api};
use crate::message::MessageId;

fn poll(target: &str, accept: &str) -> Result<Poll, (u16, String)> {
    let api = mock_api(&["http-get"]);
    let options = api.http_get.clone().unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\nAccept: {accept}\r\n\r\n");
    Poll::from_request(&head(&request), &api, &options)
        .map_err(|error| (error.answer().status.unwrap(), error.to_string()))
}

#[test]
fn the_limit_defaults_to_and_is_capped_by_messages_limit_count() {
    let default = poll("/a", "application/json").unwrap().limit;
    assert!(default >= 1);
    assert_eq!(poll("/a?limit=1", "*/*").unwrap().limit, 1);
    assert_eq!(
        poll("/a?limit=999999999999999999999999", "*/*")
            .unwrap()
            .limit,
        default
    );
    for bad in ["0", "-1", "abc", "1.5", ""] {
        let (status, why) = poll(&format!("/a?limit={bad}"), "*/*").err().unwrap();
        assert_eq!(status, 400);
        assert!(why.contains("'limit'"), "{bad}: {why}");
    }
}

#[test]
fn the_cursor_is_parsed_by_the_endpoint_and_empty_means_none() {
    assert_eq!(
        poll("/a?cursor=12", "*/*").unwrap().cursor,
        Some(MessageId::Sequence(12))
    );
    assert_eq!(poll("/a?cursor=", "*/*").unwrap().cursor, None);
    assert_eq!(poll("/a?cursor=x", "*/*").err().unwrap().0, 400);
}

#[test]
fn an_unservable_accept_is_refused() {
    assert!(poll("/a", "image/png").is_err());
}

#[test]
fn digits_saturate_and_only_digits_count() {
    assert_eq!(digits_saturating(" 42 "), Some(42));
    assert_eq!(
        digits_saturating("99999999999999999999999"),
        Some(usize::MAX)
    );
    assert_eq!(digits_saturating("4 2"), None);
    assert_eq!(digits_saturating("+1"), None);
    assert_eq!(digits_saturating(""), None);
}
