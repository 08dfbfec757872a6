//! Refusals as JSON, in one place: each `ErrorKind` is one status code.
//! `{"httpStatus":409,"message":"…","technicalCode":"api.started","errors":[{location,message}]}`.

use serde_json::{json, Value};

use crate::admin::Reply;
use crate::manage::service::{ErrorKind, ServiceError};

/// The status code of a kind of refusal.
pub(super) fn status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::Invalid => 400,
        ErrorKind::NotFound => 404,
        ErrorKind::Conflict => 409,
        ErrorKind::PreconditionFailed => 412,
        ErrorKind::UnsupportedMediaType => 415,
        ErrorKind::Unavailable => 503,
        ErrorKind::Internal => 500,
    }
}

/// The JSON answer for `err`.
pub(super) fn reply(err: &ServiceError) -> Reply {
    error_reply(status(err.kind), err.code, &err.message, &err.errors_json())
}

/// The most characters of one message (or location) an answer carries: a message may quote what
/// the client sent, and a refusal must not echo a megabyte back.
const MAX_TEXT_CHARS: usize = 1000;
/// The most field errors one answer lists.
const MAX_ERRORS: usize = 100;

/// A JSON error answer that no service call produced (404 route, 405, 401).
pub(super) fn error_reply(status: u16, code: &str, message: &str, errors: &[Value]) -> Reply {
    let mut body = json!({ "httpStatus": status, "message": clip(message), "technicalCode": code });
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors.iter().take(MAX_ERRORS).cloned().collect());
    }
    Reply::json(status, &body)
}

/// A refusal of the HTTP server itself (malformed or oversized request, timeout, no free
/// connection, a handler that panicked), in plain text there, as the API's JSON errors are.
pub(super) fn server_refusal(reply: Reply) -> Reply {
    let code = match reply.status {
        408 => "request.timeout",
        411 => "request.length_required",
        413 => "request.too_large",
        429 => "request.too_many_connections",
        431 => "request.head_too_large",
        500 => "server.failed",
        501 => "request.not_implemented",
        505 => "request.version_not_supported",
        503 => "server.busy",
        // 400: a malformed head or length.
        _ => "request.malformed",
    };
    let Reply {
        status,
        body,
        allow,
        headers,
        ..
    } = reply;
    let mut json = error_reply(status, code, &body, &[]);
    json.allow = allow;
    json.headers.extend(headers);
    json
}

/// `text`, cut to `MAX_TEXT_CHARS` with an ellipsis.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

impl ServiceError {
    fn errors_json(&self) -> Vec<Value> {
        self.errors
            .iter()
            .take(MAX_ERRORS)
            .map(|error| json!({ "location": clip(&error.location), "message": clip(&error.message) }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_own_refusals_become_json_with_their_headers() {
        let refused =
            server_refusal(Reply::text(503, "busy; retry").with_header("Retry-After", "1"));
        assert_eq!(refused.status, 503);
        assert_eq!(refused.content_type, "application/json");
        let body: Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(body["technicalCode"], "server.busy");
        assert_eq!(body["message"], "busy; retry");
        assert_eq!(refused.headers, [("Retry-After", "1".to_owned())]);
    }

    #[test]
    fn long_texts_are_cut_and_short_ones_kept() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(5000);
        let cut = clip(&long);
        assert_eq!(cut.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
