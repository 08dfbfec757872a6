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

/// A JSON error answer that no service call produced (404 route, 405, 401).
pub(super) fn error_reply(status: u16, code: &str, message: &str, errors: &[Value]) -> Reply {
    let mut body = json!({ "httpStatus": status, "message": message, "technicalCode": code });
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors.to_vec());
    }
    Reply::json(status, &body)
}

impl ServiceError {
    fn errors_json(&self) -> Vec<Value> {
        self.errors
            .iter()
            .map(|error| json!({ "location": error.location, "message": error.message }))
            .collect()
    }
}
