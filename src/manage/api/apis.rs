//! Handlers of `/apis` and `/apis/{apiId}/…`: definitions, deployments, runtime and lifecycle.

use serde_json::{json, Value};

use super::call::{data, etag, with_etag, Call};
use super::router::ENV_BASE;
use crate::admin::Reply;
use crate::manage::service::{ApiAction, ApiInput, RuntimeState, ServiceError, Visibility};

type Answer = Result<Reply, ServiceError>;

pub(super) fn list(call: &Call<'_>) -> Answer {
    Ok(data(call.service.list_apis()?))
}

pub(super) fn get(call: &Call<'_>) -> Answer {
    let (view, version) = call.service.get_api(call.param("apiId"))?;
    Ok(with_etag(200, &view, version))
}

pub(super) fn create(call: &Call<'_>) -> Answer {
    let input = api_input(call.json(false)?)?;
    let (view, version) = call.service.create_api(input, &call.actor)?;
    let id = view.get("id").and_then(Value::as_str).unwrap_or_default();
    let location = format!(
        "{}/apis/{id}",
        ENV_BASE.replace("{envId}", call.param("envId"))
    );
    Ok(with_etag(201, &view, version).with_header("Location", location))
}

pub(super) fn update(call: &Call<'_>) -> Answer {
    let body = call.json(false)?;
    let expected = call.expected(Some(&body))?;
    let input = api_input(body)?;
    let (view, version) =
        call.service
            .update_api(call.param("apiId"), input, expected, &call.actor)?;
    Ok(with_etag(200, &view, version))
}

pub(super) fn delete(call: &Call<'_>) -> Answer {
    let expected = call.expected(None)?;
    call.service
        .delete_api(call.param("apiId"), expected, &call.actor)?;
    Ok(Reply::no_content())
}

pub(super) fn deployments(call: &Call<'_>) -> Answer {
    Ok(data(call.service.deployments(call.param("apiId"))?))
}

pub(super) fn deploy(call: &Call<'_>) -> Answer {
    let body = call.json(true)?;
    let comment = body.get("comment").and_then(Value::as_str);
    let revision = call
        .service
        .deploy(call.param("apiId"), comment, &call.actor)?;
    Ok(Reply::json(202, &json!({ "revision": revision })))
}

pub(super) fn deployment(call: &Call<'_>) -> Answer {
    let number = call.number_param("revision")?;
    let revision = call.service.deployment(call.param("apiId"), number)?;
    Ok(Reply::json(200, &revision).with_header("ETag", etag(number)))
}

pub(super) fn rollback(call: &Call<'_>) -> Answer {
    let number = call.number_param("revision")?;
    let revision = call
        .service
        .rollback(call.param("apiId"), number, &call.actor)?;
    Ok(Reply::json(202, &json!({ "revision": revision })))
}

pub(super) fn start(call: &Call<'_>) -> Answer {
    runtime(call, RuntimeState::Started)
}

pub(super) fn stop(call: &Call<'_>) -> Answer {
    runtime(call, RuntimeState::Stopped)
}

pub(super) fn publish(call: &Call<'_>) -> Answer {
    action(call, ApiAction::Publish)
}

pub(super) fn unpublish(call: &Call<'_>) -> Answer {
    action(call, ApiAction::Unpublish)
}

pub(super) fn deprecate(call: &Call<'_>) -> Answer {
    action(call, ApiAction::Deprecate)
}

pub(super) fn archive(call: &Call<'_>) -> Answer {
    action(call, ApiAction::Archive)
}

pub(super) fn make_public(call: &Call<'_>) -> Answer {
    action(call, ApiAction::MakePublic)
}

pub(super) fn make_private(call: &Call<'_>) -> Answer {
    action(call, ApiAction::MakePrivate)
}

fn runtime(call: &Call<'_>, wanted: RuntimeState) -> Answer {
    call.service
        .set_runtime_state(call.param("apiId"), wanted, &call.actor)?;
    Ok(Reply::no_content())
}

fn action(call: &Call<'_>, action: ApiAction) -> Answer {
    call.service
        .api_action(call.param("apiId"), action, &call.actor)?;
    Ok(Reply::no_content())
}

/// `{definition, visibility?}`.
fn api_input(body: Value) -> Result<ApiInput, ServiceError> {
    let definition = match body.get("definition") {
        Some(definition @ Value::Object(_)) => definition.clone(),
        _ => {
            return Err(ServiceError::invalid(
                "body.definition",
                "send `{\"definition\": {…one apis[] entry of the configuration file…}, \"visibility\": \"public|private\"}`",
            ))
        }
    };
    let visibility = match body.get("visibility") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value::<Visibility>(value.clone()).map_err(|_| {
                ServiceError::invalid(
                    "body.visibility",
                    "`visibility` must be \"public\" or \"private\"",
                )
            })?,
        ),
    };
    Ok(ApiInput {
        definition,
        visibility,
    })
}
