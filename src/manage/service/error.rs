//! What a refused management request was refused for: a kind (the REST layer maps it to a status
//! code, in one place: `api/errors.rs`), a stable technical code, and a message that says what to
//! fix, with one entry per field for validation errors.

use crate::manage::store::{Kind, StoreError};

/// The kinds of refusal, each one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request itself is wrong (a definition that does not validate).
    Invalid,
    /// 404: no such resource.
    NotFound,
    /// 409: the resource's state forbids it, or a concurrent change won.
    Conflict,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 412: `If-Match` names another version.
    PreconditionFailed,
    /// 503: the store cannot be reached; retry.
    Unavailable,
    /// 500: the store holds something this version cannot read.
    Internal,
}

/// One problem at one place in the request body (`definition.entrypoints[0].type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where in the request body, as a path from its root (`definition.entrypoints[0].type`).
    pub location: String,
    /// What is wrong there and what to write instead (the configuration loader's text).
    pub message: String,
}

/// A refused request.
#[derive(Debug, Clone)]
pub struct ServiceError {
    /// Which kind of refusal: decides the status code.
    pub kind: ErrorKind,
    /// Stable, for programs: `api.started`, `plan.closed`, `definition.invalid`…
    pub code: &'static str,
    /// For people: what is wrong and what to do.
    pub message: String,
    /// One entry per problem in the body when validation failed (the JSON answer's `errors`);
    /// empty otherwise.
    pub errors: Vec<FieldError>,
}

impl ServiceError {
    /// A refusal of `kind` with its stable `code` and its message, without field errors.
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError {
            kind,
            code,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// A 400: the request itself is wrong.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::Invalid, code, message)
    }

    /// A 409: the resource's state forbids the change, or another write won.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::Conflict, code, message)
    }

    /// A 404 for the document `id` of `kind`, with that kind's code (`api.not_found` …).
    pub fn not_found(kind: Kind, id: &str) -> ServiceError {
        let (code, what) = match kind {
            Kind::Api => ("api.not_found", "API"),
            Kind::Application => ("application.not_found", "application"),
            Kind::Subscription => ("subscription.not_found", "subscription"),
        };
        ServiceError::new(ErrorKind::NotFound, code, format!("no {what} '{id}'"))
    }

    /// A 412: `If-Match` named another version than `current`, the stored one.
    pub fn precondition_failed(current: u64) -> ServiceError {
        ServiceError::new(
            ErrorKind::PreconditionFailed,
            "version.precondition_failed",
            format!("If-Match does not name the stored version (\"{current}\"): someone changed it meanwhile; GET it again and reapply your change"),
        )
    }

    /// A store failure on a read.
    pub fn store(err: StoreError) -> ServiceError {
        match err {
            StoreError::Conflict { .. } => ServiceError::conflict(
                "version.conflict",
                "changed concurrently by another request; GET it again and retry",
            ),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "management store unavailable");
                ServiceError::new(
                    ErrorKind::Unavailable,
                    "store.unavailable",
                    "the management store cannot be reached; the gateway keeps serving what is deployed; retry shortly",
                )
            }
            StoreError::Full { count } => ServiceError::conflict(
                "store.full",
                format!("{count} such documents exist, the most allowed; remove some first"),
            ),
            StoreError::LastToken => ServiceError::conflict(
                "token.last",
                "no other administrator's token stays valid as long as this one (viewers' tokens do not count): revoking it could lock every operator out; create another first (role admin, expiring no sooner), or revoke with ?force=true when no node uses the store's tokens",
            ),
            StoreError::TokenTaken => ServiceError::conflict(
                "token.exists",
                "a token of that name exists; choose another name",
            ),
            StoreError::NoSuchToken => {
                ServiceError::new(ErrorKind::NotFound, "token.not_found", "no such token")
            }
            StoreError::Corrupt(detail) => {
                tracing::error!(%detail, "management store holds unreadable data");
                ServiceError::new(
                    ErrorKind::Internal,
                    "store.corrupt",
                    "the management store holds data this version cannot read; see the gateway log",
                )
            }
        }
    }

    /// A store failure on a write of `kind` `id`: a conflict means another write won the race.
    pub fn from_write(err: StoreError, kind: Kind, id: &str) -> ServiceError {
        match err {
            StoreError::Conflict { current: None } => ServiceError::not_found(kind, id),
            StoreError::Conflict { current: Some(_) } => ServiceError::conflict(
                "version.conflict",
                format!(
                    "{} was changed by another request meanwhile; GET it again and retry",
                    crate::manage::store::target(kind, id)
                ),
            ),
            other => ServiceError::store(other),
        }
    }

    /// Adds the field errors.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> ServiceError {
        self.errors = errors;
        self
    }
}
