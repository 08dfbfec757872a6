//! Handlers of `/applications/…` and `/audit`.

use super::call::{data, with_etag, Call};
use crate::admin::Reply;
use crate::manage::service::ServiceError;

type Answer = Result<Reply, ServiceError>;

/// The most audit events one call returns.
pub(super) const MAX_AUDIT_LIMIT: usize = 1000;
const DEFAULT_AUDIT_LIMIT: usize = 100;

pub(super) fn list(call: &Call<'_>) -> Answer {
    Ok(data(call.service.list_applications()?))
}

pub(super) fn get(call: &Call<'_>) -> Answer {
    let (body, version) = call.service.get_application(call.param("applicationId"))?;
    Ok(with_etag(200, &body, version))
}

pub(super) fn create(call: &Call<'_>) -> Answer {
    let (body, version) = call
        .service
        .create_application(call.json(false)?, &call.actor)?;
    Ok(with_etag(201, &body, version))
}

pub(super) fn update(call: &Call<'_>) -> Answer {
    let mut body = call.json(false)?;
    let expected = call.expected(Some(&body))?;
    if let Some(object) = body.as_object_mut() {
        object.remove("version");
    }
    let (body, version) = call.service.update_application(
        call.param("applicationId"),
        body,
        expected,
        &call.actor,
    )?;
    Ok(with_etag(200, &body, version))
}

pub(super) fn delete(call: &Call<'_>) -> Answer {
    let expected = call.expected(None)?;
    call.service
        .delete_application(call.param("applicationId"), expected, &call.actor)?;
    Ok(Reply::no_content())
}

/// `GET /audit?target=api:ID&limit=N`, newest first.
pub(super) fn audit(call: &Call<'_>) -> Answer {
    let head = &call.request.head;
    let limit = match head.query_param("limit") {
        None => DEFAULT_AUDIT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_AUDIT_LIMIT).contains(limit))
            .ok_or_else(|| {
                ServiceError::invalid(
                    "query.limit",
                    format!("`limit` must be a whole number from 1 to {MAX_AUDIT_LIMIT}"),
                )
            })?,
    };
    let target = head.query_param("target");
    Ok(data(call.service.audit(target.as_deref(), limit)?))
}
